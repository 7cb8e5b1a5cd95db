"""Reading what clients send: the one strict parser for every JSON body and websocket message,
every number, id and string in a body, a path or a query string.

FTX documented the shapes, not the grammar, and Python's own parsers are lenient in ways a client
never means: `int()` takes " 1", "1_0" and Arabic-Indic digits, `float()` takes "inf" and "nan",
`json` takes NaN and Infinity, keeps the last of duplicate keys, reads 0.1 as a binary float and
recurses as deep as it is nested. Here:

- a JSON body is UTF-8, at most MAX_BODY bytes (the gateway caps every request before the
  signature check), nested at most MAX_DEPTH deep, without duplicate keys or NaN/Infinity; its
  numbers are read exactly (a fraction becomes a Decimal of its text, never a binary float);
- a number, in JSON or as a string, is `-?digits[.digits][(e|E)[+-]digits]` in ASCII, at most
  MAX_NUMBER_TEXT characters, MAX_DIGITS significant digits and a magnitude within
  10**+-MAX_EXPONENT, so exact arithmetic on it stays exact and cheap;
- an id (order, trigger order) is 1 to 19 ASCII digits within the journal's integer range;
- a string used as a name or an id is printable Unicode of at most MAX_TEXT characters.

Whatever fails is refused with FTX's envelope, `Invalid parameter <name>` (400), before anything
is journaled. Strings and integers that become engine commands are checked once more, all at once,
by `commands.invalid_field`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from backstop.engine import errors
from backstop.engine.amounts import ATOM, MAX_ATOMS
from backstop.engine.commands import INT_MAX, MAX_TEXT
from backstop.server.envelope import ApiError

MAX_BODY = 1 << 20
"""Largest request body in bytes (an order is a few hundred; a bulk cancel of MAX_IDS ids fits)."""
TOO_LARGE = "Invalid parameter body: too large"
MAX_DEPTH = 32
"""Deepest nesting of arrays and objects in a body (FTX's deepest is 2: the operator's prices)."""
MAX_NUMBER_TEXT = 40
MAX_DIGITS = 24
"""Significant digits of a number: below Decimal's 28, so dividing by an increment stays exact."""
MAX_EXPONENT = 30
"""A number's magnitude lies within 10**-MAX_EXPONENT and 10**MAX_EXPONENT (or it is 0)."""

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ID = re.compile(r"[0-9]{1,19}")
_STRIP_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class _Refused(ValueError):
    """A body that is JSON but not what we accept (the reason is told to the client)."""


def refuse(name: str) -> ApiError:
    return ApiError(f"Invalid parameter {name}")


# ----------------------------------------------------------------------------- JSON


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("duplicate key")
    return obj


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_TEXT:
        raise _Refused("number too long")
    return int(text)


def _fraction(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_TEXT:
        raise _Refused("number too long")
    return Decimal(text)


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not a number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_fraction, parse_constant=_constant
)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
"""The C scanner, with the hooks above."""
_SPACE = re.compile(r"[ \t\n\r]*").match  # JSON's whitespace, as `json.decoder.WHITESPACE`


def decode(text: str) -> Any:
    """`_DECODER.decode(text)`, without its two Python frames (`decode`, `raw_decode`) around the
    C scanner: the document from the first character that is not whitespace, then nothing but
    whitespace. ValueError on anything else (a test holds the two equal)."""
    # _SPACE always matches (possibly nothing)
    try:
        value, end = _SCAN(text, _SPACE(text, 0).end())  # type: ignore[union-attr]
    except StopIteration:
        raise ValueError("Expecting value") from None
    if _SPACE(text, end).end() != len(text):  # type: ignore[union-attr]
        raise ValueError("Extra data")
    return value


def _too_deep(raw: bytes) -> bool:
    """Whether arrays and objects nest deeper than MAX_DEPTH (or their brackets do not pair up, which
    the parser would refuse anyway). Cheap for every body: only one with more than MAX_DEPTH
    brackets is looked at closely, by peeling matched pairs off level by level, outside strings."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    brackets = _STRIP_STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)


def loads(raw: bytes | str) -> Any:
    """One JSON document, strictly (see the module's rules); ApiError("Invalid parameter body...")."""
    if isinstance(raw, str):  # a websocket text frame
        raw = raw.encode(errors="surrogatepass")  # which the strict decoding below then refuses
    if len(raw) > MAX_BODY:
        raise ApiError(TOO_LARGE, 413)
    if _too_deep(raw):
        raise refuse("body: nested too deep")
    try:
        return decode(raw.decode())
    except _Refused as exc:
        raise refuse(f"body: {exc}") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise refuse("body: not JSON") from None


def body(raw: bytes) -> dict[str, Any]:
    """A request's JSON object ({} for an empty body, as ccxt sends GETs)."""
    if not raw.strip():
        return {}
    parsed = loads(raw)
    if type(parsed) is not dict:
        raise refuse("body: not an object")
    return parsed


# ----------------------------------------------------------------------------- values


def decimal(value: Any, name: str) -> Decimal:
    """A number from a body (JSON number, or a string of one): exact, finite and bounded."""
    kind = type(value)
    if kind is Decimal:
        number: Decimal = value
    elif kind is int:
        number = Decimal(value)
    elif kind is str:
        if len(value) > MAX_NUMBER_TEXT or _NUMBER.fullmatch(value) is None:
            raise refuse(name)
        number = Decimal(value)
    elif kind is float and math.isfinite(value):  # from code, never from a body
        number = Decimal(repr(value))
    else:
        raise refuse(name)
    if not number.is_finite():
        raise refuse(name)
    if not number:
        return Decimal(0)  # whatever its exponent ("0e999999999")
    if len(number.as_tuple().digits) > MAX_DIGITS or not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise refuse(name)
    return number


def atoms(value: Any, name: str = "size") -> int:
    """A coin amount in whole coins from a body, exactly, as atoms (1e-8): > 0, on the atom grid and
    within the engine's bound; else FTX's "Invalid size"."""
    size = decimal(value, name)
    scaled = size * ATOM
    if size <= 0 or scaled != scaled.to_integral_value() or scaled > MAX_ATOMS:
        raise ApiError(errors.INVALID_SIZE)
    return int(scaled)


def whole(value: Any, name: str) -> int:
    """A number that must be a whole one (bounded by `decimal`'s rules)."""
    number = decimal(value, name)
    if number != number.to_integral_value():
        raise refuse(name)
    return int(number)


def identifier(value: Any) -> int | None:
    """An order's or trigger order's id from a path, a query or a body (digits, or a JSON integer),
    or None when it cannot be one of ours (the caller answers "Order not found")."""
    if type(value) is int:
        return value if 0 <= value <= INT_MAX else None
    if type(value) is not str or _ID.fullmatch(value) is None:
        return None
    number = int(value)
    return number if number <= INT_MAX else None


def text(value: Any, name: str) -> str:
    """A string naming something (a client order id, a nickname, a market...): printable Unicode,
    at most MAX_TEXT characters."""
    if type(value) is not str or len(value) > MAX_TEXT or not value.isprintable():
        raise refuse(name)
    return value


MAX_NICKNAME = 64
"""FTX's longest subaccount nickname."""


def nickname(value: Any, name: str = "nickname") -> str:
    """A new subaccount's nickname (FTX's rules): not empty, not "main" (the main account's name
    in FTX's API), at most MAX_NICKNAME characters."""
    given = text(value, name)
    if not given or given == "main" or len(given) > MAX_NICKNAME:
        raise refuse(name)
    return given


def choice(value: Any, options: Mapping[str, Any], name: str) -> Any:
    """`options[value]` for a string key, else ApiError (a list or an object is not a key)."""
    if type(value) is not str or value not in options:
        raise refuse(name)
    return options[value]


# ----------------------------------------------------------------------------- query strings

MAX_SECONDS = 10**11
"""start_time/end_time bound (seconds, about the year 5138): microseconds of it fit in 64 bits."""


def query_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high]; `default` when absent or empty."""
    raw = params.get(name)
    if not raw:
        return default
    value = whole(raw, name)
    if not low <= value <= high:
        raise refuse(name)
    return value


def query_seconds(params: Mapping[str, str], name: str) -> int | None:
    """FTX's start_time/end_time: seconds since the epoch, fractions cut off; None when absent."""
    raw = params.get(name)
    if not raw:
        return None
    seconds = int(decimal(raw, name))
    if not 0 <= seconds <= MAX_SECONDS:
        raise refuse(name)
    return seconds


SECOND_US = 1_000_000


def query_time_us(params: Mapping[str, str], name: str, end: bool = False) -> int | None:
    """start_time/end_time as an inclusive bound in microseconds, at the precision given: whole
    seconds as FTX's clients send them (an `end` covers its whole second, as FTX's did), and ours,
    a fraction, exact to the microsecond (a start rounded up, an end down), so a client can page
    through trades that share a second. None when absent."""
    raw = params.get(name)
    if not raw:
        return None
    number = decimal(raw, name)
    if not 0 <= number <= MAX_SECONDS:
        raise refuse(name)
    micros = number * SECOND_US
    whole = number == number.to_integral_value() and "." not in raw
    if whole:
        return int(micros) + (SECOND_US - 1 if end else 0)
    floor = int(micros.to_integral_value(rounding="ROUND_FLOOR"))
    return floor if end or floor == micros else floor + 1


def query_text(params: Mapping[str, str], name: str) -> str | None:
    """A string query parameter (a side, an order type) checked as `text`; None when absent."""
    raw = params.get(name)
    return None if raw is None else text(raw, name)
