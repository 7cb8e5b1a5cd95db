"""Public market data outlives the server process: candles (market and index), public trades, the
24 h volume, `/api/futures` and its stats and the volume monitor read the same after a clean
restart and after a SIGKILL, from SQLite in the data directory or from PostgreSQL."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import ccxt
from test_server_history import database, start, stop
from test_server_public import free_port
from test_server_trading import Server

__all__ = ["database"]  # the fixture, parametrized over SQLite and PostgreSQL
PERP = "BTC/USD:USD"
PUBLIC = (
    "/api/markets",
    "/api/markets/BTC-PERP",
    "/api/futures",
    "/api/futures/BTC-PERP/stats",
    "/api/volume_monitor",
    "/api/markets/BTC-PERP/trades?limit=100",
    "/api/markets/ETH-PERP/trades?limit=100",
    *(f"/api/markets/BTC-PERP/candles?resolution={r}" for r in (15, 60, 300, 3600, 86400)),
    "/api/markets/ETH-PERP/candles?resolution=60",
    "/api/markets/BTC/USD/candles?resolution=60",
    "/api/indexes/BTC/candles?resolution=60",
)


def public(server: Server) -> dict[str, object]:
    out = {}
    for path in PUBLIC:
        with urllib.request.urlopen(server.base + path, timeout=10) as reply:
            out[path] = json.loads(reply.read())["result"]
    return out


def connect(server: Server, key: str, secret: str) -> ccxt.ftx:
    client = ccxt.ftx({"apiKey": key, "secret": secret, "rateLimit": 30})
    client.urls["api"] = {"public": server.base, "private": server.base}
    return client


def trade(server: Server, keys: dict[str, tuple[str, str]], minutes: int) -> None:
    """A few trades a minute on BTC-PERP and ETH-PERP for `minutes` minutes of the manual clock,
    with the index moving."""
    maker, taker = (connect(server, *keys[name]) for name in ("maker", "taker"))
    for minute in range(minutes):
        btc = 30_000 + 20 * minute
        server.operator("/operator/index_prices", {"prices": {"BTC": btc, "ETH": 2_000 + minute}})
        for i in range(3):
            maker.create_order(PERP, "limit", "sell", 0.01 * (i + 1), btc + 5 * i)
            taker.create_order(PERP, "market", "buy", 0.01 * (i + 1))
            maker.create_order("ETH/USD:USD", "limit", "buy", 0.1, 1_990 + minute)
            taker.create_order("ETH/USD:USD", "market", "sell", 0.1)
            server.operator("/operator/clock/advance", {"seconds": 17})
        server.operator("/operator/clock/advance", {"seconds": 9})


def test_candles_trades_and_volume_read_the_same_after_restarts(tmp_path: Path, database: str | None) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, database)
    server = Server(f"http://127.0.0.1:{port}")
    try:
        server.operator("/operator/index_prices", {"prices": {"BTC": 30_000, "ETH": 2_000}})
        server.operator("/operator/clock/advance", {"seconds": 1})
        keys = {}
        for name in ("maker", "taker"):
            client = server.client(name, 10_000_000)
            keys[name] = (client.apiKey, client.secret)
        trade(server, keys, 5)
        before = public(server)
    finally:
        stop(proc)
    assert before["/api/volume_monitor"] and before["/api/markets/BTC-PERP"]["volumeUsd24h"] > 0
    assert len(before["/api/markets/BTC-PERP/candles?resolution=15"]) > 20

    proc = start(data, port, database)
    try:
        assert public(server) == before
        trade(server, keys, 3)
        before = public(server)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean stop: what was saved, and the journal
        proc.wait(timeout=30)
    proc = start(data, port, database)
    try:
        assert public(server) == before
    finally:
        stop(proc)
