"""`backstop serve` as a newcomer runs it: the replay feed, the wall clock and the simulated
agents. Within seconds the books are two-sided around the index and trading; ccxt.pro watches the
order book through the busy stretch with every checksum holding; the demo key trades. On a manual
clock: every listed market quoted twenty levels deep, an insurance fund seeded once through the
journal, and a liquidation in the public feed within minutes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro as pro
from test_server_public import free_port

from backstop.engine.commands import CreateAccount, Deposit, FundInsurance
from backstop.journal import recovery
from backstop.journal.log import read
from backstop.products.volume_token.commands import IssueVolumeToken

LEVELS = 20  # FTX's default order book depth
MINUTES = 5  # at the default speed (history in real time), from the default opening: a newcomer's wait


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

                async def until_end(watch: Any) -> Any:
                    """The next frame, or None once the stretch is over: a quiet market at its end
                    (no print for seconds) ends the watch instead of hanging it."""
                    try:
                        return await asyncio.wait_for(watch, max(end - time.time(), 0.1))
                    except TimeoutError:
                        return None

                async def books() -> None:
                    nonlocal frames
                    while time.time() < end:  # InvalidNonce on any bad checksum
                        if await until_end(client.watch_order_book("BTC/USD:USD")) is not None:
                            frames += 1

                async def prints() -> None:
                    nonlocal trades
                    while time.time() < end:
                        trades += len(await until_end(client.watch_trades("BTC/USD:USD")) or [])

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


class Demo:
    """`backstop serve` with its defaults (the replay in real time from its default opening, the
    agents) but a manual clock, which the test advances a second at a time as the wall clock would."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = ["--port", str(self.port), "--data-dir", str(data), "--clock", "manual"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backstop", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = ""
        deadline = time.time() + 30
        while "demo account" not in self.banner:
            assert self.proc.poll() is None and time.time() < deadline, self.proc.communicate()
            self.banner += self.proc.stdout.readline() if self.proc.stdout else ""
        self.token = (data / "operator_token").read_text().strip()
        while True:  # the banner comes as the app starts, just before uvicorn listens
            try:
                self.get("/api/markets")
                break
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline
                time.sleep(0.1)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as reply:
            return json.load(reply)["result"]

    def advance(self, seconds: int) -> None:
        for _ in range(seconds):  # one at a time, so the agents step after every tick as they do live
            request = urllib.request.Request(
                self.base + "/operator/clock/advance",
                data=json.dumps({"seconds": 1}).encode(),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert json.load(reply)["success"]

    def liquidated(self) -> bool:
        """A liquidation in the public feed: an auto-close or orderly order in /api/liquidations,
        or a trade flagged `liquidation: true`."""
        seen = self.get("/api/liquidations")
        if seen["autoClosed"] or seen["orderlyOrders"]:
            return True
        return any(
            trade["liquidation"]
            for market in ("BTC-PERP", "ETH-PERP", "SOL-PERP")
            for trade in self.get(f"/api/markets/{market}/trades?limit=100")
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=30) == 0


def seeds(data: Path) -> list[FundInsurance]:
    """The FundInsurance commands in the journal, checked to come from the operator's account
    after a deposit to it."""
    commands = [c for _, c in read(data)]
    created = [c for c in commands if isinstance(c, CreateAccount) and c.owner == "operator"]
    assert len(created) == 1
    funding = [c for c in commands if isinstance(c, FundInsurance)]
    for c in funding:
        assert any(isinstance(d, Deposit) and d.account == c.account for d in commands)
    return funding


def issues(data: Path) -> list[tuple[int, int]]:
    """(supply, divisor) of each IssueVolumeToken in the journal."""
    return [(c.supply, c.divisor) for _, c in read(data) if isinstance(c, IssueVolumeToken)]


def test_a_newcomer_sees_every_market_quoted_a_seeded_fund_and_a_liquidation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = Demo(data)
    try:
        demo.advance(60)
        markets = demo.get("/api/markets")
        assert len(markets) == len(recovery.fresh_exchange(data).catalog.markets) == 21  # tokens, VOL/USD
        for market in markets:
            assert market["price"] is not None and market["bid"] < market["ask"], market["name"]
            book = demo.get(f"/api/markets/{market['name']}/orderbook?depth=100")
            assert len(book["bids"]) >= LEVELS and len(book["asks"]) >= LEVELS, market["name"]
        for future in demo.get("/api/futures"):
            assert future["index"] is not None and future["mark"] is not None, future["name"]
        assert "insurance fund $5,250,000" in demo.banner
        assert "volume token VOL: target = 24h volume / 250,000,000" in demo.banner
        fund = demo.get("/api/insurance_fund")
        seeded = [r for r in fund["history"] if r["reason"] == "seed"]
        assert [r["change"] for r in seeded] == [5_250_000] and fund["balance"] > 0  # it may have paid since
        waited = 60
        while not demo.liquidated():
            assert waited < MINUTES * 60, f"no liquidation in {MINUTES} exchange minutes"
            demo.advance(15)
            waited += 15
    finally:
        demo.stop()
    (seed,) = seeds(data)
    assert seed.amount == 5_250_000 * 10**8
    assert issues(data) == [(500_000 * 10**8, 250_000_000)]  # VOL issued by the agents' setup, once

    again = Demo(data)  # a restart: the fund is the journal's, not seeded twice
    try:
        assert "insurance fund $" in again.banner
        again.advance(5)
        fund = again.get("/api/insurance_fund")
        assert fund["balance"] > 0
        assert [r["reason"] for r in fund["history"]].count("seed") == 1
    finally:
        again.stop()
    assert len(seeds(data)) == 1
    assert len(issues(data)) == 1
