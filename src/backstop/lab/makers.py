"""The lab's market makers when the market reacts (`impact` on or book): a sourced book shape, depth
sized to the market, thinning in stress, refilling after being hit, and bounded by capital.

The rules
---------
1. **Depth follows the market's size.** Depth within 1% of the mid, per side, in calm, is a share
   of the market's daily volume: D1 = `book_depth_ratio` x V, where V is the lab market's daily
   volume: `market_volume_usd`, or, when 0, what the population is expected to trade in it (the
   unscaled population's volume, `scale.base_volume_usd`, times the market's share of the
   traders' markets), both times the day's book scale when `--scale-to` sizes the population
   (`Replay.book_depth`). Scaling the population scales the book, and the maker's whole ladder
   stays within FTX's open-order limit as the fixed ladder does. Our choice:
   1% of a day's volume within 1% per side. Published figures bound it without pinning it:
   BTC's 2% depth across the exchanges Kaiko tracks was $412M on 2024-06-02, bids $202M and asks
   $209M (Kaiko, cited by CryptoSlate); 462 BTC (~$13M) moved BTC-USDT by 1% at the end of April
   2023, the thinnest since May 2022 (CCData, cited by Bitcoinist/Barchart); Binance held 30.7%
   of global depth but 64.3% of spot volume in 2023 (Kaiko, "The crypto liquidity concentration
   report"), so depth over volume differs twofold between venues. None of them gives depth and
   volume over the same venues and days: the ratio is the parameter to vary.
2. **The shape of the book.** Cumulative depth within a distance x of the mid grows as a power
   of x: D(x) = D1 (x / 1%)^alpha. Amberdata measured $3.50M within 10 bp and $16.53M within
   100 bp on Binance's BTC/FDUSD (50,526 minutes, July-August 2025, "How liquidity really works
   in crypto markets"): 4.72 times the depth for 10 times the distance, alpha = log 4.72 / log 10
   = 0.674 (`book_shape_alpha`). The maker quotes `book_levels` levels spaced geometrically from
   its touch (`maker_spread_bp`) to `book_reach_pct`, each holding the depth the law puts
   between it and the level inside it.
3. **Thinning in stress.** With stress s (realised over calm volatility, `population.stress`),
   every distance is multiplied by s and depth divided by min(s, 10), as the lab's makers did
   before: depth within a fixed 1% then falls as s^-(1+alpha) (a third at s = 2; Kaiko: BTC's 1%
   depth halved on Binance and Coinbase within two hours of a sharp drop in 2023), and the price
   of sweeping a fixed size rises as s^(1 + 1/alpha) (55 times at s = 5, 127 at s = 7; B2C2's
   March 2020 report: the spread to trade 25 BTC rose from single-digit basis points to 200 on
   2020-03-12 and over 700 on three exchanges, as cited by CoinDesk/Blocking).
4. **Resilience.** Depth a taker consumed is not reposted at once: the consumed amount (per side,
   USD) is taken off the ladder from the touch outwards and comes back exponentially, half of it
   every `book_refill_half_life_s` x min(s, 10) seconds. Large ("Measuring the resiliency of an
   electronic limit order book", J. Financial Markets, 2007) found that a book that replenishes
   after a large trade does so with a half-life of about 20 seconds, but that in over 60% of
   cases it does not replenish reliably: the half-life of 20 s in calm (our
   `book_refill_half_life_s`), ten times longer at the stress cap, and a stressed target that is
   itself thinner. Obizhaeva and Wang (2013) give the form: consumed depth recovering
   exponentially.
5. **Capital.** A maker is funded with `maker_capital_depths` x D1 (our choice: 20), quotes in
   proportion to what is left of that equity (a maker that lost half its capital quotes half the
   depth), skews its quotes against its inventory (the centre moves one touch distance per D1 of
   inventory, an Avellaneda-Stoikov reservation price), and stops quoting the side that would add
   to an inventory beyond `maker_max_leverage` x its equity (our choice: 3). The engine's own
   margin check on the mass quote still refuses orders its free collateral cannot carry.

Sources
-------
- Amberdata, "How liquidity really works in crypto markets" (2025),
  blog.amberdata.io/how-liquidity-really-works-in-crypto-markets: depth at 5-100 bp, Binance BTC/FDUSD.
- Kaiko, "The crypto liquidity concentration report" (2023), marketing.kaiko.com: shares of 1% depth
  and of volume by exchange, 2021-2023.
- Kaiko via CryptoSlate, "Market depth reveals Bitcoin's underlying strength at $70k" (June 2024):
  BTC 2% depth across CEXs, bids and asks.
- CCData via Bitcoinist, "Bitcoin liquidity shrinks: only 462 BTC needed to move price by 1%" (2023).
- Kaiko on X, relayed on Binance Square (post 992355): BTC 1% depth halved within two hours.
- B2C2's March 2020 spread report, via CoinDesk and Blocking.net (blocking.net/37797): spreads for
  25 BTC from single-digit bp to 200 bp (12 March) and over 700 bp (13 March).
- Kaiko Research factsheet, 18 January 2021: after March 2020 wide spreads persisted for weeks, after
  the January 2021 crash depth recovered within days (why refill slows with stress).
- J. Large, "Measuring the resiliency of an electronic limit order book", Journal of Financial
  Markets 10(1), 2007, doi:10.1016/j.finmar.2006.09.001: 20 s half-life when it replenishes.
- A. Obizhaeva, J. Wang, "Optimal trading strategy and supply/demand dynamics", Journal of
  Financial Markets 16(1), 2013: exponential recovery of consumed depth.
- B. Toth et al., "Anomalous price impact and the critical nature of liquidity in financial
  markets", Phys. Rev. X 1, 021006 (2011): metaorders fragmented to be digested by the book (why
  traders work their orders in slices, `Replay.work_one`).
- M. Avellaneda, S. Stoikov, "High-frequency trading in a limit order book", Quantitative Finance
  8(3), 2008: the reservation price shifted against inventory.
"""

from __future__ import annotations

import math
from typing import Final

from backstop.lab.population import PopulationConfig

STRESS_CAP: Final = 10.0
"""Depth stops thinning, and the refill stops slowing, at ten times calm volatility (as the lab's
makers did before)."""


def depth_usd(p: PopulationConfig, volume_usd: float) -> float:
    """D1: depth within 1% of the mid, per side, in calm (USD), for a market trading
    `volume_usd` a day."""
    return p.book_depth_ratio * volume_usd


def ladder_depths(p: PopulationConfig) -> float:
    """A side's whole calm ladder in units of D1: the shape's depth at the reach, (reach / 1%)^alpha
    (stress only thins it)."""
    return math.pow(p.book_reach_pct, p.book_shape_alpha)


def cumulative_depth(distance: float, depth_1pct: float, alpha: float) -> float:
    """D(x) = D1 (x / 1%)^alpha: depth within a relative distance x of the mid, per side."""
    if distance <= 0:
        return 0.0
    return depth_1pct * math.pow(distance / 0.01, alpha)


def level_distances(touch: float, reach: float, levels: int) -> list[float]:
    """`levels` relative distances from the mid, geometric from `touch` to `reach`."""
    if levels <= 1 or reach <= touch:
        return [touch]
    ratio = reach / touch
    return [touch * math.pow(ratio, k / (levels - 1)) for k in range(levels)]


def refill_left(dt_s: float, half_life_s: float) -> float:
    """The share of consumed depth still missing after `dt_s` seconds: 2^(-dt / half-life)."""
    if dt_s <= 0:
        return 1.0
    if half_life_s <= 0:
        return 0.0
    return math.pow(2.0, -dt_s / half_life_s)


def refill_half_life(p: PopulationConfig, stress: float) -> float:
    """Seconds for consumed depth to come back halfway: slower as the market is stressed."""
    return p.book_refill_half_life_s * min(max(stress, 1.0), STRESS_CAP)


class Ladder:
    """A side's levels: (relative distance from the centre, USD), touch first. A plain class, not
    a dataclass: compiled, its constructor is native (a dataclass's stays interpreted), and the
    makers build two a market every minute. Treat it as immutable."""

    def __init__(self, levels: tuple[tuple[float, float], ...]) -> None:
        self.levels = levels

    def __repr__(self) -> str:
        return f"Ladder(levels={self.levels!r})"

    def __reduce__(self) -> tuple[type[Ladder], tuple[tuple[tuple[float, float], ...]]]:
        return Ladder, (self.levels,)  # compiled, pickled through the constructor

    @property
    def usd(self) -> float:
        return sum(usd for _, usd in self.levels)


def ladder(
    p: PopulationConfig,
    depth_1pct: float,
    stress: float,
    depleted_usd: float,
    quoting: bool = True,
    max_away: float = 1.0,
) -> Ladder:
    """One side's ladder in stress `stress`: the shape's levels, widened by s and thinned by
    min(s, 10), with `depleted_usd` of consumed depth taken off from the touch outwards; empty
    when the side is not quoted. Levels the widening takes beyond `max_away` (the exchange's
    price band) are gathered at it: the depth waits at the farthest price the exchange allows."""
    if not quoting or depth_1pct <= 0:
        return Ladder(())
    s = max(stress, 1.0)
    thin = depth_1pct / min(s, STRESS_CAP)
    touch = p.maker_spread_bp / 1e4 * s
    reach = p.book_reach_pct / 100 * s
    distances = level_distances(touch, reach, p.book_levels)
    out: list[tuple[float, float]] = []
    inside = 0.0
    missing = max(0.0, depleted_usd)
    for d in distances:
        # the shape's depth between the level inside and this one, at the widened scale
        total = cumulative_depth(d / s, thin, p.book_shape_alpha)
        size = total - inside
        inside = total
        take = min(size, missing)
        missing -= take
        if size - take <= 0:
            continue
        away = min(d, max_away)
        if out and out[-1][0] == away:
            out[-1] = (away, out[-1][1] + size - take)
        else:
            out.append((away, size - take))
    return Ladder(tuple(out))


class Quotes:
    """What a maker posts: the centre's shift from the mid (a fraction) and its two ladders (a
    plain class for the same reason as `Ladder`; treat it as immutable)."""

    def __init__(self, shift: float, bids: Ladder, asks: Ladder) -> None:
        self.shift = shift
        self.bids = bids
        self.asks = asks

    def __repr__(self) -> str:
        return f"Quotes(shift={self.shift!r}, bids={self.bids!r}, asks={self.asks!r})"

    def __reduce__(self) -> tuple[type[Quotes], tuple[float, Ladder, Ladder]]:
        return Quotes, (self.shift, self.bids, self.asks)  # compiled, pickled through the constructor


def quotes(
    p: PopulationConfig,
    depth_1pct: float,
    capital_usd: float,
    equity_usd: float,
    inventory_usd: float,
    stress: float,
    depleted_bid_usd: float,
    depleted_ask_usd: float,
    max_away: float = 1.0,
) -> Quotes:
    """The maker's quotes (rules 3-5 of the module): depth scaled by the share of its capital it
    still has, the centre skewed against its inventory, no bids beyond its long limit and no asks
    beyond its short limit; no level farther than `max_away` from the mid."""
    share = 0.0 if capital_usd <= 0 else min(1.0, max(0.0, equity_usd) / capital_usd)
    depth = depth_1pct * share
    s = max(stress, 1.0)
    shift = 0.0
    if depth_1pct > 0:
        shift = -(p.maker_spread_bp / 1e4 * s) * inventory_usd / depth_1pct
    shift = max(-0.5 * p.book_reach_pct / 100, min(0.5 * p.book_reach_pct / 100, shift))
    limit = p.maker_max_leverage * max(0.0, equity_usd)
    return Quotes(
        shift,
        ladder(p, depth, s, depleted_bid_usd, inventory_usd < limit, max_away - abs(shift)),
        ladder(p, depth, s, depleted_ask_usd, -inventory_usd < limit, max_away - abs(shift)),
    )
