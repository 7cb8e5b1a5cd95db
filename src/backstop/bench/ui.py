"""`backstop bench ui`: the browser UI in Chromium, through the browser's performance API: the trade
page's time to first render on loopback, and the order book ladder's delay behind the websocket
under the agents' normal load plus a burst of orders.

The server is `backstop serve` as a user starts it (api.py's `Server` with no manual settings: the
wall clock, the replayed index feed, the simulated agents trading every market), on a free port with
a fresh data directory; only the order rate limit is off, so the burst is as fast as the server
takes it. The page is Debian's Chromium (`--chromium`, /usr/bin/chromium) driven by Playwright
(`executable_path`: no browser is ever downloaded), headless, every host but loopback refused by
Chromium's resolver (`--host-resolver-rules`; no request interception, which would itself slow the
page). The market is the one with the largest 24-hour volume when the run starts (`--market`).

1. **First render.** `--loads` times, the trade page (`/#/trade/{market}`, not logged in, as a
   first visit) and the baseline page (`/static/ui/bench-baseline.html`: a heading and a line of
   text, nothing to fetch or run, served by the same server) are each loaded in a fresh browser
   context (no cache), the pair's order alternating. From the performance API: the navigation
   entry (response start, DOMContentLoaded, load), first contentful paint, and the marks the trade
   page sets itself once the frame showing them was painted: `backstop:ladder-first` (the ladder
   shows a book) and `backstop:chart-first` (the candle chart drew its history); all in ms from the
   navigation's start. And the work each load cost, from navigation until the page was seen ready
   (its marks present, polled every 50 ms): the page's main-thread task time (CDP
   `Performance.getMetrics` TaskDuration; ScriptDuration apart) and the CPU time of every Chromium
   process (/proc, the kernel's per-thread run time). Reported: median and p90 of each, the ratio
   of the medians to the baseline's first contentful paint (wall clock) and to its task and CPU time,
   and the median and range of the ratios pair by pair (each pair loaded back to back, so a noisy
   neighbour touches both).

2. **The ladder's delay behind the websocket.** One page on the trade page, logged in with the demo
   account (its private channels on, as a user trades). The benchmark sets the page's opt-in
   `window.backstopTrade.measure`, and for every orderbook message the page then records when the
   message reached it (the MessageEvent's timeStamp), when it was applied with its checksum
   verified, its `data.time` (the server's clock when it built the frame), when the ladder was
   rendered and when that frame had been painted (a task queued from the render's animation frame
   runs after the frame's style, layout and paint on the main thread; raster and display follow on
   other threads), and how many messages that render covered (the
   renderer coalesces to one render per animation frame; the book applies and verifies every
   message). Windows alternate: quiet (`--quiet` seconds, the agents only), burst, quiet, ..., quiet,
   `--repeats` bursts. A burst: `--orders` signed limit orders from `--clients` concurrent clients
   (each its own funded account, API key and a keep-alive connection, api.py's `Http`), each client
   sending its share one after another: prices drawn from BURST_CROSS_TICKS ticks through the mid to
   BURST_SPAN_TICKS ticks behind it on its own side, so about one in seven crosses the spread and
   trades, the rest add size to the top of the book; sizes 1 to 20 times the market's minimum; then
   each client cancels all its orders on the market (`DELETE /api/orders`); then SETTLE_S seconds for
   the page to catch up. Every reply must be a success. Messages are counted in the window they reached
   the page in. Per window kind: the delay from arrival to painted (p50, p99, max), from the server's
   frame time to painted (same machine, same clock), messages, renders and messages per render,
   checksum failures, and the work done during the windows as a share of a core: the page's main-thread
   task time, the renderers' CPU, all Chromium's, and the server process's (its threads' run time; the
   agents run in it). Ratios burst / quiet of the delay's p50 and p99 (overall, and per burst against
   the quiet windows either side of it) and of the main thread's busy share and the renderers' CPU; and
   what the bursts cost beyond the agents' load: the burst windows' task and CPU time less the quiet
   windows' rate over as long, per extra book message (and the server's per order).
   At the end the ladder must equal `GET /api/markets/{market}/orderbook`: the page's rows (15 a
   side) and its book's top 100 against the REST book read between two reads of the page that
   agree (the agents keep trading, so it is retried until a still moment, up to MATCH_TRIES).

Timings on a shared machine swing; the ratios to the baseline measured in the same run are the
comparable figures. Speed is never asserted: the run fails only when something is wrong (a refused
order, a page that never renders).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backstop.bench.api import Http, Server, _percentile, _succeeded
from backstop.bench.engine import build_kind
from backstop.bench.products import _server_cpu_s
from backstop.cli_input import fail

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, CDPSession, Page

CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); Playwright's own is never fetched
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no other host, without interception
]
VIEWPORT = {"width": 1360, "height": 960}
BASELINE_PAGE = "/static/ui/bench-baseline.html"
LADDER = 15  # rows a side the ladder shows
BOOK_DEPTH = 100  # levels a side of the websocket book (and its checksum)
READY_S = 30.0  # for a page to render, the agents' books to fill
POLL_MS = 50  # how often a load's readiness is polled in the page
DEPOSIT_USD = 1_000_000  # api.py's Server.account
BURST_CROSS_TICKS = 5  # a burst's prices: from this many ticks through the mid ...
BURST_SPAN_TICKS = 30  # ... to this many behind it, on the order's own side
BURST_MAX_MULTIPLE = 20  # sizes: 1 to this many times the market's minimum
SETTLE_S = 2.0  # after a burst's cancels, for the page to paint what it was sent
MATCH_TRIES = 50
MATCH_GAP_S = 0.2
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def _note(message: str) -> None:
    click.echo(message, err=True)


def _stats(values: Sequence[float], digits: int = 1) -> dict[str, float | None]:
    """Median and p90 (engine.py's quantile) of `values`, None where there are none."""
    s = sorted(values)
    if not s:
        return {"p50": None, "p90": None}
    return {"p50": round(statistics.median(s), digits), "p90": round(_percentile(s, 0.9), digits)}


def _tail(values: Sequence[float], digits: int = 2) -> dict[str, float | None]:
    s = sorted(values)
    if not s:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(statistics.median(s), digits),
        "p99": round(_percentile(s, 0.99), digits),
        "max": round(s[-1], digits),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else round(a / b, 3)


# ----------------------------------------------------------------------------- Chromium's CPU time


def _children() -> dict[int, list[int]]:
    """Every process's children (/proc)."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def _renderer(pid: int) -> bool:
    try:
        return b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class ChromiumCpu:
    """CPU seconds of every process of one Chromium (the browser process and its descendants) and of
    its renderers, from the kernel's per-thread run time. A delta counts only processes alive at its
    end: one that started in between counts whole, one that ended in between is left out."""

    root: int | None
    readable: bool = True

    def read(self) -> dict[int, tuple[float, bool]]:
        if self.root is None or not self.readable:
            return {}
        children = _children()
        seen: dict[int, tuple[float, bool]] = {}
        todo = [self.root]
        while todo:
            pid = todo.pop()
            cpu = _server_cpu_s(pid)
            if cpu is not None:
                seen[pid] = (cpu, _renderer(pid))
            todo.extend(children.get(pid, []))
        if not seen:
            self.readable = False
        return seen

    @staticmethod
    def delta(
        before: dict[int, tuple[float, bool]], after: dict[int, tuple[float, bool]]
    ) -> tuple[float | None, float | None]:
        """(all of Chromium, its renderers) in ms between two reads; None where unreadable."""
        if not after:
            return None, None
        total = renderers = 0.0
        for pid, (cpu, is_renderer) in after.items():
            spent = cpu - before.get(pid, (0.0, False))[0]
            total += spent
            if is_renderer:
                renderers += spent
        return round(total * 1000, 2), round(renderers * 1000, 2)


async def _metrics(cdp: CDPSession) -> dict[str, float]:
    answer = await cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in answer["metrics"]}


def _metric_ms(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return round((after.get(name, 0.0) - before.get(name, 0.0)) * 1000, 2)


# ----------------------------------------------------------------------------- REST


def _get(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.base + path, timeout=30) as reply:
        answer = json.loads(reply.read())
    if not answer.get("success"):
        raise RuntimeError(f"GET {path} refused: {answer.get('error')}")
    return answer["result"]


def _wait_for(check: Any, what: str, timeout: float = READY_S) -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.time() > deadline:
            raise RuntimeError(f"{what} within {timeout:g} s")
        time.sleep(0.2)


def _busiest(server: Server) -> str:
    markets = _get(server, "/api/markets")
    best = max(markets, key=lambda m: (float(m.get("volumeUsd24h") or 0), m["name"] == "BTC-PERP"))
    return str(best["name"])


@dataclass
class MarketInfo:
    name: str
    price_increment: Decimal
    size_increment: Decimal
    min_size: Decimal


def _market(server: Server, name: str) -> MarketInfo:
    for m in _get(server, "/api/markets"):
        if m["name"] == name:
            inc = Decimal(str(m["sizeIncrement"]))
            least = Decimal(str(m.get("minProvideSize") or m["sizeIncrement"]))
            return MarketInfo(name, Decimal(str(m["priceIncrement"])), inc, max(least, inc))
    raise click.BadParameter(f"no market {name} on this exchange", param_hint="--market")


# ----------------------------------------------------------------------------- 1. first render

READY_JS = {
    "trade": "() => performance.getEntriesByName('backstop:ladder-first').length > 0 && "
    "performance.getEntriesByName('backstop:chart-first').length > 0",
    "baseline": "() => performance.getEntriesByName('first-contentful-paint').length > 0 && "
    "document.readyState === 'complete'",
}

TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const at = (name) => {
    const e = performance.getEntriesByName(name);
    return e.length ? e[0].startTime : null;
  };
  return {
    response_ms: nav.responseStart, dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    load_ms: nav.loadEventEnd, fcp_ms: at('first-contentful-paint'),
    ladder_ms: at('backstop:ladder-first'), chart_ms: at('backstop:chart-first'),
  };
}"""

FIGURES = {
    "trade": ("response_ms", "fcp_ms", "dom_content_loaded_ms", "load_ms", "ladder_ms", "chart_ms"),
    "baseline": ("response_ms", "fcp_ms", "dom_content_loaded_ms", "load_ms"),
}
WORK = ("task_ms", "script_ms", "chromium_cpu_ms", "renderer_cpu_ms")


async def _load(browser: Browser, cpu: ChromiumCpu, url: str, kind: str) -> dict[str, float | None]:
    """One load of `url` in a fresh context: the performance API's figures and the work it cost."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        m0, c0 = await _metrics(cdp), cpu.read()
        await page.goto(url, wait_until="commit")
        await page.wait_for_function(READY_JS[kind], polling=POLL_MS, timeout=READY_S * 1000)
        m1, c1 = await _metrics(cdp), cpu.read()
        timing: dict[str, float | None] = await page.evaluate(TIMING_JS)
    finally:
        await context.close()
    chromium, renderers = ChromiumCpu.delta(c0, c1)
    out = {k: (None if timing[k] is None else round(float(timing[k] or 0), 1)) for k in FIGURES[kind]}
    out["task_ms"] = _metric_ms(m0, m1, "TaskDuration")
    out["script_ms"] = _metric_ms(m0, m1, "ScriptDuration")
    out["chromium_cpu_ms"] = chromium
    out["renderer_cpu_ms"] = renderers
    return out


async def first_render(
    browser: Browser, cpu: ChromiumCpu, base: str, market: str, loads: int
) -> dict[str, Any]:
    urls = {"trade": f"{base}/#/trade/{market}", "baseline": base + BASELINE_PAGE}
    for kind in ("baseline", "trade"):  # untimed: the server's and the disk's first touch
        await _load(browser, cpu, urls[kind], kind)
    runs: dict[str, list[dict[str, float | None]]] = {"trade": [], "baseline": []}
    for i in range(loads):
        for kind in ("trade", "baseline") if i % 2 == 0 else ("baseline", "trade"):
            runs[kind].append(await _load(browser, cpu, urls[kind], kind))

    def column(kind: str, name: str) -> list[float]:
        return [float(x) for r in runs[kind] if (x := r[name]) is not None]

    out: dict[str, Any] = {"loads": loads, "url": f"/#/trade/{market}", "baseline_url": BASELINE_PAGE}
    for kind in runs:
        out[kind] = {name: _stats(column(kind, name)) for name in (*FIGURES[kind], *WORK)}
    trade, base_ = out["trade"], out["baseline"]
    out["ratios"] = {
        "fcp": _ratio(trade["fcp_ms"]["p50"], base_["fcp_ms"]["p50"]),
        "ladder_vs_baseline_fcp": _ratio(trade["ladder_ms"]["p50"], base_["fcp_ms"]["p50"]),
        "chart_vs_baseline_fcp": _ratio(trade["chart_ms"]["p50"], base_["fcp_ms"]["p50"]),
        "task": _ratio(trade["task_ms"]["p50"], base_["task_ms"]["p50"]),
        "chromium_cpu": _ratio(trade["chromium_cpu_ms"]["p50"], base_["chromium_cpu_ms"]["p50"]),
    }
    pairs: dict[str, list[float]] = {}
    for t, b in zip(runs["trade"], runs["baseline"], strict=True):
        for name, (a_key, b_key) in {
            "fcp": ("fcp_ms", "fcp_ms"),
            "ladder_vs_baseline_fcp": ("ladder_ms", "fcp_ms"),
            "task": ("task_ms", "task_ms"),
            "chromium_cpu": ("chromium_cpu_ms", "chromium_cpu_ms"),
        }.items():
            r = _ratio(t[a_key], b[b_key])
            if r is not None:
                pairs.setdefault(name, []).append(r)
    out["pair_ratios"] = {
        name: {"p50": round(statistics.median(v), 3), "min": min(v), "max": max(v)}
        for name, v in pairs.items()
    }
    return out


# ----------------------------------------------------------------------------- 2. the ladder's delay


@dataclass
class Client:
    key: str
    secret: str


@dataclass
class BurstResult:
    accepted: int = 0
    crossed: int = 0  # orders that traded on arrival (filledSize > 0)
    cancel_alls: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0


def _plan(info: MarketInfo, mid_ticks: int, count: int, rng: random.Random) -> list[bytes]:
    """`count` limit order bodies around the mid (see the module's docstring)."""
    bodies = []
    least = int(info.min_size / info.size_increment)
    for _ in range(count):
        buy = rng.random() < 0.5
        off = rng.randint(-BURST_CROSS_TICKS, BURST_SPAN_TICKS)
        ticks = mid_ticks - off if buy else mid_ticks + off
        price = format(ticks * info.price_increment, "f")
        size = format(least * rng.randint(1, BURST_MAX_MULTIPLE) * info.size_increment, "f")
        side = "buy" if buy else "sell"
        bodies.append(
            f'{{"market":"{info.name}","side":"{side}","price":{price},"type":"limit","size":{size}}}'.encode()
        )
    return bodies


async def _send(http: Http, client: Client, bodies: list[bytes], market: str, result: BurstResult) -> None:
    for body in bodies:
        status, reply = await http.request(
            http.head("POST", "/api/orders", body, client.key, client.secret), body
        )
        done, error = _succeeded(status, reply)
        if not done:
            result.failures[error] += 1
            continue
        result.accepted += 1
        if float(json.loads(reply)["result"].get("filledSize") or 0) > 0:
            result.crossed += 1
    cancel = json.dumps({"market": market}).encode()
    status, reply = await http.request(
        http.head("DELETE", "/api/orders", cancel, client.key, client.secret), cancel
    )
    done, error = _succeeded(status, reply)
    if done:
        result.cancel_alls += 1
    else:
        result.failures[f"cancel all: {error}"] += 1


async def _burst(
    server: Server, clients: list[Client], info: MarketInfo, orders: int, rng: random.Random
) -> BurstResult:
    book = _get(server, f"/api/markets/{info.name}/orderbook?depth=1")
    if not book["bids"] or not book["asks"]:
        raise RuntimeError(f"{info.name} has an empty side: no mid to place a burst around")
    mid = (Decimal(str(book["bids"][0][0])) + Decimal(str(book["asks"][0][0]))) / 2
    bodies = _plan(info, int(mid / info.price_increment), orders, rng)
    result = BurstResult()
    # connections of this burst (the server closes keep-alive connections idle for 5 s)
    connections = [await Http.open("127.0.0.1", server.port) for _ in clients]
    try:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                _send(http, c, bodies[i :: len(clients)], info.name, result)
                for i, (http, c) in enumerate(zip(connections, clients, strict=True))
            )
        )
        result.wall_s = time.perf_counter() - t0
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise RuntimeError(f"the server dropped a burst client's connection: {exc!r}") from None
    finally:
        for http in connections:
            await http.close()
    return result


COUNTERS_JS = """() => {
  const s = window.backstopTrade;
  return {now: performance.now(), messages: s.bookMessages, renders: s.renders, mismatches: s.mismatches};
}"""

SAMPLES_JS = """() => ({origin: performance.timeOrigin, samples: window.backstopTrade.measure.splice(0)})"""


@dataclass
class Mark:
    """The state of the page, the browser and the server at a window's boundary."""

    page: dict[str, float]
    metrics: dict[str, float]
    chromium: dict[int, tuple[float, bool]]
    server_cpu_s: float | None
    wall: float


async def _mark(page: Page, cdp: CDPSession, cpu: ChromiumCpu, server: Server) -> Mark:
    return Mark(
        await page.evaluate(COUNTERS_JS),
        await _metrics(cdp),
        cpu.read(),
        _server_cpu_s(server.process.pid),
        time.perf_counter(),
    )


def _window(kind: str, start: Mark, end: Mark, samples: list[list[float]], origin: float) -> dict[str, Any]:
    """A window's figures from its boundary marks and the samples of the messages that reached the
    page inside it: [arrived, applied, data.time, rendered, painted, messages in that render]."""
    inside = [x for x in samples if start.page["now"] <= x[0] < end.page["now"]]
    chromium, renderers = ChromiumCpu.delta(start.chromium, end.chromium)
    server = (
        None
        if start.server_cpu_s is None or end.server_cpu_s is None
        else round((end.server_cpu_s - start.server_cpu_s) * 1000, 1)
    )
    return {
        "kind": kind,
        "wall_s": round(end.wall - start.wall, 3),
        "messages": int(end.page["messages"] - start.page["messages"]),
        "renders": int(end.page["renders"] - start.page["renders"]),
        "checksum_failures": int(end.page["mismatches"] - start.page["mismatches"]),
        "delays_ms": [x[4] - x[0] for x in inside],
        "frame_delays_ms": [origin + x[4] - x[2] * 1000 for x in inside],
        "apply_ms": [x[1] - x[0] for x in inside],
        "per_render": [x[5] for x in inside],
        "task_ms": _metric_ms(start.metrics, end.metrics, "TaskDuration"),
        "script_ms": _metric_ms(start.metrics, end.metrics, "ScriptDuration"),
        "layout_style_ms": round(
            _metric_ms(start.metrics, end.metrics, "LayoutDuration")
            + _metric_ms(start.metrics, end.metrics, "RecalcStyleDuration"),
            2,
        ),
        "chromium_cpu_ms": chromium,
        "renderer_cpu_ms": renderers,
        "server_cpu_ms": server,
    }


def _summary(windows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of windows of one kind, together."""
    delays = [d for w in windows for d in w["delays_ms"]]
    per_render = [n for w in windows for n in w["per_render"]]
    messages = sum(w["messages"] for w in windows)
    renders = sum(w["renders"] for w in windows)
    wall = sum(w["wall_s"] for w in windows)

    def total(name: str) -> float | None:
        values = [w[name] for w in windows]
        return None if any(v is None for v in values) else round(sum(values), 1)

    def percent(name: str) -> float | None:
        spent = total(name)
        return None if spent is None or not wall else round(100 * spent / (wall * 1000), 1)

    return {
        "windows": len(windows),
        "wall_s": round(wall, 2),
        "messages": messages,
        "measured": len(delays),
        "messages_per_s": round(messages / wall, 1) if wall else 0.0,
        "renders": renders,
        # messages shown only together with later ones (one render per animation frame)
        "coalesced": len(per_render) - round(sum(1 / n for n in per_render)),
        "messages_per_render": {
            "mean": round(len(per_render) / sum(1 / n for n in per_render), 2) if per_render else None,
            "max": int(max(per_render)) if per_render else None,
        },
        "delay_ms": _tail(delays),
        "frame_delay_ms": _tail([d for w in windows for d in w["frame_delays_ms"]]),
        "apply_ms": _tail([d for w in windows for d in w["apply_ms"]], 3),
        "checksum_failures": sum(w["checksum_failures"] for w in windows),
        "task_ms": total("task_ms"),
        "script_ms": total("script_ms"),
        "layout_style_ms": total("layout_style_ms"),
        "main_thread_busy_percent": percent("task_ms"),
        "chromium_cpu_ms": total("chromium_cpu_ms"),
        "chromium_cpu_percent": percent("chromium_cpu_ms"),
        "renderer_cpu_ms": total("renderer_cpu_ms"),
        "renderer_cpu_percent": percent("renderer_cpu_ms"),
        "server_cpu_ms": total("server_cpu_ms"),
        "server_cpu_percent": percent("server_cpu_ms"),
    }


def _marginal(quiet: dict[str, Any], burst: dict[str, Any], name: str, per: float) -> float | None:
    """What the bursts cost beyond the agents' load: `name` spent in the burst windows less what the
    quiet windows spent in as long, per `per` (the extra book messages, or the orders)."""
    spent_q, spent_b = quiet[name], burst[name]
    if spent_q is None or spent_b is None or not quiet["wall_s"] or per <= 0:
        return None
    rate = float(spent_q) / float(quiet["wall_s"])
    return round((float(spent_b) - rate * float(burst["wall_s"])) / per, 3)


async def _ladder_state(page: Page) -> dict[str, Any]:
    """The page's ladder rows (best first per side) and its book's top BOOK_DEPTH, read at once."""
    state: dict[str, Any] = await page.evaluate(
        """([depth]) => {
  const rows = [...document.querySelectorAll('#ladder tbody tr[data-price]')]
    .map(r => [r.className, +r.dataset.price, +r.dataset.size]);
  const {bids, asks} = window.backstopTrade.book.sorted();
  return {
    rows: {bids: rows.filter(r => r[0] === 'bid').map(r => [r[1], r[2]]),
           asks: rows.filter(r => r[0] === 'ask').map(r => [r[1], r[2]]).reverse()},
    book: {bids: bids.slice(0, depth), asks: asks.slice(0, depth)},
    checksum: document.querySelector('#ladder').dataset.checksum,
  };
}""",
        [BOOK_DEPTH],
    )
    return state


async def _matches(page: Page, server: Server, market: str) -> tuple[bool, int, str]:
    """Whether the ladder (and the page's book) equal the REST book at a still moment; tries, and
    the checksum state the ladder shows."""
    state: dict[str, Any] = {}
    for attempt in range(1, MATCH_TRIES + 1):
        before = await _ladder_state(page)
        rest = _get(server, f"/api/markets/{market}/orderbook?depth={BOOK_DEPTH}")
        state = await _ladder_state(page)
        top = {side: rest[side][:LADDER] for side in ("bids", "asks")}
        if before == state and state["rows"] == top and state["book"] == rest:
            return True, attempt, str(state["checksum"])
        await asyncio.sleep(MATCH_GAP_S)
    return False, MATCH_TRIES, str(state.get("checksum"))


async def ladder_delay(
    browser: Browser,
    cpu: ChromiumCpu,
    server: Server,
    info: MarketInfo,
    orders: int,
    repeats: int,
    quiet_s: float,
    clients_n: int,
    seed: int,
) -> dict[str, Any]:
    keys = [server.account(f"bench-ui-{i}") for i in range(clients_n)]
    clients = [Client(k, s) for k, s in keys]
    context: BrowserContext = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        page.set_default_timeout(READY_S * 1000)
        await page.goto(f"{server.base}/#/trade/{info.name}")
        await page.get_by_role("button", name="Log in", exact=True).click()
        await page.get_by_role("button", name="Use the demo account").click()
        await page.wait_for_function(
            "() => document.querySelector('#who').textContent === 'demo account' && window.backstopTrade"
            " && window.backstopTrade.book.bids.size > 0 && document.querySelector('#ladder tbody tr.bid')"
        )
        await page.evaluate("() => { window.backstopTrade.measure = []; }")
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        await asyncio.sleep(1.0)  # the page's start-up work out of the way
        rng = random.Random(seed)
        windows: list[dict[str, Any]] = []
        bursts: list[BurstResult] = []
        marks: list[tuple[str, Mark, Mark]] = []
        for r in range(repeats + 1):
            start = await _mark(page, cdp, cpu, server)
            await asyncio.sleep(quiet_s)
            end = await _mark(page, cdp, cpu, server)
            marks.append(("quiet", start, end))
            if r == repeats:
                break
            _note(f"  burst {r + 1} of {repeats}: {orders:,} orders from {clients_n} clients")
            start = end
            burst = await _burst(server, clients, info, orders, rng)
            if burst.failures:
                raise RuntimeError(f"burst orders refused: {dict(burst.failures)}")
            bursts.append(burst)
            await asyncio.sleep(SETTLE_S)
            end = await _mark(page, cdp, cpu, server)
            marks.append(("burst", start, end))
        collected = await page.evaluate(SAMPLES_JS)
        samples: list[list[float]] = collected["samples"]
        origin = float(collected["origin"])
        for kind, start, end in marks:
            windows.append(_window(kind, start, end, samples, origin))
        matched, tries, checksum = await _matches(page, server, info.name)
        total_failures = int(await page.evaluate("() => window.backstopTrade.mismatches"))
    finally:
        await context.close()
    quiet = [w for w in windows if w["kind"] == "quiet"]
    burst_w = [w for w in windows if w["kind"] == "burst"]
    q, b = _summary(quiet), _summary(burst_w)
    extra_messages = b["messages"] - q["messages"] / q["wall_s"] * b["wall_s"] if q["wall_s"] else 0.0
    sent = orders * len(bursts)
    per_repeat = []
    for i, w in enumerate(burst_w):
        around = _tail([d for x in quiet[i : i + 2] for d in x["delays_ms"]])
        mine = _tail(w["delays_ms"])
        per_repeat.append(
            {"p50": _ratio(mine["p50"], around["p50"]), "p99": _ratio(mine["p99"], around["p99"])}
        )
    return {
        "market": info.name,
        "orders": orders,
        "clients": clients_n,
        "repeats": repeats,
        "quiet_s": quiet_s,
        "settle_s": SETTLE_S,
        "burst_orders_accepted": sum(x.accepted for x in bursts),
        "burst_orders_crossed": sum(x.crossed for x in bursts),
        "burst_cancel_alls": sum(x.cancel_alls for x in bursts),
        "burst_orders_per_s": [round(orders / x.wall_s) for x in bursts if x.wall_s],
        "burst_send_s": [round(x.wall_s, 3) for x in bursts],
        "quiet": q,
        "burst": b,
        # the bursts' own cost: the burst windows less the agents' rate over as long
        "marginal": {
            "task_ms_per_message": _marginal(q, b, "task_ms", extra_messages),
            "renderer_cpu_ms_per_message": _marginal(q, b, "renderer_cpu_ms", extra_messages),
            "chromium_cpu_ms_per_message": _marginal(q, b, "chromium_cpu_ms", extra_messages),
            "server_cpu_ms_per_order": _marginal(q, b, "server_cpu_ms", sent),
        },
        "ratios": {
            "delay_p50": _ratio(b["delay_ms"]["p50"], q["delay_ms"]["p50"]),
            "delay_p99": _ratio(b["delay_ms"]["p99"], q["delay_ms"]["p99"]),
            "main_thread_busy": _ratio(b["main_thread_busy_percent"], q["main_thread_busy_percent"]),
            "renderer_cpu": _ratio(b["renderer_cpu_percent"], q["renderer_cpu_percent"]),
            "per_repeat": per_repeat,
        },
        "windows": [
            {
                k: v
                for k, v in w.items()
                if k not in ("delays_ms", "frame_delays_ms", "apply_ms", "per_render")
            }
            | {"delay_ms": _tail(w["delays_ms"]), "measured": len(w["delays_ms"])}
            for w in windows
        ],
        "checksum_failures": total_failures,
        "matches_rest": matched,
        "match_tries": tries,
        "ladder_checksum": checksum,
    }


# ----------------------------------------------------------------------------- the run


def _browser_version(path: str) -> str:
    import subprocess

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


async def _run(
    server: Server,
    chromium: str,
    market: str,
    orders: int,
    repeats: int,
    loads: int,
    quiet_s: float,
    clients: int,
    seed: int,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    info = _market(server, market)
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        except Exception as exc:
            raise click.ClickException(
                f"Chromium at {chromium} did not start: {str(exc).splitlines()[0]}"
            ) from None
        try:
            session = await browser.new_browser_cdp_session()
            processes = (await session.send("SystemInfo.getProcessInfo"))["processInfo"]
            root = next((int(p["id"]) for p in processes if p["type"] == "browser"), None)
            cpu = ChromiumCpu(root)
            _note(f"first render: the trade page and the baseline page, {loads} loads each, interleaved")
            render = await first_render(browser, cpu, server.base, info.name, loads)
            _note(
                f"ladder: {info.name}, {repeats} bursts of {orders:,} orders between quiet windows of "
                f"{quiet_s:g} s"
            )
            ladder = await ladder_delay(browser, cpu, server, info, orders, repeats, quiet_s, clients, seed)
        finally:
            await browser.close()
    return {"first_render": render, "ladder": ladder}


def run(
    orders: int,
    repeats: int,
    loads: int,
    quiet_s: float,
    clients: int,
    market: str | None,
    chromium: str,
    seed: int,
    as_json: bool,
) -> dict[str, Any]:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        fail(
            "backstop bench ui needs Playwright (pip install 'playwright==1.65.2', in the dev extra); "
            "it drives Debian's Chromium and never downloads a browser"
        )
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        fail(f"backstop bench ui needs Chromium at {chromium}: apt-get install chromium (or --chromium PATH)")
    build = build_kind()
    with tempfile.TemporaryDirectory(prefix="backstop-bench-ui-") as tmp:
        _note(f"starting the server with its agents ({build})")
        server = Server(Path(tmp), serve_args=())
        try:
            chosen = market or _busiest(server)
            _wait_for(
                lambda: all(
                    len(side) >= LADDER
                    for side in _get(server, f"/api/markets/{chosen}/orderbook?depth={LADDER}").values()
                ),
                f"the agents did not fill {chosen}'s book",
            )
            _wait_for(
                lambda: _get(server, f"/api/markets/{chosen}/candles?resolution=60&limit=1"),
                f"{chosen} had no trade",
            )
            figures = asyncio.run(
                _run(server, chromium, chosen, orders, repeats, loads, quiet_s, clients, seed)
            )
        except BaseException:
            code = server.process.poll()
            server.stop()
            if code is not None:
                _note(
                    f"the server stopped during the run (exit code {code}); its output:\n{server.log_tail()}"
                )
            raise
        server.stop()
    result: dict[str, Any] = {
        "engine_build": build,
        "server": {
            "agents": True,
            "clock": "wall",
            "feed": "replay",
            "order_rate_limit": "off" if server.rate_limit else "none",
        },
        "browser": {"executable": chromium, "version": _browser_version(chromium), "flags": FLAGS},
        "cpus": os.cpu_count(),
        **figures,
    }
    if as_json:
        print(json.dumps(result))
    else:
        _report(result)
    return result


# ----------------------------------------------------------------------------- the report


def _ms(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _report(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console.width = 120  # rich's 80 when piped would wrap every row
    f, lad = r["first_render"], r["ladder"]
    console.print(
        f"engine build {r['engine_build']}; server: `backstop serve` with its agents (wall clock, replayed "
        f"feed), order rate limit {r['server']['order_rate_limit']}; {r['browser']['version']}, headless; "
        f"{r['cpus']} CPUs"
    )
    t = Table(
        title=f"First render of {f['url']} ({f['loads']} loads of each page, fresh context, interleaved)"
    )
    t.add_column("ms from navigation start")
    for col in ("trade p50", "trade p90", "baseline p50", "baseline p90"):
        t.add_column(col, justify="right")
    rows = [
        ("response start", "response_ms"),
        ("first contentful paint", "fcp_ms"),
        ("DOMContentLoaded", "dom_content_loaded_ms"),
        ("load", "load_ms"),
        ("ladder shows a book (painted)", "ladder_ms"),
        ("chart drawn (painted)", "chart_ms"),
        ("main-thread task time to ready", "task_ms"),
        ("  of which script", "script_ms"),
        ("Chromium CPU to ready (all processes)", "chromium_cpu_ms"),
        ("  of which renderers", "renderer_cpu_ms"),
    ]
    for label, key in rows:
        a = f["trade"].get(key, {"p50": None, "p90": None})
        b = f["baseline"].get(key, {"p50": None, "p90": None})
        t.add_row(label, _ms(a["p50"]), _ms(a["p90"]), _ms(b["p50"]), _ms(b["p90"]))
    console.print(t)
    ratios = f["ratios"]
    pairs = f["pair_ratios"]

    def pr(name: str) -> str:
        p = pairs.get(name)
        return "" if not p else f" (pair by pair: median {p['p50']}, {p['min']}-{p['max']})"

    console.print(
        f"trade / baseline (medians): first contentful paint {ratios['fcp']}{pr('fcp')}; "
        f"ladder painted / baseline's FCP {ratios['ladder_vs_baseline_fcp']}{pr('ladder_vs_baseline_fcp')}; "
        f"chart / baseline's FCP {ratios['chart_vs_baseline_fcp']}; main-thread task time "
        f"{ratios['task']}{pr('task')}; Chromium CPU {ratios['chromium_cpu']}{pr('chromium_cpu')}"
    )
    t = Table(
        title=(
            f"Ladder delay behind the websocket on {lad['market']}: the agents alone (quiet, "
            f"{lad['quiet_s']:g} s windows) and with a burst of {lad['orders']:,} orders from "
            f"{lad['clients']} clients, x{lad['repeats']}"
        )
    )
    t.add_column("")
    t.add_column("quiet (baseline)", justify="right")
    t.add_column("burst", justify="right")
    t.add_column("burst / quiet", justify="right")
    q, b = lad["quiet"], lad["burst"]

    def tail(x: dict[str, Any], name: str) -> str:
        d = x[name]
        return f"{_ms(d['p50'], 2)} / {_ms(d['p99'], 2)} / {_ms(d['max'], 1)}"

    t.add_row(
        "windows, seconds", f"{q['windows']}, {q['wall_s']:g} s", f"{b['windows']}, {b['wall_s']:g} s", ""
    )
    t.add_row(
        "book messages (per s)",
        f"{q['messages']:,} ({q['messages_per_s']:g})",
        f"{b['messages']:,} ({b['messages_per_s']:g})",
        "",
    )
    t.add_row(
        "arrival -> ladder painted, ms p50 / p99 / max",
        tail(q, "delay_ms"),
        tail(b, "delay_ms"),
        f"{lad['ratios']['delay_p50']} / {lad['ratios']['delay_p99']}",
    )
    t.add_row(
        "server frame -> painted, ms p50 / p99 / max",
        tail(q, "frame_delay_ms"),
        tail(b, "frame_delay_ms"),
        "",
    )
    t.add_row(
        "arrival -> applied, verified, ms p50 / p99 / max", tail(q, "apply_ms"), tail(b, "apply_ms"), ""
    )
    mpr_q, mpr_b = q["messages_per_render"], b["messages_per_render"]
    t.add_row(
        "ladder renders; messages per render mean / max",
        f"{q['renders']:,}; {mpr_q['mean']} / {mpr_q['max']}",
        f"{b['renders']:,}; {mpr_b['mean']} / {mpr_b['max']}",
        "",
    )
    t.add_row("checksum failures", str(q["checksum_failures"]), str(b["checksum_failures"]), "")
    ratios = lad["ratios"]
    for label, key, ratio in (
        ("page main thread busy, % (task time)", "main_thread_busy_percent", ratios["main_thread_busy"]),
        ("renderer CPU, % of a core", "renderer_cpu_percent", ratios["renderer_cpu"]),
        ("Chromium CPU (all processes), % of a core", "chromium_cpu_percent", None),
        ("server CPU (the agents in it), % of a core", "server_cpu_percent", None),
    ):
        t.add_row(label, f"{q[key]}%", f"{b[key]}%", "" if ratio is None else str(ratio))
    console.print(t)
    per = ", ".join(f"{x['p50']}/{x['p99']}" for x in lad["ratios"]["per_repeat"])
    console.print(
        f"per burst, delay p50/p99 against the quiet windows either side: {per}; bursts sent in "
        f"{lad['burst_send_s']} s ({lad['burst_orders_per_s']} orders/s), {lad['burst_orders_accepted']:,} "
        f"accepted, {lad['burst_orders_crossed']:,} traded on arrival, {lad['burst_cancel_alls']} cancel-alls"
    )
    m = lad["marginal"]
    console.print(
        f"the bursts' own cost (burst windows less the agents' rate over as long): per extra book message "
        f"{m['task_ms_per_message']} ms of the page's main thread, {m['renderer_cpu_ms_per_message']} ms "
        f"of renderer CPU, {m['chromium_cpu_ms_per_message']} ms of all Chromium's; "
        f"{m['server_cpu_ms_per_order']} ms of server CPU per order"
    )
    verdict = "equals" if lad["matches_rest"] else "does NOT equal"
    console.print(
        f"at the end the ladder {verdict} GET /api/markets/{lad['market']}/orderbook (top {BOOK_DEPTH} of "
        f"the page's book and the {LADDER} rows a side; try {lad['match_tries']}), checksum "
        f"{lad['ladder_checksum']}, {lad['checksum_failures']} checksum failures in the run"
    )
