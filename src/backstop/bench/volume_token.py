"""`backstop bench volume-token`: swaps through the API, and what one rebase costs with a thousand
holders and with a million.

Two parts, one run:

1. **Swaps per second through the API.** `backstop serve` as `bench api` starts it (api.py's
   `Server`: manual clock and feed, no agents, no order rate limit) on a free port. Over the operator
   API a treasury account is created and funded, the token issued to it (`POST
   /operator/volume_token/issue`, API_POOL_VOL VOL, divisor 1e9) and the pool seeded at $1 (`POST
   /api/volume_token/liquidity`, signed by the treasury). 16 clients (`--clients`), each its own
   account (funded with USD), API key and keep-alive connection (api.py's `Http`, requests signed
   FTX's way), first buy CLIENT_VOL_USD of VOL (untimed), then send `POST /api/volume_token/swaps
   {coinIn, size, minOut}` (each must answer success, or the run fails), alternating buying VOL
   with USD and selling as much VOL over SIZES ($10, $300, $5,000), against the baseline of
   unauthenticated `GET /api/markets` from the same clients and connections: chunks of
   `--per-client` requests of one kind a client (swaps, then the baseline, the order alternating
   each round), each timed by the server process's CPU time (its threads' schedstat run time);
   swaps/s and markets/s are requests answered with success over that CPU time, with the ratio,
   `--repeat` times; latency p50/p99 per kind is from writing a request to having read its reply
   (16 clients in flight: it includes the server's queue).

2. **The time of one rebase with 1,000 and with 1,000,000 holders.** For each holder count, an
   exchange with the volume token (and only it), built through `Exchange.apply` with ordinary
   commands: a treasury is issued the supply (HOLDER_VOL per holder plus POOL_VOL, divisor
   BENCH_DIVISOR), seeds the pool at $1 and withdraws the holders' VOL; each holder is one
   `CreateAccount` and one `Deposit` of HOLDER_VOL VOL (a deposit of VOL is accepted up to what was
   withdrawn: the fastest way to make a million holders with commands, two a holder). The treasury
   keeps MAKER_LEVELS orders a side resting on VOL/USD (a rebase cancels them: the engine's rule) and
   sells the day's volume on it to a taker, sized so the target is TARGET_SHARE of the pool's price
   (a rebase well outside the 5% band). The exchange is ticked hourly up to its period's drawn
   rebase second; the Tick a second before it and the Tick that rebases are each timed by CPU time
   (`time.process_time`), the two exchanges interleaved (the order alternating), one rebase a day,
   `--rebases` times after an untimed one each. Both ticks are reported (medians and each), with
   the ratio of the million holders' median to the thousand's (and each rebase's ratio): a rebase
   changes one number (the units, shares per VOL atom) and cancels the orders resting on VOL/USD,
   so its time must not grow with holders (ratio near 1).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import click

from backstop import products
from backstop.bench.api import Http, Server, _percentile, _split, _succeeded
from backstop.bench.engine import build_kind
from backstop.bench.products import _server_cpu_s, _signed
from backstop.catalog import USD
from backstop.engine.amounts import ATOM
from backstop.engine.commands import CreateAccount, Deposit, PlaceOrder, Tick, Withdraw
from backstop.engine.events import Event, OrderClosed, Rejected
from backstop.products.volume_token import pool
from backstop.products.volume_token.commands import AddVolumeLiquidity, IssueVolumeToken
from backstop.products.volume_token.events import VolumeRebased
from backstop.products.volume_token.params import DAY_US, SECOND_US
from backstop.products.volume_token.product import VolumeToken
from backstop.server.runtime import tune_gc

VOL = "VOL"
SPOT = "VOL/USD"
CLIENTS = 16
MARKETS_PATH = "/api/markets"
SWAPS_PATH = "/api/volume_token/swaps"
HOUR_US = 3_600 * SECOND_US
KINDS = ("swap", "markets")

# part 1
API_POOL_VOL = 50_000_000
"""VOL issued to the API run's treasury, all of it into the pool with as many dollars ($1): deep
enough that the clients' purchases before the timing move its price about 1%."""
API_DIVISOR = 1_000_000_000  # FTX's scale: the API run never rebases (its clock does not move)
TREASURY_USD = 60_000_000
CLIENT_USD = 1_000_000
CLIENT_VOL_USD = 20_000
"""USD each client turns into VOL before the timing, so it has VOL to sell."""
SIZES = ((USD, 10), (VOL, 10), (USD, 300), (VOL, 300), (USD, 5_000), (VOL, 5_000))
"""(coinIn, size in USD) in turn: buys of VOL with USD and sales of as much VOL (the size over the
pool's price when the timing starts), small to large, so each client's wallet stays level but for
the pool's fee."""

# part 2
HOLDER_VOL = 1
"""Whole VOL each holder deposits."""
POOL_VOL = 1_000_000
BENCH_DIVISOR = 1_000
"""The divisor of the rebase run: a target of $0.80 needs $800 of volume a day, one small trade."""
TARGET_SHARE = 0.8
"""The target the day's volume is sized to, as a share of the pool's price."""
MAKER_LEVELS = 20
"""Orders a side the treasury keeps resting on VOL/USD (a rebase cancels them)."""
BUILD_CHUNK = 100_000
DAY0 = 20_000 * DAY_US  # a UTC midnight (2024-10-04)


def _note(message: str) -> None:
    click.echo(message, err=True)


def _ok(events: list[Event]) -> list[Event]:
    if events and isinstance(events[0], Rejected):
        raise RuntimeError(f"benchmark setup rejected: {events[0].error}")
    return events


# ----------------------------------------------------------------------------- part 1: the API


@dataclass
class Client:
    http: Http
    key: str
    secret: str
    sent: int = 0  # swaps so far: which of SIZES comes next
    price: float = 1.0  # the pool's price when the timing started: VOL sizes are USD sizes over it


@dataclass
class Tally:
    """One kind's timed chunks: requests answered with success, server CPU and wall seconds, and the
    latency of each (ms)."""

    ok: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


async def _swaps(client: Client, n: int, tally: Tally, failures: Counter[str]) -> int:
    http, clock, done = client.http, time.perf_counter, 0
    for _ in range(n):
        coin, usd = SIZES[client.sent % len(SIZES)]
        client.sent += 1
        size = usd if coin == USD else round(usd / client.price, 2)
        body = f'{{"coinIn":"{coin}","size":{size},"minOut":0}}'.encode()
        head = http.head("POST", SWAPS_PATH, body, client.key, client.secret)
        t0 = clock()
        status, reply = await http.request(head, body)
        t1 = clock()
        succeeded, error = _succeeded(status, reply)
        if succeeded:
            tally.latencies_ms.append((t1 - t0) * 1000)
            done += 1
        else:
            failures[f"swap: {error}"] += 1
    return done


async def _markets(client: Client, n: int, tally: Tally, failures: Counter[str]) -> int:
    http, clock, done = client.http, time.perf_counter, 0
    head = http.head("GET", MARKETS_PATH, b"")
    for _ in range(n):
        t0 = clock()
        status, _reply = await http.request(head)
        t1 = clock()
        if status == 200:
            tally.latencies_ms.append((t1 - t0) * 1000)
            done += 1
        else:
            failures[f"markets: HTTP {status}"] += 1
    return done


def _account(server: Server, name: str, usd: int) -> tuple[str, str]:
    keys = server.operator("/operator/accounts", {"name": name})
    server.operator("/operator/deposits", {"account": name, "coin": USD, "size": usd})
    return str(keys["apiKey"]), str(keys["apiSecret"])


def _wallet(server: Server, key: str, secret: str) -> dict[str, float]:
    return {
        b["coin"]: float(b["total"])
        for b in _signed(server, key, secret, "GET", "/api/wallet/balances", None)
    }


async def _api_timing(
    server: Server, count: int, per_client: int, repeat: int, clients_n: int
) -> dict[str, Any]:
    server.operator("/operator/clock/advance", {"seconds": 2})
    treasury = _account(server, "bench-vol-treasury", TREASURY_USD)
    server.operator(
        "/operator/volume_token/issue",
        {"account": "bench-vol-treasury", "supply": API_POOL_VOL, "divisor": API_DIVISOR},
    )
    _signed(
        server, *treasury, "POST", "/api/volume_token/liquidity", {"vol": API_POOL_VOL, "usd": API_POOL_VOL}
    )
    keys = [_account(server, f"bench-vol-{i}", CLIENT_USD) for i in range(clients_n)]
    # untimed: every client buys VOL to sell later; a probe checks that a swap moved its wallet
    before = _wallet(server, *keys[0])
    for key, secret in keys:
        _signed(server, key, secret, "POST", SWAPS_PATH, {"coinIn": USD, "size": CLIENT_VOL_USD})
    after = _wallet(server, *keys[0])
    bought = after.get(VOL, 0.0) - before.get(VOL, 0.0)
    paid = before.get(USD, 0.0) - after.get(USD, 0.0)
    if not (paid == CLIENT_VOL_USD and CLIENT_VOL_USD * 0.98 < bought < CLIENT_VOL_USD):
        raise RuntimeError(f"benchmark setup: the probe swap paid {paid} USD for {bought} VOL")

    pool = _public(server, "/api/volume_token/pool") or {}
    price = float(pool.get("price") or 1.0)
    clients = [
        Client(await Http.open("127.0.0.1", server.port), key, secret, price=price) for key, secret in keys
    ]
    chunk = per_client * clients_n
    failures: Counter[str] = Counter()
    runs: list[dict[str, Tally]] = []
    pid = server.process.pid
    snapshots_before = server.snapshots()

    async def timed(kind: str, tally: Tally, counts: Sequence[int]) -> None:
        cpu0, t0 = _server_cpu_s(pid), time.perf_counter()
        send = _swaps if kind == "swap" else _markets
        done = await asyncio.gather(
            *(send(c, n, tally, failures) for c, n in zip(clients, counts, strict=True))
        )
        spent, cpu1 = time.perf_counter() - t0, _server_cpu_s(pid)
        if cpu0 is None or cpu1 is None:
            raise RuntimeError("the server's CPU time is not readable here (/proc)")
        tally.ok += sum(done)
        tally.cpu_s += cpu1 - cpu0
        tally.wall_s += spent

    try:
        for _ in range(repeat):
            tally = {kind: Tally() for kind in KINDS}
            for n, lo in enumerate(range(0, count, chunk)):
                counts = _split(min(count, lo + chunk) - lo, clients_n)
                counts += [0] * (clients_n - len(counts))
                for kind in KINDS if n % 2 == 0 else KINDS[::-1]:
                    await timed(kind, tally[kind], counts)
                if failures:
                    raise RuntimeError(f"requests refused during the timing: {dict(failures)}")
            runs.append(tally)
    finally:
        for client in clients:
            await client.http.close()

    def rate(t: Tally) -> float:
        return t.ok / t.cpu_s if t.cpu_s > 0 else 0.0

    rates = {kind: [rate(r[kind]) for r in runs] for kind in KINDS}
    ratios = [a / b if b else 0.0 for a, b in zip(rates["swap"], rates["markets"], strict=True)]
    out: dict[str, Any] = {}
    for kind in KINDS:
        latencies = sorted(x for r in runs for x in r[kind].latencies_ms)
        wall = sum(r[kind].ok for r in runs) / max(sum(r[kind].wall_s for r in runs), 1e-9)
        out[kind] = {
            "per_s": round(statistics.median(rates[kind])),
            "per_s_each": [round(x) for x in rates[kind]],
            "wall_per_s": round(wall),
            "p50_ms": round(_percentile(latencies, 0.5), 3),
            "p99_ms": round(_percentile(latencies, 0.99), 3),
            "ok": sum(r[kind].ok for r in runs),
        }
    out["swap"]["vs_markets"] = round(statistics.median(ratios), 3)
    out["swap"]["ratios"] = [round(x, 3) for x in ratios]
    cpu = sum(t.cpu_s for r in runs for t in r.values())
    elapsed = sum(t.wall_s for r in runs for t in r.values())
    pool = _public(server, "/api/volume_token/pool")
    return {
        "swaps": out["swap"],
        "markets": out["markets"],
        "requests_per_repeat": count,
        "repeat": repeat,
        "clients": clients_n,
        "per_client": per_client,
        "server_cpu_percent": round(100 * cpu / elapsed, 1) if elapsed else None,
        "snapshots": len(server.snapshots() - snapshots_before),
        "pool": pool,
    }


def _public(server: Server, path: str) -> Any:
    """A public GET's result, or None where the route answers no success (the run goes on)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(server.base + path, timeout=30) as reply:
            answer = json.loads(reply.read())
    except (urllib.error.URLError, ValueError):
        return None
    return answer.get("result") if answer.get("success") else None


def api(count: int, per_client: int, repeat: int, clients: int = CLIENTS) -> dict[str, Any]:
    """Part 1: a real server (api.py's Server), the token issued and its pool seeded, `clients`
    signed clients swapping `count` times a repeat against GET /api/markets, in chunks of
    `per_client` requests of one kind a client, timed by the server's CPU time, `repeat` times."""
    with tempfile.TemporaryDirectory(prefix="backstop-bench-vol-") as tmp:
        server = Server(Path(tmp))
        try:
            result = asyncio.run(_api_timing(server, count, per_client, repeat, clients))
        except BaseException:
            code = server.process.poll()
            server.stop()
            if code is not None:
                _note(
                    f"the server stopped during the run (exit code {code}); its output:\n{server.log_tail()}"
                )
            raise
        server.stop()
    return result


# ----------------------------------------------------------------------------- part 2: one rebase


class Holders:
    """An exchange with the volume token and `count` holders, and the treasury's daily routine up to
    each rebase (the module's docstring, part 2)."""

    TREASURY, TAKER = 0, 1  # account ids, in creation order

    def __init__(self, count: int, progress: bool = False) -> None:
        self.count = count
        self.vt = VolumeToken()
        self.ex = products.exchange(products=(self.vt,))
        self.ts = DAY0 + SECOND_US
        self.book = self.ex.books[SPOT]
        ex, ts = self.ex, self.ts
        supply = (POOL_VOL + count * HOLDER_VOL) * ATOM
        apply = ex.apply
        _ok(apply(CreateAccount(ts, "treasury")))
        _ok(apply(CreateAccount(ts, "taker")))
        _ok(apply(Deposit(ts, self.TREASURY, USD, 10 * POOL_VOL * ATOM)))
        _ok(apply(Deposit(ts, self.TAKER, USD, 10 * POOL_VOL * ATOM)))
        _ok(apply(IssueVolumeToken(ts, self.TREASURY, supply, BENCH_DIVISOR)))
        seed = POOL_VOL * ATOM // 2
        _ok(apply(AddVolumeLiquidity(ts, self.TREASURY, seed, seed, 0)))
        _ok(apply(Withdraw(ts, self.TREASURY, VOL, count * HOLDER_VOL * ATOM)))
        t0 = time.perf_counter()
        first = len(ex.accounts)
        for n in range(count):
            _ok(apply(CreateAccount(ts, f"h{n}")))
            _ok(apply(Deposit(ts, first + n, VOL, HOLDER_VOL * ATOM)))
            if progress and (n + 1) % BUILD_CHUNK == 0:
                _note(f"  {n + 1:,} / {count:,} holders ({time.perf_counter() - t0:.0f} s)")
        self.build_s = time.perf_counter() - t0
        # the pool must hold both coins for a whole TWAP window before a rebase: start on day 2
        self.advance(DAY0 + 2 * DAY_US)

    def tick(self, ts: int) -> list[Event]:
        self.ts = ts
        return _ok(self.ex.apply(Tick(ts)))

    def advance(self, until: int) -> None:
        """Tick on every hour boundary before `until` (the product's minute observations need no
        more: the TWAP reads the oldest one inside its window), then at `until`."""
        hour = (self.ts // HOUR_US + 1) * HOUR_US
        while hour < until:
            self.tick(hour)
            hour += HOUR_US
        self.tick(until)

    def prepare(self) -> int:
        """The day's routine up to the rebase: the first Tick of a period draws its rebase second (a
        period whose second comes too soon after it to time a Tick before it is passed over); the
        treasury sells the day's volume to the taker on VOL/USD and quotes the book; the exchange is
        ticked up to two seconds before the rebase. Its time, us."""
        st = self.vt.state
        while True:
            day = self.ts // DAY_US
            if st.period == day and not st.done and st.due > self.ts + 3 * SECOND_US:
                break
            self.advance((day + 1) * DAY_US)
        due = st.due
        ex, ts, book = self.ex, self.ts, self.book
        price = pool.price(ex, VOL)
        ticks = max(price // book.info.tick_atoms, MAKER_LEVELS + 2)
        volume = int(price * TARGET_SHARE) * BENCH_DIVISOR  # the target at TARGET_SHARE of the price
        lots = max(volume // (ticks * book.info.tick_value), 1)
        _ok(ex.apply(PlaceOrder(ts, self.TREASURY, SPOT, "sell", lots, ticks)))
        _ok(ex.apply(PlaceOrder(ts, self.TAKER, SPOT, "buy", lots, ticks, ioc=True)))
        for level in range(1, MAKER_LEVELS + 1):
            _ok(ex.apply(PlaceOrder(ts, self.TREASURY, SPOT, "buy", 100, ticks - level, post_only=True)))
            _ok(ex.apply(PlaceOrder(ts, self.TREASURY, SPOT, "sell", 100, ticks + level, post_only=True)))
        self.advance(due - 2 * SECOND_US)
        return due

    def rebase(self) -> tuple[float, float, VolumeRebased, int]:
        """(CPU seconds of the Tick a second before the rebase, of the Tick that rebases, its event,
        the orders it cancelled), after `prepare`."""
        due = self.vt.state.due
        clock = time.process_time
        t0 = clock()
        self.ex.apply(Tick(due - SECOND_US))
        t1 = clock()
        events = self.ex.apply(Tick(due))
        t2 = clock()
        self.ts = due
        rebased = [cast(VolumeRebased, e) for e in events if isinstance(e, VolumeRebased)]
        if not rebased or rebased[0].units_after == rebased[0].units_before:
            raise RuntimeError(f"the timed Tick did not rebase: {events[:3]}")
        cancelled = sum(1 for e in events if isinstance(e, OrderClosed) and e.market == SPOT)
        return t1 - t0, t2 - t1, rebased[0], cancelled


def rebases(sizes: Sequence[int], count: int) -> dict[str, Any]:
    """Part 2: an exchange per holder count in `sizes`, `count` rebases each, interleaved."""
    built: list[Holders] = []
    for n in sizes:
        _note(f"  building {n:,} holders")
        built.append(Holders(n, progress=n >= 10 * BUILD_CHUNK))
    tune_gc()
    plain: dict[int, list[float]] = {n: [] for n in sizes}
    rebase: dict[int, list[float]] = {n: [] for n in sizes}
    supply: dict[int, list[int]] = {n: [] for n in sizes}
    cancelled: dict[int, int] = {}
    for h in built:  # one untimed rebase each first: the caches the timed ones find are warm
        h.prepare()
        h.rebase()
    for r in range(count):
        order = built if r % 2 == 0 else built[::-1]
        for h in order:
            h.prepare()
        gc.collect()
        for h in order:
            before, during, event, orders = h.rebase()
            plain[h.count].append(before)
            rebase[h.count].append(during)
            supply[h.count].append(event.delta)
            cancelled[h.count] = orders
    for h in built:
        if h.ex.discrepancies():
            raise RuntimeError(
                f"the exchange with {h.count:,} holders is not conserved: {h.ex.discrepancies()}"
            )
    small, large = sizes[0], sizes[-1]
    ratio = [b / a for a, b in zip(rebase[small], rebase[large], strict=True)]
    result: dict[str, Any] = {
        "rebases": count,
        "holder_vol": HOLDER_VOL,
        "maker_orders": 2 * MAKER_LEVELS,
        "sizes": {},
        "ratio": round(statistics.median(rebase[large]) / statistics.median(rebase[small]), 3),
        "ratios": [round(x, 3) for x in ratio],
        "plain_ratio": round(statistics.median(plain[large]) / statistics.median(plain[small]), 3),
    }
    for h in built:
        n = h.count
        result["sizes"][str(n)] = {
            "holders": n,
            "accounts": len(h.ex.accounts),
            "build_s": round(h.build_s, 1),
            "rebase_us": round(statistics.median(rebase[n]) * 1e6, 1),
            "rebase_us_each": [round(x * 1e6, 1) for x in rebase[n]],
            "tick_us": round(statistics.median(plain[n]) * 1e6, 1),
            "tick_us_each": [round(x * 1e6, 1) for x in plain[n]],
            "orders_cancelled": cancelled[n],
            "supply_deltas_vol": [round(d / ATOM, 2) for d in supply[n]],
        }
    return result


# ----------------------------------------------------------------------------- report


def run(
    requests_count: int,
    per_client: int,
    repeat: int,
    holders: Sequence[int],
    rebase_count: int,
    as_json: bool,
    clients: int = CLIENTS,
    with_api: bool = True,
) -> dict[str, Any]:
    build_ = build_kind()
    result: dict[str, Any] = {"engine_build": build_}
    if with_api:
        if not as_json:
            _note(f"swaps through the API: {requests_count:,} x {repeat}, {clients} clients ({build_})")
        result["api"] = api(requests_count, per_client, repeat, clients)
    if not as_json:
        _note(f"one rebase with {' and '.join(f'{n:,}' for n in holders)} holders, x{rebase_count}")
    result["rebase"] = rebases(holders, rebase_count)
    if as_json:
        print(json.dumps(result))
        return result
    print(f"engine build        {build_}")
    if "api" in result:
        p = result["api"]
        print(
            f"swaps through the API ({p['clients']} clients, signed REST, {p['requests_per_repeat']:,} "
            f"of each x{p['repeat']}, chunks of {p['per_client']} a client; server CPU time)"
        )
        for kind, label, what in (
            ("swaps", "swaps", f"POST {SWAPS_PATH}"),
            ("markets", "baseline", f"GET {MARKETS_PATH}"),
        ):
            k = p[kind]
            print(
                f"  {label:<18}{k['per_s']:>10,} /s  p50 {k['p50_ms']:.2f} ms  p99 {k['p99_ms']:.2f} ms"
                f"  {what}  (wall clock {k['wall_per_s']:,}/s)"
            )
        print(f"  swaps / markets   {p['swaps']['vs_markets']:>10}  per repeat {p['swaps']['ratios']}")
        cpu, snaps = p["server_cpu_percent"], p["snapshots"]
        print(f"  (server at {cpu}% of a core; {snaps} snapshots during the timing)")
    r = result["rebase"]
    print(
        f"one rebase (the Tick that rebases, CPU time; median of {r['rebases']}, interleaved; "
        f"{r['maker_orders']} orders resting on {SPOT}, cancelled by each)"
    )
    for n, s in r["sizes"].items():
        print(
            f"  {int(n):>9,} holders  rebase {s['rebase_us']:>8.1f} us  tick before it "
            f"{s['tick_us']:>7.1f} us  per rebase {s['rebase_us_each']}  (built in {s['build_s']} s)"
        )
    print(f"  rebase ratio      {r['ratio']:>10}  per rebase {r['ratios']}  (largest / smallest: near 1)")
    print(f"  plain tick ratio  {r['plain_ratio']:>10}")
    return result
