"""Conditional (trigger) orders over REST, FTX's way: create (type `stop` when absent, as ccxt
relies on), list the open ones, history, cancel, modify, and the orders each one sent."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine import commands as cmd
from backstop.engine import errors
from backstop.engine.conditional import Conditional
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.history import TriggerRecord
from backstop.server.private import Query, _client_id, _flag, _market, caller, lots, run, ticks

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
TYPES = {
    "stop": "stop",
    "takeProfit": "take_profit",
    "take_profit": "take_profit",
    "trailingStop": "trailing_stop",
    "trailing_stop": "trailing_stop",
}
TRIGGER_BY = {None: "mark", "mark": "mark", "last": "last", "index": "index"}


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def trigger_view(s: ServerState, order_id: int) -> dict[str, Any]:
    """One trigger order in FTX's shape, from the engine while open, else from the history."""
    record = s.history.triggers.get(order_id)
    if record is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    placed = record.placed
    market = s.exchange.catalog.markets[placed.market]
    live: Conditional | None = s.exchange.conditionals.get(order_id)
    status = "open" if live is not None else ("cancelled" if record.status == "cancelled" else "triggered")
    order_ids = [t.order_id for t in record.triggers if t.order_id >= 0]
    filled = 0
    value = 0
    for oid in order_ids:
        sent = s.history.orders.get(oid)
        if sent is not None:
            filled += sent.filled
            value += sent.fill_value
    trail_start = live.trail_start if live is not None else None
    first = record.triggers[0] if record.triggers else None
    error = record.triggers[-1].error if record.triggers and record.triggers[-1].error else None

    def price(t: int | None) -> Decimal | None:
        return None if t is None else market.price_of(t)

    return {
        "id": placed.order_id,
        "market": market.name,
        "future": None if market.is_spot else market.name,
        "side": placed.side,
        "type": placed.type,
        "orderType": "market" if record.order_price is None else "limit",
        "orderPrice": price(record.order_price),
        "triggerPrice": price(record.trigger_price),
        "trailValue": price(record.trail_value),
        "trailStart": price(trail_start),
        "size": market.size_of(record.size),
        "filledSize": market.size_of(filled),
        "avgFillPrice": market.price_of(1) * Decimal(value) / filled if filled else None,
        "status": status,
        "createdAt": iso(placed.ts),
        "triggeredAt": None if first is None else iso(first.ts),
        "orderId": order_ids[-1] if order_ids else None,
        "error": error,
        "reduceOnly": placed.reduce_only,
        "retryUntilFilled": placed.retry_until_filled,
        "cancelledAt": None if record.cancelled_at is None else iso(record.cancelled_at),
        "cancelReason": record.cancel_reason,
        "triggerBy": placed.trigger_by,
    }


def _own(s: ServerState, account: int, raw: str) -> TriggerRecord:
    try:
        order_id = int(raw)
    except ValueError:
        raise ApiError(errors.ORDER_NOT_FOUND) from None
    record = s.history.triggers.get(order_id)
    if record is None or record.placed.account != account:
        raise ApiError(errors.ORDER_NOT_FOUND)
    return record


@router.post("/api/conditional_orders")
async def create(request: Request) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    b = c.body
    market = _market(s, b.get("market"))
    side = b.get("side")
    if side not in ("buy", "sell"):
        raise ApiError(errors.INVALID_SIDE)
    kind = TYPES.get(b.get("type") or "stop")
    if kind is None:
        raise ApiError(errors.INVALID_TYPE)
    trigger_by = TRIGGER_BY.get(b.get("triggerBy"))
    if trigger_by is None:
        raise ApiError("Invalid parameter triggerBy")
    trigger = None if b.get("triggerPrice") is None else ticks(market, b["triggerPrice"], "triggerPrice")
    order_price = None if b.get("orderPrice") is None else ticks(market, b["orderPrice"], "orderPrice")
    trail = None
    if b.get("trailValue") is not None:
        value = Decimal(str(b["trailValue"]))
        steps = value / market.price_increment
        if steps != steps.to_integral_value():
            raise ApiError("Invalid parameter trailValue")
        trail = int(steps)
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
    return ok(trigger_view(s, placed.order_id))  # type: ignore[attr-defined]


@router.get("/api/conditional_orders")
async def open_triggers(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    q = request.query_params
    wanted = q.get("market")
    if wanted is not None:
        _market(s, wanted)
    rows = []
    for oid in sorted(s.exchange.conditionals, reverse=True):
        live = s.exchange.conditionals[oid]
        if live.account != c.account or (wanted is not None and live.market != wanted):
            continue
        view = trigger_view(s, oid)
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
    rows: list[dict[str, Any]] = []
    more = False
    for record in s.history.account_triggers(c.account):
        placed = record.placed
        if (wanted is not None and placed.market != wanted) or q.get("side") not in (None, placed.side):
            continue
        if (end is not None and placed.ts > end) or (start is not None and placed.ts < start):
            continue
        view = trigger_view(s, placed.order_id)
        if q.get("type") not in (None, view["type"]) or q.get("orderType") not in (None, view["orderType"]):
            continue
        if len(rows) == limit:
            more = True
            break
        rows.append(view)
    return ok(rows, hasMoreData=more)


@router.get("/api/conditional_orders/{order_id}/triggers")
async def firings(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    record = _own(s, c.account, order_id)
    market = s.exchange.catalog.markets[record.placed.market]
    rows = []
    for t in record.triggers:
        sent = s.history.orders.get(t.order_id) if t.order_id >= 0 else None
        rows.append(
            {
                "time": iso(t.ts),
                "orderId": t.order_id if t.order_id >= 0 else None,
                "error": t.error or None,
                "orderSize": None if sent is None else market.size_of(sent.size),
                "filledSize": None if sent is None else market.size_of(sent.filled),
            }
        )
    return ok(rows)


@router.delete("/api/conditional_orders/{order_id}")
async def cancel(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    record = _own(s, c.account, order_id)
    await run(s, cmd.CancelConditional(s.clock.now_us(), c.account, record.placed.order_id))
    return ok("Order cancelled")


@router.post("/api/conditional_orders/{order_id}/modify")
async def modify(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    record = _own(s, c.account, order_id)
    market = s.exchange.catalog.markets[record.placed.market]
    b = c.body
    trail = None
    if b.get("trailValue") is not None:
        steps = Decimal(str(b["trailValue"])) / market.price_increment
        if steps != steps.to_integral_value():
            raise ApiError("Invalid parameter trailValue")
        trail = int(steps)
    await run(
        s,
        cmd.ModifyConditional(
            s.clock.now_us(),
            c.account,
            record.placed.order_id,
            None if b.get("size") is None else lots(market, b["size"]),
            None if b.get("triggerPrice") is None else ticks(market, b["triggerPrice"], "triggerPrice"),
            None if b.get("orderPrice") is None else ticks(market, b["orderPrice"], "orderPrice"),
            trail,
        ),
    )
    return ok(trigger_view(s, record.placed.order_id))
