// The public risk and transparency dashboard (no key): the insurance fund over time with its
// ledger, backstop providers' capacity, the liquidation feed, funding rates and the volume monitor;
// with the operator token in this tab, also the solvency report and every liquidation step with
// its accounts and thresholds (the operator's view).
import { get, operator, operatorToken } from "./api.js";
import { esc, num, pct, usd, utc } from "./format.js";

const REFRESH_MS = 5000;

const RATE = 1e8; // the engine's fixed-point unit for fractions (the operator's raw rows)
const ATOM = 1e8;

const OPERATOR_PANELS = `
  <section class="panel solvency" aria-labelledby="sv-h"><h2 id="sv-h">Solvency report <span id="sv-status"></span></h2>
    <p class="muted small">Per coin: what is held (wallets, unrealized PnL, fee revenue, the insurance fund, product pools) against what is owed (deposits − withdrawals + tokens minted). Every difference must be exactly zero.</p>
    <div id="solvency" class="scroll"></div></section>
  <section class="panel" aria-labelledby="steps-h"><h2 id="steps-h">Liquidation steps (operator view)</h2>
    <p class="muted small">Each account entering liquidation: step 1 when its margin fraction fell below maintenance (MMF), step 2 below the auto-close level (ACMF); and how it left.</p>
    <div id="liq-steps" class="scroll" style="max-height:360px"></div></section>`;

const TEMPLATE = `
<div class="grid2">`;
const PUBLIC_PANELS = `
  <section class="panel" aria-labelledby="if-h"><h2 id="if-h">Insurance fund <span id="if-balance"></span></h2>
    <div id="if-chart" class="linechart" role="img" aria-label="Insurance fund balance over time"></div>
    <h3>Ledger</h3><div id="if-ledger" class="scroll" style="max-height:260px"></div></section>
  <section class="panel" aria-labelledby="liq-h"><h2 id="liq-h">Liquidations (live)</h2>
    <p class="muted small">Step 1 sends orderly orders to the book; step 2 (auto-close, below the auto-close margin fraction) hands the position to a backstop provider or the book, the insurance fund paying any loss.</p>
    <p class="muted small" id="liq-summary"></p>
    <div id="liquidations" class="scroll" style="max-height:360px"></div>
    <h3>Backstop providers' capacity</h3><div id="blps"></div></section>
  <section class="panel" aria-labelledby="vm-h"><h2 id="vm-h">Volume monitor (24 h)</h2><div id="volume" class="scroll"></div></section>
  <section class="panel" aria-labelledby="fr-h"><h2 id="fr-h">Funding rates</h2><div id="funding" class="scroll" style="max-height:420px"></div></section>
</div>`;

export function mount(main) {
  const op = !!operatorToken();
  main.innerHTML = TEMPLATE + (op ? OPERATOR_PANELS : "") + PUBLIC_PANELS;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  const LW = window.LightweightCharts;
  const chart = LW.createChart($("if-chart"), {
    autoSize: true, layout: { background: { color: "#171d24" }, textColor: "#8d98a6" },
    grid: { vertLines: { color: "#222a33" }, horzLines: { color: "#222a33" } }, timeScale: { timeVisible: true },
  });
  const line = chart.addLineSeries({ color: "#4a9eff", lineWidth: 2, lineType: 1 });
  const table = (headers, rows, empty) => rows.length
    ? `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
    : `<p class="muted">${empty}</p>`;

  async function load() {
    try {
      const [fund, liq, blps, volume, funding] = await Promise.all([
        get("/api/insurance_fund?limit=1000"), get("/api/liquidations?limit=100"), get("/api/backstop_providers"),
        get("/api/volume_monitor"), get("/api/funding_rates"),
      ]);
      if (closed) return;
      $("if-balance").textContent = usd(fund.balance);
      const points = new Map(); // one point a second: the last balance within it
      for (const h of [...fund.history].reverse()) points.set(Math.floor(Date.parse(h.time) / 1000), h.balance);
      line.setData([...points].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value })));
      $("if-ledger").innerHTML = table(["Time (UTC)", "Change", "Balance", "Reason"], fund.history.map((h) =>
        `<tr><td>${utc(h.time)}</td><td class="${h.change >= 0 ? "up" : "down"}">${h.change >= 0 ? "+" : ""}${usd(h.change)}</td><td>${usd(h.balance)}</td><td class="l">${esc(h.reason)}</td></tr>`), "No fund movements yet");
      $("liq-summary").textContent = `${liq.orderlyOrders} orderly liquidation orders (step 1) recently; auto-closes (step 2) below.`;
      $("liquidations").innerHTML = table(["Time (UTC)", "Market", "Side", "Size", "Margin fraction", "Mark", "Zero price", "Taken at", "Fund", "Taken by"],
        liq.autoClosed.map((r) => `<tr><td>${utc(r.time)}</td><td>${esc(r.market)}</td><td class="${r.side === "buy" ? "up" : "down"}">${r.side}</td><td>${num(r.size, 4)}</td>
          <td>${pct(r.marginFraction, 2, false)}</td><td>${num(r.markPrice, 2)}</td><td>${num(r.zeroPrice, 2)}</td><td>${num(r.counterpartyPrice, 2)}</td>
          <td class="${r.insuranceFund >= 0 ? "up" : "down"}">${usd(r.insuranceFund)}</td><td>${esc(r.via)}</td></tr>`), "No auto-closes yet");
      $("blps").innerHTML = table(["Provider", "Per minute", "Used (1 min)", "Per hour", "Used (1 h)", "Available"], blps.providers.map((p, i) =>
        `<tr><td>#${i + 1}</td><td>${usd(p.perMinute, 0)}</td><td>${usd(p.usedLastMinute, 0)}</td><td>${usd(p.perHour, 0)}</td><td>${usd(p.usedLastHour, 0)}</td><td>${usd(p.available, 0)}</td></tr>`), "No backstop providers");
      const vmax = Math.max(1, ...volume.map((v) => v.volumeUsd24h || 0));
      const omax = Math.max(1, ...volume.map((v) => v.openInterestUsd || 0));
      $("volume").innerHTML = table(["Market", "Volume 24 h", "", "Open interest", "OI (USD)", ""], volume.map((v) =>
        `<tr><td>${esc(v.market)}</td><td>${usd(v.volumeUsd24h, 0)}</td><td class="l"><span class="hbar" style="width:${(80 * (v.volumeUsd24h || 0) / vmax).toFixed(1)}px"></span></td>
          <td>${v.openInterest == null ? "–" : num(v.openInterest, 4)}</td><td>${v.openInterestUsd == null ? "–" : usd(v.openInterestUsd, 0)}</td>
          <td class="l"><span class="hbar oi" style="width:${(80 * (v.openInterestUsd || 0) / omax).toFixed(1)}px"></span></td></tr>`), "No markets");
      $("funding").innerHTML = table(["Time (UTC)", "Future", "Rate (1 h)", "Annualised"], funding.slice(0, 100).map((f) =>
        `<tr><td>${utc(f.time)}</td><td>${esc(f.future)}</td><td class="${f.rate >= 0 ? "up" : "down"}">${pct(f.rate, 4)}</td><td>${pct(f.rate * 24 * 365, 1)}</td></tr>`), "No funding payments yet");
    } catch (e) { console.warn("dashboard:", e.message); }
    if (op) loadOperator();
  }

  async function loadOperator() {
    try {
      const [report, steps] = await Promise.all([operator("GET", "/operator/solvency"), operator("GET", "/operator/liquidations")]);
      if (closed) return;
      $("sv-status").className = report.balanced ? "balanced" : "unbalanced";
      $("sv-status").textContent = report.balanced ? "✓ balanced" : `✗ off by ${usd(report.difference)}`;
      const amount = (v) => num(v, 8).replace(/\.?0+$/, "");
      $("solvency").innerHTML = table(["Coin", "Wallets", "Unrealized PnL", "Fee revenue", "Insurance fund", "Pools", "Deposits", "Withdrawals", "Minted", "Difference"],
        Object.entries(report.coins).map(([coin, c]) => `<tr data-coin="${esc(coin)}"><td>${esc(coin)}</td><td>${amount(c.balances)}</td><td>${amount(c.unrealizedPnl)}</td>
          <td>${amount(c.feeRevenue)}</td><td>${amount(c.insuranceFund)}</td><td>${amount(c.pools)}</td><td>${amount(c.deposits)}</td><td>${amount(c.withdrawals)}</td>
          <td>${amount(c.supply)}</td><td class="${Number(c.difference) === 0 ? "" : "down"}">${amount(c.difference)}</td></tr>`), "No coins");
      const frac = (v) => (v == null ? "–" : pct(v / RATE, 2, false));
      $("liq-steps").innerHTML = table(["Time (UTC)", "Account", "Event", "Margin fraction", "Maintenance", "Auto-close", "Account value", "Notional", "Why"],
        steps.steps.slice(0, 200).map((r) => `<tr><td>${utc(r.ts / 1e6)}</td><td>#${r.account}</td><td class="l">${r.kind === "started" ? `step ${r.step}` : "ended"}</td>
          <td>${frac(r.mf)}</td><td>${frac(r.mmf)}</td><td>${frac(r.acmf)}</td><td>${r.tav == null ? "–" : usd(r.tav / ATOM)}</td><td>${r.notional == null ? "–" : usd(r.notional / ATOM)}</td>
          <td class="l">${esc(r.kind === "started" ? (r.step === 2 ? "below the auto-close margin fraction" : "below the maintenance margin fraction") : r.reason || "")}</td></tr>`), "No liquidations");
    } catch (e) { console.warn("operator panels:", e.message); }
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); chart.remove(); };
}
