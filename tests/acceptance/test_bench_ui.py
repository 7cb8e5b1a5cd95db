"""`backstop bench ui` in miniature, run as a user would: the installed script starts `backstop serve`
with its agents, drives Debian's Chromium through Playwright, sends a small burst of orders and prints
one JSON object. Every figure is there with a sane type, and the ladder equalled the REST book at the
end with no checksum failure; how fast anything was is never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).with_name("backstop")
CHROMIUM = "/usr/bin/chromium"


def number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x >= 0


def tail(d: dict[str, Any]) -> None:
    assert number(d["p50"]) and number(d["p99"]) and number(d["max"]), d
    assert d["p50"] <= d["p99"] <= d["max"], d


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's Chromium: apt-get install chromium"
    args = ["--orders", "60", "--repeats", "1", "--loads", "1", "--quiet", "3", "--clients", "3", "--json"]
    done = subprocess.run([str(SCRIPT), "bench", "ui", *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_first_render_figures_of_the_trade_page_and_the_baseline(result: dict[str, Any]) -> None:
    assert result["engine_build"] in ("compiled (mypyc)", "pure Python")
    assert result["server"] == {"agents": True, "clock": "wall", "feed": "replay", "order_rate_limit": "off"}
    assert result["browser"]["executable"] == CHROMIUM and "Chromium" in result["browser"]["version"]
    f = result["first_render"]
    assert f["loads"] == 1 and f["baseline_url"] == "/static/ui/bench-baseline.html"
    trade = f["trade"]
    for name in ("response_ms", "fcp_ms", "dom_content_loaded_ms", "load_ms", "ladder_ms", "chart_ms"):
        assert number(trade[name]["p50"]) and trade[name]["p50"] <= trade[name]["p90"], (name, trade[name])
    # the ladder and the chart are painted after the page's first paint
    assert trade["fcp_ms"]["p50"] <= trade["ladder_ms"]["p50"]
    assert trade["fcp_ms"]["p50"] <= trade["chart_ms"]["p50"]
    for kind in ("trade", "baseline"):
        for name in ("fcp_ms", "load_ms", "task_ms"):
            assert number(f[kind][name]["p50"]) and f[kind][name]["p50"] > 0, (kind, name)
        assert number(f[kind]["script_ms"]["p50"])
        # /proc is readable here: the CPU time of Chromium's processes is measured
        assert f[kind]["chromium_cpu_ms"]["p50"] > 0 and f[kind]["renderer_cpu_ms"]["p50"] > 0
    assert "ladder_ms" not in f["baseline"]
    for name in ("fcp", "ladder_vs_baseline_fcp", "chart_vs_baseline_fcp", "task", "chromium_cpu"):
        assert number(f["ratios"][name]) and f["ratios"][name] > 0, name
    for name in ("fcp", "ladder_vs_baseline_fcp", "task", "chromium_cpu"):
        p = f["pair_ratios"][name]
        assert p["min"] <= p["p50"] <= p["max"]


def test_the_ladder_keeps_the_rest_book_through_a_burst(result: dict[str, Any]) -> None:
    lad = result["ladder"]
    assert lad["orders"] == 60 and lad["repeats"] == 1 and lad["clients"] == 3
    assert lad["burst_orders_accepted"] == 60  # every order of the burst was accepted
    assert lad["burst_cancel_alls"] == 3
    assert number(lad["burst_orders_crossed"])
    assert [w["kind"] for w in lad["windows"]] == ["quiet", "burst", "quiet"]
    # the verdicts: the ladder equalled GET /orderbook at the end, and no checksum ever failed
    assert lad["matches_rest"] is True and lad["ladder_checksum"] == "ok"
    assert lad["checksum_failures"] == 0
    quiet, burst = lad["quiet"], lad["burst"]
    assert burst["messages"] > 0 and burst["measured"] > 0  # the burst moved the book
    for kind in (quiet, burst):
        assert number(kind["messages"]) and number(kind["renders"]) and number(kind["coalesced"])
        assert kind["measured"] <= kind["messages"]
        assert kind["checksum_failures"] == 0
        if kind["measured"]:
            tail(kind["delay_ms"])
            tail(kind["apply_ms"])
            assert kind["frame_delay_ms"]["p50"] is not None
            assert kind["messages_per_render"]["max"] >= 1
        for name in (
            "main_thread_busy_percent",
            "renderer_cpu_percent",
            "chromium_cpu_percent",
            "server_cpu_percent",
        ):
            assert number(kind[name]), (name, kind[name])
    ratios = lad["ratios"]
    assert len(ratios["per_repeat"]) == 1
    for name in ("main_thread_busy", "renderer_cpu"):
        assert number(ratios[name])
    if quiet["measured"]:
        assert number(ratios["delay_p50"]) and number(ratios["delay_p99"])
    m = lad["marginal"]
    assert set(m) == {
        "task_ms_per_message",
        "renderer_cpu_ms_per_message",
        "chromium_cpu_ms_per_message",
        "server_cpu_ms_per_order",
    }
    assert all(v is None or isinstance(v, float | int) for v in m.values())


def test_a_missing_chromium_is_one_line() -> None:
    done = subprocess.run(
        [str(SCRIPT), "bench", "ui", "--chromium", "/nonexistent/chromium"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Chromium at /nonexistent/chromium" in done.stderr
    assert "Traceback" not in done.stderr
