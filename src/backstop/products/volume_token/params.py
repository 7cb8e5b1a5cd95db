"""The volume token's parameters (volume_token.toml beside this module), validated, and the
constants of its share accounting.

Shares (Ampleforth's "gons" [AMPL]): the ledger holds VOL in shares of its supply everywhere
(engine/exchange.py `set_units`); the product keeps the nominal supply in atoms and the engine's
units (shares per atom) = TOTAL_SHARES // supply. TOTAL_SHARES is fixed at issuance and never
changes, so a rebase changes one number. Ours: TOTAL_SHARES just under 2**63, so every share
quantity (a balance, a pool's reserve, a fee, a supply) fits a signed 64-bit SQL column; the supply
is kept between MIN_SUPPLY and TOTAL_SHARES // MIN_UNITS, so a rebase's factor is exact to
1 / MIN_UNITS at worst (about 1 / 18,000 at FVT's 500,000 VOL: the nominal supply and the sum of
balances differ by that rounding, which Ampleforth documents too).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from backstop.catalog import read_toml
from backstop.engine.amounts import ATOM, RATE, to_atoms, to_rate

FILE = "volume_token.toml"
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
DAY_US = 86_400 * SECOND_US

TOTAL_SHARES = 9 * 10**18
"""Shares in existence, fixed: minted at issuance, never minted or burned after."""
MIN_UNITS = 1_000
"""The fewest shares per atom a supply may come to (it bounds the supply from above)."""
MIN_SUPPLY = ATOM
"""The least nominal supply, in atoms (1 VOL): a contraction stops there."""
MAX_SUPPLY = TOTAL_SHARES // MIN_UNITS
"""The most nominal supply, in atoms (90,000,000 VOL): an expansion stops there (Ampleforth's
MAX_SUPPLY, for the same reason: keep the rounding of the recomputed supply small)."""
MAX_RATE = 1_000_000 * ATOM
"""The highest price or target a rebase reads, USD atoms per VOL ($1,000,000: Ampleforth's
MAX_RATE of 10**6). FVT never range-checked its target [FVT-GH]; we check both."""
MAX_DIVISOR = 10**15
"""The largest divisor accepted at issuance (FTX's scale is 10**9)."""
MAX_LAG = 1_000
OBSERVATION_US = MINUTE_US
"""The oracle's granularity: one cumulative-price observation per minute (Uniswap v2's sliding
window oracle keeps one per granularity period [UNI]); the TWAP window starts at an observation."""
POOL = "vol:pool"
"""The AMM pool's name in the ledger's pools (its VOL in shares, its USD in atoms)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The rebase policy [FVT-MED]: `threshold` in rate units (RATE = 100%)."""

    interval_us: int
    threshold: int
    lag: int
    window_offset_us: int
    window_length_us: int
    twap_window_us: int


@dataclass(frozen=True, slots=True)
class Params:
    coin: str
    initial_supply: int  # atoms
    divisor: int
    policy: Policy
    fee: int  # rate units: the pool's fee on a swap's input
    minimum_liquidity: int
    market: dict[str, Any]

    @property
    def spot(self) -> str:
        """The spot book beside the pool."""
        return f"{self.coin}/USD"


def valid_policy(policy: Policy) -> str:
    """The first reason `policy` is not acceptable, or ""."""
    if not 0 < policy.threshold < RATE:
        return "threshold must be above 0 and below 100%"
    if not 1 <= policy.lag <= MAX_LAG:
        return f"lag must be 1 .. {MAX_LAG}"
    if policy.interval_us < MINUTE_US or policy.interval_us % SECOND_US:
        return "interval must be whole seconds, at least a minute"
    if not 0 <= policy.window_offset_us < policy.interval_us:
        return "window offset must lie within the interval"
    if (
        policy.window_length_us < SECOND_US
        or policy.window_offset_us + policy.window_length_us > policy.interval_us
    ):
        return "window must be at least a second and end within the interval"
    if policy.twap_window_us < 2 * OBSERVATION_US or policy.twap_window_us % OBSERVATION_US:
        return "TWAP window must be whole minutes, at least two"
    return ""


def valid_divisor(divisor: int) -> str:
    if not 1 <= divisor <= MAX_DIVISOR:
        return f"divisor must be 1 .. {MAX_DIVISOR}"
    return ""


def load() -> Params:
    text = (resources.files(__package__) / FILE).read_text()
    spec = read_toml(f"{__package__}/{FILE}", text)
    token, pol, pool = spec["token"], spec["policy"], spec["pool"]
    policy = Policy(
        interval_us=int(pol["interval_s"]) * SECOND_US,
        threshold=to_rate(pol["threshold"]),
        lag=int(pol["lag"]),
        window_offset_us=int(pol["window_offset_s"]) * SECOND_US,
        window_length_us=int(pol["window_length_s"]) * SECOND_US,
        twap_window_us=int(pol["twap_window_s"]) * SECOND_US,
    )
    params = Params(
        coin=str(token["name"]),
        initial_supply=to_atoms(token["initial_supply"]),
        divisor=int(Decimal(token["divisor"])),
        policy=policy,
        fee=to_rate(pool["fee"]),
        minimum_liquidity=int(pool["minimum_liquidity"]),
        market=dict(spec["market"]),
    )
    err = valid_policy(policy) or valid_divisor(params.divisor)
    if not err and not MIN_SUPPLY <= params.initial_supply <= MAX_SUPPLY:
        err = "initial supply out of range"
    if not err and not 0 <= params.fee < RATE // 10:
        err = "pool fee must be 0 .. 10%"
    if err:
        raise ValueError(f"{FILE}: {err}")
    return params
