"""Buy-and-burn, its accrual only: one third of each UTC day's trading-fee revenue (FTX: "one third of
all fees", later 33% [fttdao.com/burn]) moves out of the fee ledger into the ledger's pool
`ftt:burn`, per coin, once the day is over. The pool's USD is then spent on FTT through the book
and the FTT burned (burn_buying.py); the pool holds what is owed to the burn meanwhile, public through
its events and the solvency report.

**When**: on the first Tick of a new UTC day, every earlier day with fees not yet accrued (days
without fees have nothing to accrue; a gap in the ticks accrues every day it skipped, oldest first).

**The base** of day d is the fee ledger's revenue booked on d (`FeeLedger.revenue`: net of rebates,
per coin) plus what this module itself moved out of the fee ledger on d (an accrual for an earlier
day, booked as negative revenue when it happened, so it is added back: the base is what trading
earned on d). Only a positive base accrues; the share is base x 1 / 3 rounded down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.engine import ledger
from backstop.engine.events import Event
from backstop.engine.fees import DAY_US
from backstop.engine.ledger import Moves
from backstop.products.ftt.events import FttBurnAccrued

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.ftt.state import FttState
    from backstop.products.ftt.tiers import Schedule

POOL = "ftt:burn"
"""The ledger's pool holding fee revenue owed to the buy-and-burn."""


def on_tick(schedule: Schedule, st: FttState, ex: Exchange, ts: int, events: list[Event]) -> None:
    today = ts // DAY_US
    if today == st.burn_checked:
        return
    st.burn_checked = today
    due = sorted(d for d in ex.fees.day_open if st.burn_day < d < today)
    for day in due:
        accrue(schedule, st, ex, day, today, ts, events)
        st.burn_day = day


def accrue(
    schedule: Schedule, st: FttState, ex: Exchange, day: int, today: int, ts: int, events: list[Event]
) -> None:
    revenue = ex.fees.revenue(day)
    moved_then = st.burn_moved.pop(day, {})
    moved_now = st.burn_moved.setdefault(today, {})
    for coin in sorted(set(revenue) | set(moved_then)):
        base = revenue.get(coin, 0) + moved_then.get(coin, 0)
        if base <= 0:
            continue
        share = base * schedule.burn_numerator // schedule.burn_denominator
        if not share:
            continue
        ledger.must(ex, Moves().fee(coin, -share).pool(POOL, coin, share), ts, events)
        moved_now[coin] = moved_now.get(coin, 0) + share
        events.append(FttBurnAccrued(day, coin, base, share, ex.pools[POOL][coin], ts))  # type: ignore[arg-type]
    if not moved_now:
        del st.burn_moved[today]
