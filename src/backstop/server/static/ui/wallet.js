// The wallet page: balances per coin with their USD and collateral value, deposit addresses,
// withdrawals, transfers between the main account and subaccounts (and making a subaccount), and
// the deposit and withdrawal history.
import { credentials, post, privGet, query } from "./api.js";
import { esc, num, usd, utc } from "./format.js";

const TEMPLATE = `
<div class="grid2">
  <section class="panel span2" aria-labelledby="bal-h"><h2 id="bal-h">Balances <span id="bal-account" class="muted small"></span></h2>
    <div id="balances" class="scroll"></div><p class="muted small" id="bal-total"></p>
    <p class="muted small">Collateral value = USD value × the coin's collateral weight (lower for a large balance, FTX's 1.1 / (1 + IMF factor × √size)); USD counts in full.</p></section>
  <section class="panel" aria-labelledby="dep-addr-h"><h2 id="dep-addr-h">Deposit</h2>
    <form id="deposit-form" class="form">
      <label>Coin <select id="d-coin"></select></label>
      <label id="d-method-label">Network <select id="d-method"></select></label>
    </form>
    <div id="d-address-box" class="form" hidden>
      <label for="d-address">Address</label>
      <div class="copyrow"><input id="d-address" readonly spellcheck="false"><button type="button" data-copy="d-address">Copy</button></div>
      <p class="muted small" id="d-tag"></p>
    </div>
    <p id="d-fiat" class="muted" hidden></p>
    <p id="deposit-error" class="error" role="alert"></p><p id="deposit-ok" class="ok" role="status"></p>
    <p class="muted small">Backstop runs no blockchain: nothing sent to this address arrives. A deposit here is credited by the exchange's operator
      (the operator console, <code>backstop deposit</code> or <code>POST /operator/deposits</code>); <code>backstop serve</code> credits the demo
      account's $100,000 and the simulated traders' money itself. The address is this account's own for the coin and network, and stays the same.</p></section>
  <section class="panel" aria-labelledby="wd-form-h"><h2 id="wd-form-h">Withdraw</h2>
    <form id="withdraw-form" class="form">
      <label>Coin <select id="w-coin"></select></label>
      <label>Size <input id="w-size" inputmode="decimal" autocomplete="off"></label>
      <p class="muted small"><span id="w-free"></span> <button type="button" class="linkish" id="w-max">Max</button></p>
      <label>Address <input id="w-address" autocomplete="off" spellcheck="false"></label>
      <label>Tag or memo (optional) <input id="w-tag" autocomplete="off" spellcheck="false"></label>
      <p class="muted small">Withdrawal fee: none (this exchange charges none). The exchange checks that what stays still covers your positions' margin.</p>
      <button type="submit" class="primary">Withdraw</button>
      <p id="withdraw-error" class="error" role="alert"></p><p id="withdraw-ok" class="ok" role="status"></p>
    </form></section>
  <section class="panel" aria-labelledby="xfer-h"><h2 id="xfer-h">Transfer between accounts</h2>
    <form id="transfer-form" class="form">
      <label>From <select id="t-from"></select></label>
      <label>To <select id="t-to"></select></label>
      <label>Coin <select id="t-coin"></select></label>
      <label>Size <input id="t-size" inputmode="decimal" autocomplete="off"></label>
      <button type="submit" class="primary">Transfer</button>
      <p id="transfer-error" class="error" role="alert"></p><p id="transfer-ok" class="ok" role="status"></p>
    </form>
    <h3>New subaccount</h3>
    <form id="sub-form" class="row"><label for="sub-name" class="muted">Name</label><input id="sub-name" autocomplete="off">
      <button type="submit">Create</button></form>
    <p id="sub-error" class="error" role="alert"></p>
  </section>
  <section class="panel" aria-labelledby="dep-h"><h2 id="dep-h">Deposits</h2><div id="deposits" class="scroll"></div></section>
  <section class="panel span2" aria-labelledby="wd-h"><h2 id="wd-h">Withdrawals</h2><div id="withdrawals" class="scroll"></div></section>
</div>`;

const amount = (value) => num(value, 8).replace(/\.?0+$/, "");

export function mount(main) {
  if (!credentials()) {
    main.innerHTML = `<section class="panel"><h2>Wallet</h2><p class="needs-login">Log in to see your balances.
      <button type="button" class="primary" id="wallet-login">Log in</button></p></section>`;
    main.querySelector("#wallet-login").addEventListener("click", () => document.getElementById("login").showModal());
    return () => {};
  }
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  let coins = []; // GET /api/coins
  let balances = []; // GET /wallet/balances, as last read

  // a withdrawal's destination: the address shortened (whole in its title) and the tag, as asked
  const destination = (d) => {
    const a = d.address ?? "";
    const shown = a.length > 16 ? `${a.slice(0, 8)}…${a.slice(-6)}` : a;
    return `<td class="to" title="${esc(a)}">${esc(shown) || "–"}${d.tag ? ` · tag ${esc(d.tag)}` : ""}</td>`;
  };
  const movements = (list, empty, to = false) => list.length
    ? `<table><thead><tr><th>Time (UTC)</th><th>Coin</th><th>Size</th>${to ? "<th>To</th>" : ""}<th>Fee</th><th>Status</th></tr></thead><tbody>${list.map((d) =>
      `<tr data-id="${esc(d.id)}"><td>${utc(d.time)}</td><td>${esc(d.coin)}</td><td>${amount(d.size)}</td>${to ? destination(d) : ""}<td>${num(d.fee ?? 0, 2)}</td><td>${esc(d.status)}</td></tr>`).join("")}</tbody></table>`
    : `<p class="muted">${empty}</p>`;

  function showFree() {
    const coin = $("w-coin").value;
    const row = balances.find((b) => b.coin === coin);
    const free = row ? row.availableForWithdrawal ?? row.free : 0;
    $("w-free").textContent = `Available: ${amount(Math.max(0, free))} ${coin}`;
    $("w-free").dataset.free = String(Math.max(0, free));
  }

  function fillCoins() {
    const options = coins.map((x) => `<option>${esc(x.id)}</option>`).join("");
    for (const id of ["t-coin", "d-coin", "w-coin"]) $(id).innerHTML = options;
    const chain = coins.filter((x) => x.methods && x.methods.length); // a coin with a network: its address shows at once
    if (chain.length) $("d-coin").value = (chain.find((x) => x.id === "BTC") || chain[0]).id;
    fillMethods();
  }

  function fillMethods() {
    const coin = coins.find((x) => x.id === $("d-coin").value);
    const methods = coin?.methods || [];
    $("d-method").innerHTML = methods.map((m) => `<option value="${esc(m)}">${esc(m.toUpperCase())}</option>`).join("");
    $("d-method-label").hidden = !methods.length;
    address();
  }

  let asked = 0;
  async function address() {
    const coin = $("d-coin").value;
    const method = $("d-method").value;
    const ticket = ++asked;
    $("deposit-error").textContent = ""; $("deposit-ok").textContent = "";
    $("d-address-box").hidden = true;
    $("d-fiat").hidden = true;
    if (!method) { // FTX took fiat (USD) by bank wire: no address
      $("d-fiat").textContent = `${coin} has no deposit address: on FTX it came by bank wire; here the operator credits it.`;
      $("d-fiat").hidden = false;
      return;
    }
    try {
      const r = await privGet(`/api/wallet/deposit_address/${encodeURIComponent(coin)}${query({ method })}`);
      if (closed || ticket !== asked) return;
      $("d-address").value = r.address;
      $("d-address").dataset.coin = r.coin;
      $("d-address").dataset.method = r.method;
      $("d-tag").textContent = r.tag ? `Tag or memo: ${r.tag} (include it, or the deposit cannot be matched)` : "No tag or memo needed.";
      $("d-address-box").hidden = false;
    } catch (e) { if (!closed && ticket === asked) $("deposit-error").textContent = e.message; }
  }

  async function copy(input) {
    const text = input.value;
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { // no clipboard API here (a page served over plain HTTP to another host): the old way
      input.focus(); input.select();
      try { return document.execCommand("copy"); } catch { return false; }
    }
  }

  async function load() {
    const c = credentials();
    try {
      const [rows, account, subs, deposits, withdrawals, listed] = await Promise.all([
        privGet("/api/wallet/balances"), privGet("/api/account"), privGet("/api/subaccounts", "").catch(() => null),
        privGet("/api/wallet/deposits"), privGet("/api/wallet/withdrawals"), coins.length ? coins : fetch("/api/coins").then((r) => r.json()).then((r) => r.result),
      ]);
      if (closed) return;
      balances = rows;
      $("bal-account").textContent = c.sub ? `(${c.sub})` : "(main account)";
      const shown = rows.filter((b) => b.total || b.usdValue);
      $("balances").innerHTML = shown.length
        ? `<table><thead><tr><th>Coin</th><th>Total</th><th>Free</th><th>USD value</th><th><abbr title="Collateral weight">Weight</abbr></th><th>Collateral</th></tr></thead><tbody>${shown.map((b) =>
          `<tr data-coin="${esc(b.coin)}"><td>${esc(b.coin)}</td><td>${amount(b.total)}</td><td>${amount(b.free)}</td><td class="usd">${usd(b.usdValue)}</td>
          <td class="weight">${b.collateralWeight == null ? "–" : num(b.collateralWeight, 4).replace(/(\.\d\d\d*?)0+$/, "$1")}</td>
          <td class="collateral">${b.collateralWeight == null ? "–" : usd(b.usdValue * b.collateralWeight)}</td></tr>`).join("")}</tbody></table>`
        : `<p class="muted">No balances</p>`;
      $("bal-total").textContent = `Total ${usd(shown.reduce((a, b) => a + (b.usdValue || 0), 0))} · collateral ${usd(account.collateral)} (the account's, at these weights)`;
      $("deposits").innerHTML = movements(deposits, "No deposits");
      $("withdrawals").innerHTML = movements(withdrawals, "No withdrawals", true);
      const names = ["main", ...(subs || []).map((x) => x.nickname)];
      for (const id of ["t-from", "t-to"]) {
        const keep = $(id).value;
        $(id).innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
        if (keep) $(id).value = keep;
      }
      if (!coins.length) { coins = listed; fillCoins(); }
      showFree();
      $("transfer-form").hidden = !subs;
    } catch (e) {
      if (!closed) $("transfer-error").textContent = e.message;
    }
  }

  $("d-coin").addEventListener("change", fillMethods);
  $("d-method").addEventListener("change", address);
  $("deposit-form").addEventListener("submit", (event) => event.preventDefault());
  main.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = $(button.dataset.copy);
    $("deposit-error").textContent = ""; $("deposit-ok").textContent = "";
    if (await copy(input)) $("deposit-ok").textContent = `Copied the ${input.dataset.coin} (${input.dataset.method.toUpperCase()}) address`;
    else $("deposit-error").textContent = "Could not copy: select the address and copy it (Ctrl+C)";
  });
  $("w-coin").addEventListener("change", showFree);
  $("w-max").addEventListener("click", () => { $("w-size").value = $("w-free").dataset.free || ""; });
  $("withdraw-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("withdraw-error").textContent = ""; $("withdraw-ok").textContent = "";
    const coin = $("w-coin").value;
    const size = $("w-size").value.replace(/,/g, "").trim(); // sent as typed: the exchange reads it exactly
    const body = { coin, size, address: $("w-address").value.trim() };
    if ($("w-tag").value.trim()) body.tag = $("w-tag").value.trim();
    try {
      const r = await post("/api/wallet/withdrawals", body);
      $("withdraw-ok").textContent = `Withdrew ${amount(r.size)} ${r.coin} to ${r.address}${r.tag ? ` (tag ${r.tag})` : ""}: ${r.status}`;
      $("w-size").value = "";
      load();
    } catch (e) { $("withdraw-error").textContent = e.message; }
  });
  $("transfer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("transfer-error").textContent = ""; $("transfer-ok").textContent = "";
    const side = (id) => ($(id).value === "main" ? null : $(id).value);
    try {
      const size = Number($("t-size").value.replace(/,/g, ""));
      await post("/api/subaccounts/transfer", { coin: $("t-coin").value, size, source: side("t-from"), destination: side("t-to") });
      $("transfer-ok").textContent = `Moved ${amount(size)} ${$("t-coin").value} from ${$("t-from").value} to ${$("t-to").value}`;
      load();
    } catch (e) { $("transfer-error").textContent = e.message; }
  });
  $("sub-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sub-error").textContent = "";
    try { await post("/api/subaccounts", { nickname: $("sub-name").value.trim() }); $("sub-name").value = ""; load(); }
    catch (e) { $("sub-error").textContent = e.message; }
  });
  load();
  const timer = setInterval(load, 10000);
  return () => { closed = true; clearInterval(timer); };
}
