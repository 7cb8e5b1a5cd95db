"""Conditional (trigger) orders over REST, FTX's way: create (type `stop` when absent, as ccxt
relies on), list the open ones, history, cancel, modify, and the orders each one sent."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.catalog import Market
from backstop.engine import commands as cmd
from backstop.engine import conditional, errors
from backstop.engine.commands import Command
from backstop.engine.conditional import Conditional
from backstop.engine.events import ConditionalPlaced, ConditionalTriggered, Event, Fill
from backstop.engine.exchange import Exchange
from backstop.projections import Projection
from backstop.projections.schema import CONDITIONAL_ORDERS
from backstop.projections.writer import conditional_row
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import _client_id, _flag, _market, lots, run, ticks
from backstop.server.private import Query, _order_id, caller

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
CONDITIONAL_COLUMNS = CONDITIONAL_ORDERS.names
TYPES = {
    "stop": "stop",
    "takeProfit": "take_profit",
    "take_profit": "take_profit",
    "trailingStop": "trailing_stop",
    "trailing_stop": "trailing_stop",
}
TRIGGER_BY = {"mark": "mark", "last": "last", "index": "index"}


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def trigger_view(
    s: ServerState, row: dict[str, Any], filled: int, value: int, trail_start: int | None
) -> dict[str, Any]:
    """One trigger order in FTX's shape: `row` in the history table's columns (from the engine's
    state by `_engine_row` or from the history), with what the orders it sent filled (`value`:
    lots x price ticks) and, live, the trail of a trailing stop."""
    market = s.exchange.catalog.markets[row["market"]]

    def price(t: int | None) -> Decimal | None:
        return None if t is None else market.price_of(t)

    return {
        "id": row["id"],
        "market": market.name,
        "future": None if market.is_spot else market.name,
        "side": row["side"],
        "type": row["type"],
        "orderType": "market" if row["order_price"] is None else "limit",
        "orderPrice": price(row["order_price"]),
        "triggerPrice": price(row["trigger_price"]),
        "trailValue": price(row["trail_value"]),
        "trailStart": price(trail_start),
        "size": market.size_of(row["size"]),
        "filledSize": market.size_of(filled),
        "avgFillPrice": market.price_of(1) * Decimal(value) / filled if filled else None,
        "status": row["status"],
        "createdAt": iso(row["created_us"]),
        "triggeredAt": None if row["triggered_us"] is None else iso(row["triggered_us"]),
        "orderId": row["order_id"],
        "error": row["error"],
        "reduceOnly": bool(row["reduce_only"]),
        "retryUntilFilled": bool(row["retry_until_filled"]),
        "cancelledAt": iso(row["closed_us"]) if row["status"] == "cancelled" and row["closed_us"] else None,
        "cancelReason": row["cancel_reason"],
        "triggerBy": row["trigger_by"],
    }


def _engine_row(c: Conditional) -> dict[str, Any]:
    """An open trigger order as the engine holds it, in the history table's columns (the history
    calls one that has fired "triggered", though it stays open while it retries)."""
    return {
        "id": c.id,
        "market": c.market,
        "side": c.side,
        "size": c.size,
        "type": c.type,
        "trigger_price": c.trigger_price,
        "order_price": c.order_price,
        "trail_value": c.trail_value,
        "reduce_only": c.reduce_only,
        "retry_until_filled": c.retry,
        "trigger_by": c.trigger_by,
        "status": c.status if c.status != "open" or c.triggered_at is None else "triggered",
        "created_us": c.created,
        "triggered_us": c.triggered_at,
        "closed_us": None,
        "cancel_reason": None,
        "error": c.error or None,
        "order_id": c.order_ids[-1] if c.order_ids else None,
    }


def live_view(s: ServerState, c: Conditional) -> dict[str, Any]:
    """An open trigger order from the engine's state: how writes are answered (never from the
    history, which may be behind or down)."""
    return trigger_view(s, _engine_row(c), c.filled, s.trigger_fills.value.get(c.id, 0), c.trail_start)


def _history_view(s: ServerState, account: int, row: dict[str, Any]) -> dict[str, Any]:
    """A trigger order from the history (the engine's state if it is still open)."""
    live = s.exchange.conditionals.get(row["id"])
    if live is not None:
        return live_view(s, live)
    return trigger_view(s, row, *_sent_fills(s.projection, account, row["id"]), None)


def _sent_fills(projection: Projection, account: int, trigger_id: int) -> tuple[int, int]:
    """(lots, lots x price ticks) the orders a trigger order sent have filled, from the history."""
    filled = value = 0
    for fired in projection.conditional_triggers(account, trigger_id):
        sent = projection.order(account, fired["order_id"]) if fired["order_id"] is not None else None
        if sent is not None:
            filled += sent["filled"]
            value += sent["fill_value"]
    return filled, value


class TriggerFills:
    """What the orders sent by each open trigger order filled (lots x price ticks), from the
    events: the engine counts a retrying trigger order's filled size, not its value. Seeded from
    the history at start, while it is level with the engine; a trigger order that finishes is
    kept until the next batch, for the answer to a write in the batch that finished it."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.value: dict[int, int] = {}

    def seed(self, projection: Projection) -> None:
        for c in self.exchange.conditionals.values():
            if c.filled:
                self.value[c.id] = _sent_fills(projection, c.account, c.id)[1]

    def on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        live = self.exchange.conditionals
        value = self.value
        for finished in [t for t in value if t not in live]:  # in an earlier batch
            del value[finished]
        for events in results:
            sent: dict[int, int] = {}  # order id -> the trigger order that sent it
            for e in events:
                if isinstance(e, ConditionalTriggered):
                    sent[e.order_id] = e.trigger_id
                elif sent and isinstance(e, Fill):
                    trigger = sent.get(e.taker_order)
                    if trigger is not None:
                        value[trigger] = value.get(trigger, 0) + e.size * e.price


def _own(s: ServerState, account: int, raw: str) -> int:
    order_id = _order_id(raw)
    if s.projection.conditional_order(account, order_id) is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    return order_id


def _trail(market: Market, value: Any) -> int:
    """trailValue in ticks: signed (negative for a sell), a multiple of the price increment."""
    steps = params.decimal(value, "trailValue") / market.price_increment
    if steps != steps.to_integral_value():
        raise ApiError("Invalid parameter trailValue")
    return int(steps)


@router.post("/api/conditional_orders")
async def create(request: Request) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    b = c.body
    market = _market(s, b.get("market"))
    side = b.get("side")
    if side not in ("buy", "sell"):
        raise ApiError(errors.INVALID_SIDE)
    kind = "stop" if b.get("type") is None else params.choice(b["type"], TYPES, "type")  # INVALID_TYPE
    trigger_by = (
        "mark" if b.get("triggerBy") is None else params.choice(b["triggerBy"], TRIGGER_BY, "triggerBy")
    )
    trigger = None if b.get("triggerPrice") is None else ticks(market, b["triggerPrice"], "triggerPrice")
    order_price = None if b.get("orderPrice") is None else ticks(market, b["orderPrice"], "orderPrice")
    trail = None if b.get("trailValue") is None else _trail(market, b["trailValue"])
    retry = b.get("retryUntilFilled")
    if retry is None:
        retry = order_price is None  # FTX: market trigger orders retry by default
    elif not isinstance(retry, bool):
        raise ApiError("Invalid parameter retryUntilFilled")
    _client_id(b.get("clientId"))  # accepted and ignored, as FTX did for trigger orders
    events = await run(
        s,
        cmd.PlaceConditional(
            s.clock.now_us(),
            c.account,
            market.name,
            side,
            lots(market, b.get("size")),
            kind,
            trigger,
            order_price,
            trail,
            _flag(b, "reduceOnly"),
            retry,
            trigger_by,
        ),
    )
    placed = events[0]
    assert isinstance(placed, ConditionalPlaced)
    live = s.exchange.conditionals.get(placed.order_id)
    if live is not None:
        return ok(live_view(s, live))
    # a tick in the same batch fired or cancelled it: the trigger order as its command placed it
    row = dict(zip(CONDITIONAL_COLUMNS, conditional_row(placed), strict=True))
    return ok(trigger_view(s, row, 0, 0, None))


@router.get("/api/conditional_orders")
async def open_triggers(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    q = request.query_params
    wanted = q.get("market")
    if wanted is not None:
        _market(s, wanted)
    rows = []
    live_orders = s.exchange.conditionals
    for oid in reversed(list(s.exchange.conditionals_of.get(c.account, ()))):  # the newest first
        live = live_orders[oid]
        if wanted is not None and live.market != wanted:
            continue
        view = live_view(s, live)
        if q.get("type") not in (None, view["type"]) or q.get("orderType") not in (None, view["orderType"]):
            continue
        rows.append(view)
    return ok(rows)


@router.get("/api/conditional_orders/history")
async def trigger_history(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    f = Query(s, request, 100)
    q, wanted, limit, start, end = f.params, f.market, f.limit, f.start, f.end
    kind = TYPES.get(q.get("type") or "") if q.get("type") else None
    page = s.projection.conditional_orders(
        c.account, market=wanted, side=f.side, order_type=kind, start=start, end=end, limit=limit
    )
    rows = [_history_view(s, c.account, row) for row in page.rows]
    rows = [r for r in rows if q.get("orderType") in (None, r["orderType"])]
    more = page.more
    return ok(rows, hasMoreData=more)


@router.get("/api/conditional_orders/{order_id}/triggers")
async def firings(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    trigger_id = _own(s, c.account, order_id)
    rows = []
    for fired in s.projection.conditional_triggers(c.account, trigger_id):
        market = s.exchange.catalog.markets[fired["market"]]
        sent = s.projection.order(c.account, fired["order_id"]) if fired["order_id"] is not None else None
        rows.append(
            {
                "time": iso(fired["ts"]),
                "orderId": fired["order_id"],
                "error": fired["error"] or None,
                "orderSize": None if sent is None else market.size_of(sent["size"]),
                "filledSize": None if sent is None else market.size_of(sent["filled"]),
            }
        )
    return ok(rows)


def _open(s: ServerState, account: int, raw: str) -> Conditional:
    """The caller's open trigger order `raw`, from the engine; else the engine's own refusal
    ("Order not found", "Order already closed"), with nothing journaled."""
    live, error = conditional.owned(s.exchange, account, _order_id(raw))
    if live is None:
        raise ApiError(error)
    return live


@router.delete("/api/conditional_orders/{order_id}")
async def cancel(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    await run(s, cmd.CancelConditional(s.clock.now_us(), c.account, _open(s, c.account, order_id).id))
    return ok("Order cancelled")


@router.post("/api/conditional_orders/{order_id}/modify")
async def modify(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    live = _open(s, c.account, order_id)
    market = s.exchange.catalog.markets[live.market]
    b = c.body
    trail = None if b.get("trailValue") is None else _trail(market, b["trailValue"])
    await run(
        s,
        cmd.ModifyConditional(
            s.clock.now_us(),
            c.account,
            live.id,
            None if b.get("size") is None else lots(market, b["size"]),
            None if b.get("triggerPrice") is None else ticks(market, b["triggerPrice"], "triggerPrice"),
            None if b.get("orderPrice") is None else ticks(market, b["orderPrice"], "orderPrice"),
            trail,
        ),
    )
    return ok(live_view(s, live))  # the engine's, even if a tick in the same batch fired it
