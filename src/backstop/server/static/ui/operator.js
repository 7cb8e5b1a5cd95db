// The operator console (#/operator), behind the operator token (`backstop serve` prints where it
// is; pasted here, kept in this tab's session storage): accounts and keys (every account with its
// figures and keys, filtered and paged, and a new key for any of them), deposits, index prices for
// the manual feed, the manual clock, halting and resuming markets, backstop providers.
import { get, operator, operatorToken, query, setCredentials, setOperatorToken } from "./api.js";
import { esc, num, usd, utc } from "./format.js";

const REFRESH_MS = 5000;
const PAGE = 50; // owners per page of the accounts list

const GATE = `
<section class="panel narrow" aria-labelledby="op-h"><h2 id="op-h">Operator console</h2>
  <p>The operator token is in the data directory (<code>operator_token</code>) or <code>$BACKSTOP_OPERATOR_TOKEN</code>. It stays in this tab.</p>
  <form id="op-login" class="form"><label>Operator token <input id="op-token" type="password" autocomplete="off"></label>
    <button type="submit" class="primary">Open the console</button><p id="op-login-error" class="error" role="alert"></p></form>
</section>`;

const TEMPLATE = `
<div class="row op-bar"><span class="muted">Operator console</span><span id="op-hash" class="muted small"></span>
  <button type="button" id="op-logout" style="margin-left:auto">Forget the operator token</button></div>
<p id="op-error" class="error" role="alert"></p><p id="op-ok" class="ok" role="status"></p>
<div class="grid2">
  <section class="panel wide" aria-labelledby="op-acct-h"><h2 id="op-acct-h">Accounts and keys</h2>
    <div class="op-accounts">
      <div><form id="op-account" class="form" data-action="account">
        <label>Account <input name="name" required autocomplete="off"></label>
        <label>Subaccount (optional) <input name="subaccount" autocomplete="off"></label>
        <div class="checks"><label><input type="checkbox" name="createKey" checked> Make an API key</label></div>
        <button type="submit">Create</button></form>
        <div id="op-keys"></div></div>
      <div>
        <div class="row"><label class="muted" for="op-filter">Filter</label>
          <input id="op-filter" type="search" placeholder="name or API key" autocomplete="off" spellcheck="false">
          <button type="button" id="op-refresh">Refresh</button>
          <span id="op-count" class="muted small" aria-live="polite"></span>
          <button type="button" id="op-prev" disabled>Previous</button><button type="button" id="op-next" disabled>Next</button></div>
        <div id="op-accounts" class="scroll" style="max-height:420px"></div>
        <p class="muted small">Figures from the exchange's state now: collateral at the total weights, account value with unrealized PnL, the balances' USD value. Keys show their start and label, never the secret (a main account's keys act for every subaccount); a new key's secret is shown once.</p></div>
    </div></section>
  <section class="panel" aria-labelledby="op-dep-h"><h2 id="op-dep-h">Deposits and withdrawals</h2>
    <form id="op-deposit" class="form" data-action="deposit">
      <label>Account <input name="account" required autocomplete="off"></label>
      <label>Subaccount (optional) <input name="subaccount" autocomplete="off"></label>
      <label>Coin <select name="coin" class="coins"></select></label>
      <label>Size <input name="size" inputmode="decimal" required autocomplete="off"></label>
      <div class="row"><button type="submit" value="deposits">Deposit</button><button type="submit" value="withdrawals">Withdraw</button></div></form></section>
  <section class="panel" aria-labelledby="op-clock-h"><h2 id="op-clock-h">Clock</h2>
    <dl class="figures"><dt>Exchange time (UTC)</dt><dd id="op-time"></dd><dt>Mode</dt><dd id="op-mode"></dd></dl>
    <form id="op-clock" class="row" data-action="clock">
      <button type="submit" value="1">+1 s</button><button type="submit" value="60">+1 min</button><button type="submit" value="3600">+1 h</button>
      <label class="muted" for="op-seconds">Seconds</label><input id="op-seconds" name="seconds" inputmode="numeric" size="7" autocomplete="off"><button type="submit" value="">Advance</button></form>
    <p class="muted small" id="op-clock-note"></p>
    <h2 id="op-index-h">Index prices (manual feed)</h2>
    <form id="op-index" class="form" data-action="index">
      <label>Coin <select name="coin" class="coins"></select></label>
      <label>Price (or the constituents' prices, separated by spaces: the median is taken) <input name="price" required autocomplete="off"></label>
      <button type="submit">Set</button></form>
    <div id="op-indexes"></div></section>
  <section class="panel" aria-labelledby="op-mk-h"><h2 id="op-mk-h">Markets</h2><div id="op-markets" class="scroll" style="max-height:420px"></div></section>
  <section class="panel" aria-labelledby="op-blp-h"><h2 id="op-blp-h">Backstop providers</h2>
    <form id="op-blp" class="form" data-action="blp">
      <label>Account <input name="account" required autocomplete="off"></label>
      <label>Subaccount (optional) <input name="subaccount" autocomplete="off"></label>
      <label>USD per minute <input name="perMinute" inputmode="decimal" required autocomplete="off"></label>
      <label>USD per hour <input name="perHour" inputmode="decimal" required autocomplete="off"></label>
      <button type="submit">Register</button></form>
    <div id="op-blps"></div></section>
</div>`;

const table = (headers, rows, empty) => rows.length
  ? `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">${empty}</p>`;
const number = (text) => Number(String(text).replace(/,/g, ""));

export function mount(main) {
  if (!operatorToken()) {
    main.innerHTML = GATE;
    main.querySelector("#op-login").addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = main.querySelector("#op-token").value.trim();
      const error = main.querySelector("#op-login-error");
      error.textContent = "";
      if (!token) { error.textContent = "Paste the operator token"; return; }
      setOperatorToken(token);
      try { await operator("GET", "/operator/state_hash"); window.dispatchEvent(new HashChangeEvent("hashchange")); }
      catch (e) { setOperatorToken(""); error.textContent = e.message; }
    });
    return () => {};
  }
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  const indexes = new Map(); // coins set from here this session, as the exchange answered
  const say = (ok, error = "") => { if (!closed) { $("op-ok").textContent = ok; $("op-error").textContent = error; } };

  const list = { offset: 0, search: "", asked: 0 };
  const keyCell = (keys) => keys.length
    ? keys.map((k) => `<span class="opkey" data-key="${esc(k.apiKey)}" title="${k.subaccount === null ? "the whole account (main and every subaccount)" : `subaccount ${esc(k.subaccount)} only`}"><code title="${esc(k.apiKey)}">${esc(k.apiKey.slice(0, 8))}…</code> ${esc(k.label || "no label")}${k.readOnly ? " (read-only)" : ""}</span>`).join("<br>")
    : `<span class="muted">none</span>`;

  function ownerRows(o) {
    const rows = o.subaccounts.map((a, i) => {
      const keys = o.keys.filter((k) => (i === 0 && k.subaccount === null) || (a.nickname !== null && k.subaccount === a.nickname));
      return `<tr data-owner="${esc(o.name)}" data-sub="${esc(a.nickname ?? "")}"${i === 0 ? ' class="first"' : ""}>
        <td>${i === 0 ? esc(o.name) : ""}</td><td class="l">${a.nickname === null ? '<span class="muted">main</span>' : esc(a.nickname)}</td><td>#${a.id}</td>
        <td>${usd(a.collateral)}</td><td>${usd(a.totalAccountValue)}</td><td>${usd(a.usdValue)}</td><td class="positions" title="${num(a.openOrders, 0)} open orders">${num(a.openPositions, 0)}</td>
        <td class="l keys">${keyCell(keys)}</td><td><button type="button" data-new-key>New key</button></td></tr>`;
    });
    if (o.subaccounts.length > 1) {
      rows.push(`<tr class="subtotal" data-owner-total="${esc(o.name)}"><td></td><td class="l muted">all</td><td></td><td>${usd(o.collateral)}</td><td>${usd(o.totalAccountValue)}</td>
        <td>${usd(o.usdValue)}</td><td>${num(o.openPositions, 0)}</td><td></td><td></td></tr>`);
    }
    return rows.join("");
  }

  async function loadAccounts() {
    const ticket = ++list.asked;
    try {
      const page = await operator("GET", `/operator/accounts${query({ limit: PAGE, offset: list.offset, search: list.search || undefined })}`);
      if (closed || ticket !== list.asked) return;
      const shown = page.accounts.length;
      if (!shown && page.total && list.offset) { list.offset = 0; loadAccounts(); return; } // past the end now: the first page
      $("op-count").textContent = page.total ? `${num(page.offset + 1, 0)}–${num(page.offset + shown, 0)} of ${num(page.total, 0)} accounts` : "";
      $("op-prev").disabled = page.offset === 0;
      $("op-next").disabled = page.offset + shown >= page.total;
      $("op-accounts").innerHTML = shown
        ? `<table><thead><tr><th>Account</th><th class="l">Subaccount</th><th>Id</th><th>Collateral</th><th>Account value</th><th>USD value</th><th>Positions</th><th class="l">API keys</th><th></th></tr></thead>
          <tbody>${page.accounts.map(ownerRows).join("")}</tbody></table>`
        : `<p class="muted">${list.search ? `No account matches “${esc(list.search)}”` : "No accounts yet"}</p>`;
    } catch (e) {
      if (!closed && ticket === list.asked && e.status !== 401) say("", e.message);
    }
  }

  function showKey(r) {
    const who = r.subaccount ? `${r.name}/${r.subaccount}` : r.name;
    $("op-keys").innerHTML = `<dl class="figures"><dt>Account</dt><dd>${esc(who)} (#${r.id})</dd><dt>API key</dt><dd><code id="op-key">${esc(r.apiKey)}</code></dd>
      <dt>API secret</dt><dd><code id="op-secret">${esc(r.apiSecret)}</code></dd></dl>
      <p class="muted small">The secret is shown once. <button type="button" id="op-use">Trade with this key in this tab</button></p>`;
    $("op-use").addEventListener("click", () => setCredentials({ key: r.apiKey, secret: r.apiSecret, sub: r.subaccount || "", label: who }));
    return who;
  }

  async function load() {
    loadAccounts();
    try {
      const [time, markets, futures, blps, hash] = await Promise.all([get("/api/time"), get("/api/markets"), get("/api/futures"), get("/api/backstop_providers"),
        operator("GET", "/operator/state_hash")]);
      if (closed) return;
      const index = new Map(futures.map((f) => [f.name, f.index]));
      $("op-time").textContent = utc(time.time);
      $("op-mode").textContent = time.mode;
      $("op-clock").hidden = time.mode !== "manual";
      $("op-clock-note").textContent = time.mode === "manual" ? "The clock moves only when you advance it." : "Wall time: start the server with --clock manual to move it from here.";
      $("op-hash").textContent = `state ${hash.stateHash.slice(0, 12)}… after command ${num(hash.sequence, 0)}`;
      $("op-markets").innerHTML = table(["Market", "Index", "Mark", "Status", ""], markets.map((m) =>
        `<tr data-market="${esc(m.name)}"><td>${esc(m.name)}</td><td>${num(index.get(m.name), 2)}</td><td>${num(m.price ?? m.last, 2)}</td>
        <td class="${m.halted ? "down" : ""}">${m.halted ? "halted" : m.enabled === false ? "closed" : "trading"}</td>
        <td><button type="button" data-halt="${esc(m.name)}" data-to="${m.halted ? "resume" : "halt"}">${m.halted ? "Resume" : "Halt"}</button></td></tr>`), "No markets");
      $("op-blps").innerHTML = table(["Provider", "Per minute", "Per hour", "Available"], blps.providers.map((p, i) =>
        `<tr><td>#${i + 1}</td><td>${usd(p.perMinute, 0)}</td><td>${usd(p.perHour, 0)}</td><td>${usd(p.available, 0)}</td></tr>`), "No backstop providers");
      if (!main.querySelector(".coins").options.length) {
        const coins = (await get("/api/coins")).map((c) => c.id);
        for (const select of main.querySelectorAll(".coins")) select.innerHTML = coins.map((c) => `<option>${esc(c)}</option>`).join("");
        const index = main.querySelector("#op-index .coins");
      if (index) index.value = coins.includes("BTC") ? "BTC" : coins[0];
      }
    } catch (e) {
      if (closed) return;
      if (e.status === 401) { setOperatorToken(""); window.dispatchEvent(new HashChangeEvent("hashchange")); return; }
      say("", e.message);
    }
  }

  const actions = {
    async account(f) {
      const body = { name: f.name.value.trim(), createKey: f.createKey.checked };
      if (f.subaccount.value.trim()) body.subaccount = f.subaccount.value.trim();
      const r = await operator("POST", "/operator/accounts", body);
      const who = r.apiKey ? showKey(r) : r.subaccount ? `${r.name}/${r.subaccount}` : r.name;
      return `Account ${who} ready${r.apiKey ? " with a new API key" : ""}`;
    },
    async deposit(f, kind) {
      const body = { account: f.account.value.trim(), coin: f.coin.value, size: number(f.size.value) };
      if (f.subaccount.value.trim()) body.subaccount = f.subaccount.value.trim();
      const r = await operator("POST", `/operator/${kind}`, body);
      return `${kind === "deposits" ? "Deposited" : "Withdrew"} ${num(r.size, 8).replace(/\.?0+$/, "")} ${r.coin} ${kind === "deposits" ? "to" : "from"} ${body.account}`;
    },
    async clock(f, seconds) {
      const r = await operator("POST", "/operator/clock/advance", { seconds: Math.round(number(seconds || f.seconds.value)) });
      return `Clock at ${utc(r.time)} UTC`;
    },
    async index(f) {
      const parts = f.price.value.trim().split(/[\s;]+/).map(number).filter((x) => x > 0); // "30,000" is one price
      if (!parts.length) throw new Error("Enter a price");
      const value = parts.length === 1 ? parts[0] : parts;
      const r = await operator("POST", "/operator/index_prices", { prices: { [f.coin.value]: value } });
      for (const [coin, price] of Object.entries(r)) indexes.set(coin, price);
      $("op-indexes").innerHTML = table(["Coin", "Index set"], [...indexes].map(([c, p]) => `<tr><td>${esc(c)}</td><td>${num(p, 4)}</td></tr>`), "");
      return `Index ${f.coin.value} at ${num(r[f.coin.value], 2)}`;
    },
    async blp(f) {
      const body = { account: f.account.value.trim(), perMinute: number(f.perMinute.value), perHour: number(f.perHour.value) };
      if (f.subaccount.value.trim()) body.subaccount = f.subaccount.value.trim();
      await operator("POST", "/operator/blps", body);
      return `${body.account} stands behind the book for up to ${usd(body.perMinute, 0)} a minute, ${usd(body.perHour, 0)} an hour`;
    },
  };

  main.addEventListener("submit", async (event) => {
    const form = event.target;
    const action = actions[form.dataset.action];
    if (!action) return;
    event.preventDefault();
    say("");
    try { say(await action(form, event.submitter?.value)); load(); } catch (e) { say("", e.message); }
  });
  $("op-markets").addEventListener("click", async (event) => {
    const button = event.target.closest("[data-halt]");
    if (!button) return;
    say("");
    try {
      await operator("POST", `/operator/markets/${button.dataset.halt}/${button.dataset.to}`);
      say(`${button.dataset.halt} ${button.dataset.to === "halt" ? "halted" : "resumed"}`);
      load();
    } catch (e) { say("", e.message); }
  });
  $("op-accounts").addEventListener("click", async (event) => {
    const button = event.target.closest("[data-new-key]");
    if (!button) return;
    const row = button.closest("tr");
    const body = { name: row.dataset.owner }; // an account that exists: POST /operator/accounts makes a key only
    if (row.dataset.sub) body.subaccount = row.dataset.sub;
    say("");
    try {
      const who = showKey(await operator("POST", "/operator/accounts", body));
      say(`New API key for ${who}`);
      loadAccounts();
    } catch (e) { say("", e.message); }
  });
  let typing = 0;
  $("op-filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { list.search = $("op-filter").value.trim(); list.offset = 0; loadAccounts(); }, 250);
  });
  $("op-refresh").addEventListener("click", () => loadAccounts());
  $("op-prev").addEventListener("click", () => { list.offset = Math.max(0, list.offset - PAGE); loadAccounts(); });
  $("op-next").addEventListener("click", () => { list.offset += PAGE; loadAccounts(); });
  $("op-logout").addEventListener("click", () => { setOperatorToken(""); window.dispatchEvent(new HashChangeEvent("hashchange")); });
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); clearTimeout(typing); };
}
