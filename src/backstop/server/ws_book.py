"""FTX's websocket `orderbook` channel without the socket: frames, window diffs and the checksum.

A subscriber sees the top `DEPTH` (100) levels per side: first a `partial` frame with all of them,
then `update` frames with only the levels that changed, sizes absolute, size 0 for a level that
left. Each frame carries the crc32 of the interleaved top 100 after applying it (`checksum`).

The window is what the client holds. A level that leaves the top 100 because a better one arrived
is sent with size 0, and a level that comes back into the window (a better one left) is sent with
its size, exactly as if it were new. So a client that keeps every level it is told about (ccxt.pro
keeps them all and trims to 100 only when `watch_order_book` returns; FTX's own client never trims)
holds exactly the server's top 100, and its checksum matches whether it trims or not.

Numbers arrive as exact Decimals and leave as JSON floats; the checksum formats each one as Python's
`str(float(x))`, which is what FTX did (`format_number`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstop.catalog import Market

DEPTH = 100
"""Levels per side in a partial, in the client's book and in the checksum."""

Level = tuple[Decimal, Decimal]
"""(price, size) of one level, exact."""

Frame = dict[str, Any]

_ZERO = Decimal(0)


def format_number(value: Decimal) -> str:
    """`value` as FTX's checksum writes it: Python's `str(float(value))`.

    Whole numbers keep a trailing `.0` (`39132.0`, `5.0`); others are the shortest decimal that reads
    back as the same float (`0.0962`); below 1e-4 Python switches to exponent form (`5e-05`,
    `2.5e-07`, `1e-08`), and from 1e16 up as well (`1e+16`).
    """
    return repr(float(value))


def ccxt_formats_alike(value: Decimal) -> bool:
    """Whether ccxt.pro 2.0.90 writes `value` in its checksum exactly as `format_number` does.

    ccxt uses `format(x, 'g')` below 1e-4 (6 significant digits at most) and `format(x, '.1f')` for
    whole numbers (no exponent from 1e16), so it disagrees on values below 1e-4 with more than 6
    significant digits and on whole values of 1e16 or more. A market whose prices or sizes can take
    such values fails ccxt's checksum; every increment that is a multiple of 1e-8 keeps sizes and
    prices below 1e-4 to at most 4 significant digits, so only absurdly large values are at risk.
    """
    x = float(value)
    if x < 1e-4:
        return format(x, "g") == repr(x)
    return x < 1e16 or not x.is_integer()


def checksum(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """FTX's orderbook checksum: unsigned crc32 of `bid0.price:bid0.size:ask0.price:ask0.size:...`
    over at most the first `DEPTH` levels of each side (bids best first, asks best first); where one
    side has no level at an index its two tokens are skipped. An empty book gives 0."""
    b = bids[:DEPTH]
    a = asks[:DEPTH]
    nb = len(b)
    na = len(a)
    tokens: list[str] = []
    for i in range(max(nb, na)):
        if i < nb:
            price, size = b[i]
            tokens.append(format_number(price))
            tokens.append(format_number(size))
        if i < na:
            price, size = a[i]
            tokens.append(format_number(price))
            tokens.append(format_number(size))
    return zlib.crc32(":".join(tokens).encode())


def levels(market: Market, depth: Iterable[tuple[int, int]]) -> list[Level]:
    """The engine's `Side.depth()` rows (ticks, lots) as exact (price, size) levels."""
    return [(market.price_of(ticks), market.size_of(lots)) for ticks, lots in depth]


def partial(market: str, bids: Sequence[Level], asks: Sequence[Level], time_s: float) -> Frame:
    """The `partial` frame of the top `DEPTH` levels of each side (best first)."""
    top_bids = _top(bids, descending=True)
    top_asks = _top(asks, descending=False)
    return _frame("partial", market, time_s, checksum(top_bids, top_asks), top_bids, top_asks)


def update(
    market: str,
    old_bids: Sequence[Level],
    old_asks: Sequence[Level],
    new_bids: Sequence[Level],
    new_asks: Sequence[Level],
    time_s: float,
) -> Frame | None:
    """The `update` frame taking a client from the old top `DEPTH` to the new one, or None when the
    window did not change (FTX sent nothing then).

    It carries the levels that are new or resized in the window with their size, and those that left
    it (deleted, or pushed past level 100 by better ones) with size 0; bids best first, asks best
    first. Changes beyond the window are not sent.
    """
    new_top_bids = _top(new_bids, descending=True)
    new_top_asks = _top(new_asks, descending=False)
    changed_bids = _diff(_top(old_bids, descending=True), new_top_bids, descending=True)
    changed_asks = _diff(_top(old_asks, descending=False), new_top_asks, descending=False)
    if not changed_bids and not changed_asks:
        return None
    crc = checksum(new_top_bids, new_top_asks)
    return _frame("update", market, time_s, crc, changed_bids, changed_asks)


class BookFeed:
    """The `orderbook` stream of one market: holds the top 100 last sent so that each engine batch
    turns into the partial (first time) or an update (None when the window did not move).

    One feed can serve all subscribers of a market: every update is a diff from the state last
    sent, so a new subscriber must get `snapshot()` of that same state, after the current book was
    fed (`frame()`, broadcasting its update to the others) and before the next `frame()`.
    """

    __slots__ = ("_asks", "_bids", "_sent", "market")

    def __init__(self, market: str) -> None:
        self.market = market
        self._bids: list[Level] = []
        self._asks: list[Level] = []
        self._sent = False

    @property
    def bids(self) -> list[Level]:
        """The top bids last sent (a copy), best first."""
        return list(self._bids)

    @property
    def asks(self) -> list[Level]:
        """The top asks last sent (a copy), best first."""
        return list(self._asks)

    def frame(self, bids: Sequence[Level], asks: Sequence[Level], time_s: float) -> Frame | None:
        """The frame bringing subscribers to this book (levels best first, any depth): a partial
        the first time, then an update, or None when the top 100 did not change."""
        new_bids = _top(bids, descending=True)
        new_asks = _top(asks, descending=False)
        if not self._sent:
            self._sent = True
            out: Frame | None = _frame(
                "partial", self.market, time_s, checksum(new_bids, new_asks), new_bids, new_asks
            )
        else:
            changed_bids = _diff(self._bids, new_bids, descending=True)
            changed_asks = _diff(self._asks, new_asks, descending=False)
            if not changed_bids and not changed_asks:
                return None
            crc = checksum(new_bids, new_asks)
            out = _frame("update", self.market, time_s, crc, changed_bids, changed_asks)
        self._bids = new_bids
        self._asks = new_asks
        return out

    def snapshot(self, time_s: float) -> Frame:
        """A partial of the state last sent (empty before any), for a subscriber joining this feed;
        the updates `frame()` returns next apply to it."""
        self._sent = True
        return _frame(
            "partial", self.market, time_s, checksum(self._bids, self._asks), self._bids, self._asks
        )

    def reset(self) -> None:
        """Forget what was sent: the next `frame()` is a partial (e.g. after a resubscribe)."""
        self._bids = []
        self._asks = []
        self._sent = False


def _top(side: Sequence[Level], *, descending: bool) -> list[Level]:
    """The first `DEPTH` levels, checked to be strictly ordered from the touch with positive sizes
    (the checksum depends on the order; a zero size would be a delete on the wire)."""
    top = list(side[:DEPTH])
    previous: Decimal | None = None
    for price, size in top:
        if size <= _ZERO:
            raise ValueError(f"orderbook level {price} has size {size}")
        if previous is not None and (price >= previous if descending else price <= previous):
            raise ValueError(f"orderbook levels out of order at {price} after {previous}")
        previous = price
    return top


def _diff(old: Sequence[Level], new: Sequence[Level], *, descending: bool) -> list[Level]:
    """Levels of `new` that are absent from or resized in `old`, and levels of `old` gone from `new`
    with size 0, ordered from the touch."""
    before = dict(old)
    after = dict(new)
    changed = [(price, _ZERO) for price in before if price not in after]
    changed.extend((price, size) for price, size in after.items() if before.get(price) != size)
    changed.sort(key=lambda level: level[0], reverse=descending)
    return changed


def _frame(
    kind: str, market: str, time_s: float, crc: int, bids: Sequence[Level], asks: Sequence[Level]
) -> Frame:
    return {
        "channel": "orderbook",
        "market": market,
        "type": kind,
        "data": {
            "time": float(time_s),
            "checksum": crc,
            "bids": [[float(price), float(size)] for price, size in bids],
            "asks": [[float(price), float(size)] for price, size in asks],
            "action": kind,
        },
    }
