"""The SQL projection wired as the server wires it, on a real PostgreSQL server and a real SQLite
file: a Runtime (journal, snapshots) under the Sequencer, both projections following it as
listeners through the engine benchmark's command mix. The two databases agree row for row and
with the engine; after a restart, a projection rebuilt from the journal, and one that stopped
near the end and caught up from a snapshot, hold exactly the rows written live; history queries on
the full tables answer from their indexes."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from backstop.bench.workload import build
from backstop.engine.exchange import Exchange
from backstop.journal import recovery, snapshot
from backstop.projections import Projection, schema
from backstop.projections.sql import Follower
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer

URL = os.environ.get("BACKSTOP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _drop(prefix: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
        for (name,) in found:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def prefix() -> Iterator[str]:
    try:
        import psycopg

        psycopg.connect(URL, connect_timeout=3).close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {URL}: {exc}")
    name = f"backstop_accept_{uuid.uuid4().hex[:12]}"
    yield name
    _drop(name)


def dump(p: Projection) -> dict[str, list[tuple]]:
    out = {}
    for table in schema.TABLES:
        if table.name != "meta":
            rows = p.backend.fetch(
                f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {', '.join(table.key)}"
            )
            out[table.name] = p.backend.fix(table, rows)
    return out


def test_projections_follow_the_sequencer_and_rebuild_from_the_journal(tmp_path: Path, prefix: str) -> None:
    workload = build(40_000, accounts=300, seed=3)
    commands = workload.setup + workload.commands
    data = tmp_path / "data"
    stop_at = len(commands) - 2_000  # after the older of the two snapshots kept

    async def serve() -> Exchange:
        runtime = Runtime(data, snapshot_every=7_000)
        sequencer = Sequencer(runtime)
        live = Projection.open(data, URL, schema_name=f"{prefix}_live")
        lite = Projection.open(data)  # <data>/history.sqlite
        stops = Projection.open(data, URL, schema_name=f"{prefix}_stops")

        def follow(p: Projection) -> Follower:
            return p.listener(lambda: runtime.seq, data, lambda: runtime.exchange)

        sequencer.listeners += [follow(live), follow(lite)]
        stopping = follow(stops)
        sequencer.listeners.append(lambda c, r: stopping(c, r) if runtime.seq <= stop_at else None)
        sequencer.start()
        for i in range(0, len(commands), 700):
            await sequencer.submit_many(commands[i : i + 700])
        await sequencer.stop()
        runtime.close()
        assert live.seq == lite.seq == runtime.seq == len(commands)
        assert 0 < stops.seq <= stop_at
        for p in (live, lite, stops):
            p.close()
        return runtime.exchange

    ex = asyncio.run(serve())
    assert (data / "history.sqlite").exists()
    assert snapshot.snapshots(data)

    live = Projection.open(data, URL, schema_name=f"{prefix}_live")
    lite = Projection.open(data)
    rows = dump(live)
    assert rows == dump(lite)  # PostgreSQL and SQLite agree row for row

    # the engine's truth
    assert len(rows["orders"]) == ex.next_order_id - 1
    assert len(rows["trades"]) == ex.next_trade_id - 1 > 1_000
    fees: Counter[str] = Counter()
    for f in rows["fills"]:
        fees[f[10]] += f[9]
    assert {c: v for c, v in fees.items() if v} == {c: v for c, v in ex.fees.totals.items() if v}
    live_orders = {o.id: o for acct in ex.accounts for o in acct.orders.values()}
    open_rows = {r[0]: r for r in rows["orders"] if r[10] == "open"}
    assert set(open_rows) == set(live_orders)
    for oid, r in open_rows.items():
        o = live_orders[oid]
        assert (r[7], r[8], r[9]) == (o.filled, o.remaining, o.fill_value)
    by_order: dict[int, int] = defaultdict(int)
    for f in rows["fills"]:
        by_order[f[3]] += f[7]
    assert all(r[7] == by_order[r[0]] for r in rows["orders"])

    # after a restart: rebuilt from the journal, and caught up from where it stopped
    rebuilt = Projection.open(data, URL, schema_name=f"{prefix}_rebuilt")
    assert rebuilt.rebuild(data, from_snapshot=False) == len(commands)
    assert dump(rebuilt) == rows
    stops = Projection.open(data, URL, schema_name=f"{prefix}_stops")
    assert any(at <= stops.seq for at, _ in snapshot.snapshots(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recovery, "fresh_exchange", None)  # from the snapshot at or below its seq
        assert stops.rebuild(data) == len(commands)
    assert dump(stops) == rows

    # history queries over the whole tables answer quickly, newest first
    busiest = Counter(r[1] for r in rows["orders"]).most_common(1)[0][0]
    for p in (live, lite):
        started = time.perf_counter()
        for _ in range(20):
            page = p.orders(busiest, limit=100)
            fills = p.fills(busiest, market="BTC-PERP", limit=100)
            trades = p.trades("ETH-PERP", limit=100)
            order = p.order(busiest, page.rows[-1]["id"])
        per_round = (time.perf_counter() - started) / 20
        assert per_round < 0.05, (p.backend.name, per_round)
        assert page.more and len(page.rows) == 100 and order == page.rows[-1]
        ids = [o["id"] for o in page.rows]
        assert ids == sorted(ids, reverse=True)
        assert all(f["market"] == "BTC-PERP" and f["account"] == busiest for f in fills.rows)
        assert [t["trade_id"] for t in trades.rows] == sorted(
            (t["trade_id"] for t in trades.rows), reverse=True
        )
    for p in (live, lite, rebuilt, stops):
        p.close()
