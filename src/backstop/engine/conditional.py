"""Conditional (trigger) orders: stop, take-profit and trailing stop, market or limit.

They stay off the book and reserve nothing until they fire. Each clock tick, before the risk
sweep (so a stop can still save an account), every open trigger order is checked against its
market's mark price (FTX's only choice and our default), or the last trade or the index if the
order asked for that:

- stop: a buy fires at price >= trigger, a sell at price <= trigger
- take-profit: a buy fires at price <= trigger, a sell at price >= trigger
- trailing stop: a sell follows the highest price since it was placed and fires at
  highest + trail_value (trail_value < 0); a buy follows the lowest, fires at lowest + trail_value

On firing it becomes an ordinary order through the same checks as any other. With
retryUntilFilled, a rejected or partly filled market order is tried again each tick for what is
left; without it, the first attempt is the only one.

Limits, checked on placing and on every modify: the size at most FTX's largest order
(MAX_ORDER_ATOMS, as for any order), the trigger and order prices and the trail at most MAX_ATOMS
USD atoms a coin (the bound on index prices), so everything a trigger order holds fits the
history's 64-bit columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.engine import errors
from backstop.engine.amounts import MAX_ATOMS, MAX_ORDER_ATOMS
from backstop.engine.commands import CancelConditional, ModifyConditional, PlaceConditional, PlaceOrder
from backstop.engine.events import (
    ConditionalCancelled,
    ConditionalModified,
    ConditionalPlaced,
    ConditionalTriggered,
    Event,
    Fill,
    OrderAccepted,
    Rejected,
)

if TYPE_CHECKING:
    from backstop.engine.book import Book
    from backstop.engine.exchange import Exchange

TYPES = ("stop", "take_profit", "trailing_stop")
SOURCES = ("mark", "last", "index")


FIELDS = (
    "account",
    "created",
    "error",
    "filled",
    "id",
    "market",
    "order_ids",
    "order_price",
    "reduce_only",
    "retry",
    "side",
    "size",
    "status",
    "trail_start",
    "trail_value",
    "trigger_by",
    "trigger_price",
    "triggered_at",
    "type",
)
"""A trigger order's state, in the order of its canonical form."""


class Conditional:
    __slots__ = FIELDS

    def __init__(self, id: int, c: PlaceConditional, trail_start: int | None) -> None:
        self.id = id
        self.account = c.account
        self.market = c.market
        self.side = c.side
        self.size = c.size
        self.type = c.type
        self.trigger_price = c.trigger_price
        self.order_price = c.order_price
        self.trail_value = c.trail_value
        self.trail_start = trail_start  # the extreme a trailing stop follows
        self.reduce_only = c.reduce_only
        self.retry = c.retry_until_filled
        self.trigger_by = c.trigger_by
        self.created = c.ts
        self.status = "open"  # open -> triggered | cancelled
        self.triggered_at: int | None = None
        self.order_ids: list[int] = []
        self.filled = 0
        self.error = ""

    def trigger_level(self) -> int | None:
        if self.type == "trailing_stop":
            if self.trail_start is None or self.trail_value is None:
                return None
            return self.trail_start + self.trail_value
        return self.trigger_price

    def canonical(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FIELDS)


def source_price(book: Book, source: str) -> int | None:
    if source == "last":
        return book.last
    if source == "index":
        return book.index
    return book.mark()


def _fires(order: Conditional, price: int) -> bool:
    level = order.trigger_level()
    if level is None:
        return False
    buy = order.side == "buy"
    if order.type == "take_profit":
        return price <= level if buy else price >= level
    return price >= level if buy else price <= level


def _check(ex: Exchange, c: PlaceConditional | Conditional, price: int | None) -> str:
    book = ex.books.get(c.market)
    if book is None:
        return errors.no_such_market(c.market)
    if c.side not in ("buy", "sell"):
        return errors.INVALID_SIDE
    info = book.info
    if c.size <= 0:
        return errors.SIZE_TOO_SMALL
    if c.size * info.lot_atoms > MAX_ORDER_ATOMS:
        return errors.SIZE_TOO_LARGE
    if c.type not in TYPES:
        return errors.INVALID_TYPE
    if c.trigger_by not in SOURCES:
        return "Invalid parameter triggerBy"
    if c.order_price is not None and not 0 < c.order_price * info.tick_atoms <= MAX_ATOMS:
        return errors.INVALID_PRICE
    if c.trigger_price is not None and c.trigger_price * info.tick_atoms > MAX_ATOMS:
        return "Invalid parameter triggerPrice"
    if c.reduce_only and info.is_spot:
        return errors.SPOT_REDUCE_ONLY
    if book.closed:
        return errors.MARKET_CLOSED
    buy = c.side == "buy"
    if c.type == "trailing_stop":
        if c.trail_value is None or c.trail_value == 0 or (c.trail_value > 0) != buy:
            return "Invalid parameter trailValue"
        if abs(c.trail_value) * info.tick_atoms > MAX_ATOMS:
            return "Invalid parameter trailValue"
        return ""
    if c.trigger_price is None or c.trigger_price <= 0:
        return "Invalid parameter triggerPrice"
    if price is not None:  # a trigger that would fire at once is on the wrong side
        stop = c.type == "stop"
        if buy == stop and c.trigger_price <= price:
            return errors.TRIGGER_TOO_LOW
        if buy != stop and c.trigger_price >= price:
            return errors.TRIGGER_TOO_HIGH
    return ""


def place(ex: Exchange, c: PlaceConditional, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if acct.liquidation:
        return [Rejected(errors.NOT_ENOUGH_MARGIN)]
    book = ex.books.get(c.market)
    price = source_price(book, c.trigger_by) if book is not None else None
    err = _check(ex, c, price)
    if err:
        return [Rejected(err)]
    order = Conditional(ex.next_trigger_id, c, price if c.type == "trailing_stop" else None)
    ex.next_trigger_id += 1
    add(ex, order)
    return [
        ConditionalPlaced(
            order.id,
            acct.id,
            c.market,
            c.side,
            c.size,
            c.type,
            c.trigger_price,
            c.order_price,
            c.trail_value,
            c.reduce_only,
            c.retry_until_filled,
            c.trigger_by,
            ts,
        )
    ]


def owned(ex: Exchange, account: int, order_id: int) -> tuple[Conditional | None, str]:
    """The account's open trigger order `order_id`, or None and why not (FTX's string). A read:
    the API asks it before sending a cancel or modify that could only be refused."""
    if ex.account(account) is None:
        return None, errors.NO_SUCH_SUBACCOUNT
    order = ex.conditionals.get(order_id)
    if order is None or order.account != account:
        return (
            None,
            errors.ORDER_ALREADY_CLOSED if order_id in ex.closed_conditionals else errors.ORDER_NOT_FOUND,
        )
    return order, ""


def cancel(ex: Exchange, c: CancelConditional, ts: int) -> list[Event]:
    order, err = owned(ex, c.account, c.order_id)
    if order is None:
        return [Rejected(err)]
    events: list[Event] = []
    close(ex, order, "cancelled", ts, events)
    return events


def add(ex: Exchange, order: Conditional) -> None:
    """File an open trigger order, by id and under its account (ids only grow, so an account's
    come in id order; a restore adds them in id order too)."""
    ex.conditionals[order.id] = order
    mine = ex.conditionals_of.get(order.account)
    if mine is None:
        mine = ex.conditionals_of[order.account] = {}
    mine[order.id] = None


def _drop(ex: Exchange, order: Conditional) -> None:
    del ex.conditionals[order.id]
    mine = ex.conditionals_of[order.account]
    del mine[order.id]
    if not mine:
        del ex.conditionals_of[order.account]


def close(ex: Exchange, order: Conditional, reason: str, ts: int, events: list[Event]) -> None:
    order.status = "cancelled"
    _drop(ex, order)
    remember(ex, order.id)
    events.append(ConditionalCancelled(order.id, order.account, order.market, reason, ts))


def cancel_for(
    ex: Exchange,
    account: int,
    market: str | None,
    side: str | None,
    reason: str,
    ts: int,
    events: list[Event],
) -> None:
    """Cancel `account`'s conditional orders (in `market`, on `side`, when given), in id order.
    Each liquidation asks: only the account's own are looked at (`Exchange.conditionals_of`)."""
    ids = ex.conditionals_of.get(account)
    if ids is None:
        return
    conditionals = ex.conditionals
    mine = [
        oid
        for oid in ids
        if (market is None or conditionals[oid].market == market)
        and (side is None or conditionals[oid].side == side)
    ]
    for oid in mine:
        close(ex, conditionals[oid], reason, ts, events)


def modify(ex: Exchange, c: ModifyConditional, ts: int) -> list[Event]:
    order, err = owned(ex, c.account, c.order_id)
    if order is None:
        return [Rejected(err)]
    if c.size is None and c.trigger_price is None and c.order_price is None and c.trail_value is None:
        return [Rejected(errors.MUST_MODIFY)]
    if c.size is not None and c.size <= order.filled:
        return [Rejected(errors.INVALID_SIZE)]  # at or below what a retrying order already filled
    saved = (order.size, order.trigger_price, order.order_price, order.trail_value)
    if c.size is not None:
        order.size = c.size
    if c.trigger_price is not None:
        order.trigger_price = c.trigger_price
    if c.order_price is not None:
        order.order_price = c.order_price
    if c.trail_value is not None:
        order.trail_value = c.trail_value
    book = ex.books[order.market]
    err = _check(ex, order, source_price(book, order.trigger_by))
    if err:
        order.size, order.trigger_price, order.order_price, order.trail_value = saved
        return [Rejected(err)]
    return [
        ConditionalModified(
            order.id, order.account, order.size, order.trigger_price, order.order_price, order.trail_value, ts
        )
    ]


def on_tick(ex: Exchange, ts: int, events: list[Event]) -> None:
    if not ex.conditionals:
        return
    for oid in sorted(ex.conditionals):
        order = ex.conditionals.get(oid)
        if order is None:
            continue
        book = ex.books[order.market]
        if book.closed:
            close(ex, order, "market closed", ts, events)
            continue
        price = source_price(book, order.trigger_by)
        if price is None:
            continue
        if order.type == "trailing_stop":
            start = order.trail_start
            if start is None or (price > start if order.side == "sell" else price < start):
                order.trail_start = price
        if order.triggered_at is None and not _fires(order, price):
            continue
        _fire(ex, order, price, ts, events)


def _fire(ex: Exchange, order: Conditional, price: int, ts: int, events: list[Event]) -> None:
    first = order.triggered_at is None
    if first:
        order.triggered_at = ts
    left = order.size - order.filled
    command = PlaceOrder(
        ts,
        order.account,
        order.market,
        order.side,
        left,
        order.order_price,
        "market" if order.order_price is None else "limit",
        False,
        False,
        order.reduce_only,
        None,
    )
    produced = ex.place_order(command, ts)
    head = produced[0]
    if isinstance(head, Rejected):
        if first or head.error != order.error:  # retries that fail the same way stay quiet
            events.append(
                ConditionalTriggered(order.id, order.account, order.market, price, -1, head.error, ts)
            )
        order.error = head.error
        if not order.retry or head.error == errors.INVALID_REDUCE_ONLY:  # that one cannot recover
            _finish(ex, order)
        return
    assert isinstance(head, OrderAccepted)
    order_id = head.order_id
    order.order_ids.append(order_id)
    order.error = ""
    events.append(ConditionalTriggered(order.id, order.account, order.market, price, order_id, "", ts))
    events += produced
    filled = sum(e.size for e in produced if isinstance(e, Fill) and e.taker_order == order_id)
    order.filled += filled
    # a limit order rests and is the account's to manage; a market order's unfilled rest is
    # retried next tick when asked to
    if order.order_price is not None or not order.retry or order.filled >= order.size:
        _finish(ex, order)


def _finish(ex: Exchange, order: Conditional) -> None:
    order.status = "triggered"
    _drop(ex, order)
    remember(ex, order.id)


RECENT = 10_000


def remember(ex: Exchange, order_id: int) -> None:
    """Closed trigger-order ids are remembered for a while, to answer "Order already closed"."""
    recent = ex.closed_conditionals
    recent[order_id] = None
    if len(recent) >= 2 * RECENT:
        ex.closed_conditionals = dict.fromkeys(list(recent)[-RECENT:])
