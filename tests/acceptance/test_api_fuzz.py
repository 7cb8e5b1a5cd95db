"""A bounded fuzz run against the real server: schemathesis over the published OpenAPI (every
route, every method, generated paths and bodies: never a 500), then hypothesis over signed private
requests with arbitrary JSON bodies: a rejected request answers FTX's envelope with a 4xx and
changes nothing (the engine's state hash is the same before and after)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server_trading import Server
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
