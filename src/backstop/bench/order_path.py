"""`backstop bench order-path`: the signed order path's CPU per order, in one process, against the
bare endpoint's per request.

`bench api` measures what a client meets over loopback: two server processes (the exchange, the
bare endpoint), uvicorn's HTTP parsing, the kernel's sockets, load from other processes. On a shared
2-core machine its rounds swing by half (0.45 to 0.8 in one run), more than most changes to the
order path move it. This bench keeps what differs between the two and drops what they share:

- the exchange's ASGI application as `backstop serve` builds it (`serve.build`: a manual clock and
  feed, no agents, the order rate limit off; `app.create_app`: the order gateway in front of the
  FastAPI application), started through the ASGI lifespan as uvicorn starts it (the sequencer, its
  journal thread, the history's writer), and the bare endpoint's (`bare_api.BareOrders`: FTX's HMAC
  check, a JSON parse, an order-shaped JSON reply), both called directly as uvicorn calls them, by
  `--clients` concurrent tasks on one event loop (uvloop when installed, as `backstop serve` runs);
- every client sends `bench api`'s order stream (`api.OrderFlow`: post-only BTC-PERP limits within
  1% of a $30,000 index, sides alternating) with its own API key, signed FTX's way before the chunk
  is timed, so the signing is the client's and not counted; to the exchange, a cancel-all
  (`DELETE /api/orders`) after every `api.WINDOW` orders and at the end of the chunk, counted in
  its CPU but not as orders;
- `--rounds` rounds of one chunk (`--orders` per client) to each, which goes first alternating,
  each charged the process's CPU time (`time.process_time`: every thread, the journal's fsyncs
  included; `bench/measure.py`'s rule).

It prints CPU microseconds per order and per bare request, and their ratio (bare / exchange: orders
per CPU-second over bare requests per CPU-second, as `bench api` divides), each round's and their
min / median / max. Without the HTTP server's and the kernel's share, which both pay alike, the
ratio is lower than `bench api`'s; it is the measure to compare two builds of the order path by.
Every order must be accepted and every bare request answered 200, or the bench stops.

`--side orders` (or `bare`) runs one endpoint alone, for counting its instructions: under
`valgrind --tool=callgrind`, the difference between an `--orders 120` and an `--orders 40` run
(one round each, after the untimed one: 7,680 and 2,560 orders at 32 clients) divided by the
5,120 orders between them, the signing of the requests (the driver's) included.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from backstop.bench.api import CANCEL_BODY, DEPOSIT_USD, INDEX_USD, WINDOW, OrderFlow, signing_ms
from backstop.bench.bare_api import BareOrders
from backstop.bench.engine import build_kind
from backstop.bench.measure import spread
from backstop.server.auth import sign_request
from backstop.server.runtime import tune_gc

App = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]
Request = tuple[dict[str, Any], bytes]
"""An ASGI HTTP scope and its body."""

ORDERS_PATH = "/api/orders"


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]], client: int) -> dict[str, Any]:
    """The scope uvicorn gives an application for a request on a keep-alive connection."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 40_000 + client),
        "server": ("127.0.0.1", 8000),
    }


def signed(method: str, path: str, body: bytes, key: str, secret: str, client: int) -> Request:
    """A request signed FTX's way now (FTX-KEY, FTX-TS, FTX-SIGN), from client number `client`."""
    ts = signing_ms(key)
    headers = [
        (b"ftx-key", key.encode()),
        (b"ftx-ts", ts.encode()),
        (b"ftx-sign", sign_request(secret, ts, method, path, body).encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return _scope(method, path, headers, client), body


async def call(app: App, request: Request) -> tuple[int, bytes]:
    """One request through `app`: (status, body)."""
    scope, body = request
    asked = False
    status = 0
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if asked:  # the response is complete before a second read: the client stays connected
            await asyncio.Event().wait()
        asked = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(out)


class Lifespan:
    """An application's ASGI lifespan, run as uvicorn runs it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _expect(self, kind: str) -> None:
        message = await self.outbox.get()
        if message["type"] != kind:
            raise RuntimeError(f"the application's lifespan answered {message}")

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = asyncio.ensure_future(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown.complete")
        if self.task is not None:
            await self.task


class Operator:
    """The operator API of the exchange's application, with its bearer token."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, path: str, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()
        headers = [
            (b"authorization", f"Bearer {self.token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ]
        status, reply = await call(self.app, (_scope("POST", path, headers, 0), raw))
        answer = json.loads(reply)
        if status != 200 or not answer.get("success"):
            raise RuntimeError(f"operator {path} refused: HTTP {status} {answer.get('error')}")
        return answer["result"]


def _chunk(
    keys: list[tuple[str, str]], flows: list[OrderFlow], orders: int, exchange: bool
) -> list[list[Request]]:
    """Each client's requests for one chunk, signed now: `orders` orders, and to the exchange a
    cancel-all after every WINDOW of them and one at the end."""
    out: list[list[Request]] = []
    for n, ((key, secret), flow) in enumerate(zip(keys, flows, strict=True)):
        requests: list[Request] = []
        for i in range(orders):
            if exchange and i and i % WINDOW == 0:
                requests.append(signed("DELETE", ORDERS_PATH, CANCEL_BODY, key, secret, n))
            requests.append(signed("POST", ORDERS_PATH, flow.next_body(), key, secret, n))
        if exchange:
            requests.append(signed("DELETE", ORDERS_PATH, CANCEL_BODY, key, secret, n))
        out.append(requests)
    return out


async def _client(app: App, requests: list[Request], failures: list[str]) -> None:
    for request in requests:
        status, reply = await call(app, request)
        if status != 200 or not reply.startswith(b'{"success":true'):
            failures.append(f"HTTP {status}: {reply[:120]!r}")


async def _timed(app: App, chunk: list[list[Request]]) -> float:
    """CPU seconds the process spent answering `chunk`, its clients concurrent."""
    failures: list[str] = []
    t0 = time.process_time()
    await asyncio.gather(*(_client(app, requests, failures) for requests in chunk))
    spent = time.process_time() - t0
    if failures:
        raise RuntimeError(f"{len(failures)} of the chunk's requests failed; the first: {failures[0]}")
    return spent


SIDES = {"both": ("orders", "bare"), "orders": ("orders",), "bare": ("bare",)}
"""`--side`: which endpoints are run (one alone, to count its instructions under callgrind)."""
FIGURE = {"orders": "order_cpu_us", "bare": "bare_cpu_us"}


async def _measure(
    data: Path, clients: int, orders: int, rounds: int, sides: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    from backstop.server.app import create_app
    from backstop.server.serve import build

    runtime, server, _ = build(data, "manual", "1", "manual", 0, agents=False, order_rate=0)
    exchange: App = create_app(server)  # type: ignore[assignment]
    life = Lifespan(exchange)
    await life.start()
    try:
        operator = Operator(exchange, server.operator_token)
        await operator("/operator/index_prices", {"prices": {"BTC": INDEX_USD, "ETH": 2_000}})
        await operator("/operator/clock/advance", {"seconds": 2})
        keys: list[tuple[str, str]] = []
        for i in range(clients):
            made = await operator("/operator/accounts", {"name": f"bench{i}"})
            await operator("/operator/deposits", {"account": f"bench{i}", "coin": "USD", "size": DEPOSIT_USD})
            keys.append((str(made["apiKey"]), str(made["apiSecret"])))
        bare: App = BareOrders(dict(keys))
        flows = {
            "orders": [OrderFlow(i, 1) for i in range(clients)],
            "bare": [OrderFlow(i, 1) for i in range(clients)],
        }
        apps = {"orders": exchange, "bare": bare}
        # one untimed round of each first: the code paths, caches and the history's tables warm
        for mode in sides:
            await _timed(apps[mode], _chunk(keys, flows[mode], orders, mode == "orders"))
        tune_gc()  # as the runtime did when it opened: what exists now is never scanned again
        results: list[dict[str, float]] = []
        for r in range(rounds):
            spent: dict[str, float] = {}
            for mode in sides if r % 2 == 0 else sides[::-1]:
                chunk = _chunk(keys, flows[mode], orders, mode == "orders")
                spent[mode] = await _timed(apps[mode], chunk)
            count = clients * orders
            row = {FIGURE[mode]: spent[mode] / count * 1e6 for mode in sides}
            if len(sides) == 2:
                row["ratio"] = row["bare_cpu_us"] / row["order_cpu_us"]
            results.append(row)
            say(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    finally:
        await life.stop()
        runtime.close()
    out: dict[str, Any] = {"rounds": results}
    for name in results[0]:
        out[name] = spread([r[name] for r in results], 3 if name == "ratio" else 1)
    return out


def _loop_runner() -> Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]]:
    try:
        import uvloop
    except ImportError:  # uvicorn's asyncio loop then, as `backstop serve` would run
        return asyncio.run
    return uvloop.run


def run(clients: int, orders: int, rounds: int, as_json: bool, side: str = "both") -> dict[str, Any]:
    say: Callable[[str], None] = (lambda _: None) if as_json else click.echo
    build = build_kind()
    runner = _loop_runner()
    sides = SIDES[side]
    say(
        f"order path in process ({build}, {'uvloop' if runner is not asyncio.run else 'asyncio'} loop):"
        f" {clients} clients, {orders} orders each a chunk, {rounds} rounds of: {' and '.join(sides)}"
    )
    with tempfile.TemporaryDirectory(prefix="backstop-bench-order-path-") as tmp:
        measured = runner(_measure(Path(tmp), clients, orders, rounds, sides, say))
    result = {"engine_build": build, "clients": clients, "orders": orders, "side": side, **measured}
    if as_json:
        click.echo(json.dumps(result))
        return result
    for name, label in (
        ("order_cpu_us", "order (exchange)   CPU us/order  "),
        ("bare_cpu_us", "bare endpoint      CPU us/request"),
        ("ratio", "bare / order                    "),
    ):
        if name in result:
            f = result[name]
            say(f"{label}  min {f['min']}   median {f['median']}   max {f['max']}")
    if "ratio" in result:  # every run has a round: the deviation is defined
        deviation = statistics.pstdev(r["ratio"] for r in result["rounds"])
        say(f"  spread of the ratio over rounds: {deviation:.3f} (standard deviation)")
    return result
