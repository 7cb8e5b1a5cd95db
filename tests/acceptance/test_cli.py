"""The `backstop` command line, run as a user would: a real process on a real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_server_public import free_port


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # negative numbers reach validation instead of being read as options
        (("deposit", "alice", "USD", "-1"), "Invalid parameter size: must be positive"),
        (("leverage", "alice", "-1"), "Invalid parameter leverage"),
        (("order", "cancel", "alice", "-1"), "Invalid parameter order_id"),
        (("order", "place", "alice", "BTC-PERP", "buy", "-0.5", "--price", "1"), "Invalid parameter size"),
        (("risk", "index", "BTC", "-1"), "Invalid parameter price: must be positive"),
        (("risk", "backstop", "alice", "-1", "0"), "Invalid parameter perMinute"),
        (("book", "BTC-PERP", "--depth", "-1"), "Invalid parameter depth"),
        # numbers beyond what the engine, the journal and SQL hold
        (("deposit", "alice", "USD", "1e30"), "Invalid parameter size: at most 10,000,000,000"),
        (("deposit", "alice", "USD", "1e999999999"), "Invalid parameter size"),
        (("leverage", "alice", str(10**23)), "Invalid parameter leverage"),
        (("order", "cancel", "alice", str(10**30)), "Invalid parameter order_id"),
        # a number is plain ASCII decimal, as on the API
        (("deposit", "alice", "USD", "1_000"), "is not a number"),
        (("deposit", "alice", "USD", "\u0661\u0660"), "is not a number"),
        (("deposit", "alice", "USD", " 1"), "is not a number"),
        (("deposit", "alice", "USD", "NaN"), "is not a number"),
    ],
)
def test_numbers_are_read_strictly_and_refused_in_a_sentence(
    data: Path, args: tuple[str, ...], message: str
) -> None:
    before = ok(data, "state")
    done = run(data, *args)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1 and message in done.stderr
    assert ok(data, "state") == before


LEAKS = ("Traceback", "Fraction", "Errno", "literal", "__init__", "object has no", "NoneType", "<class")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("risk", "run", "--speed", "abc", "--seconds", "2"), "'abc' is not a positive number"),
        (("risk", "run", "--feed", "synthetic", "--speed", "2"), "--speed applies to a replay"),
        (("lab", "compare", "--start", "x"), "'x' is not a date"),
        (("lab", "fhs", "--end", "soon"), "'soon' is not a date"),
        (("lab", "sweep", "--vary", "nope=1"), "'nope' is no setting"),
        (("lab", "sweep", "--vary", "seed=a,b"), "'a' is not a whole number"),
        (("risk", "crash", "--accounts", str(10**20)), "is not in the range"),
        (("bench", "engine", "--commands", "-1"), "is not in the range"),
        (("bench", "engine", "--huge-pages", "alternate", "--repeat", "1"), "needs --repeat 2 or more"),
        (("bench", "engine", "--huge-pages", "sometimes"), "'sometimes' is not one of"),
        (("order", "place", "alice", "BTC-PERP", "buy", "1", "--pric", "1"), "No such option '--pric'"),
    ],
)
def test_errors_are_sentences_without_python_internals(
    data: Path, args: tuple[str, ...], message: str
) -> None:
    done = run(data, *args)
    assert done.returncode in (1, 2) and done.stdout == ""
    assert message in done.stderr
    assert not [leak for leak in LEAKS if leak in done.stderr], done.stderr


def test_a_run_writing_where_it_cannot_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run(
        tmp_path,
        "lab",
        "replay",
        "--start",
        "2021-01-01",
        "--end",
        "2021-01-02",
        "--traders",
        "0",
        "--report",
        str(blocker / "out"),
    )
    assert done.returncode == 1 and done.stderr == f"Error: {blocker / 'out'}: Not a directory\n"


def test_serve_checks_every_option_before_making_anything(tmp_path: Path) -> None:
    import socket

    target = tmp_path / "new"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        for args, message in (
            (("--speed", "abc"), "Invalid value for '--speed'"),
            (("--speed", "-2"), "Invalid value for '--speed'"),
            (("--port", "99999"), "Invalid value for '--port'"),
            (("--order-rate", "-1"), "Invalid value for '--order-rate'"),
            (("--database", "mysql://x"), "Invalid value for '--database'"),
            (("--feed", "synthetic", "--speed", "3"), "--speed applies to a replay"),
            (("--start", "19 May"), "Invalid value for '--start'"),
            (("--feed", "synthetic", "--start", "2021-05-19T12:00:00Z"), "--start applies to a replay"),
            (
                ("--feed", "manual", "--clock", "manual", "--start", "1969-12-31T00:00:00Z"),
                "--start must be 1970-01-01T00:00:00Z or later",
            ),
            (("--port", port), f"cannot listen on 127.0.0.1:{port}: Address already in use"),
            (("--host", "no.such.host.invalid"), "cannot listen on no.such.host.invalid"),
        ):
            done = (
                run(target, "serve", "--port", port, *args)
                if "--port" not in args
                else run(target, "serve", *args)
            )
            assert done.returncode in (1, 2), args
            assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
            assert not target.exists(), args
    free = str(free_port())
    done = run(target, "serve", "--port", free, "--start", "2030-01-01T00:00:00Z")
    assert done.returncode == 1 and "is outside the history, which runs from 2021-04-10" in done.stderr
    assert "Traceback" not in done.stderr and not target.exists()


def test_a_damaged_catalog_or_settings_file_is_named(data: Path) -> None:
    risk = data / "catalog" / "risk.toml"
    original = risk.read_text()
    risk.write_text(original + "\nmodel = \n")
    done = run(data, "account", "list")
    assert done.stderr.startswith(f"error: {risk}: ") and "(at line" in done.stderr
    risk.write_text(original)
    markets = data / "catalog" / "markets.toml"
    markets.write_text(markets.read_text() + '\n[ZZZ-PERP]\nkind = "perpetual"\npriceIncrement = "x"\n')
    done = run(data, "state")
    assert done.stderr == f"error: {markets}: [ZZZ-PERP] has a value that is not a number\n"
    markets.write_text(markets.read_text().replace('priceIncrement = "x"', 'priceIncrement = "1"'))
    done = run(data, "balances", "alice")
    assert done.stderr == f"error: {markets}: [ZZZ-PERP] needs sizeIncrement\n"
    settings = data / "exchange.toml"
    settings.write_text("seed = = 1\n")
    done = run(data, "account", "list")
    assert done.stderr.startswith(f"error: {settings}: ") and "(at line 1" in done.stderr


def test_version() -> None:
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "backstop", "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"backstop {version('backstop')}\n")
