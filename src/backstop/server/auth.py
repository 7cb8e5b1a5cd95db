"""FTX request authentication, exactly as FTX (and ccxt) do it. No web framework in here.

REST: the client sends FTX-KEY, FTX-TS (ms since the epoch) and FTX-SIGN, the lowercase hex
HMAC-SHA256, keyed by the secret, of

    FTX-TS + METHOD + REQUEST_TARGET + BODY

where REQUEST_TARGET is the path with its /api prefix and raw query string exactly as on the request
line (never re-encoded: `BTC%2FUSD` and `BTC/USD` sign differently), and BODY is the raw body bytes,
appended only when there is one (ccxt sends and signs `{}` on POST and DELETE). FTX-SUBACCOUNT,
which is not signed, picks a subaccount; its value is URL-decoded, because FTX's own client quotes
it and ccxt sends it raw.

WebSocket: `{"op":"login","args":{"key","sign","time","subaccount"}}` with
sign = hex HMAC-SHA256(secret, str(time) + "websocket_login").

Each signed write (any method but GET and HEAD) is accepted at most once within its window: the
key source remembers its signature (`replays.py`) and a replay is refused, "Not logged in:
Signature already used", before it can change anything. FTX had no such check.

Errors use FTX's strings so ccxt raises the right class: every "Not logged in..." is an
AuthenticationError, "Only have permissions for subaccount X" a PermissionDenied.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from backstop.engine.errors import NOT_AUTHORIZED_SUBACCOUNT, REQUEST_UNRECORDED
from backstop.server.keys import KeyRecord

DEFAULT_WINDOW_MS = 30_000

NOT_LOGGED_IN = "Not logged in"
INVALID_API_KEY = "Not logged in: Invalid API key"
INVALID_SIGNATURE = "Not logged in: Invalid signature"
TIMESTAMP_TOO_FAR = "Not logged in: Timestamp too far from current time"
READ_ONLY = "Not logged in: Cannot perform action with read-only authorization"  # FTX's live text
REPLAYED = "Not logged in: Signature already used"  # ours: FTX accepted replays within the window
INVALID_LOGIN = "Invalid login credentials"  # the websocket's one answer to a failed login

_TS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() would also take " 1", "+1", "1_0", "١"
_READS = ("GET", "HEAD")  # the methods that change nothing; every other signed request is a write


def only_subaccount(name: str) -> str:
    return f"Only have permissions for subaccount {name}"


class AuthError(Exception):
    """A refused request: `message` is FTX's error text, `status` the HTTP status to send."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KeySource(Protocol):
    """Anything that finds a key's record and remembers its signed writes; `keys.KeyStore` is the
    real one."""

    def get(self, key: str) -> KeyRecord | None: ...

    def first_use(self, key: str, ts: int, sign: str, now_ms: int, window_ms: int) -> bool:
        """True, remembering it, unless this key's write signed `sign` at `ts` was seen before."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: an owner's account ("" is the main account) through one key."""

    owner: str
    subaccount: str
    read_only: bool
    key: str
    scoped: bool  # the key is limited to this one subaccount


# -- signing -----------------------------------------------------------------------------------


def _hex_hmac(secret: str, payload: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of `payload` keyed by `secret` (RFC 2104), from the secret's
    two padded key blocks hashed once (`_pads`): each request then copies two hash states instead
    of setting up OpenSSL's HMAC (a third of the cost). A test holds it equal to `hmac.digest`."""
    pads = _PADS.get(secret)
    if pads is None:
        pads = _pads(secret)
    inner = pads[0].copy()
    inner.update(payload)
    outer = pads[1].copy()
    outer.update(inner.digest())
    hexed: str = outer.hexdigest()
    return hexed


_BLOCK = 64  # SHA-256's block size in bytes
_INNER = bytes(b ^ 0x36 for b in range(256))
_OUTER = bytes(b ^ 0x5C for b in range(256))
_PADS: dict[str, tuple[Any, Any]] = {}  # secret -> SHA-256 states after its inner and outer key block
MAX_PADS = 100_000  # secrets whose states are kept (forgotten all at once past that)


def _pads(secret: str) -> tuple[Any, Any]:
    key = secret.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    pads = (hashlib.sha256(key.translate(_INNER)), hashlib.sha256(key.translate(_OUTER)))
    if len(_PADS) >= MAX_PADS:
        _PADS.clear()
    _PADS[secret] = pads
    return pads


def _target_bytes(raw_target: str | bytes) -> bytes:
    return raw_target if isinstance(raw_target, bytes) else raw_target.encode()


def request_payload(ts: str, method: str, raw_target: str | bytes, body: bytes = b"") -> bytes:
    """The bytes FTX signs: ts + METHOD + target + body (the body only if there is one)."""
    return ts.encode() + method.encode() + _target_bytes(raw_target) + body


def sign_request(secret: str, ts: str | int, method: str, raw_target: str | bytes, body: bytes = b"") -> str:
    """FTX-SIGN for a request, as a client computes it."""
    return _hex_hmac(secret, request_payload(str(ts), method, raw_target, body))


def raw_target(raw_path: bytes, query_string: bytes) -> bytes:
    """The request target from an ASGI scope's `raw_path` and `query_string`, undecoded."""
    return raw_path + b"?" + query_string if query_string else raw_path


def ws_login_signature(secret: str, time_ms: int | str) -> str:
    return _hex_hmac(secret, f"{time_ms}websocket_login".encode())


def _signature_matches(expected: str, given: str) -> bool:
    if not given.isascii():
        return False
    return hmac.compare_digest(expected, given.lower())


# -- subaccounts and rights --------------------------------------------------------------------


def decode_subaccount(value: str) -> str:
    """An FTX-SUBACCOUNT value as a name: URL-decoded (`my%20sub` == `my sub`).

    A raw UTF-8 header reaches ASGI apps decoded as Latin-1; it is put back to UTF-8 first.
    """
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value)


def _principal(record: KeyRecord, requested: str | None) -> Principal:
    """Resolve the account a request acts for; `requested` is the decoded subaccount, if any.
    A whole-account key's own account (no subaccount asked for: most requests) is made once per
    key record and kept (`_OWN`): the principal is immutable, and a changed key is a new record."""
    if record.subaccount is None:
        if not requested:
            own = _OWN.get(record.key)
            if own is None or own[0] is not record:
                if len(_OWN) >= MAX_PADS:
                    _OWN.clear()
                own = _OWN[record.key] = (
                    record,
                    Principal(record.owner, "", record.read_only, record.key, False),
                )
            return own[1]
        return Principal(record.owner, requested, record.read_only, record.key, False)
    if requested and requested != record.subaccount:
        raise AuthError(only_subaccount(record.subaccount), 403)
    return Principal(record.owner, record.subaccount, record.read_only, record.key, True)


_OWN: dict[str, tuple[KeyRecord, Principal]] = {}
"""key -> (its record, the principal of its owner's main account), for `_principal`; forgotten all
at once past MAX_PADS keys."""


def require_write(principal: Principal) -> None:
    """Refuse a read-only key any action that changes state (orders, transfers, withdrawals...)."""
    if principal.read_only:
        raise AuthError(READ_ONLY, 401)


def require_account_wide(principal: Principal) -> None:
    """Refuse a subaccount-scoped key what only a whole-account key may do (managing subaccounts)."""
    if principal.scoped:
        raise AuthError(NOT_AUTHORIZED_SUBACCOUNT, 403)


# -- REST --------------------------------------------------------------------------------------


def _lower_keys(headers: Mapping[str, str]) -> Mapping[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def authenticate(
    store: KeySource,
    headers: Mapping[str, str],
    method: str,
    raw_target: str | bytes,
    body: bytes,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> Principal:
    """Check a REST request's FTX-* headers; the principal it acts for, or AuthError.

    `method` is the request line's method as sent, `raw_target` the request line's target (path and
    query, undecoded; see `raw_target()`), `body` the raw body bytes. Header names are matched
    without regard to case (the last of repeated ones counts). See `verify` for the checks.
    """
    h = _lower_keys(headers)
    return verify(
        store,
        h.get("ftx-key", ""),
        h.get("ftx-ts", ""),
        h.get("ftx-sign", ""),
        h.get("ftx-subaccount"),
        method,
        raw_target,
        body,
        now_ms,
        window_ms,
    )


def verify(
    store: KeySource,
    key: str,
    ts: str,
    sign: str,
    subaccount: str | None,
    method: str,
    raw_target: str | bytes,
    body: bytes,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> Principal:
    """`authenticate` given the FTX-KEY, FTX-TS, FTX-SIGN values ("" when absent) and FTX-SUBACCOUNT's
    (None when absent), as the order gateway reads them from raw ASGI headers. Checks, in order:
    headers present, key known, timestamp within `window_ms` of `now_ms` either way (edges
    allowed), signature, a write's first use, subaccount scope."""
    if not key or not ts or not sign:
        raise AuthError(NOT_LOGGED_IN, 401)
    record = store.get(key)
    if record is None:
        raise AuthError(INVALID_API_KEY, 401)
    if _TS.fullmatch(ts) is None:
        raise AuthError(TIMESTAMP_TOO_FAR, 401)
    ts_ms = int(ts)
    if abs(now_ms - ts_ms) > window_ms:
        raise AuthError(TIMESTAMP_TOO_FAR, 401)
    expected = _hex_hmac(record.secret, request_payload(ts, method, raw_target, body))
    if not _signature_matches(expected, sign):
        raise AuthError(INVALID_SIGNATURE, 401)
    if method not in _READS:
        try:
            first = store.first_use(key, ts_ms, expected, now_ms, window_ms)
        except OSError:  # its record cannot be kept, so it cannot be accepted: try again later
            raise AuthError(REQUEST_UNRECORDED, 503) from None
        if not first:
            raise AuthError(REPLAYED, 401)
    return _principal(record, decode_subaccount(subaccount) if subaccount is not None else None)


# -- WebSocket ---------------------------------------------------------------------------------


def verify_ws_login(
    store: KeySource,
    key: object,
    sign: object,
    time_ms: object,
    now_ms: int,
    subaccount: object = None,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> Principal:
    """Check a websocket login's args (as parsed from JSON); the principal, or AuthError.

    Every failure is FTX's "Invalid login credentials" (code 400), except a subaccount-scoped key
    asking for another subaccount, which gets the REST text "Only have permissions for subaccount X".
    `time` must be an integer (a string of digits is accepted too); the signed text is its decimal form.
    """
    if not isinstance(key, str) or not isinstance(sign, str):
        raise AuthError(INVALID_LOGIN, 400)
    if isinstance(time_ms, bool):
        raise AuthError(INVALID_LOGIN, 400)
    if isinstance(time_ms, int):
        ts = str(time_ms)
    elif isinstance(time_ms, str) and _TS.fullmatch(time_ms):
        ts = time_ms
    else:
        raise AuthError(INVALID_LOGIN, 400)
    if subaccount is not None and not isinstance(subaccount, str):
        raise AuthError(INVALID_LOGIN, 400)
    record = store.get(key)
    if record is None or abs(now_ms - int(ts)) > window_ms:
        raise AuthError(INVALID_LOGIN, 400)
    if not _signature_matches(ws_login_signature(record.secret, ts), sign):
        raise AuthError(INVALID_LOGIN, 400)
    return _principal(record, unquote(subaccount) if subaccount is not None else None)
