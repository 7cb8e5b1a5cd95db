"""The HTTP application: FTX's REST API under /api, the websocket at /ws and the operator API,
around one sequencer. Every handler is `async` and runs on the event loop, the same thread that
applies commands, so a read never races a batch (a plain `def` handler would run in a thread)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from backstop.engine import errors
from backstop.engine.exchange import Exchange
from backstop.projections import HistoryUnavailable, Projection
from backstop.projections.market import MarketData
from backstop.projections.sql import COMMIT_S, DEFER_S
from backstop.server import (
    api_docs,
    leveraged_tokens,
    operator,
    otc,
    private,
    public,
    staking,
    transparency,
    triggers,
    ui,
    volume_token,
    wallet,
    ws,
)
from backstop.server.clock import Clock
from backstop.server.envelope import NOT_FOUND, ApiError, FTXResponse, fail
from backstop.server.gateway import OrderGateway
from backstop.server.keys import KeyStore
from backstop.server.ratelimit import DEFAULT_PER_200MS, OrderRateLimit
from backstop.server.sequencer import Sequencer
from backstop.server.ws import Hub
from backstop.sim.agents import Agents


class ServerState:
    def __init__(
        self,
        sequencer: Sequencer,
        clock: Clock,
        keys: KeyStore,
        operator_token: str,
        projection: Projection,
        auth_window_ms: int = 30_000,
        order_rate: int = DEFAULT_PER_200MS,
        market_data: MarketData | None = None,
    ) -> None:
        self.rate_limit = OrderRateLimit(order_rate)
        self.sequencer = sequencer
        self.projection = projection  # the SQL history: orders, fills, funding, liquidations...
        self.clock = clock
        self.keys = keys
        self.operator_token = operator_token
        self.auth_window_ms = auth_window_ms
        self.market_data = market_data or MarketData(sequencer.exchange)
        self.trigger_fills = triggers.TriggerFills(sequencer.exchange)
        self.agents: Agents | None = None  # the simulated market's participants (serve --agents)
        self.demo: tuple[str, str] | None = None  # the demo key and secret, for ui.py (loopback only)
        self.hub = Hub(self)
        runtime = sequencer.runtime
        sequencer.listeners.append(self.market_data.on_batch)  # first: the history saves its candles
        sequencer.listeners.append(self.trigger_fills.on_batch)
        history = projection.listener(
            lambda: runtime.seq,
            runtime.directory,
            lambda: runtime.exchange,
            self.market_data,
            defer_s=DEFER_S,  # one history write per burst of batches; reads write first
            commit_s=COMMIT_S,  # and one commit per few writes (SQLite)
        )
        sequencer.listeners.append(history)
        sequencer.listeners.append(self.hub.on_batch)  # last: it reads the projections above

    @property
    def exchange(self) -> Exchange:
        return self.sequencer.exchange

    def now_s(self) -> int:
        return self.clock.now_us() // 1_000_000


def create_app(server: ServerState, on_start: Callable[[], Awaitable[None]] | None = None) -> OrderGateway:
    """The application behind the order gateway (which answers POST /api/orders itself)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.sequencer.start()
        server.clock.start()
        if on_start is not None:
            await on_start()
        if server.agents is not None:
            server.agents.start()
        try:
            yield
        finally:
            if server.agents is not None:
                await server.agents.stop()
            await server.clock.stop()
            await server.sequencer.stop()
            server.keys.close()
            server.projection.close()

    app = FastAPI(
        title="Backstop",
        version=version("backstop"),
        description=api_docs.DESCRIPTION,
        lifespan=lifespan,
        default_response_class=FTXResponse,
        docs_url=None,  # served below from the package's own copies, not a CDN
        redoc_url=None,
    )
    app.state.server = server
    # the order routes next: Starlette tries routes in order, and placing orders is the hot path
    app.include_router(private.router)
    app.include_router(triggers.router)
    app.include_router(wallet.router)
    app.include_router(leveraged_tokens.router)
    app.include_router(leveraged_tokens.public_router)
    app.include_router(otc.router)
    app.include_router(otc.operator_router)
    app.include_router(staking.router)
    app.include_router(staking.public_router)
    app.include_router(volume_token.router)
    app.include_router(volume_token.public_router)
    app.include_router(volume_token.operator_router)
    app.include_router(public.router)
    app.include_router(transparency.router)
    app.include_router(operator.router)
    app.include_router(ws.router)
    app.include_router(ui.router)
    sections: list[api_docs.Section] = [
        ("Orders and account", private.router, "ftx"),
        ("Trigger orders", triggers.router, "ftx"),
        ("Subaccounts and wallet", wallet.router, "ftx"),
        ("Leveraged tokens", leveraged_tokens.router, "ftx"),
        ("Leveraged tokens, public", leveraged_tokens.public_router, None),
        ("OTC desk (convert)", otc.router, "ftx"),
        ("OTC desk, operator", otc.operator_router, "operator"),
        ("FTT staking", staking.router, "ftx"),
        ("FTT burns and shared gains, public", staking.public_router, None),
        ("Volume token", volume_token.router, "ftx"),
        ("Volume token, public", volume_token.public_router, None),
        ("Volume token, operator", volume_token.operator_router, "operator"),
        ("Markets", public.router, None),
        ("Transparency", transparency.router, None),
        ("Operator", operator.router, "operator"),
    ]
    app.openapi = lambda: api_docs.openapi(app, sections)  # type: ignore[method-assign]
    _documentation(app)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> FTXResponse:
        return fail(exc.error, exc.status)

    @app.exception_handler(HistoryUnavailable)
    async def history_unavailable(request: Request, exc: HistoryUnavailable) -> FTXResponse:
        return fail(errors.HISTORY_UNAVAILABLE)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> FTXResponse:
        if exc.status_code == 404:
            return fail(NOT_FOUND, 404)
        if exc.status_code == 405:
            return fail("Method Not Allowed: The method is not allowed for the requested URL.", 405)
        return fail(str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> FTXResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = first.get("loc", ())
        return fail(f"Invalid parameter {location[-1] if location else 'request'}", 400)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> FTXResponse:
        return fail(errors.INTERNAL_ERROR, 500)  # never a stack trace to a client

    return OrderGateway(app, server)


STATIC = "/static"


def _documentation(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) from the copies vendored in the package
    (static/README.md), so they render without internet access."""
    app.mount(STATIC, StaticFiles(directory=str(resources.files(__package__) / "static")), name="static")
    title = f"{app.title}: FTX's API"
    icon = f"{STATIC}/swagger-ui/favicon-32x32.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            swagger_js_url=f"{STATIC}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=icon,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=f"{STATIC}/redoc/redoc.standalone.js",
            redoc_favicon_url=icon,
            with_google_fonts=False,
        )
