"""The API bench's baseline endpoint does the work it stands for: FTX's signature check (a wrong
key, timestamp or signature is refused), a JSON parse and an order-shaped JSON reply."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from backstop.bench.bare_api import BareOrders
from backstop.server.auth import sign_request

KEY, SECRET = "k" * 40, "s" * 40
BODY = b'{"market":"BTC-PERP","side":"buy","price":29990,"type":"limit","size":0.001,"postOnly":true}'


def _call(app: BareOrders, headers: list[tuple[bytes, bytes]], body: bytes = BODY) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/orders",
        "raw_path": b"/api/orders",
        "query_string": b"",
        "headers": headers,
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def _signed(ts: int, secret: str = SECRET, key: str = KEY) -> list[tuple[bytes, bytes]]:
    sign = sign_request(secret, ts, "POST", "/api/orders", BODY)
    return [(b"ftx-key", key.encode()), (b"ftx-ts", str(ts).encode()), (b"ftx-sign", sign.encode())]


def test_a_signed_order_is_answered_in_the_exchange_shape() -> None:
    status, reply = _call(BareOrders({KEY: SECRET}), _signed(time.time_ns() // 1_000_000))
    assert status == 200 and reply["success"] is True
    order = reply["result"]
    assert [order[k] for k in ("market", "side", "price", "size")] == ["BTC-PERP", "buy", 29990, 0.001]
    assert order["status"] == "new" and order["postOnly"] is True


def test_a_bad_key_timestamp_or_signature_is_refused() -> None:
    app = BareOrders({KEY: SECRET})
    now = time.time_ns() // 1_000_000
    for headers, error in (
        (_signed(now, key="x" * 40), "Not logged in: Invalid API key"),
        (_signed(now - 31_000), "Not logged in: Timestamp too far from current time"),
        (_signed(now, secret="t" * 40), "Not logged in: Invalid signature"),
    ):
        status, reply = _call(app, headers)
        assert (status, reply) == (401, {"success": False, "error": error})
