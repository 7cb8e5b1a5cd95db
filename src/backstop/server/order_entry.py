"""Order entry: a signed request made into its caller, an order's body into a `PlaceOrder`
checked at the edge (FTX's errors), a command run through the sequencer, and the order's row from
its events. The signed order path's own code (`gateway.py` answers POST /api/orders with it, and
`private.py`'s routes use the same), compiled with mypyc apart from the FastAPI routes.

JSON numbers are converted to exact ticks, lots and atoms here, and a value that is not a multiple
of the market's increment is refused rather than rounded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backstop.catalog import Market
from backstop.engine import commands as cmd
from backstop.engine import errors
from backstop.engine.events import Event, OrderAccepted, Rejected
from backstop.projections.writer import OrderRow, order_from_events, order_row
from backstop.server import auth, params
from backstop.server.envelope import ApiError
from backstop.server.wire import MarketText, market_text

if TYPE_CHECKING:
    from backstop.server.app import ServerState


class Caller:
    def __init__(self, principal: auth.Principal, account: int, body: dict[str, Any]) -> None:
        self.principal = principal
        self.account = account
        self.body = body


def signed(
    s: ServerState,
    headers: Mapping[str, str],
    method: str,
    target: bytes,
    raw_body: bytes,
    write: bool = False,
    order: bool = False,
) -> Caller:
    """`caller` without a framework request."""
    h = {k.lower(): v for k, v in headers.items()}
    key, ts, sign = h.get("ftx-key", ""), h.get("ftx-ts", ""), h.get("ftx-sign", "")
    return signed_by(s, key, ts, sign, h.get("ftx-subaccount"), method, target, raw_body, write, order)


def signed_by(
    s: ServerState,
    key: str,
    ts: str,
    sign: str,
    subaccount: str | None,
    method: str,
    target: bytes,
    raw_body: bytes,
    write: bool = False,
    order: bool = False,
) -> Caller:
    """`signed` given the FTX-* headers' values (`auth.verify`): the order gateway reads them from
    raw ASGI headers."""
    try:
        now_ms = time.time_ns() // 1_000_000
        principal = auth.verify(
            s.keys, key, ts, sign, subaccount, method, target, raw_body, now_ms, s.auth_window_ms
        )
        if write:
            auth.require_write(principal)
    except auth.AuthError as exc:
        raise ApiError(exc.message, exc.status) from None
    account = s.exchange.account_id(principal.owner, principal.subaccount)
    if account is None:
        raise ApiError(errors.NO_SUCH_SUBACCOUNT, 400)
    if order:
        s.rate_limit.check(s.exchange.accounts[account])
    return Caller(principal, account, params.body(raw_body))


WIRE_NAMES = {
    "client_id": "clientId",
    "new_client_id": "clientId",
    "trigger_price": "triggerPrice",
    "order_price": "orderPrice",
    "trail_value": "trailValue",
    "amount": "size",
    "subaccount": "nickname",
}
"""A command's field as FTX's API names it, for the error that refuses it."""


async def run(s: ServerState, command: cmd.Command) -> list[Event]:
    """`run_numbered`'s events (one coroutine less for every order)."""
    _check(command)
    events = (await s.sequencer.submit_numbered(command))[1]
    if events and isinstance(events[0], Rejected):
        raise ApiError(events[0].error)
    return events


async def run_numbered(s: ServerState, command: cmd.Command) -> tuple[int, list[Event]]:
    """(the command's journal number, its events), or ApiError with the engine's rejection."""
    _check(command)
    seq, events = await s.sequencer.submit_numbered(command)
    if events and isinstance(events[0], Rejected):
        raise ApiError(events[0].error)
    return seq, events


def _check(command: cmd.Command) -> None:
    bad = cmd.invalid_field(command)
    if bad is not None:
        raise ApiError(f"Invalid parameter {WIRE_NAMES.get(bad, bad)}")


def lots(market: Market, value: Any) -> int:
    """A size from a body in lots of `market`: > 0 and a whole number of its size increment.
    Counted with integers: the size as the ratio of integers it is, over the increment's
    (`num / den`), the quotient what the exact Decimal division gives (see FAST_TICKS), without
    the division and the two Decimals it makes (a third of this function's cost).

    A size given as a string or a JSON fraction (a Decimal) is counted once per market and text
    and kept (`MarketText.lots`, at most MAX_SIZES, forgotten all at once past that): clients send
    the same few sizes over and over, and the checks and the count were half of `order_command`.
    The text decides: `str` of a Decimal gives back its digits and exponent exactly, so the same
    text is the same number with the same digits, refused or counted alike (only counts are kept;
    what is refused is refused each time)."""
    m = market_text(market)
    kind = type(value)
    if kind is Decimal or kind is str:
        key = (kind, value if kind is str else str(value))
        found = m.lots.get(key)
        if found is not None:
            return found
        count = _count_lots(m, value)
        if len(m.lots) >= MAX_SIZES:
            m.lots.clear()
        m.lots[key] = count
        return count
    return _count_lots(m, value)


MAX_SIZES = 1_000
"""Sizes kept counted per market (`lots`)."""


def _count_lots(m: MarketText, value: Any) -> int:
    size = params.decimal(value, "size")
    if size <= 0:
        raise ApiError(errors.SIZE_TOO_SMALL)
    top, bottom = size.as_integer_ratio()
    count, rest = divmod(top * m.size_den, bottom * m.size_num)
    if rest:
        raise ApiError(errors.SIZE_TOO_SMALL if count < 1 else "Invalid parameter size")
    return count


FAST_TICKS = 10**15
"""A JSON integer price below this (and above 0) is counted in ticks with integer arithmetic:
`price x den / num` for the increment `num / den` is what the exact Decimal division gives, as
its quotient has far fewer digits than Decimal's 28."""


def ticks(market: Market, value: Any, name: str = "price") -> int:
    if type(value) is int and 0 < value < FAST_TICKS:  # most orders' prices: no Decimal needed
        m = market_text(market)
        whole, rest = divmod(value * m.price_den, m.price_num)
        if rest:
            raise ApiError(errors.INVALID_PRICE)
        return whole
    price = params.decimal(value, name)
    if price <= 0:
        raise ApiError(errors.INVALID_PRICE)
    count = price / market.price_increment
    if count != count.to_integral_value():
        raise ApiError(errors.INVALID_PRICE)
    return int(count)


def _market(s: ServerState, name: Any) -> Market:
    if not isinstance(name, str):
        raise ApiError("Invalid parameter market")
    market = s.exchange.catalog.markets.get(name)
    if market is None:
        raise ApiError(errors.no_such_market(name))
    return market


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(f"Invalid parameter {name}")
    return value


def _client_id(value: Any, name: str = "clientId") -> str | None:
    if value is None:
        return None
    return params.text(str(value) if type(value) is int else value, name)


def placed_row(events: list[Event]) -> OrderRow:
    """The row of the order a command's events accepted last, as they leave it. An order that
    rests as it came (its command's one event, most orders) is its acceptance's row."""
    if len(events) == 1:
        only = events[0]
        if type(only) is OrderAccepted:
            return order_row(only)
    order_id = None
    for e in reversed(events):
        if isinstance(e, OrderAccepted):
            order_id = e.order_id
            break
    if order_id is None:
        raise ApiError(errors.INTERNAL_ERROR, 500)
    row = order_from_events(events, order_id)
    assert row is not None
    return row


def order_command(s: ServerState, c: Caller) -> cmd.PlaceOrder:
    """The order `c`'s body asks for, checked at the edge (FTX's errors)."""
    b = c.body
    market = _market(s, b.get("market"))
    side = b.get("side")
    if side not in ("buy", "sell"):
        raise ApiError(errors.INVALID_SIDE)
    kind = b.get("type", "limit")
    if kind not in ("limit", "market"):
        raise ApiError(errors.INVALID_TYPE)
    price_field = b.get("price")
    if kind == "limit" and price_field is None:
        raise ApiError(errors.MISSING_PRICE)
    price = None if kind == "market" or price_field is None else ticks(market, price_field)
    return cmd.PlaceOrder(
        s.clock.now_us(),
        c.account,
        market.name,
        side,
        lots(market, b.get("size")),
        price,
        kind,
        _flag(b, "ioc"),
        _flag(b, "postOnly"),
        _flag(b, "reduceOnly"),
        _client_id(b.get("clientId")),
    )
