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


class FttReferrerSet(NamedTuple):
    """`owner` was referred by `referrer` (referrals.py)."""

    owner: str
    referrer: str
    ts: int


class FttReferralRebate(NamedTuple):
    """A settlement of the taker fees `owner` paid since the last one: `rebate` USD atoms of them
    moved from the fee ledger to `referrer`'s account `account` (referrals.py)."""

    referrer: str
    account: int  # the referrer's main account (its first, if it has no main account)
    owner: str  # the referred owner
    fees: int  # taker fees the owner paid since the last settlement, USD atoms
    value: int  # the notional they were paid on
    share: int  # ppm of the fees: the referrer's staking tier's referral share
    capped: bool  # the non-VIP floor (taker - rebate >= 0.03% of the notional) cut the rebate
    rebate: int
    ts: int


class FttCollateralSwitched(NamedTuple):
    """`account` counts its FTT as collateral (`enabled`) or no longer does (collateral.py)."""

    account: int
    enabled: bool
    ts: int
