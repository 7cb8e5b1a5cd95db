"""Price-time priority order book on integer ticks.

Each side is a dict of price -> level, plus a heap of the prices that have a level, so the touch
is found in O(1) and a new level costs O(log levels). A level is an insertion-ordered dict of
order id -> order: time priority is its order, and a cancel removes from the middle in O(1). A
heap entry whose level emptied is dropped lazily when it reaches the top.
"""

from __future__ import annotations

from heapq import heappop, heappush

from backstop.catalog import Market
from backstop.engine.orders import Order


class Side:
    """One side of a book. Bid prices are stored negated in the heap so both sides pop the touch."""

    def __init__(self, sign: int, book: Book) -> None:
        self.levels: dict[int, dict[int, Order]] = {}
        self.heap: list[int] = []
        self.in_heap: set[int] = set()
        self.sign = sign  # -1 for bids, +1 for asks
        self.book = book

    def best(self) -> int | None:
        heap = self.heap
        levels = self.levels
        bids = self.sign < 0
        while heap:
            price = -heap[0] if bids else heap[0]
            if price in levels:
                return price
            heappop(heap)
            self.in_heap.discard(price)
        return None

    def add(self, order: Order) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = {}
            self.levels[price] = level
            if price not in self.in_heap:
                self.in_heap.add(price)
                heappush(self.heap, -price if self.sign < 0 else price)
        level[order.id] = order
        self.book.stale = True

    def remove(self, order: Order) -> None:
        level = self.levels[order.price]
        del level[order.id]
        if not level:
            del self.levels[order.price]
        self.book.stale = True

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


class Book:
    """`stale` is set by every change to the book (and by the matcher after it trades), so the
    mark is recomputed only when something it depends on moved."""

    def __init__(self, info: Market) -> None:
        self.info = info
        self.market = info.name
        self.bids = Side(-1, self)
        self.asks = Side(+1, self)
        self.last: int | None = None  # price of the last trade, ticks
        self.stale = True
        self.cached_mark: int | None = None

    def mark(self) -> int | None:
        if self.stale:
            self.cached_mark = self._mark()
            self.stale = False
        return self.cached_mark

    def _mark(self) -> int | None:
        """FTX's market price: median(best bid, best ask, last); with two of them, their midpoint
        rounded down; with one, that one."""
        bid = self.bids.best()
        ask = self.asks.best()
        last = self.last
        if bid is not None and ask is not None:
            if last is None:
                return (bid + ask) // 2
            if last < bid:
                return bid
            if last > ask:
                return ask
            return last
        one = bid if bid is not None else ask
        if one is None or last is None:
            return one if one is not None else last
        return (one + last) // 2

    def crossed(self) -> bool:
        bid = self.bids.best()
        ask = self.asks.best()
        return bid is not None and ask is not None and bid >= ask
