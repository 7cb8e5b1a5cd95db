"""The websocket through ccxt.pro 2.0.90's own `ftx` client against the real server: order book
partials and checksummed updates over a busy stretch of trading, trades, tickers, and the private
orders and fills channels; plus FTX's ping, login and error frames on a raw socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

import ccxt
import ccxt.pro as pro
import pytest
import websockets
from test_server_trading import PERP, Server
from test_server_trading import server as server  # the running server fixture

from backstop.server.auth import ws_login_signature


def pro_client(server: Server, name: str, usd: int) -> pro.ftx:
    rest = server.client(name, usd)
    client = pro.ftx({"apiKey": rest.apiKey, "secret": rest.secret})
    client.urls["api"] = {
        "public": server.base,
        "private": server.base,
        "ws": server.base.replace("http", "ws") + "/ws",
    }
    return client


def test_order_book_checksums_hold_over_a_busy_stretch(server: Server) -> None:
    async def run() -> tuple[int, list, list, dict]:
        watcher = pro_client(server, "ws-watcher", 1_000)
        maker = pro_client(server, "ws-maker", 5_000_000)
        taker = pro_client(server, "ws-taker", 5_000_000)
        rng = random.Random(3)
        seen = 0
        latest: dict = {}

        async def watch() -> None:  # a bad checksum raises InvalidNonce here and fails the test
            nonlocal seen, latest
            while True:
                latest = await watcher.watch_order_book(PERP)
                seen += 1

        try:
            await asyncio.gather(watcher.load_markets(), maker.load_markets(), taker.load_markets())
            await maker.create_order(PERP, "limit", "sell", 1, 30_050)
            await maker.create_order(PERP, "limit", "buy", 1, 29_950)
            watching = asyncio.create_task(watch())
            for i in range(120):  # quotes arriving, being taken and cancelled
                side = rng.choice(("buy", "sell"))
                price = 29_960 + rng.randrange(80) if side == "buy" else 30_040 - rng.randrange(80)
                order = await maker.create_order(PERP, "limit", side, rng.choice((0.01, 0.05, 0.2)), price)
                if i % 7 == 0:
                    await taker.create_order(PERP, "market", rng.choice(("buy", "sell")), 0.05)
                if i % 5 == 0:
                    with contextlib.suppress(ccxt.InvalidOrder):  # already closed: the taker got there first
                        await maker.cancel_order(order["id"], PERP)
            await asyncio.sleep(0.5)
            assert not watching.done(), watching.exception()
            watching.cancel()
            truth = await taker.fetch_order_book(PERP, 100)
            return seen, latest["bids"][:100], latest["asks"][:100], truth
        finally:
            await asyncio.gather(watcher.close(), maker.close(), taker.close())

    seen, bids, asks, truth = asyncio.run(run())
    assert seen > 50  # frames kept arriving and every checksum held
    assert [list(level[:2]) for level in bids] == [list(level[:2]) for level in truth["bids"]]
    assert [list(level[:2]) for level in asks] == [list(level[:2]) for level in truth["asks"]]


def test_trades_ticker_and_private_orders_and_fills(server: Server) -> None:
    eth = "ETH/USD:USD"  # a book of its own

    async def run() -> tuple[list, list, list, list, dict]:
        alice = pro_client(server, "ws-alice", 100_000)
        maker = pro_client(server, "ws-maker-2", 1_000_000)
        try:
            await asyncio.gather(alice.load_markets(), maker.load_markets())
            await maker.create_order(eth, "limit", "sell", 0.5, 2_001)
            orders = asyncio.create_task(alice.watch_orders(eth))
            mine = asyncio.create_task(alice.watch_my_trades(eth))
            public = asyncio.create_task(maker.watch_trades(eth))
            ticker = asyncio.create_task(maker.watch_ticker(eth))
            await asyncio.sleep(0.3)
            await alice.create_order(eth, "market", "buy", 0.1)
            got = await asyncio.wait_for(asyncio.gather(orders, mine, public, ticker), 10)
            return got[0], got[1], got[2], [], got[3]
        finally:
            await asyncio.gather(alice.close(), maker.close())

    orders, mine, public, _, ticker = asyncio.run(run())
    assert orders[-1]["status"] == "closed" and orders[-1]["filled"] == 0.1
    assert [(t["side"], t["amount"], t["price"]) for t in mine] == [("buy", 0.1, 2_001.0)]
    assert public[-1]["amount"] == 0.1 and public[-1]["side"] == "buy"
    assert ticker["last"] == 2_001.0 and ticker["ask"] == 2_001.0


def test_ping_login_and_errors_on_a_raw_socket(server: Server) -> None:
    keys = server.operator("/operator/accounts", {"name": "ws-raw"})["result"]

    async def run() -> list[dict]:
        url = server.base.replace("http", "ws") + "/ws/"
        replies = []
        async with websockets.connect(url) as ws:
            for message in (
                {"op": "ping"},
                {"op": "subscribe", "channel": "fills"},
                {"op": "subscribe", "channel": "trades", "market": "NOPE-PERP"},
                {
                    "op": "login",
                    "args": {"key": keys["apiKey"], "sign": "00" * 32, "time": int(time.time() * 1000)},
                },
            ):
                await ws.send(json.dumps(message))
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            now = int(time.time() * 1000)
            sign = ws_login_signature(keys["apiSecret"], now)
            await ws.send(
                json.dumps({"op": "login", "args": {"key": keys["apiKey"], "sign": sign, "time": now}})
            )
            await ws.send(json.dumps({"op": "subscribe", "channel": "fills"}))  # login is silent on success
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            await ws.send(json.dumps({"op": "subscribe", "channel": "fills"}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return replies

    replies = asyncio.run(run())
    assert replies == [
        {"type": "pong"},
        {"type": "error", "code": 400, "msg": "Not logged in"},
        {"type": "error", "code": 404, "msg": "No such market: NOPE-PERP"},
        {"type": "error", "code": 400, "msg": "Invalid login credentials"},
        {"type": "subscribed", "channel": "fills"},
        {"type": "error", "code": 400, "msg": "Already subscribed"},
    ]


@pytest.mark.parametrize("path", ["/ws", "/ws/"])
def test_both_paths_answer(server: Server, path: str) -> None:
    async def run() -> dict:
        async with websockets.connect(server.base.replace("http", "ws") + path) as ws:
            await ws.send('{"op":"ping"}')
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(run()) == {"type": "pong"}


def test_a_second_login_moves_the_orders_channel_to_the_new_account(server: Server) -> None:
    """One socket logged in to an owner's main account, subscribed to orders, then logged in to
    its subaccount: from then on it is sent the subaccount's orders, not the main account's (as
    the fills channel follows the login)."""
    main = server.client("ws-relogin", 50_000)
    main.private_post_subaccounts({"nickname": "side"})
    main.transfer("USD", 10_000, "main", "side")
    side = ccxt.ftx({"apiKey": main.apiKey, "secret": main.secret, "headers": {"FTX-SUBACCOUNT": "side"}})
    side.urls["api"] = {"public": server.base, "private": server.base}

    async def run() -> list[dict]:
        def login(subaccount: str | None) -> str:
            now = int(time.time() * 1000)
            args = {"key": main.apiKey, "sign": ws_login_signature(main.secret, now), "time": now}
            if subaccount is not None:
                args["subaccount"] = subaccount
            return json.dumps({"op": "login", "args": args})

        updates = []
        async with websockets.connect(server.base.replace("http", "ws") + "/ws") as ws:
            await ws.send(login(None))
            await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed"
            await ws.send(login("side"))
            await ws.send(json.dumps({"op": "ping"}))  # the login is applied once its pong is back
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
            await asyncio.to_thread(main.create_order, PERP, "limit", "buy", 0.01, 29_000)
            await asyncio.to_thread(side.create_order, PERP, "limit", "buy", 0.02, 29_001)
            with contextlib.suppress(TimeoutError):
                while True:
                    updates.append(json.loads(await asyncio.wait_for(ws.recv(), 2)))
        return updates

    updates = asyncio.run(run())
    sizes = [u["data"]["size"] for u in updates if u.get("channel") == "orders"]
    assert sizes == [0.02], updates


def test_a_returning_subscriber_gets_its_partial_first(server: Server) -> None:
    """A market's book feed outlives its last subscriber: the book moves while nobody watches, and
    the next subscriber's first orderbook frame must be the partial of the book as it now is (an
    update catching the shared feed up is for those already subscribed, and there are none)."""
    market, symbol = "ETH-PERP", "ETH/USD:USD"
    maker = server.client("ws-return", 1_000_000)
    url = server.base.replace("http", "ws") + "/ws"

    async def frames(ws: websockets.ClientConnection, n: int) -> list[dict]:
        return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]

    async def run() -> tuple[list[dict], list[dict]]:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "orderbook", "market": market}))
            first = await frames(ws, 2)  # subscribed, partial
            await ws.send(json.dumps({"op": "unsubscribe", "channel": "orderbook", "market": market}))
            await frames(ws, 1)  # unsubscribed
            price = 2_040 + len(first[1]["data"]["asks"])  # a level the asks did not have
            await asyncio.to_thread(maker.create_order, symbol, "limit", "sell", 0.1, price)
            await ws.send(json.dumps({"op": "subscribe", "channel": "orderbook", "market": market}))
            again = await frames(ws, 2)
        return first, again

    first, again = asyncio.run(run())
    assert first[0]["type"] == "subscribed" and first[1]["type"] == "partial"
    assert again[0] == {"type": "subscribed", "channel": "orderbook", "market": market}
    assert again[1]["type"] == "partial", again[1]
    book = maker.fetch_order_book(symbol, 100)
    assert again[1]["data"]["asks"] == [level[:2] for level in book["asks"]]
    assert again[1]["data"]["bids"] == [level[:2] for level in book["bids"]]
