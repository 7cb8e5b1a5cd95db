"""The benchmark's yardstick: a minimal price-time book (dict of deques, heaps for the touch),
no accounts, no margin, no fees, no events. Fed the same commands as the engine."""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush


class Entry:
    __slots__ = ("id", "price", "remaining", "side")

    def __init__(self, id: int, side: int, price: int, remaining: int) -> None:
        self.id = id
        self.side = side  # 0 bid, 1 ask
        self.price = price
        self.remaining = remaining


class BaselineBook:
    def __init__(self) -> None:
        self.levels: tuple[dict[int, deque[Entry]], dict[int, deque[Entry]]] = ({}, {})
        self.heaps: tuple[list[int], list[int]] = ([], [])
        self.orders: dict[int, Entry] = {}
        self.fills = 0

    def _best(self, side: int) -> int | None:
        heap, levels = self.heaps[side], self.levels[side]
        while heap:
            price = -heap[0] if side == 0 else heap[0]
            if price in levels:
                return price
            heappop(heap)
        return None

    def place(self, oid: int, is_buy: bool, price: int, size: int) -> None:
        me, other = (0, 1) if is_buy else (1, 0)
        levels = self.levels[other]
        while size:
            best = self._best(other)
            if best is None or (best > price if is_buy else best < price):
                break
            level = levels[best]
            while level and size:
                maker = level[0]
                q = min(size, maker.remaining)
                size -= q
                maker.remaining -= q
                self.fills += 1
                if not maker.remaining:
                    level.popleft()
                    del self.orders[maker.id]
            if not level:
                del levels[best]
        if size:
            entry = Entry(oid, me, price, size)
            self.orders[oid] = entry
            found = self.levels[me].get(price)
            if found is None:
                found = deque()
                self.levels[me][price] = found
                heappush(self.heaps[me], -price if is_buy else price)
            found.append(entry)

    def cancel(self, oid: int) -> None:
        entry = self.orders.pop(oid, None)
        if entry is None:
            return
        levels = self.levels[entry.side]
        level = levels[entry.price]
        level.remove(entry)
        if not level:
            del levels[entry.price]


class BaselineVenue:
    """One BaselineBook per market, numbering orders across markets as the engine does."""

    def __init__(self, markets: list[str]) -> None:
        self.books = {m: BaselineBook() for m in markets}
        self.where: dict[int, BaselineBook] = {}
        self.next_id = 1

    def place(self, market: str, is_buy: bool, price: int, size: int) -> int:
        book = self.books[market]
        oid = self.next_id
        self.next_id += 1
        self.where[oid] = book
        book.place(oid, is_buy, price, size)
        return oid

    def cancel(self, oid: int) -> None:
        book = self.where.pop(oid, None)
        if book is not None:
            book.cancel(oid)

    def resting(self, oid: int) -> bool:
        book = self.where.get(oid)
        return book is not None and oid in book.orders

    def resting_count(self) -> int:
        return sum(len(b.orders) for b in self.books.values())
