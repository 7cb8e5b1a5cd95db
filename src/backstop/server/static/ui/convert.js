// Convert (FTX's OTC desk): ask for a quote, see its price and what it costs and pays, a countdown
// to its expiry on the exchange's clock (GET /api/time: a manual clock is not the browser's), accept.
import { credentials, get, post, privGet } from "./api.js";
import { esc, num, usd } from "./format.js";

const TEMPLATE = `
<div class="grid2">
  <section class="panel" aria-labelledby="cv-h"><h2 id="cv-h">Convert</h2>
    <p class="muted small">Quotes come from the desk's liquidity providers, firm until their expiry; accepting settles both coins at once, with no fee.</p>
    <form id="cv-form" class="form" novalidate>
      <label>From <select id="cv-from"></select></label>
      <label>To <select id="cv-to"></select></label>
      <label>Size (in the coin you give) <input id="cv-size" inputmode="decimal" autocomplete="off"></label>
      <p id="cv-have" class="muted small"></p>
      <button type="submit" class="primary submit" id="cv-request">Get a quote</button>
      <p id="cv-error" class="error" role="alert"></p>
    </form>
    <div id="cv-quote" class="quote" hidden aria-live="polite">
      <h3>Quote <span id="cv-id" class="muted"></span></h3>
      <dl class="figures" id="cv-figures"></dl>
      <p><span id="cv-countdown" class="countdown" role="timer"></span></p>
      <div class="row"><button type="button" class="primary" id="cv-accept">Accept</button><button type="button" id="cv-drop">Discard</button></div>
      <p id="cv-ok" class="ok" role="status"></p>
    </div>
  </section>
  <section class="panel" aria-labelledby="cv-bal-h"><h2 id="cv-bal-h">Balances</h2><div id="cv-balances"></div></section>
</div>`;

const amount = (v) => num(v, 8).replace(/\.?0+$/, "");

export function mount(main) {
  if (!credentials()) {
    main.innerHTML = `<section class="panel"><h2>Convert</h2><p class="needs-login">Log in to convert.
      <button type="button" class="primary" id="cv-login">Log in</button></p></section>`;
    main.querySelector("#cv-login").addEventListener("click", () => document.getElementById("login").showModal());
    return () => {};
  }
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  let quote = null; // the live quote shown
  let clock = null; // { epoch, at: performance.now(), mode }: the exchange's time when last read
  let timer = 0;
  let balances = [];

  async function loadBalances() {
    try {
      balances = await privGet("/api/wallet/balances");
      if (closed) return;
      const rows = balances.filter((b) => b.total);
      $("cv-balances").innerHTML = rows.length
        ? `<table><thead><tr><th>Coin</th><th>Free</th><th>USD value</th></tr></thead><tbody>${rows.map((b) =>
          `<tr data-coin="${esc(b.coin)}"><td>${esc(b.coin)}</td><td class="free">${amount(b.free)}</td><td>${usd(b.usdValue)}</td></tr>`).join("")}</tbody></table>`
        : `<p class="muted">No balances</p>`;
      have();
    } catch (e) { $("cv-error").textContent = e.message; }
  }
  function have() {
    const b = balances.find((x) => x.coin === $("cv-from").value);
    $("cv-have").textContent = `Available: ${amount(b ? b.free : 0)} ${$("cv-from").value}`;
  }

  async function readClock() {
    const t = await get("/api/time");
    clock = { epoch: t.epoch, at: performance.now(), mode: t.mode };
  }
  const now = () => clock.epoch + (clock.mode === "wall" ? (performance.now() - clock.at) / 1000 : 0);

  function tick() {
    if (!quote || closed) return;
    const left = Math.max(0, quote.expiry - now());
    const expired = left <= 0 || quote.expired;
    $("cv-countdown").textContent = quote.filled ? "Accepted" : expired ? "Expired: ask for a new quote" : `Expires in ${Math.ceil(left)} s`;
    $("cv-countdown").className = `countdown ${expired && !quote.filled ? "down" : ""}`;
    $("cv-accept").disabled = expired || quote.filled;
    if (expired || quote.filled) { clearInterval(timer); timer = 0; }
  }

  async function follow() {
    // a manual clock moves only when the operator moves it: read it each second while a quote lives;
    // wall time runs on here between reads
    try { if (!clock || clock.mode === "manual") await readClock(); } catch (e) { /* next second */ }
    tick();
  }

  function show(q) {
    quote = q;
    $("cv-quote").hidden = false;
    $("cv-id").textContent = `#${q.id}`;
    $("cv-figures").innerHTML = `
      <dt>You give</dt><dd id="cv-cost">${amount(q.cost)} ${esc(q.fromCoin)}</dd>
      <dt>You get</dt><dd id="cv-proceeds">${amount(q.proceeds)} ${esc(q.toCoin)}</dd>
      <dt>Price</dt><dd>${amount(q.price)} ${esc(q.quoteCoin)} per ${esc(q.baseCoin)}</dd>
      <dt>Side</dt><dd>${esc(q.side)} ${esc(q.baseCoin)}</dd>`;
    $("cv-ok").textContent = "";
    clearInterval(timer);
    tick();
    timer = setInterval(follow, 1000);
  }

  $("cv-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("cv-error").textContent = "";
    const size = Number($("cv-size").value.replace(/,/g, ""));
    if (!(size > 0)) { $("cv-error").textContent = "Enter a size"; return; }
    try {
      const { quoteId } = await post("/api/otc/quotes", { fromCoin: $("cv-from").value, toCoin: $("cv-to").value, size });
      const [q] = await Promise.all([privGet(`/api/otc/quotes/${quoteId}`), readClock()]);
      if (!closed) show(q);
    } catch (e) { $("cv-error").textContent = e.message; }
  });
  $("cv-accept").addEventListener("click", async () => {
    if (!quote) return;
    $("cv-error").textContent = "";
    try {
      await post(`/api/otc/quotes/${quote.id}/accept`);
      quote = { ...quote, filled: true };
      tick();
      $("cv-ok").textContent = `Converted ${amount(quote.cost)} ${quote.fromCoin} to ${amount(quote.proceeds)} ${quote.toCoin}`;
      loadBalances();
    } catch (e) {
      $("cv-error").textContent = e.message;
      try { quote = await privGet(`/api/otc/quotes/${quote.id}`); tick(); } catch { /* shown above */ }
    }
  });
  $("cv-drop").addEventListener("click", () => { quote = null; clearInterval(timer); $("cv-quote").hidden = true; });
  $("cv-from").addEventListener("change", have);

  (async () => {
    try {
      const coins = (await get("/api/coins")).map((c) => c.id);
      if (closed) return;
      const options = coins.map((c) => `<option>${esc(c)}</option>`).join("");
      $("cv-from").innerHTML = options; $("cv-to").innerHTML = options;
      $("cv-from").value = coins.includes("BTC") ? "BTC" : coins[0];
      $("cv-to").value = "USD";
    } catch (e) { $("cv-error").textContent = e.message; }
    loadBalances();
  })();
  const refresh = setInterval(loadBalances, 10000);
  return () => { closed = true; clearInterval(timer); clearInterval(refresh); };
}
