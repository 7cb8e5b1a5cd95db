"""The lab's seeded synthetic population: who trades through the replayed history, and how.

Leveraged traders: collateral lognormal (median $5,000, a long tail), leverage lognormal with a
mean of 2x capped at `max_leverage` (SBF, 25 Jul 2021: "The average leverage used on FTX is ~2x",
and leverage above 20x "way less than 1% of our volume and positions"; sigma 0.8 puts 0.05% of
traders and 0.66% of notional above 20x, `regime.share_above`), each trader deciding at
exponential intervals (mean `holding_hours`) to close and reopen on a random side at its leverage.
By default a trader holds one market and USD; FTX's regime (`lab.regime`) gives traders several
markets on one cross-margined account, coin collateral, decisions that speed up with volatility,
margin top-ups and herding, and `lab.scale` sizes the population to FTX's growth. Market makers quote a
ladder around the index that widens and thins as realised volatility rises, skewed against their
inventory (with `impact` on, the sourced book of `lab.makers`: depth sized to the market, refilling
after being hit, bounded by capital). Backstop liquidity providers stand behind the book with
per-minute and per-hour capacities and work off what they take. Everything is drawn from one
`random.Random(seed)`, in a fixed order, so a population is a pure function of its configuration.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class PopulationConfig:
    traders: int = 2_000
    mean_leverage: float = 2.0  # SBF-20X: about 2x on average
    leverage_sigma: float = 0.8  # 0.05% of traders and 0.66% of notional above 20x (SBF: under 1%)
    max_leverage: int = 20  # the highest setting; FTX's regime: 101 until 2021-07-25 (lab.regime)
    collateral_median_usd: float = 5_000.0
    collateral_sigma: float = 1.5  # lognormal: the top 1% of traders hold over $160k each
    holding_hours: float = 48.0  # mean time between a trader's decisions (turnover)
    long_share: float = 0.5  # chance a decision opens a long
    makers: int = 1  # market makers per market
    maker_capital_usd: int = 200_000_000  # with impact off (on: maker_capital_depths)
    maker_depth_usd: float = 2_000_000.0  # impact off: per side in calm, spread over the levels
    maker_levels: int = 5  # impact off
    maker_spread_bp: float = 4.0  # nearest level's distance from the index in calm, basis points
    maker_skew_bp_per_million: float = 2.0  # impact off: quotes shift this much per $1m of inventory
    # the book when the market reacts (impact on or book; lab.makers has the rules and sources):
    market_volume_usd: float = 0.0  # a perpetual's daily volume the book is sized on; 0: expected one
    book_depth_ratio: float = 0.01  # depth within 1% per side in calm, as a share of that volume
    book_shape_alpha: float = 0.674  # depth within x grows as x^alpha (Amberdata, Binance 2025)
    book_levels: int = 6
    book_reach_pct: float = 2.0  # the outermost level's distance in calm, percent
    book_refill_half_life_s: float = 20.0  # consumed depth comes back halfway in calm (Large 2007)
    maker_capital_depths: float = 20.0  # a maker's capital in units of its calm 1% depth
    maker_max_leverage: float = 3.0  # no more quotes adding to inventory beyond this x equity
    order_slice_depths: float = 0.25  # book on: a trader's order a minute, at most, in calm 1% depths
    blps: int = 2
    blp_capital_usd: int = 20_000_000
    blp_per_minute_usd: int = 1_000_000
    blp_per_hour_usd: int = 10_000_000
    blp_unwind_usd_per_minute: float = 250_000.0  # how fast a BLP works a taken position off
    # FTX's regime (lab.regime has the sources); the defaults keep the plain population
    markets_per_trader: tuple[float, ...] = (1.0,)  # P(1 market), P(2), ...
    market_weights: tuple[tuple[str, float], ...] = ()  # empty: markets dealt round-robin
    collateral_mix: tuple[tuple[str, float], ...] = ()  # (coin, weight); empty: USD only
    volume_elasticity: float = 0.0  # decisions faster by (sigma_fast / sigma_slow) ** this
    herding: float = 0.0  # P(long) = long_share + herding x tanh(r_24h / sigma_day)
    top_up_trigger: float = 0.0  # top up when MF < this x MMF (0: never)
    top_up_probability: float = 0.0
    top_up_share: float = 0.5  # of the first collateral

    def __reduce__(self) -> tuple[type[PopulationConfig], tuple[Any, ...]]:
        """Pickled (a sweep's or a cluster's workers get it) through the constructor: compiled by
        mypyc, the default unpickling would set the frozen fields one by one, which it refuses."""
        return PopulationConfig, tuple(getattr(self, f.name) for f in fields(self))


@dataclass
class Trader:
    """One leveraged trader; `account` is its engine account id."""

    account: int
    market: str
    collateral_usd: float
    leverage: float
    next_decision_us: int
    busts: int = 0  # times it lost (almost) everything and came back with new money
    markets: tuple[str, ...] = ()  # every market it trades (`market` first); empty: `market`
    coin: str = "USD"  # the coin its collateral is deposited in
    active: bool = True  # a dormant trader (the target fell: lab.scale) closes out and waits
    topped_us: int = -(1 << 62)  # when it last topped its margin up
    decided: bool = False  # has traded since it joined (else its open interest is still expected)

    def held(self) -> tuple[str, ...]:
        return self.markets or (self.market,)


def draw_leverage(rng: random.Random, config: PopulationConfig) -> float:
    """Lognormal with the configured mean (mean = exp(mu + sigma^2 / 2)), capped at the maximum;
    below 1x is allowed (a cautious trader), down to 0.1x."""
    sigma = config.leverage_sigma
    mu = math.log(config.mean_leverage) - sigma * sigma / 2
    return min(float(config.max_leverage), max(0.1, rng.lognormvariate(mu, sigma)))


def draw_collateral(rng: random.Random, config: PopulationConfig) -> float:
    return max(100.0, rng.lognormvariate(math.log(config.collateral_median_usd), config.collateral_sigma))


def next_decision(rng: random.Random, now_us: int, config: PopulationConfig, hours: float = 0.0) -> int:
    """The next decision after `now_us`: exponential with mean `hours` (default the configured
    holding time), at least a minute on."""
    mean = hours if hours > 0 else config.holding_hours
    return now_us + max(60_000_000, int(rng.expovariate(1.0 / mean) * 3_600_000_000))


def draw_markets(
    rng: random.Random, listed: tuple[str, ...], n: int, config: PopulationConfig
) -> tuple[str, ...]:
    """A trader's markets: how many from `markets_per_trader`, which by `market_weights` among the
    `listed` (without repeats); the default (one market, no weights) deals market n % len, as
    before, and draws nothing."""
    if config.markets_per_trader == (1.0,) and not config.market_weights:
        return (listed[n % len(listed)],)
    u = rng.random()
    count, acc = 1, 0.0
    for i, share in enumerate(config.markets_per_trader, start=1):
        acc += share
        count = i
        if u < acc:
            break
    weights = {m: w for m, w in config.market_weights if m in listed} or {m: 1.0 for m in listed}
    chosen: list[str] = []
    while len(chosen) < min(count, len(weights)):
        left = [(m, w) for m, w in weights.items() if m not in chosen]
        total = sum(w for _, w in left)
        x = rng.random() * total
        for m, w in left:
            x -= w
            if x < 0:
                chosen.append(m)
                break
        else:
            chosen.append(left[-1][0])
    return tuple(chosen)


def draw_coin(rng: random.Random, config: PopulationConfig, priced: frozenset[str]) -> str:
    """The coin a trader deposits its collateral in (`collateral_mix`); USD when the mix is empty
    (no draw) or the drawn coin has no price yet."""
    if not config.collateral_mix:
        return "USD"
    total = sum(w for _, w in config.collateral_mix)
    x = rng.random() * total
    for coin, w in config.collateral_mix:
        x -= w
        if x < 0:
            return coin if coin == "USD" or coin in priced else "USD"
    return "USD"


def leverage_setting(leverage: float, max_leverage: int) -> int:
    """The account's leverage setting: the whole number at or above what the trader uses; above
    20x, FTX's 50x or the cap (`regime.leverage_setting`)."""
    if leverage <= 20 or max_leverage <= 20:
        return max(1, min(max_leverage, math.ceil(leverage)))
    return 50 if leverage <= 50 and max_leverage >= 50 else max_leverage


def stress(realised: float, calm: float) -> float:
    """How stressed the market looks to a maker: realised over calm volatility, at least 1."""
    if calm <= 0:
        return 1.0
    return max(1.0, realised / calm)
