"""The browser UI: `/` serves its page (static/ui/, plain HTML, CSS and ES modules shipped in the
package; no build step), which then speaks only the public REST and websocket API, signing private
calls in the browser as any FTX client does.

One helper is the UI's own: `GET /ui/demo` hands the local demo account's key and secret (the one
`backstop serve` prints at start-up) to a browser on this machine, so a newcomer is one click from
trading. It answers only when all of these hold, and refuses with 403 otherwise:
- the server listens on a loopback address (serve.py records the demo key only then);
- the request comes from a loopback address;
- its Host header names a loopback host (`127.0.0.1`, `[::1]`, `localhost`), so a page from another
  site whose name was rebound to 127.0.0.1 (DNS rebinding) gets nothing;
- it carries no Forwarded / X-Forwarded-For header (a reverse proxy on this machine would otherwise
  make a remote browser look local).
A browser on another machine pastes a key and secret instead; they stay in its session storage."""

from __future__ import annotations

import ipaddress
from importlib import resources
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from backstop.server.envelope import fail, ok

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()

DEMO_REFUSED = "The demo account is offered only to a browser on this machine, on a loopback address"
NO_DEMO = "No demo account: the server listens beyond loopback, or the demo account could not be made"
LOOPBACK_NAMES = ("localhost",)


def loopback(host: str | None) -> bool:
    """Whether `host` (an address, or `localhost`) is this machine's loopback."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str | None) -> str | None:
    """The host of a Host header, without its port (`[::1]:8000` -> `::1`)."""
    if not header:
        return None
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else None
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _page() -> str:
    return (resources.files(__package__) / "static" / "ui" / "index.html").read_text(encoding="utf-8")


@router.get("/", include_in_schema=False)
async def index() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/ui/demo", include_in_schema=False)
async def demo(request: Request) -> Response:
    s: ServerState = request.app.state.server
    headers = request.headers
    local = (
        request.client is not None
        and loopback(request.client.host)
        and loopback(host_name(headers.get("host")))
        and "forwarded" not in headers
        and "x-forwarded-for" not in headers
    )
    if not local:
        return fail(DEMO_REFUSED, 403)
    if s.demo is None:
        return fail(NO_DEMO, 404)
    key, secret = s.demo
    reply = ok({"apiKey": key, "apiSecret": secret, "account": "demo"})
    reply.headers["Cache-Control"] = "no-store"
    return reply
