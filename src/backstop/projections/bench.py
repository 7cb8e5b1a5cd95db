"""Throughput of the projection's writes: `python -m backstop.projections.bench [--postgres URL]`.

The engine benchmark's command mix (limit orders near the touch, cancels, crossing orders, 1,000
accounts, three markets) is applied once up front; its events are then written to a fresh
projection in batches of the server's usual size (live: one transaction per batch on the event
loop) and of the rebuild's (catching up from the journal). Only `on_batch` is timed. The cost of
staging rows in Python without any database is printed first, as the baseline from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backstop import products
from backstop.bench.workload import build
from backstop.engine.commands import Command
from backstop.engine.events import Event
from backstop.projections.sql import Projection
from backstop.projections.writer import Staged

Batch = tuple[list[Command], list[list[Event]], int]


def _batches(count: int, size: int, seed: int) -> list[Batch]:
    workload = build(count, seed=seed)
    ex = products.exchange()
    commands = workload.setup + workload.commands
    results = [ex.apply(c) for c in commands]
    out: list[Batch] = []
    for i in range(0, len(commands), size):
        chunk = commands[i : i + size]
        out.append((chunk, results[i : i + size], i + len(chunk)))
    return out


def _staging_only(batches: Sequence[Batch]) -> dict[str, float]:
    open_orders: dict[int, list[Any]] = {}
    rows = 0
    start = time.perf_counter()
    for _, results, seq_after in batches:
        staged = Staged(open_orders, lambda _: None)
        first = seq_after - len(results) + 1
        for i, events in enumerate(results):
            staged.add(first + i, events)
        staged.statements()
        staged.settle()
        rows += staged.count
    elapsed = time.perf_counter() - start
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


def _measure(open_projection: Callable[[], Projection], batches: Sequence[Batch]) -> dict[str, float]:
    p = open_projection()
    try:
        latencies = []
        rows = 0
        for commands, results, seq_after in batches:
            start = time.perf_counter()
            rows += p.on_batch(commands, results, seq_after)
            latencies.append(time.perf_counter() - start)
    finally:
        p.close()
    total = sum(latencies)
    latencies.sort()
    return {
        "rows": rows,
        "seconds": total,
        "rows_per_s": rows / total,
        "commands_per_s": batches[-1][2] / total,
        "batch_ms_median": statistics.median(latencies) * 1e3,
        "batch_ms_p99": latencies[int(len(latencies) * 0.99)] * 1e3,
    }


def run(count: int, batches: Sequence[int], postgres: str | None, seed: int = 7) -> list[str]:
    lines = []
    for size in batches:
        made = _batches(count, size, seed)
        commands = made[-1][2]
        base = _staging_only(made)
        lines.append(
            f"batch {size:>6} commands ({commands:,} commands, {int(base['rows']):,} rows): "
            f"staging only {base['rows_per_s']:>10,.0f} rows/s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            result = _measure(lambda: Projection.open(Path(tmp)), made)
        lines.append(_line("sqlite", result))
        if postgres is not None:
            name = f"backstop_bench_{uuid.uuid4().hex[:12]}"
            try:
                result = _measure(lambda: Projection.open(Path("."), postgres, schema_name=name), made)  # noqa: B023
            finally:
                _drop_schema(postgres, name)
            lines.append(_line("postgresql", result))
    return lines


def _line(name: str, r: dict[str, float]) -> str:
    return (
        f"  {name:<10} {r['rows_per_s']:>10,.0f} rows/s  {r['commands_per_s']:>10,.0f} commands/s  "
        f"batch median {r['batch_ms_median']:.3f} ms, p99 {r['batch_ms_p99']:.3f} ms"
    )


def _drop_schema(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="commands in the mix")
    parser.add_argument("--batch", type=int, action="append", help="commands per batch (repeatable)")
    parser.add_argument("--postgres", help="postgresql:// URL (a throwaway schema is made and dropped)")
    args = parser.parse_args(argv)
    for line in run(args.count, args.batch or [64, 1_024, 10_000], args.postgres):
        print(line, flush=True)


if __name__ == "__main__":
    main()
