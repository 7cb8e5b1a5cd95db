"""The OTC desk over REST, FTX's convert API (ftx-api.md 3.9; ccxt's implicit `privatePostOtcQuotes`,
`privateGetOtcQuotesQuoteId`, `privatePostOtcQuotesQuoteIdAccept`), and ours for the desk's
providers.

- `POST /otc/quotes {fromCoin, toCoin, size}` (size in fromCoin) -> `{quoteId}`: priced by the
  engine against the best provider ladder for the size; refused in FTX's envelope when none can.
- `GET /otc/quotes/{quoteId}` -> FTX's fields: id, baseCoin, quoteCoin, fromCoin, toCoin, side,
  price, cost, proceeds, expiry (epoch seconds), expired, filled; the requester's own quotes only. A
  live quote is read from the engine, a closed one from the SQL history (otc_quotes, otc_fills).
- `POST /otc/quotes/{quoteId}/accept` -> `null`: settled at once, or refused ("Quote expired",
  "Quote already filled", "No such quote", "Not enough balances") with nothing moved.
- Ours: `POST /otc/ladders {base, quote, bids, asks}`: a registered provider's firm ladder for a
  pair, each side `[[max size, price], ...]` (size in base coin, price in quote coin per base); and
  the operator's `POST /operator/otc/providers {account, subaccount?, enabled}`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from backstop.engine.amounts import ATOM, MAX_ATOMS, from_atoms
from backstop.products.otc import history
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import OtcLadderSet, OtcQuoted
from backstop.products.otc.handlers import NO_SUCH_QUOTE
from backstop.products.otc.params import MAX_LEVELS
from backstop.products.otc.product import NAME, Otc
from backstop.server import operator, params
from backstop.server.envelope import ApiError, FTXResponse, iso, ok
from backstop.server.order_entry import run
from backstop.server.private import OTHER_FILLS, caller
from backstop.server.transparency import OTHER_VOLUME

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()  # signed
operator_router = APIRouter()  # the operator's token


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _product(s: ServerState) -> Otc:
    for product in s.exchange.products:
        if product.name == NAME and isinstance(product, Otc):
            return product
    raise ApiError("The OTC desk is not enabled", 404)


def _atoms(value: Any, name: str) -> int:
    """A positive amount in whole coins from the body, exactly, as atoms within the engine's bound."""
    number = params.decimal(value, name)
    atoms = number * ATOM
    if number <= 0 or atoms != atoms.to_integral_value() or atoms > MAX_ATOMS:
        raise ApiError(f"Invalid parameter {name}")
    return int(atoms)


def _view(q: Any, now_us: int, filled: bool, closed: bool) -> dict[str, Any]:
    """A quote (its event's fields, the live quote, or its history row) in FTX's shape."""
    return {
        "id": q["id"],
        "baseCoin": q["base"],
        "quoteCoin": q["quote"],
        "fromCoin": q["from_coin"],
        "toCoin": q["to_coin"],
        "side": q["side"],
        "price": from_atoms(q["price"]),
        "cost": from_atoms(q["cost"]),
        "proceeds": from_atoms(q["proceeds"]),
        "expiry": Decimal(q["expiry"]) / 1_000_000,
        "expired": not filled and (closed or now_us >= q["expiry"]),
        "filled": filled,
    }


async def _run(s: ServerState, command: Any) -> list[Any]:
    """`order_entry.run` for a product's command (the core's `Command` union does not name it)."""
    events: list[Any] = await run(s, command)
    return events


def _quote_id(value: str) -> int:
    quote_id = params.identifier(value)
    if quote_id is None:
        raise ApiError(NO_SUCH_QUOTE, 404)
    return quote_id


@router.post("/api/otc/quotes")
async def request_quote(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    body = c.body
    from_coin = params.text(body.get("fromCoin"), "fromCoin")
    to_coin = params.text(body.get("toCoin"), "toCoin")
    size = _atoms(body.get("size"), "size")
    events = await _run(s, RequestOtcQuote(s.clock.now_us(), c.account, from_coin, to_coin, size))
    quoted = next(e for e in events if isinstance(e, OtcQuoted))
    return ok({"quoteId": quoted.id})


@router.get("/api/otc/quotes/{quote_id}")
async def get_quote(quote_id: str, request: Request) -> FTXResponse:
    c = await caller(request)
    s = _state(request)
    desk = _product(s).state
    qid = _quote_id(quote_id)
    now = s.clock.now_us()
    live = desk.live.get(qid)
    if live is not None:
        if live.account != c.account:
            raise ApiError(NO_SUCH_QUOTE, 404)
        fields = {name: getattr(live, name) for name in history.QUOTES.names[2:]}
        return ok(_view(fields, now, False, False))
    rows = s.projection.product_events(history.QUOTES.name, id=qid, account=c.account, limit=1).rows
    if not rows:
        raise ApiError(NO_SUCH_QUOTE, 404)
    filled = bool(s.projection.product_events(history.FILLS.name, id=qid, limit=1).rows)
    return ok(_view(rows[0], now, filled, True))


@router.post("/api/otc/quotes/{quote_id}/accept")
async def accept_quote(quote_id: str, request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    await _run(s, AcceptOtcQuote(s.clock.now_us(), c.account, _quote_id(quote_id)))
    return ok(None)


def _side(value: Any, name: str) -> tuple[int, ...]:
    """A ladder side from `[[size, price], ...]` (whole coins) to the command's flattened atoms."""
    if value is None:
        return ()
    if type(value) is not list or len(value) > MAX_LEVELS:
        raise ApiError(f"Invalid parameter {name}")
    out: list[int] = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise ApiError(f"Invalid parameter {name}")
        out.append(_atoms(level[0], name))
        out.append(_atoms(level[1], name))
    return tuple(out)


@router.post("/api/otc/ladders")
async def set_ladder(request: Request) -> FTXResponse:
    c = await caller(request, write=True)
    s = _state(request)
    _product(s)
    body = c.body
    base = params.text(body.get("base"), "base")
    quote = params.text(body.get("quote"), "quote")
    bids = _side(body.get("bids"), "bids")
    asks = _side(body.get("asks"), "asks")
    events = await _run(s, SetOtcLadder(s.clock.now_us(), c.account, base, quote, bids, asks))
    done = next(e for e in events if isinstance(e, OtcLadderSet))
    return ok(
        {"base": done.base, "quote": done.quote, "bidLevels": done.bid_levels, "askLevels": done.ask_levels}
    )


@operator_router.post("/operator/otc/providers")
async def register_provider(request: Request) -> FTXResponse:
    s = _state(request)
    body = await operator._body(request)
    _product(s)
    account = operator._account(s, body)
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError("Invalid parameter enabled")
    await _run(s, RegisterOtcProvider(s.clock.now_us(), account, enabled))
    return ok({"account": body["account"], "subaccount": body.get("subaccount"), "enabled": enabled})


# ----------------------------------------------------------------------------- fills

OTC_FILL_IDS = 1 << 52
"""OTC fills' ids in /fills: OTC_FILL_IDS + quote id x 2 (+1 for the provider's side), apart from the
books' fill ids (trade id x 2 (+1)) and still exact in a JSON double."""


def _fill(row: dict[str, Any], provider: bool) -> dict[str, Any]:
    """One side of a filled quote as FTX showed a convert in /fills: `type` "otc", no market, the base
    and quote coins, the size in the base coin, no fee (the cost is in the price)."""
    base_paid = row["from_coin"] == row["base"]  # the requester sold the base coin
    side = row["side"] if not provider else ("buy" if row["side"] == "sell" else "sell")
    return {
        "id": OTC_FILL_IDS + row["id"] * 2 + provider,
        "market": None,
        "future": None,
        "baseCurrency": row["base"],
        "quoteCurrency": row["quote"],
        "type": "otc",
        "side": side,
        "price": from_atoms(row["price"]),
        "size": from_atoms(row["cost"] if base_paid else row["proceeds"]),
        "orderId": None,
        "tradeId": None,
        "time": iso(row["ts"]),
        "liquidity": "maker" if provider else "taker",
        "fee": 0,
        "feeCurrency": row["quote"],
        "feeRate": 0.0,
    }


def otc_fills(
    s: ServerState, account: int, start: int | None, end: int | None, limit: int
) -> list[tuple[int, dict[str, Any]]]:
    """The account's filled quotes, as requester and as provider, newest first (private.OTHER_FILLS)."""
    if not any(p.name == NAME for p in s.exchange.products):
        return []
    out = []
    for column, provider in (("account", False), ("provider", True)):
        rows = s.projection.product_events(
            history.FILLS.name, start=start, end=end, limit=limit, **{column: account}
        ).rows
        out += [(row["ts"], _fill(row, provider)) for row in rows]
    out.sort(key=lambda pair: pair[0], reverse=True)
    return out


OTHER_FILLS.append(otc_fills)

DAY_S = 86_400


def _usd(s: ServerState, coin: str, atoms: int) -> Decimal | None:
    """`atoms` of `coin` in USD at the mark of the market that prices it (USD itself: 1); None when
    the coin has no price now."""
    if coin == "USD":
        return from_atoms(atoms)
    priced = s.exchange.coin_price(coin)
    if priced is None:
        return None
    market, ticks = priced
    return from_atoms(atoms) * market.price_of(ticks)


def otc_volume(s: ServerState, now_s: int) -> list[dict[str, Any]]:
    """The desk's last 24 hours for the volume monitor (transparency.OTHER_VOLUME), one row named
    "OTC" (none where the desk is not enabled): the fills' value in USD, each at its quote coin's
    value (USD: exact; another coin at its mark now), and their count."""
    if not any(p.name == NAME for p in s.exchange.products):
        return []
    rows = s.projection.product_events(history.FILLS.name, start=(now_s - DAY_S) * 1_000_000, limit=None).rows
    total = Decimal(0)
    for row in rows:
        amount = row["proceeds"] if row["to_coin"] == row["quote"] else row["cost"]
        value = _usd(s, row["quote"], amount)
        if value is not None:
            total += value
    return [
        {
            "market": "OTC",
            "volumeUsd24h": total,
            "openInterest": None,
            "openInterestUsd": None,
            "fills24h": len(rows),
        }
    ]


OTHER_VOLUME.append(otc_volume)
