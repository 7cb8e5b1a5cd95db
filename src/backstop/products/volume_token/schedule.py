"""When the volume token rebases, and the rebase itself, run from the engine's Tick.

Timing [FVT-MED], [AMPL]: the policy's interval (1 day) is cut into periods `ts // interval`; each
period's window is [start + offset, start + offset + length) (FVT: offset 0, length 1 day, the whole
day). On the period's first Tick the rebase second is drawn uniformly from the window's seconds with
the engine's seeded generator (`ex.rng`: replay draws the same seconds; nobody outside the engine
can know it in advance, which is FVT's answer to front-running); the first Tick at or after it
rebases, once. A period whose window passes with no Tick after its second (the exchange was down)
records a skip, so no period ever rebases twice or outside its window.

The rebase reads two rates and records both with their windows (events.VolumeRebased):
- the **target**: the exchange's own 24-hour volume from the engine's state (`engine.volume`), by
  fill time over the window the engine reports, / divisor;
- the **market price**: the pool's TWAP from the oldest minute observation inside the last
  `twap_window` to now (oracle.py). The pool must have held both coins since before that window
  began, or the rebase is skipped (a younger pool's average would not be a day's).
A skipped rebase (either rate missing, or out of range: rebase.refusal) is an event with its
reason. The supply change takes effect through `Exchange.set_units` (one number; the orders resting
on VOL's spot book are cancelled, as the engine's rule says).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from backstop.engine import volume as engine_volume
from backstop.engine.events import Event
from backstop.products.volume_token import oracle, pool, rebase
from backstop.products.volume_token.events import VolumeRebased, VolumeRebaseSkipped
from backstop.products.volume_token.params import OBSERVATION_US, SECOND_US, TOTAL_SHARES

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.volume_token.product import VolumeToken

WINDOW_MISSED = "the rebase window passed without a tick after its drawn second"
POOL_TOO_YOUNG = "the pool has not held both coins for a whole TWAP window"


def on_tick(vt: VolumeToken, ex: Exchange, ts: int, events: list[Event]) -> None:
    st = vt.state
    if not st.issued:
        return
    observe(vt, ex, ts)
    policy = vt.params.policy
    period = ts // policy.interval_us
    if period != st.period:
        if not st.done:
            events.append(VolumeRebaseSkipped(st.epoch, WINDOW_MISSED, ts))  # type: ignore[arg-type]
        st.period = period
        opens = period * policy.interval_us + policy.window_offset_us
        st.due = opens + ex.rng.randrange(policy.window_length_us // SECOND_US) * SECOND_US
        st.done = False
    if st.done or ts < st.due:
        return
    st.done = True
    closes = period * policy.interval_us + policy.window_offset_us + policy.window_length_us
    if ts >= closes:
        events.append(VolumeRebaseSkipped(st.epoch, WINDOW_MISSED, ts))  # type: ignore[arg-type]
        return
    rebase_now(vt, ex, ts, events)


def observe(vt: VolumeToken, ex: Exchange, ts: int) -> None:
    """On the first Tick of each minute while the pool holds both coins: an observation of the
    cumulative price, those older than the TWAP window (and a minute) dropped."""
    st = vt.state
    if st.pool_since < 0:
        return
    obs = st.observations
    if obs and obs[-1][0] // OBSERVATION_US == ts // OBSERVATION_US:
        return
    coin = vt.params.coin
    pool.accrue(st, ex, coin, ts)
    obs.append((ts, st.cum))
    oldest = ts - vt.params.policy.twap_window_us - OBSERVATION_US
    drop = 0
    while drop < len(obs) and obs[drop][0] < oldest:
        drop += 1
    if drop:
        del obs[:drop]


def twap_start(vt: VolumeToken, ts: int) -> tuple[int, int] | None:
    """(ts, cumulative) of the oldest observation inside the TWAP window ending at `ts`, if the pool
    has held both coins since before the window began."""
    st = vt.state
    start = ts - vt.params.policy.twap_window_us
    if st.pool_since < 0 or st.pool_since > start:
        return None
    obs = st.observations
    at = bisect_left(obs, (start,))  # the first observation at or after `start` (oldest first)
    return obs[at] if at < len(obs) else None


def volume_window(ex: Exchange, ts: int) -> tuple[int, int, int]:
    """(USD atoms, from, to): the exchange's 24-hour volume at `ts` (engine/volume.py, by fill time)
    over [from, to) in microseconds, the window's first minute's start to its last minute's end."""

    total, _ = engine_volume.exchange_24h(ex, ts)
    first, last = engine_volume.window(ts)
    return total, first * engine_volume.MINUTE_US, (last + 1) * engine_volume.MINUTE_US


def rebase_now(vt: VolumeToken, ex: Exchange, ts: int, events: list[Event]) -> None:
    """Compute the rebase from the two rates and apply it (or record why it cannot be)."""
    st = vt.state
    coin = vt.params.coin
    begin = twap_start(vt, ts)
    if begin is None:
        events.append(VolumeRebaseSkipped(st.epoch, POOL_TOO_YOUNG, ts))  # type: ignore[arg-type]
        return
    pool.accrue(st, ex, coin, ts)
    twap_from, cum_from = begin
    twap = oracle.twap(cum_from, twap_from, st.cum, ts)
    volume, volume_from, volume_to = volume_window(ex, ts)
    reason = rebase.refusal(volume, st.divisor, twap)
    if reason:
        events.append(VolumeRebaseSkipped(st.epoch, reason, ts))  # type: ignore[arg-type]
        return
    price = rebase.capped(twap)
    delta = rebase.supply_delta(st.supply, volume, st.divisor, price, st.threshold, st.lag)
    after = rebase.clipped(st.supply, delta)
    units_before = ex.units[coin]
    units_after = TOTAL_SHARES // after
    st.epoch += 1
    st.last_rebase = ts
    events.append(
        VolumeRebased(  # type: ignore[arg-type]
            st.epoch,
            volume_from,
            volume_to,
            volume,
            twap_from,
            ts,
            cum_from,
            st.cum,
            twap,
            st.divisor,
            rebase.target(volume, st.divisor),
            rebase.deviation(volume, st.divisor, price),
            st.threshold,
            st.lag,
            st.supply,
            after,
            after - st.supply,
            units_before,
            units_after,
            ex.next_trade_id,
            ts,
        )
    )
    st.supply = after
    ex.set_units(coin, units_after, ts, events)
