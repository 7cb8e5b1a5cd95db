"""`backstop bench api` in miniature, run as a user would: the installed script starts a real server,
loads it over REST and websockets from separate processes, and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("backstop")


def test_bench_api_prints_order_baseline_and_fanout_figures_as_json() -> None:
    done = subprocess.run(
        [str(SCRIPT), "bench", "api", "--seconds", "2", "--clients", "4", "--subscribers", "20", "--json"],
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
    assert result["baseline_rps"] > 0  # the same run's unauthenticated GET /api/markets
    assert result["baseline_endpoint"] == "GET /api/markets"
    assert 0 < result["baseline_p50_ms"] <= result["baseline_p99_ms"]
    assert result["fanout_connected"] == result["subscribers"] == 20
    assert result["fanout_delivered"] == result["fanout_expected"] == 20 * result["fanout_events"]
    assert 0 < result["fanout_p50_ms"] <= result["fanout_p99_ms"] <= result["fanout_max_ms"]
    assert result["fanout_e2e_p99_ms"] > 0
    assert result["fanout_baseline_p99_ms"] > 0  # one subscriber, same run
    assert isinstance(result["meets_order_target"], bool)
    assert isinstance(result["meets_fanout_target"], bool)
