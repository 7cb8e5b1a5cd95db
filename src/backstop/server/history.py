"""Order and fill history for the API, kept from the engine's events (a projection: the engine
holds only open orders and a few recently closed ids).

Held in memory for now, bounded per account; the SQL projection (SQLite / PostgreSQL) that
survives restarts replaces it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from backstop.engine.commands import Command
from backstop.engine.events import (
    ConditionalCancelled,
    ConditionalModified,
    ConditionalPlaced,
    ConditionalTriggered,
    Event,
    Fill,
    OrderAccepted,
    OrderClosed,
    OrderResized,
)

MAX_PER_ACCOUNT = 10_000


class OrderRecord:
    __slots__ = (
        "account",
        "client_id",
        "created",
        "fill_value",
        "filled",
        "id",
        "ioc",
        "liquidation",
        "market",
        "post_only",
        "price",
        "reduce_only",
        "remaining",
        "side",
        "size",
        "status",
        "type",
    )

    def __init__(self, e: OrderAccepted) -> None:
        self.id = e.order_id
        self.account = e.account
        self.market = e.market
        self.side = e.side
        self.price = e.price  # ticks; None for a market order
        self.size = e.size
        self.type = e.type
        self.ioc = e.ioc
        self.post_only = e.post_only
        self.reduce_only = e.reduce_only
        self.client_id = e.client_id
        self.created = e.ts
        self.liquidation = e.liquidation
        self.filled = 0
        self.remaining = e.size
        self.fill_value = 0  # sum of price ticks x lots
        self.status = "new"


class FillRecord:
    __slots__ = (
        "account",
        "fee",
        "fee_coin",
        "id",
        "liquidity",
        "market",
        "order_id",
        "price",
        "side",
        "size",
        "ts",
    )

    def __init__(self, fill: Fill, taker: bool) -> None:
        self.id = fill.trade_id * 2 + (0 if taker else 1)  # one fill per side of a trade
        self.market = fill.market
        self.price = fill.price
        self.size = fill.size
        self.ts = fill.ts
        if taker:
            self.account = fill.taker_account
            self.order_id = fill.taker_order
            self.side = fill.taker_side
            self.liquidity = "taker"
            self.fee = fill.taker_fee
            self.fee_coin = fill.taker_fee_coin
        else:
            self.account = fill.maker_account
            self.order_id = fill.maker_order
            self.side = "sell" if fill.taker_side == "buy" else "buy"
            self.liquidity = "maker"
            self.fee = fill.maker_fee
            self.fee_coin = fill.maker_fee_coin


class TriggerRecord:
    """A conditional (trigger) order as placed, with its firings and how it ended."""

    def __init__(self, e: ConditionalPlaced) -> None:
        self.placed = e
        self.size = e.size
        self.trigger_price = e.trigger_price
        self.order_price = e.order_price
        self.trail_value = e.trail_value
        self.status = "open"
        self.cancelled_at: int | None = None
        self.cancel_reason: str | None = None
        self.triggers: list[ConditionalTriggered] = []


class History:
    def __init__(self) -> None:
        self.orders: dict[int, OrderRecord] = {}
        self.by_account: dict[int, deque[int]] = {}
        self.fills: dict[int, deque[FillRecord]] = {}
        self.triggers: dict[int, TriggerRecord] = {}
        self.triggers_by_account: dict[int, deque[int]] = {}

    def on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        for events in results:
            accepted: list[OrderRecord] = []
            for e in events:
                if isinstance(e, Fill):
                    self._fill(e)
                elif isinstance(e, OrderAccepted):
                    accepted.append(self._accepted(e))
                elif isinstance(e, OrderClosed):
                    record = self.orders.get(e.order_id)
                    if record is not None:
                        record.status = "closed"
                        record.remaining = 0
                elif isinstance(e, OrderResized):
                    record = self.orders.get(e.order_id)
                    if record is not None:
                        record.remaining = e.remaining
                elif isinstance(e, ConditionalPlaced):
                    self.triggers[e.order_id] = TriggerRecord(e)
                    ids = self.triggers_by_account.setdefault(e.account, deque())
                    ids.append(e.order_id)
                    if len(ids) > MAX_PER_ACCOUNT:
                        self.triggers.pop(ids.popleft(), None)
                elif isinstance(e, ConditionalTriggered):
                    trigger = self.triggers.get(e.trigger_id)
                    if trigger is not None:
                        trigger.triggers.append(e)
                elif isinstance(e, ConditionalCancelled):
                    trigger = self.triggers.get(e.trigger_id)
                    if trigger is not None:
                        trigger.status = "cancelled"
                        trigger.cancelled_at = e.ts
                        trigger.cancel_reason = e.reason
                elif isinstance(e, ConditionalModified):
                    trigger = self.triggers.get(e.trigger_id)
                    if trigger is not None:
                        trigger.size = e.size
                        trigger.trigger_price = e.trigger_price
                        trigger.order_price = e.order_price
                        trigger.trail_value = e.trail_value
            for record in accepted:  # still there after its command: it rests in the book
                if record.status == "new":
                    record.status = "open"

    def _accepted(self, e: OrderAccepted) -> OrderRecord:
        record = OrderRecord(e)
        self.orders[record.id] = record
        ids = self.by_account.setdefault(e.account, deque())
        ids.append(record.id)
        if len(ids) > MAX_PER_ACCOUNT:
            self.orders.pop(ids.popleft(), None)
        return record

    def _fill(self, fill: Fill) -> None:
        for taker in (True, False):
            record = FillRecord(fill, taker)
            rows = self.fills.setdefault(record.account, deque(maxlen=MAX_PER_ACCOUNT))
            rows.append(record)
            order = self.orders.get(record.order_id)
            if order is not None:
                order.filled += fill.size
                order.remaining -= fill.size
                order.fill_value += fill.size * fill.price

    def account_orders(self, account: int) -> list[OrderRecord]:
        """Newest first."""
        return [self.orders[i] for i in reversed(self.by_account.get(account, ())) if i in self.orders]

    def account_triggers(self, account: int) -> list[TriggerRecord]:
        """Newest first."""
        return [
            self.triggers[i]
            for i in reversed(self.triggers_by_account.get(account, ()))
            if i in self.triggers
        ]
