"""Private REST (signed with an API key, FTX's way): account, leverage, positions, balances,
orders (place, read, history, modify, cancel one / by client id / all) and fills.

Every write becomes an engine command through the sequencer and is answered only once durable;
the signed caller, an order's numbers in exact ticks and lots and the run of a command are
`order_entry`'s (compiled: the signed order path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine import commands as cmd
from backstop.engine import errors
from backstop.engine.amounts import PPM, from_atoms
from backstop.engine.events import Event, Fill, Rejected
from backstop.projections.schema import ORDERS
from backstop.projections.writer import OrderRow
from backstop.server import auth, params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import (
    Caller,
    _client_id,
    _flag,
    _market,
    lots,
    order_command,
    placed_row,
    run,
    signed,
    ticks,
)
from backstop.server.sequencer import unavailable
from backstop.views import account_view, balances_view, order_view, positions_view

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
ORDER_COLUMNS = ORDERS.names


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


async def caller(request: Request, write: bool = False, order: bool = False) -> Caller:
    """The signed caller of a private endpoint; `order` counts it against the order rate limit."""
    scope = request.scope
    target = auth.raw_target(scope.get("raw_path") or request.url.path.encode(), scope["query_string"])
    body = await request.body()
    return signed(_state(request), request.headers, request.method, target, body, write, order)


# ----------------------------------------------------------------------------- converting numbers


class Query:
    """A history request's common filters: market (checked), limit (capped) and the time span in
    microseconds (FTX's start_time / end_time are seconds)."""

    def __init__(self, s: ServerState, request: Request, max_limit: int) -> None:
        q = request.query_params
        self.params = q
        self.market = q.get("market")
        if self.market is not None:
            _market(s, self.market)
        self.limit = min(params.query_int(q, "limit", 100, 1, cmd.INT_MAX), max_limit)
        self.side = params.query_text(q, "side")
        self.order_type = params.query_text(q, "orderType")
        start = params.query_seconds(q, "start_time")
        end = params.query_seconds(q, "end_time")
        self.start = None if start is None else start * 1_000_000
        self.end = None if end is None else end * 1_000_000


# ----------------------------------------------------------------------------- views


def row_view(s: ServerState, row: dict[str, Any]) -> dict[str, Any]:
    """An order from the history tables, in the engine's order shape (FTX's cancel quirk:
    remainingSize 0, status closed)."""
    return order_row_view(s, [row[name] for name in ORDER_COLUMNS])


def order_row_view(s: ServerState, row: Sequence[Any]) -> dict[str, Any]:
    """An order's row (the history's columns, in order: `projections.writer`) in FTX's shape,
    whether the history wrote it or a write's own events made it."""
    (order_id, _, name, side, kind, price, size, filled, remaining, fill_value, status) = row[:11]
    reduce_only, ioc, post_only, client_id, created, _, liquidation = row[12:]
    market = s.exchange.catalog.markets[name]
    return {
        "id": order_id,
        "clientId": client_id,
        "market": name,
        "future": None if market.is_spot else name,
        "type": kind,
        "side": side,
        "price": None if price is None or kind == "market" else market.price_of(price),
        "size": market.size_of(size),
        "filledSize": market.size_of(filled),
        "remainingSize": market.size_of(remaining),
        "avgFillPrice": market.price_of(1) * Decimal(fill_value) / filled if filled else None,
        "status": status,
        "createdAt": iso(created),
        "reduceOnly": reduce_only,
        "ioc": ioc,
        "postOnly": post_only,
        "liquidation": liquidation,
    }


def order_by_id(s: ServerState, account: int, order_id: int) -> dict[str, Any]:
    acct = s.exchange.accounts[account]
    live = acct.orders.get(order_id)
    if live is not None:
        return order_view(s.exchange, live)
    row = s.projection.order(account, order_id)
    if row is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    return row_view(s, row)


def _placed(s: ServerState, account: int, events: list[Event]) -> dict[str, Any]:
    """The answer to an order placed or modified: the new order as the command's own events leave
    it (the history's rows are made by the same fold, and may be behind or down)."""
    return order_row_view(s, placed_row(events))


# ----------------------------------------------------------------------------- account


@router.get("/api/account")
async def account(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    acct = s.exchange.accounts[c.account]
    view = account_view(s.exchange, acct)
    view["makerFee"] = Decimal(acct.volume.maker_rate) / PPM
    view["takerFee"] = Decimal(acct.volume.taker_rate) / PPM
    return ok(view)


@router.post("/api/account/leverage")
async def leverage(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    value = params.whole(c.body.get("leverage"), "leverage")
    await run(_state(request), cmd.SetLeverage(_state(request).clock.now_us(), c.account, value))
    return ok(None)


@router.get("/api/positions")
async def positions(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    return ok(positions_view(s.exchange, s.exchange.accounts[c.account]))


@router.get("/api/wallet/balances")
async def balances(request: Request) -> FTXResponse:
    c = await caller(request)
    return ok(_balances(_state(request), c.account))


def _balances(s: ServerState, account: int) -> list[dict[str, Any]]:
    rows = balances_view(s.exchange, s.exchange.accounts[account])
    for row in rows:
        row["spotBorrow"] = Decimal(0)
        row["availableForWithdrawal"] = row["availableWithoutBorrow"]
    return rows


@router.get("/api/wallet/all_balances")
async def all_balances(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    subs = s.exchange.owners.get(c.principal.owner, {})
    if c.principal.scoped:
        subs = {c.principal.subaccount: c.account}
    return ok({(name or "main"): _balances(s, aid) for name, aid in sorted(subs.items())})


# ----------------------------------------------------------------------------- orders


@router.post("/api/orders")
async def place_order(request: Request) -> FTXResponse:
    return ok(await place(_state(request), await caller(request, write=True, order=True)))


async def place(s: ServerState, c: Caller) -> dict[str, Any]:
    """Place `c`'s order from its body; the order as FTX shows it once durable and applied."""
    return order_row_view(s, await place_row(s, c))


async def place_row(s: ServerState, c: Caller) -> OrderRow:
    """Place `c`'s order from its body; its row (`order_row_view`'s input) once durable and applied."""
    return placed_row(await run(s, order_command(s, c)))


@router.get("/api/orders")
async def open_orders(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    wanted = request.query_params.get("market")
    if wanted is not None:
        _market(s, wanted)
    acct = s.exchange.accounts[c.account]
    rows = []
    for order in sorted(acct.orders.values(), key=lambda o: o.id, reverse=True):
        if wanted is None or order.market == wanted:
            rows.append(order_view(s.exchange, order))
    return ok(rows)


@router.get("/api/orders/history")
async def order_history(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    f = Query(s, request, 100)
    wanted, limit, start, end = f.market, f.limit, f.start, f.end
    page = s.projection.orders(
        c.account,
        market=wanted,
        side=f.side,
        order_type=f.order_type,
        start=start,
        end=end,
        limit=limit,
    )
    acct = s.exchange.accounts[c.account]
    rows = [
        order_by_id(s, c.account, row["id"]) if row["id"] in acct.orders else row_view(s, row)
        for row in page.rows
    ]
    more = page.more
    return ok(rows, hasMoreData=more)


def _order_id(value: str) -> int:
    found = params.identifier(value)
    if found is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    return found


MAX_IDS = 1_000
"""Most ids in one bulk cancel (FTX published no limit)."""


async def _cancel_each(request: Request, field: str, by_client: bool) -> FTXResponse:
    """FTX's bulk cancels: a list of at most MAX_IDS ids (order ids as integers or strings of
    digits; client order ids as strings or integers), refused whole if any is malformed. Those
    naming an open order of the caller's are cancelled, in the order given, and the ones actually
    cancelled are returned; an id naming none (unknown, closed, another's, repeated) is skipped
    without a command, so nothing is journaled for it. If the journal refuses any of them, the
    answer is its 503: the client sends the list again, and what was cancelled is skipped then."""
    c = await caller(request, write=True)
    s = _state(request)
    ids = c.body.get(field)
    if type(ids) is not list or len(ids) > MAX_IDS:
        raise params.refuse(field)
    acct = s.exchange.accounts[c.account]
    now = s.clock.now_us()
    keys: dict[int | str, cmd.Command] = {}  # in the order given, each once
    for raw in ids:
        if by_client:
            client_id = _client_id(raw, field)
            if client_id is None:
                raise params.refuse(field)
            if client_id in acct.client_ids:
                keys.setdefault(client_id, cmd.CancelOrder(now, c.account, None, client_id))
        else:
            order_id = params.identifier(raw)
            if order_id is None:
                raise params.refuse(field)
            if order_id in acct.orders:
                keys.setdefault(order_id, cmd.CancelOrder(now, c.account, order_id))
    results = await s.sequencer.submit_many(list(keys.values()))
    if any(unavailable(events) for events in results):  # the rest may be cancelled: sending it again is safe
        raise ApiError(errors.JOURNAL_UNAVAILABLE)
    done = zip(keys, results, strict=True)
    return ok([key for key, events in done if not (events and isinstance(events[0], Rejected))])


@router.delete("/api/bulk_orders")
async def cancel_many(request: Request) -> FTXResponse:
    return await _cancel_each(request, "orderIds", by_client=False)


@router.delete("/api/bulk_orders_by_client_id")
async def cancel_many_by_client(request: Request) -> FTXResponse:
    return await _cancel_each(request, "clientOrderIds", by_client=True)


@router.get("/api/orders/by_client_id/{client_id}")
async def order_by_client(client_id: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    live = s.exchange.accounts[c.account].client_ids.get(client_id)
    if live is not None:
        return ok(order_by_id(s, c.account, live.id))
    params.text(client_id, "clientId")  # the history is asked only for what could be one
    row = s.projection.order_by_client_id(c.account, client_id)
    if row is None:
        raise ApiError(errors.ORDER_NOT_FOUND)
    return ok(row_view(s, row))


@router.get("/api/orders/{order_id}")
async def order(order_id: str, request: Request) -> FTXResponse:
    c = await caller(request)
    return ok(order_by_id(_state(request), c.account, _order_id(order_id)))


@router.delete("/api/orders/by_client_id/{client_id}")
async def cancel_by_client(client_id: str, request: Request) -> FTXResponse:
    return ok(await cancel_by_client_id(_state(request), await caller(request, write=True), client_id))


async def cancel_by_client_id(s: ServerState, c: Caller, client_id: str) -> str:
    await run(s, cmd.CancelOrder(s.clock.now_us(), c.account, None, client_id))
    return "Order queued for cancellation"


@router.delete("/api/orders/{order_id}")
async def cancel(order_id: str, request: Request) -> FTXResponse:
    return ok(await cancel_by_id(_state(request), await caller(request, write=True), order_id))


async def cancel_by_id(s: ServerState, c: Caller, order_id: str) -> str:
    await run(s, cmd.CancelOrder(s.clock.now_us(), c.account, _order_id(order_id)))
    return "Order queued for cancellation"


@router.delete("/api/orders")
async def cancel_all(request: Request) -> FTXResponse:
    return ok(await cancel_orders(_state(request), await caller(request, write=True)))


async def cancel_orders(s: ServerState, c: Caller) -> str:
    """Cancel all of `c`'s orders the body selects (market, side, conditional or limit orders
    only), once durable and applied."""
    b = c.body
    market = b.get("market")
    if market is not None:
        _market(s, market)
    side = b.get("side")
    command = cmd.CancelAll(
        s.clock.now_us(),
        c.account,
        market,
        side,
        _flag(b, "conditionalOrdersOnly"),
        _flag(b, "limitOrdersOnly"),
    )
    await run(s, command)
    return "Orders queued for cancelation"


async def _modify(request: Request, order_id: int | None, client_id: str | None) -> FTXResponse:
    c = await caller(request, write=True, order=True)
    s = _state(request)
    acct = s.exchange.accounts[c.account]
    current = acct.client_ids.get(client_id) if client_id is not None else acct.orders.get(order_id or -1)
    if current is None:
        # let the engine answer "Order not found" or "Order already closed"
        await run(s, cmd.ModifyOrder(s.clock.now_us(), c.account, order_id, client_id, None, 1))
        raise ApiError(errors.ORDER_NOT_FOUND)
    market = s.exchange.catalog.markets[current.market]
    b = c.body
    price = None if b.get("price") is None else ticks(market, b.get("price"))
    size = None if b.get("size") is None else lots(market, b.get("size"))
    events = await run(
        s,
        cmd.ModifyOrder(
            s.clock.now_us(), c.account, order_id, client_id, price, size, _client_id(b.get("clientId"))
        ),
    )
    return ok(_placed(s, c.account, events))


@router.post("/api/orders/by_client_id/{client_id}/modify")
async def modify_by_client(client_id: str, request: Request) -> FTXResponse:
    return await _modify(request, None, client_id)


@router.post("/api/orders/{order_id}/modify")
async def modify(order_id: str, request: Request) -> FTXResponse:
    return await _modify(request, _order_id(order_id), None)


# ----------------------------------------------------------------------------- fills


class FillRecord:
    """One side of a trade, from a Fill event (the websocket sends these as they happen)."""

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


def fill_view(s: ServerState, f: FillRecord | dict[str, Any]) -> dict[str, Any]:
    """One side of a trade, as REST /fills and the websocket `fills` channel show it (from the
    recent-event cache or from the history tables)."""
    row = f if isinstance(f, dict) else {name: getattr(f, name) for name in FillRecord.__slots__}
    market = s.exchange.catalog.markets[row["market"]]
    value = row["size"] * row["price"] * market.tick_value
    fee = row["fee"]
    return {
        "id": row["id"],
        "market": market.name,
        "future": None if market.is_spot else market.name,
        "baseCurrency": market.base if market.is_spot else None,
        "quoteCurrency": "USD" if market.is_spot else None,
        "type": "order",
        "side": row["side"],
        "price": market.price_of(row["price"]),
        "size": market.size_of(row["size"]),
        "orderId": row["order_id"],
        "tradeId": row["id"] // 2,
        "time": iso(row["ts"]),
        "liquidity": row["liquidity"],
        "fee": from_atoms(fee),
        "feeCurrency": row["fee_coin"],
        "feeRate": float(Decimal(fee) / Decimal(value)) if value and row["fee_coin"] == "USD" else 0.0,
    }


OtherFills = Callable[["ServerState", int, int | None, int | None, int], list[tuple[int, dict[str, Any]]]]
OTHER_FILLS: list[OtherFills] = []
"""Fills that are no trade on a book (a product's: the OTC desk's converts, FTX's `type: "otc"`), as
(ts, the fill in FTX's shape) newest first, given (state, account, start, end, limit): the product's
server module adds its source here; /fills merges them when no market and no order is asked for."""


@router.get("/api/fills")
async def fills(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    f = Query(s, request, 5000)
    wanted, limit, start, end = f.market, f.limit, f.start, f.end
    given = params.query_int(f.params, "orderId", -1, 0, cmd.INT_MAX)
    order_id = None if given < 0 else given
    page = s.projection.fills(c.account, market=wanted, order_id=order_id, start=start, end=end, limit=limit)
    rows = [(row["ts"], fill_view(s, row)) for row in page.rows]
    if wanted is None and order_id is None:
        for source in OTHER_FILLS:
            rows += source(s, c.account, start, end, limit)
        rows.sort(key=lambda pair: pair[0], reverse=True)  # stable: each source's own order kept
    return ok([view for _, view in rows[:limit]])
