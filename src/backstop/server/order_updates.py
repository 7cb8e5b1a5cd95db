"""What the websocket's `orders` channel sends: each subscribed account's orders as the events of
a batch leave them.

The rows of the open orders of every account with an `orders` subscription are kept here, from
the engine's open orders when the account is first watched and then from the events, by the
fold that writes the history's order rows (`projections.writer`). An order that closes is shown
as its events closed it, never read back from the history, which can be behind or down."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from backstop.engine.events import Event, Fill, OrderAccepted, OrderClosed, OrderResized
from backstop.engine.exchange import Exchange
from backstop.projections.writer import (
    O_REMAINING,
    OrderRow,
    close_order,
    fill_order,
    open_order_row,
    order_row,
)


class OrderUpdates:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.watchers: dict[Hashable, int] = {}  # subscriber -> the account it watches
        self.rows: dict[int, dict[int, OrderRow]] = {}  # account -> its open orders' rows
        self._count: dict[int, int] = {}  # account -> subscribers watching it

    def watch(self, subscriber: Hashable, account: int) -> None:
        if subscriber in self.watchers:
            return
        self.watchers[subscriber] = account
        self._count[account] = self._count.get(account, 0) + 1
        if account not in self.rows:
            orders = self.exchange.accounts[account].orders
            self.rows[account] = {order_id: open_order_row(o) for order_id, o in orders.items()}

    def unwatch(self, subscriber: Hashable) -> None:
        account = self.watchers.pop(subscriber, None)
        if account is None:
            return
        self._count[account] -= 1
        if not self._count[account]:
            del self._count[account]
            del self.rows[account]

    def take(self, results: Sequence[Sequence[Event]]) -> dict[int, list[OrderRow]]:
        """Fold a batch's events into the watched accounts' rows: the rows of each account's
        orders the batch changed, by order id (an order closed in it for the last time)."""
        rows = self.rows
        changed: dict[int, dict[int, OrderRow]] = {}
        closed: list[tuple[int, int]] = []
        for events in results:
            for e in events:
                if isinstance(e, Fill):
                    value = e.size * e.price
                    sides = ((e.taker_account, e.taker_order), (e.maker_account, e.maker_order))
                    for account, order_id in sides:
                        row = rows[account].get(order_id) if account in rows else None
                        if row is not None:
                            fill_order(row, e.size, value)
                            changed.setdefault(account, {})[order_id] = row
                    continue
                if not isinstance(e, (OrderAccepted, OrderClosed, OrderResized)) or e.account not in rows:
                    continue
                mine = rows[e.account]
                if isinstance(e, OrderAccepted):
                    row = mine[e.order_id] = order_row(e)
                else:
                    found = mine.get(e.order_id)
                    if found is None:
                        continue
                    row = found
                    if isinstance(e, OrderClosed):
                        close_order(row, e)
                        closed.append((e.account, e.order_id))
                    else:
                        row[O_REMAINING] = e.remaining
                changed.setdefault(e.account, {})[e.order_id] = row
        for account, order_id in closed:
            rows[account].pop(order_id, None)
        return {account: [found[k] for k in sorted(found)] for account, found in changed.items()}
