"""The order gateway: `POST /api/orders`, the hot path, answered straight from ASGI.

Placing orders is most of what a busy API does, and the framework's per-request work (middleware
stack, request and response objects, routing) was about a fifth of an order's cost. The gateway
runs the same handler code as the FastAPI route (`private.signed` and `private.place`, which still
documents the endpoint in OpenAPI); every other request passes through to the application, its
body capped at `params.MAX_BODY` as it arrives: nothing reads a body whole, and no signature is
checked over one, before it is known to be small enough.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backstop.engine import errors
from backstop.server import auth, private
from backstop.server.envelope import ApiError, render, status_for
from backstop.server.params import MAX_BODY, TOO_LARGE

if TYPE_CHECKING:
    from backstop.server.app import ServerState

PATH = "/api/orders"
_JSON = (b"content-type", b"application/json")
log = logging.getLogger("backstop.server")


class _Disconnected(Exception):
    pass


async def _body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(TOO_LARGE, 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def capped(receive: Receive) -> Receive:
    """`receive` that refuses (413) a request body growing past MAX_BODY; the application's
    handlers turn the ApiError into FTX's envelope."""
    size = 0

    async def receive_capped() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            raise ApiError(TOO_LARGE, 413)
        return message

    return receive_capped


class OrderGateway:
    def __init__(self, app: ASGIApp, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, capped(receive), send)
            return
        status = 200
        reply: dict[str, Any]
        try:
            body = await _body(receive)
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
            target = auth.raw_target(scope.get("raw_path") or PATH.encode(), scope["query_string"])
            c = private.signed(self.server, headers, "POST", target, body, write=True, order=True)
            reply = {"success": True, "result": await private.place(self.server, c)}
        except _Disconnected:
            return
        except ApiError as exc:
            status = exc.status or status_for(exc.error)
            reply = {"success": False, "error": exc.error}
        except Exception:  # never a stack trace to a client; the operator's log gets it
            log.exception("POST /api/orders failed")
            status = 500
            reply = {"success": False, "error": errors.INTERNAL_ERROR}
        content = render(reply)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
