"""How the benchmarks time things on a shared machine: by CPU time, the thing measured and its
baseline interleaved in chunks in one process, repeated.

The rule: wall clock on a shared 2-core machine swung 2-3x between identical runs, and timing the
engine and its baseline minutes apart measured the neighbours as much as the code. So each runner
is called on the same range of its work in turn, chunk after chunk (the order rotating each chunk,
so that none always runs first after a context switch or a collection), and charged the CPU time
(`time.process_time`: this process's user + system time, all threads) it spent. A run is repeated
on fresh state and reported as per-repeat ratios with their min, median and max.

The dict-of-deques baseline book (`bench/baseline.py`) is fed the engine workload's orders and
cancels; `baseline_venue` and `baseline_runner` give it in this shape.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from backstop.bench.baseline import BaselineVenue
from backstop.bench.workload import MARKETS, Workload
from backstop.engine.commands import CancelOrder, PlaceOrder
from backstop.engine.events import Rejected
from backstop.engine.exchange import Exchange

Runner = Callable[[int, int], None]
"""Does items [lo, hi) of its work (commands, ops, requests)."""

CHUNK = 25_000
"""Commands per chunk of the interleaved timing: long enough that the switch between runners (and
the caches it cools) is a small part of a chunk, short enough for 40 rotations in 1M commands."""


def interleave(
    runners: Sequence[Runner], count: int, chunk: int, chunks: list[list[float]] | None = None
) -> list[float]:
    """CPU seconds of each runner over [0, count) in chunks, the order rotating each chunk; with
    `chunks`, each chunk's CPU seconds (one per runner, in the runners' order) appended to it."""
    spent = [0.0] * len(runners)
    clock = time.process_time
    for n, lo in enumerate(range(0, count, chunk)):
        hi = min(count, lo + chunk)
        order = list(range(len(runners)))
        shift = n % len(order)
        this = [0.0] * len(runners)
        for i in order[shift:] + order[:shift]:
            t0 = clock()
            runners[i](lo, hi)
            this[i] = clock() - t0
            spent[i] += this[i]
        if chunks is not None:
            chunks.append(this)
    return spent


def engine_runner(ex: Exchange, commands: Sequence[Any], refused: list[Any] | None) -> Runner:
    """Applies commands[lo:hi] (the core's or products') to `ex`, dropping the events as a runtime
    does once it has published them; with `refused`, notes the commands the engine rejected."""
    apply = ex.apply

    def run(lo: int, hi: int) -> None:
        if refused is None:
            for c in commands[lo:hi]:
                apply(c)
            return
        for c in commands[lo:hi]:
            events = apply(c)
            if events and isinstance(events[0], Rejected):
                refused.append(c)

    return run


def baseline_venue(workload: Workload) -> tuple[BaselineVenue, list[Any]]:
    """The baseline book after the workload's setup orders, and the workload's commands as its ops:
    (market, is_buy, price, size) for a limit order, the order id for a cancel."""
    venue = BaselineVenue(list(MARKETS))
    for c in workload.setup:
        if isinstance(c, PlaceOrder) and c.price is not None:
            venue.place(c.market, c.side == "buy", c.price, c.size)
    ops: list[Any] = []
    for c in workload.commands:
        if isinstance(c, PlaceOrder) and c.price is not None:
            ops.append((c.market, c.side == "buy", c.price, c.size))
        elif isinstance(c, CancelOrder):
            ops.append(c.order_id)
    return venue, ops


def baseline_runner(venue: BaselineVenue, ops: list[Any]) -> Runner:
    place, cancel = venue.place, venue.cancel

    def run(lo: int, hi: int) -> None:
        for op in ops[lo:hi]:
            if type(op) is tuple:
                place(*op)
            else:
                cancel(op)

    return run


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min, median and max of per-repeat figures, rounded."""
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def collect() -> None:
    """Free what `tune_gc` froze once the last reference to it is gone (an exchange's objects form
    cycles, and frozen objects are never collected)."""
    gc.unfreeze()
    gc.collect()
