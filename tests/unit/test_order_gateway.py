"""The order gateway answers its endpoints exactly as the FastAPI routes behind it do.

Two exchanges are set up alike (manual clock, the same accounts, so the same ids and times); the
same requests go to one through the gateway and to the other straight to the application behind
it, and every answer (status, headers, body) must be the same: successes, FTX's errors, and
paths the gateway leaves to the application (a trailing slash, an extra segment, another method)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from backstop.server import serve
from backstop.server.app import create_app
from backstop.server.auth import sign_request
from backstop.server.gateway import OrderGateway, capped, route

TOKEN = "gateway-test-operator-token"

Answer = tuple[int, dict[bytes, bytes], bytes]


Headers = Sequence[tuple[bytes, bytes]]


async def call(app: Any, method: str, raw_path: bytes, body: bytes = b"", headers: Headers = ()) -> Answer:
    path, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path.decode()),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:
            await asyncio.sleep(3600)
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


class Exchange:
    """One exchange in this process; `via_gateway` False sends requests straight to the application."""

    def __init__(self, directory: Path, via_gateway: bool) -> None:
        self.runtime, self.state, _ = serve.build(directory, "manual", "1", "manual", 0, order_rate=0)
        self.state.operator_token = TOKEN
        self.gateway = create_app(self.state)
        assert isinstance(self.gateway, OrderGateway)
        self.via_gateway = via_gateway
        self.keys: dict[str, tuple[str, str]] = {}

    async def request(self, method: str, raw_path: bytes, body: bytes, headers: Headers) -> Answer:
        if self.via_gateway:
            return await call(self.gateway, method, raw_path, body, headers)
        inner = self.gateway.app

        async def straight(scope: Any, receive: Any, send: Any) -> None:
            await inner(scope, capped(receive), send)

        return await call(straight, method, raw_path, body, headers)

    async def operator(self, path: str, body: dict[str, Any]) -> Any:
        headers = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/json")]
        _, _, reply = await call(self.gateway, "POST", path.encode(), json.dumps(body).encode(), headers)
        answer = json.loads(reply)
        assert answer["success"], answer
        return answer["result"]

    async def setup(self) -> None:
        self.state.sequencer.start()
        await self.operator("/operator/index_prices", {"prices": {"BTC": 30_000, "ETH": 2_000}})
        await self.operator("/operator/clock/advance", {"seconds": 2})
        for name in ("ann", "bob"):
            made = await self.operator("/operator/accounts", {"name": name})
            await self.operator("/operator/deposits", {"account": name, "coin": "USD", "size": 100_000})
            self.keys[name] = (made["apiKey"], made["apiSecret"])
        self.keys["reader"] = self.state.keys.create("ann", read_only=True)

    async def stop(self) -> None:
        await self.state.sequencer.stop()
        self.state.keys.close()
        self.state.projection.close()
        self.runtime.close()


def signed(
    keys: tuple[str, str], method: str, raw_path: bytes, body: bytes, ts: int, secret: str | None = None
) -> list[tuple[bytes, bytes]]:
    key, real = keys
    sign = sign_request(secret or real, ts, method, raw_path, body)
    return [(b"ftx-key", key.encode()), (b"ftx-ts", str(ts).encode()), (b"ftx-sign", sign.encode())]


def order(**fields: Any) -> bytes:
    base = {"market": "BTC-PERP", "side": "buy", "price": 29_000, "type": "limit", "size": 0.01}
    return json.dumps(base | fields).encode()


# (method, raw path, body, who signs ("" nobody), extra headers, a wrong secret)
REQUESTS: list[tuple[str, bytes, bytes, str, list[tuple[bytes, bytes]], bool]] = [
    ("POST", b"/api/orders", order(), "ann", [], False),
    ("POST", b"/api/orders", order(clientId="c-1", postOnly=True), "ann", [], False),
    ("POST", b"/api/orders", order(side="sell", price=31_000, clientId=7), "bob", [], False),
    ("POST", b"/api/orders?x=1", order(price=29_500), "ann", [], False),
    ("POST", b"/api/orders", order(side="up"), "ann", [], False),
    ("POST", b"/api/orders", order(size=0.00001), "ann", [], False),
    ("POST", b"/api/orders", order(market="NOPE-PERP"), "ann", [], False),
    ("POST", b"/api/orders", order(price=None), "ann", [], False),
    ("POST", b"/api/orders", order(type="market", price=None, ioc=True, size=0.001), "bob", [], False),
    ("POST", b"/api/orders", b"{not json", "ann", [], False),
    ("POST", b"/api/orders", b'{"market":"BTC-PERP","market":"ETH-PERP"}', "ann", [], False),
    ("POST", b"/api/orders", order(), "", [], False),
    ("POST", b"/api/orders", order(), "ann", [], True),
    ("POST", b"/api/orders", order(), "reader", [], False),
    ("POST", b"/api/orders", order(), "ann", [(b"ftx-subaccount", b"nobody")], False),
    ("POST", b"/api/orders", b" " * (2 << 20), "ann", [], False),
    ("DELETE", b"/api/orders/by_client_id/c-1", b"", "ann", [], False),
    ("DELETE", b"/api/orders/by_client_id/c-1", b"", "ann", [], False),
    ("DELETE", b"/api/orders/by_client_id/7", b"{}", "bob", [], False),
    ("DELETE", b"/api/orders/by_client_id/", b"", "ann", [], False),
    ("DELETE", b"/api/orders/by_client_id", b"", "ann", [], False),
    ("DELETE", b"/api/orders/1", b"", "ann", [], False),
    ("DELETE", b"/api/orders/1", b"", "ann", [], False),
    ("DELETE", b"/api/orders/%32", b"", "ann", [], False),
    ("DELETE", b"/api/orders/abc", b"", "ann", [], False),
    ("DELETE", b"/api/orders/99999999999999999999", b"", "ann", [], False),
    ("DELETE", b"/api/orders/history", b"", "ann", [], False),
    ("DELETE", b"/api/orders/1/2", b"", "ann", [], False),
    ("DELETE", b"/api/orders/", b"", "ann", [], False),
    ("DELETE", b"/api/orders/4", b"", "reader", [], False),
    ("DELETE", b"/api/orders", b'{"market":"NOPE-PERP"}', "ann", [], False),
    ("DELETE", b"/api/orders", b'{"market":"BTC-PERP","side":"sell"}', "ann", [], False),
    ("DELETE", b"/api/orders", b'{"limitOrdersOnly":"yes"}', "ann", [], False),
    ("DELETE", b"/api/orders", b"", "ann", [], False),
    ("DELETE", b"/api/orders", b"", "", [], False),
    ("PUT", b"/api/orders", order(), "ann", [], False),
    ("GET", b"/api/orders", b"", "ann", [], False),
    ("DELETE", b"/api/orders", b"{}", "bob", [], False),
]


def test_the_gateway_answers_as_the_application_does(tmp_path: Path) -> None:
    async def scenario() -> None:
        one, other = Exchange(tmp_path / "gateway", True), Exchange(tmp_path / "app", False)
        try:
            for exchange in (one, other):
                await exchange.setup()
            last = 0
            for method, raw_path, body, who, extra, wrong in REQUESTS:
                answers = []
                for exchange in (one, other):
                    # a new millisecond each time: two identical requests signed in the same one
                    # would be one signature used twice (the replay guard's 401)
                    last = ts = max(time.time_ns() // 1_000_000, last + 1)
                    headers = list(extra)
                    if who:
                        secret = "not the secret" if wrong else None
                        headers += signed(exchange.keys[who], method, raw_path, body, ts, secret)
                    answers.append(await exchange.request(method, raw_path, body, headers))
                gateway, application = answers
                assert gateway == application, (method, raw_path, body[:80], who)
            assert one.state.exchange.state_hash() == other.state.exchange.state_hash()
        finally:
            for exchange in (one, other):
                await exchange.stop()

    asyncio.run(scenario())


def test_the_gateway_takes_only_its_own_paths() -> None:
    assert route("POST", "/api/orders") is not None
    assert route("DELETE", "/api/orders") is not None
    assert route("DELETE", "/api/orders/12") is not None
    assert route("DELETE", "/api/orders/by_client_id/x") is not None
    for method, path in (
        ("GET", "/api/orders"),
        ("PUT", "/api/orders"),
        ("POST", "/api/orders/"),
        ("DELETE", "/api/orders/"),
        ("DELETE", "/api/orders/1/2"),
        ("DELETE", "/api/orders/by_client_id/"),
        ("DELETE", "/api/orders/by_client_id/a/b"),
        ("POST", "/api/orders/1/modify"),
        ("DELETE", "/api/ordersx"),
        ("GET", "/api/orders/12"),
    ):
        assert route(method, path) is None, (method, path)
