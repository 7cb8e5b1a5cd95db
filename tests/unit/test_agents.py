"""The simulation agents on a real journaled engine behind the server's sequencer: a scripted index,
one IndexUpdate per coin and a Tick per second, then one round of agent decisions, as `backstop
serve` runs them.

What a newcomer must see: two-sided books around the index within seconds on every market that has
an index, trades, perpetual marks near the index, liquidations in a real move with the leveraged
population coming back; and what the exchange must keep: money conserved, only ordinary commands,
orders inside the market's bounds, a reproducible run for a seed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backstop.engine import errors
from backstop.engine.amounts import ATOM
from backstop.engine.commands import (
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    IndexUpdate,
    ModifyOrder,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import Deposited, Fill, LiquidationEnded, LiquidationStarted
from backstop.engine.exchange import Exchange
from backstop.server.clock import Clock
from backstop.server.runtime import Runtime
from backstop.server.sequencer import Sequencer
from backstop.sim.agents import Agents, ladder, round_lots

START_US = 1_700_000_000 * 1_000_000  # 2023: the catalog's dated futures are live
SECOND = 1_000_000
BASE = {"BTC": 40_000, "ETH": 2_500, "SOL": 35, "FTT": 30, "USDT": 1}  # BNB gets no index
PERPS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
DROP_AT = 90  # seconds of calm before the crash run's fall
DROP_OVER = 30
FALLING = ("BTC", "ETH", "SOL")


def calm(coin: str, second: int) -> int:
    """A gentle wave of +-0.3% per coin, in USD atoms per coin."""
    return int(BASE[coin] * (1 + 0.003 * math.sin(second / 40 + len(coin))) * ATOM)


def crash(coin: str, second: int) -> int:
    """The calm wave, then BTC, ETH and SOL fall 15% over 30 seconds and stay there."""
    price = calm(coin, second)
    if coin in FALLING and second > DROP_AT:
        price = int(price * (1 - 0.15 * min(1, (second - DROP_AT) / DROP_OVER)))
    return price


@dataclass
class Run:
    exchange: Exchange
    agents: Agents
    events: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    seconds: list[dict[str, tuple[int | None, int | None, int | None, int | None]]] = field(
        default_factory=list
    )  # per second, after the agents' step: market -> (bid, ask, index, mark)
    sent: list[int] = field(default_factory=list)  # agents' commands sent in each second

    def owner(self, account: int) -> str:
        return self.exchange.accounts[account].owner


def drive(directory: Path, seed: int, seconds: int, path: Callable[[str, int], int]) -> Run:
    """Run `seconds` seconds on a fresh (or existing) data directory and close it."""

    async def main() -> Run:
        runtime = Runtime(directory, seed=seed)
        sequencer = Sequencer(runtime)
        now = [max(START_US, runtime.exchange.clock)]
        agents = Agents(sequencer, lambda: now[0], seed)
        run = Run(runtime.exchange, agents)

        def record(commands: Any, results: Any) -> None:
            run.commands.extend(commands)
            run.events.extend(e for events in results for e in events)

        sequencer.listeners.append(record)
        sequencer.start()
        try:
            await agents.setup()
            first = now[0]
            for second in range(1, seconds + 1):
                now[0] = first + second * SECOND
                quotes = [IndexUpdate(now[0], c, (path(c, second),)) for c in BASE]
                await sequencer.submit_many([*quotes, Tick(now[0])])
                before = agents.stats["commands"]
                await agents.step()
                run.sent.append(agents.stats["commands"] - before)
                ex = runtime.exchange
                run.seconds.append(
                    {
                        name: (book.bids.best(), book.asks.best(), book.index, book.mark())
                        for name, book in ex.books.items()
                    }
                )
        finally:
            await sequencer.stop()
            runtime.close()
        return run

    return asyncio.run(main())


@pytest.fixture(scope="module")
def calm_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("calm"), seed=5, seconds=180, path=calm)


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return drive(tmp_path_factory.mktemp("crash"), seed=5, seconds=DROP_AT + DROP_OVER + 150, path=crash)


# ----------------------------------------------------------------------------- pure helpers


def test_ladder_is_strictly_ordered_and_inside_the_bounds() -> None:
    bids, asks = ladder(40_000.0, 3, 4, 4, 30_000, 50_000)
    assert bids == [39_988, 39_972, 39_956, 39_940]
    assert asks == [40_012, 40_028, 40_044, 40_060]
    # an index that outran the bounds: the ladder moves inside them, both sides
    bids, asks = ladder(34_046.0, 3, 4, 4, 35_396, 35_765)
    assert bids and asks
    assert all(35_396 <= p <= 35_765 for p in bids + asks)
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    # tiny prices still get distinct ticks, one apart at least
    bids, asks = ladder(10.0, 3, 4, 3, 1, 100)
    assert bids == [9, 8, 7] and asks == [11, 12, 13]
    # bounds narrower than the spread: one level a side, at the bounds; no room at all: nothing
    assert ladder(35_000.0, 3, 4, 4, 35_692, 35_700) == ([35_692], [35_700])
    assert ladder(100.0, 50, 10, 3, 100, 100) == ([], [])


def test_round_lots_keeps_two_significant_figures() -> None:
    assert [round_lots(n) for n in (7, 99, 150, 2487, 2450, 123_456)] == [7, 99, 150, 2500, 2500, 120_000]


# ----------------------------------------------------------------------------- a calm market


def test_books_are_two_sided_around_the_index_within_a_few_steps(calm_run: Run) -> None:
    for second in range(3, len(calm_run.seconds)):
        for market in ("BTC-PERP", "ETH-PERP", "BTC/USD"):
            bid, ask, index, _ = calm_run.seconds[second][market]
            assert bid is not None and ask is not None and index is not None, (second, market)
            assert bid < ask
            assert abs((bid + ask) / 2 - index) < index * 0.005, (second, market, bid, ask, index)
            assert ask - bid < index * 0.01


def test_every_market_with_an_index_is_made(calm_run: Run) -> None:
    last = calm_run.seconds[-1]
    quoted = {m for m, (bid, ask, index, _) in last.items() if bid is not None and ask is not None}
    with_index = {m for m, (_, _, index, _) in last.items() if index is not None}
    assert with_index == quoted
    kinds = {calm_run.exchange.books[m].info.kind for m in quoted}
    assert kinds == {"perpetual", "future", "spot"}
    assert "BNB/USD" not in quoted  # no index, no quotes


def test_trades_happen_and_traders_hold_positions(calm_run: Run) -> None:
    fills = [e for e in calm_run.events if isinstance(e, Fill)]
    assert len(fills) > 100
    assert len({f.market for f in fills}) >= 6
    takers = {calm_run.owner(f.taker_account).rsplit("-", 1)[0] for f in fills}
    assert {"sim-taker", "sim-lev"} <= takers
    ex = calm_run.exchange
    holding = [o for o in calm_run.agents.traders() if ex.accounts[calm_run.agents.ids[o]].positions]
    assert len(holding) >= 4


def test_perpetual_marks_stay_near_the_index(calm_run: Run) -> None:
    worst = 0.0
    for second in calm_run.seconds[3:]:
        for market in PERPS:
            _, _, index, mark = second[market]
            assert index is not None and mark is not None
            worst = max(worst, abs(mark - index) / index)
    assert worst < 0.01


def test_money_is_conserved(calm_run: Run, crash_run: Run) -> None:
    assert calm_run.exchange.discrepancies() == {}
    assert crash_run.exchange.discrepancies() == {}


def test_agents_send_only_ordinary_commands(calm_run: Run, crash_run: Run) -> None:
    ordinary = {CreateAccount, Deposit, SetLeverage, RegisterBackstop, PlaceOrder, ModifyOrder}
    ordinary |= {CancelOrder, CancelAll}
    for run in (calm_run, crash_run):
        sent = {type(c) for c in run.commands} - {IndexUpdate, Tick}  # the test's feed and clock
        assert sent <= ordinary, sent
        assert not any(isinstance(c, PlaceOrder) and c.type not in ("limit", "market") for c in run.commands)


def test_orders_respect_the_price_bands_and_the_open_order_cap(calm_run: Run, crash_run: Run) -> None:
    for run in (calm_run, crash_run):
        refused = set(run.agents.rejections)
        assert errors.PRICE_BAND not in refused
        assert errors.SIZE_TOO_LARGE not in refused
        assert run.agents.stats["rejected"] < run.agents.stats["commands"] // 100


def test_a_few_dozen_commands_per_second(calm_run: Run) -> None:
    steady = calm_run.sent[10:]
    rate = sum(steady) / len(steady)
    assert 10 < rate < 60, rate
    assert max(steady) < 150


# ----------------------------------------------------------------------------- a 15% fall


def test_a_fall_liquidates_leveraged_traders_and_they_come_back(crash_run: Run) -> None:
    ex = crash_run.exchange
    agents = crash_run.agents
    traders = {agents.ids[o] for o in agents.traders()}
    started = [e for e in crash_run.events if isinstance(e, LiquidationStarted) and e.account in traders]
    assert started, "nobody was liquidated by a 15% fall"
    assert all(e.ts > START_US + DROP_AT * SECOND for e in started)
    # each trader liquidated to flat comes back with a fresh stake: the population persists
    closed = {
        e.account: e.ts
        for e in crash_run.events
        if isinstance(e, LiquidationEnded) and e.account in traders and e.reason == "closed"
    }
    assert closed
    for account, ts in closed.items():
        assert any(
            isinstance(e, Deposited) and e.account == account and e.ts >= ts for e in crash_run.events
        ), crash_run.owner(account)
    assert len([a for a in ex.accounts if a.owner.startswith("sim-lev")]) == len(
        traders
    )  # re-funded, not new
    for account in traders:
        assert ex.accounts[account].usd > 0
    holding = [a for a in traders if any(p.size for p in ex.accounts[a].positions.values())]
    assert len(holding) >= 4
    # the perpetual books stayed two-sided through the fall, but for moments when a liquidation
    # order rests at the edge of the bounds where no maker may bid
    for market in PERPS:
        gap = longest = 0
        for second in crash_run.seconds[3:]:
            gap = gap + 1 if second[market][0] is None or second[market][1] is None else 0
            longest = max(longest, gap)
        assert longest <= 2, market


# ----------------------------------------------------------------------------- runs and restarts


def test_a_seed_reproduces_the_run(tmp_path: Path) -> None:
    runs = (("a", 3), ("b", 3), ("c", 4))
    hashes = [drive(tmp_path / name, seed, 60, crash).exchange.state_hash() for name, seed in runs]
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]


def test_setup_is_idempotent_across_a_restart(tmp_path: Path) -> None:
    first = drive(tmp_path, 2, 20, calm)
    accounts = len(first.exchange.accounts)
    again = drive(tmp_path, 2, 20, calm)  # the same data directory, recovered
    ex = again.exchange
    assert len(ex.accounts) == accounts
    assert not [c for c in again.commands if isinstance(c, CreateAccount | RegisterBackstop)]
    assert again.agents.ids == first.agents.ids
    assert set(ex.backstops) == {again.agents.ids["sim-blp-1"]}
    # the makers moved the orders they found instead of piling new ones on top
    markets = sum(1 for book in ex.books.values() if book.index is not None)
    for owner in again.agents.makers():
        assert len(ex.accounts[again.agents.ids[owner]].orders) <= 8 * markets


def test_start_steps_after_each_tick(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, int | None, int | None]:
        runtime = Runtime(tmp_path)
        sequencer = Sequencer(runtime)
        sequencer.start()
        clock = Clock(sequencer, None, "manual")
        clock.time_us = START_US
        agents = Agents(sequencer, clock.now_us, seed=1)
        await sequencer.submit(IndexUpdate(START_US, "BTC", (40_000 * ATOM,)))
        agents.start()
        for _ in range(3):
            await clock.advance(1)
            await asyncio.sleep(0.01)
        await agents.stop()
        steps = agents.steps
        await clock.advance(2)
        book = sequencer.exchange.books["BTC-PERP"]
        bid, ask = book.bids.best(), book.asks.best()
        await sequencer.stop()
        runtime.close()
        return steps, agents.steps, bid, ask

    steps, after_stop, bid, ask = asyncio.run(main())
    assert steps >= 2
    assert after_stop == steps  # stopped: ticks no longer step it
    assert bid is not None and ask is not None and bid < ask
    assert abs((bid + ask) / 2 - 40_000) < 40_000 * 0.005
