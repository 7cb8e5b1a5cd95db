"""FTX's websocket at /ws and /ws/: ping/pong, login, subscribe/unsubscribe; public channels
orderbook (partial + checksummed updates of the top 100), trades, ticker, markets; private
orders and fills.

Fan-out runs as a sequencer listener: after every applied batch the hub turns its events into
frames and queues them on each subscriber's own queue, so a slow client never holds up the
engine; one whose queue overflows is disconnected (it can reconnect and get a fresh partial).
One `BookFeed` per market is shared by its subscribers: a newcomer first brings the feed up to
date (the others get that update) and then receives the feed's own snapshot, so every client
applies the same diffs to the same base.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket

from backstop.engine.commands import Command
from backstop.engine.events import Event, Fill, OrderAccepted, OrderClosed, OrderResized
from backstop.projections.market import Trade
from backstop.server import auth, params
from backstop.server.envelope import ApiError, _default
from backstop.server.order_updates import OrderUpdates
from backstop.server.ws_book import DEPTH, BookFeed, levels

if TYPE_CHECKING:
    from backstop.server.app import ServerState

router = APIRouter()
QUEUE_LIMIT = 10_000
PUBLIC = ("orderbook", "trades", "ticker", "markets")
PRIVATE = ("orders", "fills")
ORDERS = ("orders", "")  # the subscription key of the private orders channel


class Connection:
    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        self.subscriptions: set[tuple[str, str]] = set()  # (channel, market or "")
        self.account: int | None = None
        self.closing = False  # too slow: being closed, frames for it are dropped

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(encode(message))

    def send_text(self, text: str) -> None:
        """Queue an already encoded frame (a broadcast is encoded once for all its subscribers)."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.closing = True  # too slow: close it once the queue drains to the close marker
            self.queue.get_nowait()
            self.queue.put_nowait(None)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, default=_default, separators=(",", ":"))


class Hub:
    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.connections: set[Connection] = set()
        self.books: dict[str, BookFeed] = {}
        self.index: dict[tuple[str, str], set[Connection]] = {}  # (channel, market) -> subscribers
        self.orders = OrderUpdates(server.exchange)  # what the `orders` channel's subscribers see

    def subscribers(self, channel: str, market: str = "") -> set[Connection]:
        return self.index.get((channel, market), set())

    def add(self, connection: Connection, key: tuple[str, str]) -> None:
        connection.subscriptions.add(key)
        self.index.setdefault(key, set()).add(connection)
        if key == ORDERS and connection.account is not None:
            self.orders.watch(connection, connection.account)

    def discard(self, connection: Connection, key: tuple[str, str]) -> None:
        connection.subscriptions.discard(key)
        if key == ORDERS:
            self.orders.unwatch(connection)
        found = self.index.get(key)
        if found is not None:
            found.discard(connection)
            if not found:
                del self.index[key]

    def drop(self, connection: Connection) -> None:
        for key in list(connection.subscriptions):
            self.discard(connection, key)
        self.connections.discard(connection)

    @staticmethod
    def broadcast(frame: dict[str, Any], to: set[Connection]) -> None:
        if to:
            text = encode(frame)
            for c in to:
                c.send_text(text)

    def _book_levels(self, market: str) -> tuple[list[Any], list[Any]]:
        book = self.server.exchange.books[market]
        return levels(book.info, book.bids.depth(DEPTH)), levels(book.info, book.asks.depth(DEPTH))

    def _book_frame(self, market: str, now: float) -> None:
        feed = self.books.setdefault(market, BookFeed(market))
        bids, asks = self._book_levels(market)
        frame = feed.frame(bids, asks, now)
        if frame is not None and frame["type"] == "update":
            self.broadcast(frame, self.subscribers("orderbook", market))

    def subscribe_book(self, connection: Connection, market: str) -> None:
        """Add `connection` to the market's book: the shared feed is brought up to date for those
        already subscribed (the update goes to them only), then the newcomer joins and gets the
        feed's snapshot, so its first frame is the partial the next updates apply to."""
        now = time.time()
        self._book_frame(market, now)
        self.add(connection, ("orderbook", market))
        connection.send(self.books[market].snapshot(now))

    def ticker(self, market: str, now: float) -> dict[str, Any]:
        book = self.server.exchange.books[market]
        info = book.info

        def top(side: Any) -> tuple[float | None, float | None]:
            rows = side.depth(1)
            if not rows:
                return None, None
            return float(info.price_of(rows[0][0])), float(info.size_of(rows[0][1]))

        bid, bid_size = top(book.bids)
        ask, ask_size = top(book.asks)
        last = None if book.last is None else float(info.price_of(book.last))
        data = {"bid": bid, "ask": ask, "bidSize": bid_size, "askSize": ask_size, "last": last, "time": now}
        return {"channel": "ticker", "market": market, "type": "update", "data": data}

    def on_batch(self, commands: Sequence[Command], results: list[list[Event]]) -> None:
        if not self.connections:
            return
        from backstop.server.private import FillRecord, fill_view, order_row_view
        from backstop.server.public import trade_view

        now = time.time()
        s = self.server
        touched: set[str] = set()
        trades: dict[str, list[dict[str, Any]]] = {}
        fills: list[Any] = []
        for events in results:
            for e in events:
                if isinstance(e, Fill):
                    touched.add(e.market)
                    info = s.exchange.catalog.markets[e.market]
                    trade = _recent_trade(s.market_data.trades[e.market], e.trade_id)
                    if trade is not None:
                        trades.setdefault(e.market, []).append(trade_view(info, trade))
                    fills.append(e)
                elif isinstance(e, (OrderAccepted, OrderClosed, OrderResized)):
                    touched.add(e.market)
        for market in sorted(touched):
            if self.subscribers("orderbook", market):
                self._book_frame(market, now)
            ticker_subs = self.subscribers("ticker", market)
            if ticker_subs:
                self.broadcast(self.ticker(market, now), ticker_subs)
        for market, rows in trades.items():
            self.broadcast(
                {"channel": "trades", "market": market, "type": "update", "data": rows},
                self.subscribers("trades", market),
            )
        orders = self.orders.take(results) if self.orders.watchers else {}
        private = self.subscribers("orders") | self.subscribers("fills")
        if not private:
            return
        for c in private:
            account = c.account
            assert account is not None
            watched = self.orders.watchers.get(c)
            if watched is not None:
                for row in orders.get(watched, ()):
                    c.send({"channel": "orders", "type": "update", "data": order_row_view(s, row)})
            if ("fills", "") in c.subscriptions:
                for fill in fills:
                    for taker in (True, False):
                        record = FillRecord(fill, taker)
                        if record.account == account:
                            c.send({"channel": "fills", "type": "update", "data": fill_view(s, record)})


def _recent_trade(recent: Sequence[Trade], trade_id: int) -> Trade | None:
    """The trade `trade_id` among a market's recent trades, looked for from the newest: each of a
    batch's fills is one trade (a market order sweeping five levels makes five), all near the end."""
    for i in range(len(recent) - 1, max(-1, len(recent) - 1 - TRADE_LOOKBACK), -1):
        if recent[i].id == trade_id:
            return recent[i]
    return None


TRADE_LOOKBACK = 100_000  # a batch's trades are within its last this many


async def _sender(connection: Connection) -> None:
    while True:
        text = await connection.queue.get()
        if text is None:
            await connection.socket.close(code=1013)
            return
        await connection.socket.send_text(text)


def _error(connection: Connection, code: int, msg: str) -> None:
    connection.send({"type": "error", "code": code, "msg": msg})


async def _handle(hub: Hub, connection: Connection, message: Any) -> None:
    s = hub.server
    if not isinstance(message, dict):
        _error(connection, 400, "Invalid message")
        return
    op = message.get("op")
    if op == "ping":
        connection.send({"type": "pong"})
        return
    if op == "login":
        args = message.get("args") or {}
        if type(args) is not dict:
            _error(connection, 400, auth.INVALID_LOGIN)
            return
        try:
            principal = auth.verify_ws_login(
                s.keys,
                args.get("key"),
                args.get("sign"),
                args.get("time"),
                time.time_ns() // 1_000_000,
                args.get("subaccount"),
                s.auth_window_ms,
            )
        except auth.AuthError as exc:
            _error(connection, 400, exc.message)
            return
        account = s.exchange.account_id(principal.owner, principal.subaccount)
        if account is None:
            _error(connection, 400, "No such subaccount")
            return
        connection.account = account  # FTX sends nothing on success
        if ORDERS in connection.subscriptions:  # a login to another account: its orders from now on
            hub.orders.unwatch(connection)
            hub.orders.watch(connection, account)
        return
    if op not in ("subscribe", "unsubscribe"):
        _error(connection, 400, f"Unsupported op: {op}")
        return
    channel = message.get("channel")
    if channel in PRIVATE:
        key = (str(channel), "")
        if connection.account is None:
            _error(connection, 400, "Not logged in")
            return
        ack: dict[str, Any] = {"type": f"{op}d", "channel": channel}
    elif channel in PUBLIC:
        market = message.get("market")
        if channel == "markets":
            market = ""
        elif not isinstance(market, str) or market not in s.exchange.books:
            _error(connection, 404, f"No such market: {market}")
            return
        key = (str(channel), market)
        ack = {"type": f"{op}d", "channel": channel, **({"market": market} if market else {})}
    else:
        _error(connection, 400, f"No such channel: {channel}")
        return
    if op == "unsubscribe":
        if key not in connection.subscriptions:
            _error(connection, 400, "Not subscribed")
            return
        hub.discard(connection, key)
        connection.send(ack)
        return
    if key in connection.subscriptions:
        _error(connection, 400, "Already subscribed")
        return
    connection.send(ack)
    if channel == "orderbook":
        hub.subscribe_book(connection, key[1])
        return
    hub.add(connection, key)
    if channel == "markets":
        from backstop.server.public import future_view, market_view

        data = {}
        for book in s.exchange.book_list:
            view = market_view(s, book)
            if not book.info.is_spot:
                view["future"] = future_view(s, book)
            data[book.market] = view
        connection.send(
            {"channel": "markets", "type": "partial", "data": {"action": "partial", "data": data}}
        )


@router.websocket("/ws")
@router.websocket("/ws/")
async def websocket(socket: WebSocket) -> None:
    hub: Hub = socket.app.state.server.hub
    await socket.accept()
    connection = Connection(socket)
    hub.connections.add(connection)
    sender = asyncio.get_running_loop().create_task(_sender(connection))
    try:
        while True:
            frame = await socket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            try:  # a text frame, or a binary one holding the same UTF-8 JSON
                message = params.loads(frame.get("text") or frame.get("bytes") or b"")
            except ApiError:
                _error(connection, 400, "Invalid JSON")
                continue
            await _handle(hub, connection, message)
    finally:
        hub.drop(connection)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
