// The public risk and transparency dashboard (no key): the insurance fund over time with its
// ledger, backstop providers' capacity, the liquidation feed, funding rates and the volume monitor.
import { get } from "./api.js";
import { esc, num, pct, usd, utc } from "./format.js";

const REFRESH_MS = 5000;

const TEMPLATE = `
<div class="grid2">
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
  main.innerHTML = TEMPLATE;
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
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); chart.remove(); };
}
