// The trade page: markets, candles, the live ladder and trades, order entry, and the account's
// orders, trigger orders, positions, fills and figures.
import { credentials, del, get, post, privGet, query } from "./api.js";
import { Book } from "./book.js";
import { compact, decimals, esc, floorTo, num, pct, signed, tone, usd, utc } from "./format.js";
import { ws } from "./ws.js";

const LADDER = 15; // levels shown per side
const TRADES = 40;
const REFRESH_MS = 5000; // market list and account figures; fills and orders also refresh them at once
const RESOLUTIONS = [["1m", 60], ["5m", 300], ["1h", 3600], ["1d", 86400]];

// `fn` once the frame being rendered now has been painted: a task queued from a requestAnimationFrame
// callback runs after that frame's style, layout and paint. For the performance marks the page sets
// (backstop:ladder-first, backstop:chart-first) and the ladder's delay behind the socket, which
// `backstop bench ui` reads.
const afterPaintQueue = [];
const afterPaintChannel = new MessageChannel();
afterPaintChannel.port1.onmessage = () => { for (const fn of afterPaintQueue.splice(0)) fn(); };
function afterPaint(fn) {
  afterPaintQueue.push(fn);
  if (afterPaintQueue.length === 1) afterPaintChannel.port2.postMessage(0);
}
function markOnce(name) {
  if (!performance.getEntriesByName(name, "mark").length) performance.mark(name);
}

const TEMPLATE = `
<div class="trade">
  <section class="panel markets" aria-labelledby="markets-h">
    <h2 id="markets-h">Markets</h2>
    <table id="markets"><thead><tr><th>Market</th><th>Last</th><th>24 h</th><th><abbr title="24-hour volume in USD">Vol.</abbr></th></tr></thead><tbody></tbody></table>
  </section>
  <section class="panel chart" aria-labelledby="chart-h">
    <div class="row"><h2 id="chart-h"><span id="mk-name"></span></h2>
      <span id="mk-last" class="big"></span><span id="mk-change"></span>
      <span class="muted small" id="mk-extra"></span>
      <span class="row" role="group" aria-label="Candle resolution" id="resolutions" style="margin-left:auto"></span>
    </div>
    <div id="chart" role="img" aria-label="Candle chart"></div>
  </section>
  <div class="bookwrap">
    <section class="panel" aria-labelledby="book-h">
      <h2 id="book-h">Order book</h2>
      <div class="ladder-scroll"><table class="ladder" id="ladder" data-checksum="">
        <thead><tr><th class="l">Price</th><th>Size</th><th>Total</th></tr></thead><tbody></tbody></table></div>
    </section>
    <section class="panel" aria-labelledby="trades-h">
      <h2 id="trades-h">Recent trades</h2>
      <div class="trades-scroll"><table id="trades"><thead><tr><th class="l">Price</th><th>Size</th><th>Time (UTC)</th></tr></thead><tbody></tbody></table></div>
    </section>
  </div>
  <section class="panel entry" aria-labelledby="entry-h">
    <h2 id="entry-h">Place order</h2>
    <div id="entry-login" class="needs-login" hidden><button type="button" class="primary" id="entry-login-btn">Log in to trade</button></div>
    <form id="order-form" class="form" novalidate>
      <div class="sides" role="group" aria-label="Side">
        <button type="button" class="side buy" data-side="buy" aria-pressed="true">Buy</button>
        <button type="button" class="side sell" data-side="sell" aria-pressed="false">Sell</button>
      </div>
      <label>Order type <select id="o-type">
        <option value="limit">Limit</option><option value="market">Market</option><option value="stop">Stop</option>
        <option value="takeProfit">Take profit</option><option value="trailingStop">Trailing stop</option></select></label>
      <label data-show="limit">Price <input id="o-price" inputmode="decimal" autocomplete="off"></label>
      <label data-show="trigger">Trigger price <input id="o-trigger" inputmode="decimal" autocomplete="off"></label>
      <label data-show="trigger">Limit price (empty: market order) <input id="o-order-price" inputmode="decimal" autocomplete="off"></label>
      <label data-show="trail">Trail distance <input id="o-trail" inputmode="decimal" autocomplete="off"></label>
      <label for="o-size">Size</label>
      <div class="sizeunit"><input id="o-size" inputmode="decimal" autocomplete="off">
        <select id="o-unit" aria-label="Size unit"><option value="coin">coin</option><option value="usd">USD</option></select></div>
      <div class="checks">
        <label data-show="limit"><input type="checkbox" id="o-post"> Post only</label>
        <label><input type="checkbox" id="o-reduce"> Reduce only</label>
        <label data-show="limit"><input type="checkbox" id="o-ioc"> IOC</label>
      </div>
      <p id="o-hint" class="muted small"></p>
      <button type="submit" class="submit buy" id="o-submit">Buy</button>
      <p id="order-error" class="error" role="alert"></p>
      <p id="order-ok" class="ok" role="status"></p>
    </form>
    <h3 id="figures-h">Account</h3>
    <dl class="figures" id="figures" aria-labelledby="figures-h"></dl>
    <form id="leverage-form" class="row" style="margin-top:6px">
      <label for="leverage" class="muted">Leverage</label>
      <select id="leverage">${[1, 2, 3, 5, 10, 20].map((x) => `<option value="${x}">${x}×</option>`).join("")}</select>
      <button type="submit" id="leverage-set">Set</button>
    </form>
    <p id="leverage-error" class="error" role="alert"></p>
  </section>
  <section class="panel bottom" aria-label="Your orders, positions and fills">
    <div role="tablist" aria-label="Account tables">
      <button type="button" role="tab" id="tab-positions" aria-controls="positions" aria-selected="true">Positions</button>
      <button type="button" role="tab" id="tab-orders" aria-controls="orders" aria-selected="false">Open orders</button>
      <button type="button" role="tab" id="tab-triggers" aria-controls="triggers" aria-selected="false">Trigger orders</button>
      <button type="button" role="tab" id="tab-fills" aria-controls="fills" aria-selected="false">Fills</button>
    </div>
    <p id="table-error" class="error" role="alert"></p>
    <div role="tabpanel" id="positions" aria-labelledby="tab-positions" class="scroll"></div>
    <div role="tabpanel" id="orders" aria-labelledby="tab-orders" class="scroll" hidden></div>
    <div role="tabpanel" id="triggers" aria-labelledby="tab-triggers" class="scroll" hidden></div>
    <div role="tabpanel" id="fills" aria-labelledby="tab-fills" class="scroll" hidden></div>
  </section>
</div>
<dialog id="modify"><form id="modify-form" class="form" method="dialog">
  <h2>Modify order</h2><p class="muted small" id="modify-what"></p>
  <label>Price <input id="m-price" inputmode="decimal"></label>
  <label>Size <input id="m-size" inputmode="decimal"></label>
  <p id="modify-error" class="error" role="alert"></p>
  <div class="row"><button type="submit" class="primary" value="save">Save</button><button type="button" id="m-cancel">Close</button></div>
</form></dialog>`;

export function mount(main, args) {
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  const s = {
    markets: new Map(), futures: new Map(), market: args[0] ? decodeURIComponent(args[0]) : sessionStorage.getItem("backstop.market"),
    side: "buy", book: new Book(), bookDirty: false, trades: [], tradesDirty: false, frame: 0,
    resolution: 60, series: null, chart: null, lastBar: null, unsubs: [], timers: [], closed: false,
    positions: [], orders: [],
    // book messages applied, ladder renders, checksum mismatches; `measure` is off (null) unless the
    // benchmark sets it to an array: then each book message adds [arrived, applied, its data.time,
    // rendered, painted, messages in that render] (ms on performance.now()'s clock, data.time in s)
    bookMessages: 0, renders: 0, mismatches: 0, measure: null, lagPending: [],
  };
  const info = () => s.markets.get(s.market) || { priceIncrement: 0.01, sizeIncrement: 0.0001 };
  const pdp = () => decimals(info().priceIncrement);
  const sdp = () => decimals(info().sizeIncrement);
  const dpOf = (name) => { const m = s.markets.get(name); return m ? [decimals(m.priceIncrement), decimals(m.sizeIncrement)] : [2, 4]; };

  // ---------------------------------------------------------------- markets
  async function loadMarkets() {
    try {
      const [markets, futures] = await Promise.all([get("/api/markets"), get("/api/futures")]);
      for (const m of markets) s.markets.set(m.name, m);
      for (const f of futures) s.futures.set(f.name, f);
      if (!s.market || !s.markets.has(s.market)) s.market = (markets.find((m) => m.name.endsWith("-PERP")) || markets[0]).name;
      renderMarkets();
      renderHeader();
    } catch (e) { console.warn("markets:", e.message); }
  }

  function renderMarkets() {
    const rows = [...s.markets.values()].map((m) => {
      const dp = decimals(m.priceIncrement);
      const selected = m.name === s.market;
      return `<tr aria-selected="${selected}" data-market="${esc(m.name)}"><td><button type="button" class="mk" data-market="${esc(m.name)}"${selected ? ' aria-current="true"' : ""}>${esc(m.name)}</button></td>
        <td>${num(m.last ?? m.price, dp)}</td><td class="${tone(m.change24h)}">${pct(m.change24h)}</td><td>$${compact(m.volumeUsd24h)}</td></tr>`;
    });
    $("markets").tBodies[0].innerHTML = rows.join("");
  }

  function renderHeader() {
    const m = s.markets.get(s.market);
    if (!m) return;
    $("mk-name").textContent = m.name;
    const last = s.trades.length ? s.trades[0].price : m.last;
    $("mk-last").textContent = num(last, pdp());
    $("mk-change").className = tone(m.change24h);
    $("mk-change").textContent = ` ${pct(m.change24h)} 24 h`;
    const f = s.futures.get(s.market);
    const extra = [`vol ${compact(m.volumeUsd24h)} USD`];
    if (f) extra.unshift(`mark ${num(f.mark, pdp())}`, `index ${num(f.index, pdp())}`);
    $("mk-extra").textContent = extra.join(" · ");
    $("o-unit").options[0].textContent = m.underlying || m.baseCurrency || "coin";
    updateSubmit();
  }

  // ---------------------------------------------------------------- chart
  function makeChart() {
    const LW = window.LightweightCharts;
    s.chart = LW.createChart($("chart"), {
      autoSize: true,
      layout: { background: { color: "#171d24" }, textColor: "#8d98a6" },
      grid: { vertLines: { color: "#222a33" }, horzLines: { color: "#222a33" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a323c" },
      rightPriceScale: { borderColor: "#2a323c" },
      crosshair: { mode: 0 },
    });
    s.series = s.chart.addCandlestickSeries({
      upColor: "#4a9eff", downColor: "#ff9f1c", borderUpColor: "#4a9eff", borderDownColor: "#ff9f1c",
      wickUpColor: "#4a9eff", wickDownColor: "#ff9f1c",
    });
    $("resolutions").innerHTML = RESOLUTIONS.map(([label, r]) =>
      `<button type="button" data-res="${r}" aria-pressed="${r === s.resolution}">${label}</button>`).join("");
  }

  async function loadCandles() {
    const market = s.market;
    const inc = info().priceIncrement;
    s.series.applyOptions({ priceFormat: { type: "price", precision: pdp(), minMove: inc } });
    try {
      const rows = await get(`/api/markets/${market}/candles${query({ resolution: s.resolution, limit: 500 })}`);
      if (market !== s.market || s.closed) return;
      const bars = rows.map((c) => ({ time: Math.floor(c.time / 1000), open: c.open, high: c.high, low: c.low, close: c.close }));
      s.series.setData(bars);
      s.lastBar = bars.length ? { ...bars[bars.length - 1] } : null;
      // the chart draws in its own animation frame, queued by setData: this one runs after it
      if (bars.length) requestAnimationFrame(() => afterPaint(() => markOnce("backstop:chart-first")));
    } catch (e) { console.warn("candles:", e.message); }
  }

  function candleTrade(trade) {
    const t = Math.floor(Date.parse(trade.time) / 1000);
    const start = t - (t % s.resolution);
    const bar = s.lastBar;
    if (bar && start < bar.time) return;
    if (bar && bar.time === start) {
      bar.high = Math.max(bar.high, trade.price); bar.low = Math.min(bar.low, trade.price); bar.close = trade.price;
    } else {
      s.lastBar = { time: start, open: trade.price, high: trade.price, low: trade.price, close: trade.price };
    }
    s.series.update({ ...s.lastBar });
  }

  // ---------------------------------------------------------------- book and trades (one render per frame)
  function schedule() {
    if (!s.frame && !s.closed) s.frame = requestAnimationFrame(render);
  }

  function onBook(message, arrived) {
    if (message.market !== s.market) return;
    s.bookMessages++;
    // after a mismatch the updates already on the wire belong to the broken book: wait for the partial
    if (s.book.stale && message.data.action !== "partial") return;
    s.book.apply(message.data);
    const ours = s.book.checksum();
    if (ours !== message.data.checksum) {
      $("ladder").dataset.checksum = "mismatch";
      s.mismatches++;
      s.book.stale = true;
      console.warn(`order book checksum mismatch on ${s.market}: resubscribing`);
      ws.restart("orderbook", s.market);
      return;
    }
    $("ladder").dataset.checksum = "ok";
    if (s.measure) s.lagPending.push([arrived ?? performance.now(), performance.now(), message.data.time]);
    s.bookDirty = true;
    schedule();
  }

  function onTrades(message) {
    if (message.market !== s.market) return;
    for (const t of message.data) { s.trades.unshift(t); candleTrade(t); }
    s.trades.length = Math.min(s.trades.length, TRADES);
    s.tradesDirty = true;
    schedule();
  }

  function render() {
    s.frame = 0;
    const pd = pdp();
    const sd = sdp();
    if (s.bookDirty) {
      s.bookDirty = false;
      const { bids, asks } = s.book.sorted();
      const top = asks.slice(0, LADDER);
      const best = bids.slice(0, LADDER);
      let total = 0;
      const askTotals = top.map(([, size]) => (total += size));
      const max = Math.max(total, best.reduce((a, [, q]) => a + q, 0)) || 1;
      const rows = [];
      for (let i = top.length - 1; i >= 0; i--) {
        const [price, size] = top[i];
        rows.push(`<tr class="ask" data-price="${price}" data-size="${size}"><td class="l down">${num(price, pd)}</td><td>${num(size, sd)}</td><td>${num(askTotals[i], sd)}<span class="bar" style="width:${(100 * askTotals[i] / max).toFixed(1)}%"></span></td></tr>`);
      }
      const spread = top.length && best.length ? top[0][0] - best[0][0] : null;
      rows.push(`<tr class="spread"><td colspan="3">${spread === null ? "no spread" : `spread ${num(spread, pd)}`}</td></tr>`);
      total = 0;
      for (const [price, size] of best) {
        total += size;
        rows.push(`<tr class="bid" data-price="${price}" data-size="${size}"><td class="l up">${num(price, pd)}</td><td>${num(size, sd)}</td><td>${num(total, sd)}<span class="bar" style="width:${(100 * total / max).toFixed(1)}%"></span></td></tr>`);
      }
      $("ladder").tBodies[0].innerHTML = rows.join("");
      s.renders++;
      if (!s.ladderMarked && (bids.length || asks.length)) {
        s.ladderMarked = true;
        afterPaint(() => markOnce("backstop:ladder-first"));
      }
      if (s.lagPending.length) {
        const batch = s.lagPending;
        const rendered = performance.now();
        s.lagPending = [];
        afterPaint(() => {
          const painted = performance.now();
          if (s.measure) for (const m of batch) s.measure.push([...m, rendered, painted, batch.length]);
        });
      }
    }
    if (s.tradesDirty) {
      s.tradesDirty = false;
      $("trades").tBodies[0].innerHTML = s.trades.map((t) =>
        `<tr data-id="${t.id}"><td class="l ${t.side === "buy" ? "up" : "down"}">${t.side === "buy" ? "▲" : "▼"} ${num(t.price, pd)}</td><td>${num(t.size, sd)}</td><td>${utc(t.time, false)}</td></tr>`).join("");
      renderHeader();
    }
  }

  async function selectMarket(name) {
    if (s.unsubBook) s.unsubBook();
    s.market = name;
    sessionStorage.setItem("backstop.market", name);
    history.replaceState(null, "", `#/trade/${encodeURIComponent(name)}`);
    s.book = new Book();
    s.lagPending = [];
    s.trades = [];
    s.bookDirty = s.tradesDirty = true;
    schedule();
    renderMarkets();
    renderHeader();
    const a = ws.subscribe("orderbook", name, onBook);
    const b = ws.subscribe("trades", name, onTrades);
    s.unsubBook = () => { a(); b(); };
    loadCandles();
    try {
      const recent = await get(`/api/markets/${name}/trades${query({ limit: TRADES })}`);
      if (name === s.market && !s.trades.length) { s.trades = recent; s.tradesDirty = true; schedule(); }
    } catch (e) { console.warn("trades:", e.message); }
  }

  // ---------------------------------------------------------------- order entry
  function kind() { return $("o-type").value; }
  function updateForm() {
    const k = kind();
    const show = { limit: k === "limit", trigger: k === "stop" || k === "takeProfit", trail: k === "trailingStop" };
    for (const el of main.querySelectorAll("#order-form [data-show]")) el.hidden = !show[el.dataset.show];
    for (const b of main.querySelectorAll(".side")) b.setAttribute("aria-pressed", String(b.dataset.side === s.side));
    updateSubmit();
  }
  function updateSubmit() {
    const button = $("o-submit");
    button.textContent = `${s.side === "buy" ? "Buy" : "Sell"} ${s.market || ""}`;
    button.className = `submit ${s.side}`;
    const m = info();
    $("o-hint").textContent = `Price step ${m.priceIncrement}, size step ${m.sizeIncrement}` + (m.minProvideSize ? `, min ${m.minProvideSize}` : "");
  }
  // what a market or trailing order would pay first: the best ask for a buy, the best bid for a sell
  const bestPrice = () => { const { bids, asks } = s.book.sorted(); const top = s.side === "buy" ? asks[0] : bids[0]; return top ? top[0] : null; };
  const val = (id) => { const v = $(id).value.trim().replace(/,/g, ""); return v === "" ? null : Number(v); };

  async function submitOrder(event) {
    event.preventDefault();
    $("order-error").textContent = "";
    $("order-ok").textContent = "";
    const k = kind();
    const m = info();
    let size = val("o-size");
    if ($("o-unit").value === "usd" && size !== null) {
      const ref = k === "limit" ? val("o-price") : k === "stop" || k === "takeProfit" ? val("o-trigger") : (bestPrice() ?? s.trades[0]?.price ?? m.last ?? m.price);
      if (!ref) { $("order-error").textContent = "A price is needed to turn USD into a size"; return; }
      size = floorTo(size / ref, m.sizeIncrement);
    }
    const button = $("o-submit");
    button.disabled = true;
    try {
      let placed;
      if (k === "limit" || k === "market") {
        placed = await post("/api/orders", {
          market: s.market, side: s.side, type: k, price: k === "limit" ? val("o-price") : null, size,
          reduceOnly: $("o-reduce").checked, ioc: k === "limit" && $("o-ioc").checked, postOnly: k === "limit" && $("o-post").checked,
        });
      } else {
        const body = { market: s.market, side: s.side, type: k, size, reduceOnly: $("o-reduce").checked };
        if (k === "trailingStop") { const d = val("o-trail"); body.trailValue = d === null ? null : (s.side === "sell" ? -Math.abs(d) : Math.abs(d)); }
        else { body.triggerPrice = val("o-trigger"); const op = val("o-order-price"); if (op !== null) body.orderPrice = op; }
        placed = await post("/api/conditional_orders", body);
      }
      $("order-ok").textContent = `${placed.side} ${num(placed.size, sdp())} ${placed.market}: ${placed.status} (order ${placed.id})`;
      refreshPrivate();
    } catch (e) {
      $("order-error").textContent = e.message;
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- account tables
  let pending = 0;
  function refreshPrivate() { // debounced: a burst of fills refreshes once
    clearTimeout(pending);
    pending = setTimeout(loadPrivate, 150);
  }

  async function loadPrivate() {
    if (!credentials() || s.closed) return;
    try {
      const [account, positions, orders, triggers, fills] = await Promise.all([
        privGet("/api/account"), privGet("/api/positions?showAvgPrice=true"), privGet("/api/orders"),
        privGet("/api/conditional_orders"), privGet("/api/fills?limit=50"),
      ]);
      if (s.closed) return;
      $("table-error").textContent = "";
      renderFigures(account);
      renderPositions(positions);
      renderOrders(orders);
      renderTriggers(triggers);
      renderFills(fills);
    } catch (e) {
      $("table-error").textContent = e.message;
    }
  }

  function renderFigures(a) {
    const mmf = a.maintenanceMarginRequirement;
    const autoClose = mmf == null ? null : Math.max(mmf / 2, mmf - 0.06);
    const rows = [
      ["Total account value", usd(a.totalAccountValue)], ["Collateral", usd(a.collateral)],
      ["Free collateral", usd(a.freeCollateral)], ["Position notional", usd(a.totalPositionSize)],
      ["Margin fraction", a.marginFraction == null ? "–" : pct(a.marginFraction, 2, false)],
      ["Open margin fraction", a.openMarginFraction == null ? "–" : pct(a.openMarginFraction, 2, false)],
      ["Initial margin", pct(a.initialMarginRequirement, 2, false)],
      ["Maintenance margin", pct(mmf, 2, false)],
      ["Auto-close below", autoClose == null ? "–" : pct(autoClose, 2, false)],
      ["Leverage", `${a.leverage}×`],
    ];
    if (a.liquidating) rows.push(["Status", "liquidating"]);
    $("figures").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
    const select = $("leverage");
    if (![...select.options].some((o) => Number(o.value) === a.leverage)) select.add(new Option(`${a.leverage}×`, a.leverage));
    if (document.activeElement !== select) select.value = String(a.leverage);
  }

  function table(headers, rows, empty) {
    if (!rows.length) return `<p class="muted">${empty}</p>`;
    return `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  }

  function renderPositions(list) {
    s.positions = list.filter((p) => p.netSize);
    $("positions").innerHTML = table(["Market", "Side", "Size", "Entry", "Mark", "Unrealized PnL", "Liq. price", ""],
      s.positions.map((p, i) => {
        const [pd, sd] = dpOf(p.future);
        const mark = s.futures.get(p.future)?.mark;
        return `<tr data-market="${esc(p.future)}"><td>${esc(p.future)}</td><td class="${p.side === "buy" ? "up" : "down"}">${p.side === "buy" ? "long" : "short"}</td>
          <td>${num(p.size, sd)}</td><td>${num(p.recentAverageOpenPrice ?? p.entryPrice, pd)}</td><td>${num(mark, pd)}</td>
          <td class="${tone(p.unrealizedPnl)}">${signed(p.unrealizedPnl)}</td>
          <td class="liq" data-liq="${p.estimatedLiquidationPrice ?? ""}">${num(p.estimatedLiquidationPrice, pd)}</td>
          <td><button type="button" class="close-pos" data-i="${i}">Close</button></td></tr>`;
      }), "No open positions");
  }

  function renderOrders(list) {
    s.orders = list;
    $("orders").innerHTML = table(["Market", "Side", "Type", "Price", "Size", "Filled", "Flags", "Placed (UTC)", ""],
      list.map((o, i) => {
        const [pd, sd] = dpOf(o.market);
        const flags = [o.postOnly && "post-only", o.reduceOnly && "reduce-only", o.ioc && "IOC"].filter(Boolean).join(", ");
        return `<tr data-id="${o.id}"><td>${esc(o.market)}</td><td class="${o.side === "buy" ? "up" : "down"}">${o.side}</td><td>${o.type}</td>
          <td>${num(o.price, pd)}</td><td>${num(o.size, sd)}</td><td>${num(o.filledSize, sd)}</td><td>${flags || "–"}</td><td>${utc(o.createdAt)}</td>
          <td><button type="button" class="modify" data-i="${i}">Modify</button> <button type="button" class="cancel" data-id="${o.id}">Cancel</button></td></tr>`;
      }), "No open orders");
  }

  function renderTriggers(list) {
    $("triggers").innerHTML = table(["Market", "Side", "Type", "Trigger", "Limit", "Trail", "Size", "Status", ""],
      list.map((o) => {
        const [pd, sd] = dpOf(o.market);
        return `<tr data-id="${o.id}"><td>${esc(o.market)}</td><td class="${o.side === "buy" ? "up" : "down"}">${o.side}</td><td>${o.type}</td>
          <td>${num(o.triggerPrice, pd)}</td><td>${o.orderPrice == null ? "market" : num(o.orderPrice, pd)}</td><td>${o.trailValue == null ? "–" : signed(o.trailValue, pd)}</td>
          <td>${num(o.size, sd)}</td><td>${o.status}</td><td><button type="button" class="cancel-trigger" data-id="${o.id}">Cancel</button></td></tr>`;
      }), "No trigger orders");
  }

  function renderFills(list) {
    $("fills").innerHTML = table(["Time (UTC)", "Market", "Side", "Price", "Size", "Fee", "Liquidity"],
      list.map((f) => {
        const [pd, sd] = dpOf(f.market);
        return `<tr><td>${utc(f.time)}</td><td>${esc(f.market)}</td><td class="${f.side === "buy" ? "up" : "down"}">${f.side}</td>
          <td>${num(f.price, pd)}</td><td>${num(f.size, sd)}</td><td>${num(f.fee, 4)} ${esc(f.feeCurrency)}</td><td>${f.liquidity}</td></tr>`;
      }), "No fills yet");
  }

  async function act(fn) {
    $("table-error").textContent = "";
    try { await fn(); } catch (e) { $("table-error").textContent = e.message; }
    refreshPrivate();
  }

  function onBottomClick(event) {
    const b = event.target.closest("button");
    if (!b) return;
    if (b.getAttribute("role") === "tab") {
      for (const t of main.querySelectorAll('[role="tab"]')) {
        const on = t === b;
        t.setAttribute("aria-selected", String(on));
        $(t.getAttribute("aria-controls")).hidden = !on;
      }
    } else if (b.classList.contains("cancel")) act(() => del(`/api/orders/${b.dataset.id}`));
    else if (b.classList.contains("cancel-trigger")) act(() => del(`/api/conditional_orders/${b.dataset.id}`));
    else if (b.classList.contains("close-pos")) {
      const p = s.positions[Number(b.dataset.i)];
      act(() => post("/api/orders", { market: p.future, side: p.side === "buy" ? "sell" : "buy", type: "market", price: null, size: Math.abs(p.netSize), reduceOnly: true }));
    } else if (b.classList.contains("modify")) {
      const o = s.orders[Number(b.dataset.i)];
      s.modifying = o;
      $("modify-what").textContent = `${o.side} ${o.market}, order ${o.id}`;
      $("m-price").value = o.price ?? "";
      $("m-size").value = o.remainingSize ?? o.size;
      $("modify-error").textContent = "";
      $("modify").showModal();
    }
  }

  async function submitModify(event) {
    event.preventDefault();
    const o = s.modifying;
    try {
      await post(`/api/orders/${o.id}/modify`, { price: val("m-price"), size: val("m-size") });
      $("modify").close();
      refreshPrivate();
    } catch (e) { $("modify-error").textContent = e.message; }
  }

  async function setLeverage(event) {
    event.preventDefault();
    $("leverage-error").textContent = "";
    try { await post("/api/account/leverage", { leverage: Number($("leverage").value) }); } catch (e) { $("leverage-error").textContent = e.message; }
    refreshPrivate();
  }

  // ---------------------------------------------------------------- wiring
  const logged = !!credentials();
  $("order-form").hidden = !logged;
  $("leverage-form").hidden = !logged;
  $("figures-h").hidden = !logged;
  $("entry-login").hidden = logged;
  $("entry-login-btn").addEventListener("click", () => document.getElementById("login").showModal());
  if (!logged) for (const id of ["positions", "orders", "triggers", "fills"]) $(id).innerHTML = `<p class="needs-login">Log in to see your ${id}.</p>`;
  $("markets").addEventListener("click", (e) => { const r = e.target.closest("[data-market]"); if (r) selectMarket(r.dataset.market); });
  $("resolutions").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-res]");
    if (!b) return;
    s.resolution = Number(b.dataset.res);
    for (const x of $("resolutions").children) x.setAttribute("aria-pressed", String(x === b));
    loadCandles();
  });
  for (const b of main.querySelectorAll(".side")) b.addEventListener("click", () => { s.side = b.dataset.side; updateForm(); });
  $("o-type").addEventListener("change", updateForm);
  $("order-form").addEventListener("submit", submitOrder);
  $("leverage-form").addEventListener("submit", setLeverage);
  main.querySelector(".bottom").addEventListener("click", onBottomClick);
  $("modify-form").addEventListener("submit", submitModify);
  $("m-cancel").addEventListener("click", () => $("modify").close());
  $("ladder").addEventListener("click", (e) => { const r = e.target.closest("tr[data-price]"); if (r) { $("o-price").value = r.dataset.price; $("o-type").value = "limit"; updateForm(); } });

  makeChart();
  updateForm();
  loadMarkets().then(() => { if (!s.closed) selectMarket(s.market); });
  if (logged) {
    s.unsubs.push(ws.subscribe("fills", "", refreshPrivate), ws.subscribe("orders", "", refreshPrivate));
    loadPrivate();
  }
  s.timers.push(setInterval(() => { loadMarkets(); if (logged) loadPrivate(); }, REFRESH_MS));
  window.backstopTrade = s; // for tests and the benchmark: the page's state

  return () => {
    s.closed = true;
    if (s.unsubBook) s.unsubBook();
    for (const u of s.unsubs) u();
    for (const t of s.timers) clearInterval(t);
    clearTimeout(pending);
    if (s.frame) cancelAnimationFrame(s.frame);
    if (s.chart) s.chart.remove();
  };
}
