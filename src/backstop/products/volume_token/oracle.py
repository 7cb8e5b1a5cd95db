"""The pool's price oracle: Uniswap v2's cumulative price [UNI], in integers.

The price is USD atoms per whole VOL at the pool's reserves: usd x units x ATOM // shares (the
pool's VOL is held in shares, `units` shares per atom). The cumulative price adds, at every change
of the pool (swap, deposit, withdrawal, rebase) and every observation, the price that held since
the last update times the microseconds it held (Uniswap's `_update`: the price before this change,
times the time since the last one), so cumulative(t) is a pure function of the pool's public
history: a price held for d microseconds adds price x d, however often it is split. A TWAP over
[t1, t2] is (cumulative(t2) - cumulative(t1)) / (t2 - t1), rounded down.

Our choices: time in microseconds (the engine's), not seconds (a block's), so two changes in one
second each count; nothing accrues while the pool is empty (its TWAP is refused over such a span,
see rebase timing in policy.py); one observation per minute (`params.OBSERVATION_US`), as Uniswap's
sliding-window oracle keeps one per granularity period, and a TWAP window starts at the oldest
observation inside it.
"""

from __future__ import annotations

from backstop.engine.amounts import ATOM


def price(usd: int, shares: int, units: int) -> int:
    """USD atoms per whole VOL at reserves (usd atoms, shares), `units` shares per atom; 0 for none."""
    if usd <= 0 or shares <= 0:
        return 0
    return usd * units * ATOM // shares


def accrued(cumulative: int, since: int, now: int, held: int) -> int:
    """The cumulative price at `now`, `held` having been the price since `since`."""
    return cumulative + held * (now - since) if now > since else cumulative


def twap(cum_from: int, t_from: int, cum_to: int, t_to: int) -> int:
    """The time-weighted average price over [t_from, t_to] (rounded down); 0 for an empty span."""
    if t_to <= t_from:
        return 0
    return (cum_to - cum_from) // (t_to - t_from)
