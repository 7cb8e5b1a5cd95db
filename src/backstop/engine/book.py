"""Price-time priority order book on integer ticks.

Each side is a dict of price -> level, plus a heap of the prices that have a level, so the touch
is found in O(1) and a new level costs O(log levels). A level is an insertion-ordered dict of
order id -> order: time priority is its order, and a cancel removes from the middle in O(1). A
heap entry whose level emptied is dropped lazily when it reaches the top.

The touch itself is kept in `Side.top` (0 for an empty side; prices are positive), set when a
level opens better than it and found again from the heap only when the touch's level empties, so
the hot path (the order checks, matching, the mark) reads one machine int.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Final

from backstop.catalog import Market
from backstop.engine.orders import Order

if TYPE_CHECKING:
    from backstop.engine.accounts import Position
    from backstop.engine.largest import Largest


DRIFT_BASE: Final = 64 * 10**8
"""Where a book's drift levels start (risk.py): 64 x RATE, more than RATE x ln of the ratio of any
two prices (ticks from 1 to 10**18), so a level never goes below it minus that and no key of the
at-risk index is negative."""


class Side:
    """One side of a book. Bid prices are stored negated in the heap so both sides pop the touch."""

    __slots__ = ("book", "heap", "in_heap", "levels", "sign", "top")

    def __init__(self, sign: int, book: Book) -> None:
        self.levels: dict[int, dict[int, Order]] = {}
        self.heap: list[int] = []
        self.in_heap: set[int] = set()
        self.sign = sign  # -1 for bids, +1 for asks
        self.book = book
        self.top = 0  # the touch: the best price with a level, 0 when the side is empty

    def best(self) -> int | None:
        top = self.top
        return top if top else None

    def _next_top(self) -> int:
        """The best price that still has a level, found from the heap (dropping stale entries)."""
        heap = self.heap
        levels = self.levels
        if not levels:  # every entry is stale: popping them all one by one leaves the same
            heap.clear()  # (a maker's whole ladder cancelled by its next mass quote)
            self.in_heap.clear()
            return 0
        bids = self.sign < 0
        while heap:
            price = -heap[0] if bids else heap[0]
            if price in levels:
                return price
            heappop(heap)
            self.in_heap.discard(price)
        return 0

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = {}
            self.levels[price] = level
            if price not in self.in_heap:
                self.in_heap.add(price)
                heappush(self.heap, -price if self.sign < 0 else price)
            top = self.top
            if not top or (price > top if self.sign < 0 else price < top):
                self.top = price
        level[order.id] = order
        self.book.stale = True

    def remove(self, order: Order) -> None:
        price = order.price
        level = self.levels[price]
        del level[order.id]
        if not level:
            self.drop_level(price)
        self.book.stale = True

    def remove_all(self, orders: list[Order]) -> None:
        """`remove` each of `orders` (all resting on this side), the touch found once at the end
        instead of each time its level empties: the levels, the touch, and the heap (every entry
        better than the new touch popped, in the same order) are what removing them in turn
        leaves. A maker's ladder leaves the touch's levels one after another."""
        levels = self.levels
        for order in orders:
            price = order.price
            level = levels[price]
            del level[order.id]
            if not level:
                del levels[price]
        top = self.top
        if top and top not in levels:
            self.top = self._next_top()
        self.book.stale = True

    def drop_level(self, price: int) -> None:
        """Remove the (empty) level at `price`, finding the next touch if it was the touch."""
        del self.levels[price]
        if price == self.top:
            self.top = self._next_top()

    def depth(self, limit: int | None = None) -> list[tuple[int, int]]:
        """(price, total lots) from the touch outwards."""
        prices = sorted(self.levels, reverse=self.sign < 0)
        if limit is not None:
            prices = prices[:limit]
        return [(p, sum(o.remaining for o in self.levels[p].values())) for p in prices]

    def orders(self) -> list[Order]:
        """Every resting order, best price first, then time priority."""
        prices = sorted(self.levels, reverse=self.sign < 0)
        return [o for p in prices for o in self.levels[p].values()]


MARKET_STATE = (
    "index",
    "premium",
    "premium_mean",
    "halted",
    "closed",
    "anchor",
    "band_low",
    "band_high",
    "volume_day",
    "volume_today",
    "volume_days",
    "funding_hour",
    "funding_sum",
    "funding_time",
    "funding_rates",
    "expiry_sum",
    "expiry_time",
    "imf_floor",
    "mmf_floor",
)
"""A market's state beyond its orders, in the order of the canonical form (integrity.py) and of
restore.py: one list, so a new field cannot be hashed and then forgotten on restore."""


class Book:
    """A market: its two sides and the state its prices come from.

    `stale` is set by every change the mark depends on (the book, the last trade, the index, the
    risk band, a halt), so the mark is recomputed only when something it depends on moved.
    """

    def __init__(self, info: Market) -> None:
        self.info = info
        self.market = info.name
        # ledger units of the base coin per atom, and per lot: 1 and `lot_atoms` but for a coin held
        # in shares of its supply (Exchange.set_units); a spot fill, hold or check moves `lot_units`
        self.units = 1
        self.lot_units = info.lot_atoms
        self.bids = Side(-1, self)
        self.asks = Side(+1, self)
        self.last: int | None = None  # price of the last trade, ticks
        self.stale = True
        self.mark_ticks = 0  # the mark when not stale, 0 for none (a cache, not state)
        self.index: int | None = None  # the underlying's index, in this market's ticks
        self.premium = 0  # market price - index at the last tick with a two-sided book
        self.premium_mean = 0  # EWMA of |premium| / index (rate units), 5-minute time constant
        self.halted = False
        self.imf_floor = 0  # the operator's minimum position IMF and MMF, rate units (SetMarginFloor)
        self.mmf_floor = 0
        self.closed = False  # expired (dated futures): no more orders, positions settled
        self.anchor = 0  # EWMA of the risk price, ticks x ANCHOR_SCALE (0: none yet)
        self.band_low = 0  # the risk band around the anchor, ticks (0: no band yet)
        self.band_high = 0
        self.swept: int | None = None  # the mark at the last risk sweep (cache, not state)
        # the at-risk index's per-market part (risk.py; a cache, not state): levels that follow
        # the log of the mark up (drift_up) and down (drift_down), and the accounts whose one
        # position here only a rise (shorts) or only a fall (longs) can bring to maintenance
        self.drift_up = DRIFT_BASE
        self.drift_down = DRIFT_BASE
        self.watch_up: list[int] = []
        self.watch_down: list[int] = []
        self.swept_low: int | None = None  # the lowest swept mark since the longs' heap was emptied
        self.holders: dict[int, Position] = {}  # account id -> its open position here (size != 0)
        # its longs and shorts ranked by size for the last-resort tier (largest.py; a cache, not
        # state): None until the first selection in this market
        self.largest: Largest | None = None
        self.volume_day = 0  # day number of volume_today
        self.volume_today = 0  # USD atoms traded today
        self.volume_days: dict[int, int] = {}  # earlier days' volume, the last 30 kept
        self.volume_past = -1  # their sum (a cache, not state): -1 until summed after a change
        # the rolling 24-hour volume (volume.py; state, in the canonical form only when not empty):
        # the current minute and its USD atoms, the window's earlier minutes with trades (minute,
        # USD atoms), oldest first, and their sum (derived from them)
        self.volume_minute = 0
        self.volume_minute_atoms = 0
        self.volume_minutes: deque[tuple[int, int]] = deque()
        self.volume_window = 0
        self.funding_hour = -1  # the hour whose premium is being averaged
        self.funding_sum = 0  # sum of premium rate x microseconds this hour
        self.funding_time = 0
        self.funding_rates: list[tuple[int, int]] = []  # (hour start us, rate) paid, oldest first
        self.expiry_sum = 0  # sum of index ticks x microseconds over the settlement hour
        self.expiry_time = 0

    def mark(self) -> int | None:
        ticks = self.mark_or(0)
        return ticks if ticks else None

    def mark_or(self, default: int) -> int:
        """The mark in ticks, or `default` when there is none (no quotes, no trade, no index):
        the hot path's form of `mark`, a machine int."""
        if self.stale:
            self.mark_ticks = self._mark()
            self.stale = False
        ticks = self.mark_ticks
        return ticks if ticks else default

    def market_price(self) -> int | None:
        """FTX's market price: median(best bid, best ask, last), or the midpoint without a last
        trade; None unless both sides have orders."""
        price = self._market_price()
        return price if price else None

    def _market_price(self) -> int:
        """`market_price`, 0 for None."""
        bid = self.bids.top
        ask = self.asks.top
        if not bid or not ask:
            return 0
        last = self.last
        if last is None:
            return (bid + ask) // 2
        if last < bid:
            return bid
        if last > ask:
            return ask
        return last

    def raw_mark(self) -> int | None:
        """The mark before the risk band: the market price of a live two-sided book, else index +
        the last premium (FTX's rule for a paused or empty market), else what the book has."""
        price = self._raw_mark()
        return price if price else None

    def _raw_mark(self) -> int:
        """`raw_mark`, 0 for None (prices are positive)."""
        last = self.last
        if self.closed:
            return 0 if last is None else last
        price = 0 if self.halted else self._market_price()
        if price:
            return price
        index = self.index
        if index is not None:
            moved = index + self.premium
            return moved if moved > 0 else 1
        one = self.bids.top
        if not one:
            one = self.asks.top
        if last is None:
            return one
        if not one:
            return last
        return (one + last) // 2

    def _mark(self) -> int:
        """The raw mark held inside the risk band, so a wick cannot move margin by more than the
        band allows (see prices.py); 0 for none."""
        price = self._raw_mark()
        if not price or not self.band_high or self.closed:
            return price
        if price > self.band_high:
            return self.band_high
        if price < self.band_low:
            return self.band_low
        return price

    def adv(self) -> int:
        """Average daily volume (USD atoms) over the last 30 days, today included. The earlier
        days' sum is kept until they change (`past_volume_changed`): a maker's open-order limit
        and every liquidation round ask for it."""
        past = self.volume_past
        if past < 0:
            past = self.volume_past = sum(self.volume_days.values())
        return (self.volume_today + past) // 30

    def past_volume_changed(self) -> None:
        """`volume_days` was written: the next `adv` sums it again."""
        self.volume_past = -1

    def crossed(self) -> bool:
        bid = self.bids.best()
        ask = self.asks.best()
        return bid is not None and ask is not None and bid >= ask
