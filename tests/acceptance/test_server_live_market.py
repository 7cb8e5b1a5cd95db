"""`backstop serve` as a newcomer runs it: the replay feed, the wall clock and the simulated
agents. Within seconds the books are two-sided around the index and trading; ccxt.pro watches the
order book through the busy stretch with every checksum holding; the demo key trades."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import ccxt
import ccxt.pro as pro
from test_server_public import free_port


def test_a_live_market_within_seconds_and_its_book_over_a_busy_stretch(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backstop",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = ""
        deadline = time.time() + 30
        while "demo account" not in banner:
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.stderr else ""
            banner += proc.stdout.readline() if proc.stdout else ""
        key, secret = re.search(r"apiKey (\S+)\s+apiSecret (\S+)", banner).groups()  # type: ignore[union-attr]
        public = ccxt.ftx()
        public.urls["api"] = {"public": base, "private": base}
        book: dict = {"bids": [], "asks": []}
        while not (book["bids"] and book["asks"]) and time.time() < deadline:
            time.sleep(0.5)
            book = public.fetch_order_book("BTC/USD:USD")
        assert book["bids"] and book["asks"], "no two-sided book within 30 s"
        index = float(public.public_get_futures_future_name({"future_name": "BTC-PERP"})["result"]["index"])
        mid = (book["bids"][0][0] + book["asks"][0][0]) / 2
        assert abs(mid / index - 1) < 0.01

        async def watch(seconds: float) -> tuple[int, int]:
            client = pro.ftx()
            client.urls["api"] = {"public": base, "private": base, "ws": base.replace("http", "ws") + "/ws"}
            trader = pro.ftx({"apiKey": key, "secret": secret})  # the demo key adds its own churn
            trader.urls["api"] = client.urls["api"]
            frames = trades = 0
            try:
                await asyncio.gather(client.load_markets(), trader.load_markets())
                end = time.time() + seconds

                async def churn() -> None:
                    n = 0
                    while time.time() < end:
                        top = await trader.fetch_order_book("BTC/USD:USD", 1)
                        if top["bids"]:
                            price = top["bids"][0][0] - 1 - n % 20
                            order = await trader.create_order("BTC/USD:USD", "limit", "buy", 0.001, price)
                            await asyncio.sleep(0.1)
                            with contextlib.suppress(ccxt.InvalidOrder):
                                await trader.cancel_order(order["id"])
                        n += 1
                        await asyncio.sleep(0.1)

                async def books() -> None:
                    nonlocal frames
                    while time.time() < end:
                        await client.watch_order_book("BTC/USD:USD")  # InvalidNonce on any bad checksum
                        frames += 1

                async def prints() -> None:
                    nonlocal trades
                    while time.time() < end:
                        trades += len(await client.watch_trades("BTC/USD:USD"))

                await asyncio.wait_for(asyncio.gather(books(), prints(), churn()), seconds + 15)
            finally:
                await asyncio.gather(client.close(), trader.close())
            return frames, trades

        frames, trades = asyncio.run(watch(60))  # a busy minute, every checksum verified
        assert frames > 200 and trades > 0
        demo = ccxt.ftx({"apiKey": key, "secret": secret})
        demo.urls["api"] = {"public": base, "private": base}
        assert demo.fetch_balance()["USD"]["total"] >= 100_000 - 1
        order = demo.create_order("BTC/USD:USD", "market", "buy", 0.01)
        assert order["filled"] == 0.01
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
