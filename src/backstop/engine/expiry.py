"""Expiry of dated futures (help.ftx.com 360027668752).

From 02:00 to 03:00 UTC on expiry day the index is sampled every tick, weighted by the time it
stood (microseconds); at 03:00 the market settles to that TWAP: open orders are cancelled, every
position closes to USD at the settlement price (realized PnL credited), and the market takes no
more orders (from 03:00 on, even before the tick that settles it arrives).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.book import Book
from backstop.engine.events import Event, MarketSettled, PositionSettled
from backstop.engine.ledger import Moves

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

HOUR_US = 3_600 * 1_000_000


def on_tick(ex: Exchange, ts: int, dt: int, events: list[Event]) -> None:
    for book in ex.book_list:
        expiry = book.info.expiry_us
        if expiry is None or book.closed:
            continue
        if ts > expiry - HOUR_US and book.index is not None:
            start = max(ts - dt, expiry - HOUR_US)
            end = min(ts, expiry)
            if end > start:
                book.expiry_sum += book.index * (end - start)
                book.expiry_time += end - start
        if ts >= expiry:
            settle_market(ex, book, ts, events)


def settlement_price(book: Book) -> int | None:
    """The hour's TWAP of the index; without samples the index, else the last trade (None if
    nothing ever priced the market, and then nobody can hold a position in it either)."""
    if book.expiry_time:
        total = book.expiry_sum
        return (total + book.expiry_time // 2) // book.expiry_time
    if book.index is not None:
        return book.index
    return book.last


def settle_market(ex: Exchange, book: Book, ts: int, events: list[Event]) -> None:
    price = settlement_price(book)
    for order in book.bids.orders() + book.asks.orders():
        ex.cancel_order(ex.accounts[order.account], order, "expired", ts, events)
    tick_value = book.info.tick_value
    moves = Moves()  # every position closes to USD at once: the realized PnL sums to zero
    for aid in sorted(book.holders):
        assert price is not None  # a position means a trade, and a trade a last price
        pos = book.holders[aid]
        size = pos.size
        realized = size * price * tick_value - pos.cost
        moves.pay(aid, USD, realized).cost(aid, book.market, -pos.cost)
        pos.realized += realized
        pos.size = 0
        events.append(PositionSettled(aid, book.market, size, price, realized, ts))
    ledger.must(ex, moves, ts, events)
    book.holders.clear()
    book.largest = None  # nobody holds a position here any more (largest.py)
    book.last = price
    book.closed = True
    book.stale = True
    events.append(MarketSettled(book.market, price if price is not None else 0, ts))
