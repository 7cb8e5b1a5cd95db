"""Recomputing every rebase from public data alone: what `backstop volume-token verify` checks. Pure:
the command fetches the public trades, the pool's public history and the rebase history, and this
module says, field by field, whether each rebase is what its inputs make it.

- **Volume** (engine/volume.py's rule): each trade once, price x size in USD atoms, by the minute of
  its time; a rebase at `ts` counts the minutes of `volume.window(ts)` ([volume_from, volume_to))
  and, of those, the trades before it: trade id < its `next_trade_id` (trade ids rise in journal
  order, so this also settles trades later in the rebase's own minute, or at its very microsecond).
- **TWAP** (oracle.py): the pool's price after each pool event is usd x units x ATOM // shares from
  the reserves and units that event records (a rebase keeps the reserves in shares and changes the
  units), and holds until the next one; the cumulative price at t is the sum of each price times
  the microseconds it held before t. TWAP = (cum_to - cum_from) // (twap_to - twap_from), the window
  starting at the first minute observation inside the policy's TWAP window.
- **The rest** (rebase.py, reused): target, deviation, delta, the supply after and the units after,
  from the supply and units the previous rebase left (the issuance's for the first), the divisor
  fixed at issuance and the policy in force (the initial one, then each change in journal order).
- **Schedule** (schedule.py): every rebase lies inside its interval's window, one per interval.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backstop.engine import volume as engine_volume
from backstop.products.volume_token import amm, oracle, rebase
from backstop.products.volume_token.events import VolumeRebased
from backstop.products.volume_token.params import OBSERVATION_US, TOTAL_SHARES


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """One row of the pool's public history, in the engine's integers: reserves and units after it
    (a rebase's row: only its units count; its reserves are the previous event's)."""

    seq: int
    n: int
    kind: str  # "issue" | "swap" | "add" | "remove" | "rebase"
    ts: int
    vol_shares: int
    usd: int
    units: int
    price: int  # as recorded
    coin_in: str = ""  # a swap's
    amount_in: int = 0  # atoms of coin_in
    amount_out: int = 0  # atoms of the other coin
    shares: int = 0  # VOL shares a swap or liquidity change moved
    usd_moved: int = 0  # USD atoms a liquidity change moved
    supply: int = 0  # an issue's: VOL atoms
    divisor: int = 0  # an issue's


@dataclass(frozen=True, slots=True)
class PricePath:
    """The pool's price from each event on (journal order), with the cumulative price at each."""

    ts: list[int]
    price: list[int]
    cum: list[int]

    def cumulative(self, t: int) -> int:
        """The cumulative price at `t`: the price in force from each event times the time it held
        before `t` (events at `t` itself add nothing yet)."""
        j = bisect_right(self.ts, t) - 1
        if j < 0:
            return 0
        return self.cum[j] + self.price[j] * (t - self.ts[j])


@dataclass(frozen=True, slots=True)
class Policy:
    threshold: int
    lag: int
    interval_us: int
    window_offset_us: int
    window_length_us: int
    twap_window_us: int


@dataclass(frozen=True, slots=True)
class PolicyChange:
    seq: int
    threshold: int
    lag: int


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    ts: int
    value: int  # USD atoms: lots x ticks x tick value


@dataclass(frozen=True, slots=True)
class Verdict:
    record: VolumeRebased
    expected: VolumeRebased
    differs: tuple[str, ...]  # the fields whose recorded value is not the recomputed one
    notes: tuple[str, ...]  # what else is wrong (the schedule, the TWAP window...)

    @property
    def ok(self) -> bool:
        return not self.differs and not self.notes


def price_path(events: Sequence[PoolEvent]) -> tuple[PricePath, list[str]]:
    """The pool's price path from its history (journal order), and what in the history does not
    add up: a recorded price that is not its reserves', reserves that do not follow from the
    previous ones and the amounts moved, a swap that did not pay what the constant product pays."""
    ts: list[int] = []
    prices: list[int] = []
    cum: list[int] = []
    problems: list[str] = []
    shares = usd = 0
    for e in events:
        if e.kind == "rebase":
            after_shares, after_usd = shares, usd
        else:
            after_shares, after_usd = e.vol_shares, e.usd
        price = oracle.price(after_usd, after_shares, e.units)
        if e.kind != "rebase" and price != e.price:
            problems.append(f"{e.kind} at seq {e.seq}: price {e.price}, its reserves give {price}")
        expected = _after(e, shares, usd)
        if expected is not None and expected != (after_shares, after_usd):
            found = (after_shares, after_usd)
            problems.append(f"{e.kind} at seq {e.seq}: reserves {found}, expected {expected}")
        if ts:
            cum.append(cum[-1] + prices[-1] * (e.ts - ts[-1]))
        else:
            cum.append(0)
        ts.append(e.ts)
        prices.append(price)
        shares, usd = after_shares, after_usd
    return PricePath(ts, prices, cum), problems


def _after(e: PoolEvent, shares: int, usd: int) -> tuple[int, int] | None:
    """The reserves a pool event must leave, from those before it and what it moved (None: no rule)."""
    if e.kind == "swap":
        if e.coin_in == "USD":
            return shares - e.shares, usd + e.amount_in
        return shares + e.shares, usd - e.amount_out
    if e.kind == "add":
        return shares + e.shares, usd + e.usd_moved
    if e.kind == "remove":
        return shares - e.shares, usd - e.usd_moved
    return None


def swap_problems(events: Sequence[PoolEvent], fee: int) -> list[str]:
    """Swaps that did not pay what Uniswap v2's getAmountOut pays on the reserves before them (a
    purchase pays VOL shares, a sale USD atoms)."""
    problems = []
    shares = usd = 0
    for e in events:
        if e.kind == "swap":
            if e.coin_in == "USD":
                due, paid = amm.amount_out(e.amount_in, usd, shares, fee), e.shares
            else:
                due, paid = amm.amount_out(e.shares, shares, usd, fee), e.amount_out
            if due != paid:
                problems.append(f"swap at seq {e.seq}: paid out {paid}, the constant product pays {due}")
        if e.kind != "rebase":
            shares, usd = e.vol_shares, e.usd
    return problems


def volume_of(trades: Iterable[Trade], ts: int, next_trade_id: int) -> int:
    """USD atoms of the exchange's 24-hour volume a rebase at `ts` read (engine/volume.py's window)."""
    first, last = engine_volume.window(ts)
    return sum(
        t.value for t in trades if t.id < next_trade_id and first <= engine_volume.minute_of(t.ts) <= last
    )


def volume_bounds(ts: int) -> tuple[int, int]:
    """[from, to) in microseconds of the volume window at `ts`: whole minutes."""
    first, last = engine_volume.window(ts)
    return first * engine_volume.MINUTE_US, (last + 1) * engine_volume.MINUTE_US


def policy_at(initial: Policy, changes: Sequence[PolicyChange], seq: int) -> tuple[int, int]:
    """(threshold, lag) in force at journal number `seq`."""
    threshold, lag = initial.threshold, initial.lag
    for change in changes:
        if change.seq < seq:
            threshold, lag = change.threshold, change.lag
    return threshold, lag


def check(
    records: Sequence[tuple[int, VolumeRebased]],
    trades: Sequence[Trade],
    path: PricePath,
    issued: tuple[int, int, int],
    policy: Policy,
    changes: Sequence[PolicyChange] = (),
) -> list[Verdict]:
    """Each rebase (with its journal number, oldest first) against its recomputation from the
    issuance (supply atoms, units, divisor) on: the supply and units each rebase starts from are
    the recomputed ones, so a record that is wrong shows where it is, and everything it led to."""
    out = []
    supply, units, divisor = issued
    periods: set[int] = set()
    for index, (seq, r) in enumerate(records):
        notes = []
        threshold, lag = policy_at(policy, changes, seq)
        volume_from, volume_to = volume_bounds(r.ts)
        volume = volume_of(trades, r.ts, r.next_trade_id)
        cum_from = path.cumulative(r.twap_from)
        cum_to = path.cumulative(r.ts)
        twap = oracle.twap(cum_from, r.twap_from, cum_to, r.ts)
        price = rebase.capped(twap)
        refused = rebase.refusal(volume, divisor, twap)
        after = supply
        deviation = r.deviation
        if refused:
            notes.append(f"no rebase could be computed: {refused}")
        else:
            deviation = rebase.deviation(volume, divisor, price)
            delta = rebase.supply_delta(supply, volume, divisor, price, threshold, lag)
            after = rebase.clipped(supply, delta)
        expected = VolumeRebased(
            epoch=index + 1,
            volume_from=volume_from,
            volume_to=volume_to,
            volume=volume,
            twap_from=r.twap_from,
            twap_to=r.ts,
            cum_from=cum_from,
            cum_to=cum_to,
            twap=twap,
            divisor=divisor,
            target=rebase.target(volume, divisor),
            deviation=deviation,
            threshold=threshold,
            lag=lag,
            supply_before=supply,
            supply_after=after,
            delta=after - supply,
            units_before=units,
            units_after=TOTAL_SHARES // after,
            next_trade_id=r.next_trade_id,
            ts=r.ts,
        )
        start = r.ts - policy.twap_window_us
        if not start <= r.twap_from < start + OBSERVATION_US:
            notes.append("its TWAP window does not start at the first minute inside the policy's")
        period = r.ts // policy.interval_us
        opens = period * policy.interval_us + policy.window_offset_us
        if not opens <= r.ts < opens + policy.window_length_us:
            notes.append("outside its interval's rebase window")
        if period in periods:
            notes.append("a second rebase in one interval")
        periods.add(period)
        differs = tuple(name for name in VolumeRebased._fields if getattr(r, name) != getattr(expected, name))
        out.append(Verdict(r, expected, differs, tuple(notes)))
        supply, units = after, expected.units_after
    return out
