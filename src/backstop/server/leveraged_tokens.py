"""Leveraged tokens over REST, FTX's way (ftx-api.md 3.8): the tokens' public figures (view.token_view
from the engine's state), an account's token balances, and creations and redemptions, answered from
the command's own events. Ours settle within their command, so `pending` is always false.

History (the SQL projection's tables of the product's events, leveraged_tokens/history.py):
`/lt/creations` and `/lt/redemptions` (the account's, newest first, in the shape the create and
redeem answers have; ours take FTX's usual `start_time`, `end_time`, and `token` and `limit`), and
the public `/etfs/rebalance_info`: each token's latest rebalance keyed by token, with FTX's
`orderSizeList` (the child orders' sizes, in the underlying), `side` and `time` (its start), and ours:
its id, kind ("daily" / "intraday"), total size, size filled, the mark and leverage it started from,
and whether it is running or how it ended (`status`, `endedAt`). A token that has never rebalanced is
absent."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.catalog import Market
from backstop.engine.amounts import RATE, from_atoms
from backstop.products.leveraged_tokens import history
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import (
    LeveragedTokenCreated,
    LeveragedTokenRedeemed,
    LeveragedTokenRequestFailed,
)
from backstop.products.leveraged_tokens.handlers import no_such_token
from backstop.products.leveraged_tokens.product import NAME, LeveragedTokens
from backstop.products.leveraged_tokens.state import NO_ACCOUNT
from backstop.products.leveraged_tokens.view import token_description, token_view
from backstop.server import params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import run
from backstop.server.private import caller
from backstop.server.public import COIN_NAMES

if TYPE_CHECKING:
    from backstop.server.app import ServerState

MAX_HISTORY = 500
"""Rows a history request answers at most (FTX's usual page)."""

router = APIRouter()  # signed
public_router = APIRouter()  # after `router`: /api/lt/balances is not a token


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _product(s: ServerState) -> LeveragedTokens:
    for product in s.exchange.products:
        if product.name == NAME and isinstance(product, LeveragedTokens):
            return product
    raise ApiError("Leveraged tokens are not enabled", 404)


def _view(s: ServerState, lt: LeveragedTokens, name: str) -> dict[str, Any]:
    token = lt.tokens[name]
    st = lt.state.tokens[name]
    book = s.exchange.books[token.perp]
    mark = book.mark()
    coin = token.perp.split("-")[0]
    acct = None if st.account == NO_ACCOUNT else s.exchange.accounts[st.account]
    return token_view(
        totals(s.exchange, token, st),
        book.info,
        0 if mark is None else mark,  # no mark yet: no price (the engine refuses requests then too)
        name=name,
        description=token_description(token.kind, COIN_NAMES.get(coin, coin)),
        target=token.target,
        total_collateral=0 if acct is None else acct.usd,
    )


def _token(lt: LeveragedTokens, name: str) -> str:
    if name not in lt.tokens:
        raise ApiError(no_such_token(name), 404)
    return name


@public_router.get("/api/lt/tokens")
async def tokens(request: Request) -> FTXResponse:
    s = _state(request)
    lt = _product(s)
    return ok([_view(s, lt, name) for name in lt.tokens])


@router.get("/api/lt/balances")
async def balances(request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    lt = _product(s)
    held = s.exchange.accounts[c.account].balances
    return ok([{"token": name, "balance": from_atoms(held[name])} for name in lt.tokens if held.get(name)])


@public_router.get("/api/lt/{token_name}")
async def token(token_name: str, request: Request) -> FTXResponse:
    s = _state(request)
    lt = _product(s)
    return ok(_view(s, lt, _token(lt, token_name)))


async def _request(request: Request, token_name: str, command: type[Any], answer: type[Any]) -> Any:
    """Send a signed creation or redemption of `{"size": ...}` tokens and return its event (the
    answer comes from the command's own events); a hedge that failed is FTX's 400 with its reason."""
    c = await caller(request, write=True)
    s = _state(request)
    name = _token(_product(s), token_name)
    size = params.atoms(c.body.get("size"))
    events: list[Any] = await run(s, command(s.clock.now_us(), c.account, name, size))
    for e in events:
        if isinstance(e, LeveragedTokenRequestFailed):
            raise ApiError(e.reason)
    return next(e for e in events if isinstance(e, answer))


def _creation(done: Mapping[str, Any]) -> dict[str, Any]:
    """A creation (its event's fields, or its row in the history) in FTX's shape."""
    return {
        "id": done["id"],
        "token": done["token"],
        "requestedSize": from_atoms(done["requested"]),
        "pending": False,
        "createdSize": from_atoms(done["size"]),
        "price": from_atoms(done["price"]),
        "cost": from_atoms(done["cost"]),
        "fee": from_atoms(done["fee"]),
        "requestedAt": iso(done["ts"]),
        "fulfilledAt": iso(done["ts"]),
    }


def _redemption(done: Mapping[str, Any]) -> dict[str, Any]:
    """A redemption (its event's fields, or its row in the history) in FTX's shape."""
    return {
        "id": done["id"],
        "token": done["token"],
        "size": from_atoms(done["size"]),
        "projectedProceeds": from_atoms(done["proceeds"]),
        "pending": False,
        "price": from_atoms(done["price"]),
        "proceeds": from_atoms(done["proceeds"]),
        "fee": from_atoms(done["fee"]),
        "requestedAt": iso(done["ts"]),
        "fulfilledAt": iso(done["ts"]),
    }


@router.post("/api/lt/{token_name}/create")
async def create(token_name: str, request: Request) -> FTXResponse:
    done = await _request(request, token_name, CreateLeveragedToken, LeveragedTokenCreated)
    return ok(_creation(done._asdict()))


@router.post("/api/lt/{token_name}/redeem")
async def redeem(token_name: str, request: Request) -> FTXResponse:
    done = await _request(request, token_name, RedeemLeveragedToken, LeveragedTokenRedeemed)
    return ok(_redemption(done._asdict()))


async def _requests(request: Request, table: str) -> list[dict[str, Any]]:
    """The caller's rows of `table` (creations or redemptions), newest first, filtered by the query."""
    c = await caller(request)
    s = _state(request)
    lt = _product(s)
    q = request.query_params
    name = q.get("token")
    start = params.query_seconds(q, "start_time")
    end = params.query_seconds(q, "end_time")
    page = s.projection.product_events(
        table,
        account=c.account,
        token=None if name is None else _token(lt, name),
        start=None if start is None else start * 1_000_000,
        end=None if end is None else end * 1_000_000,
        limit=params.query_int(q, "limit", MAX_HISTORY, 1, MAX_HISTORY),
    )
    return page.rows


@router.get("/api/lt/creations")
async def creations(request: Request) -> FTXResponse:
    return ok([_creation(row) for row in await _requests(request, history.CREATIONS.name)])


@router.get("/api/lt/redemptions")
async def redemptions(request: Request) -> FTXResponse:
    return ok([_redemption(row) for row in await _requests(request, history.REDEMPTIONS.name)])


@public_router.get("/api/etfs/rebalance_info")
async def rebalance_info(request: Request) -> FTXResponse:
    s = _state(request)
    lt = _product(s)
    projection = s.projection
    out: dict[str, Any] = {}
    for name, token in lt.tokens.items():
        started = projection.product_events(history.REBALANCES.name, token=name, limit=1).rows
        if not started:
            continue
        reb = started[0]
        market = s.exchange.books[token.perp].info
        orders = projection.product_events(history.REBALANCE_ORDERS.name, id=reb["id"], limit=None).rows
        ended = projection.product_events(history.REBALANCE_ENDS.name, id=reb["id"], limit=1).rows

        def size(lots: int, market: Market = market) -> Decimal:
            return from_atoms(abs(lots) * market.lot_atoms)

        leverage = reb["leverage"]
        out[name] = {
            "orderSizeList": [size(o["lots"]) for o in reversed(orders)],
            "side": "buy" if reb["lots"] > 0 else "sell",
            "time": iso(reb["ts"]),
            "id": reb["id"],
            "kind": reb["kind"],
            "size": size(reb["lots"]),
            "filledSize": size(sum(o["filled"] for o in orders)),
            "underlyingMark": float(market.price_of(reb["mark"])),
            "leverageBefore": None if leverage is None else leverage / RATE,
            "status": ended[0]["reason"] if ended else "running",
            "endedAt": iso(ended[0]["ts"]) if ended else None,
        }
    return ok(out)
