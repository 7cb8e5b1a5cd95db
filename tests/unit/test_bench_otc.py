"""`backstop bench otc` in a tiny configuration: the output's structure and sane values (no timing
assertions): quotes requested and accepted through a real server (every one, or the run raises)
against GET /api/markets, and the engine's workload with FTT's fee discount on and off, the discount
lowering the fees booked and changing nothing else that was traded."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from backstop.bench.otc import discount_all
from backstop.bench.workload import build, prepare
from backstop.cli import main
from backstop.engine.fees import TIERS

TINY = ["--requests", "32", "--clients", "4", "--per-client", "4", "--commands", "1000", "--chunk", "250"]


def test_bench_otc_json_in_a_tiny_configuration() -> None:
    result = CliRunner().invoke(main, ["bench", "otc", *TINY, "--repeat", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"engine_build", "api", "discount"}

    api = out["api"]
    assert (api["clients"], api["per_client"], api["requests_per_repeat"], api["repeat"]) == (4, 4, 32, 1)
    for kind in ("quotes", "accepts", "markets"):
        k = api[kind]
        assert k["ok"] == 32, kind  # every request answered with success (a refusal raises)
        assert k["per_s"] > 0 and k["wall_per_s"] > 0 and 0 < k["p50_ms"] <= k["p99_ms"], kind
    for kind in ("quotes", "accepts"):
        assert api[kind]["vs_markets"] > 0 and len(api[kind]["ratios"]) == 1
    # the provider took both sides and still holds both coins
    assert api["provider_wallet"]["BTC"] > 0 and api["provider_wallet"]["USD"] > 0

    e = out["discount"]
    assert e["commands"] == 1000 and e["repeat"] == 1 and e["same_state"]
    assert e["discount_ppm"] == 400_000  # $1M of FTT held: FTX's 40%
    assert 0 < e["fees_usd_on"] < e["fees_usd_off"]
    for key in ("off_commands_per_s", "on_commands_per_s", "baseline_ops_per_s"):
        assert e[key] > 0
    assert e["off_vs_baseline"] > 0 and e["on_vs_baseline"] > 0 and math.isfinite(e["change_percent"])


def test_discount_all_sets_every_owners_rates() -> None:
    ex = prepare(build(10, accounts=5), ())
    discount_all(ex)
    _, maker, taker = TIERS[0]
    for volume in ex.volumes.values():
        assert (volume.maker_rate, volume.taker_rate) == (maker * 6 // 10, taker * 6 // 10)
