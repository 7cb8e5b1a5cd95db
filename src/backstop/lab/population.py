"""The lab's seeded synthetic population: who trades through the replayed history, and how.

Leveraged traders: collateral lognormal (median $5,000, a long tail), leverage lognormal with a
mean of 2x capped at 20x (SBF: average leverage on FTX was about 2x and more than 20x under 1% of
volume; ftx-mechanics.md section 4), each trader deciding at exponential intervals (mean
`holding_hours`) to close and reopen on a random side at its leverage. Market makers quote a
ladder around the index that widens and thins as realised volatility rises, skewed against their
inventory (with `impact` on, the sourced book of `lab.makers`: depth sized to the market, refilling
after being hit, bounded by capital). Backstop liquidity providers stand behind the book with
per-minute and per-hour capacities and work off what they take. Everything is drawn from one
`random.Random(seed)`, in a fixed order, so a population is a pure function of its configuration.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PopulationConfig:
    traders: int = 2_000
    mean_leverage: float = 2.0  # SBF-20X: about 2x on average
    leverage_sigma: float = 0.8  # lognormal spread: about 1% of traders above 10x, 0.05% at the 20x cap
    max_leverage: int = 20
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
    market_volume_usd: float = 0.0  # a perpetual's daily volume the book is sized on; 0: expected
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


@dataclass
class Trader:
    """One leveraged trader; `account` is its engine account id."""

    account: int
    market: str
    collateral_usd: float
    leverage: float
    next_decision_us: int
    busts: int = 0  # times it lost (almost) everything and came back with new money


def draw_leverage(rng: random.Random, config: PopulationConfig) -> float:
    """Lognormal with the configured mean (mean = exp(mu + sigma^2 / 2)), capped at the maximum;
    below 1x is allowed (a cautious trader), down to 0.1x."""
    sigma = config.leverage_sigma
    mu = math.log(config.mean_leverage) - sigma * sigma / 2
    return min(float(config.max_leverage), max(0.1, rng.lognormvariate(mu, sigma)))


def draw_collateral(rng: random.Random, config: PopulationConfig) -> float:
    return max(100.0, rng.lognormvariate(math.log(config.collateral_median_usd), config.collateral_sigma))


def next_decision(rng: random.Random, now_us: int, config: PopulationConfig) -> int:
    return now_us + max(60_000_000, int(rng.expovariate(1.0 / config.holding_hours) * 3_600_000_000))


def leverage_setting(leverage: float, max_leverage: int) -> int:
    """The account's leverage setting: the whole number at or above what the trader uses."""
    return max(1, min(max_leverage, math.ceil(leverage)))


def stress(realised: float, calm: float) -> float:
    """How stressed the market looks to a maker: realised over calm volatility, at least 1."""
    if calm <= 0:
        return 1.0
    return max(1.0, realised / calm)
