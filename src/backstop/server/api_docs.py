"""The API's documentation (/openapi.json, /docs, /redoc): what the handlers cannot say themselves.

The handlers read their JSON bodies by hand (FTX's error strings, exact numbers), so FastAPI sees
no body to describe. The models below exist only for the document: each names the fields one
route reads, as FTX documented them, and `openapi()` attaches it to its route; nothing parses a
request with them. The same goes for FTX's request signing, described as security schemes, and for
the websocket at /ws, which OpenAPI has no words for and the description covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field

from backstop.catalog import MAX_LEVERAGE
from backstop.engine.commands import MAX_TEXT
from backstop.server.auth import DEFAULT_WINDOW_MS
from backstop.server.params import MAX_BODY, MAX_DEPTH
from backstop.server.private import MAX_IDS

WINDOW_S = DEFAULT_WINDOW_MS // 1000

SIGNING = f"""\
Private endpoints (everything under `/api` that reads or changes an account) are signed the way FTX
signed them, so FTX clients (ccxt's `ftx` class) work unchanged:

| header | value |
|---|---|
| `FTX-KEY` | the API key (`backstop keys create NAME`, or `POST /operator/accounts`) |
| `FTX-TS` | milliseconds since the Unix epoch; refused when more than {WINDOW_S} s from the server's clock |
| `FTX-SIGN` | lowercase hex of HMAC-SHA256(secret, `FTX-TS + METHOD + path?query + body`) |
| `FTX-SUBACCOUNT` | optional: act for this subaccount (URL-encoded; not signed) |

`path?query` is the request target exactly as sent (with `/api`, the query undecoded), and the
body is appended only when there is one. At `FTX-TS` 1650000000000, `GET /api/orders?market=BTC-PERP`
signs `1650000000000GET/api/orders?market=BTC-PERP`, and `POST /api/orders` with body
`{{"market":"BTC-PERP",...}}` signs `1650000000000POST/api/orders{{"market":"BTC-PERP",...}}`.
A key may be read-only, or limited to one subaccount. Failures answer 401 with FTX's strings
(`Not logged in: Invalid signature`, `Not logged in: Timestamp too far from current time`, ...).

Unlike FTX, each signed write (any method but GET and HEAD) is accepted once: the same signature
sent again within the window, a replay, is refused with 401 `Not logged in: Signature already
used`, before it changes anything. A client signs every request afresh (ccxt does): two identical
writes in the same millisecond sign alike, and the second is refused.

What every request is held to (`{{"success": false, "error": ...}}` otherwise, nothing changed):
a body of at most {MAX_BODY:,} bytes (413), read before the signature is checked; JSON without
duplicate keys, NaN or Infinity, nested at most {MAX_DEPTH} deep; numbers in plain ASCII decimal
(`-12.5`, `1e-3`); names and ids of at most {MAX_TEXT} printable characters; at most {MAX_IDS:,} ids
in a bulk cancel (400 `Invalid parameter <name>`). A write the exchange cannot make durable now (a
full disk) answers 503 `Please retry request: ...` and did nothing: send it again. A history read
(`/api/orders/history`, `/api/fills`, ...) while the history database is down or catching up
answers 503 `History unavailable: ...`; trading goes on meanwhile.

The operator API under `/operator` takes `Authorization: Bearer <token>`: the token is
`$BACKSTOP_OPERATOR_TOKEN`, or the one `backstop serve` wrote to `operator_token` in the data
directory when it first started.
"""

WEBSOCKET = f"""\
FTX's websocket is at `ws://HOST:PORT/ws` (and `/ws/`). Send JSON objects with an `op`:

- `{{"op": "ping"}}` → `{{"type": "pong"}}`. Clients ping (FTX's protocol); the server never does.
- `{{"op": "login", "args": {{"key": KEY, "sign": SIGN, "time": MS, "subaccount": NAME}}}}` with
  SIGN = hex HMAC-SHA256(secret, `MS + "websocket_login"`), MS within {WINDOW_S} s; `subaccount` is
  optional. Nothing is sent on success; a failure is an `error` with FTX's `Invalid login credentials`.
- `{{"op": "subscribe", "channel": CHANNEL, "market": MARKET}}` → `{{"type": "subscribed", ...}}`,
  then the channel's frames; `unsubscribe` likewise → `unsubscribed`.

Frames are `{{"channel", "market", "type", "data"}}`; `type` is `partial`, `update`, `subscribed`,
`unsubscribed`, `pong` or `error` (with `code` and `msg`: `No such market: X`, `Not logged in`,
`Already subscribed`, ...).

Channels (`market` names a market for the first three and is left out for the others):

- `orderbook`: a `partial` of the top 100 levels per side (`bids` and `asks` as [price, size],
  `action`, `time`, `checksum`), then `update`s with only the levels that changed (size 0: gone).
  `checksum` is FTX's: the unsigned crc32 of `bid0price:bid0size:ask0price:ask0size:...` over the
  top 100 after the frame is applied.
- `trades`: `update`s with the market's new trades (`id`, `price`, `size`, `side`, `liquidation`,
  `time`).
- `ticker`: an `update` (`bid`, `ask`, `bidSize`, `askSize`, `last`, `time`) after every change.
- `markets`: one `partial` with every market (and future) as `GET /api/markets` shows it.
- `fills` (after login): an `update` for each fill of the account, as `GET /api/fills` shows it.
- `orders` (after login): an `update` for each order of the account that changed, as
  `GET /api/orders/{{order_id}}` shows it.

A client too slow to take its frames is disconnected (close code 1013) rather than holding up the
exchange; it can reconnect and get a fresh `partial`.
"""

DESCRIPTION = f"""\
An FTX-compatible derivatives exchange: FTX's REST API under `/api` (its JSON envelope
`{{"success": true, "result": ...}}`, its error strings with 4xx statuses), its websocket at `/ws`,
and an operator API under `/operator`.

## Authentication

{SIGNING}
## Websocket

{WEBSOCKET}"""

FTX_SCHEMES: dict[str, dict[str, Any]] = {
    "FTX-KEY": {"type": "apiKey", "in": "header", "name": "FTX-KEY", "description": "The API key."},
    "FTX-TS": {
        "type": "apiKey",
        "in": "header",
        "name": "FTX-TS",
        "description": f"Milliseconds since the Unix epoch, within {WINDOW_S} s of the server's clock.",
    },
    "FTX-SIGN": {
        "type": "apiKey",
        "in": "header",
        "name": "FTX-SIGN",
        "description": "Lowercase hex HMAC-SHA256(secret, FTX-TS + METHOD + path?query + body).",
    },
    "FTX-SUBACCOUNT": {
        "type": "apiKey",
        "in": "header",
        "name": "FTX-SUBACCOUNT",
        "description": "Optional: the subaccount to act for (URL-encoded, not signed).",
    },
}
OPERATOR_SCHEME = {
    "operator": {
        "type": "http",
        "scheme": "bearer",
        "description": "$BACKSTOP_OPERATOR_TOKEN, or operator_token in the data directory.",
    }
}
SIGNED: dict[str, list[str]] = {"FTX-KEY": [], "FTX-TS": [], "FTX-SIGN": []}
SIGNED_FOR_SUBACCOUNT = {**SIGNED, "FTX-SUBACCOUNT": []}


# ----------------------------------------------------------------------------- bodies (schema only)


class Body(BaseModel):
    """A request body as the document shows it (fields a handler does not read are ignored)."""


Side = Literal["buy", "sell"]


class PlaceOrder(Body):
    """An order (FTX's POST /orders)."""

    market: str = Field(examples=["BTC-PERP"])
    side: Side
    price: float | None = Field(
        None, description="Limit price, a multiple of the market's priceIncrement; null for a market order."
    )
    type: Literal["limit", "market"] = "limit"
    size: float = Field(description="A multiple of the market's sizeIncrement.", examples=[0.01])
    reduceOnly: bool = Field(False, description="Futures only: may only reduce the position.")
    ioc: bool = Field(False, description="Immediate or cancel.")
    postOnly: bool = Field(False, description="Cancelled instead of taking liquidity.")
    clientId: str | None = Field(None, description="Your id, unique among your open orders.")


class ModifyOrder(Body):
    """Cancel-and-replace (FTX's modify): the replacement gets a new id."""

    price: float | None = Field(None, description="New price; null keeps it.")
    size: float | None = Field(None, description="New size; null keeps it.")
    clientId: str | None = Field(None, description="A clientId for the replacement.")


class CancelAll(Body):
    """Every open order of the account, or those matching the filters."""

    market: str | None = None
    side: Side | None = None
    conditionalOrdersOnly: bool = False
    limitOrdersOnly: bool = False


class CancelByIds(Body):
    orderIds: list[int] = Field(description="Order ids; the answer lists those cancelled.")


class CancelByClientIds(Body):
    clientOrderIds: list[str] = Field(description="clientIds; the answer lists those cancelled.")


class Leverage(Body):
    leverage: int = Field(ge=1, le=MAX_LEVERAGE, description="The account's leverage cap.")


class PlaceTrigger(Body):
    """A trigger order: stop, take-profit or trailing stop (FTX's POST /conditional_orders)."""

    market: str = Field(examples=["BTC-PERP"])
    side: Side
    size: float
    type: Literal["stop", "takeProfit", "trailingStop"] = "stop"
    triggerPrice: float | None = Field(None, description="Stop and take-profit: the trigger.")
    orderPrice: float | None = Field(None, description="A limit order when triggered; null: a market order.")
    trailValue: float | None = Field(None, description="Trailing stop: the distance (negative for a sell).")
    reduceOnly: bool = False
    retryUntilFilled: bool | None = Field(None, description="Default: true for market trigger orders.")
    triggerBy: Literal["mark", "last", "index"] = Field(
        "mark", description="The price that fires it (FTX: the mark; last and index are Backstop's)."
    )


class ModifyTrigger(Body):
    size: float | None = None
    triggerPrice: float | None = None
    orderPrice: float | None = None
    trailValue: float | None = None


class CreateSubaccount(Body):
    nickname: str = Field(min_length=1, max_length=64, description="Any name but 'main'.")


class SubaccountTransfer(Body):
    """Between two subaccounts of the key's owner."""

    coin: str = Field(examples=["USD"])
    size: float
    source: str | None = Field(description="A subaccount's nickname; null or 'main' for the main account.")
    destination: str | None = Field(description="Likewise.")


class TokenRequest(Body):
    """A leveraged token creation or redemption, in whole tokens (to 1e-8), settled at once."""

    size: float = Field(examples=[10])


class OtcQuoteRequest(Body):
    """Convert `size` of `fromCoin` into `toCoin` (FTX's convert): a firm quote, priced against the
    best provider ladder for the size, to accept before its expiry (12 s)."""

    fromCoin: str = Field(examples=["BTC"])
    toCoin: str = Field(examples=["USD"])
    size: float = Field(examples=[0.05], description="In fromCoin.")


class OtcLadder(Body):
    """A registered OTC provider's firm ladder for a pair (ours): a request is priced whole at the
    first level whose size covers it; both sides empty withdraws the ladder."""

    base: str = Field(examples=["BTC"])
    quote: str = Field(examples=["USD"], description="USD is always the quote of a pair that has it.")
    bids: list[tuple[float, float]] = Field(
        [], description="[[max size in base, price in quote per base], ...], sizes increasing: it buys."
    )
    asks: list[tuple[float, float]] = Field([], description="Likewise: it sells.")


class StakeRequest(Body):
    """FTT to stake, or to ask back (released 14 days later), in whole FTT (to 1e-8)."""

    coin: str = Field(examples=["FTT"])
    size: float = Field(examples=[25])


class ReferrerRequest(Body):
    """The owner who referred the caller's owner (set once)."""

    referrer: str = Field(examples=["alice"])


class FttCollateral(Body):
    """Whether the account's FTT counts as collateral (on by default)."""

    enabled: bool = Field(examples=[False])


class VolumeSwap(Body):
    """Pay `size` of `coinIn` into the VOL/USD pool for the other coin (Uniswap v2's constant
    product, 0.3% of the input to the liquidity providers)."""

    coinIn: Literal["USD", "VOL"] = Field(examples=["USD"])
    size: float = Field(examples=[100], description="In coinIn.")
    minOut: float | None = Field(None, description="Refused if the pool would give less (default: any).")


class VolumeLiquidity(Body):
    """Deposit up to `vol` VOL and `usd` USD into the pool (taken at its ratio) for LP shares."""

    vol: float = Field(examples=[100])
    usd: float = Field(examples=[110])
    minLp: int | None = Field(None, description="Refused if fewer LP shares would be minted.")


class VolumeLiquidityRemove(Body):
    """Burn `lp` LP shares for their part of both reserves."""

    lp: int = Field(examples=[1000])
    minVol: float | None = None
    minUsd: float | None = None


class VolumeIssue(Body):
    """Issue the volume token, once: its whole supply minted to the account."""

    account: str = Field(examples=["issuer"])
    subaccount: str | None = None
    supply: float = Field(examples=[500_000], description="VOL.")
    divisor: int = Field(examples=[1_000_000_000], description="target price = 24-hour USD volume / divisor.")


class VolumePolicy(Body):
    """The rebase policy's rates, only ever faster: the threshold may not rise, nor the lag."""

    threshold: float = Field(examples=[0.05], description="The deviation inside which no rebase happens.")
    lag: int = Field(examples=[4])


class Withdrawal(Body):
    """To an address on the simulated chain (settled at once); only free collateral can leave."""

    coin: str = Field(examples=["USD"])
    size: float
    address: str
    tag: str | None = None
    password: str | None = Field(None, description="Accepted, as FTX's clients send it; not checked.")
    code: str | None = Field(None, description="Accepted, as FTX's clients send it; not checked.")


class AccountRef(Body):
    account: str = Field(description="The owner's name.", examples=["alice"])
    subaccount: str | None = Field(None, description="A subaccount of it; omitted: the main account.")


class OperatorAccount(Body):
    name: str = Field(examples=["alice"])
    subaccount: str | None = None
    createKey: bool = Field(True, description="Also make an API key (false: the account only).")


class Movement(AccountRef):
    coin: str = Field(examples=["USD"])
    size: float


class IndexPrices(Body):
    prices: dict[str, float | list[float]] = Field(
        description="Per coin, a price or its constituents' prices (the median is taken).",
        examples=[{"BTC": 30000, "ETH": [2000, 2001, 1999]}],
    )


class ClockAdvance(Body):
    seconds: int = Field(ge=1, le=86_400, description="With --clock manual: seconds to run, a tick each.")


class BackstopProvider(AccountRef):
    perMinute: float = Field(description="USD of notional taken per minute (0 and 0: leave).")
    perHour: float


class OtcProvider(AccountRef):
    enabled: bool = Field(True, description="false: no longer a provider (its ladders withdrawn).")


class MarginFloor(Body):
    imf: float = Field(ge=0, le=1, description="Least initial margin fraction (0: FTX's formula alone).")
    mmf: float = Field(ge=0, le=1, description="Least maintenance margin fraction.")


class OperatorTransfer(Body):
    source: AccountRef
    destination: AccountRef
    coin: str = Field(examples=["USD"])
    size: float


class OperatorLeverage(AccountRef):
    leverage: int = Field(ge=1, le=MAX_LEVERAGE)


class FundInsurance(AccountRef):
    size: float = Field(description="USD from the account's free collateral.")


BODIES: dict[tuple[str, str], type[Body]] = {
    ("POST", "/api/orders"): PlaceOrder,
    ("POST", "/api/lt/{token_name}/create"): TokenRequest,
    ("POST", "/api/lt/{token_name}/redeem"): TokenRequest,
    ("POST", "/api/srm_stakes/stakes"): StakeRequest,
    ("POST", "/api/staking/unstake_requests"): StakeRequest,
    ("POST", "/api/ftt/referrer"): ReferrerRequest,
    ("POST", "/api/ftt/collateral"): FttCollateral,
    ("POST", "/api/otc/quotes"): OtcQuoteRequest,
    ("POST", "/api/otc/ladders"): OtcLadder,
    ("POST", "/api/volume_token/swaps"): VolumeSwap,
    ("POST", "/api/volume_token/liquidity"): VolumeLiquidity,
    ("POST", "/api/volume_token/liquidity/remove"): VolumeLiquidityRemove,
    ("POST", "/api/orders/{order_id}/modify"): ModifyOrder,
    ("POST", "/api/orders/by_client_id/{client_id}/modify"): ModifyOrder,
    ("DELETE", "/api/orders"): CancelAll,
    ("DELETE", "/api/bulk_orders"): CancelByIds,
    ("DELETE", "/api/bulk_orders_by_client_id"): CancelByClientIds,
    ("POST", "/api/account/leverage"): Leverage,
    ("POST", "/api/conditional_orders"): PlaceTrigger,
    ("POST", "/api/conditional_orders/{order_id}/modify"): ModifyTrigger,
    ("POST", "/api/subaccounts"): CreateSubaccount,
    ("POST", "/api/subaccounts/transfer"): SubaccountTransfer,
    ("POST", "/api/wallet/withdrawals"): Withdrawal,
    ("POST", "/operator/accounts"): OperatorAccount,
    ("POST", "/operator/deposits"): Movement,
    ("POST", "/operator/withdrawals"): Movement,
    ("POST", "/operator/index_prices"): IndexPrices,
    ("POST", "/operator/clock/advance"): ClockAdvance,
    ("POST", "/operator/blps"): BackstopProvider,
    ("POST", "/operator/otc/providers"): OtcProvider,
    ("POST", "/operator/volume_token/issue"): VolumeIssue,
    ("POST", "/operator/volume_token/policy"): VolumePolicy,
    ("POST", "/operator/markets/{market}/margin"): MarginFloor,
    ("POST", "/operator/transfers"): OperatorTransfer,
    ("POST", "/operator/leverage"): OperatorLeverage,
    ("POST", "/operator/insurance_fund"): FundInsurance,
}
"""The body each route reads, by method and path as the document writes it."""


Section = tuple[str, APIRouter, Literal["ftx", "operator"] | None]
"""A group of routes in the document: its name, its router, and how its requests authenticate."""


def openapi(app: FastAPI, sections: Iterable[Section]) -> dict[str, Any]:
    """The OpenAPI document of `app` with every route's body, its routes grouped in `sections`
    (FTX's signing or the operator's token on those that need them), and the websocket in the
    description; made once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = {**FTX_SCHEMES, **OPERATOR_SCHEME}
    paths = doc["paths"]
    for (method, path), model in BODIES.items():
        operation = paths[path][method.lower()]  # a KeyError here: a route moved, move its body too
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for shown in (schema, *schema.pop("$defs", {}).values()):
            for field in shown["properties"].values():
                field.pop("title", None)  # pydantic's "Reduceonly" beside the name reduceOnly
            schemas[shown["title"]] = shown
        operation["requestBody"] = {
            "required": bool(schema.get("required")),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    security = {"ftx": [SIGNED, SIGNED_FOR_SUBACCOUNT], "operator": [{"operator": []}]}
    doc["tags"] = []
    for name, router, auth in sections:
        doc["tags"].append({"name": name})
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for method in route.methods or ():
                operation = paths[route.path_format][method.lower()]
                operation["tags"] = [name]
                if auth is not None:
                    operation["security"] = security[auth]
    app.openapi_schema = doc
    return doc
