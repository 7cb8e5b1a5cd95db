"""Events to rows: what one batch of commands adds to and changes in the projection's tables.

A batch is staged in memory first (plain tuples, one list per table), then written in one
transaction. Orders change after they are inserted (fills, resizes, closing), so the rows of open
orders are kept in memory (`open_orders`: no more than the engine itself keeps open; one still
open from before a restart is read from the database the first time an event names it) and a
changed order is written with its new absolute values: no arithmetic in SQL, so exact integers
beyond 64 bits need nothing from the database. An order accepted and closed within the batch is
inserted once, in its final state.

The same few functions turn events into an order's row here and in the API's answer to a write
(`order_from_events`): what a client is told about its order and what the history says of it
come from one fold of the engine's events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, NamedTuple

from backstop.engine import events as ev
from backstop.engine.orders import Order
from backstop.projections import schema
from backstop.projections.schema import Table

Row = tuple[Any, ...]
OrderRow = list[Any]
"""An order's columns in the order of `schema.ORDERS` (mutable while it is open)."""


class Update(NamedTuple):
    sql: str  # with ? placeholders
    rows: list[Row]
    bigs: tuple[int, ...]  # positions of `big` values among each row's parameters


# positions in schema.ORDERS
O_ID, O_FILLED, O_REMAINING, O_FILL_VALUE, O_STATUS, O_REASON, O_CLOSED = 0, 7, 8, 9, 10, 11, 17
assert schema.ORDERS.names[O_FILL_VALUE] == "fill_value" and schema.ORDERS.names[O_CLOSED] == "closed_us"
ORDER_UPDATE = (
    "UPDATE orders SET filled = ?, remaining = ?, fill_value = ?, status = ?, close_reason = ?, "
    "closed_us = ? WHERE id = ?"
)
CONDITIONAL_MODIFIED = (
    "UPDATE conditional_orders SET size = ?, trigger_price = ?, order_price = ?, trail_value = ? WHERE id = ?"
)
CONDITIONAL_TRIGGERED = (
    "UPDATE conditional_orders SET status = 'triggered', triggered_us = COALESCE(triggered_us, ?), "
    "order_id = COALESCE(?, order_id), error = ? WHERE id = ? AND status <> 'cancelled'"
)
CONDITIONAL_CANCELLED = (
    "UPDATE conditional_orders SET status = 'cancelled', closed_us = ?, cancel_reason = ? WHERE id = ?"
)

LOGGED_TABLES: dict[type, Table] = {
    ev.Deposited: schema.DEPOSITS,
    ev.Withdrawn: schema.WITHDRAWALS,
    ev.Transferred: schema.TRANSFERS,
    ev.FundingRate: schema.FUNDING_RATES,
    ev.FundingPaid: schema.FUNDING_PAYMENTS,
    ev.LiquidationOrder: schema.LIQUIDATION_ORDERS,
    ev.AutoClosed: schema.AUTO_CLOSES,
    ev.ClawedBack: schema.CLAWBACKS,
    ev.InsuranceFundChanged: schema.INSURANCE_FUND,
    ev.PositionSettled: schema.POSITION_SETTLEMENTS,
    ev.MarketSettled: schema.EXPIRATIONS,
}
"""Events kept as they are: a row of (seq, n, the event's fields named as the table's columns)."""
Logged = dict[type, tuple[str, Callable[[Any], Row]]]
"""Event class -> (its table, the row's fields after seq and n, read off the event)."""


def _one(get: Callable[[Any], Any]) -> Callable[[Any], Row]:
    return lambda event: (get(event),)


def logged(tables: dict[type, Table]) -> Logged:
    out: Logged = {}
    for kind, table in tables.items():
        fields = table.names[2:]
        get: Callable[[Any], Row] = attrgetter(*fields)
        if len(fields) == 1:  # attrgetter of one name gives the value, not a tuple
            get = _one(attrgetter(fields[0]))
        out[kind] = (table.name, get)
    return out


LOGGED = logged(LOGGED_TABLES)


class Staged:
    """One batch's rows, ready to write. `open_orders` is changed in place as events arrive (the
    caller reloads it from the database if the write then fails)."""

    def __init__(
        self,
        open_orders: dict[int, OrderRow],
        load: Callable[[int], OrderRow | None],
        tables: tuple[Table, ...] = schema.TABLES,
        kept: Logged = LOGGED,
    ) -> None:
        """`tables` every table written (the core's and the products'), `kept` the events kept as
        rows as they are (the core's `LOGGED` and the products' `History.logged`)."""
        self.open_orders = open_orders
        self.load = load  # an open order's row from the database (open before a restart)
        self.tables = tables
        self.kept = kept
        self.rows: dict[str, list[Row]] = {t.name: [] for t in tables}
        self.new_orders: dict[int, OrderRow] = {}
        self.changed_orders: dict[int, OrderRow] = {}
        self.closed_orders: list[int] = []
        self.modified: list[Row] = []
        self.triggered: list[Row] = []
        self.cancelled: list[Row] = []
        self.count = 0  # rows written, for throughput figures

    def add(self, seq: int, events: Sequence[object]) -> None:
        """The events of the command with journal number `seq`. Events the projection does not
        keep (index updates, leverage, halts, backstop registrations...) are skipped. Typed as
        objects: products' events are NamedTuples, not `Event`s, and the compiled writer checks
        what it declares."""
        rows = self.rows
        kept = self.kept
        for n, event in enumerate(events):
            kind = type(event)
            found = kept.get(kind)
            if found is not None:
                rows[found[0]].append((seq, n, *found[1](event)))
                continue
            handler = HANDLERS.get(kind)
            if handler is not None:
                handler(self, seq, n, event)

    # ----------------------------------------------------------------------------- orders

    def _accepted(self, seq: int, n: int, e: ev.OrderAccepted) -> None:
        row = order_row(e)
        self.new_orders[e.order_id] = row
        self.open_orders[e.order_id] = row

    def _touch(self, order_id: int) -> OrderRow | None:
        row = self.open_orders.get(order_id)
        if row is None:
            row = self.load(order_id)
            if row is None:
                return None
            self.open_orders[order_id] = row
        if order_id not in self.new_orders:
            self.changed_orders[order_id] = row
        return row

    def _fill(self, seq: int, n: int, e: ev.Fill) -> None:
        trade_id = e.trade_id
        market = e.market
        price = e.price
        size = e.size
        ts = e.ts
        liquidation = e.liquidation
        taker_side = e.taker_side
        rows = self.rows
        rows["trades"].append((trade_id, market, price, size, taker_side, liquidation, ts))
        fills = rows["fills"]
        fills.append(
            (
                trade_id * 2,
                trade_id,
                e.taker_account,
                e.taker_order,
                market,
                taker_side,
                price,
                size,
                "taker",
                e.taker_fee,
                e.taker_fee_coin,
                e.taker_realized,
                liquidation,
                ts,
            )
        )
        fills.append(
            (
                trade_id * 2 + 1,
                trade_id,
                e.maker_account,
                e.maker_order,
                market,
                "sell" if taker_side == "buy" else "buy",
                price,
                size,
                "maker",
                e.maker_fee,
                e.maker_fee_coin,
                e.maker_realized,
                liquidation,
                ts,
            )
        )
        value = size * price
        for order_id in (e.taker_order, e.maker_order):
            row = self._touch(order_id)
            if row is not None:
                fill_order(row, size, value)

    def _closed(self, seq: int, n: int, e: ev.OrderClosed) -> None:
        row = self._touch(e.order_id)
        if row is None:
            return
        close_order(row, e)
        self.closed_orders.append(e.order_id)

    def _resized(self, seq: int, n: int, e: ev.OrderResized) -> None:
        row = self._touch(e.order_id)
        if row is not None:
            row[O_REMAINING] = e.remaining

    # ----------------------------------------------------------------------------- the rest

    def _account(self, seq: int, n: int, e: ev.AccountCreated) -> None:
        self.rows["accounts"].append((e.account, e.owner, e.subaccount))

    def _liquidation_started(self, seq: int, n: int, e: ev.LiquidationStarted) -> None:
        self.rows["liquidations"].append(
            (seq, n, e.account, "started", e.step, None, e.mf, e.mmf, e.acmf, e.tav, e.notional, e.ts)
        )

    def _liquidation_ended(self, seq: int, n: int, e: ev.LiquidationEnded) -> None:
        self.rows["liquidations"].append(
            (seq, n, e.account, "ended", None, e.reason, e.mf, None, None, None, None, e.ts)
        )

    def _conditional_placed(self, seq: int, n: int, e: ev.ConditionalPlaced) -> None:
        self.rows["conditional_orders"].append(conditional_row(e))

    def _conditional_triggered(self, seq: int, n: int, e: ev.ConditionalTriggered) -> None:
        order_id = None if e.order_id < 0 else e.order_id
        error = e.error or None
        self.rows["conditional_triggers"].append(
            (seq, n, e.trigger_id, e.account, e.market, e.price, order_id, error, e.ts)
        )
        self.triggered.append((e.ts, order_id, error, e.trigger_id))

    def _conditional_cancelled(self, seq: int, n: int, e: ev.ConditionalCancelled) -> None:
        self.cancelled.append((e.ts, e.reason, e.trigger_id))

    def _conditional_modified(self, seq: int, n: int, e: ev.ConditionalModified) -> None:
        self.modified.append((e.size, e.trigger_price, e.order_price, e.trail_value, e.trigger_id))

    # ----------------------------------------------------------------------------- the write

    def statements(self) -> tuple[list[tuple[Table, list[Row]]], list[Update]]:
        """(inserts per table, updates) in the order they must run."""
        orders = self.rows["orders"]
        orders.extend(tuple(row) for row in self.new_orders.values())
        inserts = [(t, self.rows[t.name]) for t in self.tables if self.rows[t.name]]
        updates: list[Update] = []
        if self.changed_orders:
            rows = [
                (r[O_FILLED], r[O_REMAINING], r[O_FILL_VALUE], r[O_STATUS], r[O_REASON], r[O_CLOSED], r[O_ID])
                for r in self.changed_orders.values()
            ]
            updates.append(Update(ORDER_UPDATE, rows, (2,)))
        # a trigger order placed in this batch is inserted above, before any of these; the order
        # of the three is the only one their events can come in for one trigger order
        for sql, changes in (
            (CONDITIONAL_MODIFIED, self.modified),
            (CONDITIONAL_TRIGGERED, self.triggered),
            (CONDITIONAL_CANCELLED, self.cancelled),
        ):
            if changes:
                updates.append(Update(sql, changes, ()))
        self.count = sum(len(rows) for _, rows in inserts) + sum(len(u.rows) for u in updates)
        return inserts, updates

    def settle(self) -> None:
        """After the write committed: closed orders leave the open set."""
        open_orders = self.open_orders
        for order_id in self.closed_orders:
            open_orders.pop(order_id, None)


# ----------------------------------------------------------------------------- an order's row


def order_row(e: ev.OrderAccepted) -> OrderRow:
    """An order's row as it is accepted."""
    return [
        e.order_id,
        e.account,
        e.market,
        e.side,
        e.type,
        e.price,
        e.size,
        0,
        e.size,
        0,
        "open",  # FTX's "new" lasts only until the command is done: by then it rests or is closed
        None,
        e.reduce_only,
        e.ioc,
        e.post_only,
        e.client_id,
        e.ts,
        None,
        e.liquidation,
    ]


def conditional_row(e: ev.ConditionalPlaced) -> Row:
    """A trigger order's row (`schema.CONDITIONAL_ORDERS`) as it is placed."""
    return (
        e.order_id,
        e.account,
        e.market,
        e.side,
        e.size,
        e.type,
        e.trigger_price,
        e.order_price,
        e.trail_value,
        e.reduce_only,
        e.retry_until_filled,
        e.trigger_by,
        "open",
        e.ts,
        None,
        None,
        None,
        None,
        None,
    )


def open_order_row(order: Order) -> OrderRow:
    """A resting order's row from the engine's state: the row its events have made so far."""
    return [
        order.id,
        order.account,
        order.market,
        order.side,
        order.type,
        order.price,
        order.size,
        order.filled,
        order.remaining,
        order.fill_value,
        "open",
        None,
        order.reduce_only,
        order.ioc,
        order.post_only,
        order.client_id,
        order.created,
        None,
        order.liquidation,
    ]


def fill_order(row: OrderRow, size: int, value: int) -> None:
    """`size` lots of the order filled, worth `value` (lots x price ticks)."""
    row[O_FILLED] += size
    row[O_REMAINING] -= size
    row[O_FILL_VALUE] += value


def close_order(row: OrderRow, e: ev.OrderClosed) -> None:
    row[O_FILLED] = e.filled  # the engine's count is the truth
    row[O_REMAINING] = 0
    row[O_STATUS] = "closed"
    row[O_REASON] = e.reason
    row[O_CLOSED] = e.ts


def order_from_events(events: Sequence[object], order_id: int) -> OrderRow | None:
    """The row of order `order_id`, accepted among `events` (one command's, in order), as the
    events leave it; None if it was not accepted there. An order's whole life up to the end of
    the command that placed it is in that command's events, so this is the order as the engine
    holds it then, resting or closed."""
    row: OrderRow | None = None
    for e in events:
        if isinstance(e, ev.OrderAccepted):
            if e.order_id == order_id:
                row = order_row(e)
        elif row is None:
            continue
        elif isinstance(e, ev.Fill):
            if e.taker_order == order_id or e.maker_order == order_id:
                fill_order(row, e.size, e.size * e.price)
        elif isinstance(e, ev.OrderClosed):
            if e.order_id == order_id:
                close_order(row, e)
        elif isinstance(e, ev.OrderResized) and e.order_id == order_id:
            row[O_REMAINING] = e.remaining
    return row


HANDLERS: dict[type, Callable[[Staged, int, int, Any], None]] = {
    ev.OrderAccepted: Staged._accepted,
    ev.Fill: Staged._fill,
    ev.OrderClosed: Staged._closed,
    ev.OrderResized: Staged._resized,
    ev.AccountCreated: Staged._account,
    ev.LiquidationStarted: Staged._liquidation_started,
    ev.LiquidationEnded: Staged._liquidation_ended,
    ev.ConditionalPlaced: Staged._conditional_placed,
    ev.ConditionalTriggered: Staged._conditional_triggered,
    ev.ConditionalCancelled: Staged._conditional_cancelled,
    ev.ConditionalModified: Staged._conditional_modified,
}
