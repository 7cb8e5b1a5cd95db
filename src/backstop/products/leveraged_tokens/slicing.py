"""Slicing a rebalance into children through the perp's book, and when to start it.

FTX published no chunk size or schedule ([FTX-WT] "ignores slippage incurred while rebalancing"); the
pattern is [FLI]'s TWAP (a maximum chunk, a cooldown between chunks, cancelled on a favourable move),
and the start is drawn within a window as [BLVT] hides its timing. Every parameter is in `params`.
Sizes are lots of the perp (signed where a direction is meant), prices ticks, times microseconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from backstop.catalog import Market
from backstop.engine.amounts import RATE, ceil_div, mul_div
from backstop.products.leveraged_tokens.nav import TokenTotals
from backstop.products.leveraged_tokens.params import (
    CHILD_PAUSE_US,
    DEPTH_BAND_RATE,
    DEPTH_SHARE_RATE,
    MIN_CHILD_LOTS,
    PARTICIPATION_RATE,
    REBALANCE_EARLIEST_US,
    REBALANCE_WINDOW_US,
    VOLUME_WINDOW_US,
)
from backstop.products.leveraged_tokens.rebalance import daily_rebalance


def depth_in_band(levels: Iterable[tuple[int, int]], buying: bool) -> int:
    """Lots resting within DEPTH_BAND_RATE (1%) of the touch on the side a child takes: the asks
    when `buying`, the bids when selling. `levels` are (price ticks, lots) from the touch outward.
    The band's edge is rounded inward (fewer lots counted, smaller children)."""
    total = 0
    limit: int | None = None
    for price, lots in levels:
        if limit is None:
            if buying:
                limit = mul_div(price, RATE + DEPTH_BAND_RATE, RATE)
            else:
                limit = ceil_div(price * (RATE - DEPTH_BAND_RATE), RATE)
        if (price > limit) if buying else (price < limit):
            break
        total += lots
    return total


def max_child_lots(depth_lots: int, recent_volume_lots: int, window_us: int = VOLUME_WINDOW_US) -> int:
    """The largest child, in lots: min(DEPTH_SHARE (10%) of `depth_lots` (from `depth_in_band`),
    PARTICIPATION (10%) of the volume traded, at the recent pace, during one CHILD_PAUSE), both
    rounded down, with a floor of MIN_CHILD_LOTS (one lot). `recent_volume_lots` is the perp's volume
    over the last `window_us` (the engine measures VOLUME_WINDOW_US, 15 minutes)."""
    by_depth = mul_div(depth_lots, DEPTH_SHARE_RATE, RATE)
    by_volume = recent_volume_lots * PARTICIPATION_RATE * CHILD_PAUSE_US // (RATE * window_us)
    return max(MIN_CHILD_LOTS, min(by_depth, by_volume))


def next_child(remaining: int, max_child: int) -> int:
    """The next child of a rebalance with `remaining` signed lots left: at most `max_child` lots."""
    size = min(abs(remaining), max_child)
    return size if remaining >= 0 else -size


def split(total: int, max_child: int) -> list[int]:
    """A rebalance of `total` signed lots as the fewest children of at most `max_child` lots, as even
    as possible (sizes differ by at most one lot, larger first); they sum to `total`. [] for 0."""
    if max_child < MIN_CHILD_LOTS:
        raise ValueError("a child holds at least one lot")
    size = abs(total)
    if size == 0:
        return []
    count = ceil_div(size, max_child)
    base, extra = divmod(size, count)
    sign = 1 if total > 0 else -1
    return [sign * (base + 1)] * extra + [sign * base] * (count - extra)


def child_time(start_us: int, index: int) -> int:
    """When child `index` (0 first) is sent: CHILD_PAUSE_US (10 s) after the previous one."""
    return start_us + index * CHILD_PAUSE_US


def draw_start(day_start_us: int, rng: random.Random) -> int:
    """The daily rebalance's start: day_start_us (00:00 UTC) + REBALANCE_EARLIEST_US (00:02, FTX's
    time [FTX-RB]) + a microsecond drawn uniformly from REBALANCE_WINDOW_US (one hour) with `rng`, the
    engine's seeded generator, so the journal reproduces it and nobody knows the second beforehand."""
    return day_start_us + REBALANCE_EARLIEST_US + rng.randrange(REBALANCE_WINDOW_US)


def stop_remaining(totals: TokenTotals, target: int, market: Market, mark: int, buying: bool) -> bool:
    """Cancel the remaining children: the price has moved, since the rebalance started, in the token's
    favour far enough that the trade is no longer needed. With `totals` as they stand now (the
    children filled so far included), the token's rebalance at the current mark is zero or points the
    other way from the one under way (`buying`). This is [FLI]'s `_isAdvantageousTWAP`: leverage has
    crossed the target by itself. For BULL, BEAR and HEDGE that means the mark has come back from the
    start price toward the trade (lower for a buy, higher for a sell); for HALF, which buys after a
    fall and needs more the further the price falls, it means a rise back: hence a rule on the need,
    not on the price alone."""
    need = daily_rebalance(totals, target, market, mark)
    return need <= 0 if buying else need >= 0
