"""The API bench's baseline: a bare raw-ASGI endpoint doing the least any signed order endpoint does.

`python -m backstop.bench.bare_api --port P --keys FILE` serves, under uvicorn configured as
`backstop serve` configures it (the same HTTP parser, event loop, proxy-header handling, no access
log), one ASGI callable that, for every POST: reads the body, checks FTX's signature (FTX-KEY found
in a dict of secrets, FTX-TS digits within 30 s of now, FTX-SIGN the hex HMAC-SHA256 of ts + method
+ target + body), parses the body with the standard `json`, and answers FTX's envelope around an
order shaped as `POST /api/orders` answers (the same fields, copied from the body or constant), so
the bytes on the wire match the exchange's. No exchange, no journal, no framework: what
`backstop bench api` divides the exchange's orders per server CPU-second by.

FILE is a JSON object {api key: secret}.
"""

from __future__ import annotations

import hmac
import json
import time
from pathlib import Path
from typing import Any

import click

WINDOW_MS = 30_000
_JSON = (b"content-type", b"application/json")


def _reply(status: int, content: dict[str, Any]) -> tuple[int, bytes]:
    return status, json.dumps(content, separators=(",", ":")).encode()


def _refused(error: str) -> tuple[int, bytes]:
    return _reply(401, {"success": False, "error": error})


class BareOrders:
    """The ASGI application: every POST is a signed order, answered as FTX would accept it."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = {key: secret.encode() for key, secret in secrets.items()}
        self.next_id = 0

    def answer(self, headers: dict[bytes, bytes], target: bytes, body: bytes) -> tuple[int, bytes]:
        key = headers.get(b"ftx-key", b"").decode("latin-1")
        ts = headers.get(b"ftx-ts", b"")
        sign = headers.get(b"ftx-sign", b"").decode("latin-1")
        secret = self.secrets.get(key)
        if secret is None:
            return _refused("Not logged in: Invalid API key")
        if not ts.isdigit() or abs(time.time_ns() // 1_000_000 - int(ts)) > WINDOW_MS:
            return _refused("Not logged in: Timestamp too far from current time")
        expected = hmac.digest(secret, ts + b"POST" + target + body, "sha256").hex()
        if not hmac.compare_digest(expected, sign):
            return _refused("Not logged in: Invalid signature")
        order = json.loads(body)
        self.next_id += 1
        return _reply(
            200,
            {
                "success": True,
                "result": {
                    "id": self.next_id,
                    "clientId": order.get("clientId"),
                    "market": order.get("market"),
                    "future": order.get("market"),
                    "type": order.get("type", "limit"),
                    "side": order.get("side"),
                    "price": order.get("price"),
                    "size": order.get("size"),
                    "filledSize": 0.0,
                    "remainingSize": order.get("size"),
                    "avgFillPrice": None,
                    "status": "new",
                    "createdAt": "2026-01-01T00:00:02+00:00",
                    "reduceOnly": bool(order.get("reduceOnly", False)),
                    "ioc": bool(order.get("ioc", False)),
                    "postOnly": bool(order.get("postOnly", False)),
                    "liquidation": False,
                },
            },
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        query = scope["query_string"]
        target = scope.get("raw_path") or scope["path"].encode()
        if query:
            target += b"?" + query
        status, content = self.answer(dict(scope["headers"]), target, b"".join(chunks))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})


@click.command()
@click.option("--port", type=int, required=True)
@click.option(
    "--keys", "keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
def main(port: int, keys_file: Path) -> None:
    """Serve the bare endpoint on 127.0.0.1:PORT until interrupted."""
    import uvicorn

    from backstop.server.serve import BACKLOG

    app = BareOrders(json.loads(keys_file.read_text()))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=BACKLOG
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
