"""Order and fill history outlives the server process: closed orders and fills read back after a
restart, from SQLite in the data directory or from PostgreSQL given with --database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server

POSTGRES = os.environ.get("BACKSTOP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PERP = "BTC/USD:USD"


def start(data: Path, port: int, database: str | None) -> subprocess.Popen[str]:
    extra = ("--database", database) if database else ()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backstop",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            *MANUAL,
            *extra,
        ],
        env=dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/markets", timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    import psycopg

    try:
        conn = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES}: {exc}")
    name = f"backstop_serve_{uuid.uuid4().hex[:10]}"
    conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{name}"
    finally:
        conn.execute(f"DROP SCHEMA {name} CASCADE")
        conn.close()


def test_closed_orders_and_fills_read_back_after_a_restart(tmp_path: Path, database: str | None) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, database)
    server = Server(f"http://127.0.0.1:{port}")
    try:
        server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})
        server.operator("/operator/clock/advance", {"seconds": 1})
        maker = server.client("maker", 1_000_000)
        taker = server.client("taker", 100_000)
        resting = maker.create_order(PERP, "limit", "sell", 0.2, 30_010)
        cancelled = maker.create_order(PERP, "limit", "buy", 0.1, 29_000, {"clientOrderId": "gone"})
        maker.cancel_order(cancelled["id"])
        taker.create_order(PERP, "market", "buy", 0.05)
        keys = (maker.apiKey, maker.secret, taker.apiKey, taker.secret)
    finally:
        stop(proc)
    proc = start(data, port, database)
    try:
        maker = ccxt.ftx({"apiKey": keys[0], "secret": keys[1]})
        taker = ccxt.ftx({"apiKey": keys[2], "secret": keys[3]})
        for client in (maker, taker):
            client.urls["api"] = {"public": server.base, "private": server.base}
        assert maker.fetch_order(cancelled["id"])["status"] == "canceled"
        assert maker.private_get_orders_by_client_id_client_order_id({"client_order_id": "gone"})["result"][
            "id"
        ]
        assert maker.fetch_order(resting["id"])["filled"] == 0.05
        history = maker.fetch_orders(PERP)
        assert {o["id"] for o in history} == {resting["id"], cancelled["id"]}
        (fill,) = taker.fetch_my_trades(PERP)
        assert (fill["side"], fill["amount"], fill["price"]) == ("buy", 0.05, 30_010.0)
    finally:
        stop(proc)
