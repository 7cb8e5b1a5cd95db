"""`backstop serve` as a real process on a free port, driven by ccxt 2.0.90's own `ftx` class
(sync and async) for the public API: the markets load, tickers and books and candles read, errors
arrive as ccxt's exception classes, and Ctrl-C stops it cleanly so a restart resumes."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from backstop.journal import recovery

REPLAY = ("--feed", "replay", "--speed", "60", "--no-agents")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data), *REPLAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/markets", timeout=1):
                return proc
        except OSError:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not come up")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("server") / "data"
    port = free_port()
    proc = start(data, port)
    time.sleep(2.5)  # a few ticks: index, marks and candles
    yield f"http://127.0.0.1:{port}", data
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def client(base: str) -> ccxt.ftx:
    exchange = ccxt.ftx()
    exchange.urls["api"] = {"public": base, "private": base}
    return exchange


def test_ccxt_loads_every_listed_market_and_reads_public_data(server: tuple[str, Path]) -> None:
    ftx = client(server[0])
    markets = ftx.load_markets()
    assert {"BTC/USD", "ETH/USD", "BTC/USD:USD", "ETH/USD:USD", "BTC/USD:USD-270326"} <= set(markets)
    assert markets["BTC/USD:USD"]["swap"] and markets["BTC/USD:USD-270326"]["future"]
    assert markets["BTC/USD"]["precision"]["price"] == 1.0
    assert {"USD", "BTC", "USDC"} <= set(ftx.fetch_currencies())
    ticker = ftx.fetch_ticker("BTC/USD:USD")
    assert ticker["symbol"] == "BTC/USD:USD" and ticker["info"]["name"] == "BTC-PERP"
    info = ftx.public_get_futures_future_name({"future_name": "BTC-PERP"})["result"]
    # the replay of 19 May 2021 (BTC from 39,400 to 30,000 by 13:10) drives the index; an empty
    # book marks at the index
    assert 29_000 < float(info["index"]) < 41_000 and info["mark"] == info["index"]
    assert float(info["lowerBound"]) < float(info["index"]) < float(info["upperBound"])
    book = ftx.fetch_order_book("BTC/USD", 5)
    assert book["bids"] == [] and book["asks"] == []
    candles = ftx.fetch_ohlcv("BTC/USD:USD", "1m", limit=5)
    assert candles and all(len(row) == 6 for row in candles)
    assert ftx.fetch_trades("BTC/USD:USD") == []
    assert ftx.fetch_funding_rate("BTC/USD:USD")["symbol"] == "BTC/USD:USD"
    with pytest.raises(ccxt.BadSymbol):
        ftx.fetch_ticker("NOPE/USD")
    with pytest.raises(ccxt.BadSymbol):
        ftx.public_get_markets_market_name({"market_name": "NOPE-PERP"})


def test_the_async_client_reads_the_same(server: tuple[str, Path]) -> None:
    async def read() -> tuple[int, dict, dict]:
        ftx = ccxt_async.ftx()
        ftx.urls["api"] = {"public": server[0], "private": server[0]}
        try:
            markets = await ftx.load_markets()
            future = await ftx.public_get_futures_future_name({"future_name": "ETH-PERP"})
            return len(markets), await ftx.fetch_ticker("ETH/USD:USD"), future["result"]
        finally:
            await ftx.close()

    count, ticker, future = asyncio.run(read())
    listed = len(recovery.fresh_exchange(server[1]).catalog.markets)  # the directory's, with its products'
    assert listed == 21  # the packaged 12, the leveraged tokens' 8 spot markets and VOL/USD
    assert count == listed and ticker["symbol"] == "ETH/USD:USD" and float(future["index"]) > 1_000


def test_unknown_routes_and_bad_parameters_get_ftxs_envelope(server: tuple[str, Path]) -> None:
    for path, status, error in (
        ("/api/nope", 404, "Not Found: The requested URL was not found on the server"),
        ("/api/markets/BTC-PERP/orderbook?depth=abc", 400, "Invalid parameter depth"),
        ("/api/markets/BTC-PERP/candles?resolution=7", 400, "Invalid parameter resolution"),
        ("/api/futures/BTC/USD", 404, "Not Found"),
        ("/api/futures/ETH-0326/stats", 200, None),
    ):
        try:
            with urllib.request.urlopen(server[0] + path, timeout=5) as reply:
                code, body = reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            code, body = exc.code, json.loads(exc.read())
        assert code == status, path
        if error is None:
            assert body["success"] is True
        else:
            assert body["success"] is False and body["error"].startswith(error), body


def test_ctrl_c_stops_cleanly_and_a_restart_resumes_the_journal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    first = subprocess.run(
        [sys.executable, "-m", "backstop", "--data-dir", str(data), "verify"], capture_output=True, text=True
    )
    before = json.loads(first.stdout)
    assert before["equal"] and before["seq"] > 0  # index updates and ticks were journaled
    proc = start(data, port)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    after = json.loads(
        subprocess.run(
            [sys.executable, "-m", "backstop", "--data-dir", str(data), "verify"],
            capture_output=True,
            text=True,
        ).stdout
    )
    assert after["equal"] and after["seq"] > before["seq"]


def test_tickers_and_funding_history_through_ccxt(server: tuple[str, Path]) -> None:
    ftx = client(server[0])
    tickers = ftx.fetch_tickers()
    assert {"BTC/USD", "BTC/USD:USD", "ETH/USD:USD"} <= set(tickers)
    history = ftx.fetch_funding_rate_history("BTC/USD:USD")
    assert isinstance(history, list)  # no full hour has passed yet: empty, but a real answer
    rates = ftx.public_get_funding_rates({"future": "BTC-PERP"})
    assert rates["success"] is True
