"""`backstop bench otc`: the OTC desk's quotes and accepts through the API, and what FTT's fee
discount costs the engine's hot path.

Two parts, one run:

1. **Quote requests and accepts per second through the API.** `backstop serve` as `bench api` starts
   it (api.py's `Server`: manual clock and feed, no agents) on a free port. Over the operator API a
   provider account is created, funded (USD and BTC) and registered (`POST /operator/otc/providers`);
   it streams one deep firm BTC/USD ladder (`POST /api/otc/ladders`: LADDER_LEVELS levels a side,
   0.05 BTC apart up to 10 BTC, $1 wider a level). 16 clients (`--clients`), each its own account
   (funded with USD and BTC), API key and keep-alive connection (api.py's `Http`, requests signed
   FTX's way), then send `POST /api/otc/quotes {fromCoin, toCoin, size}` and, for every quote,
   `POST /api/otc/quotes/{id}/accept` (each must answer success, or the run fails), against the
   baseline of unauthenticated `GET /api/markets` from the same clients and connections. Requests
   alternate selling BTC and buying it with USD, over sizes that reach levels 1 to 100 of the
   ladder (SIZES), so wallets stay level and the ladder's scan is not always one level deep.
   A requester may hold MAX_LIVE_QUOTES (10) live quotes, so the run goes in rounds: each client
   requests up to `--per-client` quotes (a chunk of quotes), then accepts them all (a chunk of
   accepts), and sends as many `GET /api/markets` (a chunk of the baseline) before, between or after
   them (the position rotating each round). Every chunk is timed by the server process's CPU time
   (its threads' schedstat run time); quotes/s, accepts/s and markets/s are requests answered with
   success over that CPU time, with each kind's ratio to the baseline, `--repeat` times; latency
   p50/p99 per kind is from writing a request to having read its reply (16 clients in flight, so
   it includes the server's queue). The manual clock never moves, so no quote expires (12 s).

2. **The cost of FTT's fee discount on the engine's hot path.** The engine bench's workload
   (bench/workload.py: 1,000 owners, limit orders, cancels and crossing orders) through two
   exchanges with the FTT product registered, identical but for one thing: on one, before the run,
   every owner's fee adjustment is set directly on its `fees.Volume` (`adjust(discount, maker_cap,
   taker_cap)`) to what FTT's schedule gives for holding HOLDING_USD of FTT (`tiers.Schedule.
   benefits`: 40% off positive rates); on the other no owner is adjusted. Setting it directly, not
   by depositing FTT and letting the product's minute refresh find it, keeps the two books and
   wallets identical (no extra coin in every margin check): only the fee seam differs. The workload
   has no Ticks, so the product's refresh does not run in either. Both, and the dict-of-deques
   baseline book, are fed interleaved in chunks (the order rotating) by CPU time
   (`time.process_time`), `--repeat` times: each engine's commands/s over the baseline's ops/s, and
   the change with the discount on. The run checks that the discount took effect (the discounted
   exchange booked less fee revenue) and that the fills were the same (equal traded volume).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from backstop import products
from backstop.bench.api import Http, Server, _percentile, _split, _succeeded
from backstop.bench.engine import build_kind
from backstop.bench.measure import baseline_runner, baseline_venue, engine_runner, interleave
from backstop.bench.products import _collect, _server_cpu_s, _signed
from backstop.bench.workload import build, prepare
from backstop.engine.amounts import ATOM
from backstop.engine.exchange import Exchange
from backstop.products.ftt import tiers
from backstop.products.otc.params import MAX_LIVE_QUOTES
from backstop.server.runtime import tune_gc

INDEX = {"BTC": 30_000, "ETH": 2_000}
BASE, QUOTE = "BTC", "USD"
LADDER_LEVELS = 200  # a side; level k (1..) covers up to 0.05 k BTC at the index -/+ k dollars
LADDER_STEP = Decimal("0.05")
PROVIDER_USD = 200_000_000
PROVIDER_BTC = 5_000
CLIENT_USD = 20_000_000
CLIENT_BTC = 500
# (fromCoin, toCoin, size in fromCoin): sells of BTC and buys of as much BTC with USD, reaching
# ladder levels 1, 10, 40 and 100
SIZES = (
    (BASE, QUOTE, "0.01"),
    (QUOTE, BASE, "300"),
    (BASE, QUOTE, "0.5"),
    (QUOTE, BASE, "15000"),
    (BASE, QUOTE, "2"),
    (QUOTE, BASE, "60000"),
    (BASE, QUOTE, "5"),
    (QUOTE, BASE, "150000"),
)
MARKETS_PATH = "/api/markets"
KINDS = ("quote", "accept", "markets")
CLIENTS = 16
HOLDING_USD = 1_000_000  # FTT held, in USD: FTX's 40% holding discount


def _note(message: str) -> None:
    click.echo(message, err=True)


# ----------------------------------------------------------------------------- part 1: the API


@dataclass
class Client:
    http: Http
    key: str
    secret: str
    sent: int = 0  # quotes requested so far: which of SIZES comes next
    live: list[int] = field(default_factory=list)  # quote ids requested, not yet accepted


@dataclass
class Tally:
    """One kind's timed chunks: requests answered with success, server CPU and wall seconds, and the
    latency of each (ms)."""

    ok: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


async def _quotes(client: Client, n: int, tally: Tally, failures: Counter[str]) -> int:
    http, clock, done = client.http, time.perf_counter, 0
    for _ in range(n):
        from_coin, to_coin, size = SIZES[client.sent % len(SIZES)]
        client.sent += 1
        body = f'{{"fromCoin":"{from_coin}","toCoin":"{to_coin}","size":{size}}}'.encode()
        head = http.head("POST", "/api/otc/quotes", body, client.key, client.secret)
        t0 = clock()
        status, reply = await http.request(head, body)
        t1 = clock()
        succeeded, error = _succeeded(status, reply)
        if succeeded:
            client.live.append(int(json.loads(reply)["result"]["quoteId"]))
            tally.latencies_ms.append((t1 - t0) * 1000)
            done += 1
        else:
            failures[f"quote: {error}"] += 1
    return done


async def _accepts(client: Client, tally: Tally, failures: Counter[str]) -> int:
    http, clock, done = client.http, time.perf_counter, 0
    for quote_id in client.live:
        head = http.head("POST", f"/api/otc/quotes/{quote_id}/accept", b"", client.key, client.secret)
        t0 = clock()
        status, reply = await http.request(head)
        t1 = clock()
        succeeded, error = _succeeded(status, reply)
        if succeeded:
            tally.latencies_ms.append((t1 - t0) * 1000)
            done += 1
        else:
            failures[f"accept: {error}"] += 1
    client.live.clear()
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


def _ladder() -> dict[str, Any]:
    index = INDEX[BASE]
    levels = range(1, LADDER_LEVELS + 1)
    return {
        "base": BASE,
        "quote": QUOTE,
        "bids": [[float(LADDER_STEP * k), index - k] for k in levels],
        "asks": [[float(LADDER_STEP * k), index + k] for k in levels],
    }


def _account(server: Server, name: str, usd: int, btc: int) -> tuple[str, str]:
    keys = server.operator("/operator/accounts", {"name": name})
    server.operator("/operator/deposits", {"account": name, "coin": QUOTE, "size": usd})
    server.operator("/operator/deposits", {"account": name, "coin": BASE, "size": btc})
    return str(keys["apiKey"]), str(keys["apiSecret"])


def _wallet(server: Server, key: str, secret: str) -> dict[str, float]:
    return {
        b["coin"]: float(b["total"])
        for b in _signed(server, key, secret, "GET", "/api/wallet/balances", None)
    }


async def _api_timing(
    server: Server, count: int, per_client: int, repeat: int, clients_n: int
) -> dict[str, Any]:
    server.operator("/operator/index_prices", {"prices": INDEX})
    server.operator("/operator/clock/advance", {"seconds": 2})
    provider = _account(server, "bench-otc-provider", PROVIDER_USD, PROVIDER_BTC)
    server.operator("/operator/otc/providers", {"account": "bench-otc-provider"})
    set_ = _signed(server, *provider, "POST", "/api/otc/ladders", _ladder())
    if (set_["bidLevels"], set_["askLevels"]) != (LADDER_LEVELS, LADDER_LEVELS):
        raise RuntimeError(f"benchmark setup: the ladder was not set whole: {set_}")
    keys = [_account(server, f"bench-otc-{i}", CLIENT_USD, CLIENT_BTC) for i in range(clients_n)]
    # a probe, untimed: a quote is priced at the ladder's first level and its accept settles both wallets
    key, secret = keys[0]
    before = _wallet(server, key, secret)
    quoted = _signed(
        server, key, secret, "POST", "/api/otc/quotes", {"fromCoin": BASE, "toCoin": QUOTE, "size": 0.01}
    )
    qid = quoted["quoteId"]
    view = _signed(server, key, secret, "GET", f"/api/otc/quotes/{qid}", None)
    if (view["side"], view["price"], view["proceeds"]) != ("sell", INDEX[BASE] - 1, (INDEX[BASE] - 1) / 100):
        raise RuntimeError(f"benchmark setup: the probe quote is not the ladder's first level: {view}")
    _signed(server, key, secret, "POST", f"/api/otc/quotes/{qid}/accept", None)
    after = _wallet(server, key, secret)
    moved = (round(after[BASE] - before[BASE], 8), round(after[QUOTE] - before[QUOTE], 8))
    if (
        moved != (-0.01, view["proceeds"])
        or not _signed(server, key, secret, "GET", f"/api/otc/quotes/{qid}", None)["filled"]
    ):
        raise RuntimeError(f"benchmark setup: the probe accept did not settle: {moved}")

    clients: list[Client] = []
    for key, secret in keys:
        clients.append(Client(await Http.open("127.0.0.1", server.port), key, secret))
    chunk = per_client * clients_n  # quotes (and accepts, and markets requests) a round
    failures: Counter[str] = Counter()
    runs: list[dict[str, Tally]] = []
    pid = server.process.pid
    snapshots_before = server.snapshots()

    async def timed(kind: str, tally: Tally, counts: Sequence[int]) -> None:
        cpu0, t0 = _server_cpu_s(pid), time.perf_counter()
        if kind == "quote":
            done = await asyncio.gather(
                *(_quotes(c, n, tally, failures) for c, n in zip(clients, counts, strict=True))
            )
        elif kind == "accept":
            done = await asyncio.gather(*(_accepts(c, tally, failures) for c in clients))
        else:
            done = await asyncio.gather(
                *(_markets(c, n, tally, failures) for c, n in zip(clients, counts, strict=True))
            )
        spent, cpu1 = time.perf_counter() - t0, _server_cpu_s(pid)
        if cpu0 is None or cpu1 is None:
            raise RuntimeError("the server's CPU time is not readable here (/proc)")
        tally.ok, tally.cpu_s, tally.wall_s = (
            tally.ok + sum(done),
            tally.cpu_s + cpu1 - cpu0,
            tally.wall_s + spent,
        )

    orders = (("markets", "quote", "accept"), ("quote", "markets", "accept"), ("quote", "accept", "markets"))
    try:
        for _ in range(repeat):
            tally = {kind: Tally() for kind in KINDS}
            for n, lo in enumerate(range(0, count, chunk)):
                counts = _split(min(count, lo + chunk) - lo, clients_n)
                counts += [0] * (clients_n - len(counts))
                for kind in orders[n % len(orders)]:
                    await timed(kind, tally[kind], counts)
                if failures:
                    raise RuntimeError(f"requests refused during the timing: {dict(failures)}")
            runs.append(tally)
    finally:
        for client in clients:
            await client.http.close()
    if failures:
        raise RuntimeError(f"requests refused during the timing: {dict(failures)}")

    def rate(t: Tally) -> float:
        return t.ok / t.cpu_s if t.cpu_s > 0 else 0.0

    rates = {kind: [rate(r[kind]) for r in runs] for kind in KINDS}
    ratios = {
        kind: [a / b for a, b in zip(rates[kind], rates["markets"], strict=True)]
        for kind in ("quote", "accept")
    }
    out: dict[str, Any] = {}
    for kind in KINDS:
        latencies = sorted(x for r in runs for x in r[kind].latencies_ms)
        wall = sum(r[kind].ok for r in runs) / sum(r[kind].wall_s for r in runs)
        out[kind] = {
            "per_s": round(statistics.median(rates[kind])),
            "per_s_each": [round(x) for x in rates[kind]],
            "wall_per_s": round(wall),
            "p50_ms": round(_percentile(latencies, 0.5), 3),
            "p99_ms": round(_percentile(latencies, 0.99), 3),
            "ok": sum(r[kind].ok for r in runs),
        }
        if kind in ratios:
            out[kind]["vs_markets"] = round(statistics.median(ratios[kind]), 3)
            out[kind]["ratios"] = [round(x, 3) for x in ratios[kind]]
    cpu = sum(t.cpu_s for r in runs for t in r.values())
    elapsed = sum(t.wall_s for r in runs for t in r.values())
    provider_wallet = _wallet(server, *provider)
    return {
        "quotes": out["quote"],
        "accepts": out["accept"],
        "markets": out["markets"],
        "requests_per_repeat": count,
        "repeat": repeat,
        "clients": clients_n,
        "per_client": per_client,
        "ladder_levels": LADDER_LEVELS,
        "server_cpu_percent": round(100 * cpu / elapsed, 1) if elapsed else None,
        "snapshots": len(server.snapshots() - snapshots_before),
        "provider_wallet": {coin: provider_wallet.get(coin, 0.0) for coin in (BASE, QUOTE)},
    }


def api(count: int, per_client: int, repeat: int, clients: int = CLIENTS) -> dict[str, Any]:
    """Part 1: a real server (api.py's Server), a provider's deep ladder, `clients` signed clients
    requesting `count` quotes a repeat and accepting each, against GET /api/markets, in rounds of
    `per_client` requests of one kind a client, timed by the server's CPU time, `repeat` times."""
    with tempfile.TemporaryDirectory(prefix="backstop-bench-otc-") as tmp:
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


# ----------------------------------------------------------------------------- part 2: the discount


def discount_all(ex: Exchange, held_usd: int = HOLDING_USD) -> tiers.Benefits:
    """Every owner's fee adjustment set to what holding `held_usd` of FTT gives (FTT's schedule)."""
    benefits = tiers.load().benefits(held_usd * ATOM, 0)
    for volume in ex.volumes.values():
        volume.adjust(benefits.discount, benefits.maker_cap, benefits.taker_cap)
    return benefits


def _traded(ex: Exchange) -> int:
    return sum(v.total for v in ex.volumes.values())


def engine_ratio(count: int, chunk: int, repeat: int, seed: int) -> dict[str, Any]:
    """Part 2: the workload through an exchange with FTT registered and every owner discounted, one
    with FTT registered and no discount, and the baseline book, interleaved in chunks; `repeat` times
    on fresh exchanges."""
    workload = build(count, seed=seed)
    commands = workload.commands
    n = len(commands)
    runs: list[dict[str, float]] = []
    hashes: set[str] = set()
    checks: dict[str, Any] = {}
    for _ in range(repeat):
        off = prepare(workload, products.load(["ftt"]))
        on = prepare(workload, products.load(["ftt"]))
        benefits = discount_all(on)
        venue, ops = baseline_venue(workload)
        runners = (
            engine_runner(off, commands, None),
            engine_runner(on, commands, None),
            baseline_runner(venue, ops),
        )
        tune_gc()
        s_off, s_on, s_base = interleave(runners, n, chunk)
        hashes.add(off.state_hash())
        fees_off, fees_on = off.fees.totals.get("USD", 0), on.fees.totals.get("USD", 0)
        if not 0 < fees_on < fees_off:
            raise RuntimeError(f"the discount did not lower the fees booked: {fees_on} vs {fees_off}")
        if _traded(on) != _traded(off):
            raise RuntimeError("the discounted exchange traded differently")
        checks = {
            "discount_ppm": benefits.discount,
            "maker_cap_ppm": benefits.maker_cap,
            "taker_cap_ppm": benefits.taker_cap,
            "fees_usd_off": round(fees_off / ATOM, 2),
            "fees_usd_on": round(fees_on / ATOM, 2),
            "traded_usd": round(_traded(on) / ATOM),
        }
        runs.append({"off": n / s_off, "on": n / s_on, "baseline": n / s_base})
        del off, on, venue
        _collect()
    ratio_off = [r["off"] / r["baseline"] for r in runs]
    ratio_on = [r["on"] / r["baseline"] for r in runs]
    change = [b / a - 1 for a, b in zip(ratio_off, ratio_on, strict=True)]
    return {
        "commands": n,
        "chunk": chunk,
        "repeat": repeat,
        "holding_usd": HOLDING_USD,
        "off_commands_per_s": round(statistics.median(r["off"] for r in runs)),
        "on_commands_per_s": round(statistics.median(r["on"] for r in runs)),
        "baseline_ops_per_s": round(statistics.median(r["baseline"] for r in runs)),
        "off_vs_baseline": round(statistics.median(ratio_off), 3),
        "on_vs_baseline": round(statistics.median(ratio_on), 3),
        "change_percent": round(statistics.median(change) * 100, 2),
        "ratios_off": [round(r, 3) for r in ratio_off],
        "ratios_on": [round(r, 3) for r in ratio_on],
        "changes_percent": [round(c * 100, 2) for c in change],
        "same_state": len(hashes) == 1,
        **checks,
    }


# ----------------------------------------------------------------------------- report


def run(
    requests_count: int,
    per_client: int,
    commands: int,
    chunk: int,
    repeat: int,
    seed: int,
    as_json: bool,
    clients: int = CLIENTS,
) -> dict[str, Any]:
    if not 1 <= per_client <= MAX_LIVE_QUOTES:
        raise ValueError(f"per_client must be 1 to {MAX_LIVE_QUOTES} (the live quotes a requester may hold)")
    build_ = build_kind()
    if not as_json:
        _note(
            f"quotes and accepts through the API: {requests_count:,} x {repeat}, {clients} clients ({build_})"
        )
    part1 = api(requests_count, per_client, repeat, clients)
    if not as_json:
        _note(f"the engine with FTT discounts on and off: {commands:,} commands x {repeat}")
    part2 = engine_ratio(commands, chunk, repeat, seed)
    result: dict[str, Any] = {"engine_build": build_, "api": part1, "discount": part2}
    if as_json:
        print(json.dumps(result))
        return result
    p = part1
    print(f"engine build        {build_}")
    print(
        f"OTC quotes and accepts through the API ({p['clients']} clients, signed REST, "
        f"{p['requests_per_repeat']:,} of each x{repeat}, rounds of {p['per_client']} a client; "
        "server CPU time)"
    )
    for kind, label, what in (
        ("quotes", "quote requests", "POST /api/otc/quotes"),
        ("accepts", "accepts", "POST /api/otc/quotes/{id}/accept"),
        ("markets", "baseline", f"GET {MARKETS_PATH}"),
    ):
        k = p[kind]
        print(
            f"  {label:<18}{k['per_s']:>10,} /s  p50 {k['p50_ms']:.2f} ms  p99 {k['p99_ms']:.2f} ms  {what}"
            f"  (wall clock {k['wall_per_s']:,}/s)"
        )
    print(f"  quotes / markets  {p['quotes']['vs_markets']:>10}  per repeat {p['quotes']['ratios']}")
    print(f"  accepts / markets {p['accepts']['vs_markets']:>10}  per repeat {p['accepts']['ratios']}")
    print(
        f"  ({p['ladder_levels']} levels a side in the provider's ladder; server at "
        f"{p['server_cpu_percent']}% of a core; {p['snapshots']} snapshots during the timing)"
    )
    e = part2
    print(
        f"the engine with FTT's fee discount on every owner ({e['commands']:,} commands, chunks of "
        f"{e['chunk']:,}, x{e['repeat']}; FTT registered in both)"
    )
    print(
        f"  discount          ${e['holding_usd']:,} of FTT held: {e['discount_ppm'] / 10_000:g}% off; "
        f"fees booked ${e['fees_usd_on']:,.2f} with it, ${e['fees_usd_off']:,.2f} without"
    )
    print(f"  discount off      {e['off_commands_per_s']:>10,} commands/s")
    print(f"  discount on       {e['on_commands_per_s']:>10,} commands/s")
    print(f"  baseline book     {e['baseline_ops_per_s']:>10,} ops/s (dict of deques)")
    print(f"  off / baseline    {e['off_vs_baseline']:>10}  per repeat {e['ratios_off']}")
    print(f"  on / baseline     {e['on_vs_baseline']:>10}  per repeat {e['ratios_on']}")
    print(f"  change            {e['change_percent']:>+9.2f}%  per repeat {e['changes_percent']}")
    return result
