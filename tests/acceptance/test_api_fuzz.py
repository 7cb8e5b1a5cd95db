"""A bounded fuzz run against the real server: schemathesis over the published OpenAPI (every
route, every method, generated paths and bodies: never a 500), then hypothesis over signed private
requests with arbitrary JSON bodies: a rejected request answers FTX's envelope with a 4xx and
changes nothing (the engine's state hash is the same before and after).

Then hostile input on a server of its own (the issue's first check): every write (REST, operator),
every read's query parameters and path ids, and the websocket get values no client means (numbers
huge, tiny, NaN, Infinity, with underscores or Arabic-Indic digits; wrong types; lone surrogates and
NUL; nesting 100,000 deep; duplicate keys; bodies past the cap, chunked or not, signed or not):
each is refused with a 4xx and FTX's envelope, the state hash is unchanged, the next ordinary order
succeeds, and the server logs no traceback. And the issue's bricking trigger order with the other
requests that stopped every write, then a SIGKILL and a restart: the server starts, history intact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import schemathesis
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server
from test_server_trading import server as server  # the running server fixture

from backstop.server.auth import sign_request

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def test_no_route_answers_with_a_server_error(server: Server) -> None:
    """schemathesis generates requests for every operation the OpenAPI document publishes
    (driven by hand: its pytest plugin does not support this pytest)."""
    schema = schemathesis.openapi.from_url(server.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
            body = response.json()
            assert isinstance(body, dict) and "success" in body, (case.method, case.formatted_path, body)
            if not body["success"]:
                assert isinstance(body["error"], str) and "Traceback" not in body["error"]

        call()


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
FIELDS = (
    "market",
    "side",
    "type",
    "price",
    "size",
    "ioc",
    "postOnly",
    "reduceOnly",
    "clientId",
    "triggerPrice",
    "orderPrice",
    "trailValue",
    "leverage",
    "coin",
    "source",
    "destination",
    "address",
    "orderIds",
    "nickname",
)
good = {
    "market": st.sampled_from(["BTC-PERP", "BTC/USD", "ETH-PERP", "NOPE", ""]),
    "side": st.sampled_from(["buy", "sell", "BUY", "hold"]),
    "type": st.sampled_from(["limit", "market", "stop", "takeProfit", "trailingStop", "x"]),
    "price": st.sampled_from([29_000, 30_000.5, 1e30, -1, 0, "30000", None]),
    "size": st.sampled_from([0.001, 0.00001, 1e12, -1, 0, "1", None]),
}
bodies = st.fixed_dictionaries(
    {},
    optional={**{name: values for name in FIELDS if name not in good}, **good},
)
ROUTES = (
    ("POST", "/api/orders"),
    ("POST", "/api/conditional_orders"),
    ("POST", "/api/account/leverage"),
    ("POST", "/api/subaccounts/transfer"),
    ("POST", "/api/wallet/withdrawals"),
    ("POST", "/api/orders/1/modify"),
    ("POST", "/api/subaccounts"),
    ("DELETE", "/api/orders"),
    ("DELETE", "/api/bulk_orders"),
)


def signed(server: Server, keys: dict, method: str, path: str, body: bytes) -> tuple[int, dict]:
    ts = str(int(time.time() * 1000))
    headers = {
        "FTX-KEY": keys["apiKey"],
        "FTX-TS": ts,
        "FTX-SIGN": sign_request(keys["apiSecret"], ts, method, path, body),
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(server.base + path, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def fuzzer(server: Server) -> dict:
    server.client("fuzzer", 50_000)
    return server.operator("/operator/accounts", {"name": "fuzzer"})["result"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_rejected_requests_change_nothing(server: Server, fuzzer: dict, method: str, path: str) -> None:
    @FUZZ
    @given(body=bodies | st.binary(max_size=20).map(lambda b: {"__raw__": b}))
    def check(body: dict) -> None:
        raw = body["__raw__"] if "__raw__" in body else json.dumps(body, allow_nan=True).encode()
        before = server.operator("/operator/state_hash", method="GET")["result"]["stateHash"]
        status, reply = signed(server, fuzzer, method, path, raw)
        assert status < 500, (path, raw, reply)
        assert set(reply) >= {"success"}
        if not reply["success"]:
            assert 400 <= status < 500 and isinstance(reply["error"], str)
            after = server.operator("/operator/state_hash", method="GET")["result"]["stateHash"]
            assert after == before, (path, raw, reply)

    check()


# ================================================================================ hostile input
# A server of its own (no order rate limit, so every example can be followed by an ordinary
# order; its log kept, to show no traceback either). Every route that reads input gets requests
# built from hostile values: each is refused with a 4xx and FTX's envelope, the engine's state
# hash is unchanged, and the next ordinary order succeeds.

NUM, TEXT, FLAG, IDS, CLIENT_IDS, PRICES = "num", "text", "flag", "ids", "cids", "prices"  # kinds of field
DEEP = "[" * 100_000 + "]" * 100_000
NOT_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e999999999", "-1e999999999", "1e400", "1e308", "1e30", "-1e30",
    "1e-30", "5e-324", "1" * 60, str(2**64), str(2**80), "1e15", '"1_0"', '"\u0661"', '" 1"', '"abc"',
    '"NaN"', '"Infinity"', '"1e999999999"', '"\\ud800"', '""', "true", "false", "[]", "{}", "[1]",
    '{"a": 1}', "[" * 40 + "]" * 40, DEEP,
]  # fmt: skip
BAD_TEXT = [
    '"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"a\\nb"', json.dumps("x" * 200), "1.5", "NaN", "Infinity",
    "true", "[]", "{}", '["a"]', "[" * 40 + "]" * 40, DEEP,
]  # fmt: skip
POOLS = {
    NUM: st.sampled_from(NOT_NUMBERS)
    | st.floats(allow_nan=True, allow_infinity=True)
    .filter(lambda x: x != 0 and not 1e-8 <= abs(x) < 1e12)  # zero is ordinary (a floor reset)
    .map(lambda x: json.dumps(x))
    | st.integers(min_value=2**64).map(str),
    TEXT: st.sampled_from(BAD_TEXT)
    | st.text(st.characters(blacklist_categories=()), min_size=1, max_size=5)
    .filter(lambda t: not t.isprintable())
    .map(json.dumps),
    FLAG: st.sampled_from(["0", "1", '"true"', '"false"', "[]", "{}", "NaN", '"\\ud800"', DEEP]),
    IDS: st.sampled_from(['"x"', "[1.5]", '["abc"]', f"[{2**80}]", '["1208925819614629174706176"]', "[NaN]"])
    | st.sampled_from(
        ["[true]", "[null]", "[[1]]", '[{"a": 1}]', "[-1]", "[" + ",".join(["1"] * 1001) + "]"]
    ),
    CLIENT_IDS: st.sampled_from(['"x"', "[1.5]", '["\\ud800"]', '["a\\u0000"]', "[true]", "[null]", "[[1]]"])
    | st.sampled_from([json.dumps(["x" * 200]), "[" + ",".join(['"a"'] * 1001) + "]", "[NaN]"]),
    PRICES: st.sampled_from(['{"BTC": NaN}', '{"BTC": 1e999999999}', '{"BTC": "1_0"}', '{"\\ud800": 1}'])
    | st.sampled_from(['{"BTC": 1, "BTC": 2}', '{"NOPE": 1}', '{"BTC": 1e30}', "[]", '{"BTC": []}', "{}"])
    | st.sampled_from(['{"BTC": [1, NaN]}', '{"BTC": [[1]]}', '{"BTC": [1, "x"]}']),  # lists: constituents
}
STRUCTURAL = [
    b"[]", b'"text"', b"1", b"null", b"{", b'{"a": 1', b"\xff\xfe{}", b"{}" + b" x", DEEP.encode(),
    b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", b'{"a": NaN}', b'{"a": Infinity}',
]  # fmt: skip
BAD_IDS = [
    "1208925819614629174706176", str(2**80), str(2**63), "-1", "1e3", "abc", "%00", "%D9%A1", "%201", "1.0",
    "0x1", "%ED%A0%80", "99999999999999999999",
]  # fmt: skip
BAD_CLIENT_IDS = ["%00", "x" * 200, "a%0Ab", "%ED%A0%80%00"]
BAD_QUERY_NUMBERS = [
    "inf", "-inf", "nan", "NaN", "Infinity", "1e308", "1e400", "-1", "1_0", "%D9%A1", "%201", "1e999999999",
    "99999999999999999999999999", "abc", "0x10", "%00", "1.5.5",
]  # fmt: skip
BAD_QUERY_TEXT = ["%00", "x" * 200, "a%0Ab"]


ORDINARY = {"market": "BTC-PERP", "side": "buy", "price": 29000, "size": 0.001, "type": "limit", "ioc": True}
RESTING = {
    "market": "BTC-PERP",
    "side": "buy",
    "price": 29000,
    "size": 0.001,
    "postOnly": True,
    "clientId": "rest",
}
STOP = {"market": "BTC-PERP", "side": "sell", "type": "stop", "triggerPrice": 25000, "size": 0.001}
TRAIL = {"market": "BTC-PERP", "side": "sell", "type": "trailingStop", "trailValue": -100, "size": 0.001}


class Route(NamedTuple):
    method: str
    path: str  # {order}, {trigger}, {trail}: objects made for the test
    body: dict[str, Any] | None  # accepted as it is
    fields: dict[str, str]  # what the route reads from the body, by kind
    operator: bool = False


WRITES = [
    Route(
        "POST",
        "/api/orders",
        ORDINARY,
        {"market": TEXT, "side": TEXT, "type": TEXT, "price": NUM, "size": NUM, "ioc": FLAG, "postOnly": FLAG}
        | {"reduceOnly": FLAG, "clientId": TEXT},
    ),
    Route(
        "POST",
        "/api/conditional_orders",
        {"market": "BTC-PERP", "side": "sell", "type": "stop", "triggerPrice": 20000, "orderPrice": 19000}
        | {"size": 0.001, "reduceOnly": False, "retryUntilFilled": False, "triggerBy": "mark"},
        {"market": TEXT, "side": TEXT, "type": TEXT, "triggerPrice": NUM, "orderPrice": NUM, "size": NUM}
        | {"reduceOnly": FLAG, "retryUntilFilled": FLAG, "triggerBy": TEXT, "clientId": TEXT},
    ),
    Route(
        "POST",
        "/api/conditional_orders",
        {"market": "BTC-PERP", "side": "sell", "type": "trailingStop", "trailValue": -100, "size": 0.001},
        {"trailValue": NUM, "size": NUM},
    ),
    Route(
        "POST",
        "/api/conditional_orders/{trigger}/modify",
        {"size": 0.002, "triggerPrice": 19500, "orderPrice": 19000},
        {"size": NUM, "triggerPrice": NUM, "orderPrice": NUM},
    ),
    Route("POST", "/api/conditional_orders/{trail}/modify", {"trailValue": -200}, {"trailValue": NUM}),
    Route(
        "POST",
        "/api/orders/{order}/modify",
        {"price": 29001, "size": 0.002, "clientId": "moved"},
        {"price": NUM, "size": NUM, "clientId": TEXT},
    ),
    Route(
        "DELETE",
        "/api/orders",
        {"market": "BTC-PERP", "side": "buy", "conditionalOrdersOnly": False, "limitOrdersOnly": False},
        {"market": TEXT, "side": TEXT, "conditionalOrdersOnly": FLAG, "limitOrdersOnly": FLAG},
    ),
    Route("DELETE", "/api/bulk_orders", {"orderIds": ["{order}"]}, {"orderIds": IDS}),
    Route(
        "DELETE",
        "/api/bulk_orders_by_client_id",
        {"clientOrderIds": ["rest"]},
        {"clientOrderIds": CLIENT_IDS},
    ),
    Route("POST", "/api/account/leverage", {"leverage": 10}, {"leverage": NUM}),
    Route("POST", "/api/subaccounts", {"nickname": "{new}"}, {"nickname": TEXT}),
    Route(
        "POST",
        "/api/subaccounts/transfer",
        {"coin": "USD", "size": 1, "source": None, "destination": "sub1"},
        {"coin": TEXT, "size": NUM, "source": TEXT, "destination": TEXT},
    ),
    Route(
        "POST",
        "/api/wallet/withdrawals",
        {"coin": "USD", "size": 1, "address": "0xabc", "tag": "memo"},
        {"coin": TEXT, "size": NUM, "address": TEXT, "tag": TEXT},
    ),
    Route(
        "POST",
        "/operator/deposits",
        {"account": "eve", "coin": "USD", "size": 1},
        {"account": TEXT, "subaccount": TEXT, "coin": TEXT, "size": NUM},
        operator=True,
    ),
    Route(
        "POST",
        "/operator/withdrawals",
        {"account": "eve", "coin": "USD", "size": 1},
        {"account": TEXT, "coin": TEXT, "size": NUM},
        operator=True,
    ),
    Route("POST", "/operator/index_prices", {"prices": {"BTC": 30000}}, {"prices": PRICES}, operator=True),
    Route(
        "POST",
        "/operator/blps",
        {"account": "eve", "perMinute": 100_000, "perHour": 300_000},
        {"account": TEXT, "perMinute": NUM, "perHour": NUM},
        operator=True,
    ),
    Route(
        "POST",
        "/operator/markets/BTC-PERP/margin",
        {"imf": 0, "mmf": 0},
        {"imf": NUM, "mmf": NUM},
        operator=True,
    ),
    Route("POST", "/operator/clock/advance", {"seconds": 1}, {"seconds": NUM}, operator=True),
    Route("POST", "/operator/accounts", {"name": "{new}"}, {"name": TEXT}, operator=True),
    Route(
        "POST",
        "/operator/accounts",
        {"name": "eve", "subaccount": "{new}", "createKey": False},
        {"name": TEXT, "subaccount": TEXT, "createKey": FLAG},
        operator=True,
    ),
    Route(
        "POST",
        "/operator/transfers",
        {"source": {"account": "eve"}, "destination": {"account": "eve", "subaccount": "sub1"}}
        | {"coin": "USD", "size": 1},
        {"source": TEXT, "destination": TEXT, "coin": TEXT, "size": NUM},
        operator=True,
    ),
    Route(
        "POST",
        "/operator/leverage",
        {"account": "eve", "leverage": 10},
        {"account": TEXT, "subaccount": TEXT, "leverage": NUM},
        operator=True,
    ),
    Route(
        "POST",
        "/operator/insurance_fund",
        {"account": "eve", "size": 1},
        {"account": TEXT, "size": NUM},
        operator=True,
    ),
    # leveraged tokens: the fixture's market maker quotes BTC-PERP for the hedges, eve holds BULL
    Route("POST", "/api/lt/BULL/create", {"size": 0.01}, {"size": NUM}),
    Route("POST", "/api/lt/BULL/redeem", {"size": 0.001}, {"size": NUM}),
]
PATH_WRITES = [  # {id} is a hostile id; the body is accepted where a real id stands
    Route("DELETE", "/api/orders/{id}", None, {}),
    Route("DELETE", "/api/conditional_orders/{id}", None, {}),
    Route("POST", "/api/orders/{id}/modify", {"price": 29001}, {}),
    Route("POST", "/api/conditional_orders/{id}/modify", {"size": 0.002}, {}),
    Route("DELETE", "/api/orders/by_client_id/{cid}", None, {}),
    Route("POST", "/api/orders/by_client_id/{cid}/modify", {"price": 29001}, {}),
]
READS = [  # (path, query parameters it reads: numbers, text), signed or public
    ("/api/orders/history", ("start_time", "end_time", "limit"), ("side", "orderType", "market"), True),
    ("/api/fills", ("start_time", "end_time", "limit", "orderId"), ("market",), True),
    ("/api/conditional_orders/history", ("start_time", "end_time", "limit"), ("side", "market"), True),
    ("/api/conditional_orders", (), ("market",), True),
    ("/api/orders", (), ("market",), True),
    ("/api/wallet/deposits", ("start_time", "end_time"), (), True),
    ("/api/wallet/withdrawals", ("start_time", "end_time"), (), True),
    ("/api/funding_payments", ("start_time", "end_time"), ("future",), True),
    ("/api/wallet/deposit_address/USD", (), ("method",), True),
    ("/api/markets/BTC-PERP/trades", ("start_time", "end_time", "limit"), (), False),
    ("/api/markets/BTC-PERP/candles", ("resolution", "start_time", "end_time", "limit"), (), False),
    ("/api/markets/BTC-PERP/orderbook", ("depth",), (), False),
    ("/api/indexes/BTC/candles", ("resolution", "start_time", "end_time", "limit"), (), False),
    ("/api/funding_rates", ("start_time", "end_time"), ("future",), False),
]
PATH_READS = ["/api/orders/{id}", "/api/conditional_orders/{id}/triggers", "/api/orders/by_client_id/{cid}"]
HOSTILE = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def call(
    port: int, method: str, target: str, body: bytes = b"", headers: dict | None = None, chunked: bool = False
):
    """One request over a fresh connection, its target sent exactly as given; (status, JSON reply).
    The whole body is offered even if the server answers first (as it should, to a body too large)."""
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        "Content-Type: application/json",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(c), c) for c in (body[i : i + 65536] for i in range(0, len(body), 65536))
        )
        payload += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        reply = HTTPResponse(sock)
        reply.begin()
        data = reply.read()
    return reply.status, json.loads(data)


class Hostile:
    def __init__(self, base: str) -> None:
        self.server = Server(base)
        self.port = int(base.rsplit(":", 1)[1])
        self.keys: dict = {}

    def send(self, method: str, target: str, body: bytes = b"", operator: bool = False, **kw: Any):
        if operator:
            headers = {"Authorization": f"Bearer {TOKEN}"}
        else:
            ts = str(int(time.time() * 1000))
            sign = sign_request(self.keys["apiSecret"], ts, method, target, body)
            headers = {"FTX-KEY": self.keys["apiKey"], "FTX-TS": ts, "FTX-SIGN": sign}
        return call(self.port, method, target, body, headers, **kw)

    def ok(self, method: str, target: str, body: dict | None = None, operator: bool = False) -> Any:
        status, reply = self.send(
            method, target, b"" if body is None else json.dumps(body).encode(), operator
        )
        assert status == 200 and reply["success"], (method, target, body, status, reply)
        return reply["result"]

    def state_hash(self) -> str:
        return self.ok("GET", "/operator/state_hash", operator=True)["stateHash"]

    def objects(self) -> dict[str, str]:
        """A resting order (client id "rest"), a stop and a trailing stop of eve's, fresh."""
        self.ok("DELETE", "/api/orders", {})
        order = self.ok("POST", "/api/orders", RESTING)
        stop = self.ok("POST", "/api/conditional_orders", STOP)
        trail = self.ok("POST", "/api/conditional_orders", TRAIL)
        return {
            "order": str(order["id"]),
            "trigger": str(stop["id"]),
            "trail": str(trail["id"]),
            "new": uuid.uuid4().hex[:12],
        }

    def refused(self, method: str, target: str, body: bytes = b"", operator: bool = False, **kw: Any) -> dict:
        """The request is refused with a 4xx and FTX's envelope, and changes nothing; the next
        ordinary order succeeds."""
        before = self.state_hash()
        status, reply = self.send(method, target, body, operator, **kw)
        assert 400 <= status < 500, (method, target, body[:200], status, reply)
        assert set(reply) == {"success", "error"} and reply["success"] is False, reply
        assert isinstance(reply["error"], str) and reply["error"] and "Traceback" not in reply["error"]
        assert self.state_hash() == before, (method, target, body[:200], reply)
        assert self.ok("POST", "/api/orders", ORDINARY)["status"] == "closed"
        return reply


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, made in ids.items():
            value = value.replace("{" + name + "}", made)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _text(pairs: list[tuple[str, str]]) -> bytes:
    return ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}").encode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    log = root / "server.log"
    proc, base = serve(root / "data", log)
    h = Hostile(base)
    assert h.server.operator("/operator/index_prices", {"prices": {"BTC": 30000, "ETH": 2000}})["success"]
    assert h.server.operator("/operator/clock/advance", {"seconds": 2})["success"]
    h.keys = h.server.operator("/operator/accounts", {"name": "eve"})["result"]
    assert h.server.operator("/operator/deposits", {"account": "eve", "coin": "USD", "size": 1_000_000})[
        "success"
    ]
    h.ok("POST", "/api/subaccounts", {"nickname": "sub1"})
    maker = h.server.client("lt-maker", 10_000_000)  # liquidity for the leveraged tokens' hedges
    maker.create_order("BTC/USD:USD", "limit", "sell", 50, 30300)
    maker.create_order("BTC/USD:USD", "limit", "buy", 50, 29700)
    h.ok("POST", "/api/lt/BULL/create", {"size": 0.5})
    yield h
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # nor in the operator's log


def serve(data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`backstop serve` on a free port, without the order rate limit (every hostile request is
    followed by an ordinary order), its output appended to `log`; (the process, its base URL)."""
    port = free_port()
    env = dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN)
    command = [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data)]
    with open(log, "a") as out:
        proc = subprocess.Popen([*command, *MANUAL, "--order-rate", "0"], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/api/markets", timeout=1).close()
            return proc, base
        except OSError:
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)


@pytest.mark.parametrize("route", WRITES, ids=lambda r: f"{r.method} {r.path} {','.join(r.fields)[:30]}")
def test_hostile_values_in_every_write_are_refused_and_change_nothing(hostile: Hostile, route: Route) -> None:
    h = hostile
    ids = h.objects()
    assert route.body is not None
    h.ok(route.method, _fill(route.path, ids), _fill(route.body, ids), route.operator)  # as it is, it works
    ids = h.objects()
    path = _fill(route.path, ids)
    pairs = [(k, json.dumps(v)) for k, v in _fill(route.body, ids).items()]

    @HOSTILE
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        how = data.draw(st.sampled_from(["field", "field", "field", "duplicate", "structure"]))
        if how == "structure":
            raw = data.draw(st.sampled_from(STRUCTURAL))
        else:
            field = data.draw(st.sampled_from(sorted(route.fields)))
            value = data.draw(POOLS[route.fields[field]], label=field)
            given_pairs = [(k, v) for k, v in pairs if k != field] + [(field, value)]
            if how == "duplicate":  # the last of duplicate keys used to win
                given_pairs = [(field, dict(pairs).get(field, value)), *given_pairs]
            raw = _text(given_pairs)
        h.refused(route.method, path, raw, route.operator)

    check()


@pytest.mark.parametrize("route", PATH_WRITES, ids=lambda r: f"{r.method} {r.path}")
def test_hostile_ids_in_paths_are_refused_and_change_nothing(hostile: Hostile, route: Route) -> None:
    body = b"" if route.body is None else json.dumps(route.body).encode()
    for bad in BAD_CLIENT_IDS if "{cid}" in route.path else BAD_IDS:
        reply = hostile.refused(route.method, route.path.replace("{id}", bad).replace("{cid}", bad), body)
        assert reply["error"] in ("Order not found", "Invalid parameter clientId"), (bad, reply)


@pytest.mark.parametrize(("path", "numbers", "texts", "signed"), READS, ids=[r[0] for r in READS])
def test_hostile_query_parameters_are_refused(
    hostile: Hostile, path: str, numbers, texts, signed: bool
) -> None:
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from([*numbers, *texts]))
        value = data.draw(st.sampled_from(BAD_QUERY_NUMBERS if name in numbers else BAD_QUERY_TEXT))
        target = f"{path}?{name}={value}"
        if signed:
            status, reply = hostile.send("GET", target)
        else:
            status, reply = call(hostile.port, "GET", target)
        assert 400 <= status < 500 and reply["success"] is False and isinstance(reply["error"], str), (
            target,
            reply,
        )

    check()
    for template in PATH_READS:
        for bad in BAD_CLIENT_IDS if "{cid}" in template else BAD_IDS:
            status, reply = hostile.send("GET", template.replace("{id}", bad).replace("{cid}", bad))
            assert status in (400, 404) and reply["success"] is False, (template, bad, reply)


# the order gateway's own path, the application's and the operator API's
@pytest.mark.parametrize("route", [WRITES[0], WRITES[10], WRITES[13]], ids=lambda r: r.path)
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_too_large_is_refused_before_it_is_read_whole_or_its_signature_checked(
    hostile: Hostile, route: Route, chunked: bool
) -> None:
    body = b'{"pad": "' + b"x" * (2 << 20) + b'"}'  # twice the cap
    reply = hostile.refused(route.method, route.path, body, route.operator, chunked=chunked)
    assert reply["error"] == "Invalid parameter body: too large"
    status, reply = call(hostile.port, "POST", "/api/wallet/withdrawals", body)  # not signed at all
    assert (status, reply["error"]) == (413, "Invalid parameter body: too large")


def test_a_bulk_cancel_journals_only_what_it_cancels(hostile: Hostile) -> None:
    """20,000 unknown ids wrote 640 KB to the journal: a bulk cancel takes at most 1,000 ids and
    journals a cancel only for an open order of the caller's (the journal's sequence shows it)."""
    h = hostile
    ids = h.objects()

    def sequence() -> int:
        return int(h.ok("GET", "/operator/state_hash", operator=True)["sequence"])

    before = sequence()
    unknown = [str(n) for n in range(10**9, 10**9 + 1000)]
    assert h.ok("DELETE", "/api/bulk_orders", {"orderIds": unknown}) == []
    assert h.ok("DELETE", "/api/bulk_orders_by_client_id", {"clientOrderIds": unknown}) == []
    assert sequence() == before
    h.refused("DELETE", "/api/bulk_orders", json.dumps({"orderIds": [*unknown, "1"]}).encode())
    before = sequence()
    given = [*unknown[:10], ids["order"], ids["order"], int(ids["order"])]
    assert h.ok("DELETE", "/api/bulk_orders", {"orderIds": given}) == [int(ids["order"])]
    assert sequence() == before + 1


def test_hostile_websocket_messages_get_errors_and_the_connection_stays(hostile: Hostile) -> None:
    before = hostile.state_hash()
    url = hostile.server.base.replace("http", "ws") + "/ws"
    messages: list[str | bytes] = [
        '{"op": "login", "args": [1, 2]}', '{"op": "login", "args": "x"}', '{"op": "login", "args": 5}',
        '{"op": "login", "args": {"key": [], "sign": {}, "time": 1e999999999}}',
        '{"op": "login", "args": {"key": "k", "sign": "s", "time": NaN}}',
        '{"op": "login", "args": {"key": "\\ud800", "sign": "s", "time": 1, "subaccount": [1]}}',
        '{"op": "subscribe", "channel": ["orders"]}', '{"op": "subscribe", "channel": {"a": 1}}',
        '{"op": "subscribe", "channel": "orderbook", "market": {"a": 1}}', '{"op": ["ping"]}',
        '{"op": "ping", "op": "login"}', "NaN", "[1, 2]", DEEP, '"\\ud800"', b"\xed\xa0\x80", b"\xff\xfe",
        b'{"op": "ping"', "",
    ]  # fmt: skip

    async def run() -> list[dict]:
        replies = []
        async with websockets.connect(url, max_size=None) as ws:
            for message in messages:
                await ws.send(message)
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            await ws.send('{"op": "ping"}')
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return replies

    replies = asyncio.run(run())
    assert all(r["type"] == "error" and r["code"] in (400, 404) for r in replies[:-1]), replies
    assert replies[-1] == {"type": "pong"}
    assert hostile.state_hash() == before


def test_a_poison_trigger_order_then_a_restart(tmp_path: Path) -> None:
    """The issue's bricking request and the others that stopped every write, against a real
    process: each is refused, writes go on, and after a SIGKILL the server starts again with its
    history intact."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    proc, base = serve(data, log)
    h = Hostile(base)
    try:
        assert h.server.operator("/operator/index_prices", {"prices": {"BTC": 30000}})["success"]
        assert h.server.operator("/operator/clock/advance", {"seconds": 2})["success"]
        h.keys = h.server.operator("/operator/accounts", {"name": "poor"})["result"]
        assert h.server.operator("/operator/deposits", {"account": "poor", "coin": "USD", "size": 100})[
            "success"
        ]
        placed = h.ok(
            "POST", "/api/orders", {"market": "BTC-PERP", "side": "buy", "price": 29000, "size": 0.001}
        )
        stop = h.ok("POST", "/api/conditional_orders", STOP)
        poison = {"market": "BTC-PERP", "side": "sell", "type": "stop", "triggerPrice": 25000}
        for size in (1e15, 1e14, 99_999_999.0001):
            h.refused("POST", "/api/conditional_orders", json.dumps(poison | {"size": size}).encode())
        for change in ({"size": 1e15}, {"size": 1e14}, {"orderPrice": 1e15}, {"triggerPrice": 1e15}):
            h.refused("POST", f"/api/conditional_orders/{stop['id']}/modify", json.dumps(change).encode())
        trail = h.ok("POST", "/api/conditional_orders", TRAIL)
        h.refused("POST", f"/api/conditional_orders/{trail['id']}/modify", b'{"trailValue": -1e15}')
        h.refused("DELETE", "/api/orders/1208925819614629174706176")
        h.refused(
            "POST",
            "/api/orders",
            json.dumps({**poison, "type": "limit", "price": 1, "size": 1, "clientId": "\ud800"}).encode(),
        )
        h.refused("POST", "/api/subaccounts", b'{"nickname": "\\ud800"}')
        h.refused("POST", "/api/account/leverage", b'{"leverage": 1e30}')
        h.refused(
            "POST",
            "/api/orders",
            b'{"market": "BTC-PERP", "side": "buy", "price": 29000, "size": 0.001, "size": 1e30}',
        )
        h.refused(
            "POST", "/operator/deposits", b'{"account": "poor", "coin": "USD", "size": 1e308}', operator=True
        )
        before = h.state_hash()
        history = h.ok("GET", "/api/orders/history")
        triggers = h.ok("GET", "/api/conditional_orders")
    finally:
        proc.kill()  # SIGKILL: the restart replays the journal
        proc.wait(timeout=30)
    proc, base = serve(data, log)
    h.server, h.port = Server(base), int(base.rsplit(":", 1)[1])
    try:
        assert h.state_hash() == before
        assert h.ok("GET", "/api/orders/history") == history and placed["id"] in {o["id"] for o in history}
        assert h.ok("GET", "/api/conditional_orders") == triggers
        assert {t["id"] for t in triggers} == {stop["id"], trail["id"]}
        h.ok("POST", "/api/orders", {"market": "BTC-PERP", "side": "buy", "price": 29000, "size": 0.001})
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
