"""The exchange's rolling 24-hour volume: USD traded on its books, per market and in total.

The rule, which anyone can apply to the public trades and must get the same number:

- a trade counts once (not once per side), for its USD value: price x size, exactly (the engine's
  `lots x ticks x tick_value` USD atoms of the fill);
- a trade belongs to the minute of its time: `minute = ts // 60_000_000` (ts in microseconds since
  the epoch, UTC; the trade's `time` as the API shows it, floored to the minute);
- the 24-hour volume at a time `ts` is the sum over the trades whose minute `m` satisfies
  `minute(ts) - 1440 < m <= minute(ts)`: the current minute (the part of it traded so far) and
  the 1,439 whole minutes before it. `window(ts)` gives those bounds, first and last minute
  included.

Our choice: minute resolution. The window moves a minute at a time, so a figure read at any second
of a minute is the same as at its first second plus what traded since; a consumer that records
`window(ts)` has recorded exactly which trades it counted. Only trades on the order books count
(futures and spot markets alike); what changes hands off the books (the OTC desk's converts, token
creations and redemptions, a product's pool) is not trading volume here.

The state is per book (book.py): the current minute and its USD atoms, and the earlier minutes of
the window that had trades, oldest first, with their running sum. A fill costs one integer
division, a compare and an add (exchange.py `_fill`); when the minute changes, `roll_minute` closes
the old one and drops the minutes that left the window. Reading never changes the state (a read at
one moment cannot change the state hash): `rolling_24h` subtracts the minutes that have left the
window since the book's last fill. The canonical form (state.py) holds only the minutes inside the
window at the exchange's time, so stale minutes do not linger in the hash, and a book whose window
is empty adds nothing to it (a form written before the window existed restores it empty).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange

MINUTE_US: Final = 60 * 1_000_000
WINDOW_MINUTES: Final = 1_440
"""The window: the current minute and the 1,439 before it (24 hours)."""


def minute_of(ts: int) -> int:
    """The minute a time (microseconds since the epoch) falls in."""
    return ts // MINUTE_US


def window(ts: int) -> tuple[int, int]:
    """(first minute, last minute), both included, of the 24-hour window at `ts`; a minute `m`
    starts at `m x 60,000,000` us."""
    last = ts // MINUTE_US
    return last - WINDOW_MINUTES + 1, last


def out_of_window(ts: int, at: int) -> bool:
    """Whether every trade at or before `ts` is out of the 24-hour window at `at`."""
    return ts // MINUTE_US <= at // MINUTE_US - WINDOW_MINUTES


def roll_minute(book: Book, minute: int) -> None:
    """Close the book's current minute and start `minute` (the fill path, only when the minute
    changed): the closed minute joins the earlier ones if it had trades, and the minutes that are
    out of the window at `minute` are dropped."""
    atoms = book.volume_minute_atoms
    earlier = book.volume_minutes
    if atoms:
        earlier.append((book.volume_minute, atoms))
        book.volume_window += atoms
    book.volume_minute = minute
    book.volume_minute_atoms = 0
    out = minute - WINDOW_MINUTES  # this minute and those before it are out
    while earlier and earlier[0][0] <= out:
        book.volume_window -= earlier.popleft()[1]


def rolling_24h(book: Book, ts: int) -> int:
    """USD atoms traded on `book` in the minutes `m` with `minute(ts) - 1440 < m <= minute(ts)`.
    `ts` may not be earlier than the minute of the book's last fill (the window would have to
    leave out trades the state no longer tells apart): ValueError. Reads only."""
    minute = ts // MINUTE_US
    if minute < book.volume_minute:
        raise ValueError(
            f"the 24-hour volume at minute {minute}, before the last trade's {book.volume_minute}"
        )
    out = minute - WINDOW_MINUTES
    total = book.volume_window
    if book.volume_minute > out:
        total += book.volume_minute_atoms
    for m, atoms in book.volume_minutes:  # oldest first: the minutes left since the last fill
        if m > out:
            break
        total -= atoms
    return total


def exchange_24h(ex: Exchange, ts: int) -> tuple[int, dict[str, int]]:
    """(total, {market: USD atoms}) of the exchange's 24-hour volume at `ts` (every market, 0 for one
    without trades in the window; the total is their sum); `window(ts)` is the window it used. `ts`
    at or after the exchange's time (`ex.now`) is always valid."""
    by_market = {book.market: rolling_24h(book, ts) for book in ex.book_list}
    return sum(by_market.values()), by_market


def from_trades(trades: Iterable[tuple[int, int]], ts: int) -> int:
    """The same figure recomputed from (trade ts in us, USD atoms) pairs, as anyone can from the
    public trades: the definition `rolling_24h` keeps incrementally."""
    first, last = window(ts)
    return sum(atoms for at, atoms in trades if first <= at // MINUTE_US <= last)


def canonical(book: Book, now: int) -> list[tuple[int, int]]:
    """(minute, USD atoms) of each minute with trades inside the window at `now`, oldest first, the
    current minute last; [] when there are none. Minutes already out of the window at `now` can
    never count again (time does not run backwards), so they are left out."""
    out = now // MINUTE_US - WINDOW_MINUTES
    minutes = [(m, atoms) for m, atoms in book.volume_minutes if m > out]
    if book.volume_minute_atoms and book.volume_minute > out:
        minutes.append((book.volume_minute, book.volume_minute_atoms))
    return minutes


def restore(book: Book, minutes: Any) -> None:
    """Put a window's canonical form back: its last minute becomes the current one."""
    pairs = [(int(m), int(atoms)) for m, atoms in minutes]
    if not pairs:
        return
    book.volume_minute, book.volume_minute_atoms = pairs[-1]
    book.volume_minutes = deque(pairs[:-1])
    book.volume_window = sum(atoms for _, atoms in pairs[:-1])
