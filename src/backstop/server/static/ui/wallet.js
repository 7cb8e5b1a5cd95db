// The wallet page: balances per coin with their USD value, deposits and withdrawals, transfers
// between the main account and subaccounts (and making a subaccount).
import { credentials, post, privGet } from "./api.js";
import { esc, num, usd, utc } from "./format.js";

const TEMPLATE = `
<div class="grid2">
  <section class="panel" aria-labelledby="bal-h"><h2 id="bal-h">Balances <span id="bal-account" class="muted small"></span></h2>
    <div id="balances" class="scroll"></div><p class="muted small" id="bal-total"></p></section>
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
  <section class="panel" aria-labelledby="wd-h"><h2 id="wd-h">Withdrawals</h2><div id="withdrawals" class="scroll"></div></section>
</div>`;

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

  const movements = (list, empty) => list.length
    ? `<table><thead><tr><th>Time (UTC)</th><th>Coin</th><th>Size</th><th>Fee</th><th>Status</th></tr></thead><tbody>${list.map((d) =>
      `<tr><td>${utc(d.time)}</td><td>${esc(d.coin)}</td><td>${num(d.size, 8).replace(/\.?0+$/, "")}</td><td>${num(d.fee ?? 0, 2)}</td><td>${esc(d.status)}</td></tr>`).join("")}</tbody></table>`
    : `<p class="muted">${empty}</p>`;

  async function load() {
    const c = credentials();
    try {
      const [balances, subs, deposits, withdrawals, coins] = await Promise.all([
        privGet("/api/wallet/balances"), privGet("/api/subaccounts", "").catch(() => null),
        privGet("/api/wallet/deposits"), privGet("/api/wallet/withdrawals"), fetch("/api/coins").then((r) => r.json()),
      ]);
      if (closed) return;
      $("bal-account").textContent = c.sub ? `(${c.sub})` : "(main account)";
      const rows = balances.filter((b) => b.total || b.usdValue);
      $("balances").innerHTML = rows.length
        ? `<table><thead><tr><th>Coin</th><th>Total</th><th>Free</th><th>USD value</th></tr></thead><tbody>${rows.map((b) =>
          `<tr><td>${esc(b.coin)}</td><td>${num(b.total, 8).replace(/\.?0+$/, "")}</td><td>${num(b.free, 8).replace(/\.?0+$/, "")}</td><td>${usd(b.usdValue)}</td></tr>`).join("")}</tbody></table>`
        : `<p class="muted">No balances</p>`;
      $("bal-total").textContent = `Total ${usd(rows.reduce((a, b) => a + (b.usdValue || 0), 0))}`;
      $("deposits").innerHTML = movements(deposits, "No deposits");
      $("withdrawals").innerHTML = movements(withdrawals, "No withdrawals");
      const names = ["main", ...(subs || []).map((x) => x.nickname)];
      for (const id of ["t-from", "t-to"]) {
        const keep = $(id).value;
        $(id).innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
        if (keep) $(id).value = keep;
      }
      if (!$("t-coin").options.length) $("t-coin").innerHTML = coins.result.map((x) => `<option>${esc(x.id)}</option>`).join("");
      $("transfer-form").hidden = !subs;
    } catch (e) {
      $("transfer-error").textContent = e.message;
    }
  }

  $("transfer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("transfer-error").textContent = ""; $("transfer-ok").textContent = "";
    const side = (id) => ($(id).value === "main" ? null : $(id).value);
    try {
      const size = Number($("t-size").value.replace(/,/g, ""));
      await post("/api/subaccounts/transfer", { coin: $("t-coin").value, size, source: side("t-from"), destination: side("t-to") });
      $("transfer-ok").textContent = `Moved ${num(size, 8).replace(/\.?0+$/, "")} ${$("t-coin").value} from ${$("t-from").value} to ${$("t-to").value}`;
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
