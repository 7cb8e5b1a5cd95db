// FTT: the account's holding and staking tiers and what they give, staking and unstaking (14 days'
// lock, cancellable meanwhile), rewards, and every day's public buy-and-burn.
import { credentials, del, get, post, privGet } from "./api.js";
import { esc, num, pct, usd, utc } from "./format.js";

const REFRESH_MS = 10000;

const TEMPLATE = `
<div class="grid2">
  <section class="panel" aria-labelledby="ftt-h"><h2 id="ftt-h">Your FTT</h2>
    <div id="ftt-login" class="needs-login" hidden>Log in to see your tiers and stake. <button type="button" class="primary" id="ftt-login-btn">Log in</button></div>
    <div id="ftt-mine">
      <dl class="figures" id="ftt-figures"></dl>
      <form id="ftt-form" class="form" novalidate>
        <label>FTT <input id="ftt-size" inputmode="decimal" autocomplete="off"></label>
        <div class="sides"><button type="submit" class="buy" value="stake" id="ftt-stake">Stake</button>
          <button type="submit" class="sell" value="unstake" id="ftt-unstake">Unstake</button></div>
        <p id="ftt-error" class="error" role="alert"></p><p id="ftt-ok" class="ok" role="status"></p>
      </form>
      <h3>Unstake requests</h3><div id="ftt-requests" class="scroll"></div>
      <h3>Rewards (the stakers' share of the insurance fund's gains)</h3><div id="ftt-rewards" class="scroll" style="max-height:200px"></div>
    </div>
  </section>
  <section class="panel" aria-labelledby="ftt-tiers-h"><h2 id="ftt-tiers-h">Tiers</h2>
    <p class="muted small" id="ftt-tiers-login">Log in to see the tiers and where you stand.</p><h3>Holding (FTT held across your subaccounts, in USD)</h3><div id="ftt-holding"></div>
    <h3>Staking (FTT staked)</h3><div id="ftt-staking"></div></section>
  <section class="panel wide" aria-labelledby="ftt-burn-h"><h2 id="ftt-burn-h">Buy and burn</h2>
    <p class="muted small">Each day a third of the fee revenue (and the fund's share of its gains) buys FTT on the book and burns it.</p>
    <div id="ftt-burns" class="scroll" style="max-height:360px"></div></section>
</div>`;

const table = (headers, rows, empty) => rows.length
  ? `<table><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">${empty}</p>`;
const amount = (v) => num(v, 8).replace(/\.?0+$/, "");
const rate = (v) => (v == null ? "–" : pct(v, 4, false));

export function mount(main) {
  main.innerHTML = TEMPLATE;
  const $ = (id) => main.querySelector(`#${id}`);
  let closed = false;
  const logged = !!credentials();
  $("ftt-login").hidden = logged;
  $("ftt-mine").hidden = !logged;
  $("ftt-tiers-login").hidden = logged;
  $("ftt-login-btn").addEventListener("click", () => document.getElementById("login").showModal());

  function tiers(t) {
    $("ftt-holding").innerHTML = table(["Tier", "From", "Fee discount", "VIP"], t.holding.map((h, i) =>
      `<tr${t.holdingTier === i + 1 ? ' class="current" aria-current="true"' : ""}><td>${i + 1}${t.holdingTier === i + 1 ? " ◀ you" : ""}</td><td>${usd(h.usd, 0)}</td><td>${pct(h.discount, 0, false)}</td><td>${esc(h.vip || "–")}</td></tr>`), "No tiers");
    $("ftt-staking").innerHTML = table(["Tier", "From (FTT)", "Maker fee at most", "Referral share"], t.staking.map((s, i) =>
      `<tr${t.stakingTier === i + 1 ? ' class="current" aria-current="true"' : ""}><td>${i + 1}${t.stakingTier === i + 1 ? " ◀ you" : ""}</td><td>${num(s.ftt, 0)}</td><td>${rate(s.maker)}</td><td>${pct(s.referralShare, 0, false)}</td></tr>`), "No tiers");
  }

  async function loadPrivate() {
    if (!credentials()) return;
    try {
      const [t, [bal], requests, rewards, wallet] = await Promise.all([privGet("/api/ftt/tiers"), privGet("/api/staking/balances"),
        privGet("/api/staking/unstake_requests"), privGet("/api/staking/staking_rewards"), privGet("/api/wallet/balances")]);
      if (closed) return;
      const free = (wallet.find((b) => b.coin === "FTT") || { free: 0 }).free;
      $("ftt-figures").innerHTML = `
        <dt>FTT in this wallet (free)</dt><dd id="ftt-free">${amount(free)}</dd>
        <dt>Held by you (all subaccounts)</dt><dd>${amount(t.held)} FTT · ${usd(t.heldUsd)}</dd>
        <dt>Staked</dt><dd id="ftt-staked">${amount(bal.staked)}</dd>
        <dt>Unstaking</dt><dd id="ftt-scheduled">${amount(bal.scheduledToUnstake)}</dd>
        <dt>Holding tier</dt><dd id="ftt-holding-tier">${t.holdingTier || "none"}</dd>
        <dt>Staking tier</dt><dd id="ftt-staking-tier">${t.stakingTier || "none"}</dd>
        <dt>Fee discount</dt><dd>${pct(t.discount, 0, false)}</dd>
        <dt>Maker / taker fee at most</dt><dd>${rate(t.makerCap)} / ${rate(t.takerCap)}</dd>
        <dt>Lifetime rewards</dt><dd>${usd(bal.lifetimeRewards)}</dd>`;
      tiers(t);
      $("ftt-requests").innerHTML = table(["Asked (UTC)", "FTT", "Unlocks (UTC)", "Status", ""], requests.map((r) =>
        `<tr data-id="${r.id}"><td>${utc(r.createdAt)}</td><td>${amount(r.size)}</td><td>${utc(r.unlockAt)}</td><td>${esc(r.status)}</td>
        <td>${r.status === "pending" ? `<button type="button" data-cancel="${r.id}">Cancel</button>` : ""}</td></tr>`), "No unstake requests");
      $("ftt-rewards").innerHTML = table(["Time (UTC)", "USD"], rewards.map((r) => `<tr><td>${utc(r.time)}</td><td>${usd(r.size, 4)}</td></tr>`), "No rewards yet");
    } catch (e) { $("ftt-error").textContent = e.message; }
  }

  async function loadBurns() {
    try {
      const burns = await get("/api/ftt/burns?limit=60");
      if (closed) return;
      $("ftt-burns").innerHTML = table(["Day", "Fee revenue", "Budget", "Spent", "Bought FTT", "Average price", "Burned", "Supply after", "Note"], burns.map((b) =>
        `<tr><td>${esc(b.day)}</td><td>${usd(b.revenue)}</td><td>${usd(b.budget)}</td><td>${usd(b.spent)}</td><td>${amount(b.bought)}</td>
        <td>${usd(b.averagePrice, 4)}</td><td>${amount(b.burned)}</td><td>${num(b.supply, 0)}</td><td class="l">${esc(b.reason)}</td></tr>`), "No burns yet");
    } catch (e) { console.warn("burns:", e.message); }
  }

  $("ftt-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value || "stake";
    $("ftt-error").textContent = ""; $("ftt-ok").textContent = "";
    const size = Number($("ftt-size").value.replace(/,/g, ""));
    if (!(size > 0)) { $("ftt-error").textContent = "Enter how much FTT"; return; }
    try {
      if (action === "stake") {
        await post("/api/srm_stakes/stakes", { coin: "FTT", size });
        $("ftt-ok").textContent = `Staked ${amount(size)} FTT`;
      } else {
        const r = await post("/api/staking/unstake_requests", { coin: "FTT", size });
        $("ftt-ok").textContent = `Unstaking ${amount(size)} FTT: released ${utc(r.unlockAt)} UTC`;
      }
      $("ftt-size").value = "";
      loadPrivate();
    } catch (e) { $("ftt-error").textContent = e.message; }
  });
  $("ftt-requests").addEventListener("click", async (event) => {
    const id = event.target.closest("[data-cancel]")?.dataset.cancel;
    if (!id) return;
    $("ftt-error").textContent = "";
    try { await del(`/api/staking/unstake_requests/${id}`); loadPrivate(); } catch (e) { $("ftt-error").textContent = e.message; }
  });
  loadPrivate(); loadBurns();
  const timer = setInterval(() => { loadPrivate(); loadBurns(); }, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); };
}
