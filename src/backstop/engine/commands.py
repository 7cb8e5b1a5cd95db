"""Commands: everything that can change the exchange. Each carries its time (microseconds, UTC).

Commands are plain tuples so that the journal writes them with one C call. Sizes are lots and
prices ticks of the command's market; coin amounts are atoms (1e-8). Sides are "buy" / "sell".
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union


class CreateAccount(NamedTuple):
    ts: int
    owner: str
    subaccount: str = ""  # "" is the owner's main account


class Deposit(NamedTuple):
    ts: int
    account: int
    coin: str
    amount: int


class Withdraw(NamedTuple):
    ts: int
    account: int
    coin: str
    amount: int
    # where it goes, as the client gave it (FTX's address and tag): kept for the history, no rule
    # reads them; "" when none (the operator's and journals written before they were added)
    address: str = ""
    tag: str = ""


class Transfer(NamedTuple):
    ts: int
    source: int
    destination: int
    coin: str
    amount: int


class SetLeverage(NamedTuple):
    ts: int
    account: int
    leverage: int


class PlaceOrder(NamedTuple):
    ts: int
    account: int
    market: str
    side: str
    size: int
    price: int | None = None  # None for market orders
    type: str = "limit"  # "limit" | "market"
    ioc: bool = False
    post_only: bool = False
    reduce_only: bool = False
    client_id: str | None = None


class CancelOrder(NamedTuple):
    ts: int
    account: int
    order_id: int | None = None
    client_id: str | None = None


class CancelAll(NamedTuple):
    ts: int
    account: int
    market: str | None = None
    side: str | None = None
    conditional_only: bool = False
    limit_only: bool = False


class ModifyOrder(NamedTuple):
    ts: int
    account: int
    order_id: int | None = None
    client_id: str | None = None
    price: int | None = None
    size: int | None = None
    new_client_id: str | None = None


class Tick(NamedTuple):
    """The clock: time-driven work (risk sweep, funding, expiry) hangs off this."""

    ts: int


class IndexUpdate(NamedTuple):
    """A feed's quotes for one underlying: its constituents' prices in USD atoms per whole coin.
    The index is their equal-weighted median (FTX's rule), taken inside the engine so the journal
    keeps the inputs."""

    ts: int
    coin: str
    prices: tuple[int, ...]


class RegisterBackstop(NamedTuple):
    """Enrol an account as a backstop liquidity provider with its declared capacity (USD atoms of
    notional it will take per minute and per hour). Zero capacities withdraw it from the program."""

    ts: int
    account: int
    per_minute: int
    per_hour: int


class FundInsurance(NamedTuple):
    """Move USD from an account into the insurance fund (the operator seeding it, as FTX seeded
    its fund); only free collateral can move."""

    ts: int
    account: int
    amount: int


class PlaceConditional(NamedTuple):
    """A trigger order (FTX's conditional order): kept off the book until its trigger fires, then
    sent as a market order (order_price None) or a limit order at order_price.

    type: "stop" | "take_profit" | "trailing_stop"; trigger_price in ticks (not for trailing
    stops); trail_value in ticks, negative for a sell, positive for a buy; trigger_by: "mark"
    (FTX's only choice, the default) | "last" | "index"."""

    ts: int
    account: int
    market: str
    side: str
    size: int
    type: str = "stop"
    trigger_price: int | None = None
    order_price: int | None = None
    trail_value: int | None = None
    reduce_only: bool = False
    retry_until_filled: bool = True
    trigger_by: str = "mark"


class CancelConditional(NamedTuple):
    ts: int
    account: int
    order_id: int


class ModifyConditional(NamedTuple):
    ts: int
    account: int
    order_id: int
    size: int | None = None
    trigger_price: int | None = None
    order_price: int | None = None
    trail_value: int | None = None


class HaltMarket(NamedTuple):
    """Operator halt or resume: a halted market takes no orders and marks at index + premium."""

    ts: int
    market: str
    halted: bool


class SetMarginFloor(NamedTuple):
    """The operator (or the risk lab's margin model) raises a market's margin fractions: position
    IMF >= `imf` and MMF >= `mmf`, rate units, on top of FTX's formulas; 0 and 0 restore them."""

    ts: int
    market: str
    imf: int
    mmf: int


class MassQuote(NamedTuple):
    """A market maker's whole ladder in one command (FTX had none; Deribit's mass quote, Binance's
    batch orders): the account's resting limit orders in `market` are cancelled, and each (price,
    size) pair becomes a post-only limit order, the bids then the asks, each in the order given.
    Orders, checks and events are those of CancelAll(market, limit_only) followed by one
    PlaceOrder per pair; a pair the checks refuse is skipped, its Rejected at the end of the
    events. One journal entry, and the margin of the whole ladder is checked once."""

    ts: int
    account: int
    market: str
    bids: tuple[int, ...]  # price, size, price, size, ... (ticks, lots); may be empty
    asks: tuple[int, ...]


Command = Union[  # noqa: UP007
    CreateAccount,
    Deposit,
    Withdraw,
    Transfer,
    SetLeverage,
    PlaceOrder,
    CancelOrder,
    CancelAll,
    ModifyOrder,
    Tick,
    IndexUpdate,
    RegisterBackstop,
    HaltMarket,
    FundInsurance,
    PlaceConditional,
    CancelConditional,
    ModifyConditional,
    SetMarginFloor,
    MassQuote,
]

COMMANDS: tuple[type[Any], ...] = (
    CreateAccount,
    Deposit,
    Withdraw,
    Transfer,
    SetLeverage,
    PlaceOrder,
    CancelOrder,
    CancelAll,
    ModifyOrder,
    Tick,
    IndexUpdate,
    RegisterBackstop,
    HaltMarket,
    FundInsurance,
    PlaceConditional,
    CancelConditional,
    ModifyConditional,
    SetMarginFloor,
    MassQuote,
)
"""The core commands. A core command's journal code is its position here (CreateAccount 0 ...
MassQuote 18): append new core commands, never reorder, so every journal ever written decodes."""

PRODUCT_SPAN = 1_000
"""Product codes: a product declares its base, a multiple of PRODUCT_SPAN from PRODUCT_SPAN on
(product N owns N x 1000 .. N x 1000 + 999), and numbers its commands from that base. The core
keeps 0 .. 999. A code once journaled is never given to another command."""

BY_CODE: dict[int, type[Any]] = dict(enumerate(COMMANDS))
"""Journal code -> command class, core and registered products (the journal decodes by this)."""
CODES: dict[type[Any], int] = {cls: code for code, cls in BY_CODE.items()}
BY_NAME: dict[str, type[Any]] = {cls.__name__: cls for cls in COMMANDS}


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "int | None": (int, type(None)),
    "str | None": (str, type(None)),
    "tuple[int, ...]": (tuple,),
}


def _field_types(cls: type[Any]) -> tuple[tuple[str, tuple[type, ...]], ...]:
    return tuple(
        (name, _KINDS[str(getattr(hint, "__forward_arg__", hint))])
        for name, hint in cls.__annotations__.items()
    )


FIELD_TYPES: dict[type[Any], tuple[tuple[str, tuple[type, ...]], ...]] = {
    cls: _field_types(cls) for cls in COMMANDS
}
"""Per command, each field and the Python types it may hold (from the annotations above)."""
MAY_BE_EMPTY: dict[type[Any], frozenset[str]] = {MassQuote: frozenset(("bids", "asks"))}
"""Tuple fields that may be empty (one side of a ladder); others need at least one value."""

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
"""Every integer a command carries lies in [INT_MIN, INT_MAX]: what the journal (msgpack), SQLite's
INTEGER and PostgreSQL's BIGINT all hold. The engine's own limits (an order's size, an amount, a
price) are tighter and are its to check; this one only keeps a command writable."""
MAX_TEXT = 128
"""Longest string in a command, in characters (a client order id, a nickname, a market, a coin).
FTX published none; ours leaves room for any UUID-style client order id."""
MAX_VALUES = 1_000
"""Most integers in a tuple field (a mass quote's side: 500 levels; an index's constituents)."""


def register(code: int, cls: type[Any]) -> None:
    """Give a product's command class its journal code (idempotent for the same pair). The code must
    lie in a product range (>= PRODUCT_SPAN), be free, and the class must be a NamedTuple whose
    first field is `ts` and whose fields have the kinds commands may carry (see _KINDS); its name
    must be new too (JSON lines and `from_dict` name commands by class)."""
    if BY_CODE.get(code) is cls and CODES.get(cls) == code:
        return
    if code < PRODUCT_SPAN:
        raise ValueError(f"code {code} of {cls.__name__} is in the core's range (0 .. {PRODUCT_SPAN - 1})")
    if code in BY_CODE:
        raise ValueError(f"code {code} of {cls.__name__} is {BY_CODE[code].__name__}'s")
    if cls in CODES:
        raise ValueError(f"{cls.__name__} already has code {CODES[cls]}")
    if cls.__name__ in BY_NAME:
        raise ValueError(f"a command named {cls.__name__} exists")
    fields = getattr(cls, "_fields", ())
    if not fields or fields[0] != "ts":
        raise ValueError(f"{cls.__name__} is not a command: a NamedTuple whose first field is ts")
    types = _field_types(cls)  # KeyError: a field of a kind commands may not carry
    BY_CODE[code] = cls
    CODES[cls] = code
    BY_NAME[cls.__name__] = cls
    FIELD_TYPES[cls] = types


def invalid_field(command: tuple[Any, ...]) -> str | None:
    """The first field whose value a command may not carry, or None: a value of the wrong type
    (bools are not ints here), an integer outside [INT_MIN, INT_MAX], a string longer than
    MAX_TEXT or holding anything but printable Unicode (no lone surrogates, which no encoder
    writes; no control characters such as NUL, which PostgreSQL's TEXT refuses), a tuple of more
    than MAX_VALUES integers or an empty one where a value is needed.

    The engine trusts what it is given; every edge that builds commands from outside input (the
    API, the operator API, the CLI, JSON lines) checks them with this first, so that whatever the
    engine accepts the journal and both SQL stores hold.
    """
    if type(command) is PlaceOrder:
        return _invalid_order(command)
    return _invalid_typed(command)


def _invalid_typed(command: tuple[Any, ...]) -> str | None:
    """`invalid_field` by the command's `FIELD_TYPES`, one field after the other."""
    for (name, kinds), value in zip(FIELD_TYPES[type(command)], command, strict=True):
        kind = type(value)
        if kind not in kinds:
            return name
        if kind is int:
            if not INT_MIN <= value <= INT_MAX:
                return name
        elif kind is str:
            if len(value) > MAX_TEXT or not value.isprintable():
                return name
        elif kind is tuple:
            if len(value) > MAX_VALUES or not all(type(v) is int and INT_MIN <= v <= INT_MAX for v in value):
                return name
            if not value and name not in MAY_BE_EMPTY.get(type(command), ()):
                return name
    return None


def _invalid_order(command: PlaceOrder) -> str | None:
    """`invalid_field` of a PlaceOrder, its loop written out field by field: an order is most of
    what the API sends, and the general loop cost a signed order as much as its HMAC. A test holds
    the two equal on every kind of value each field may or may not carry."""
    ts, account, market, side, size, price, kind, ioc, post_only, reduce_only, client_id = command
    if not (type(ts) is int and INT_MIN <= ts <= INT_MAX):
        return "ts"
    if not (type(account) is int and INT_MIN <= account <= INT_MAX):
        return "account"
    if not (type(market) is str and len(market) <= MAX_TEXT and market.isprintable()):
        return "market"
    if not (type(side) is str and len(side) <= MAX_TEXT and side.isprintable()):
        return "side"
    if not (type(size) is int and INT_MIN <= size <= INT_MAX):
        return "size"
    if price is not None and not (type(price) is int and INT_MIN <= price <= INT_MAX):
        return "price"
    if not (type(kind) is str and len(kind) <= MAX_TEXT and kind.isprintable()):
        return "type"
    if type(ioc) is not bool:
        return "ioc"
    if type(post_only) is not bool:
        return "post_only"
    if type(reduce_only) is not bool:
        return "reduce_only"
    if client_id is not None and not (
        type(client_id) is str and len(client_id) <= MAX_TEXT and client_id.isprintable()
    ):
        return "client_id"
    return None


def from_dict(data: dict[str, Any]) -> Command:
    """{"type": "PlaceOrder", ...fields} -> command; ValueError on an unknown type, a missing or
    unknown field, or a field of the wrong type."""
    fields = dict(data)
    kind = BY_NAME.get(fields.pop("type", None) or "")
    if kind is None:
        raise ValueError(f"unknown command type {data.get('type')!r}")
    if "type" in kind._fields and "order_type" in fields:  # "type" names the command itself
        fields["type"] = fields.pop("order_type")
    for name, kinds in FIELD_TYPES[kind]:
        if kinds == (tuple,) and type(fields.get(name)) is list:
            fields[name] = tuple(fields[name])  # JSON has lists only
    try:
        command: Command = kind(**fields)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    bad = invalid_field(command)
    if bad is not None:
        raise ValueError(f"Invalid parameter {bad}")
    return command


def to_dict(command: Command) -> dict[str, Any]:
    fields = command._asdict()
    if "type" in fields:
        fields["order_type"] = fields.pop("type")
    return {"type": type(command).__name__, **fields}
