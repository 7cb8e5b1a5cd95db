"""The `backstop` command line, run as a user would: a real process on a real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backstop", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(data: Path, *args: str) -> object:
    done = run(data, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "exchange"
    ok(d, "init")
    ok(d, "account", "create", "maker")
    ok(d, "account", "create", "alice")
    ok(d, "account", "create", "alice", "--sub", "hedge")
    ok(d, "deposit", "maker", "USD", "1000000")
    ok(d, "deposit", "alice", "USDC", "10000")
    return d


def test_a_trade_through_the_cli_moves_positions_fees_and_survives_restart(data: Path) -> None:
    placed = ok(data, "order", "place", "maker", "BTC-PERP", "sell", "1", "--price", "30000")
    assert isinstance(placed, dict) and len(placed["openOrders"]) == 1
    taken = ok(data, "order", "place", "alice", "BTC-PERP", "buy", "0.25")
    assert isinstance(taken, dict)
    fills = [e for e in taken["events"] if "fill" in e]
    assert fills == [{"fill": 1, "market": "BTC-PERP", "price": "30000", "size": "0.25", "takerSide": "buy"}]
    account = ok(data, "account", "show", "alice")
    assert isinstance(account, dict)
    (position,) = account["positions"]
    assert position["netSize"] == "0.25"
    # 0.25 BTC x $30,000 x 0.07% taker fee = $5.25
    balances = ok(data, "balances", "alice")
    assert isinstance(balances, list)
    assert {b["coin"]: b["total"] for b in balances} == {"USD": "9994.75"}
    state = ok(data, "state")
    assert isinstance(state, dict) and state["discrepancies"] == {}
    verified = ok(data, "verify")
    assert isinstance(verified, dict) and verified["equal"] is True


def test_transfers_stay_within_an_owner(data: Path) -> None:
    ok(data, "transfer", "alice", "alice/hedge", "USD", "2500")
    balances = ok(data, "balances", "alice/hedge")
    assert isinstance(balances, list) and balances[0]["total"] == "2500"
    refused = run(data, "transfer", "alice", "maker", "USD", "1")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: Not authorized for subaccount-specific access"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("order", "place", "alice", "DOGE-PERP", "buy", "1", "--price", "1"), "No such market: DOGE-PERP"),
        (("order", "place", "alice", "BTC/USD", "buy", "1", "--price", "30000"), "Not enough balances"),
        (("order", "place", "alice", "BTC-PERP", "buy", "10", "--price", "30000"), None),
        (("order", "place", "alice", "BTC-PERP", "buy", "0.00001", "--price", "1"), "Invalid parameter size"),
        (("order", "place", "alice", "BTC-PERP", "buy", "abc", "--price", "1"), "Invalid parameter size"),
        (("order", "place", "alice", "BTC/USD", "sell", "0.1", "--reduce-only", "--price", "1"), None),
        (("order", "cancel", "alice", "999"), "Order not found"),
        (("withdraw", "alice", "USD", "20000"), "Not enough balances"),
        (("deposit", "nobody", "USD", "1"), "No such subaccount"),
        (("leverage", "alice", "50"), "Invalid parameter leverage"),
    ],
)
def test_bad_input_is_a_clear_error_that_changes_nothing(
    data: Path, args: tuple[str, ...], message: str | None
) -> None:
    before = ok(data, "state")
    done = run(data, *args)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    if message is not None:
        assert message in done.stderr
    after = ok(data, "state")
    assert isinstance(before, dict) and isinstance(after, dict)
    assert before["stateHash"] == after["stateHash"]


def test_margin_rejection_names_ftx_error(data: Path) -> None:
    ok(data, "order", "place", "maker", "BTC-PERP", "sell", "10", "--price", "30000")
    done = run(data, "order", "place", "alice", "BTC-PERP", "buy", "10", "--price", "30000")
    assert done.stderr.strip() == "error: Account does not have enough margin for order"
    spot = run(data, "order", "place", "alice", "BTC/USD", "sell", "0.1", "--reduce-only", "--price", "1")
    assert spot.stderr.strip() == "error: Spot orders cannot be reduce-only"


def test_demo_runs_and_proves_its_replay(tmp_path: Path) -> None:
    out = ok(tmp_path / "demo", "demo", "--rounds", "8")
    assert isinstance(out, str)
    assert "money conserved True" in out
    assert "(equal)" in out


def test_an_unusable_data_directory_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run(blocker / "data", "init")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
