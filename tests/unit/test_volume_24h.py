"""The exchange's rolling 24-hour volume (engine/volume.py), kept in the engine's state: it rises with
each fill (once per trade, its USD value), minutes leave the window exactly at its edge, the total
is the sum of the markets, a recount from the trades gives the same number, reading changes
nothing, and it survives a snapshot, a restore and a replay bit for bit."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_kit import DAY_US, Desk, usd

from backstop.engine import state, volume
from backstop.engine.amounts import from_atoms
from backstop.engine.book import MARKET_STATE
from backstop.engine.commands import CreateAccount, Deposit, PlaceOrder, Tick
from backstop.engine.events import Fill, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.restore import restore
from backstop.journal import snapshot
from backstop.server import serve
from backstop.server.app import create_app

MINUTE = 60_000_000
T0 = 20 * DAY_US  # a day's first microsecond: minute 28,800
M0 = T0 // MINUTE
LAST_US = MINUTE - 1  # the last microsecond of a minute, from its start


class Trades(Desk):
    """A Desk with a seller and a buyer (made, or found on `ex`), recording every command it sends
    and every fill as (market, ts, USD atoms worked out by hand from its price and size)."""

    def __init__(self, ex: Exchange | None = None, start_ts: int = T0 - 10_000_000) -> None:
        super().__init__(start_ts=start_ts)
        self.sent: list[Any] = []
        self.fills: list[tuple[str, int, int]] = []
        if ex is None:
            self.seller = self.account("seller", "", 100_000_000, BTC=1_000, ETH=10_000)
            self.buyer = self.account("buyer", "", 100_000_000)
        else:
            self.ex = ex
            seller, buyer = ex.account_id("seller"), ex.account_id("buyer")
            assert seller is not None and buyer is not None
            self.seller, self.buyer = seller, buyer

    def ok(self, command: tuple) -> list:
        self.sent.append(command)
        return super().ok(command)

    def trade(self, market: str, size: str, price: str, ts: int) -> int:
        """One fill of `size` at `price` at time `ts` (the maker rests a microsecond before); its
        USD value in atoms, by hand: size x price."""
        self.ts = ts - 2
        self.rest(self.seller, market, "sell", size, price)
        events = self.place(self.buyer, market, "buy", size, price)
        fills = [e for e in events if isinstance(e, Fill)]
        assert len(fills) == 1 and fills[0].ts == ts, events
        value = usd(Decimal(size) * Decimal(price))
        self.fills.append((market, ts, value))
        return value

    def recount(self, ts: int, market: str | None = None) -> int:
        """The figure recomputed from the trades, as anyone can from the public ones."""
        return volume.from_trades(((at, v) for m, at, v in self.fills if market in (None, m)), ts)


def figure(d: Desk, market: str, ts: int) -> int:
    return volume.rolling_24h(d.ex.books[market], ts)


def test_each_trade_counts_once_for_its_usd_value() -> None:
    d = Trades()
    assert figure(d, "BTC-PERP", T0) == 0
    a = d.trade("BTC-PERP", "0.5", "30000", T0 + 5_000_000)
    assert a == usd(15_000)
    assert figure(d, "BTC-PERP", T0 + 5_000_000) == usd(15_000)
    b = d.trade("BTC-PERP", "0.25", "30010", T0 + 30_000_000)
    assert b == usd("7502.5")
    assert figure(d, "BTC-PERP", T0 + 30_000_000) == usd("22502.5")  # not twice: not once per side
    assert figure(d, "ETH-PERP", T0 + 30_000_000) == 0


def test_the_window_is_the_current_minute_and_the_1439_before_it() -> None:
    d = Trades()
    first = d.trade("BTC-PERP", "0.1", "30000", (M0 + 1) * MINUTE)  # a minute's first microsecond
    last = d.trade("BTC-PERP", "0.2", "30000", (M0 + 1) * MINUTE + LAST_US)  # and its last
    later = d.trade("BTC-PERP", "0.3", "30000", (M0 + 2) * MINUTE + 17_000_000)
    assert (first, last, later) == (usd(3_000), usd(6_000), usd(9_000))
    edge = (M0 + 1 + 1439) * MINUTE  # the last minute whose window still holds minute M0 + 1
    assert volume.window(edge + LAST_US) == (M0 + 1, M0 + 1440)
    assert figure(d, "BTC-PERP", edge) == usd(18_000)
    assert figure(d, "BTC-PERP", edge + LAST_US) == usd(18_000)
    assert figure(d, "BTC-PERP", edge + MINUTE) == usd(9_000)  # minute M0 + 1 left, whole
    assert volume.window(edge + MINUTE) == (M0 + 2, M0 + 1441)
    assert figure(d, "BTC-PERP", edge + MINUTE + LAST_US) == usd(9_000)
    assert figure(d, "BTC-PERP", edge + 2 * MINUTE) == 0
    assert figure(d, "BTC-PERP", edge + 30 * DAY_US) == 0


def test_the_total_is_the_sum_of_the_markets_and_every_market_is_named() -> None:
    d = Trades()
    d.trade("BTC-PERP", "0.5", "30000", T0 + 1_000_000)
    d.trade("ETH-PERP", "2", "2000.5", T0 + 2_000_000)
    d.trade("BTC/USD", "0.1", "30000", T0 + 3 * MINUTE)
    d.trade("ETH/USD", "1.5", "1999.9", T0 + 4 * MINUTE)
    total, by_market = volume.exchange_24h(d.ex, T0 + 5 * MINUTE)
    assert set(by_market) == set(d.ex.books)
    assert {m: v for m, v in by_market.items() if v} == {
        "BTC-PERP": usd(15_000),
        "ETH-PERP": usd(4_001),
        "BTC/USD": usd(3_000),
        "ETH/USD": usd("2999.85"),
    }
    assert total == sum(by_market.values()) == usd("25000.85")


def test_minutes_leave_one_by_one_and_a_recount_from_the_trades_agrees() -> None:
    """Trades in three markets every 37 minutes and some seconds for 30 hours: at every trade the
    figure is the recount of the trades so far, and the book holds only its window's minutes; after
    the last, reads a microsecond before, at and after each minute's exit from the window agree."""
    d = Trades()
    for i in range(30 * 60 // 37):
        ts = T0 + i * 37 * MINUTE + (i * 7_654_321) % MINUTE
        market, size, price = [
            ("BTC-PERP", "0.01", str(30_000 + i)),
            ("ETH-PERP", "0.5", "2000"),
            ("BTC/USD", "0.02", str(29_000 - i)),
        ][i % 3]
        d.trade(market, size, price, ts)
        book = d.ex.books[market]
        assert volume.rolling_24h(book, ts) == d.recount(ts, market)
        first, _ = volume.window(ts)
        assert all(m >= first for m, _ in book.volume_minutes)  # what left was dropped on the fill path
    last = d.fills[-1][1]
    reads = {last, last + DAY_US, last + 3 * DAY_US}
    for _, ts, _ in d.fills:
        out = (ts // MINUTE + 1440) * MINUTE  # the first microsecond its minute is out of the window
        if out > last:
            reads |= {out - 1, out, out + 1}
    assert len(reads) > 100
    for ts in sorted(reads):
        total, by_market = volume.exchange_24h(d.ex, ts)
        assert total == d.recount(ts) == sum(by_market.values())
        for market in ("BTC-PERP", "ETH-PERP", "BTC/USD"):
            assert by_market[market] == d.recount(ts, market), (market, ts)


def test_reading_changes_nothing_and_an_earlier_read_is_refused() -> None:
    d = Trades()
    d.trade("BTC-PERP", "0.5", "30000", T0 + 5 * MINUTE)
    before = d.ex.state_hash()
    book = d.ex.books["BTC-PERP"]
    kept = (book.volume_minute, book.volume_minute_atoms, list(book.volume_minutes), book.volume_window)
    for ts in (T0 + 5 * MINUTE, T0 + DAY_US, T0 + 2 * DAY_US):
        volume.exchange_24h(d.ex, ts)
    assert d.ex.state_hash() == before
    assert (
        book.volume_minute,
        book.volume_minute_atoms,
        list(book.volume_minutes),
        book.volume_window,
    ) == kept
    with pytest.raises(ValueError, match="before the last trade"):
        volume.rolling_24h(book, T0 + 4 * MINUTE)


def _three_markets() -> Trades:
    d = Trades()
    d.trade("BTC-PERP", "0.5", "30000", T0 + 1_000_000)
    d.trade("BTC-PERP", "0.1", "30001", T0 + 20 * MINUTE)
    d.trade("ETH-PERP", "2", "2000", T0 + 9 * 60 * MINUTE)
    d.trade("BTC/USD", "0.1", "30000", T0 + 23 * 60 * MINUTE)
    return d


def _reads(ex: Exchange) -> list[tuple[int, dict[str, int]]]:
    now = ex.now
    return [volume.exchange_24h(ex, now + k * 7 * 60 * MINUTE) for k in range(6)]


def test_the_window_survives_a_snapshot_file_and_a_restore(tmp_path: Path) -> None:
    d = _three_markets()
    snapshot.write(tmp_path, 42, d.ex)
    found = snapshot.latest(tmp_path)  # its checksum and state hash checked
    assert found is not None and found.volume  # format 3: it holds the windows
    loaded = found.exchange
    restored = restore(d.ex.catalog, d.ex.canonical())
    for other in (loaded, restored):
        assert other.state_hash() == d.ex.state_hash()
        assert _reads(other) == _reads(d.ex)
    # and it goes on as the original does: a trade in the next day, then an hour later
    more = Trades(loaded, start_ts=d.ts)
    for desk in (d, more):
        desk.trade("BTC-PERP", "0.2", "30000", T0 + 24 * 60 * MINUTE + 30_000_000)
        desk.ok(Tick(T0 + 25 * 60 * MINUTE))
    assert loaded.state_hash() == d.ex.state_hash()
    assert _reads(loaded) == _reads(d.ex)
    assert volume.exchange_24h(d.ex, d.ex.now)[0] == d.recount(d.ex.now) == usd(4_000 + 3_000 + 6_000)


def _markets_form(form: list[Any]) -> list[Any]:
    names = [p.name for p in state.PARTS]
    risk = form[names.index("risk")]
    markets: list[Any] = risk[[p.name for p in state.RISK_PARTS].index("markets")]
    return markets


def test_the_state_hash_covers_the_window_and_only_while_it_holds_a_trade() -> None:
    fresh = Exchange()
    assert all(len(row) == 1 + len(MARKET_STATE) for row in _markets_form(fresh.canonical()))
    d = _three_markets()
    rows = {row[0]: row for row in _markets_form(d.ex.canonical())}
    assert rows["BTC-PERP"][-1] == [(M0, usd(15_000)), (M0 + 20, usd("3000.1"))]
    assert len(rows["ETH-PERP"]) == len(rows["BTC/USD"]) == 2 + len(MARKET_STATE)
    assert len(rows["SOL-PERP"]) == 1 + len(MARKET_STATE)  # never traded: nothing added
    # the hash sees the window: one atom more in a minute is another state
    other = restore(d.ex.catalog, d.ex.canonical())
    other.books["BTC-PERP"].volume_minute_atoms += 1
    assert other.state_hash() != d.ex.state_hash()
    # a day after a market's last trade its window is empty, and it hashes as if it had none
    d.ok(Tick(T0 + 20 * MINUTE + DAY_US))
    rows = {row[0]: row for row in _markets_form(d.ex.canonical())}
    assert len(rows["BTC-PERP"]) == 1 + len(MARKET_STATE)
    assert len(rows["ETH-PERP"]) == 2 + len(MARKET_STATE)
    again = restore(d.ex.catalog, d.ex.canonical())
    assert again.state_hash() == d.ex.state_hash()
    assert _reads(again) == _reads(d.ex)


def test_a_form_written_before_the_window_restores_it_empty() -> None:
    d = _three_markets()
    form = d.ex.canonical()
    for row in _markets_form(form):
        del row[1 + len(MARKET_STATE) :]
    old = restore(d.ex.catalog, form)
    assert volume.exchange_24h(old, old.now) == (0, dict.fromkeys(old.books, 0))
    assert old.canonical() == form
    # it trades on from there: the window holds what traded since
    value = Trades(old, start_ts=d.ts).trade("ETH-PERP", "1", "2000", d.ts + MINUTE)
    assert volume.exchange_24h(old, old.now)[0] == value


def test_replaying_the_same_commands_reaches_the_same_hash_and_figures() -> None:
    d = _three_markets()
    d.ok(Tick(T0 + DAY_US + 3 * MINUTE))  # the first minutes have left, the later ones have not
    again = Exchange()
    for command in d.sent:
        again.apply(command)
    assert again.state_hash() == d.ex.state_hash()
    assert _reads(again) == _reads(d.ex)
    total, by_market = volume.exchange_24h(again, again.now)
    assert by_market["BTC-PERP"] == usd("3000.1")  # the trade at minute 0 has left, minute 20's not
    assert total == usd("3000.1") + usd(4_000 + 3_000)


# ----------------------------------------------------------------------------- the API


async def _get(app: Any, path: str) -> Any:
    """GET `path` (with its query string, if any) through the server's application itself (ASGI, in
    this process); the result in its FTX envelope."""
    sent: list[dict[str, Any]] = []
    path, _, query = path.partition("?")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    reply = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert reply["success"], reply
    return reply["result"]


def test_the_api_answers_the_engines_figure(tmp_path: Path) -> None:
    """/api/markets, /api/markets/{market}, /api/futures/{future} and /api/volume_monitor read the
    24-hour volume from the engine's state, and follow it as minutes leave the window."""
    runtime, server, _ = serve.build(tmp_path / "data", "manual", "1", "manual", 0)
    app = create_app(server)
    ex = server.exchange
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        submit = server.sequencer.submit

        async def ok(command: Any) -> list[Any]:
            events = await submit(command)
            assert not (events and isinstance(events[0], Rejected)), events
            return events

        async def account(owner: str, **coins: int) -> int:
            (created,) = await ok(CreateAccount(T0 - 1_000, owner))
            for coin, amount in coins.items():
                await ok(Deposit(T0 - 1_000, created.account, coin, usd(amount)))
            return int(created.account)

        async def trade(market: str, size: str, price: str, ts: int) -> None:
            info = ex.catalog.markets[market]
            lots, ticks = info.to_lots(size), info.to_ticks(price)
            await ok(PlaceOrder(ts - 1, seller, market, "sell", lots, ticks))
            events = await ok(PlaceOrder(ts, buyer, market, "buy", lots, ticks))
            assert any(isinstance(e, Fill) for e in events), events

        async def read() -> None:
            markets = {m["name"]: m for m in await _get(app, "/api/markets")}
            single = await _get(app, "/api/markets/BTC-PERP")
            future = await _get(app, "/api/futures/BTC-PERP")
            monitor = {row["market"]: row for row in await _get(app, "/api/volume_monitor")}
            engine = volume.exchange_24h(ex, ex.now)[1]
            for name, atoms in engine.items():
                usd_24h = float(from_atoms(atoms))
                assert markets[name]["volumeUsd24h"] == markets[name]["quoteVolume24h"] == usd_24h
                assert monitor[name]["volumeUsd24h"] == usd_24h
            assert single["volumeUsd24h"] == markets["BTC-PERP"]["volumeUsd24h"]
            assert future["volumeUsd24h"] == markets["BTC-PERP"]["volumeUsd24h"]
            assert future["volume"] == future["volumeUsd24h"] / future["mark"]  # coins, at the mark
            seen.append({name: m["volumeUsd24h"] for name, m in markets.items() if m["volumeUsd24h"]})

        server.sequencer.start()
        try:
            seller = await account("seller", USD=10_000_000, BTC=100)
            buyer = await account("buyer", USD=10_000_000)
            await trade("BTC-PERP", "0.5", "30000", T0 + 5_000_000)
            await trade("ETH-PERP", "2", "2000", T0 + 3 * MINUTE)
            await trade("BTC/USD", "0.1", "30000", T0 + 10 * MINUTE)
            await read()
            await ok(Tick(T0 + 1440 * MINUTE - 1))  # the last microsecond minute M0 is in the window
            await read()
            await ok(Tick(T0 + 1440 * MINUTE))  # and it has left
            await read()
            await ok(Tick(T0 + 1450 * MINUTE + 1))
            await read()
        finally:
            await server.sequencer.stop()
            server.keys.close()
            server.projection.close()
            runtime.close()

    asyncio.run(run())
    assert seen == [
        {"BTC-PERP": 15_000.0, "ETH-PERP": 4_000.0, "BTC/USD": 3_000.0},
        {"BTC-PERP": 15_000.0, "ETH-PERP": 4_000.0, "BTC/USD": 3_000.0},
        {"ETH-PERP": 4_000.0, "BTC/USD": 3_000.0},
        {},
    ]
