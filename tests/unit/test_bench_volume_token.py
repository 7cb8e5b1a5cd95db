"""`backstop bench volume-token` in a tiny configuration: the output's structure and sane values (no
timing assertions): swaps through a real server (every one answered with success, or the run raises)
against GET /api/markets, and one rebase timed on exchanges with 10 and 100 holders, every timed Tick
a real rebase (the units changed, the resting VOL/USD orders cancelled)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from backstop.bench.volume_token import MAKER_LEVELS, Holders
from backstop.cli import main
from backstop.engine.amounts import ATOM

API = ["--requests", "32", "--clients", "4", "--per-client", "4", "--repeat", "1"]
REBASES = ["--holders", "10,100", "--rebases", "2"]


def bench(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["bench", "volume-token", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def check_rebases(r: dict[str, Any]) -> None:
    assert r["rebases"] == 2 and r["maker_orders"] == 2 * MAKER_LEVELS
    assert set(r["sizes"]) == {"10", "100"}
    for n, s in r["sizes"].items():
        assert s["holders"] == int(n) and s["accounts"] == int(n) + 2
        assert len(s["rebase_us_each"]) == len(s["tick_us_each"]) == 2
        assert s["rebase_us"] > 0 and s["tick_us"] > 0
        assert s["orders_cancelled"] == 2 * MAKER_LEVELS  # every resting VOL/USD order, by each rebase
        assert all(d > 0 for d in s["supply_deltas_vol"])  # the target under the price: expansions
    assert r["ratio"] > 0 and len(r["ratios"]) == 2 and r["plain_ratio"] > 0


def test_bench_volume_token_rebases_in_a_tiny_configuration() -> None:
    out = bench("--no-api", *REBASES)
    assert set(out) == {"engine_build", "rebase"}
    check_rebases(out["rebase"])


def test_bench_volume_token_json_with_the_api_in_a_tiny_configuration() -> None:
    out = bench(*API, *REBASES)
    assert set(out) == {"engine_build", "api", "rebase"}
    api = out["api"]
    assert (api["clients"], api["per_client"], api["requests_per_repeat"], api["repeat"]) == (4, 4, 32, 1)
    for kind in ("swaps", "markets"):
        k = api[kind]
        assert k["ok"] == 32, kind  # every request answered with success (a refusal raises)
        assert k["per_s"] > 0 and k["wall_per_s"] > 0 and 0 < k["p50_ms"] <= k["p99_ms"], kind
    assert api["swaps"]["vs_markets"] > 0 and len(api["swaps"]["ratios"]) == 1
    check_rebases(out["rebase"])


def test_holders_hold_their_vol_and_the_pool_is_old_enough_to_rebase() -> None:
    h = Holders(50)
    ex = h.ex
    held = [ex.atoms_of("VOL", a.balance("VOL")) for a in ex.accounts[2:]]
    assert held == [1 * ATOM] * 50
    assert ex.discrepancies() == {}
    due = h.prepare()
    assert h.ts == due - 2 * 1_000_000 and due > h.vt.state.pool_since + 86_400 * 1_000_000
    before, during, event, cancelled = h.rebase()
    assert event.units_after < event.units_before and cancelled == 2 * MAKER_LEVELS
    assert before > 0 and during > 0
