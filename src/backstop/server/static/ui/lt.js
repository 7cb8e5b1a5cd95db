// Leveraged tokens: every token with its NAV, target and current leverage and basket; create and
// redeem at NAV (ours settle within the request); the account's tokens and requests; rebalances.
import { credentials, get, post, privGet } from "./api.js";
import { esc, num, pct, signed, tone, usd, utc } from "./format.js";

const REFRESH_MS = 10000; // NAV moves with the mark; nothing here needs it faster

const TEMPLATE = `
<div class="grid2">
  <section class="panel wide" aria-labelledby="lt-h"><h2 id="lt-h">Leveraged tokens</h2>
    <p class="muted small">NAV per token = (the basket's perpetual position × mark + its USD) ÷ tokens outstanding. Tokens rebalance daily at 00:02 UTC toward their target leverage, and within the day when a move pushes leverage far from it.</p>
    <div id="lt-tokens" class="scroll"></div></section>
  <section class="panel" aria-labelledby="lt-trade-h"><h2 id="lt-trade-h">Create or redeem</h2>
    <div id="lt-login" class="needs-login" hidden>Log in to create and redeem. <button type="button" class="primary" id="lt-login-btn">Log in</button></div>
    <form id="lt-form" class="form" novalidate>
      <label>Token <select id="lt-token"></select></label>
      <label>Tokens <input id="lt-size" inputmode="decimal" autocomplete="off"></label>
      <p id="lt-estimate" class="muted small"></p>
      <div class="sides">
        <button type="submit" class="buy" id="lt-create" value="create">Create</button>
        <button type="submit" class="sell" id="lt-redeem" value="redeem">Redeem</button>
      </div>
      <p id="lt-error" class="error" role="alert"></p><p id="lt-ok" class="ok" role="status"></p>
    </form>
    <h3>Your tokens</h3><div id="lt-balances"></div>
  </section>
  <section class="panel" aria-labelledby="lt-reb-h"><h2 id="lt-reb-h">Rebalances (latest per token)</h2><div id="lt-rebalances" class="scroll"></div></section>
  <section class="panel" aria-labelledby="lt-hist-h"><h2 id="lt-hist-h">Your creations and redemptions</h2><div id="lt-history" class="scroll" style="max-height:320px"></div></section>
</div>`;

const table = (headers, rows, empty) => rows.length
  ? `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">${empty}</p>`;
const amount = (v) => num(v, 8).replace(/\.?0+$/, "");

export function mount(main) {
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  const tokens = new Map();
  const logged = !!credentials();
  $("lt-form").hidden = !logged;
  $("lt-login").hidden = logged;
  $("lt-login-btn").addEventListener("click", () => document.getElementById("login").showModal());

  function estimate() {
    const t = tokens.get($("lt-token").value);
    const size = Number($("lt-size").value.replace(/,/g, ""));
    $("lt-estimate").textContent = t && size > 0
      ? `At NAV ${usd(t.pricePerShare, 4)}: about ${usd(size * t.pricePerShare)} (fees on top for creating, off the proceeds for redeeming)` : "";
  }

  async function loadPublic() {
    try {
      const [list, reb] = await Promise.all([get("/api/lt/tokens"), get("/api/etfs/rebalance_info")]);
      if (closed) return;
      for (const t of list) tokens.set(t.name, t);
      $("lt-tokens").innerHTML = table(["Token", "Description", "NAV", "24 h", "Target", "Leverage now", "Basket per token", "Outstanding", "Total NAV", "Underlying mark"],
        list.map((t) => {
          const [perp, usdPart] = [t.positionPerShare, t.basket.USD];
          return `<tr data-token="${esc(t.name)}"><td><button type="button" class="linkish" data-pick="${esc(t.name)}">${esc(t.name)}</button></td><td class="l">${esc(t.description)}</td>
          <td class="nav">${usd(t.pricePerShare, 4)}</td><td class="${tone(t.change24h)}">${pct(t.change24h)}</td><td>${signed(t.leverage, 1)}×</td>
          <td>${num(t.currentLeverage, 2)}×</td><td class="l">${signed(perp, 6)} ${esc(t.underlying)} ${usdPart < 0 ? "−" : "+"} ${usd(Math.abs(usdPart), 4)}</td>
          <td>${num(t.outstanding, 4)}</td><td>${usd(t.totalNav)}</td><td>${num(t.underlyingMark, 2)}</td></tr>`;
        }), "No leveraged tokens");
      const keep = $("lt-token").value;
      if ($("lt-token").options.length !== list.length) {
        $("lt-token").innerHTML = list.map((t) => `<option value="${esc(t.name)}">${esc(t.name)} · ${esc(t.description)}</option>`).join("");
        if (keep) $("lt-token").value = keep;
      }
      estimate();
      const rows = Object.entries(reb);
      $("lt-rebalances").innerHTML = table(["Token", "Kind", "Started (UTC)", "Side", "Size", "Filled", "Mark", "Leverage before", "Status"],
        rows.map(([name, r]) => `<tr><td>${esc(name)}</td><td>${esc(r.kind)}</td><td>${utc(r.time)}</td><td class="${r.side === "buy" ? "up" : "down"}">${r.side}</td>
          <td>${amount(r.size)}</td><td>${amount(r.filledSize)}</td><td>${num(r.underlyingMark, 2)}</td><td>${r.leverageBefore == null ? "–" : num(r.leverageBefore, 2) + "×"}</td>
          <td class="l">${esc(r.status)}${r.endedAt ? ` · ${utc(r.endedAt)}` : ""}</td></tr>`), "No rebalance yet");
    } catch (e) { console.warn("tokens:", e.message); }
  }

  async function loadPrivate() {
    if (!credentials()) return;
    try {
      const [held, creations, redemptions] = await Promise.all([
        privGet("/api/lt/balances"), privGet("/api/lt/creations?limit=50"), privGet("/api/lt/redemptions?limit=50")]);
      if (closed) return;
      $("lt-balances").innerHTML = table(["Token", "Balance", "Value at NAV"], held.map((b) =>
        `<tr data-token="${esc(b.token)}"><td>${esc(b.token)}</td><td class="bal">${amount(b.balance)}</td><td>${usd(b.balance * (tokens.get(b.token)?.pricePerShare || 0))}</td></tr>`), "No tokens held");
      const rows = [
        ...creations.map((c) => ({ kind: "create", time: c.requestedAt, token: c.token, size: c.createdSize, price: c.price, money: -c.cost, fee: c.fee })),
        ...redemptions.map((r) => ({ kind: "redeem", time: r.requestedAt, token: r.token, size: r.size, price: r.price, money: r.proceeds, fee: r.fee })),
      ].sort((a, b) => (a.time < b.time ? 1 : -1));
      $("lt-history").innerHTML = table(["Time (UTC)", "", "Token", "Tokens", "NAV", "USD", "Fee"], rows.map((r) =>
        `<tr><td>${utc(r.time)}</td><td class="l">${r.kind}</td><td>${esc(r.token)}</td><td>${amount(r.size)}</td><td>${usd(r.price, 4)}</td>
        <td class="${tone(r.money)}">${signed(r.money)}</td><td>${usd(r.fee, 4)}</td></tr>`), "None yet");
    } catch (e) { $("lt-error").textContent = e.message; }
  }

  $("lt-tokens").addEventListener("click", (event) => {
    const name = event.target.closest("[data-pick]")?.dataset.pick;
    if (name && credentials()) { $("lt-token").value = name; estimate(); $("lt-size").focus(); }
  });
  $("lt-token").addEventListener("change", estimate);
  $("lt-size").addEventListener("input", estimate);
  $("lt-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "create";
    $("lt-error").textContent = ""; $("lt-ok").textContent = "";
    const name = $("lt-token").value;
    const size = Number($("lt-size").value.replace(/,/g, ""));
    if (!(size > 0)) { $("lt-error").textContent = "Enter how many tokens"; return; }
    try {
      const done = await post(`/api/lt/${encodeURIComponent(name)}/${action}`, { size });
      $("lt-ok").textContent = action === "create"
        ? `Created ${amount(done.createdSize)} ${name} at ${usd(done.price, 4)}: cost ${usd(done.cost)}, fee ${usd(done.fee, 4)}`
        : `Redeemed ${amount(done.size)} ${name} at ${usd(done.price, 4)}: proceeds ${usd(done.proceeds)}, fee ${usd(done.fee, 4)}`;
      loadPublic(); loadPrivate();
    } catch (e) { $("lt-error").textContent = e.message; }
  });
  loadPublic(); loadPrivate();
  const timer = setInterval(() => { loadPublic(); loadPrivate(); }, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); };
}
