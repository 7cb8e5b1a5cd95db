"""With the history database stopped, trading goes on and every write is answered from the
engine's events: a private PostgreSQL server (initdb and pg_ctl run as the postgres user in a
temporary directory, on a free port) under a real `backstop serve --database`, and ccxt clients
trading while it is stopped. Every order, trigger order and wallet write is answered as executed;
open orders, positions and balances (read from the engine) agree with the answers; history reads
answer 503 in FTX's envelope (ccxt's ExchangeNotAvailable, never "Order not found"); once
PostgreSQL is back the server's history catches up by itself and holds every order, fill and
withdrawal made meanwhile, without a restart. The journal replays to the state the server had."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from test_server_history import start, stop
from test_server_public import free_port
from test_server_trading import Server
from websockets.sync.client import connect

from backstop.engine import errors
from backstop.server.auth import sign_request, ws_login_signature

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PERP = "BTC/USD:USD"


class PrivatePostgres:
    """A PostgreSQL server of the test's own, run as the postgres user (it refuses root)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def run(self, *args: str) -> None:
        command = shlex.join([str(a) for a in args])
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0:
        pytest.skip("a private PostgreSQL server is run as the postgres user, which needs root")
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN}")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user to run PostgreSQL as")
    directory = Path(tempfile.mkdtemp(prefix="backstop-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    pg = PrivatePostgres(directory, free_port())
    try:
        pg.run(str(PG_BIN / "initdb"), "-D", str(pg.data), "-A", "trust", "-U", "postgres", "--no-sync")
        pg.start()
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"a private PostgreSQL server could not be made: {exc.stderr!r}")
    try:
        yield pg
    finally:
        subprocess.run(
            [
                "su",
                "postgres",
                "-c",
                shlex.join([str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-m", "immediate", "stop"]),
            ],
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def signed_get(server: Server, client: ccxt.ftx, path: str) -> tuple[int, dict]:
    ts = str(int(time.time() * 1000))
    headers = {
        "FTX-KEY": client.apiKey,
        "FTX-TS": ts,
        "FTX-SIGN": sign_request(client.secret, ts, "GET", path),
    }
    request = urllib.request.Request(server.base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class OrderFrames(threading.Thread):
    """A websocket client logged in as `client`, subscribed to its `orders` channel: every
    update it receives, in order."""

    def __init__(self, server: Server, client: ccxt.ftx) -> None:
        super().__init__(daemon=True)
        self.url = server.base.replace("http", "ws") + "/ws"
        self.client = client
        self.updates: list[dict] = []
        self.subscribed = threading.Event()
        self.closing = threading.Event()
        self.start()
        assert self.subscribed.wait(10)

    def run(self) -> None:
        with connect(self.url) as socket:
            now = int(time.time() * 1000)
            sign = ws_login_signature(self.client.secret, now)
            login = {"key": self.client.apiKey, "sign": sign, "time": now}
            socket.send(json.dumps({"op": "login", "args": login}))
            socket.send(json.dumps({"op": "subscribe", "channel": "orders"}))
            if json.loads(socket.recv(timeout=10)) == {"type": "subscribed", "channel": "orders"}:
                self.subscribed.set()
            while not self.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    self.updates.append(json.loads(socket.recv(timeout=0.2))["data"])

    def last(self) -> dict[int, dict]:
        """Each order's latest update, once the stream has gone quiet."""
        seen = -1
        while seen != len(self.updates):
            seen = len(self.updates)
            time.sleep(0.5)
        return {u["id"]: u for u in self.updates}


def test_writes_are_answered_from_the_engine_while_the_history_database_is_down(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc = start(data, port, postgres.url)
    server = Server(f"http://127.0.0.1:{port}")
    try:
        server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})
        server.operator("/operator/clock/advance", {"seconds": 1})
        maker = server.client("maker", 10_000_000)
        taker = server.client("taker", 100_000)
        taker.set_leverage(5)
        first = maker.create_order(PERP, "limit", "sell", 0.1, 30_100)
        assert [o["id"] for o in maker.fetch_orders(PERP)] == [first["id"]]  # the history answers

        frames = OrderFrames(server, maker)  # the maker's orders over the websocket
        postgres.stop()
        # orders that close within their own command (market, IOC, post-only), the answer the
        # history used to give; each taker order fills against the maker's ladder at once
        ladder = [maker.create_order(PERP, "limit", "sell", 0.5, 30_010 + i) for i in range(4)]
        assert all(o["status"] == "open" and o["filled"] == 0 for o in ladder)
        markets = [taker.create_order(PERP, "market", "buy", 0.05) for _ in range(20)]
        for order in markets:
            assert (order["status"], order["filled"], order["remaining"]) == ("closed", 0.05, 0)
            assert order["average"] in (30_010, 30_011)
        # the market orders took 30,010 and 30,011; this takes 30,012's 0.5 and no more
        ioc = taker.create_order(PERP, "limit", "buy", 0.7, 30_012, {"timeInForce": "IOC"})
        assert (ioc["status"], ioc["filled"], ioc["average"]) == ("canceled", 0.5, 30_012)  # FTX: closed
        crossing = taker.create_order(PERP, "limit", "buy", 0.01, 30_013, {"postOnly": True})
        assert (crossing["status"], crossing["filled"]) == ("canceled", 0)
        resting = taker.create_order(PERP, "limit", "buy", 0.1, 29_600, {"clientOrderId": "down-1"})
        moved = taker.edit_order(resting["id"], PERP, "limit", "buy", 0.2, 29_650)
        assert (moved["status"], moved["amount"], moved["price"]) == ("open", 0.2, 29_650)
        parked = taker.create_order(PERP, "limit", "buy", 0.1, 29_500)
        taker.cancel_order(parked["id"])
        # trigger orders, wallet and account writes
        stop_order = taker.create_order(PERP, "stop", "sell", 0.1, None, {"stopPrice": 25_000})
        assert stop_order["status"] == "open" and float(stop_order["info"]["triggerPrice"]) == 25_000
        edited = taker.edit_order(stop_order["id"], PERP, "stop", "sell", 0.2, None, {"triggerPrice": 24_000})
        assert float(edited["info"]["triggerPrice"]) == 24_000 and edited["amount"] == 0.2
        dropped = taker.create_order(PERP, "stop", "sell", 0.1, None, {"stopPrice": 20_000})
        assert taker.cancel_order(dropped["id"], PERP, {"stop": True}) == "Order cancelled"
        assert taker.private_post_subaccounts({"nickname": "side"})["result"]["nickname"] == "side"
        assert taker.transfer("USD", 250, "main", "side")["status"] == "ok"
        assert taker.withdraw("USD", 100, "0x" + "ab" * 20)["status"] == "ok"
        taker.set_leverage(10)

        # what the engine says agrees with every answer, without the history
        filled = sum(o["filled"] for o in [*markets, ioc])
        (position,) = [p for p in taker.fetch_positions([PERP]) if p["contracts"]]
        assert position["contracts"] == pytest.approx(filled) and position["side"] == "long"
        open_ids = {o["id"] for o in taker.fetch_open_orders(PERP)}
        assert open_ids == {moved["id"]}
        assert taker.fetch_order(moved["id"])["clientOrderId"] == "down-1"  # open: the engine's
        assert {o["id"] for o in taker.fetch_open_orders(PERP, params={"stop": True})} == {stop_order["id"]}
        (short,) = [p for p in maker.fetch_positions([PERP]) if p["contracts"]]
        assert short["contracts"] == pytest.approx(filled) and short["side"] == "short"
        balance = taker.fetch_balance()["USD"]["total"]
        side = taker.private_get_subaccounts_nickname_balances({"nickname": "side"})["result"]
        assert [(b["coin"], float(b["total"])) for b in side] == [("USD", 250.0)]
        down_hash = server.operator("/operator/state_hash", method="GET")["result"]
        # the websocket showed the maker's orders closing, filled, without the history
        pushed = frames.last()
        for order in ladder[:3]:  # taken whole by the market and IOC orders
            update = pushed[int(order["id"])]
            assert (update["status"], update["filledSize"], update["avgFillPrice"]) == (
                "closed",
                0.5,
                order["price"],
            )
        frames.closing.set()

        # history reads answer 503, FTX's envelope: never a wrong "Order not found"
        status, body = signed_get(server, taker, "/api/fills?market=BTC-PERP")
        assert (status, body) == (503, {"success": False, "error": errors.HISTORY_UNAVAILABLE})
        status, body = signed_get(server, taker, f"/api/orders/{markets[0]['id']}")
        assert (status, body["error"]) == (503, errors.HISTORY_UNAVAILABLE)
        for read in (
            lambda: taker.fetch_my_trades(PERP),
            lambda: taker.fetch_orders(PERP),
            lambda: taker.fetch_order(markets[0]["id"]),
            lambda: taker.fetch_withdrawals(),
        ):
            with pytest.raises(ccxt.ExchangeNotAvailable):
                read()

        postgres.start()  # the server is not restarted: its history catches up by itself
        deadline = time.time() + 60
        while True:
            try:
                trades = taker.fetch_my_trades(PERP, limit=1000)
                break
            except ccxt.ExchangeNotAvailable:
                assert time.time() < deadline, "the history never caught up"
                time.sleep(0.5)
        assert sum(t["amount"] for t in trades) == pytest.approx(filled)
        fees = sum(t["fee"]["cost"] for t in trades)
        assert balance == pytest.approx(100_000 - fees - 250 - 100, abs=1e-8)
        history = {o["id"]: o for o in taker.fetch_orders(PERP, limit=100)}
        for answered in [*markets, ioc, crossing, moved]:
            found = history[answered["id"]]
            assert (found["status"], found["filled"], found["remaining"], found["average"]) == (
                answered["status"],
                answered["filled"],
                answered["remaining"],
                answered["average"],
            )
        assert (
            history[resting["id"]]["status"] == "canceled" and history[parked["id"]]["status"] == "canceled"
        )
        assert [w["amount"] for w in taker.fetch_withdrawals()] == [100.0]
        triggers = {o["id"]: o["info"] for o in taker.fetch_orders(PERP, params={"stop": True})}
        assert (
            triggers[dropped["id"]]["status"] == "cancelled"
            and triggers[stop_order["id"]]["status"] == "open"
        )
        assert (
            server.operator("/operator/state_hash", method="GET")["result"] == down_hash
        )  # nothing ran twice
    finally:
        stop(proc)
    verified = subprocess.run(
        [sys.executable, "-m", "backstop", "--data-dir", str(data), "verify"], capture_output=True, text=True
    )
    replayed = json.loads(verified.stdout)
    assert replayed["equal"] and replayed["replayed"] == down_hash["stateHash"]
