"""FTX's JSON envelope and errors at the edge: `{"success": true, "result": ...}` or
`{"success": false, "error": "<FTX's string>"}` with FTX's status codes. Exact Decimals become
JSON numbers here and nowhere earlier."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from backstop.engine import errors

NOT_FOUND = (
    "Not Found: The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again."
)


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


_ENCODER = json.JSONEncoder(default=_default, separators=(",", ":"))


def render(content: Any) -> bytes:
    """FTX's compact JSON (`json.dumps(content, default=_default, separators=(",", ":"))`, with one
    encoder made once)."""
    return _ENCODER.encode(content).encode()


def render_text(content: Any) -> str:
    """`render` as text."""
    return _ENCODER.encode(content)


class FTXResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render(content)


def ok(result: Any, **extra: Any) -> FTXResponse:
    return FTXResponse({"success": True, "result": result, **extra})


def fail(error: str, status: int | None = None) -> FTXResponse:
    return FTXResponse({"success": False, "error": error}, status_code=status or status_for(error))


RETRY = "Please retry request"
"""FTX's prefix for 'nothing was done, send it again' (errors.JOURNAL_UNAVAILABLE, REQUEST_UNRECORDED)."""


def status_for(error: str) -> int:
    """FTX's status for an error string (the body decides ccxt's exception; the status matters
    only to clients that look at it)."""
    if error.startswith("Not logged in"):
        return 401
    if error.startswith(
        RETRY
    ):  # nothing was done: the exchange cannot write now (ccxt: ExchangeNotAvailable)
        return 503
    if error == errors.INTERNAL_ERROR:
        return 500
    if error == errors.HISTORY_UNAVAILABLE:
        return 503
    if error.startswith(("Do not send more than", "Cannot send more than", "Slow down")):
        return 429
    if error.startswith(("Only have permissions", "Not authorized", "Not allowed")):
        return 403
    if (
        error.startswith("Not Found")
        or error in (errors.ORDER_NOT_FOUND,)
        or error.startswith(("No such market", "No such future"))
    ):
        return 404
    return 400


ISO_EXACT_US = 2**31 * 1_000_000
"""Below this (2038-01-19), `ts_us / 1_000_000` is within a quarter of a microsecond of the exact
time, so `datetime.fromtimestamp` of it lands on the exact microsecond."""


def iso(ts_us: int) -> str:
    """`datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC).isoformat()`: "2021-05-19T13:02:07.123456+00:00",
    the fraction left out when it is zero. Up to ISO_EXACT_US the date and time of the second are
    worked out once per second (`_second`) and the microseconds appended; a property test holds
    the two equal."""
    if not 0 <= ts_us < ISO_EXACT_US:
        return datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC).isoformat()
    seconds, micros = divmod(ts_us, 1_000_000)
    if seconds != _last[0]:
        _last[0], _last[1] = seconds, _second(seconds)
    return f"{_last[1]}.{micros:06d}+00:00" if micros else f"{_last[1]}+00:00"


def _second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()[: -len("+00:00")]


_last: list[Any] = [None, ""]  # the second iso() last wrote, and its text


class ApiError(Exception):
    """Raised by a handler to answer with FTX's error envelope."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
