"""Index and risk prices.

Index: the equal-weighted median of a feed's constituent prices (FTX's rule), per underlying,
copied into every market on that coin in the market's ticks.

Risk band: the mark the risk engine uses is held inside a band of +-10% around an EWMA of itself
with a 5-minute time constant, updated once per clock tick. A sudden move therefore reaches the
margin engine at about 10% at once and then about 10% per 5 minutes more (about 20% in the first
5 minutes, FTX's "cannot move more than ~20% per 5 minutes"), while a sustained move is followed
in full within tens of minutes. A wick or a manipulated print on a thin book cannot liquidate
anyone on its own (the Mango lesson).

Order price bands (FTX's order limits): an order must be priced within the market's price band
(10% or 20%) of the 5-minute mean mark, for which the risk anchor stands, and a futures order's
premium to the index may exceed the 5-minute mean |premium| by at most the premium band (5% or
20%). Those bounds are the API's lowerBound / upperBound.

Drift: for the at-risk index (risk.py), each tick adds the largest relative mark move of any
market since the previous tick, rounded up. Any account whose safety margin exceeds the drift
accumulated since it was last assessed cannot have crossed maintenance margin. Each market also
adds up its own rises and falls apart, for the accounts whose only exposure is one position there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from backstop.engine.amounts import RATE, ceil_div
from backstop.engine.book import Book

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

ANCHOR_SCALE: Final = 10**6  # fixed-point digits of the EWMA anchor, so small moves still register
RISK_BAND_PERCENT: Final = 10
RISK_TAU_US: Final = 300 * 1_000_000  # the EWMA's time constant: 5 minutes
FULL_RECHECK: Final = RATE * RATE  # drift that forces every account to be reassessed


def median(prices: tuple[int, ...]) -> int:
    """Equal-weighted median; the midpoint (rounded down) of the middle two for an even count."""
    ordered = sorted(prices)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) // 2


def to_ticks(book: Book, atoms: int) -> int:
    """USD atoms per coin -> the nearest tick of `book` (at least one)."""
    step = book.info.tick_atoms
    ticks = (atoms + step // 2) // step
    return ticks if ticks > 0 else 1


def set_index(ex: Exchange, coin: str, atoms: int) -> None:
    ex.index[coin] = atoms
    for book in ex.books_on.get(coin, ()):
        book.index = to_ticks(book, atoms)
        book.stale = True


def _band(book: Book) -> None:
    anchor = book.anchor
    book.band_low = ceil_div(anchor * (100 - RISK_BAND_PERCENT), 100 * ANCHOR_SCALE)
    book.band_high = anchor * (100 + RISK_BAND_PERCENT) // (100 * ANCHOR_SCALE)
    if book.band_low < 1:
        book.band_low = 1
    book.stale = True


def on_tick(ex: Exchange, dt: int) -> None:
    """Advance every market's risk band by `dt` microseconds and note premiums (first thing in a
    tick)."""
    step = dt if dt < RISK_TAU_US else RISK_TAU_US
    for book in ex.book_list:
        if book.closed:
            continue
        raw = book.raw_mark()
        if raw is None:
            continue
        if not book.anchor:
            book.anchor = raw * ANCHOR_SCALE
        else:
            risk = book.mark()
            assert risk is not None
            gap = risk * ANCHOR_SCALE - book.anchor
            book.anchor += gap * step // RISK_TAU_US if gap >= 0 else -(-gap * step // RISK_TAU_US)
        _band(book)
        index = book.index
        if index is not None and not book.halted:
            price = book.market_price()
            if price is not None:
                book.premium = price - index
                size = abs(book.premium) * RATE // index
                gap = size - book.premium_mean
                book.premium_mean += gap * step // RISK_TAU_US if gap >= 0 else -(-gap * step // RISK_TAU_US)


def measure_drift(ex: Exchange) -> int:
    """The largest relative mark move of any market since the last sweep (rate units, rounded
    up), taken right before the sweep assesses anyone, so every assessment uses the marks the
    next measurement compares against."""
    drift = 0
    for book in ex.book_list:
        mark = book.mark()
        before = book.swept
        if mark is not None:
            if before is None:
                if book.holders:
                    drift = FULL_RECHECK
                    book.drift_up += FULL_RECHECK
                    book.drift_down += FULL_RECHECK
            elif mark != before:
                # up: a rise adds at least RATE x ln(mark / before), a fall takes off at most
                # RATE x ln(before / mark); down the other way round (x - 1 >= ln x >= 1 - 1/x)
                if mark > before:
                    moved = ceil_div((mark - before) * RATE, before)
                    book.drift_up += moved
                    book.drift_down -= (mark - before) * RATE // mark
                else:
                    moved = ceil_div((before - mark) * RATE, mark)
                    book.drift_down += moved
                    book.drift_up -= (before - mark) * RATE // before
                if moved > drift:
                    drift = moved
            if book.swept_low is None or mark < book.swept_low:
                book.swept_low = mark
        book.swept = mark
    return drift


def bounds(book: Book) -> tuple[int, int] | None:
    """The prices an order may have (FTX's lowerBound / upperBound): within the market's price
    band of the 5-minute mean mark (the risk anchor) and, for futures, within the premium band
    (the 5-minute mean |premium| plus the market's premium band) of the index."""
    if not book.anchor:
        return None
    info = book.info
    mean = book.anchor // ANCHOR_SCALE
    low = ceil_div(mean * (100 - info.price_band), 100)
    high = mean * (100 + info.price_band) // 100
    index = book.index
    if not info.is_spot and index is not None:
        allowed = book.premium_mean + info.premium_band * RATE // 100
        near_low = ceil_div(index * (RATE - allowed), RATE) if allowed < RATE else 1
        near_high = index * (RATE + allowed) // RATE
        if near_low > high or near_high < low:
            # the index outran the 5-minute mean: the fair value decides, or nobody could trade
            low, high = near_low, near_high
        else:
            low, high = max(low, near_low), min(high, near_high)
    return (low if low > 1 else 1), high
