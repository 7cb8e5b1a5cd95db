"""`backstop bench products` in a tiny configuration: the output's structure and sane values (no
timing assertions): creations, redemptions and IOC orders timed through a real server, every token
rebalanced in both runs, the block order filled, slippage finite, both exchanges solvent, the
engine's workload leaving the same state with and without products."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from backstop.bench.products import rebalances
from backstop.cli import main

TOKENS = ("BULL", "BEAR", "HEDGE", "HALF", "ETHBULL", "ETHBEAR", "ETHHEDGE", "ETHHALF")
TINY = ["--nav", "20000", "--step", "3600", "--requests", "20", "--commands", "1000", "--chunk", "250"]


def test_bench_products_json_in_a_tiny_configuration() -> None:
    result = CliRunner().invoke(main, ["bench", "products", *TINY, "--repeat", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"engine_build", "requests", "rebalances", "engine"}

    req = out["requests"]
    # through the API: a real server, 10 requests of each kind (20 // 2), none refused (it raises)
    assert req["api_requests"] == {"creations": 10, "redemptions": 10, "ioc_orders": 20}
    assert req["api_token_size"] == 0.01 and req["api_hedge_size"] > 0
    for key in ("api_creations_per_s", "api_redemptions_per_s", "api_baseline_ioc_orders_per_s"):
        assert req[key] > 0, key
    assert req["api_creations_vs_ioc"] > 0 and req["api_redemptions_vs_ioc"] > 0
    assert len(req["api_ratios_creations"]) == len(req["api_ratios_redemptions"]) == 1
    assert all(v > 0 for v in req["api_wall_per_s"].values())
    assert req["engine_requests"] == 20
    assert req["engine_requests_per_s"] > 0 and req["baseline_ioc_orders_per_s"] > 0
    assert req["requests_vs_ioc"] > 0 and len(req["ratios"]) == 1

    day = out["rebalances"]
    assert day["day"] == "2021-06-18"
    assert -7 < day["moves_percent"]["BTC"] < -5 and -7 < day["moves_percent"]["ETH"] < -5
    assert set(day["tokens"]) == set(TOKENS)
    for name in TOKENS:
        token = day["tokens"][name]
        assert token is not None, name  # every token rebalanced after a 6% move
        sliced, block = token["sliced"], token["block"]
        assert sliced["lots"] == block["lots"] != 0
        # the 3x tokens sell after a fall (BEAR and HEDGE add to their shorts), HALF buys
        assert (sliced["lots"] > 0) == name.endswith("HALF"), name
        assert sliced["reason"] == "done" and sliced["orders"] >= 1
        assert block["orders"] == 1 and block["filled"] == block["lots"]  # a small block fills whole
        for leg in (sliced, block):
            assert math.isfinite(leg["slippage_usd"]) and math.isfinite(leg["slippage_bps"])
            assert leg["notional_usd"] > 0 and leg["fees_usd"] > 0
    for kind in ("sliced", "block"):
        total = day["total"][kind]
        assert total["notional_usd"] > 0 and math.isfinite(total["slippage_bps"])
    assert day["block_other_rebalances"] == 0
    assert day["sliced_discrepancies"] == {} and day["block_discrepancies"] == {} and day["solvent"]

    engine = out["engine"]
    assert engine["commands"] == 1000 and engine["repeat"] == 1 and engine["same_state"]
    for key in ("bare_commands_per_s", "with_products_commands_per_s", "baseline_ops_per_s"):
        assert engine[key] > 0
    assert engine["bare_vs_baseline"] > 0 and engine["with_products_vs_baseline"] > 0
    assert math.isfinite(engine["change_percent"])


def test_a_larger_rebalance_is_sliced_and_costs_less_than_the_block() -> None:
    """$2m a token: BULL's rebalance (about $0.7m) is cut into children 10 s apart on a book the
    makers replenish, and over all eight it pays less against the start's mark than one block each."""
    day, market, _ = rebalances(2_000_000, 3_600, 7)
    bull = day["tokens"]["BULL"]["sliced"]
    assert bull["orders"] > 1 and bull["seconds"] >= 10 * (bull["orders"] - 1)
    assert day["total"]["sliced"]["slippage_bps"] < day["total"]["block"]["slippage_bps"]
    assert day["solvent"] and day["block_other_rebalances"] == 0
    assert market.ex.discrepancies() == {}
