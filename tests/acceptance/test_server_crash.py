"""SIGKILL the serving process mid-stream: every order the API acknowledged is there after the
restart, recovery equals a clean replay, and keys made on the command line work on the server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import ccxt
from test_server_history import start, stop
from test_server_public import free_port
from test_server_trading import Server

PERP = "BTC/USD:USD"


def cli(data: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "backstop", "--data-dir", str(data), *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.startswith(("{", "[")) else {"output": done.stdout}


def test_acknowledged_orders_survive_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, None)
    server = Server(f"http://127.0.0.1:{port}")
    server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})
    server.operator("/operator/clock/advance", {"seconds": 1})
    maker = server.client("maker", 1_000_000)
    acknowledged = [maker.create_order(PERP, "limit", "buy", 0.01, 29_900 - i)["id"] for i in range(30)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc = start(data, port, None)
    try:
        again = ccxt.ftx({"apiKey": maker.apiKey, "secret": maker.secret})
        again.urls["api"] = {"public": server.base, "private": server.base}
        assert sorted(o["id"] for o in again.fetch_open_orders(PERP)) == sorted(acknowledged)
    finally:
        stop(proc)
    assert cli(data, "verify")["equal"] is True


def test_keys_made_on_the_command_line_sign_requests_on_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli(data, "init")
    cli(data, "account", "create", "gina")
    cli(data, "account", "create", "gina", "--sub", "bot")
    cli(data, "deposit", "gina", "USD", "1000")
    full = cli(data, "keys", "create", "gina", "--label", "laptop")
    watcher = cli(data, "keys", "create", "gina/bot", "--scoped", "--read-only")
    assert {k["apiKey"] for k in cli(data, "keys", "list", "gina")} == {full["apiKey"], watcher["apiKey"]}
    port = free_port()
    proc = start(data, port, None)
    base = f"http://127.0.0.1:{port}"
    try:
        gina = ccxt.ftx({"apiKey": full["apiKey"], "secret": full["apiSecret"]})
        bot = ccxt.ftx({"apiKey": watcher["apiKey"], "secret": watcher["apiSecret"]})
        for client in (gina, bot):
            client.urls["api"] = {"public": base, "private": base}
        assert gina.fetch_balance()["USD"]["total"] == 1000
        assert bot.fetch_balance()["total"] == {}  # its subaccount, empty
        try:
            bot.transfer("USD", 1, "main", "bot")
            raise AssertionError("a read-only key moved money")
        except ccxt.AuthenticationError as exc:
            assert "read-only" in str(exc)
        assert cli(data, "keys", "revoke", full["apiKey"])["output"].startswith("revoked")
        try:
            gina.fetch_balance()
            raise AssertionError("a revoked key still works")
        except ccxt.AuthenticationError:
            pass
    finally:
        stop(proc)
