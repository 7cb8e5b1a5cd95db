"""`backstop bench engine`: commands per second through the engine, alone and behind the journal,
per-command latency, and a minimal dict-of-deques book fed the same commands as the baseline."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from backstop.bench.baseline import BaselineVenue
from backstop.bench.workload import MARKETS, Workload, build, prepare
from backstop.engine.accounts import Account
from backstop.engine.commands import PlaceOrder
from backstop.engine.events import Event, Fill, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler, Product
from backstop.server.runtime import Runtime, tune_gc


class Idle(NamedTuple):
    ts: int


class IdleProduct:
    """A product that does nothing, with one command and both hooks: registered, it shows what the
    product seam itself costs the engine (a handler more, hooks to call)."""

    name = "idle"
    code_base = 99_000
    coins: tuple[str, ...] = ()

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {0: (Idle, _idle)}

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        pass

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        pass

    def canonical(self) -> Any:
        return []

    def restore(self, state: Any) -> None:
        pass


def _idle(ex: Exchange, command: Idle, ts: int) -> list[Event]:
    return []


def _engine_throughput(workload: Workload, with_products: tuple[Product, ...] | None = None) -> float:
    """Commands/s through `apply`, events dropped as they come (as a runtime does once it has
    published them), so freeing them is inside the timing."""
    exchange = prepare(workload, with_products)
    apply = exchange.apply
    commands = workload.commands
    tune_gc()
    start = time.perf_counter()
    for c in commands:
        apply(c)
    return len(commands) / (time.perf_counter() - start)


def _engine_outcomes(workload: Workload) -> tuple[Counter[str], int, str]:
    """What the mix did (rejections by error, fills) and the final state hash; not timed."""
    exchange = prepare(workload)
    rejected: Counter[str] = Counter()
    fills = 0
    for c in workload.commands:
        events = exchange.apply(c)
        if events and isinstance(events[0], Rejected):
            rejected[events[0].error] += 1
        fills += sum(1 for e in events if isinstance(e, Fill))
    return rejected, fills, exchange.state_hash()


def _engine_latency(workload: Workload) -> tuple[float, float]:
    exchange = prepare(workload)
    apply = exchange.apply
    tune_gc()
    clock = time.perf_counter_ns
    samples = []
    append = samples.append
    for c in workload.commands:
        t0 = clock()
        apply(c)
        append(clock() - t0)
    samples.sort()
    n = len(samples)
    return samples[n // 2] / 1000, samples[min(n - 1, (n * 99) // 100)] / 1000


def _journal_throughput(workload: Workload, batch: int) -> float:
    with (
        tempfile.TemporaryDirectory(prefix="backstop-bench-") as tmp,
        Runtime(Path(tmp), snapshot_every=10**12) as runtime,
    ):
        for i in range(0, len(workload.setup), batch):
            runtime.submit(workload.setup[i : i + batch])
        commands = workload.commands
        submit = runtime.submit
        tune_gc()
        start = time.perf_counter()
        for i in range(0, len(commands), batch):
            submit(commands[i : i + batch])
        elapsed = time.perf_counter() - start
    return len(commands) / elapsed


def _baseline_throughput(workload: Workload) -> float:
    venue = BaselineVenue(list(MARKETS))
    for c in workload.setup:
        if type(c) is PlaceOrder:
            venue.place(c.market, c.side == "buy", c.price, c.size)
    ops = []
    for c in workload.commands:
        if type(c) is PlaceOrder:
            ops.append((c.market, c.side == "buy", c.price, c.size))
        else:
            ops.append(c.order_id)
    place, cancel = venue.place, venue.cancel
    tune_gc()
    start = time.perf_counter()
    for op in ops:
        if type(op) is tuple:
            place(*op)
        else:
            cancel(op)
    elapsed = time.perf_counter() - start
    return len(ops) / elapsed


def build_kind() -> str:
    """Whether the engine running here was compiled by mypyc or is the pure-Python source."""
    import backstop.engine.exchange as module

    compiled = not module.__file__ or not module.__file__.endswith(".py")
    return "compiled (mypyc)" if compiled else "pure Python"


def run(count: int, batch: int, seed: int, as_json: bool) -> dict:
    workload = build(count, seed=seed)
    mix = Counter(type(c).__name__ for c in workload.commands)
    rejected, fills, final_hash = _engine_outcomes(workload)
    engine_rate = _engine_throughput(workload)
    p50, p99 = _engine_latency(workload)
    journal_rate = _journal_throughput(workload, batch)
    baseline_rate = _baseline_throughput(workload)
    product_rate = _engine_throughput(workload, (IdleProduct(),))
    result = {
        "commands": len(workload.commands),
        "accounts": 1000,
        "markets": list(MARKETS),
        "mix": dict(mix),
        "fills": fills,
        "resting_orders_at_end": workload.resting_at_end,
        "rejected": dict(rejected),
        "state_hash": final_hash,
        "engine_build": build_kind(),
        "engine_commands_per_s": round(engine_rate),
        "journal_commands_per_s": round(journal_rate),
        "journal_batch": batch,
        "baseline_ops_per_s": round(baseline_rate),
        "engine_vs_baseline": round(engine_rate / baseline_rate, 3),
        "engine_with_product_vs_baseline": round(product_rate / baseline_rate, 3),
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
    }
    if as_json:
        print(json.dumps(result))
    else:
        print(f"engine build      {result['engine_build']}")
        print(f"commands          {result['commands']:>12,}  mix {dict(mix)}")
        print(f"fills             {fills:>12,}  rejected {sum(rejected.values()):,} {dict(rejected)}")
        print(f"resting orders    {workload.resting_at_end:>12,}  (book size at the end, steady state)")
        print(f"engine only       {result['engine_commands_per_s']:>12,} commands/s (margin checks on)")
        print(f"with journal      {result['journal_commands_per_s']:>12,} commands/s (fsync per {batch})")
        print(f"latency           p50 {p50:.2f} us   p99 {p99:.2f} us")
        print(f"baseline book     {result['baseline_ops_per_s']:>12,} ops/s (dict of deques, no accounts)")
        print(f"engine / baseline {result['engine_vs_baseline']:>12}")
        print(f"  with a product  {result['engine_with_product_vs_baseline']:>12}  (an idle one registered)")
    return result
