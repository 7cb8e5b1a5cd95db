"""One writer per data directory, with real processes: a `backstop serve` and the command line
beside it. A CLI write while the server runs goes through the server (and is in its state after a
restart); with the server stopped the CLI writes directly; a second server on the directory
refuses to start; a SIGKILLed server leaves no lock behind. Reads never take the lock, never make
an exchange, and every command uses the same default directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import ccxt
import pytest
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server

from backstop.journal.lock import LOCK_FILE, DataDirectoryBusy, WriterLock

PERP = "BTC/USD:USD"


def backstop(
    *args: str, cwd: Path | None = None, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BACKSTOP_DATA", "BACKSTOP_OPERATOR_TOKEN")}
    if token is not None:
        env["BACKSTOP_OPERATOR_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "backstop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def cli(data: Path, *args: str, token: str | None = TOKEN) -> object:
    done = backstop("--data-dir", str(data), *args, token=token)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.startswith(("{", "[")) else done.stdout


def serve(
    data: Path | None, port: int, token: str | None = TOKEN, cwd: Path | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BACKSTOP_DATA", "BACKSTOP_OPERATOR_TOKEN")}
    if token is not None:
        env["BACKSTOP_OPERATOR_TOKEN"] = token
    where = () if data is None else ("--data-dir", str(data))
    return subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", "--port", str(port), *where, *MANUAL],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def up(proc: subprocess.Popen[str], port: int) -> Server:
    deadline = time.time() + 120  # a busy machine rebuilds history slowly
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/markets", timeout=1).close()
            return Server(f"http://127.0.0.1:{port}")
        except OSError:
            if proc.poll() is not None or time.time() >= deadline:
                proc.kill()  # a server still starting would hold communicate() open for ever
                out, err = proc.communicate(timeout=30)
                raise AssertionError(f"the server did not come up on port {port}:\n{out}\n{err}") from None
            time.sleep(0.2)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def usd(server: Server, name: str) -> float:
    """An account's USD as the server itself reports it, through a key made for it."""
    keys = server.operator("/operator/accounts", {"name": name})["result"]
    client = ccxt.ftx({"apiKey": keys["apiKey"], "secret": keys["apiSecret"]})
    client.urls["api"] = {"public": server.base, "private": server.base}
    return float(client.fetch_balance()["USD"]["total"] or 0)


def test_cli_writes_while_the_server_runs_go_through_it_and_last(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    try:
        server = up(proc, port)
        created = cli(data, "account", "create", "bob")
        assert isinstance(created, dict) and created["owner"] == "bob"
        cli(data, "account", "create", "bob", "--sub", "hedge")
        balances = cli(data, "deposit", "bob", "USD", "1000")
        assert isinstance(balances, list) and balances[0]["total"] == "1000"  # read back after the write
        cli(data, "transfer", "bob", "bob/hedge", "USD", "250")
        cli(data, "leverage", "bob", "5")
        assert cli(data, "risk", "index", "BTC", "30000", "30010", "29990") == {
            "coin": "BTC",
            "index": "30000",
        }
        assert cli(data, "risk", "fund", "bob", "100") == {"insuranceFund": "100"}
        assert usd(server, "bob") == 650
        # the engine's refusals arrive as its own words, exit status 1
        again = backstop("--data-dir", str(data), "account", "create", "bob")
        assert again.returncode == 1 and again.stderr == "error: Subaccount already exists\n"
        # reads work beside the server, from the journal it wrote
        names = {a["name"] for a in cli(data, "account", "list")}  # type: ignore[union-attr]
        assert {"bob", "bob/hedge", "demo"} <= names
        assert cli(data, "balances", "bob/hedge")[0]["total"] == "250"  # type: ignore[index]
        # what the operator API cannot take is refused, naming the server
        for args in (
            ("order", "place", "bob", "BTC-PERP", "buy", "0.01", "--price", "29000"),
            ("risk", "tick"),
        ):
            refused = backstop("--data-dir", str(data), *args)
            assert refused.returncode == 1, args
            assert f"process {proc.pid}" in refused.stderr and f"http://127.0.0.1:{port}" in refused.stderr
        state = server.operator("/operator/state_hash", method="GET")["result"]
        assert cli(data, "state")["stateHash"] == state["stateHash"]  # type: ignore[index]
    finally:
        stop(proc)
    # nothing was lost: the server's journal holds every write, and a restart shows them
    proc = serve(data, port)
    try:
        assert usd(up(proc, port), "bob") == 650
    finally:
        stop(proc)
    assert cli(data, "verify")["equal"] is True  # type: ignore[index]


def test_the_operator_token_comes_from_the_data_directory(tmp_path: Path) -> None:
    """A server started without $BACKSTOP_OPERATOR_TOKEN writes its token into the directory; the
    CLI finds it there. A wrong token in the environment is refused with the server named."""
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port, token=None)
    try:
        up(proc, port)
        cli(data, "account", "create", "erin", token=None)
        assert cli(data, "deposit", "erin", "USD", "5", token=None)[0]["total"] == "5"  # type: ignore[index]
        wrong = backstop("--data-dir", str(data), "deposit", "erin", "USD", "5", token="not-the-token")
        assert wrong.returncode == 1 and "refused the operator token" in wrong.stderr
    finally:
        stop(proc)


def test_with_the_server_stopped_the_cli_writes_directly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    up(proc, port)
    stop(proc)
    cli(data, "account", "create", "carol")
    cli(data, "deposit", "carol", "USD", "42")
    proc = serve(data, port)
    try:
        assert usd(up(proc, port), "carol") == 42
    finally:
        stop(proc)


def test_a_second_server_on_the_same_directory_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first_port, second_port = free_port(), free_port()
    first = serve(data, first_port)
    try:
        server = up(first, first_port)
        second = serve(data, second_port)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err.startswith("error: the exchange in ") and f"process {first.pid}" in err
        assert f"http://127.0.0.1:{first_port}" in err and "Traceback" not in err
        assert server.operator("/operator/state_hash", method="GET")["success"]  # the first serves on
        with pytest.raises(DataDirectoryBusy):
            WriterLock(data)
    finally:
        stop(first)


def test_a_sigkilled_server_leaves_the_lock_free(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = serve(data, port)
    up(proc, port)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert json.loads((data / LOCK_FILE).read_text())["pid"] == proc.pid  # its record stays, unheld
    WriterLock(data).release()  # the kernel let go of the lock with the process
    port = free_port()
    proc = serve(data, port)
    try:
        server = up(proc, port)
        cli(data, "account", "create", "dave")  # and the next server is the writer
        cli(data, "deposit", "dave", "USD", "7")
        assert usd(server, "dave") == 7
    finally:
        stop(proc)


def test_reads_never_make_an_exchange(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    for args in (("account", "list"), ("balances", "x"), ("state",), ("verify",), ("keys", "list")):
        done = backstop("--data-dir", str(missing), *args)
        assert done.returncode == 1, args
        assert done.stderr.startswith(f"error: there is no exchange in {missing} "), done.stderr
    for args in (("account", "create", "x"), ("deposit", "x", "USD", "1"), ("risk", "tick")):
        assert backstop("--data-dir", str(missing), *args).returncode == 1, args
    assert not missing.exists()
    assert cli(missing, "init").startswith("a new exchange in")  # type: ignore[union-attr]
    assert cli(missing, "account", "list") == []
    again = backstop("--data-dir", str(missing), "init")
    assert again.returncode == 1 and "already holds an exchange" in again.stderr


def test_every_command_has_one_default_directory(tmp_path: Path) -> None:
    """With neither --data-dir nor $BACKSTOP_DATA, the CLI and `serve` share ./backstop-data."""
    assert "no exchange in backstop-data" in backstop("account", "list", cwd=tmp_path).stderr
    port = free_port()
    proc = serve(None, port, cwd=tmp_path)
    try:
        server = up(proc, port)
        done = backstop("account", "create", "frank", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert backstop("deposit", "frank", "USD", "3", cwd=tmp_path).returncode == 0
        assert usd(server, "frank") == 3
    finally:
        stop(proc)
    assert (tmp_path / "backstop-data" / "journal.log").exists()
