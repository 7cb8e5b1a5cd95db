"""Trading through the real server with ccxt 2.0.90's `ftx` class and signed requests: the
operator API creates accounts with keys, funds them, sets the index and moves a manual clock;
clients place, read, fill, cancel and modify orders; errors arrive as ccxt's exception classes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import ccxt
import pytest
from test_server_public import free_port

TOKEN = "test-operator-token"
PERP = "BTC/USD:USD"
MANUAL = ("--clock", "manual", "--feed", "manual", "--no-agents")


class Server:
    def __init__(self, base: str) -> None:
        self.base = base

    def operator(self, path: str, body: dict | None = None, method: str = "POST", token: str = TOKEN) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read()) | {"status": exc.code}

    def client(self, name: str, usd: int) -> ccxt.ftx:
        keys = self.operator("/operator/accounts", {"name": name})["result"]
        assert self.operator("/operator/deposits", {"account": name, "coin": "USD", "size": usd})["success"]
        exchange = ccxt.ftx({"apiKey": keys["apiKey"], "secret": keys["apiSecret"]})
        exchange.urls["api"] = {"public": self.base, "private": self.base}
        return exchange


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("trading") / "data"
    port = free_port()
    env = dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data), *MANUAL],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/api/markets", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)
    s = Server(base)
    assert s.operator("/operator/index_prices", {"prices": {"BTC": 30000, "ETH": 2000}})["success"]
    assert s.operator("/operator/clock/advance", {"seconds": 2})["result"]["time"] == 2.0
    yield s
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def test_orders_fill_cancel_and_read_back_through_ccxt(server: Server) -> None:
    maker = server.client("maker", 1_000_000)
    alice = server.client("alice", 10_000)
    assert alice.fetch_balance()["USD"]["total"] == 10_000
    ask = maker.create_order(PERP, "limit", "sell", 0.1, 30010, {"clientOrderId": "ask-1"})
    assert ask["status"] == "open" and ask["clientOrderId"] == "ask-1"
    bought = alice.create_order(PERP, "market", "buy", 0.05)
    assert bought["status"] == "closed" and bought["filled"] == 0.05 and bought["average"] == 30010
    (position,) = [p for p in alice.fetch_positions() if p["contracts"]]
    assert position["symbol"] == PERP and position["side"] == "long" and position["contracts"] == 0.05
    assert maker.fetch_order(ask["id"])["filled"] == 0.05
    assert [o["id"] for o in maker.fetch_open_orders(PERP)] == [ask["id"]]
    moved = maker.edit_order(ask["id"], PERP, "limit", "sell", 0.05, 30020)
    assert moved["id"] != ask["id"] and moved["price"] == 30020  # FTX's modify is cancel-and-replace
    maker.cancel_order(moved["id"])
    assert maker.fetch_order(moved["id"])["status"] == "canceled"
    assert maker.fetch_open_orders(PERP) == []
    trade = alice.fetch_my_trades(PERP)[0]
    assert trade["side"] == "buy" and trade["fee"]["cost"] == pytest.approx(30010 * 0.05 * 0.0007)
    assert alice.fetch_trading_fees()[PERP]["taker"] == 0.0007
    history = maker.fetch_orders(PERP)
    assert {o["id"] for o in history} >= {ask["id"], moved["id"]}
    alice.set_leverage(5)
    assert float(alice.private_get_account()["result"]["leverage"]) == 5
    maker.create_order(PERP, "limit", "buy", 0.1, 29000)
    maker.cancel_all_orders(PERP)
    assert maker.fetch_open_orders(PERP) == []


def test_errors_arrive_as_ccxts_exception_classes(server: Server) -> None:
    bob = server.client("bob", 1_000)
    with pytest.raises(ccxt.InsufficientFunds):
        bob.create_order(PERP, "limit", "buy", 10, 30000)
    with pytest.raises(ccxt.InvalidOrder):
        bob.create_order(PERP, "limit", "buy", 0.00001, 30000)
    with pytest.raises(ccxt.OrderNotFound):
        bob.cancel_order("987654")
    with pytest.raises(ccxt.BadSymbol):
        bob.create_order("NOPE/USD", "limit", "buy", 1, 1)
    bob.secret = "wrong"
    with pytest.raises(ccxt.AuthenticationError):
        bob.fetch_balance()


def test_operator_api_reports_and_refuses_a_wrong_token(server: Server) -> None:
    assert server.operator("/operator/state_hash", method="GET")["result"]["sequence"] > 0
    report = server.operator("/operator/solvency", method="GET")["result"]
    assert report["balanced"] is True and report["difference"] == 0
    fund = server.operator("/operator/insurance_fund", method="GET")["result"]
    assert "balance" in fund and isinstance(fund["history"], list)
    refused = server.operator("/operator/state_hash", method="GET", token="nope")
    assert refused["success"] is False and refused["status"] == 401
    bad = server.operator("/operator/deposits", {"account": "nobody", "coin": "USD", "size": 1})
    assert bad == {"success": False, "error": "No such subaccount", "status": 400}


def test_the_manual_clock_moves_only_on_request(server: Server) -> None:
    before = server.operator("/operator/state_hash", method="GET")["result"]
    assert server.operator("/operator/clock/advance", {"seconds": 3})["result"]["time"] == 5.0
    after = server.operator("/operator/state_hash", method="GET")["result"]
    assert after["sequence"] == before["sequence"] + 3 and after["stateHash"] != before["stateHash"]


def test_trigger_orders_through_ccxt_fire_on_the_clock(server: Server) -> None:
    maker = server.client("trigger-maker", 1_000_000)
    carol = server.client("carol", 50_000)
    maker.create_order("ETH/USD:USD", "limit", "sell", 5, 2_010)
    maker.create_order("ETH/USD:USD", "limit", "buy", 5, 1_990)
    carol.create_order("ETH/USD:USD", "market", "buy", 1)
    eth = "ETH/USD:USD"
    stop = carol.create_order(eth, "stop", "sell", 1, None, {"stopPrice": 1_950, "reduceOnly": True})
    assert (
        stop["status"] == "open" and stop["info"]["type"] == "stop" and stop["info"]["orderType"] == "market"
    )
    take = carol.create_order(eth, "takeProfit", "sell", 0.5, 2_100, {"triggerPrice": 2_100})
    trail = carol.create_order(eth, "trailingStop", "sell", 0.5, None, {"trailValue": -30})
    assert float(trail["info"]["trailValue"]) == -30.0
    opened = carol.fetch_open_orders(eth, params={"stop": True})
    assert {o["id"] for o in opened} == {stop["id"], take["id"], trail["id"]}
    carol.cancel_order(take["id"], eth, {"stop": True})
    moved = carol.edit_order(stop["id"], eth, "stop", "sell", 1, None, {"triggerPrice": 1_960})
    assert float(moved["info"]["triggerPrice"]) == 1_960.0
    # the market falls to 1,960 / 1,970: the mark (the median with the last trade, 2,010) is 1,970,
    # under the trailing stop's 2,010 - 30 but not yet at the stop's 1,960
    assert server.operator("/operator/index_prices", {"prices": {"ETH": 1_965}})["success"]
    maker.cancel_all_orders(eth)
    maker.create_order(eth, "limit", "sell", 5, 1_970)
    maker.create_order(eth, "limit", "buy", 5, 1_960)
    server.operator("/operator/clock/advance", {"seconds": 1})
    history = {o["id"]: o for o in carol.fetch_orders(eth, params={"stop": True})}
    assert history[take["id"]]["status"] == "cancelled"  # FTX's trigger status, passed through by ccxt
    assert history[trail["id"]]["info"]["status"] == "triggered"
    fired = carol.private_get_conditional_orders_conditional_order_id_triggers(
        {"conditional_order_id": trail["id"]}
    )
    assert fired["result"] and fired["result"][0]["orderId"]
    assert history[stop["id"]]["info"]["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder):
        carol.create_order(eth, "stop", "sell", 1, None, {"stopPrice": 2_500})  # would fire at once
