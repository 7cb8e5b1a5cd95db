"""The order gateway: the hot order endpoints answered straight from ASGI.

Placing and cancelling orders is most of what a busy API does, and the framework's per-request
work (middleware stack, request and response objects, routing, dependency injection) cost as much
as the exchange's own. The gateway answers

    POST   /api/orders                           place an order
    DELETE /api/orders                           cancel all (of a market, a side...)
    DELETE /api/orders/{order_id}                cancel one
    DELETE /api/orders/by_client_id/{client_id}  cancel one by its client id

with the same handler code as the FastAPI routes (`order_entry.signed_by`, `private.place`,
`private.cancel_*`; the routes still document the endpoints in OpenAPI and answer them should the
gateway be bypassed), matching paths as those routes do (a path parameter is one non-empty
segment of the decoded path; anything else, a trailing slash included, goes to the application,
which redirects or refuses it). Errors are FTX's envelope with FTX's status, as the application's
handlers make them. Every other request passes through to the application, its body capped at
`params.MAX_BODY` as it arrives: nothing reads a body whole, and no signature is checked over one,
before it is known to be small enough.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backstop.engine import errors
from backstop.server import auth, order_entry, private, wire
from backstop.server.envelope import ApiError, render, render_text, status_for
from backstop.server.params import MAX_BODY, TOO_LARGE

if TYPE_CHECKING:
    from backstop.server.app import ServerState

PATH = "/api/orders"
_ONE = PATH + "/"
_BY_CLIENT = "by_client_id/"
_JSON = (b"content-type", b"application/json")
_SUCCESS = b'{"success":true,"result":'  # render({"success": True, "result": x}) is this + render(x) + "}"
log = logging.getLogger("backstop.server")

Handler = Callable[["ServerState", order_entry.Caller, str], Awaitable[str]]
"""A gateway handler: (state, caller, path parameter) -> the result's JSON text."""


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
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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


async def _place(s: ServerState, c: order_entry.Caller, _: str) -> str:
    row = order_entry.placed_row(await order_entry.run(s, order_entry.order_command(s, c)))
    text = wire.order_json(s.exchange.catalog.markets[row[2]], row)
    return render_text(private.order_row_view(s, row)) if text is None else text


async def _cancel_all(s: ServerState, c: order_entry.Caller, _: str) -> str:
    return render_text(await private.cancel_orders(s, c))


async def _cancel_by_id(s: ServerState, c: order_entry.Caller, order_id: str) -> str:
    return render_text(await private.cancel_by_id(s, c, order_id))


async def _cancel_by_client_id(s: ServerState, c: order_entry.Caller, client_id: str) -> str:
    return render_text(await private.cancel_by_client_id(s, c, client_id))


def route(method: str, path: str) -> tuple[Handler, str, bool] | None:
    """(the handler, its path parameter, whether it counts against the order rate limit) of a
    request the gateway answers, or None for the application's."""
    if path == PATH:
        if method == "POST":
            return _place, "", True
        if method == "DELETE":
            return _cancel_all, "", False
        return None
    if method != "DELETE" or not path.startswith(_ONE):
        return None
    rest = path[len(_ONE) :]
    if rest.startswith(_BY_CLIENT):
        client_id = rest[len(_BY_CLIENT) :]
        if client_id and "/" not in client_id:
            return _cancel_by_client_id, client_id, False
        return None
    if rest and "/" not in rest:
        return _cancel_by_id, rest, False
    return None


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


class OrderGateway:
    def __init__(self, app: ASGIApp, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        found = route(method, scope["path"])
        if found is None:
            await self.app(scope, capped(receive), send)
            return
        handler, parameter, counted = found
        status = 200
        try:
            body = await _body(receive)
            # ASGI servers send header names lowercased (uvicorn does); the last of repeated
            # ones counts, as `auth.authenticate` takes them
            headers = dict(scope["headers"])
            if b"ftx-key" not in headers:
                headers = {name.lower(): value for name, value in scope["headers"]}
            target = auth.raw_target(scope.get("raw_path") or scope["path"].encode(), scope["query_string"])
            c = order_entry.signed_by(
                self.server,
                _header(headers, b"ftx-key") or "",
                _header(headers, b"ftx-ts") or "",
                _header(headers, b"ftx-sign") or "",
                _header(headers, b"ftx-subaccount"),
                method,
                target,
                body,
                write=True,
                order=counted,
            )
            result = await handler(self.server, c, parameter)
            content = b"".join((_SUCCESS, result.encode(), b"}"))
        except _Disconnected:
            return
        except ApiError as exc:
            status = exc.status or status_for(exc.error)
            content = render({"success": False, "error": exc.error})
        except Exception:  # never a stack trace to a client; the operator's log gets it
            log.exception("%s %s failed", method, scope["path"])
            status = 500
            content = render({"success": False, "error": errors.INTERNAL_ERROR})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
