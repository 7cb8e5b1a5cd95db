// The volume token (VOL): its figures (supply, the pool's price and the book's, the target = 24 h
// volume ÷ divisor, the TWAP, the deviation, the next rebase window, the policy), the target against
// the market price over time, every rebase and skip; with a key, swaps with the pool and liquidity
// (estimates from the pool's constant product with its fee, in exact integers as the engine does),
// the account's LP position, swaps and line per rebase.
import { ApiError, credentials, get, post, privGet } from "./api.js";
import { decimals, esc, num, pct, signed, tone, usd, utc } from "./format.js";

const REFRESH_MS = 10000; // a rebase comes once a day; the pool moves with swaps, which are rarely seconds apart
const HISTORY = 1000; // pool events the chart holds (the route's most per request)
const GRID = [60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400]; // seconds between the chart's evenly spaced points
const ATOM = 100000000n; // the engine's fixed point: 1e8 atoms per coin, RATE units per 100%
const RATE = 100000000n;

const TEMPLATE = `
<div class="grid2">
  <section class="panel" aria-labelledby="vol-h"><h2 id="vol-h">Volume token (VOL)</h2>
    <p class="muted small">VOL's target price is the exchange's 24-hour volume ÷ a fixed divisor. Once a day, at a second drawn inside the rebase window, the supply of every holder changes by (market price − target) ÷ target ÷ lag when the market price (the pool's 24-hour TWAP) is further than the threshold from the target. The pool is a constant-product pool (Uniswap v2's rules).</p>
    <p id="vol-status" class="muted" role="status"></p>
    <dl class="figures" id="vol-figures"></dl></section>
  <section class="panel" aria-labelledby="vol-chart-h"><h2 id="vol-chart-h">Target vs market price</h2>
    <p class="vol-legend small" id="vol-legend"><span class="vol-key price" aria-hidden="true"></span> Pool price <span id="vol-legend-price"></span>
      <span class="vol-key target" aria-hidden="true"></span> Target <span id="vol-legend-target"></span></p>
    <div id="vol-chart" class="linechart vol-chart" role="img" aria-label="The pool's price and VOL's target over time"></div>
    <p class="muted small">The pool's price after each of its events (a step line); the target at each rebase and now; circles mark rebases with their supply change.</p></section>
  <section class="panel" aria-labelledby="vol-swap-h"><h2 id="vol-swap-h">Swap with the pool</h2>
    <div id="vol-login" class="needs-login" hidden>Log in to swap and provide liquidity. <button type="button" class="primary" id="vol-login-btn">Log in</button></div>
    <p id="vol-not-issued" class="muted" hidden>VOL has not been issued yet: nothing to swap.</p>
    <div id="vol-trade">
      <dl class="figures" id="vol-balances"></dl>
      <label class="vol-slip">Max slippage (%) <input id="vol-slip" inputmode="decimal" autocomplete="off" value="1"
        aria-describedby="vol-slip-note"></label>
      <p id="vol-slip-note" class="muted small">Swaps and liquidity changes ask the exchange to refuse a result this much below the estimate (empty: no limit).</p>
      <form id="vol-swap-form" class="form" novalidate>
        <label>Direction <select id="vol-coin-in"><option value="USD">Pay USD, receive VOL</option><option value="VOL">Pay VOL, receive USD</option></select></label>
        <label><span id="vol-size-label">Pay (USD)</span> <input id="vol-size" inputmode="decimal" autocomplete="off"></label>
        <p id="vol-estimate" class="muted small" aria-live="polite"></p>
        <button type="submit" class="primary submit" id="vol-swap-btn">Swap</button>
        <p id="vol-swap-error" class="error" role="alert"></p><p id="vol-swap-ok" class="ok" role="status"></p>
      </form>
    </div>
  </section>
  <section class="panel" aria-labelledby="vol-lp-h" id="vol-lp-panel"><h2 id="vol-lp-h">Liquidity</h2>
    <div id="vol-lp">
      <h3>Your position</h3><dl class="figures" id="vol-position"></dl>
      <form id="vol-add-form" class="form" novalidate>
        <h3>Add (at the pool's ratio)</h3>
        <div class="sides"><label>VOL <input id="vol-add-vol" inputmode="decimal" autocomplete="off"></label>
          <label>USD <input id="vol-add-usd" inputmode="decimal" autocomplete="off"></label></div>
        <p id="vol-add-estimate" class="muted small" aria-live="polite"></p>
        <button type="submit" class="buy submit" id="vol-add-btn">Add liquidity</button>
        <p id="vol-add-error" class="error" role="alert"></p><p id="vol-add-ok" class="ok" role="status"></p>
      </form>
      <form id="vol-rm-form" class="form" novalidate>
        <h3>Remove</h3>
        <label>LP shares <input id="vol-rm-lp" inputmode="numeric" autocomplete="off"></label>
        <div class="row" role="group" aria-label="Part of your LP shares">
          <button type="button" data-part="25">25%</button><button type="button" data-part="50">50%</button><button type="button" data-part="100">All</button></div>
        <p id="vol-rm-estimate" class="muted small" aria-live="polite"></p>
        <button type="submit" class="sell submit" id="vol-rm-btn">Remove liquidity</button>
        <p id="vol-rm-error" class="error" role="alert"></p><p id="vol-rm-ok" class="ok" role="status"></p>
      </form>
      <h3>Your liquidity changes</h3><div id="vol-lp-history" class="scroll" style="max-height:200px"></div>
    </div>
  </section>
  <section class="panel" aria-labelledby="vol-mine-h" id="vol-mine-panel"><h2 id="vol-mine-h">Your swaps</h2>
    <div id="vol-swaps" class="scroll" style="max-height:320px"></div></section>
  <section class="panel" aria-labelledby="vol-myreb-h" id="vol-myreb-panel"><h2 id="vol-myreb-h">Your VOL at each rebase</h2>
    <div id="vol-my-rebases" class="scroll" style="max-height:320px"></div></section>
  <section class="panel wide" aria-labelledby="vol-reb-h"><h2 id="vol-reb-h">Rebases</h2>
    <div id="vol-rebases" class="scroll" style="max-height:320px"></div>
    <h3>Skipped</h3><div id="vol-skips" class="scroll" style="max-height:200px"></div></section>
</div>`;

const table = (headers, rows, empty) => rows.length
  ? `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">${empty}</p>`;
const amount = (v) => num(v, 8).replace(/\.?0+$/, "");

// Exact amounts: typed text <-> atoms (BigInt), as the exchange reads them (8 decimals at most).
function atomsOf(text) {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(String(text ?? "").replace(/[,\s_]/g, ""));
  if (!m || !(m[1] || m[2]) || (m[2] || "").length > 8) return null;
  return BigInt(m[1] || "0") * ATOM + BigInt((m[2] || "").padEnd(8, "0"));
}
function plain(atoms) { // "1234.5": for the request body
  const frac = (atoms % ATOM).toString().padStart(8, "0").replace(/0+$/, "");
  return `${atoms / ATOM}${frac ? "." + frac : ""}`;
}
function shown(atoms) { // "1,234.5": for people
  const [whole, frac] = plain(atoms).split(".");
  return BigInt(whole).toLocaleString("en-US") + (frac ? "." + frac : "");
}
const count = (n) => BigInt(n).toLocaleString("en-US");
const wholeOf = (text) => (/^\d+$/.test(String(text ?? "").replace(/[,\s_]/g, "")) ? BigInt(String(text).replace(/[,\s_]/g, "")) : null);
const ceilDiv = (a, b) => (a + b - 1n) / b;

function duration(seconds) {
  if (seconds % 86400 === 0) return seconds === 86400 ? "1 day" : `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function mount(main) {
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  const logged = !!credentials();
  $("vol-login").hidden = logged;
  for (const id of ["vol-trade", "vol-lp-panel", "vol-mine-panel", "vol-myreb-panel"]) $(id).hidden = !logged;
  $("vol-login-btn").addEventListener("click", () => document.getElementById("login").showModal());

  // what the estimates need, exactly (BigInt): reserves (VOL in shares, USD in atoms), shares per VOL atom, fee, LP total
  let pool = null;
  let mineLp = 0n;
  let pdp = 4; // VOL/USD's price increment, 0.0001
  const price = (v) => usd(v, pdp);

  const LW = window.LightweightCharts;
  const chart = LW.createChart($("vol-chart"), {
    autoSize: true, layout: { background: { color: "#171d24" }, textColor: "#8d98a6" },
    grid: { vertLines: { color: "#222a33" }, horzLines: { color: "#222a33" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a323c" },
    rightPriceScale: { borderColor: "#2a323c" }, crosshair: { mode: 0 },
  });
  const format = () => ({ type: "price", precision: pdp, minMove: 10 ** -pdp });
  const priceSeries = chart.addLineSeries({ color: "#4a9eff", lineWidth: 2, lineType: 1, priceLineVisible: false, priceFormat: format() });
  const targetSeries = chart.addLineSeries({ color: "#ff9f1c", lineWidth: 2, lineStyle: 2, pointMarkersVisible: true, priceLineVisible: false, priceFormat: format() });
  const poolRows = new Map(); // "seq:n" -> a pool event
  let newestTs = null;
  let rebases = [];
  let drawn = 0; // points on the chart when it was last fitted

  function slipBps() {
    const text = $("vol-slip").value.trim();
    const v = Number(text);
    if (!text || !Number.isFinite(v) || v < 0 || v >= 100) return null;
    return BigInt(Math.round(v * 100));
  }
  const atLeast = (value) => { const bps = slipBps(); return bps === null ? 0n : value * (10000n - bps) / 10000n; };
  const ready = () => pool && pool.shares > 0n && pool.usd > 0n && pool.units > 0n;

  // Uniswap v2's getAmountOut in the engine's integers (products/volume_token/amm.py)
  function swapOut(coinIn, paidAtoms) {
    const buying = coinIn === "USD";
    const paid = buying ? paidAtoms : paidAtoms * pool.units;
    const [rin, rout] = buying ? [pool.usd, pool.shares] : [pool.shares, pool.usd];
    const withFee = paid * (RATE - pool.fee);
    const out = withFee * rout / (rin * RATE + withFee);
    return buying ? out / pool.units : out;
  }

  function estimate() {
    const coinIn = $("vol-coin-in").value;
    const coinOut = coinIn === "USD" ? "VOL" : "USD";
    $("vol-size-label").textContent = `Pay (${coinIn})`;
    const size = atomsOf($("vol-size").value);
    const el = $("vol-estimate");
    delete el.dataset.out;
    if (!ready() || !size) { el.textContent = ""; return; }
    const out = swapOut(coinIn, size);
    if (out <= 0n) { el.textContent = "Too small for the pool"; return; }
    el.dataset.out = plain(out);
    const fee = size * pool.fee / RATE;
    const avg = coinIn === "USD" ? Number(size) / Number(out) : Number(out) / Number(size);
    const now = Number(pool.usd * pool.units * ATOM / pool.shares) / 1e8;
    const min = atLeast(out);
    el.textContent = `You receive about ${shown(out)} ${coinOut} (fee ${shown(fee)} ${coinIn}, ${Number(pool.fee) / 1e6}%), ` +
      `on average ${price(avg)} per VOL against ${price(now)} in the pool now (${pct(avg / now - 1)})` +
      (min > 0n ? `; at least ${shown(min)} ${coinOut}` : "");
  }

  // the router's quote: the other side of a deposit at the pool's ratio
  function fillOther(lead) {
    if (!ready() || pool.lpTotal === 0n) return;
    const vol = atomsOf($("vol-add-vol").value);
    const cash = atomsOf($("vol-add-usd").value);
    if (lead === "vol" && vol) $("vol-add-usd").value = plain(ceilDiv(vol * pool.units * pool.usd, pool.shares));
    if (lead === "usd" && cash) $("vol-add-vol").value = plain(ceilDiv(cash * pool.shares, pool.usd * pool.units));
  }

  function addEstimate() {
    const el = $("vol-add-estimate");
    delete el.dataset.lp;
    const vol = atomsOf($("vol-add-vol").value);
    const cash = atomsOf($("vol-add-usd").value);
    if (!pool || !vol || !cash) { el.textContent = ""; return null; }
    if (!ready() || pool.lpTotal === 0n) { el.textContent = "The first deposit sets the pool's price."; return null; }
    const x = vol * pool.units;
    const yForX = x * pool.usd / pool.shares;
    const [tx, ty] = yForX <= cash ? [x, yForX] : [cash * pool.shares / pool.usd, cash];
    const lp = [tx * pool.lpTotal / pool.shares, ty * pool.lpTotal / pool.usd].reduce((a, b) => (a < b ? a : b));
    if (lp <= 0n) { el.textContent = "Too small for the pool"; return null; }
    el.dataset.lp = String(lp);
    const share = Number(lp * 1000000n / (pool.lpTotal + lp)) / 1e4;
    el.textContent = `The pool takes ${shown(tx / pool.units)} VOL and ${shown(ty)} USD and mints about ${count(lp)} LP shares (${num(share, 4)}% of the pool)` +
      (atLeast(lp) > 0n ? `; at least ${count(atLeast(lp))}` : "");
    return lp;
  }

  function rmEstimate() {
    const el = $("vol-rm-estimate");
    const lp = wholeOf($("vol-rm-lp").value);
    if (!ready() || !lp || pool.lpTotal === 0n) { el.textContent = ""; return null; }
    const vol = lp * pool.shares / pool.lpTotal / pool.units;
    const cash = lp * pool.usd / pool.lpTotal;
    el.textContent = `You receive about ${shown(vol)} VOL and ${shown(cash)} USD` + (slipBps() !== null ? `; at least ${shown(atLeast(vol))} VOL and ${shown(atLeast(cash))} USD` : "");
    return [vol, cash];
  }

  function figures(t, p, m) {
    if (!t.issued) {
      $("vol-status").textContent = "VOL has not been issued yet (the operator issues it once).";
      $("vol-figures").innerHTML = "";
      return;
    }
    $("vol-status").textContent = "";
    const dev = t.deviation;
    let next = "–";
    if (dev != null) {
      next = Math.abs(dev) >= t.threshold
        ? `supply ${signed(dev / t.lag * 100, 2)}% (${signed(t.supply * dev / t.lag, 2)} VOL)`
        : `none: within ±${pct(t.threshold, 2, false)} of the target`;
    }
    const pol = t.policy;
    $("vol-figures").innerHTML = `
      <dt>Supply</dt><dd id="vol-supply" data-value="${t.supply}">${amount(t.supply)} VOL</dd>
      <dt>Pool price</dt><dd id="vol-pool-price" data-value="${p.price}">${price(p.price)}</dd>
      <dt>VOL/USD book: last · mark</dt><dd id="vol-book">${m ? `${m.last == null ? "–" : price(m.last)} · ${m.price == null ? "–" : price(m.price)}` : "–"}</dd>
      <dt>24 h volume (${utc(t.volumeFrom, false)}–${utc(t.volumeTo, false)})</dt><dd id="vol-volume">${usd(t.volume24h, 0)}</dd>
      <dt>Target (volume ÷ ${count(t.divisor)})</dt><dd id="vol-target" data-value="${t.target}">${price(t.target)}</dd>
      <dt>TWAP (${duration(pol.twapWindow)})</dt><dd id="vol-twap">${t.twap == null ? "– (the pool is younger than the window)" : price(t.twap)}</dd>
      <dt>Deviation from the target</dt><dd id="vol-deviation" class="${tone(dev)}">${dev == null ? "–" : pct(dev)}</dd>
      <dt>If it rebased now</dt><dd id="vol-if">${next}</dd>
      <dt>Next rebase window (UTC)</dt><dd id="vol-window">${utc(t.nextWindow.start)} – ${utc(t.nextWindow.end)}</dd>
      <dt>Rebases so far</dt><dd id="vol-epoch">${t.epoch}${t.lastRebase ? ` · last ${utc(t.lastRebase)}` : ""}</dd>
      <dt>Policy</dt><dd id="vol-policy">threshold ±${pct(t.threshold, 2, false)} · lag ${t.lag} · every ${duration(pol.interval)}</dd>
      <dt>Pool reserves</dt><dd id="vol-reserves">${amount(p.reserves.vol)} VOL + ${usd(p.reserves.usd)}</dd>
      <dt>Pool fee · LP shares</dt><dd>${pct(pol.poolFee, 1, false)} · ${count(p.exact.lpTotal)}</dd>`;
  }

  function drawChart(t, p) {
    const seconds = (ts) => Math.floor(ts / 1e6);
    const now = seconds(p.cumulativeTs);
    const prices = new Map();
    const rows = [...poolRows.values()].sort((a, b) => a.seq - b.seq || a.n - b.n);
    for (const r of rows) if (r.price > 0 || prices.size) prices.set(seconds(r.ts), r.price);
    if (t.issued && p.price > 0) prices.set(Math.max(now, ...prices.keys()), p.price);
    const events = prices.size;
    const targets = new Map(rebases.map((r) => [seconds(r.ts), r.target]).reverse());
    if (t.issued) targets.set(Math.max(now, ...targets.keys()), t.target);
    // the chart spaces points evenly: the pool's price, which holds between its events, is also
    // given on a regular grid so that the time axis runs evenly (the target is known only at rebases)
    const times = [...prices.keys(), ...targets.keys()];
    if (prices.size) {
      const [first, last] = [Math.min(...times), Math.max(...times)];
      const step = GRID.find((g) => (last - first) / g <= 400) || GRID[GRID.length - 1];
      const known = [...prices].sort((a, b) => a[0] - b[0]);
      let i = 0;
      let held = null;
      for (let time = first - first % step + step; time < last; time += step) {
        while (i < known.length && known[i][0] <= time) held = known[i++][1];
        if (held !== null && !prices.has(time)) prices.set(time, held);
      }
    }
    priceSeries.setData([...prices].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value })));
    targetSeries.setData([...targets].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value })));
    if (prices.size + targets.size !== drawn) { drawn = prices.size + targets.size; chart.timeScale().fitContent(); }
    priceSeries.setMarkers(rebases.filter((r) => prices.has(seconds(r.ts))).reverse().map((r) => ({
      time: seconds(r.ts), position: "aboveBar", color: "#e6e9ee", shape: "circle", text: pct(r.delta / r.supplyBefore, 1),
    })));
    $("vol-legend-price").textContent = t.issued ? price(p.price) : "–";
    $("vol-legend-target").textContent = t.issued ? price(t.target) : "–";
    $("vol-chart").dataset.points = `${events},${targets.size}`;
  }

  async function loadHistory() {
    const since = newestTs == null ? "" : `&start_time=${Math.floor(newestTs / 1e6)}.${String(newestTs % 1e6).padStart(6, "0")}`;
    const rows = await get(`/api/volume_token/pool/history?limit=${HISTORY}${since}`);
    if (newestTs != null && rows.length >= HISTORY) poolRows.clear(); // more than a page since: start again from the newest
    for (const r of rows) {
      poolRows.set(`${r.seq}:${r.n}`, r);
      if (newestTs == null || r.ts > newestTs) newestTs = r.ts;
    }
    if (poolRows.size > 2 * HISTORY) {
      const keep = [...poolRows].sort((a, b) => b[1].seq - a[1].seq || b[1].n - a[1].n).slice(0, HISTORY);
      poolRows.clear();
      for (const [k, r] of keep) poolRows.set(k, r);
    }
  }

  async function loadPublic() {
    try {
      const [t, p, reb, skips, m] = await Promise.all([get("/api/volume_token"), get("/api/volume_token/pool"),
        get("/api/volume_token/rebases?limit=100"), get("/api/volume_token/rebase_skips?limit=100"), get("/api/markets/VOL/USD")]);
      await loadHistory();
      if (closed) return;
      const dp = decimals(m.priceIncrement);
      if (dp !== pdp) { pdp = dp; priceSeries.applyOptions({ priceFormat: format() }); targetSeries.applyOptions({ priceFormat: format() }); }
      rebases = reb;
      pool = { shares: BigInt(p.exact.volShares), usd: BigInt(p.exact.usd), lpTotal: BigInt(p.exact.lpTotal), units: BigInt(t.sharesPerVol), fee: BigInt(t.exact.poolFee) };
      figures(t, p, m);
      drawChart(t, p);
      $("vol-not-issued").hidden = t.issued;
      $("vol-swap-form").hidden = $("vol-add-form").hidden = $("vol-rm-form").hidden = !t.issued;
      estimate(); addEstimate(); rmEstimate();
      $("vol-rebases").innerHTML = table(["Epoch", "Time (UTC)", "24 h volume", "Target", "TWAP", "Deviation", "Supply before → after", "Change"],
        reb.map((r) => `<tr data-epoch="${r.epoch}" data-target="${r.target}" data-twap="${r.twap}" data-supply-before="${r.supplyBefore}" data-supply-after="${r.supplyAfter}">
          <td>${r.epoch}</td><td>${utc(r.time)}</td><td>${usd(r.volume, 0)}</td><td>${price(r.target)}</td><td>${price(r.twap)}</td>
          <td class="${tone(r.deviation)}">${pct(r.deviation)}</td><td>${amount(r.supplyBefore)} → ${amount(r.supplyAfter)}</td>
          <td class="${tone(r.delta)}">${pct(r.delta / r.supplyBefore, 4)}</td></tr>`), "No rebase yet");
      $("vol-skips").innerHTML = table(["Epoch", "Time (UTC)", "Reason"], skips.map((s) =>
        `<tr data-epoch="${s.epoch}"><td>${s.epoch}</td><td>${utc(s.time)}</td><td class="l">${esc(s.reason)}</td></tr>`), "None skipped");
    } catch (e) {
      if (closed) return;
      if (e instanceof ApiError && e.status === 404) $("vol-status").textContent = e.message;
      else console.warn("volume token:", e.message);
    }
  }

  async function loadPrivate() {
    if (!credentials()) return;
    try {
      const [wallet, lp, swaps, mine] = await Promise.all([privGet("/api/wallet/balances"), privGet("/api/volume_token/liquidity?limit=50"),
        privGet("/api/volume_token/swaps?limit=50"), privGet("/api/volume_token/rebases/mine?limit=50")]);
      if (closed) return;
      const free = (coin) => (wallet.find((b) => b.coin === coin) || { free: 0 }).free;
      $("vol-balances").innerHTML = `<dt>USD (free)</dt><dd id="vol-usd-free">${amount(free("USD"))}</dd>
        <dt>VOL (free)</dt><dd id="vol-vol-free">${amount(free("VOL"))}</dd>`;
      mineLp = BigInt(lp.exact.lp);
      $("vol-position").innerHTML = mineLp > 0n ? `
        <dt>LP shares</dt><dd id="vol-my-lp" data-lp="${lp.exact.lp}">${count(lp.exact.lp)}</dd>
        <dt>Share of the pool</dt><dd id="vol-my-share">${pct(lp.share, 4, false)}</dd>
        <dt>Your part</dt><dd>${amount(lp.vol)} VOL + ${usd(lp.usd)}</dd>
        <dt>Value at the pool's price</dt><dd>${usd(lp.value)}</dd>` : `<dt>LP shares</dt><dd id="vol-my-lp" data-lp="0">none</dd>`;
      $("vol-lp-history").innerHTML = table(["Time (UTC)", "", "VOL", "USD", "LP shares", "Price after"], lp.history.map((h) =>
        `<tr><td>${utc(h.time)}</td><td class="l">${h.kind === "add" ? "added" : "removed"}</td><td>${amount(h.vol)}</td><td>${amount(h.usd)}</td>
        <td>${count(h.exact.lp)}</td><td>${price(h.price)}</td></tr>`), "None yet");
      $("vol-swaps").innerHTML = table(["Time (UTC)", "Paid", "Received", "Fee", "Pool price after"], swaps.map((s) =>
        `<tr data-id="${s.id}"><td>${utc(s.time)}</td><td>${amount(s.size)} ${esc(s.coinIn)}</td><td>${amount(s.received)} ${esc(s.coinOut)}</td>
        <td>${amount(s.fee)} ${esc(s.coinIn)}</td><td>${price(s.price)}</td></tr>`), "No swaps yet");
      $("vol-my-rebases").innerHTML = table(["Epoch", "Time (UTC)", "VOL before", "VOL after", "Change"], mine.map((r) =>
        `<tr data-epoch="${r.epoch}"><td>${r.epoch}</td><td>${utc(r.time)}</td><td>${amount(r.balanceBefore)}</td><td>${amount(r.balanceAfter)}</td>
        <td class="${tone(r.change)}">${r.change > 0 ? "+" : ""}${amount(r.change)}</td></tr>`), "No rebase yet");
      rmEstimate();
    } catch (e) { if (!closed) $("vol-swap-error").textContent = e.message; }
  }

  const refresh = () => Promise.all([loadPublic(), loadPrivate()]);

  async function send(prefix, path, body, done) {
    $(`${prefix}-error`).textContent = ""; $(`${prefix}-ok`).textContent = "";
    try {
      $(`${prefix}-ok`).textContent = done(await post(path, body));
      await refresh();
    } catch (e) { $(`${prefix}-error`).textContent = e.message; }
  }

  $("vol-coin-in").addEventListener("change", estimate);
  $("vol-size").addEventListener("input", estimate);
  $("vol-slip").addEventListener("input", () => { estimate(); addEstimate(); rmEstimate(); });
  $("vol-add-vol").addEventListener("input", () => { fillOther("vol"); addEstimate(); });
  $("vol-add-usd").addEventListener("input", () => { fillOther("usd"); addEstimate(); });
  $("vol-rm-lp").addEventListener("input", rmEstimate);
  $("vol-rm-form").addEventListener("click", (event) => {
    const part = event.target.closest("[data-part]")?.dataset.part;
    if (!part) return;
    $("vol-rm-lp").value = String(mineLp * BigInt(part) / 100n);
    rmEstimate();
  });

  $("vol-swap-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const coinIn = $("vol-coin-in").value;
    const size = atomsOf($("vol-size").value);
    if (!size) { $("vol-swap-ok").textContent = ""; $("vol-swap-error").textContent = `Enter how much ${coinIn} to pay (at most 8 decimals)`; return; }
    const body = { coinIn, size: plain(size) };
    const min = ready() ? atLeast(swapOut(coinIn, size)) : 0n;
    if (min > 0n) body.minOut = plain(min);
    send("vol-swap", "/api/volume_token/swaps", body, (s) => {
      $("vol-size").value = "";
      return `Swapped ${amount(s.size)} ${s.coinIn} for ${amount(s.received)} ${s.coinOut} (fee ${amount(s.fee)} ${s.coinIn}); pool price now ${price(s.price)}`;
    });
  });
  $("vol-add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const vol = atomsOf($("vol-add-vol").value);
    const cash = atomsOf($("vol-add-usd").value);
    if (!vol || !cash) { $("vol-add-ok").textContent = ""; $("vol-add-error").textContent = "Enter both amounts (at most 8 decimals)"; return; }
    const body = { vol: plain(vol), usd: plain(cash) };
    const lp = addEstimate();
    if (lp && atLeast(lp) > 0n) body.minLp = String(atLeast(lp));
    send("vol-add", "/api/volume_token/liquidity", body, (a) => {
      $("vol-add-vol").value = ""; $("vol-add-usd").value = "";
      return `Added ${amount(a.vol)} VOL and ${amount(a.usd)} USD: ${count(a.exact.lp)} LP shares`;
    });
  });
  $("vol-rm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const lp = wholeOf($("vol-rm-lp").value);
    if (!lp) { $("vol-rm-ok").textContent = ""; $("vol-rm-error").textContent = "Enter a whole number of LP shares"; return; }
    const body = { lp: String(lp) };
    const out = rmEstimate();
    if (out && slipBps() !== null) {
      if (atLeast(out[0]) > 0n) body.minVol = plain(atLeast(out[0]));
      if (atLeast(out[1]) > 0n) body.minUsd = plain(atLeast(out[1]));
    }
    send("vol-rm", "/api/volume_token/liquidity/remove", body, (r) => {
      $("vol-rm-lp").value = "";
      return `Removed ${count(r.exact.lp)} LP shares: ${amount(r.vol)} VOL and ${amount(r.usd)} USD`;
    });
  });

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); chart.remove(); };
}
