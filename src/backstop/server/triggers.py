"""Conditional (trigger) orders over REST, FTX's way: create (type `stop` when absent, as ccxt
relies on), list the open ones, history, cancel, modify, and the orders each one sent."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.catalog import Market
from backstop.engine import commands as cmd
from backstop.engine import errors
from backstop.engine.conditional import Conditional
from backstop.engine.events import ConditionalPlaced
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.private import Query, _client_id, _flag, _market, _order_id, caller, lots, run, ticks

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
TRIGGER_BY = {"mark": "mark", "last": "last", "index": "index"}


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def trigger_view(s: ServerState, account: int, order_id: int) -> dict[str, Any]:
    """One trigger order in FTX's shape, from the history tables (and the engine for the trail of
    a live trailing stop)."""
    row = s.projection.conditional_order(account, order_id)
    if row is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    market = s.exchange.catalog.markets[row["market"]]
    live: Conditional | None = s.exchange.conditionals.get(order_id)
    filled = 0
    value = 0
    for fired in s.projection.conditional_triggers(account, order_id):
        sent = s.projection.order(account, fired["order_id"]) if fired["order_id"] is not None else None
        if sent is not None:
            filled += sent["filled"]
            value += sent["fill_value"]

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
        "trailStart": price(live.trail_start if live is not None else None),
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
    return ok(trigger_view(s, c.account, placed.order_id))


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
        view = trigger_view(s, c.account, oid)
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
    rows = [trigger_view(s, c.account, row["id"]) for row in page.rows]
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


@router.delete("/api/conditional_orders/{order_id}")
async def cancel(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    trigger_id = _own(s, c.account, order_id)
    await run(s, cmd.CancelConditional(s.clock.now_us(), c.account, trigger_id))
    return ok("Order cancelled")


@router.post("/api/conditional_orders/{order_id}/modify")
async def modify(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    trigger_id = _own(s, c.account, order_id)
    row = s.projection.conditional_order(c.account, trigger_id)
    assert row is not None
    market = s.exchange.catalog.markets[row["market"]]
    b = c.body
    trail = None if b.get("trailValue") is None else _trail(market, b["trailValue"])
    await run(
        s,
        cmd.ModifyConditional(
            s.clock.now_us(),
            c.account,
            trigger_id,
            None if b.get("size") is None else lots(market, b["size"]),
            None if b.get("triggerPrice") is None else ticks(market, b["triggerPrice"], "triggerPrice"),
            None if b.get("orderPrice") is None else ticks(market, b["orderPrice"], "orderPrice"),
            trail,
        ),
    )
    return ok(trigger_view(s, c.account, trigger_id))
