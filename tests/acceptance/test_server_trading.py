"""Trading through the real server with ccxt 2.0.90's `ftx` class and signed requests: the
operator API creates accounts with keys, funds them, sets the index and moves a manual clock;
clients place, read, fill, cancel and modify orders; errors arrive as ccxt's exception classes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from test_server_public import free_port

from backstop.server.auth import sign_request

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
        try:  # an hour's clock advance ticks 3,600 seconds through the engine: 10-13 s under load
            with urllib.request.urlopen(request, timeout=120) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read()) | {"status": exc.code}

    def client(self, name: str, usd: int) -> ccxt.ftx:
        keys = self.operator("/operator/accounts", {"name": name})["result"]
        assert self.operator("/operator/deposits", {"account": name, "coin": "USD", "size": usd})["success"]
        # ccxt spaces FTX requests 28 ms apart, which lets 8 orders into one 200 ms window against
        # FTX's (and our) 7; a fast server answers within that spacing, so pace at 30 ms
        exchange = ccxt.ftx({"apiKey": keys["apiKey"], "secret": keys["apiSecret"], "rateLimit": 30})
        exchange.urls["api"] = {"public": self.base, "private": self.base}
        return exchange


@contextlib.contextmanager
def running(data: Path, *options: str) -> Iterator[Server]:
    """`backstop serve` on `data` with a manual clock and feed and no agents (and `options`) on a
    free port, with the test operator token; stopped with Ctrl-C at the end."""
    port = free_port()
    env = dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN)
    args = ("--port", str(port), "--data-dir", str(data), *MANUAL, *options)
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstop", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/api/markets", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.communicate()
                time.sleep(0.2)
        yield Server(base)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A new exchange whose manual clock starts at the epoch (the tests here count its seconds)."""
    with running(tmp_path_factory.mktemp("trading") / "data") as s:
        assert s.operator("/operator/index_prices", {"prices": {"BTC": 30000, "ETH": 2000}})["success"]
        assert s.operator("/operator/clock/advance", {"seconds": 2})["result"]["time"] == 2.0
        yield s


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
    listed = carol.private_get_conditional_orders({"market": "ETH-PERP"})["result"]  # newest first (FTX)
    newest_first = sorted((int(o["id"]) for o in (stop, take, trail)), reverse=True)
    assert [int(o["id"]) for o in listed] == newest_first
    assert maker.private_get_conditional_orders()["result"] == []  # only the caller's own
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


def test_subaccounts_wallet_and_funding_through_ccxt(server: Server) -> None:
    dave = server.client("dave", 20_000)
    created = dave.private_post_subaccounts({"nickname": "hedge"})["result"]
    assert created["nickname"] == "hedge"
    assert [s["nickname"] for s in dave.private_get_subaccounts()["result"]] == ["hedge"]
    moved = dave.transfer("USD", 1_500, "main", "hedge")
    assert moved["status"] == "ok" and moved["fromAccount"] == "main" and moved["toAccount"] == "hedge"
    balances = dave.private_get_subaccounts_nickname_balances({"nickname": "hedge"})["result"]
    assert [(b["coin"], float(b["total"])) for b in balances] == [("USD", 1_500.0)]
    address = dave.fetch_deposit_address("USDT", {"network": "ERC20"})
    assert address["address"].startswith("0x") and len(address["address"]) == 42
    assert [d["amount"] for d in dave.fetch_deposits()] == [20_000.0]
    out = dave.withdraw("USD", 100, "0x" + "ab" * 20, "memo 7")
    assert out["status"] == "ok" and out["amount"] == 100
    assert (out["address"], out["tag"]) == ("0x" + "ab" * 20, "memo 7")
    history = [(w["id"], w["amount"], w["address"], w["tag"]) for w in dave.fetch_withdrawals()]
    assert history == [(out["id"], 100.0, "0x" + "ab" * 20, "memo 7")]  # where it went, kept
    assert dave.fetch_balance()["USD"]["total"] == 20_000 - 1_500 - 100
    assert dave.fetch_funding_history(PERP) == []  # no position, no funding
    ids = [dave.create_order(PERP, "limit", "buy", 0.01, 29_000 + i)["id"] for i in range(3)]
    assert sorted(str(i) for i in dave.cancel_orders(ids)["result"]) == sorted(ids)
    assert dave.fetch_open_orders(PERP) == []


def test_writes_sent_together_are_answered_with_their_own_history_ids(server: Server) -> None:
    """Withdrawals and transfers sent at once share a journal batch; each answer's id is its own
    row's in the history (its command's journal number x 1000 + the event's index)."""
    sync = server.client("gus", 10_000)
    sync.private_post_subaccounts({"nickname": "side"})

    async def send() -> tuple[list[dict], list[dict]]:
        client = ccxt_async.ftx({"apiKey": sync.apiKey, "secret": sync.secret, "enableRateLimit": False})
        client.urls["api"] = {"public": server.base, "private": server.base}
        try:
            await client.load_markets()
            outs = await asyncio.gather(*(client.withdraw("USD", 10 + i, "0x" + "cd" * 20) for i in range(4)))
            moves = await asyncio.gather(*(client.transfer("USD", 1 + i, "main", "side") for i in range(4)))
            return list(outs), list(moves)
        finally:
            await client.close()

    outs, moves = asyncio.run(send())
    history = {w["id"]: w["amount"] for w in sync.fetch_withdrawals()}
    assert history == {out["id"]: out["amount"] for out in outs} and len(history) == 4
    assert len({move["id"] for move in moves}) == 4


def test_order_requests_beyond_the_rate_limit_get_429(server: Server) -> None:
    erin = server.client("erin", 100_000)
    erin.enableRateLimit = False  # send as fast as the client can
    refused = 0
    for i in range(20):
        try:
            erin.create_order(PERP, "limit", "buy", 0.001, 29_500 + i)
        except ccxt.RateLimitExceeded as exc:
            assert "Do not send more than 7 orders per 200ms" in str(exc)
            refused += 1
    assert refused > 0
    erin.cancel_all_orders(PERP)  # cancels are not counted


def raw_order(server: Server, body: bytes, key: str = "", secret: str = "") -> tuple[int, dict]:
    """POST /api/orders with exactly `body`, signed FTX's way when given a key."""
    headers = {"Content-Type": "application/json"}
    if key:
        ts = str(int(time.time() * 1000))
        headers |= {
            "FTX-KEY": key,
            "FTX-TS": ts,
            "FTX-SIGN": sign_request(secret, ts, "POST", "/api/orders", body),
        }
    request = urllib.request.Request(server.base + "/api/orders", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_order_gateway_answers_bad_requests_in_ftxs_envelope_and_changes_nothing(server: Server) -> None:
    keys = server.operator("/operator/accounts", {"name": "fiona"})["result"]
    assert server.operator("/operator/deposits", {"account": "fiona", "coin": "USD", "size": 10_000})[
        "success"
    ]
    key, secret = keys["apiKey"], keys["apiSecret"]
    order = {"market": "BTC-PERP", "side": "buy", "type": "limit", "price": 29_000, "size": 0.01}
    assert raw_order(server, json.dumps(order).encode()) == (
        401,
        {"success": False, "error": "Not logged in"},
    )
    status, reply = raw_order(server, json.dumps(order).encode(), key, "not the secret")
    assert (status, reply["error"]) == (401, "Not logged in: Invalid signature")
    status, reply = raw_order(server, b"{not json", key, secret)
    assert (status, reply) == (400, {"success": False, "error": "Invalid parameter body: not JSON"})
    status, reply = raw_order(server, b" " * (2 << 20), key, secret)
    assert (status, reply) == (413, {"success": False, "error": "Invalid parameter body: too large"})
    status, reply = raw_order(server, json.dumps(order | {"side": "up"}).encode(), key, secret)
    assert status == 400 and reply["success"] is False and "side" in reply["error"].lower()
    fiona = ccxt.ftx({"apiKey": key, "secret": secret})
    fiona.urls["api"] = {"public": server.base, "private": server.base}
    assert fiona.fetch_open_orders(PERP) == [] and fiona.fetch_orders(PERP) == []
    status, reply = raw_order(server, json.dumps(order).encode(), key, secret)
    assert status == 200 and reply["success"] is True
    assert reply["result"]["status"] == "open" and reply["result"]["price"] == 29_000  # resting once durable
    assert [o["id"] for o in fiona.fetch_open_orders(PERP)] == [str(reply["result"]["id"])]


def test_the_operator_raises_a_margin_floor_and_ccxt_sees_insufficient_funds(server: Server) -> None:
    """$1,000 at 20x: 1.5 BTC bid at $29,000 needs 5% x $43,500 = $2,175 > $1,000 already, so use
    0.05 BTC: $1,450 of notional needs $72.50 at 5% but $217.50 at a 15% floor; with $200 it fits
    only under FTX's own formulas."""
    gina = server.client("gina", 200)
    gina.set_leverage(20)
    raised = server.operator("/operator/markets/BTC-PERP/margin", {"imf": 0.15, "mmf": 0.09})
    assert raised == {"success": True, "result": {"market": "BTC-PERP", "imf": 0.15, "mmf": 0.09}}
    with pytest.raises(ccxt.InsufficientFunds):
        gina.create_order(PERP, "limit", "buy", 0.05, 29_000)
    bad = server.operator("/operator/markets/BTC-PERP/margin", {"imf": 0.05, "mmf": 0.09})
    assert bad["success"] is False and "Invalid margin floor" in bad["error"]
    assert server.operator("/operator/markets/BTC-PERP/margin", {"imf": 0, "mmf": 0})["success"]
    placed = gina.create_order(PERP, "limit", "buy", 0.05, 29_000)
    gina.cancel_order(placed["id"], PERP)


def test_a_liquidation_is_public_from_the_ledger(server: Server) -> None:
    def public(path: str) -> dict:
        with urllib.request.urlopen(server.base + path, timeout=10) as reply:
            return json.loads(reply.read())["result"]

    server.client("sol-blp", 1_000_000)
    assert server.operator(
        "/operator/blps", {"account": "sol-blp", "perMinute": 100_000, "perHour": 300_000}
    )["success"]
    maker = server.client("sol-maker", 1_000_000)
    frank = server.client("frank", 1_000)
    frank.set_leverage(20)
    sol = "SOL/USD:USD"
    assert server.operator("/operator/index_prices", {"prices": {"SOL": 100}})["success"]
    server.operator("/operator/clock/advance", {"seconds": 1})
    maker.create_order(sol, "limit", "sell", 150, 100)
    frank.create_order(sol, "market", "buy", 150)  # $15,000 at 15x
    maker.cancel_all_orders(sol)
    assert server.operator("/operator/index_prices", {"prices": {"SOL": 92}})["success"]  # below zero
    server.operator("/operator/clock/advance", {"seconds": 2})
    seen = public("/api/liquidations")
    assert seen["autoClosed"] and seen["autoClosed"][0]["via"] == "backstop"
    assert seen["autoClosed"][0]["market"] == "SOL-PERP" and "account" not in seen["autoClosed"][0]
    fund = public("/api/insurance_fund")
    # the fund was empty: it paid the deficit and clawed it back from the winners of SOL-PERP
    assert [row["reason"] for row in fund["history"][:2]] == ["clawback", "bankruptcy"]
    providers = public("/api/backstop_providers")
    assert providers["providers"] and providers["providers"][0]["usedLastMinute"] > 0
    monitor = {row["market"]: row for row in public("/api/volume_monitor")}
    assert monitor["SOL-PERP"]["openInterest"] == 150
    named = server.operator("/operator/liquidations", method="GET")["result"]
    assert named["steps"][0]["account"] == named["autoClosed"][0]["account"]  # named for the operator
    assert frank.fetch_balance()["USD"]["total"] >= 0
    assert server.operator("/operator/solvency", method="GET")["result"]["balanced"] is True


def test_order_flags_through_ccxt_sync_and_async(server: Server) -> None:
    maker = server.client("flags-maker", 1_000_000)
    funded = server.operator("/operator/deposits", {"account": "flags-maker", "coin": "BTC", "size": 1})
    assert funded["success"]
    hank = server.client("hank", 100_000)
    btc = "BTC/USD"  # spot: a book of its own
    maker.create_order(btc, "limit", "sell", 0.5, 30_020)
    # post-only that would take: cancelled, nothing filled (ccxt reads FTX's closed + remaining 0)
    crossing = hank.create_order(btc, "limit", "buy", 0.1, 30_030, {"postOnly": True})
    assert crossing["status"] == "canceled" and crossing["filled"] == 0
    # IOC: fills what is there, the rest is cancelled
    ioc = hank.create_order(btc, "limit", "buy", 0.7, 30_020, {"timeInForce": "IOC"})
    assert ioc["filled"] == 0.5 and ioc["status"] == "canceled" and float(ioc["info"]["remainingSize"]) == 0
    with pytest.raises(ccxt.InvalidOrder):  # reduce-only with nothing to reduce
        hank.create_order("ETH/USD:USD", "limit", "sell", 0.1, 2_000, {"reduceOnly": True})

    async def async_round_trip() -> tuple[float, str, str]:
        client = ccxt_async.ftx({"apiKey": hank.apiKey, "secret": hank.secret})
        client.urls["api"] = {"public": server.base, "private": server.base}
        try:
            balance = await client.fetch_balance()
            order = await client.create_order(btc, "limit", "buy", 0.01, 29_000, {"clientOrderId": "a-1"})
            await client.cancel_order(order["id"])
            return (
                balance["BTC"]["total"],
                order["clientOrderId"],
                (await client.fetch_order(order["id"]))["status"],
            )
        finally:
            await client.close()

    btc_held, client_id, status = asyncio.run(async_round_trip())
    assert btc_held == 0.5 and client_id == "a-1" and status == "canceled"


def test_an_hour_of_funding_shows_in_ccxts_funding_histories(server: Server) -> None:
    """Last in this module: it moves the shared manual clock by an hour."""
    longer = server.client("funding-long", 100_000)
    shorter = server.client("funding-short", 100_000)
    usdt = "USDT/USD:USD"
    assert server.operator("/operator/index_prices", {"prices": {"USDT": 1}})["success"]
    server.operator("/operator/clock/advance", {"seconds": 1})
    shorter.create_order(usdt, "limit", "sell", 10_000, 1.002)
    longer.create_order(usdt, "limit", "buy", 10_000, 1.002)  # a position each, premium +0.2% from here
    longer.create_order(usdt, "limit", "buy", 1_000, 1.0019)
    shorter.create_order(usdt, "limit", "sell", 1_000, 1.0021)
    server.operator("/operator/clock/advance", {"seconds": 3_700})
    (rate,) = longer.fetch_funding_rate_history(usdt)[-1:]
    assert rate["fundingRate"] > 0  # longs pay shorts
    paid = longer.fetch_funding_history(usdt)
    received = shorter.fetch_funding_history(usdt)
    assert paid[0]["amount"] > 0 and paid[0]["amount"] == pytest.approx(-received[0]["amount"], abs=1e-7)


def test_the_operator_lists_every_account_with_its_keys_and_figures(server: Server) -> None:
    refused = server.operator("/operator/accounts", method="GET", token="nope")
    assert refused == {"success": False, "error": "Not logged in: Invalid operator token", "status": 401}
    maker = server.client("hana-maker", 1_000_000)
    hana = server.client("hana", 50_000)
    bot = server.operator("/operator/accounts", {"name": "hana", "subaccount": "bot"})["result"]
    deposit = {"account": "hana", "subaccount": "bot", "coin": "USD", "size": 700}
    assert server.operator("/operator/deposits", deposit)["success"]
    maker.create_order(PERP, "limit", "sell", 1, 30_010)
    hana.create_order(PERP, "market", "buy", 0.1)
    hana.create_order(PERP, "limit", "buy", 0.1, 29_000)
    listed = server.operator("/operator/accounts?search=HANA", method="GET")
    assert listed["success"] is True
    page = listed["result"]
    assert [a["name"] for a in page["accounts"]] == ["hana-maker", "hana"]  # oldest first, any case
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    (owner,) = [a for a in page["accounts"] if a["name"] == "hana"]
    main, sub = owner["subaccounts"]
    account = hana.private_get_account()["result"]
    assert (main["nickname"], sub["nickname"], sub["id"]) == (None, "bot", bot["id"]) and main["id"] < sub[
        "id"
    ]
    assert main["collateral"] == float(account["collateral"])
    assert main["totalAccountValue"] == float(account["totalAccountValue"])
    balances = hana.private_get_wallet_balances()["result"]  # ccxt hands back FTX's numbers as strings
    assert main["usdValue"] == pytest.approx(sum(float(b["usdValue"]) for b in balances))
    assert (main["openPositions"], main["openOrders"], sub["openPositions"], sub["openOrders"]) == (
        1,
        1,
        0,
        0,
    )
    assert (sub["collateral"], sub["usdValue"]) == (700, 700)
    assert owner["collateral"] == pytest.approx(main["collateral"] + 700)
    assert owner["openPositions"] == 1
    assert [(k["apiKey"], k["label"], k["subaccount"], k["readOnly"]) for k in owner["keys"]] == [
        (hana.apiKey, "operator", None, False),
        (bot["apiKey"], "operator", "bot", False),
    ]
    text = json.dumps(listed)
    assert hana.secret not in text and bot["apiSecret"] not in text and "ecret" not in text
    # a key finds its owner; the figures are the engine's as they are now
    by_key = server.operator(f"/operator/accounts?search={bot['apiKey']}", method="GET")["result"]
    assert [a["name"] for a in by_key["accounts"]] == ["hana"]
    assert server.operator("/operator/deposits", deposit)["success"]
    again = server.operator(f"/operator/accounts?search={bot['apiKey']}", method="GET")["result"]
    assert again["accounts"][0]["subaccounts"][1]["collateral"] == 1_400
    # pages: every owner once, in the same order
    everyone = server.operator("/operator/accounts?limit=1000", method="GET")["result"]
    names = [a["name"] for a in everyone["accounts"]]
    assert everyone["total"] == len(names) == len(set(names)) and {"hana", "hana-maker", "alice"} <= set(
        names
    )
    pages = [
        server.operator(f"/operator/accounts?limit=2&offset={start}", method="GET")["result"]
        for start in range(0, len(names), 2)
    ]
    assert [a["name"] for p in pages for a in p["accounts"]] == names
    none = server.operator("/operator/accounts?search=no-such-owner", method="GET")["result"]
    assert (none["accounts"], none["total"]) == ([], 0)
    for query, name in (
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=1e12", "offset"),
    ):
        bad = server.operator(f"/operator/accounts?{query}", method="GET")
        assert bad == {"success": False, "error": f"Invalid parameter {name}", "status": 400}, query
    hana.cancel_all_orders()
    maker.cancel_all_orders()
    maker.create_order(PERP, "limit", "buy", 0.1, 29_990)
    hana.create_order(PERP, "market", "sell", 0.1, None, {"reduceOnly": True})  # closed again
    maker.cancel_all_orders()


def test_each_balance_shows_the_collateral_weight_the_margin_takes(server: Server) -> None:
    maker = server.client("ivan-maker", 1_000_000)
    assert server.operator("/operator/deposits", {"account": "ivan-maker", "coin": "BTC", "size": 10})[
        "success"
    ]
    maker.create_order("BTC/USD", "limit", "buy", 1, 29_990)
    maker.create_order("BTC/USD", "limit", "sell", 1, 30_010)  # BTC's mark: between the two
    listed = {c["id"]: c["collateralWeight"] for c in maker.public_get_coins()["result"]}
    for name, btc in (("ivan", 1), ("whale", 10_000)):
        client = server.client(name, 1_000)
        assert server.operator("/operator/deposits", {"account": name, "coin": "BTC", "size": btc})["success"]
        rows = {
            b["coin"]: {k: float(b[k]) for k in ("usdValue", "collateralWeight")}
            for b in client.private_get_wallet_balances()["result"]  # ccxt: FTX's numbers as strings
        }
        assert rows["USD"]["collateralWeight"] == 1
        assert 29_990 <= rows["BTC"]["usdValue"] / btc <= 30_010  # at BTC/USD's mark
        collateral = float(client.private_get_account()["result"]["collateral"])
        assert collateral == pytest.approx(sum(r["usdValue"] * r["collateralWeight"] for r in rows.values()))
        if btc == 1:  # the listed weight
            assert rows["BTC"]["collateralWeight"] == float(listed["BTC"]) == 0.975
        else:  # FTX's haircut for a large balance: 1.1 / (1 + imfFactor 0.002 x sqrt(10,000 BTC))
            assert rows["BTC"]["collateralWeight"] == pytest.approx(1.1 / 1.2, abs=1e-8)
    maker.cancel_all_orders()
