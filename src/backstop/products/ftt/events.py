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


class FttOtcRebate(NamedTuple):
    """An owner's OTC rebate for a minute (otc_rebates.py): `notional` USD atoms of OTC fills as
    requester since the last settlement, at holding tier `tier`'s `rate`; `owed` = notional x rate
    // 1,000,000, of which `rebate` was paid from the fee ledger to `account` (less only when the fee
    ledger's USD fell short: the rest is forgone)."""

    owner: str
    account: int  # the owner's main account (its first, if it has no main account)
    notional: int  # USD atoms
    tier: int  # the owner's holding tier at settlement (1-based)
    rate: int  # ppm of the notional
    owed: int
    rebate: int  # USD atoms paid
    ts: int


class FttCollateralSwitched(NamedTuple):
    """`account` counts its FTT as collateral (`enabled`) or no longer does (collateral.py)."""

    account: int
    enabled: bool
    ts: int


class FttBurnChild(NamedTuple):
    """One child of a burn (burn_buying.py): an IOC market buy of FTT on FTT/USD by the burn's own
    account, and the FTT it bought burned at once (the ledger's supply of FTT falls by it)."""

    burn: int  # the burn's id (FttBurnPeriod.id)
    order_id: int  # the child's order id (0: refused before it was placed)
    lots: int  # asked for
    filled: int  # lots bought
    cap: int  # the largest child the depth and recent volume allowed (lots)
    spent: int  # USD atoms paid for them (price x size, fees excluded)
    fee: int  # USD atoms of taker fee paid on them
    burned: int  # FTT atoms burned (filled x the lot's atoms)
    ts: int


class FttBurnPeriod(NamedTuple):
    """A day's buy-and-burn, as it ended (burn_buying.py): what it had to spend and where that came
    from, what it bought and burned, and what it left for the next day (GET /api/ftt/burns)."""

    id: int
    day: int  # the UTC day it ran on (ts // 1 day)
    revenue: int  # USD fee revenue whose share it spent (the days' bases, ftt_burn_accruals)
    share_numerator: int  # the share of fee revenue burned: numerator / denominator (1 / 3)
    share_denominator: int
    fee_share: int  # USD atoms of fee revenue moved to the burn pool since the previous burn began
    fund_share: int  # USD atoms of insurance-fund gains moved to the burn pool (FttGainsPeriod.to_burn)
    carried_in: int  # USD atoms the earlier burns left unspent
    budget: int  # fee_share + fund_share + carried_in: the burn pool's USD when it began
    spent: int  # USD atoms paid for the FTT (fees excluded)
    fees: int  # USD atoms of taker fees paid (fee revenue again, a third of it burned later)
    bought: int  # FTT atoms bought
    average_price: int  # USD atoms per whole FTT: spent x 1e8 // bought, rounded down (0: none)
    burned: int  # FTT atoms burned (all that was bought)
    children: int
    carried_out: int  # budget - spent - fees: back in the burn pool for the next day
    reason: str  # why it ended: "done", "no liquidity", "expired", "halted", "refused: ..."
    supply: int  # FTT atoms in existence after it: burn.toml's total supply less everything burned
    started: int
    ts: int


class FttGainsPeriod(NamedTuple):
    """A day's insurance-fund net gain and the shares of it paid out (gains.py), recomputable from
    the fund's published history (InsuranceFundChanged, the insurance-fund table)."""

    day: int
    balance_start: int  # the fund's USD before the day's first change
    balance_end: int  # after its last change
    net_gain: int  # the day's changes other than seeding and the fund's own distributions
    excluded: int  # the day's seeding and distributions: balance_end - balance_start - net_gain
    carried_in: int  # earlier losses not yet made good (<= 0)
    distributable: int  # net_gain + carried_in (a share is paid only when > 0)
    burn_share: int  # ppm
    to_burn: int  # USD atoms moved from the fund to the burn pool
    staker_share: int  # ppm
    pot: int  # USD atoms for stakers: distributable x staker_share, rounded down
    stake_time: int  # the day's total stake-time: FTT atoms x microseconds staked
    paid: int  # USD atoms paid to stakers (each rounded down)
    kept: int  # pot - paid: the rounding (or, no stakers, the pot) stays in the fund
    carried_out: int  # the loss carried to the next day (<= 0)
    ts: int


class FttGainPayout(NamedTuple):
    """One staking account's share of a day's pot: pot x stake_time // the day's total."""

    day: int
    account: int
    stake_time: int  # FTT atoms x microseconds staked on the day
    amount: int  # USD atoms paid to the account
    ts: int
