"""FTX authentication: signatures (ccxt's own test vectors), time window, subaccounts, key store."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.server.auth import (
    INVALID_API_KEY,
    INVALID_LOGIN,
    INVALID_SIGNATURE,
    NOT_LOGGED_IN,
    READ_ONLY,
    TIMESTAMP_TOO_FAR,
    AuthError,
    Principal,
    authenticate,
    decode_subaccount,
    raw_target,
    require_account_wide,
    require_write,
    sign_request,
    verify_ws_login,
    ws_login_signature,
)
from backstop.server.keys import DB_NAME, KEY_FILE_NAME, KeyRecord, KeyStore, KeyStoreError, token
from backstop.server.replays import ReplayGuard

TS = 1528394229375
ORDER = b'{"market":"BTC/USD","side":"buy","size":0.01,"type":"market","price":null}'

# (method, target, body, FTX-SIGN) for secret "s" at TS, from ccxt 2.0.90's sign()
VECTORS = [
    ("DELETE", "/api/orders/123", b"{}", "e73af77d5ff4dcbccd5e1be927ac93fab11e8ca83417748d36b245f8920a6249"),
    (
        "GET",
        "/api/positions?showAvgPrice=true",
        b"",
        "ed7ea164a82d37825aeb308daef7353fcae5e7bb97be4064efca12ddbc8f37e0",
    ),
    ("POST", "/api/orders", ORDER, "88af28856a1491e6805ffd7de9d70e507b5c583672d5f2ff9b0f1b1eab339740"),
    (
        "GET",
        "/api/orders?market=BTC%2FUSD",
        b"",
        "7208112c66a0d60e7f22df9ee5ce6bab3fe8d3132c8fe327bbfdd056c970f498",
    ),
]
WS_LOGIN_SIGN = "06963a4e2e6831d90cbe80cd2a06d14e87686f98a5f23b6a4842381aae939cae"


class Stub:
    """An in-memory key source with chosen secrets; `replays` None accepts every write again."""

    def __init__(self, *records: KeyRecord, replays: ReplayGuard | None = None) -> None:
        self.records = {r.key: r for r in records}
        self.replays = replays

    def get(self, key: str) -> KeyRecord | None:
        return self.records.get(key)

    def first_use(self, key: str, ts: int, sign: str, now_ms: int, window_ms: int) -> bool:
        return self.replays is None or self.replays.first_use(key, ts, sign, now_ms)


def rec(key: str = "k", secret: str = "s", owner: str = "alice", sub: str | None = None, ro: bool = False):
    return KeyRecord(key, owner, sub, ro, 0, "", secret)


STUB = Stub(rec(), rec("ro", ro=True), rec("subkey", sub="my sub"), rec("bob", "b", owner="bob"))


def headers(key: str = "k", ts: int | str = TS, sign: str = "", **extra: str) -> dict[str, str]:
    h = {"FTX-KEY": key, "FTX-TS": str(ts), "FTX-SIGN": sign}
    h.update({k.replace("_", "-"): v for k, v in extra.items()})
    return h


def call(h, method="GET", target="/api/account", body=b"", now=TS, window=30_000, store=STUB) -> Principal:
    return authenticate(store, h, method, target, body, now, window)


def signed(method="GET", target="/api/account", body=b"", key="k", secret="s", ts=TS, **extra: str):
    return headers(key, ts, sign_request(secret, ts, method, target, body), **extra)


def refused(message: str, status: int = 401, **kw) -> None:
    with pytest.raises(AuthError) as e:
        call(**kw)
    assert (e.value.message, e.value.status) == (message, status)


# -- ccxt's test vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "target", "body", "sign"), VECTORS)
def test_ccxt_vectors_verify(method, target, body, sign):
    assert sign_request("s", TS, method, target, body) == sign
    p = call(headers(sign=sign), method, target, body)
    assert p == Principal("alice", "", False, "k", False)
    # bytes targets (straight from ASGI) verify the same
    path, _, query = target.encode().partition(b"?")
    assert call(headers(sign=sign), method, raw_target(path, query), body) == p


def test_ws_login_vector():
    assert ws_login_signature("s", TS) == WS_LOGIN_SIGN
    p = verify_ws_login(STUB, "k", WS_LOGIN_SIGN, TS, TS)
    assert p == Principal("alice", "", False, "k", False)
    assert verify_ws_login(STUB, "k", WS_LOGIN_SIGN, str(TS), TS + 30_000) == p


def test_header_names_any_case_and_sign_any_hex_case():
    _, target, _, sign = VECTORS[1]
    h = {"ftx-key": "k", "Ftx-Ts": str(TS), "ftx-SIGN": sign.upper()}
    assert call(h, "GET", target).owner == "alice"


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["FTX-KEY", "FTX-TS", "FTX-SIGN"])
def test_missing_header_is_not_logged_in(missing):
    h = signed()
    del h[missing]
    refused(NOT_LOGGED_IN, h=h)
    refused(NOT_LOGGED_IN, h={**signed(), missing: ""})


def test_no_headers_at_all():
    refused(NOT_LOGGED_IN, h={})


def test_unknown_key():
    refused(INVALID_API_KEY, h=signed(key="nope"))


def test_wrong_secret():
    refused(INVALID_SIGNATURE, h=signed(secret="t"))
    refused(INVALID_SIGNATURE, h=signed(key="bob"))  # alice's signature on bob's key


def test_tampered_method_target_body():
    method, target, body, sign = VECTORS[2]
    h = headers(sign=sign)
    refused(INVALID_SIGNATURE, h=h, method="DELETE", target=target, body=body)
    refused(INVALID_SIGNATURE, h=h, method="post", target=target, body=body)
    refused(INVALID_SIGNATURE, h=h, method=method, target="/orders", body=body)  # without /api
    refused(INVALID_SIGNATURE, h=h, method=method, target=target, body=body.replace(b"0.01", b"0.02"))
    refused(INVALID_SIGNATURE, h=h, method=method, target=target, body=body + b" ")
    refused(INVALID_SIGNATURE, h=h, method=method, target=target, body=b"")
    _, target, _, sign = VECTORS[1]
    refused(INVALID_SIGNATURE, h=headers(sign=sign), target=target.replace("true", "false"))
    refused(INVALID_SIGNATURE, h=headers(sign=sign), target="/api/positions")


def test_percent_encoding_is_signed_as_sent():
    _, target, _, sign = VECTORS[3]
    assert target == "/api/orders?market=BTC%2FUSD"
    refused(INVALID_SIGNATURE, h=headers(sign=sign), target="/api/orders?market=BTC/USD")
    refused(INVALID_SIGNATURE, h=headers(sign=sign), target="/api/orders?market=BTC%2fUSD")
    assert sign_request("s", TS, "GET", "/api/orders?market=BTC/USD") != sign


def test_empty_body_is_the_same_as_no_body():
    h = signed("GET", "/api/account")
    assert call(h, body=b"").owner == "alice"


def test_garbage_signature_values():
    for bad in ["zz", "é" * 64, "0" * 64, "", " " + "0" * 63]:
        with pytest.raises(AuthError):
            call(headers(sign=bad))


@pytest.mark.parametrize("skew", [-30_000, -1, 0, 1, 30_000])
def test_timestamp_inside_the_window(skew):
    assert call(signed(ts=TS + skew), now=TS).owner == "alice"


@pytest.mark.parametrize("skew", [-30_001, 30_001, -(10**9), 10**9])
def test_stale_and_future_timestamps(skew):
    refused(TIMESTAMP_TOO_FAR, h=signed(ts=TS + skew), now=TS)


def test_window_is_configurable():
    assert call(signed(ts=TS - 5_000), now=TS, window=5_000).owner == "alice"
    refused(TIMESTAMP_TOO_FAR, h=signed(ts=TS - 5_001), now=TS, window=5_000)


@pytest.mark.parametrize(
    "ts",
    [
        "abc",
        "1528394229375.0",
        "-1528394229375",
        " 1528394229375",
        "+1528394229375",
        "1_528_394_229_375",
        "١٥٢٨٣٩٤٢٢٩٣٧٥",
        "9" * 40,
    ],
)
def test_timestamp_not_an_integer(ts):
    refused(TIMESTAMP_TOO_FAR, h=signed(ts=ts))


def test_timestamp_is_signed_as_sent():
    h = signed()
    h["FTX-TS"] = "0" + h["FTX-TS"]  # same number, different text
    refused(INVALID_SIGNATURE, h=h)


# -- subaccounts -----------------------------------------------------------------------------------


def test_account_wide_key_picks_any_subaccount():
    assert call(signed(FTX_SUBACCOUNT="my sub")).subaccount == "my sub"
    assert call(signed(FTX_SUBACCOUNT="other")).subaccount == "other"
    assert call(signed()).subaccount == ""
    assert call(signed(FTX_SUBACCOUNT="")).subaccount == ""


def test_subaccount_header_is_url_decoded():
    assert call(signed(FTX_SUBACCOUNT="my%20sub")).subaccount == "my sub"
    assert call(signed(FTX_SUBACCOUNT="a%2Fb")).subaccount == "a/b"
    assert decode_subaccount("caf%C3%A9") == "café"
    assert decode_subaccount("café".encode().decode("latin-1")) == "café"  # raw UTF-8 read as Latin-1
    assert decode_subaccount("café") == "café"


def test_scoped_key():
    key = "subkey"
    p = call(signed(key=key))
    assert p == Principal("alice", "my sub", False, "subkey", True)
    assert call(signed(key=key, FTX_SUBACCOUNT="my sub")) == p
    assert call(signed(key=key, FTX_SUBACCOUNT="my%20sub")) == p
    refused("Only have permissions for subaccount my sub", 403, h=signed(key=key, FTX_SUBACCOUNT="other"))


def test_account_wide_only_actions():
    require_account_wide(call(signed()))
    with pytest.raises(AuthError) as e:
        require_account_wide(call(signed(key="subkey")))
    assert (e.value.message, e.value.status) == ("Not authorized for subaccount-specific access", 403)


def test_read_only():
    p = call(signed(key="ro"))
    assert p.read_only
    with pytest.raises(AuthError) as e:
        require_write(p)
    assert e.value.message == READ_ONLY and "Not logged in" in READ_ONLY
    require_write(call(signed()))


# -- websocket login -------------------------------------------------------------------------------


def test_ws_login_refusals():
    good = ws_login_signature("s", TS)
    for args in [
        ("nope", good, TS),
        ("k", ws_login_signature("t", TS), TS),
        ("k", good, TS + 1),
        ("k", good, float(TS)),
        ("k", good, True),
        ("k", good, None),
        (None, good, TS),
        ("k", 123, TS),
    ]:
        with pytest.raises(AuthError) as e:
            verify_ws_login(STUB, *args, now_ms=TS)
        assert (e.value.message, e.value.status) == (INVALID_LOGIN, 400)
    with pytest.raises(AuthError) as e:
        verify_ws_login(STUB, "k", good, TS, TS + 30_001)
    assert e.value.message == INVALID_LOGIN


def test_ws_login_subaccounts():
    good = ws_login_signature("s", TS)
    assert verify_ws_login(STUB, "k", good, TS, TS, "my%20sub").subaccount == "my sub"
    assert verify_ws_login(STUB, "subkey", good, TS, TS).subaccount == "my sub"
    with pytest.raises(AuthError) as e:
        verify_ws_login(STUB, "subkey", good, TS, TS, "other")
    assert e.value.message == "Only have permissions for subaccount my sub"


# -- any tampering fails ---------------------------------------------------------------------------


@st.composite
def tampered(draw):
    method, target, body, sign = draw(st.sampled_from(VECTORS))
    parts = [str(TS).encode(), method.encode(), target.encode(), body]
    i = draw(st.integers(0, 3))
    part = parts[i]
    op = draw(st.sampled_from(["replace", "insert", "delete"] if part else ["insert"]))
    pos = draw(st.integers(0, len(part) - (0 if op == "insert" else 1)))
    if op == "delete":
        part = part[:pos] + part[pos + 1 :]
    else:
        byte = draw(st.integers(0, 255).filter(lambda b: op == "insert" or b != part[pos]))
        part = part[:pos] + bytes([byte]) + part[pos + (1 if op == "replace" else 0) :]
    parts[i] = part
    return parts, sign


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tampered())
def test_any_change_to_the_signed_bytes_fails(case):
    (ts, method, target, body), sign = case
    h = headers(ts=ts.decode("latin-1"), sign=sign)
    with pytest.raises(AuthError) as e:
        authenticate(STUB, h, method.decode("latin-1"), target, body, TS, 10**15)
    assert e.value.message in (INVALID_SIGNATURE, TIMESTAMP_TOO_FAR)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 63), st.sampled_from("0123456789abcdef"))
def test_any_change_to_the_signature_fails(pos, ch):
    method, target, body, sign = VECTORS[2]
    bad = sign[:pos] + ch + sign[pos + 1 :]
    if bad == sign:
        assert call(headers(sign=bad), method, target, body).owner == "alice"
    else:
        with pytest.raises(AuthError):
            call(headers(sign=bad), method, target, body)


# -- the key store ---------------------------------------------------------------------------------


def test_store_create_get_and_sign(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        key, secret = store.create("alice", label="bot")
        assert key != secret and len(key) >= 32 and len(secret) >= 32
        r = store.get(key)
        assert r is not None and r.secret == secret and r.owner == "alice" and r.subaccount is None
        assert not r.read_only and r.label == "bot" and r.created_ms > 0
        assert secret not in repr(r)
        p = authenticate(store, signed(key=key, secret=secret), "GET", "/api/account", b"", TS)
        assert p == Principal("alice", "", False, key, False)
        assert store.get("nope") is None and store.get("") is None and store.get("x" * 10_000) is None


def test_keys_and_secrets_never_start_with_a_dash(tmp_path: Path):
    """A key is pasted into command lines (`backstop keys revoke KEY`): a leading "-" would read as
    an option there (one draw in 64 of a plain token_urlsafe did)."""
    with KeyStore(tmp_path) as store:
        made = [store.create("alice") for _ in range(400)]
    drawn = [token() for _ in range(5_000)] + [k for pair in made for k in pair]
    assert not [t for t in drawn if t.startswith("-")]
    assert all(len(t) == 40 for t in drawn) and len(set(drawn)) == len(drawn)
    assert any("-" in t for t in drawn)  # the alphabet is still URL-safe base64, dash included


def test_store_scopes_and_read_only(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        k1, _ = store.create("alice", subaccount="my sub", read_only=True)
        r = store.get(k1)
        assert r is not None and r.subaccount == "my sub" and r.read_only
        with pytest.raises(ValueError):
            store.create("alice", subaccount="")
        with pytest.raises(ValueError):
            store.create("")


def test_store_persists_across_reopen(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        k1, s1 = store.create("alice", created_ms=1)
        k2, s2 = store.create("bob", subaccount="s", read_only=True, label="ro", created_ms=2)
    with KeyStore(tmp_path) as store:
        r1, r2 = store.get(k1), store.get(k2)
        assert r1 is not None and r1.secret == s1
        assert r2 == KeyRecord(k2, "bob", "s", True, 2, "ro", s2)
        assert [i.key for i in store.list()] == [k1, k2]
        assert store.list("bob") == [r2.info()]
        assert store.list("carol") == []


def test_revoke(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        key, secret = store.create("alice")
        assert store.get(key) is not None
        assert store.revoke(key) and not store.revoke(key)
        assert store.get(key) is None
        with pytest.raises(AuthError) as e:
            authenticate(store, signed(key=key, secret=secret), "GET", "/api/account", b"", TS)
        assert e.value.message == INVALID_API_KEY
    with KeyStore(tmp_path) as store:
        assert store.get(key) is None


def test_revoke_by_another_process_is_seen_at_once(tmp_path: Path):
    with KeyStore(tmp_path) as server, KeyStore(tmp_path) as cli:
        key, _ = cli.create("alice")
        assert server.get(key) is not None  # now cached in the server
        cli.revoke(key)
        assert server.get(key) is None


def test_secrets_never_on_disk_in_plaintext(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        made = [store.create("alice", label="l") for _ in range(5)]
        store.revoke(made[0][0])
        files = {p: p.read_bytes() for p in tmp_path.iterdir()}
        for _, secret in made:
            for data in files.values():
                assert secret.encode() not in data
        assert any(made[1][0].encode() in data for data in files.values())  # the key id itself is stored


def test_file_modes(tmp_path: Path):
    with KeyStore(tmp_path):
        pass
    for name in (KEY_FILE_NAME, DB_NAME):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert len((tmp_path / KEY_FILE_NAME).read_bytes()) == 32


def test_file_mode_0600_whatever_the_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        with KeyStore(tmp_path):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600


def test_loose_key_file_is_refused(tmp_path: Path):
    with KeyStore(tmp_path):
        pass
    os.chmod(tmp_path / KEY_FILE_NAME, 0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        KeyStore(tmp_path)


def test_wrong_or_missing_key_file_is_refused(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        store.create("alice")
    (tmp_path / KEY_FILE_NAME).unlink()
    with pytest.raises(KeyStoreError, match="missing"):
        KeyStore(tmp_path)
    (tmp_path / KEY_FILE_NAME).write_bytes(os.urandom(32))
    os.chmod(tmp_path / KEY_FILE_NAME, 0o600)
    with pytest.raises(KeyStoreError, match="not the key"):
        KeyStore(tmp_path)


def test_ciphertext_is_bound_to_its_key(tmp_path: Path):
    with KeyStore(tmp_path) as store:
        k1, _ = store.create("alice")
        k2, _ = store.create("mallory")
    db = sqlite3.connect(tmp_path / DB_NAME)
    with db:
        (blob,) = db.execute("SELECT secret FROM api_keys WHERE key = ?", (k1,)).fetchone()
        db.execute("UPDATE api_keys SET secret = ? WHERE key = ?", (blob, k2))
    db.close()
    with KeyStore(tmp_path) as store, pytest.raises(InvalidTag):
        store.get(k2)


def test_concurrent_first_open_shares_one_key(tmp_path: Path):
    stores: list[KeyStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(KeyStore(tmp_path))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    key, secret = stores[0].create("alice")
    for s in stores:
        r = s.get(key)
        assert r is not None and r.secret == secret
        s.close()


def test_changes_by_another_connection_are_seen_at_every_lookup(tmp_path: Path):
    """The lookup asks SQLite only when the WAL index's header moved: every create and revoke by
    another connection (and by another process) is still seen by the very next lookup, across
    checkpoints that restart the WAL."""
    rng = random.Random(7)
    with KeyStore(tmp_path) as server, KeyStore(tmp_path) as cli:
        assert server._wal_index is not None  # the fast path is the one under test
        live: dict[str, str] = {}
        gone: list[str] = []
        for step in range(300):
            action = rng.random()
            if action < 0.4 or not live:
                key, secret = cli.create("alice")
                live[key] = secret
            elif action < 0.7:
                key = rng.choice(sorted(live))
                assert server.get(key) is not None  # cached in the server first
                cli.revoke(key)
                del live[key]
                gone.append(key)
            elif action < 0.8:
                cli._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                key, secret = server.create("bob")  # the server's own writes
                live[key] = secret
            if step % 50 == 0:
                done = subprocess.run(
                    [sys.executable, "-c", _REVOKE_ONE, str(tmp_path), rng.choice(sorted(live))],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                revoked = done.stdout.strip()
                del live[revoked]
                gone.append(revoked)
            for key, secret in live.items():
                found = server.get(key)
                assert found is not None and found.secret == secret
            for key in gone:
                assert server.get(key) is None


_REVOKE_ONE = """
import sys
from backstop.server.keys import KeyStore
with KeyStore(sys.argv[1]) as store:
    assert store.revoke(sys.argv[2])
print(sys.argv[2])
"""
