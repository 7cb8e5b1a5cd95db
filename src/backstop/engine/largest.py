"""The largest positions of a market, longs and shorts apart: FTX's last resort without a scan.

When the backstop liquidity providers cannot take all of an auto-close, the rest goes to the 10
largest opposing positions (more if they are not enough), pro rata to size
(liquidation._top_opposing). The rule the selection ranks them by: the larger position first, at
equal size the older account (the smaller id). Scanning every holder of the market for each
auto-close made a cascade cost liquidations x holders; this index makes it cost the positions
looked at.

Our choice: each market keeps two heaps, its longs and its shorts, of single integers
-|size| << ACCOUNT_BITS | account id (as the at-risk index does, risk.py), so the smallest entry
is the position the selection takes first, and heap order is the selection's order exactly.
`settlement.settle` (fills and liquidation transfers: the only place a size changes while the
engine runs) only notes the account in the market's set of moved positions, one set insertion per
fill side; the next selection first files the current entry of each moved position (so a market
maker that traded ten thousand times since costs one entry, and the set never holds more than the
accounts). The entries they replace stay behind and are dropped when they reach the top: an entry
is current while the account holds that size on that side (`Book.holders`). A position that came
back to an earlier size may have that entry twice; equal entries leave the heap one after the
other, and the second is dropped. When the heaps hold more than twice the holders (plus some
slack) they are rebuilt from the holders, so memory stays bounded and each rebuild is paid for by
the entries filed before it. A selection's cost is then the positions that moved since the last
one and the entries it pops (O(log holders) each), never a pass over the holders.

A market's index is built on its first selection (one pass over its holders) and kept from then
on: a market that never reaches the last resort pays one test per fill. It is a cache, not state:
expiry drops it with the positions, a restored engine builds it again on its first selection,
and the selection is the same either way.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Final

from backstop.engine.risk import ACCOUNT_BITS, ACCOUNT_MASK

if TYPE_CHECKING:
    from backstop.engine.accounts import Position
    from backstop.engine.book import Book

SLACK: Final = 1024  # stale entries tolerated beyond the holders before a rebuild


class Largest:
    """A market's longs and shorts, each a heap of -|size| << ACCOUNT_BITS | account id, and the
    accounts whose position moved since the heaps were brought up to date."""

    __slots__ = ("longs", "moved", "shorts")

    def __init__(self, holders: dict[int, Position]) -> None:
        self.longs: list[int] = []
        self.shorts: list[int] = []
        self.moved: set[int] = set()
        self.rebuild(holders)

    def rebuild(self, holders: dict[int, Position]) -> None:
        """Every holder's current entry, and nothing stale."""
        longs: list[int] = []
        shorts: list[int] = []
        for aid, pos in holders.items():
            size = pos.size
            if size > 0:
                longs.append(-size << ACCOUNT_BITS | aid)
            elif size < 0:
                shorts.append(size << ACCOUNT_BITS | aid)
        heapify(longs)
        heapify(shorts)
        self.longs = longs
        self.shorts = shorts
        self.moved.clear()

    def catch_up(self, holders: dict[int, Position]) -> None:
        """File the current entry of every position that moved since the last call."""
        moved = self.moved
        if not moved:
            return
        if len(moved) + len(self.longs) + len(self.shorts) > 2 * len(holders) + SLACK:
            self.rebuild(holders)
            return
        longs = self.longs
        shorts = self.shorts
        for aid in moved:
            pos = holders.get(aid)
            if pos is not None:  # closed otherwise: its entries are stale
                size = pos.size
                if size > 0:
                    heappush(longs, -size << ACCOUNT_BITS | aid)
                else:
                    heappush(shorts, size << ACCOUNT_BITS | aid)
        moved.clear()

    def pop(self, longs: bool, holders: dict[int, Position], last: int) -> int:
        """Take the next current entry off the longs' (or the shorts') heap, dropping the stale
        ones and a repeat of `last` (the entry taken before); 0 when the side is exhausted (every
        entry is negative). The caller puts back what it took (`put_back`)."""
        heap = self.longs if longs else self.shorts
        while heap:
            entry = heappop(heap)
            if entry == last:
                continue  # the same size filed twice
            pos = holders.get(entry & ACCOUNT_MASK)
            if pos is None:
                continue  # closed since
            # the size it was filed at (keys are negative, so a position that changed sides never
            # matches the other side's entry)
            if (-pos.size if longs else pos.size) == entry >> ACCOUNT_BITS:
                return entry
        return 0

    def put_back(self, longs: bool, entries: list[int]) -> None:
        heap = self.longs if longs else self.shorts
        for entry in entries:
            heappush(heap, entry)

    def entries(self) -> int:
        return len(self.longs) + len(self.shorts)


def largest(book: Book) -> Largest:
    """The market's index of its largest positions, up to date: built on first use, then brought
    up to date with the positions that moved since."""
    kept = book.largest
    if kept is None:
        kept = Largest(book.holders)
        book.largest = kept
    else:
        kept.catch_up(book.holders)
    return kept
