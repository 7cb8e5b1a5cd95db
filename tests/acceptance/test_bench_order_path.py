"""`backstop bench order-path` in miniature: the exchange's ASGI application and the bare endpoint's
called in one process with the same signed order stream, each round's CPU per request and their
ratio; and a refused request stops the bench rather than counting as an answer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from backstop.bench.api import OrderFlow
from backstop.bench.bare_api import BareOrders
from backstop.bench.order_path import _chunk, _timed, call, signed

SCRIPT = Path(sys.executable).with_name("backstop")


def test_bench_order_path_prints_both_sides_per_round_as_json() -> None:
    # 60 orders a client: past WINDOW (50), so every client's chunk has a cancel-all in its middle
    command = ["bench", "order-path", "--clients", "3", "--orders", "60", "--rounds", "3", "--json"]
    done = subprocess.run([str(SCRIPT), *command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["engine_build"] in ("compiled (mypyc)", "pure Python")
    assert (result["clients"], result["orders"]) == (3, 60)
    assert len(result["rounds"]) == 3
    for r in result["rounds"]:
        assert r["order_cpu_us"] > 0 and r["bare_cpu_us"] > 0
        assert r["ratio"] == pytest.approx(r["bare_cpu_us"] / r["order_cpu_us"])
    for name in ("order_cpu_us", "bare_cpu_us", "ratio"):
        figures = result[name]
        assert figures["min"] <= figures["median"] <= figures["max"]


def test_one_side_alone_prints_its_figure_and_no_ratio() -> None:
    command = ["bench", "order-path", "--clients", "2", "--orders", "10", "--rounds", "2", "--side", "orders"]
    done = subprocess.run([str(SCRIPT), *command, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["side"] == "orders"
    assert [sorted(r) for r in result["rounds"]] == [["order_cpu_us"]] * 2
    assert "bare_cpu_us" not in result and "ratio" not in result
    assert result["order_cpu_us"]["median"] > 0


def test_a_chunk_to_the_exchange_cancels_after_every_window_of_orders() -> None:
    chunk = _chunk([("k", "s")], [OrderFlow(0, 1)], 120, exchange=True)
    methods = [scope["method"] for scope, _ in chunk[0]]
    assert methods.count("POST") == 120
    assert [i for i, m in enumerate(methods) if m == "DELETE"] == [50, 101, 122]  # after 50, 100, the end
    bare = _chunk([("k", "s")], [OrderFlow(0, 1)], 120, exchange=False)
    assert {scope["method"] for scope, _ in bare[0]} == {"POST"}


def test_a_refused_request_stops_the_bench() -> None:
    async def go() -> None:
        app = BareOrders({"key": "secret"})
        good = signed("POST", "/api/orders", b'{"market":"BTC-PERP"}', "key", "secret", 0)
        assert (await call(app, good))[0] == 200
        wrong = [[signed("POST", "/api/orders", b'{"market":"BTC-PERP"}', "key", "not the secret", 0)]]
        with pytest.raises(RuntimeError, match=r"1 of the chunk's requests failed; the first: HTTP 401"):
            await _timed(app, wrong)

    asyncio.run(go())
