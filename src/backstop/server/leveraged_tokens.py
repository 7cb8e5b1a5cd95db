"""Leveraged tokens over REST, FTX's way (ftx-api.md 3.8): the tokens' public figures (view.token_view
from the engine's state), an account's token balances, and creations and redemptions, answered from
the command's own events. Ours settle within their command, so `pending` is always false.

Not here (they need SQL projections): /lt/creations, /lt/redemptions, /etfs/rebalance_info."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine import errors
from backstop.engine.amounts import ATOM, MAX_ATOMS, from_atoms
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
from backstop.server.private import caller, run
from backstop.server.public import COIN_NAMES

if TYPE_CHECKING:
    from backstop.server.app import ServerState

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


def _size(value: Any) -> int:
    """A size in whole tokens from the body, exactly, as token atoms: > 0 and within the engine's bound."""
    size = params.decimal(value, "size")
    atoms = size * ATOM
    if size <= 0 or atoms != atoms.to_integral_value() or atoms > MAX_ATOMS:
        raise ApiError(errors.INVALID_SIZE)
    return int(atoms)


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
    size = _size(c.body.get("size"))
    events: list[Any] = await run(s, command(s.clock.now_us(), c.account, name, size))
    for e in events:
        if isinstance(e, LeveragedTokenRequestFailed):
            raise ApiError(e.reason)
    return next(e for e in events if isinstance(e, answer))


@router.post("/api/lt/{token_name}/create")
async def create(token_name: str, request: Request) -> FTXResponse:
    done = await _request(request, token_name, CreateLeveragedToken, LeveragedTokenCreated)
    return ok(
        {
            "id": done.id,
            "token": done.token,
            "requestedSize": from_atoms(done.requested),
            "pending": False,
            "createdSize": from_atoms(done.size),
            "price": from_atoms(done.price),
            "cost": from_atoms(done.cost),
            "fee": from_atoms(done.fee),
            "requestedAt": iso(done.ts),
            "fulfilledAt": iso(done.ts),
        }
    )


@router.post("/api/lt/{token_name}/redeem")
async def redeem(token_name: str, request: Request) -> FTXResponse:
    done = await _request(request, token_name, RedeemLeveragedToken, LeveragedTokenRedeemed)
    return ok(
        {
            "id": done.id,
            "token": done.token,
            "size": from_atoms(done.size),
            "projectedProceeds": from_atoms(done.proceeds),
            "pending": False,
            "price": from_atoms(done.price),
            "proceeds": from_atoms(done.proceeds),
            "fee": from_atoms(done.fee),
            "requestedAt": iso(done.ts),
            "fulfilledAt": iso(done.ts),
        }
    )
