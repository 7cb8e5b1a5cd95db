"""Expiry of dated futures (help.ftx.com 360027668752).

From 02:00 to 03:00 UTC on expiry day the index is sampled every tick, weighted by the seconds it
stood; at 03:00 the market settles to that TWAP: open orders are cancelled, every position closes
to USD at the settlement price (realized PnL credited), and the market takes no more orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine.book import Book
from backstop.engine.events import Event, MarketSettled, PositionSettled

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
            seconds = (end - start) // 1_000_000
            if seconds > 0:
                book.expiry_sum += book.index * seconds
                book.expiry_seconds += seconds
        if ts >= expiry:
            settle_market(ex, book, ts, events)


def settlement_price(book: Book) -> int | None:
    if book.expiry_seconds:
        total = book.expiry_sum
        return (total + book.expiry_seconds // 2) // book.expiry_seconds
    if book.index is not None:
        return book.index
    return book.mark()


def settle_market(ex: Exchange, book: Book, ts: int, events: list[Event]) -> None:
    price = settlement_price(book)
    if price is None:
        return  # nothing ever priced it, so nobody can hold it either
    for order in book.bids.orders() + book.asks.orders():
        ex.cancel_order(ex.accounts[order.account], order, "expired", ts, events)
    tick_value = book.info.tick_value
    for aid in sorted(book.holders):
        acct = ex.accounts[aid]
        pos = book.holders[aid]
        size = pos.size
        realized = size * price * tick_value - pos.cost
        acct.credit(USD, realized)
        pos.realized += realized
        pos.size = 0
        pos.cost = 0
        ex.dirty.add(aid)
        events.append(PositionSettled(aid, book.market, size, price, realized, ts))
    book.holders.clear()
    book.last = price
    book.closed = True
    book.stale = True
    events.append(MarketSettled(book.market, price, ts))
