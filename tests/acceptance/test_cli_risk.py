"""The risk engine driven from the command line, as an operator or researcher would: a real
process on a real data directory, liquidating an account and proving the books still balance."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from test_cli import ok, run


def test_an_index_drop_liquidates_through_the_cli_and_the_solvency_report_balances(tmp_path: Path) -> None:
    d = tmp_path / "exchange"
    ok(d, "init")
    for name in ("maker", "alice", "blp", "operator"):
        ok(d, "account", "create", name)
    ok(d, "deposit", "maker", "USD", "10000000")
    ok(d, "deposit", "alice", "USD", "1000")
    ok(d, "deposit", "blp", "USD", "1000000")
    ok(d, "deposit", "operator", "USD", "50000")
    ok(d, "leverage", "alice", "20")
    assert ok(d, "risk", "index", "BTC", "10000", "10002", "9990") == {"coin": "BTC", "index": "10000"}
    ok(d, "risk", "backstop", "blp", "100000", "300000")
    assert ok(d, "risk", "fund", "operator", "10000") == {"insuranceFund": "10000"}
    ok(d, "order", "place", "alice", "BTC-PERP", "buy", "2", "--price", "10000")
    ok(d, "order", "place", "maker", "BTC-PERP", "sell", "2", "--price", "10000")
    assert ok(d, "risk", "tick")["events"] == {}
    ok(d, "risk", "index", "BTC", "9400")  # alice's equity is now below zero
    ticked = ok(d, "risk", "tick", "--seconds", "2")
    assert ticked["events"]["AutoClosed"] >= 1 and ticked["liquidating"] == 0
    shown = ok(d, "account", "show", "alice")
    assert shown["positions"] == [] or all(Decimal(p["size"]) == 0 for p in shown["positions"])
    fund = ok(d, "risk", "insurance")
    assert Decimal(fund["balance"]) < 10_000  # it paid alice's deficit
    assert fund["history"][0]["reason"] == "seed"
    report = ok(d, "risk", "solvency")
    assert report["balanced"] is True and report["difference"] == "0"
    assert ok(d, "verify")["equal"] is True


def test_bad_risk_commands_get_one_line_errors(tmp_path: Path) -> None:
    d = tmp_path / "exchange"
    ok(d, "init")
    ok(d, "account", "create", "alice")
    for args, error in (
        (("risk", "index", "DOGE", "1"), "No such coin: DOGE"),
        (("risk", "index", "BTC", "0"), "Invalid parameter price"),
        (("risk", "tick", "--seconds", "0"), "Invalid parameter seconds"),
        (("risk", "fund", "alice", "5"), "Not enough balances"),
        (("risk", "halt", "NOPE-PERP"), "No such market: NOPE-PERP"),
        (("risk", "backstop", "alice", "1", "1"), "Invalid parameter perMinute"),
        (("risk", "margin", "BTC-PERP", "--imf", "0.05", "--mmf", "0.09"), "Invalid margin floor"),
        (("risk", "margin", "BTC-PERP", "--imf", "abc"), "Invalid parameter imf"),
        (("risk", "margin", "BTC/USD", "--imf", "0.1"), "futures only"),
    ):
        done = run(d, *args)
        assert done.returncode == 1, args
        assert done.stderr.startswith("error: ") and error in done.stderr and "Traceback" not in done.stderr


def test_a_margin_floor_from_the_cli_refuses_an_order_ftxs_formulas_allow(tmp_path: Path) -> None:
    """$1,000 at 20x: 1.5 BTC at $10,000 needs 5% x $15,000 = $750 under FTX's formulas, but
    15% x $15,000 = $2,250 under a 15% floor."""
    d = tmp_path / "exchange"
    ok(d, "init")
    ok(d, "account", "create", "alice")
    ok(d, "deposit", "alice", "USD", "1000")
    ok(d, "leverage", "alice", "20")
    ok(d, "risk", "index", "BTC", "10000")
    ok(d, "risk", "margin", "BTC-PERP", "--imf", "0.15", "--mmf", "0.09")
    done = run(d, "order", "place", "alice", "BTC-PERP", "buy", "1.5", "--price", "10000")
    assert done.returncode == 1 and "Account does not have enough margin for order" in done.stderr
    ok(d, "risk", "margin", "BTC-PERP")  # back to FTX's formulas
    ok(d, "order", "place", "alice", "BTC-PERP", "buy", "1.5", "--price", "10000")


def test_feeds_drive_the_index_and_the_clock(tmp_path: Path) -> None:
    ok(tmp_path / "replay", "init")
    ok(tmp_path / "a", "init")
    replayed = ok(tmp_path / "replay", "risk", "run", "--feed", "replay", "--seconds", "30", "--speed", "60")
    # BTC, ETH, FTT, SOL from history each second, and BNB, USDT (which it lacks) from its seeded fill
    assert replayed["events"]["IndexUpdated"] == 6 * 30
    assert 50_000 < Decimal(replayed["index"]["BTC"]) < 65_000  # April 2021 in the shipped sample
    synthetic = ok(tmp_path / "a", "risk", "run", "--feed", "synthetic", "--seconds", "20", "--seed", "5")
    assert synthetic["events"]["IndexUpdated"] == 6 * 20
    assert set(synthetic["index"]) == {"BTC", "ETH", "FTT", "SOL", "BNB", "USDT"}
    assert ok(tmp_path / "a", "verify")["equal"] is True
    done = run(tmp_path / "c", "risk", "run", "--feed", "synthetic", "--speed", "2")
    assert done.returncode == 1 and "speed applies to a replay" in done.stderr
