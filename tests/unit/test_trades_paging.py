"""GET /api/markets/{market}/trades pages through any number of trades exactly: `before_id` (ours)
moves back by trade id, so trades sharing a microsecond are neither lost nor repeated, and the
microsecond bounds cut exactly; past the trades kept in memory it reads the SQL history, seamlessly.
In this process, on the server's own application, with a memory of only 4 trades a market."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_volume_24h import _get

from backstop.engine.commands import CreateAccount, Deposit, PlaceOrder
from backstop.engine.events import Fill, Rejected
from backstop.projections import market
from backstop.server import public, serve
from backstop.server.app import create_app

T0 = 20_000 * 86_400 * 1_000_000


def test_trades_page_exactly_across_memory_and_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(market, "MAX_TRADES", 4)
    monkeypatch.setattr(public, "MAX_TRADES", 4)
    runtime, server, _ = serve.build(tmp_path / "data", "manual", "1", "manual", 0)
    app = create_app(server)
    ex = server.exchange
    pages: dict[str, Any] = {}

    async def run() -> None:
        server.sequencer.start()
        try:
            await scenario()
        finally:
            await server.sequencer.stop()

    async def scenario() -> None:
        async def ok(command: Any) -> list[Any]:
            events = await server.sequencer.submit(command)
            assert not (events and isinstance(events[0], Rejected)), events
            return events

        (seller,) = await ok(CreateAccount(T0, "seller"))
        (buyer,) = await ok(CreateAccount(T0, "buyer"))
        await ok(Deposit(T0, seller.account, "USD", 10**15))
        await ok(Deposit(T0, buyer.account, "USD", 10**15))
        info = ex.catalog.markets["BTC-PERP"]
        ticks = info.to_ticks("30000")
        for second in range(3):  # three trades in each of three microseconds, one second apart
            ts = T0 + (second + 1) * 1_000_000
            await ok(PlaceOrder(ts, seller.account, "BTC-PERP", "sell", 3, ticks))
            for _ in range(3):
                events = await ok(PlaceOrder(ts, buyer.account, "BTC-PERP", "buy", 1, ticks))
                assert any(isinstance(e, Fill) for e in events)
        assert len(server.market_data.trades["BTC-PERP"]) == 4  # the rest only in the SQL history
        path = "/api/markets/BTC-PERP/trades"
        pages["all"] = await _get(app, path + "?limit=100")
        seen: list[Any] = []
        query = "?limit=2"
        while page := await _get(app, path + query):
            seen += page
            query = f"?limit=2&before_id={page[-1]['id']}"
        pages["paged"] = seen
        middle = T0 + 2_000_000
        at = f"{middle // 10**6}.{middle % 10**6:06d}"
        pages["at"] = await _get(app, path + f"?start_time={at}&end_time={at}")
        pages["upto"] = await _get(app, path + f"?end_time={at}&before_id={pages['all'][1]['id']}")
        pages["second"] = await _get(app, path + f"?start_time={middle // 10**6}&end_time={middle // 10**6}")

    try:
        asyncio.run(run())
    finally:
        server.keys.close()
        server.projection.close()
        runtime.close()
    every = pages["all"]
    ids = [t["id"] for t in every]
    assert len(ids) == 9 and ids == sorted(ids, reverse=True)  # 4 from memory, 5 from the history
    assert [t["id"] for t in pages["paged"]] == ids
    assert [t["id"] for t in pages["at"]] == ids[3:6] == [t["id"] for t in pages["second"]]
    assert [t["id"] for t in pages["upto"]] == ids[3:]
