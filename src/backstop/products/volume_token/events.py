"""What the volume token did: the public rebase history, the pool's history and every holder's
wallet history are built from these, and `backstop volume-token verify` recomputes every rebase from
them and the public trades.

NamedTuples, like the commands. VOL amounts in VOL atoms, shares where the field says so, USD in
USD atoms, prices in USD atoms per whole VOL, rates in rate units (RATE = 100%), times in
microseconds. Every pool event carries the reserves after it and the units then in force, so the
pool's price path (and its cumulative price, oracle.py) can be rebuilt from them alone.
"""

from __future__ import annotations

from typing import NamedTuple


class VolumeTokenIssued(NamedTuple):
    account: int
    supply: int  # nominal supply, atoms
    shares: int  # every share there will be (params.TOTAL_SHARES)
    units: int  # shares per atom
    divisor: int
    ts: int


class VolumeSwapped(NamedTuple):
    id: int
    account: int
    coin_in: str
    amount_in: int  # atoms of coin_in
    coin_out: str
    amount_out: int  # atoms of coin_out (VOL: the shares out // units)
    fee: int  # atoms of coin_in left to the liquidity providers
    shares: int  # the VOL shares that moved (into the pool when coin_in is VOL, else out of it)
    vol_shares: int  # the pool's VOL after, shares
    usd_reserve: int  # the pool's USD after
    units: int
    price: int  # the pool's price after
    ts: int


class VolumeLiquidityAdded(NamedTuple):
    id: int
    account: int
    vol: int  # atoms taken (shares // units)
    shares: int  # the VOL shares taken
    usd: int
    lp: int  # LP shares minted to the account
    lp_total: int  # after (the locked minimum included)
    vol_shares: int
    usd_reserve: int
    units: int
    price: int
    ts: int


class VolumeLiquidityRemoved(NamedTuple):
    id: int
    account: int
    vol: int  # atoms returned (shares // units)
    shares: int  # the VOL shares returned
    usd: int
    lp: int  # LP shares burned
    lp_total: int
    vol_shares: int
    usd_reserve: int
    units: int
    price: int
    ts: int


class VolumeRebased(NamedTuple):
    """A rebase, with every input: the volume over [volume_from, volume_to) (by fill time), the
    pool's TWAP over [twap_from, twap_to] from its cumulative prices at both ends, the target, the
    deviation and the supply before and after (delta 0 inside the band: still a rebase epoch).

    `next_trade_id` is the id the exchange's next trade gets (trade ids rise in journal order on
    every book): the trades the volume counts are exactly those of the window with a smaller id,
    and a fill on VOL's book happened before the rebase (in the old units) exactly when its trade
    id is smaller. The volume window ends at the end of the rebase's minute; trades later in that
    minute, even at the rebase's own microsecond, came after it, and this tells them apart from the
    public trades alone (`backstop volume-token verify`, the wallet's line per rebase)."""

    epoch: int
    volume_from: int
    volume_to: int
    volume: int  # USD atoms
    twap_from: int
    twap_to: int
    cum_from: int  # cumulative prices (price x microseconds): exact, any size
    cum_to: int
    twap: int  # USD atoms per VOL (before the MAX_RATE cap)
    divisor: int
    target: int  # USD atoms per VOL, rounded down (volume // divisor)
    deviation: int  # rate units, toward zero
    threshold: int
    lag: int
    supply_before: int
    supply_after: int
    delta: int  # supply_after - supply_before
    units_before: int
    units_after: int
    next_trade_id: int  # every trade before the rebase has a smaller id
    ts: int


class VolumeRebaseSkipped(NamedTuple):
    """An interval's rebase that could not be computed (the reason), or whose window passed."""

    epoch: int
    reason: str
    ts: int


class VolumePolicySet(NamedTuple):
    threshold: int
    lag: int
    ts: int
