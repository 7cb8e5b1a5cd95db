"""BitMEX's auto-deleveraging queue, ranked once per risk second instead of once per account.

BitMEX model (liquidation.py): what the book did not take of a takeover closes against the
opposing positions ranked by PnL% x effective leverage, at the bankruptcy price. A holder's rank
(`rank`, lower first): -(PnL x notional x RATE // (|cost| x equity)), its position's PnL at the
mark of the takeover, its account's notional and equity (TAV) at the current marks; at equal
rank the smaller account id; accounts being liquidated are passed over.

Ranking every holder of the market for each deleveraged account cost deleverages x holders in a
cascade. A holder's rank changes only when its account changes or a mark moves, so one second's
deleverages in a market share one queue per side (`Queue`): a heap of single integers
rank << ACCOUNT_BITS | account id (the order of (rank, id), as in largest.py), and the current
entry of each holder. It is built on the second's first deleverage in that market and side (one
pass over the holders, as each deleverage made before) and, before each further one, brought up
to date with the accounts changed since: every fill, transfer and ledger move marks the accounts
it touches in `ex.dirty` (the at-risk index relies on the same), so for the second `ex.dirty` is
a fresh set that each update drains into the set the next sweep will see (`Deleveraging.close`
hands it back whole). A changed account is ranked again; the entries it leaves behind are
stale and dropped when they reach the top (an entry is current while it is its account's entry).
A deleverage pops the queue in order and takes what it needs, as it walked the sorted list.

Marks: the rank is a ratio of terms in the marks, so when they move, holders change places and
none of the ranks can be kept. Before each deleverage the marks of every book are compared with
those the queues were ranked at (21 books here, a few hundred anywhere); if any moved (a dump
that traded, an order cancelled at the touch) every queue is dropped and built again on its next
use; a queue ranked at another takeover mark than the one asked is built again too. In a cascade
through an empty book (dumps that cannot trade) the marks hold still for the whole second and a
deleverage costs the positions it closes and the accounts changed since the last one, not the
holders. Across seconds the queues are not kept: the index moves the marks every second.

The result is the same as ranking every holder for each deleverage: the same counterparties in
the same order with the same sizes (tests/property/test_adl_properties.py runs BitMEX cascades
with the old scan patched in beside it, event for event and state hash for state hash).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING

from backstop.engine.amounts import RATE
from backstop.engine.risk import ACCOUNT_BITS, ACCOUNT_MASK, assess

if TYPE_CHECKING:
    from backstop.engine.accounts import Account, Position
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange


def rank(ex: Exchange, acct: Account, p: Position, mark: int, tick_value: int) -> int:
    """BitMEX's ADL rank of `acct`'s position `p` (lower goes first): minus PnL% x effective
    leverage, the PnL at `mark`, the account's notional and equity at the current marks."""
    other = assess(ex, acct)
    size = p.size
    value = (size if size > 0 else -size) * mark * tick_value
    pnl = (value if size > 0 else -value) - p.cost
    cost = p.cost if p.cost > 0 else -p.cost
    if not cost:
        cost = 1
    equity = other.tav if other.tav > 0 else 1
    return -(pnl * other.notional * RATE // (cost * equity))


class Queue:
    """The positions opposing a deleveraged long (`long`), or short, in one market, ranked at one
    takeover mark: a heap of rank << ACCOUNT_BITS | account id and each holder's current entry."""

    __slots__ = ("book", "current", "heap", "long", "mark")

    def __init__(self, ex: Exchange, book: Book, long: bool, mark: int) -> None:
        self.book = book
        self.long = long
        self.mark = mark
        accounts = ex.accounts
        tick_value = book.info.tick_value
        heap: list[int] = []
        current: dict[int, int] = {}
        for aid, p in book.holders.items():
            if (p.size < 0) != long:
                continue
            acct = accounts[aid]
            if acct.liquidation:
                continue  # filed again if its liquidation ends this second (it is then marked)
            entry = rank(ex, acct, p, mark, tick_value) << ACCOUNT_BITS | aid
            current[aid] = entry
            heap.append(entry)
        heapify(heap)
        self.heap = heap
        self.current = current

    def refile(self, ex: Exchange, aid: int) -> None:
        """Rank `aid` again (its account changed), or drop it if it no longer qualifies."""
        p = self.book.holders.get(aid)
        acct = ex.accounts[aid]
        if p is None or (p.size < 0) != self.long or acct.liquidation:
            self.current.pop(aid, None)
            return
        entry = rank(ex, acct, p, self.mark, self.book.info.tick_value) << ACCOUNT_BITS | aid
        if self.current.get(aid, None) != entry:  # an entry equal to the current one is in the heap
            self.current[aid] = entry
            heappush(self.heap, entry)

    def pop(self, last: int | None) -> int | None:
        """The next current entry, off the heap (None when none is left); `last`: the entry popped
        before it in this deleverage, whose copy (filed twice) is dropped."""
        heap = self.heap
        current = self.current
        while heap:
            entry = heappop(heap)
            if entry == last:
                continue  # the same entry filed twice: equal entries leave the heap together
            if current.get(entry & ACCOUNT_MASK, None) == entry:
                return entry
        return None

    def taken(self, aid: int) -> None:
        """`aid`'s entry was used: it is no longer in the heap (its account changes and is filed
        again on the next update, if it still holds a position on this side)."""
        del self.current[aid]

    def put_back(self, entries: list[int]) -> None:
        for entry in entries:
            heappush(self.heap, entry)


def _marks(ex: Exchange) -> list[int]:
    return [book.mark_or(0) for book in ex.book_list]


class Deleveraging:
    """One risk second's ADL queues (one per market and side, built on first use) and the
    accounts marked since they were brought up to date. `ex.dirty` is replaced by a fresh set for
    the second; `close` must be called at its end to hand every marked account to the sweep."""

    __slots__ = ("fresh", "kept", "longs", "marks", "shorts")

    def __init__(self, ex: Exchange) -> None:
        self.kept = ex.dirty  # marked before the second, and drained from `fresh` since
        self.fresh: set[int] = set()
        ex.dirty = self.fresh
        self.marks = _marks(ex)
        self.longs: dict[str, Queue] = {}  # market -> queue of the shorts that take a long
        self.shorts: dict[str, Queue] = {}  # market -> queue of the longs that take a short

    def queue(self, ex: Exchange, book: Book, long: bool, mark: int) -> Queue:
        """The queue that takes a deleveraged long (`long`) or short in `book`'s market at the
        takeover mark `mark`, up to date."""
        self._update(ex)
        queues = self.longs if long else self.shorts
        found = queues.get(book.market)
        if found is None or found.mark != mark:
            found = Queue(ex, book, long, mark)
            queues[book.market] = found
        return found

    def _update(self, ex: Exchange) -> None:
        fresh = ex.dirty
        if fresh is not self.fresh:  # replaced by someone else: nothing known can be kept
            self.kept |= fresh
            self.fresh = set()
            ex.dirty = self.fresh
            self._drop()
            return
        marks = _marks(ex)
        if marks != self.marks:
            self.marks = marks
            self._drop()
        if not fresh:
            return
        for queues in (self.longs, self.shorts):
            for found in queues.values():
                for aid in fresh:
                    found.refile(ex, aid)
        self.kept |= fresh
        fresh.clear()

    def _drop(self) -> None:
        self.longs.clear()
        self.shorts.clear()

    def close(self, ex: Exchange) -> None:
        """The second is over: `ex.dirty` is again every account marked since the last sweep."""
        kept = self.kept
        kept |= ex.dirty
        ex.dirty = kept
        self.fresh = set()
        self._drop()
