"""What FTT's product did: the API's /staking/stakes, /staking/unstake_requests and /staking/balances,
and the fee benefits an owner has, are built from these.

NamedTuples, like command classes (engine/product.py). FTT in atoms, USD in USD atoms, rates and
discounts in ppm, times in microseconds.
"""

from __future__ import annotations

from typing import NamedTuple


class FttStaked(NamedTuple):
    id: int
    account: int
    size: int
    staked: int  # the account's stake after it
    ts: int


class FttUnstakeRequested(NamedTuple):
    id: int  # the request's id (CancelFttUnstake names it)
    account: int
    size: int
    unlocks: int  # when the FTT is released to the wallet: ts + 14 days
    ts: int


class FttUnstakeCancelled(NamedTuple):
    id: int
    account: int
    size: int
    ts: int


class FttUnstaked(NamedTuple):
    """A matured request: its FTT back in the account's wallet (released in a Tick)."""

    id: int
    account: int
    size: int
    requested: int  # when it was asked for
    ts: int


class FttFeeBenefitsChanged(NamedTuple):
    """An owner's FTT fee benefits changed (holding or staking tier, or the price moved it over a
    threshold): the tiers it reached, the seam's adjustment and the rates it now pays."""

    owner: str
    held_usd: int  # FTT held across its subaccounts, at FTT/USD's mark
    staked: int  # FTT staked across its subaccounts (pending unstakes excluded)
    holding_tier: int  # 0: none; n: the n-th row of tiers.toml's holding table
    staking_tier: int
    discount: int  # ppm of a positive fee
    maker_cap: int  # ppm (fees.NO_CAP: none)
    taker_cap: int
    maker_rate: int  # ppm after the volume tier, the benefits and the floors
    taker_rate: int
    ts: int


class FttBurnAccrued(NamedTuple):
    """A third of day `day`'s fee revenue in `coin` moved into the burn pool (burn.py)."""

    day: int  # the UTC day (ts // 1 day) whose revenue it is
    coin: str
    revenue: int  # the base: that day's net fee revenue in the coin
    share: int  # moved to the burn pool: revenue x 1/3, rounded down
    pooled: int  # the burn pool's holding of the coin after it
    ts: int
