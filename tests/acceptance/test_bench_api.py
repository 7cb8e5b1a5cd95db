"""`backstop bench api` in miniature, run as a user would: the installed script starts a real server
and the bare baseline endpoint, loads them over REST in turn and the server over websockets from
separate processes, and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("backstop")


def test_bench_api_prints_order_baseline_and_fanout_figures_as_json() -> None:
    command = ["bench", "api", "--seconds", "2", "--repeats", "2", "--clients", "4", "--subscribers", "20"]
    done = subprocess.run(
        [str(SCRIPT), *command, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["engine_build"] in ("compiled (mypyc)", "pure Python")
    assert result["orders_per_s"] > 0
    assert result["orders_accepted"] > 0
    assert result["order_failures"] == {}  # every signed post-only order was accepted
    assert 0 < result["order_p50_ms"] <= result["order_p99_ms"]
    assert result["cancel_alls"] >= 0
    assert result["journal"]["commands_per_fsync"] >= 1  # group commit: read from the journal's batches
    # the baseline: the same signed orders to a bare raw-ASGI endpoint, in turn with the exchange
    assert result["baseline_per_s"] > 0
    assert result["baseline_failures"] == {}  # its HMAC check accepted every signature
    assert "HMAC" in result["baseline_endpoint"]
    assert 0 < result["baseline_p50_ms"] <= result["baseline_p99_ms"]
    assert len(result["rounds"]) == result["repeats"] == 2
    for r in result["rounds"]:
        assert r["orders_per_cpu_s"] > 0 and r["bare_per_cpu_s"] > 0
        assert abs(r["ratio"] - r["orders_per_cpu_s"] / r["bare_per_cpu_s"]) < 0.01  # of unrounded figures
    ratios = result["orders_vs_baseline"]
    assert ratios["min"] <= ratios["median"] <= ratios["max"]
    assert isinstance(result["meets_ratio_target"], bool)
    assert result["fanout_connected"] == result["subscribers"] == 20
    assert result["fanout_delivered"] == result["fanout_expected"] == 20 * result["fanout_events"]
    assert 0 < result["fanout_p50_ms"] <= result["fanout_p99_ms"] <= result["fanout_max_ms"]
    assert result["fanout_e2e_p99_ms"] > 0
    assert result["fanout_baseline_p99_ms"] > 0  # one subscriber, same run
    assert isinstance(result["meets_order_target"], bool)
    assert isinstance(result["meets_fanout_target"], bool)
