"""`backstop bench api`: the API over loopback against one real server process.

The server is `backstop serve` as a user starts it (manual clock and feed, no agents, the order rate
limit off where the build has one) on a free port with a fresh data directory; the operator API
creates the accounts, their API keys and deposits, and sets the index (BTC $30,000). Load comes
from separate processes (`--workers`) over raw keep-alive HTTP/1.1 connections, so the client side
costs as little as possible; every figure is the server's. With two CPUs or more, the servers
(the exchange's, the bare endpoint's: one of them is loaded at a time) run pinned to one CPU and
the load processes (and this one) to the others (`cpu_split`, `pin`): sharing the measured
server's core and cache with the load made the rounds' ratios swing most.

Orders: `--clients` concurrent clients, each with its own account and API key, sign every request
FTX's way and place post-only BTC-PERP limit orders of 0.001 BTC within 1% of the index (bids below,
asks above: nothing trades), alternating sides; once a client has WINDOW orders resting it cancels
them all with one `DELETE /api/orders` (timed apart), and all of them at the end of each chunk.
`orders_per_s` = orders accepted (HTTP 200, success) per second; latency is per request, from
writing it to having read the whole reply.

Baseline: the same clients, from the same processes, sending the same signed order requests to a
bare raw-ASGI endpoint (`bare_api.py`: FTX's HMAC check, a JSON parse, an order-shaped JSON reply)
in its own process on the same uvicorn. The figure compared is requests answered per CPU-second
of the answering process (the exchange's server or the bare one, read from /proc), because the
machine is shared and its wall clock is not: `--repeats` rounds, each one chunk of `--seconds` to
the exchange and one to the baseline (which goes first alternates), each round giving the ratio
orders per server CPU-second / baseline requests per CPU-second; min, median and max are printed.
The cancel-alls' cost is in the exchange's CPU, not in its count.

Fan-out: `--subscribers` websocket clients subscribed to BTC-PERP's orderbook (the websockets
library's protocol, no compression, as ccxt connects); then, `--events` times, one signed REST
order adds 0.001 BTC at one bid price, so the level's size names the event. For every subscriber
and event: delay from the frame's `data.time` (the server's clock when it built the frame, right
after the engine applied the batch and the projections took it) to the moment the frame's bytes
reached the subscriber's process (`fanout_*`), and from the REST request's send (`fanout_e2e_*`);
same machine, same clock. Baseline: the same with one subscriber.

Also printed: the server's journal group commit during the order chunks (fsyncs per second and
commands per fsync, read from the journal's batch headers), CPU used by the server and by the
load generator (a saturated load generator would make the figures its own), and snapshots taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import click
import msgpack  # type: ignore[import-untyped]
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from backstop.bench.engine import build_kind
from backstop.journal.log import FILE_NAME, HEADER
from backstop.server.auth import sign_request

MARKET = "BTC-PERP"
INDEX_USD = 30_000
SIZE = "0.001"  # BTC-PERP's minProvideSize: no small-order allowance is used up
SPREAD = 10  # dollars between the index and the nearest order
DEPTH = 200  # prices spread over this many dollars beyond SPREAD (well inside 1% of the index)
WINDOW = 50  # resting orders per client before it cancels them all
DEPOSIT_USD = 1_000_000
FANOUT_PRICE = INDEX_USD - 250  # the bid level the fan-out events grow (below every order phase bid)
FANOUT_LOTS = 10  # the event's size in sizeIncrement (0.0001): 0.001 BTC
FANOUT_GAP_S = 0.1  # pause after each event's REST reply
BASELINE_EVENTS = 20
ORDER_TARGET_PER_S = 4_000
ORDER_TARGET_P99_MS = 20.0
FANOUT_TARGET_P99_MS = 50.0
TOKEN = "bench-api-operator-token"
RATIO_TARGET = 0.6  # orders per server CPU-second against the bare endpoint's (issue 17)
BARE_ENDPOINT = "bare raw-ASGI POST: FTX's HMAC check, a JSON parse, an order-shaped JSON reply (bare_api.py)"
STARTUP_S = 60.0
CONNECT_CHUNK = 100  # websocket handshakes in flight at once


def _note(message: str) -> None:
    click.echo(message, err=True)


def _percentile(samples: Sequence[float], q: float) -> float:
    """samples sorted; the q-quantile as engine.py takes it (p50 = middle, p99 = 99th of 100)."""
    if not samples:
        return 0.0
    n = len(samples)
    return samples[min(n - 1, int(n * q))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by process `pid` and all its threads (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- a minimal HTTP client


_LAST_MS: dict[str, int] = {}  # API key -> the millisecond its last request was signed in


def signing_ms(key: str) -> str:
    """FTX-TS for a request signed with `key` now: the current millisecond, or one past the key's
    last if that is not earlier. The same request signed twice in one millisecond would carry one
    signature twice, which the server refuses as replayed; a client sends far fewer than a
    thousand requests a second per key, so this stays on the clock."""
    ms = max(time.time_ns() // 1_000_000, _LAST_MS.get(key, 0) + 1)
    _LAST_MS[key] = ms
    return str(ms)


class Http:
    """One keep-alive HTTP/1.1 connection doing as little work per request as a client can."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> Http:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    def head(self, method: str, target: str, body: bytes, key: str = "", secret: str = "") -> bytes:
        """The request line and headers; signed FTX's way (FTX-KEY, FTX-TS, FTX-SIGN) given a key."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        if key:
            ts = signing_ms(key)
            sign = sign_request(secret, ts, method, target, body)
            lines += [f"FTX-KEY: {key}", f"FTX-TS: {ts}", f"FTX-SIGN: {sign}"]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; (status, body) of the reply."""
        self.writer.write(head + body)
        reader = self.reader
        raw = await reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        chunked = False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await reader.readexactly(length)
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _succeeded(status: int, body: bytes) -> tuple[bool, str]:
    """Whether an FTX reply is a success, and else its error text."""
    if status == 200 and body.startswith(b'{"success":true'):
        return True, ""
    try:
        error = str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        error = body[:80].decode(errors="replace")
    return False, f"HTTP {status}: {error}"


def _order_body(side: str, price: int, size: str = SIZE) -> bytes:
    return (
        f'{{"market":"{MARKET}","side":"{side}","price":{price},"type":"limit","size":{size},'
        f'"postOnly":true}}'
    ).encode()


CANCEL_BODY = f'{{"market":"{MARKET}"}}'.encode()


# ----------------------------------------------------------------------------- worker processes


@dataclass
class RestJob:
    host: str
    ports: dict[str, int]  # phase ("orders", "bare") -> the port its requests go to
    keys: list[tuple[str, str]]  # (key, secret) per client
    seed: int


@dataclass
class Chunk:
    """One timed stretch of one phase: every client of every worker from `start` (wall clock)
    for `seconds`."""

    mode: str  # "orders": the exchange; "bare": the baseline endpoint
    start: float
    seconds: float


@dataclass
class RestResult:
    ok: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cancels: int = 0
    cancel_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0


async def _ready_then_wait(pipe: Connection) -> float:
    """Tell the parent this process is connected; the value it answers with (a start time)."""
    pipe.send("ready")
    start: float = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    return start


class OrderFlow:
    """One client's orders: post-only BTC-PERP limits within 1% of the index, sides alternating,
    prices drawn from its own seeded generator (the same stream whichever endpoint takes them)."""

    def __init__(self, index: int, seed: int) -> None:
        self.rng = random.Random(seed * 1_000 + index)
        self.buy = index % 2 == 0

    def next_body(self) -> bytes:
        offset = SPREAD + self.rng.randrange(DEPTH)
        side, price = ("buy", INDEX_USD - offset) if self.buy else ("sell", INDEX_USD + offset)
        self.buy = not self.buy
        return _order_body(side, price)


async def _rest_client(
    http: Http, key: str, secret: str, flow: OrderFlow, chunk: Chunk, result: RestResult
) -> None:
    """Signed orders until the chunk ends. To the exchange (`orders`), once WINDOW orders rest the
    client cancels them all with one `DELETE /api/orders` (timed apart), and all at the end; the
    baseline endpoint (`bare`) only answers, so nothing rests there."""
    end = chunk.start + chunk.seconds
    exchange = chunk.mode == "orders"
    clock = time.perf_counter
    wall = time.time
    latencies = result.latencies_ms
    resting = 0
    while wall() < end:
        if resting >= WINDOW:
            t0 = clock()
            status, body = await http.request(
                http.head("DELETE", "/api/orders", CANCEL_BODY, key, secret), CANCEL_BODY
            )
            result.cancel_ms.append((clock() - t0) * 1000)
            result.cancels += 1
            resting = 0
            if status != 200:
                result.failures[_succeeded(status, body)[1]] += 1
            continue
        body = flow.next_body()
        t0 = clock()
        status, reply = await http.request(http.head("POST", "/api/orders", body, key, secret), body)
        t1 = clock()
        if wall() > end:
            break  # finished after the window: not counted
        done, error = _succeeded(status, reply)
        if done:
            result.ok += 1
            resting += exchange
            latencies.append((t1 - t0) * 1000)
        else:
            result.failures[error] += 1
    if exchange:
        await http.request(http.head("DELETE", "/api/orders", CANCEL_BODY, key, secret), CANCEL_BODY)


async def _rest_worker(job: RestJob, pipe: Connection) -> None:
    """Say ready, then run each chunk the parent sends (None: stop) and answer with its RestResult.
    Each chunk has its own connections, opened before it starts and closed after it ends (an
    endpoint left idle for a chunk would have timed its keep-alive connections out)."""
    flows = [OrderFlow(i, job.seed) for i in range(len(job.keys))]
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    while True:
        chunk: Chunk | None = await loop.run_in_executor(None, pipe.recv)
        if chunk is None:
            break
        port = job.ports[chunk.mode]
        https = [await Http.open(job.host, port) for _ in job.keys]
        await asyncio.sleep(max(0.0, chunk.start - time.time()))
        result = RestResult()
        cpu = time.process_time()
        await asyncio.gather(
            *(
                _rest_client(https[i], key, secret, flows[i], chunk, result)
                for i, (key, secret) in enumerate(job.keys)
            )
        )
        result.cpu_s = time.process_time() - cpu
        result.wall_s = time.time() - chunk.start
        for http in https:
            await http.close()
        pipe.send(result)


def rest_worker_main(job: RestJob, pipe: Connection) -> None:
    """A load generator process for the REST phases (spawned; see `Workers`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers itself
    try:
        asyncio.run(_rest_worker(job, pipe))
    except Exception as exc:
        pipe.send(exc)


@dataclass
class FanoutJob:
    uri: str
    subscribers: int


@dataclass
class FanoutResult:
    # (level size in lots, receive time, frame time) per orderbook update of FANOUT_PRICE
    deliveries: list[tuple[int, float, float]] = field(default_factory=list)
    connected: int = 0
    disconnected: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    cpu_s: float = 0.0


class Subscriber(asyncio.Protocol):
    """One websocket subscriber: the websockets library's sans-I/O protocol on a bare asyncio
    transport. Until it is subscribed (the ack and the partial are in) it parses as it goes; from
    then on it only stamps each chunk of bytes with the time it reached this process and keeps it,
    and the frames are parsed after the run, each stamped with the chunk that completed it."""

    def __init__(self, uri: str, ready: asyncio.Future[None]) -> None:
        self.protocol = ClientProtocol(parse_uri(uri), max_size=None)
        self.ready = ready
        self.texts = 0
        self.chunks: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.ready.done():
            self.chunks.append((time.time(), data))  # the run: as little work as possible
            return
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.texts += 1
                    if self.texts >= 2 and not self.ready.done():
                        self.ready.set_result(None)  # "subscribed" and the partial are in
            elif protocol.handshake_exc is not None:
                if not self.ready.done():
                    self.ready.set_exception(protocol.handshake_exc)
            else:
                subscribe = {"op": "subscribe", "channel": "orderbook", "market": MARKET}
                protocol.send_text(json.dumps(subscribe).encode())
        self._flush()

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before subscribing"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def frames(self) -> list[tuple[float, bytes]]:
        """(receive time, text) of every frame received during the run."""
        out = []
        protocol = self.protocol
        for received, data in self.chunks:
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    out.append((received, bytes(event.data)))
        return out


def _deliveries(subscriber: Subscriber, result: FanoutResult) -> None:
    for received, raw in subscriber.frames():
        frame = json.loads(raw)
        if frame.get("type") != "update" or frame.get("channel") != "orderbook":
            continue
        data = frame["data"]
        for price, size in data["bids"]:
            if price == FANOUT_PRICE and size > 0:
                lots = round(size * 10_000)
                result.deliveries.append((lots, received, float(data["time"])))


async def _fanout_worker(job: FanoutJob, pipe: Connection) -> FanoutResult:
    loop = asyncio.get_running_loop()
    uri = parse_uri(job.uri)
    result = FanoutResult()
    subscribers: list[Subscriber] = []
    for first in range(0, job.subscribers, CONNECT_CHUNK):
        batch = []
        for _ in range(first, min(job.subscribers, first + CONNECT_CHUNK)):
            ready: asyncio.Future[None] = loop.create_future()
            _, sub = await loop.create_connection(partial(Subscriber, job.uri, ready), uri.host, uri.port)
            batch.append(sub)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(s.ready for s in batch), return_exceptions=True), STARTUP_S
        )
        for sub, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                result.failures[f"connect: {outcome!r}"] += 1
            else:
                subscribers.append(sub)
    result.connected = len(subscribers)
    cpu = time.process_time()
    await _ready_then_wait(pipe)  # the parent runs the events, then says stop
    result.cpu_s = time.process_time() - cpu
    result.disconnected = sum(1 for s in subscribers if s.lost)
    for sub in subscribers:
        sub.close()
    for sub in subscribers:
        _deliveries(sub, result)
    return result


def fanout_worker_main(job: FanoutJob, pipe: Connection) -> None:
    """A process of websocket subscribers (spawned; see `_run_workers`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pipe.send(asyncio.run(_fanout_worker(job, pipe)))
    except Exception as exc:
        pipe.send(exc)


class Workers:
    """Spawned load processes: each says "ready" once connected, then is sent a value (a start
    time, or a stop) and answers with its result."""

    def __init__(self, target: Callable[[Any, Connection], None], jobs: Sequence[Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for job in jobs:
            parent, child = ctx.Pipe()
            process = ctx.Process(target=target, args=(job, child), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def _receive(self, pipe: Connection, timeout: float) -> Any:
        try:
            if not pipe.poll(timeout):
                raise RuntimeError("a load generator process did not answer in time")
            message = pipe.recv()
        except EOFError:
            raise RuntimeError("a load generator process died") from None
        if isinstance(message, Exception):
            raise RuntimeError(f"a load generator process failed: {message!r}") from message
        return message

    def wait_ready(self) -> None:
        for pipe in self.pipes:
            self._receive(pipe, STARTUP_S)

    def send(self, value: Any) -> None:
        for pipe in self.pipes:
            pipe.send(value)

    def results(self, timeout: float) -> list[Any]:
        return [self._receive(pipe, timeout) for pipe in self.pipes]

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in self.pipes:
            pipe.close()


def _split(count: int, parts: int) -> list[int]:
    parts = max(1, min(parts, count))
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


# ----------------------------------------------------------------------------- the server


MANUAL = ("--clock", "manual", "--feed", "manual", "--no-agents")
"""How the API benchmarks run `backstop serve`: a manual clock and feed, no agents."""


class Server:
    """`backstop serve` in its own process, with this interpreter (so the same build): by default
    with a manual clock and feed and no agents (`serve_args`; () runs it as a user would, with the
    wall clock, the replayed feed and the agents), the order rate limit off where the build has one."""

    def __init__(self, data: Path, serve_args: Sequence[str] = MANUAL) -> None:
        self.data = data
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "backstop",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(data / "exchange"),
            *serve_args,
        ]
        self.rate_limit = _has_order_rate_option()
        if self.rate_limit:
            command += ["--order-rate", "0"]
        self.log = open(data / "server.log", "w")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN)
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + STARTUP_S
        while True:
            try:
                urllib.request.urlopen(self.base + "/api/markets", timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"the server did not start: {self.log_tail()}") from None
                time.sleep(0.2)

    def log_tail(self) -> str:
        return (self.data / "server.log").read_text()[-2000:]

    def operator(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read())
        if not answer.get("success"):
            raise RuntimeError(f"operator {path} refused: {answer.get('error')}")
        return answer["result"]

    def account(self, name: str) -> tuple[str, str]:
        """A funded account and its API key: (key, secret)."""
        keys = self.operator("/operator/accounts", {"name": name})
        self.operator("/operator/deposits", {"account": name, "coin": "USD", "size": DEPOSIT_USD})
        return str(keys["apiKey"]), str(keys["apiSecret"])

    def cpu_s(self) -> float | None:
        return _process_cpu_s(self.process.pid)

    def journal(self) -> list[int]:
        """Commands per batch (one fsync each) of every whole batch in the journal so far, read
        from the batch headers (a batch's size: the next one's first seq minus its own)."""
        data = (self.data / "exchange" / FILE_NAME).read_bytes()
        firsts: list[int] = []
        offset = 0
        last = b""
        while offset + HEADER.size <= len(data):
            length, _, first = HEADER.unpack_from(data, offset)
            start = offset + HEADER.size
            if start + length > len(data):
                break  # being written
            firsts.append(first)
            last = data[start : start + length]
            offset = start + length
        sizes = [b - a for a, b in itertools.pairwise(firsts)]
        if firsts:
            sizes.append(len(msgpack.unpackb(last, use_list=False)))
        return sizes

    def snapshots(self) -> set[str]:
        return {p.name for p in (self.data / "exchange").glob("snapshot-*.pkl")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Bare:
    """The baseline endpoint (`bench/bare_api.py`) in its own process, with this interpreter, on
    uvicorn configured as `backstop serve` is; it knows the clients' keys and secrets."""

    def __init__(self, data: Path, keys: Sequence[tuple[str, str]]) -> None:
        self.port = _free_port()
        keys_file = data / "bare-keys.json"
        keys_file.write_text(json.dumps(dict(keys)))
        self.log = open(data / "bare.log", "w")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "backstop.bench.bare_api", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--keys", str(keys_file)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + STARTUP_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the baseline endpoint did not start: {(data / 'bare.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _has_order_rate_option() -> bool:
    """Whether `backstop serve` has an order rate limit to turn off (`--order-rate 0`)."""
    from backstop.cli import serve

    return any(p.name == "order_rate" for p in serve.params)


def _server_kind() -> dict[str, str]:
    """What uvicorn runs on here (it picks httptools and uvloop when they are installed)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {"http": http, "loop": loop, "websocket": "websockets (sans-I/O)"}


# ----------------------------------------------------------------------------- the phases


def _chunk(
    pool: Workers, mode: str, pid: int, seconds: float, server: Server | None = None
) -> dict[str, Any]:
    """Run one chunk of `mode` on every worker; what it did, with the CPU seconds the answering
    process (`pid`) used meanwhile, and for the exchange (`server`) its journal batches."""
    journal_before = len(server.journal()) if server is not None else 0
    start = time.time() + 0.2
    pool.send(Chunk(mode, start, seconds))
    time.sleep(max(0.0, start - time.time()))
    cpu_before = _process_cpu_s(pid)
    time.sleep(max(0.0, start + seconds - time.time()))
    cpu_after = _process_cpu_s(pid)
    results: list[RestResult] = pool.results(seconds + STARTUP_S)
    if cpu_before is None or cpu_after is None:
        raise RuntimeError("the server's CPU time cannot be read (/proc)")
    failures: Counter[str] = Counter()
    for r in results:
        failures.update(r.failures)
    return {
        "ok": sum(r.ok for r in results),
        "cpu_s": cpu_after - cpu_before,
        "load_cpu_s": sum(r.cpu_s for r in results),
        "latencies": [x for r in results for x in r.latencies_ms],
        "cancels": [x for r in results for x in r.cancel_ms],
        "failures": failures,
        "batches": server.journal()[journal_before:] if server is not None else [],
    }


def _rest_phases(
    server: Server, bare: Bare, keys: list[tuple[str, str]], seconds: float, repeats: int, workers: int
) -> dict[str, Any]:
    """`repeats` rounds of one chunk of signed orders to the exchange and one to the baseline
    endpoint (in turn first, so drift falls on both), from the same load processes; each round's
    orders per server CPU-second, the baseline's, and their ratio."""
    jobs = []
    first = 0
    ports = {"orders": server.port, "bare": bare.port}
    for count in _split(len(keys), workers):
        jobs.append(RestJob("127.0.0.1", ports, keys[first : first + count], first + 1))
        first += count
    pool = Workers(rest_worker_main, jobs)
    split = cpu_split()
    if split is not None:  # the server alone on its core: the load's processes neither share its
        # core nor its cache, the largest source of the rounds' spread on a 2-core machine
        for pid in (server.process.pid, bare.process.pid):
            pin(pid, split[0])
        for process in pool.processes:
            if process.pid is not None:
                pin(process.pid, split[1])
        pin(os.getpid(), split[1])
    snapshots_before = server.snapshots()
    rounds: list[dict[str, Any]] = []
    chunks: dict[str, list[dict[str, Any]]] = {"orders": [], "bare": []}
    try:
        pool.wait_ready()
        for r in range(repeats):
            done: dict[str, dict[str, Any]] = {}
            for mode in ("orders", "bare") if r % 2 == 0 else ("bare", "orders"):
                if mode == "orders":
                    done[mode] = _chunk(pool, mode, server.process.pid, seconds, server)
                else:
                    done[mode] = _chunk(pool, mode, bare.process.pid, seconds)
                chunks[mode].append(done[mode])
            per_cpu = {m: c["ok"] / c["cpu_s"] if c["cpu_s"] > 0 else 0.0 for m, c in done.items()}
            rounds.append(
                {
                    "orders_per_cpu_s": round(per_cpu["orders"]),
                    "bare_per_cpu_s": round(per_cpu["bare"]),
                    "ratio": round(per_cpu["orders"] / per_cpu["bare"], 3) if per_cpu["bare"] else 0.0,
                    "orders_per_s": round(done["orders"]["ok"] / seconds),
                    "bare_per_s": round(done["bare"]["ok"] / seconds),
                }
            )
            _note(
                f"  round {r + 1}/{repeats}: orders {rounds[-1]['orders_per_cpu_s']:,}/cpu-s, bare "
                f"{rounds[-1]['bare_per_cpu_s']:,}/cpu-s, ratio {rounds[-1]['ratio']}"
            )
        pool.send(None)
    finally:
        pool.close()
    total = seconds * repeats

    def phase(mode: str) -> dict[str, Any]:
        done = chunks[mode]
        latencies = sorted(x for c in done for x in c["latencies"])
        failures: Counter[str] = Counter()
        for c in done:
            failures.update(c["failures"])
        ok = sum(c["ok"] for c in done)
        return {
            "ok": ok,
            "per_s": round(ok / total),
            "p50_ms": round(_percentile(latencies, 0.5), 3),
            "p99_ms": round(_percentile(latencies, 0.99), 3),
            "max_ms": round(latencies[-1], 3) if latencies else 0.0,
            "failures": dict(failures),
            "server_cpu_percent": round(100 * sum(c["cpu_s"] for c in done) / total, 1),
            "load_cpu_percent": round(100 * sum(c["load_cpu_s"] for c in done) / total, 1),
        }

    orders = phase("orders")
    cancels = sorted(x for c in chunks["orders"] for x in c["cancels"])
    orders["cancel_alls"] = len(cancels)
    orders["cancel_p50_ms"] = round(_percentile(cancels, 0.5), 3)
    orders["cancel_p99_ms"] = round(_percentile(cancels, 0.99), 3)
    orders["snapshots"] = len(server.snapshots() - snapshots_before)
    sizes = sorted(b for c in chunks["orders"] for b in c["batches"] if b > 0)
    orders["journal"] = {
        "fsyncs_per_s": round(len(sizes) / total),
        "commands_per_fsync": round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
        "batch_p50": int(_percentile(sizes, 0.5)),
        "batch_p99": int(_percentile(sizes, 0.99)),
        "batch_max": sizes[-1] if sizes else 0,
    }
    return {"orders": orders, "bare": phase("bare"), "rounds": rounds}


async def _events(server: Server, key: str, secret: str, events: int) -> dict[int, float]:
    """Grow the FANOUT_PRICE bid by 0.001 BTC `events` times, one at a time; the send time of each
    event by the level's size in lots after it. Then cancel them all."""
    http = await Http.open("127.0.0.1", server.port)
    sent: dict[int, float] = {}
    try:
        size = f"{FANOUT_LOTS / 10_000:.4f}"
        for k in range(1, events + 1):
            body = _order_body("buy", FANOUT_PRICE, size)
            head = http.head("POST", "/api/orders", body, key, secret)
            t0 = time.time()
            status, reply = await http.request(head, body)
            done, error = _succeeded(status, reply)
            if not done:
                raise RuntimeError(f"a fan-out event's order was refused: {error}")
            sent[k * FANOUT_LOTS] = t0
            await asyncio.sleep(FANOUT_GAP_S)
        await asyncio.sleep(1.0)  # stragglers
        await http.request(http.head("DELETE", "/api/orders", CANCEL_BODY, key, secret), CANCEL_BODY)
    finally:
        await http.close()
    return sent


def _fanout_phase(
    server: Server, key: str, secret: str, subscribers: int, events: int, workers: int
) -> dict[str, Any]:
    uri = f"ws://127.0.0.1:{server.port}/ws"
    pool = Workers(fanout_worker_main, [FanoutJob(uri, n) for n in _split(subscribers, workers)])
    try:
        pool.wait_ready()
        cpu_before = server.cpu_s()
        started = time.time()
        sent = asyncio.run(_events(server, key, secret, events))
        elapsed = time.time() - started
        cpu_after = server.cpu_s()
        pool.send(0.0)
        results: list[FanoutResult] = pool.results(STARTUP_S)
    finally:
        pool.close()
    connected = sum(r.connected for r in results)
    failures: Counter[str] = Counter()
    for r in results:
        failures.update(r.failures)
    built: list[float] = []
    e2e: list[float] = []
    for r in results:
        for lots, received, frame_time in r.deliveries:
            if lots in sent:
                built.append((received - frame_time) * 1000)
                e2e.append((received - sent[lots]) * 1000)
    built.sort()
    e2e.sort()
    server_cpu = (
        None
        if cpu_before is None or cpu_after is None
        else round(100 * (cpu_after - cpu_before) / elapsed, 1)
    )
    return {
        "subscribers": subscribers,
        "connected": connected,
        "events": events,
        "delivered": len(built),
        "expected": connected * events,
        "p50_ms": round(_percentile(built, 0.5), 3),
        "p99_ms": round(_percentile(built, 0.99), 3),
        "max_ms": round(built[-1], 3) if built else 0.0,
        "e2e_p50_ms": round(_percentile(e2e, 0.5), 3),
        "e2e_p99_ms": round(_percentile(e2e, 0.99), 3),
        "disconnected": sum(r.disconnected for r in results),
        "failures": dict(failures),
        "server_cpu_percent": server_cpu,
        "load_cpu_percent": round(100 * sum(r.cpu_s for r in results) / elapsed, 1),
    }


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(the servers' CPU, the load's CPUs) when this process may use two or more: one CPU for the
    server being measured and the rest for everything else, or None (nothing pinned)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None
    return {usable[0]}, set(usable[1:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` on `cpus` (threads it starts later inherit it); a process
    gone meanwhile is left alone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = [str(pid)]
    for task in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task), cpus)


def default_workers() -> int:
    """Load generator processes: one per CPU the server does not need, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1]}


def run(
    seconds: float,
    clients: int,
    subscribers: int,
    events: int,
    workers: int,
    as_json: bool,
    repeats: int = 5,
    fanout: bool = True,
) -> dict[str, Any]:
    build = build_kind()
    kind = _server_kind()
    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="backstop-bench-api-") as tmp:
        _note(f"starting the server ({build}, {kind['http']}, {kind['loop']})")
        server = Server(Path(tmp))
        bare: Bare | None = None
        try:
            server.operator("/operator/index_prices", {"prices": {"BTC": INDEX_USD, "ETH": 2_000}})
            server.operator("/operator/clock/advance", {"seconds": 2})
            keys = [server.account(f"bench{i}") for i in range(clients)]
            trigger_key, trigger_secret = server.account("fanout")
            bare = Bare(Path(tmp), keys)
            _note(
                f"orders: {clients} clients, signed POST /api/orders to the exchange and to the bare "
                f"endpoint in turn, {repeats} x {seconds:g} s each"
            )
            rest = _rest_phases(server, bare, keys, seconds, repeats, workers)
            bare.stop()
            bare = None
            single = out = None
            if fanout:
                _note("fan-out baseline: 1 subscriber")
                first = min(events, BASELINE_EVENTS)
                single = _fanout_phase(server, trigger_key, trigger_secret, 1, first, 1)
                _note(f"fan-out: {subscribers} subscribers, {events} book changes")
                out = _fanout_phase(server, trigger_key, trigger_secret, subscribers, events, workers)
        except BaseException:
            if bare is not None:
                bare.stop()
            code = server.process.poll()  # before stopping it: did it die under the benchmark?
            server.stop()
            if code is not None:
                how = f"by signal {-code}, from outside" if code < 0 else f"with exit code {code}"
                _note(f"the server stopped during the run ({how}); its output:\n{server.log_tail()}")
            raise
        server.stop()
    orders, base, rounds = rest["orders"], rest["bare"], rest["rounds"]
    ratios = [r["ratio"] for r in rounds]
    result: dict[str, Any] = {
        "engine_build": build,
        "server": {**kind, "processes": 1, "order_rate_limit": "off" if server.rate_limit else "none"},
        "seconds": seconds,
        "repeats": repeats,
        "clients": clients,
        "load_processes": workers,
        "orders_per_s": orders["per_s"],
        "orders_accepted": orders["ok"],
        "order_p50_ms": orders["p50_ms"],
        "order_p99_ms": orders["p99_ms"],
        "order_max_ms": orders["max_ms"],
        "order_failures": orders["failures"],
        "cancel_alls": orders["cancel_alls"],
        "cancel_all_p50_ms": orders["cancel_p50_ms"],
        "cancel_all_p99_ms": orders["cancel_p99_ms"],
        "journal": orders["journal"],
        "snapshots_during_orders": orders["snapshots"],
        "orders_server_cpu_percent": orders["server_cpu_percent"],
        "orders_load_cpu_percent": orders["load_cpu_percent"],
        "baseline_endpoint": BARE_ENDPOINT,
        "baseline_per_s": base["per_s"],
        "baseline_p50_ms": base["p50_ms"],
        "baseline_p99_ms": base["p99_ms"],
        "baseline_failures": base["failures"],
        "baseline_server_cpu_percent": base["server_cpu_percent"],
        "baseline_load_cpu_percent": base["load_cpu_percent"],
        "rounds": rounds,
        "orders_per_cpu_s": _spread([r["orders_per_cpu_s"] for r in rounds]),
        "baseline_per_cpu_s": _spread([r["bare_per_cpu_s"] for r in rounds]),
        "orders_vs_baseline": _spread(ratios),
        "meets_ratio_target": statistics.median(ratios) >= RATIO_TARGET,
        "meets_order_target": orders["per_s"] >= ORDER_TARGET_PER_S
        and orders["p99_ms"] < ORDER_TARGET_P99_MS,
        "subscribers": subscribers if out is not None else 0,
        "fanout_events": events if out is not None else 0,
    }
    if out is not None and single is not None:
        result |= {
            "fanout_p50_ms": out["p50_ms"],
            "fanout_p99_ms": out["p99_ms"],
            "fanout_max_ms": out["max_ms"],
            "fanout_e2e_p50_ms": out["e2e_p50_ms"],
            "fanout_e2e_p99_ms": out["e2e_p99_ms"],
            "fanout_delivered": out["delivered"],
            "fanout_expected": out["expected"],
            "fanout_connected": out["connected"],
            "fanout_disconnected": out["disconnected"],
            "fanout_failures": out["failures"],
            "fanout_server_cpu_percent": out["server_cpu_percent"],
            "fanout_load_cpu_percent": out["load_cpu_percent"],
            "fanout_baseline_p50_ms": single["p50_ms"],
            "fanout_baseline_p99_ms": single["p99_ms"],
            "fanout_baseline_e2e_p99_ms": single["e2e_p99_ms"],
            "meets_fanout_target": out["p99_ms"] < FANOUT_TARGET_P99_MS
            and out["delivered"] == out["expected"],
        }
    if as_json:
        print(json.dumps(result))
        return result
    _report(result)
    return result


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _cpu(server: float | None, load: float) -> str:
    return f"cpu: server {'?' if server is None else f'{server:g}'}% of a core, load generator {load:g}%"


def _report(r: dict[str, Any]) -> None:
    s = r["server"]
    j = r["journal"]
    print(f"engine build        {r['engine_build']}")
    print(
        f"server              1 process: uvicorn ({s['http']} HTTP, {s['loop']} loop), order rate limit "
        f"{s['order_rate_limit']}"
    )
    print(
        f"load                {r['clients']} clients, each its own API key, in {r['load_processes']} "
        f"process(es), keep-alive HTTP/1.1; {r['repeats']} rounds of {r['seconds']:g} s to the exchange "
        f"and {r['seconds']:g} s to the baseline"
    )
    print(f"baseline            {r['baseline_endpoint']}")
    print("round               orders/server cpu-s   baseline/server cpu-s   ratio   (orders/s, baseline/s)")
    for i, x in enumerate(r["rounds"], 1):
        print(
            f"  {i:<17} {x['orders_per_cpu_s']:>19,}   {x['bare_per_cpu_s']:>21,}   {x['ratio']:>5.3f}   "
            f"({x['orders_per_s']:,}, {x['bare_per_s']:,})"
        )
    for name, key in (
        ("orders/cpu-s", "orders_per_cpu_s"),
        ("baseline/cpu-s", "baseline_per_cpu_s"),
        ("orders / baseline", "orders_vs_baseline"),
    ):
        v = r[key]
        print(f"{name:<20}min {v['min']:,}   median {v['median']:,}   max {v['max']:,}")
    print(
        f"  target            orders >= {RATIO_TARGET:g} of the baseline per server CPU-second (median): "
        f"{_verdict(r['meets_ratio_target'])}"
    )
    failures = sum(r["order_failures"].values())
    refused = f" {r['order_failures']}" if failures else ""
    total = r["seconds"] * r["repeats"]
    print(
        f"orders              {r['orders_per_s']:>10,} orders/s accepted  ({r['orders_accepted']:,} in "
        f"{total:g} s, {failures:,} refused{refused})"
    )
    print(
        f"  latency           p50 {r['order_p50_ms']:.2f} ms   p99 {r['order_p99_ms']:.2f} ms   "
        f"max {r['order_max_ms']:.1f} ms"
    )
    print(
        f"  cancel-alls       {r['cancel_alls']:,} (every {WINDOW} orders a client), p50 "
        f"{r['cancel_all_p50_ms']:.2f} ms  p99 {r['cancel_all_p99_ms']:.2f} ms"
    )
    print(
        f"  journal           {j['fsyncs_per_s']:,} fsyncs/s, {j['commands_per_fsync']} commands per fsync "
        f"(p50 {j['batch_p50']}, p99 {j['batch_p99']}, max {j['batch_max']}); snapshots taken "
        f"{r['snapshots_during_orders']}"
    )
    print(f"  {_cpu(r['orders_server_cpu_percent'], r['orders_load_cpu_percent'])}")
    print(
        f"  target            >= {ORDER_TARGET_PER_S:,} orders/s at p99 < {ORDER_TARGET_P99_MS:g} ms: "
        f"{_verdict(r['meets_order_target'])}"
    )
    base_failures = sum(r["baseline_failures"].values())
    print(
        f"baseline            {r['baseline_per_s']:>10,} requests/s  p50 {r['baseline_p50_ms']:.2f} ms "
        f"p99 {r['baseline_p99_ms']:.2f} ms, {base_failures:,} refused"
    )
    print(f"  {_cpu(r['baseline_server_cpu_percent'], r['baseline_load_cpu_percent'])}")
    if not r["subscribers"]:
        return
    print(
        f"fan-out             {r['fanout_connected']:,} subscribers on {MARKET} orderbook, "
        f"{r['fanout_events']} book changes by signed REST orders"
    )
    print(
        f"  frame -> client   p50 {r['fanout_p50_ms']:.2f} ms   p99 {r['fanout_p99_ms']:.2f} ms   "
        f"max {r['fanout_max_ms']:.1f} ms  (from the frame's data.time)"
    )
    print(f"  REST -> client    p50 {r['fanout_e2e_p50_ms']:.2f} ms   p99 {r['fanout_e2e_p99_ms']:.2f} ms")
    print(
        f"  delivered         {r['fanout_delivered']:,} of {r['fanout_expected']:,} frames, "
        f"{r['fanout_disconnected']} subscribers dropped"
    )
    print(f"  {_cpu(r['fanout_server_cpu_percent'], r['fanout_load_cpu_percent'])}")
    print(
        f"  baseline          1 subscriber: p50 {r['fanout_baseline_p50_ms']:.2f} ms   p99 "
        f"{r['fanout_baseline_p99_ms']:.2f} ms   "
        f"(REST -> client p99 {r['fanout_baseline_e2e_p99_ms']:.2f} ms)"
    )
    print(
        f"  target            p99 < {FANOUT_TARGET_P99_MS:g} ms, every frame delivered: "
        f"{_verdict(r['meets_fanout_target'])}"
    )
