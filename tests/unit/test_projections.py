"""The SQL projection against the engine's truth, on SQLite and on the local PostgreSQL server.

One scenario drives the real engine through trades, cancels, a modify, client ids, reduce-only
orders, trigger orders, wallet movements, an hour of funding and liquidations (orderly and
auto-close to a backstop provider); every command's events go to the projection in batches of
varying size. Then the tables are checked against the engine's own state and the events, the
history queries against what they must return, and a rebuild from a journal of the same commands
(and a reopen, and a catch-up from a snapshot) against the rows written live.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_kit import Desk, usd

from backstop.engine.commands import (
    CancelConditional,
    Command,
    ModifyConditional,
    PlaceConditional,
)
from backstop.engine.events import (
    AutoClosed,
    ConditionalCancelled,
    ConditionalTriggered,
    Event,
    Fill,
    FundingPaid,
    InsuranceFundChanged,
    LiquidationOrder,
    LiquidationStarted,
    OrderAccepted,
    OrderClosed,
    Rejected,
)
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery, snapshot
from backstop.journal.boot import boot_id
from backstop.projections import HistoryUnavailable, Projection, ProjectionGap, schema, sql
from backstop.projections.market import CandleRow, MarketData
from backstop.projections.sql import FILE_NAME
from backstop.projections.writer import LOGGED_TABLES, order_from_events

PERP = "BTC-PERP"
ETH = "ETH-PERP"
SPOT = "BTC/USD"
HOUR = 3_600 * 1_000_000
SECOND = 1_000_000
POSTGRES_URL = os.environ.get("BACKSTOP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


# ----------------------------------------------------------------------------- the scenario


class Recorded(Desk):
    """A Desk that keeps every command it applies with its events, in order."""

    def __init__(self, start_ts: int) -> None:
        super().__init__(start_ts=start_ts)
        self.log: list[tuple[Command, list[Event]]] = []

    def apply(self, command: tuple) -> list:
        events = self.ex.apply(command)
        self.log.append((command, events))
        return events

    def ok(self, command: tuple) -> list:
        events = self.apply(command)
        assert not (events and isinstance(events[0], Rejected)), events
        return events


class Scenario:
    def __init__(self) -> None:
        d = self.d = Recorded(start_ts=HOUR - SECOND)  # the first tick lands on 01:00:00
        d.index("BTC", 10_000)
        d.index("ETH", 2_000)
        a = self.a = d.account("alice", "", 100_000, BTC=10)
        b = self.b = d.account("bob", "", 100_000)
        m = self.m = d.account("maker", "", 100_000)
        self.a_sub = d.account("alice", "bot", 0)
        # wallet
        d.deposit(b, "USDC", 5_000)
        d.withdraw(b, "USD", 1_000)
        d.transfer(a, self.a_sub, "USD", 2_500)
        d.transfer(self.a_sub, a, "USD", 500)
        # BTC-PERP: a long, b short 1 BTC at 10,024; the maker's quotes make the mark 10,024
        d.rest(b, PERP, "sell", "1", 10_024, client_id="b-first")
        d.place(a, PERP, "buy", "1", 10_024, client_id="a-first")
        d.rest(m, PERP, "buy", "0.01", 10_020)
        d.rest(m, PERP, "sell", "0.01", 10_030)
        # ETH-PERP: resting, partly filled, cancelled, modified, IOC and post-only orders
        d.rest(b, ETH, "sell", "1", 2_000)
        d.place(a, ETH, "buy", "1", 2_000)
        self.resting = d.rest(b, ETH, "sell", "0.5", 2_010, client_id="b-rest")
        d.place(a, ETH, "buy", "0.2", 2_010, ioc=True)  # takes 0.2 of it, closes as filled
        self.cancelled = d.rest(a, ETH, "buy", "0.3", 1_900, client_id="a-cancel")
        d.cancel(a, self.cancelled)
        self.modified = d.rest(a, ETH, "buy", "0.3", 1_901, client_id="a-mod")
        d.modify(a, self.modified, price=d.ticks(ETH, 1_902), size=d.lots(ETH, "0.4"))
        d.place(a, ETH, "buy", "0.1", 2_010, post_only=True)  # would cross: closed post_only
        d.rest(a, ETH, "sell", "0.1", 2_100, client_id="a-first")  # a client id reused once closed
        # a resting reduce-only sell, cut down when the position it reduces shrinks below it
        self.reduce_only = d.rest(a, ETH, "sell", "1", 2_200, reduce_only=True)
        d.rest(b, ETH, "buy", "0.5", 1_990)
        d.place(a, ETH, "sell", "0.5", 1_990)
        # spot: maker fees paid in the coin bought
        d.rest(a, SPOT, "sell", "0.5", 10_050)
        d.rest(b, SPOT, "buy", "0.3", 10_000)
        d.place(b, SPOT, "buy", "0.2", 10_050)
        d.place(a, SPOT, "sell", "0.1", 10_000)
        # trigger orders: one cancelled, one modified then fired by the first tick
        (placed,) = d.ok(
            PlaceConditional(d.tick(), m, ETH, "buy", d.lots(ETH, "0.1"), "stop", d.ticks(ETH, 5_000))
        )
        d.ok(CancelConditional(d.tick(), m, placed.order_id))
        self.cancelled_trigger = placed.order_id
        take_profit = PlaceConditional(
            d.tick(),
            m,
            ETH,
            "buy",
            d.lots(ETH, "0.1"),
            "take_profit",
            d.ticks(ETH, 1_950),
            trigger_by="index",
        )
        (placed,) = d.ok(take_profit)
        d.ok(ModifyConditional(d.tick(), m, placed.order_id, d.lots(ETH, "0.05"), d.ticks(ETH, 1_960)))
        d.index("ETH", 1_955)
        self.fired_trigger = placed.order_id
        # an hour of funding: ticks 01:00:00 .. 02:00:00
        d.second(3_601)
        # auto-close of dave to a backstop provider (test_liquidation's), on an empty BTC book
        d.cancel_all(m)
        mm = d.account("mm", "", 10_000_000)
        d.seed_fund(mm, 1_000)
        blp = self.blp = d.account("blp", "", 1_000_000)
        d.backstop(blp, 100_000, 300_000)
        dave = self.dave = d.account("dave", "", 1_100)
        d.leverage(dave, 20)
        d.rest(dave, PERP, "buy", "2", 10_000)
        d.place(mm, PERP, "sell", "2", 10_000)
        d.index("BTC", 9_500)
        d.second(3)
        d.index("BTC", 10_000)
        d.second()
        # orderly liquidation of carol, 20 BTC long at 10,000 on $10,500 (test_liquidation's)
        carol = self.carol = d.account("carol", "", 10_500)
        d.leverage(carol, 20)
        d.rest(carol, PERP, "buy", "20", 10_000)
        d.place(mm, PERP, "sell", "20", 10_000)
        d.index("BTC", 9_720)
        d.rest(mm, PERP, "buy", "50", 9_719)
        d.rest(mm, PERP, "sell", "50", 9_721)
        for _ in range(60):
            if any(isinstance(e, Fill) and e.liquidation for e in d.second()):
                break
        d.second()

    @property
    def ex(self) -> Exchange:
        return self.d.ex

    def events(self, kind: type) -> list[Any]:
        return [e for _, events in self.d.log for e in events if isinstance(e, kind)]

    def batches(self, sizes: tuple[int, ...] = (1, 7, 3, 50, 2, 400)) -> Iterator[tuple[list, list, int]]:
        """(commands, results, seq_after) in batches cycling through `sizes`."""
        log_ = self.d.log
        i = 0
        k = 0
        while i < len(log_):
            chunk = log_[i : i + sizes[k % len(sizes)]]
            i += len(chunk)
            k += 1
            yield [c for c, _ in chunk], [e for _, e in chunk], i


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario()


def feed(p: Projection, s: Scenario, upto: int | None = None) -> None:
    for commands, results, seq in s.batches():
        if upto is not None and seq > upto:
            cut = len(commands) - (seq - upto)
            if cut > 0:
                p.on_batch(commands[:cut], results[:cut], upto)
            return
        p.on_batch(commands, results, seq)


# ----------------------------------------------------------------------------- backends


class Opener:
    """Opens projections on one backend: the same database each time within a test."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.schema_name = f"backstop_test_{uuid.uuid4().hex[:12]}"
        self.opened: list[Projection] = []

    def __call__(self, name: str = "main") -> Projection:
        if self.kind == "sqlite":
            p = Projection.open(self.directory / name)
        else:
            p = Projection.open(self.directory, POSTGRES_URL, schema_name=f"{self.schema_name}_{name}")
        self.opened.append(p)
        return p

    def cleanup(self) -> None:
        for p in self.opened:
            p.close()
        if self.kind == "postgresql":
            drop_schemas(self.schema_name)


def drop_schemas(prefix: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
        for (name,) in found:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _postgres_available() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return ""
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    if request.param == "postgresql":
        why = _postgres_available()
        if why:
            pytest.skip(why)
    o = Opener(request.param, tmp_path)
    yield o
    o.cleanup()


def dump(p: Projection) -> dict[str, list[tuple]]:
    """Every table's rows in key order, as Python values."""
    out = {}
    for table in schema.TABLES:
        if table.name == "meta":
            continue
        rows = p.backend.fetch(
            f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {', '.join(table.key)}"
        )
        out[table.name] = p.backend.fix(table, rows)
    return out


# ----------------------------------------------------------------------------- the tables vs the engine


def test_the_scenario_makes_every_kind_of_row(scenario: Scenario) -> None:
    for kind in (FundingPaid, LiquidationOrder, AutoClosed, ConditionalTriggered, ConditionalCancelled):
        assert scenario.events(kind), kind
    started = scenario.events(LiquidationStarted)
    assert {e.step for e in started} == {1, 2}


def test_tables_match_the_engine(opener: Opener, scenario: Scenario) -> None:
    p = opener()
    feed(p, scenario)
    s = scenario
    ex = s.ex
    assert p.seq == len(s.d.log)
    rows = dump(p)

    # fills: one per side of every trade; fees add up to the engine's fee ledger
    assert len(rows["trades"]) == ex.next_trade_id - 1
    assert len(rows["fills"]) == 2 * len(rows["trades"])
    fees: dict[str, int] = defaultdict(int)
    for acct in range(len(ex.accounts)):
        for f in p.fills(acct, limit=None).rows:
            fees[f["fee_coin"]] += f["fee"]
    assert {c: v for c, v in fees.items() if v} == {c: v for c, v in ex.fees.totals.items() if v}
    assert fees["USD"] > 0 and fees["BTC"] > 0  # spot makers buying pay in the coin
    realized = sum(e.taker_realized + e.maker_realized for e in s.events(Fill))
    assert sum(f[11] for f in rows["fills"]) == realized

    # orders: every order ever accepted, in its final state
    assert len(rows["orders"]) == ex.next_order_id - 1
    fills_by_order: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for f in rows["fills"]:
        fills_by_order[f[3]][0] += f[7]
        fills_by_order[f[3]][1] += f[7] * f[6]
    closed = {e.order_id: e for e in s.events(OrderClosed)}
    live = {o.id: o for acct in ex.accounts for o in acct.orders.values()}
    assert set(live) | set(closed) == {r[0] for r in rows["orders"]}
    for r in rows["orders"]:
        order = dict(zip(schema.ORDERS.names, r, strict=True))
        assert (order["filled"], order["fill_value"]) == tuple(fills_by_order[order["id"]])
        if order["id"] in live:
            o = live[order["id"]]
            assert order["status"] == "open"
            assert (order["filled"], order["remaining"], order["fill_value"]) == (
                o.filled,
                o.remaining,
                o.fill_value,
            )
        else:
            e = closed[order["id"]]
            assert (order["status"], order["close_reason"], order["closed_us"]) == ("closed", e.reason, e.ts)
            assert (order["filled"], order["remaining"], order["size"]) == (e.filled, 0, e.size)
    accepted = {e.order_id: e for e in s.events(OrderAccepted)}
    for r in rows["orders"]:
        e = accepted[r[0]]
        assert r[1:7] == (e.account, e.market, e.side, e.type, e.price, e.size)
        assert r[12:17] == (e.reduce_only, e.ioc, e.post_only, e.client_id, e.ts)
        assert r[18] is e.liquidation

    # the insurance fund, movement by movement, ends at the engine's balance
    history = [(r[6], r[2], r[3], r[4], r[5]) for r in rows["insurance_fund"]]
    assert history == list(ex.insurance.history)
    assert rows["insurance_fund"][-1][3] == ex.insurance.balance

    # funding: the rates each perpetual kept, the payments the events made
    for name, book in ex.books.items():
        kept = [(r[4], r[3]) for r in rows["funding_rates"] if r[2] == name]
        assert kept == list(book.funding_rates), name
    assert [r[2:] for r in rows["funding_payments"]] == [
        (e.account, e.market, e.size, e.payment, e.rate, e.ts) for e in s.events(FundingPaid)
    ]

    # wallet totals
    for table, totals in (("deposits", ex.deposits), ("withdrawals", ex.withdrawals)):
        summed: dict[str, int] = defaultdict(int)
        for r in rows[table]:
            summed[r[4]] += r[5]
        assert dict(summed) == {c: v for c, v in totals.items() if v}, table
    assert len(rows["transfers"]) == 2
    assert len(rows["accounts"]) == len(ex.accounts)

    # liquidations with their inputs
    assert [r[2:] for r in rows["auto_closes"]] == [tuple(e._asdict().values()) for e in s.events(AutoClosed)]
    assert [r[2:] for r in rows["liquidation_orders"]] == [
        tuple(e._asdict().values()) for e in s.events(LiquidationOrder)
    ]
    assert len(rows["liquidations"]) == len(s.events(LiquidationStarted)) + sum(
        1 for e in s.events(Event) if type(e).__name__ == "LiquidationEnded"
    )

    # every event kept as a row of its own is there, field for field
    for kind, table in LOGGED_TABLES.items():
        assert [r[2:] for r in rows[table.name]] == [
            tuple(getattr(e, c) for c in table.names[2:]) for e in s.events(kind)
        ], table.name


def test_order_and_trigger_states(opener: Opener, scenario: Scenario) -> None:
    p = opener()
    feed(p, scenario)
    s = scenario
    cancelled_order = p.order(s.a, s.cancelled)
    assert cancelled_order is not None and cancelled_order["close_reason"] == "cancelled"
    old = p.order(s.a, s.modified)
    assert old is not None and old["close_reason"] == "modified"
    new = p.order_by_client_id(s.a, "a-mod")
    assert new is not None and new["id"] > s.modified and new["size"] == s.d.lots(ETH, "0.4")
    assert new["status"] == "open" and new["price"] == s.d.ticks(ETH, 1_902)
    resting = p.order(s.b, s.resting)
    live = s.ex.accounts[s.b].orders[s.resting]
    assert resting is not None and resting["status"] == "open"
    assert (resting["filled"], resting["remaining"]) == (live.filled, live.remaining) == (250, 250)
    # the reused client id answers with the newest order
    newest = p.order_by_client_id(s.a, "a-first")
    assert newest is not None and newest["side"] == "sell"
    assert p.order(s.b, s.cancelled) is None  # another account's order
    assert p.order_by_client_id(s.a, "nobody") is None
    # a resting reduce-only order cut down: its remaining follows OrderResized
    ro = p.order(s.a, s.reduce_only)
    assert ro is not None and ro["reduce_only"] is True
    assert ro["remaining"] == s.ex.accounts[s.a].orders[s.reduce_only].remaining == 700
    # trigger orders
    cancelled = p.conditional_order(s.m, s.cancelled_trigger)
    assert cancelled is not None and (cancelled["status"], cancelled["cancel_reason"]) == (
        "cancelled",
        "cancelled",
    )
    fired = p.conditional_order(s.m, s.fired_trigger)
    assert fired is not None and fired["status"] == "triggered"
    assert (fired["size"], fired["trigger_price"]) == (s.d.lots(ETH, "0.05"), s.d.ticks(ETH, 1_960))
    triggers = p.conditional_triggers(s.m, s.fired_trigger)
    assert triggers and triggers[0]["trigger_id"] == s.fired_trigger
    assert fired["triggered_us"] == triggers[0]["ts"]
    assert fired["order_id"] == triggers[0]["order_id"] is not None
    assert [c["id"] for c in p.conditional_orders(s.m).rows] == [s.fired_trigger, s.cancelled_trigger]


def test_an_order_from_its_commands_events_is_the_engines_and_the_historys(
    opener: Opener, scenario: Scenario
) -> None:
    """How a write is answered: the order as its command's events leave it (`order_from_events`)
    is the engine's order at that moment when it rests, and the history's final row when it
    closed within the command (market, IOC, filled, post-only...)."""
    p = opener()
    feed(p, scenario)
    ex = Exchange()  # the scenario's engine, replayed command by command
    names = schema.ORDERS.names
    rested = closed = 0
    for command, _ in scenario.d.log:
        events = ex.apply(command)
        for e in events:
            if not isinstance(e, OrderAccepted):
                continue
            row = order_from_events(events, e.order_id)
            assert row is not None
            got = dict(zip(names, row, strict=True))
            live = ex.accounts[e.account].orders.get(e.order_id)
            if live is not None:
                rested += 1
                assert got["status"] == live.status == "open"
                fields = ("price", "size", "filled", "remaining", "fill_value", "created_us")
                engine = (live.price, live.size, live.filled, live.remaining, live.fill_value, live.created)
                assert tuple(got[f] for f in fields) == engine
            else:
                closed += 1
                assert got["status"] == "closed" and got == p.order(e.account, e.order_id)
    assert rested and closed


def test_history_queries(opener: Opener, scenario: Scenario) -> None:
    p = opener()
    feed(p, scenario)
    s = scenario
    everything = p.orders(s.a, limit=None).rows
    ids = [o["id"] for o in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) == sum(
        1 for e in s.events(OrderAccepted) if e.account == s.a
    )
    page = p.orders(s.a, limit=3)
    assert [o["id"] for o in page.rows] == ids[:3] and page.more
    assert not p.orders(s.a, limit=len(ids)).more
    assert all(o["market"] == SPOT for o in p.orders(s.a, market=SPOT).rows)
    assert len(p.orders(s.a, market=SPOT).rows) == 2
    sells = p.orders(s.a, side="sell", market=ETH, limit=None).rows
    assert sells and all(o["side"] == "sell" for o in sells)
    assert p.orders(s.a, order_type="market").rows == []
    middle = everything[len(everything) // 2]["created_us"]
    assert all(o["created_us"] <= middle for o in p.orders(s.a, end=middle, limit=None).rows)
    assert all(o["created_us"] >= middle for o in p.orders(s.a, start=middle, limit=None).rows)
    assert len(p.orders(s.a, start=middle, end=middle).rows) >= 1

    fills = p.fills(s.a, limit=None).rows
    assert fills and [f["ts"] for f in fills] == sorted((f["ts"] for f in fills), reverse=True)
    first = p.order_by_client_id(s.b, "b-first")
    assert first is not None
    (fill,) = p.fills(s.b, order_id=first["id"]).rows
    assert (fill["liquidity"], fill["side"], fill["price"], fill["size"]) == ("maker", "sell", 10_024, 10_000)
    assert fill["fee"] == 10_024 * 10_000 * 10_000 * 200 // 10**6  # 2 bp of $10,024
    assert {f["market"] for f in p.fills(s.a, market=SPOT, limit=None).rows} == {SPOT}

    trades = p.trades(PERP, limit=None).rows
    assert len(trades) == sum(1 for e in s.events(Fill) if e.market == PERP)
    assert any(t["liquidation"] for t in trades)
    assert p.trades(PERP, limit=2).more

    payments = p.funding_payments(s.a).rows
    assert [(x["market"], x["payment"], x["ts"]) for x in payments] == [
        (e.market, e.payment, e.ts) for e in reversed(s.events(FundingPaid)) if e.account == s.a
    ]
    assert [x["market"] for x in p.funding_payments(s.a, future=ETH).rows] == [ETH]
    assert p.funding_payments(s.a, future="SOL-PERP").rows == []
    (rate,) = p.funding_rates(future=PERP).rows
    assert (rate["hour"], rate["ts"]) == (HOUR, 2 * HOUR)
    assert p.funding_rates(start=2 * HOUR + 1).rows == []

    liquidations = p.liquidations().rows
    assert {r["account"] for r in liquidations} >= {s.carol, s.dave}
    assert all(r["account"] == s.carol for r in p.liquidations(account=s.carol).rows)
    (close, *_) = p.auto_closes(counterparty=s.blp).rows
    assert close["account"] == s.dave and close["via"] == "backstop"
    assert p.liquidation_orders(account=s.carol).rows
    fund = p.insurance_fund(limit=None).rows
    assert fund[0]["balance"] == s.ex.insurance.balance
    assert fund[-1]["reason"] == "seed"

    (deposit, *_) = p.deposits(s.b, coin="USDC").rows
    assert (deposit["credited"], deposit["amount"]) == ("USD", usd(5_000))
    (withdrawal,) = p.withdrawals(s.b).rows
    assert withdrawal["amount"] == usd(1_000)
    moves = p.transfers(s.a_sub).rows
    assert [(t["source"], t["amount"]) for t in moves] == [(s.a_sub, usd(500)), (s.a, usd(2_500))]
    assert p.account_names()[s.a_sub] == ("alice", "bot")


# ----------------------------------------------------------------------------- idempotence, restarts


def test_batches_are_idempotent_and_gaps_are_refused(opener: Opener, scenario: Scenario) -> None:
    whole = opener("whole")
    feed(whole, scenario)
    p = opener("again")
    log_ = scenario.d.log
    commands = [c for c, _ in log_]
    results = [e for _, e in log_]
    p.on_batch(commands[:100], results[:100], 100)
    assert p.on_batch(commands[:100], results[:100], 100) == 0  # delivered twice
    assert p.on_batch(commands[50:100], results[50:100], 100) == 0
    with pytest.raises(ProjectionGap):
        p.on_batch(commands[101:120], results[101:120], 120)
    assert p.seq == 100
    p.on_batch(commands[90:200], results[90:200], 200)  # overlaps: only 101..200 are new
    p.on_batch(commands[200:], results[200:], len(log_))
    assert dump(p) == dump(whole)


def test_a_failed_write_changes_nothing(opener: Opener, scenario: Scenario) -> None:
    whole = opener("whole")
    feed(whole, scenario)
    p = opener("failing")
    log_ = scenario.d.log
    commands = [c for c, _ in log_]
    results = [e for _, e in log_]
    # fail on a batch whose first command fills an order that rests from an earlier batch, so
    # the open order's row in memory was changed before the write failed
    at = next(i for i in range(len(log_) // 2, len(log_)) if any(isinstance(e, Fill) for e in results[i]))
    p.on_batch(commands[:at], results[:at], at)
    before = dump(p)
    taken = next(e for events in results[:at] for e in events if isinstance(e, OrderAccepted))
    clash = [OrderAccepted(*[getattr(taken, f) for f in OrderAccepted._fields])]  # its id is taken
    with pytest.raises(Exception):  # noqa: B017 - each database raises its own integrity error
        p.on_batch([commands[at], commands[at]], [results[at], clash], at + 2)
    assert p.seq == at and dump(p) == before
    p.on_batch(commands[at:], results[at:], len(log_))
    assert dump(p) == dump(whole)


@pytest.mark.parametrize(
    ("defer_s", "commit_s"), [(0.0, 0.0), (0.003, 0.0), (0.003, 0.01)], ids=["each-batch", "deferred", "held"]
)
def test_the_listener_falls_behind_and_catches_up_by_itself(
    opener: Opener,
    scenario: Scenario,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    defer_s: float,
    commit_s: float,
) -> None:
    """The server's follower through three outages while batches keep coming: a short one (the
    batches it kept are enough), a long one (past `max_pending`: a copy of the engine and the
    journal), and one a read finds (on PostgreSQL, the server dropping the connection). Behind,
    reads raise HistoryUnavailable and nothing raises to the sequencer; level again, the tables are
    exactly those written without a failure. Deferred (the server's), batches held when the
    database fails are kept with the rest, and a read writes what is held first; held uncommitted
    as well (the server's on SQLite), a failure rolls back to the last commit and keeps the
    batches written since."""
    whole = opener("whole")
    feed(whole, scenario)
    data = tmp_path / "data"
    write_journal(data, scenario)
    engine = recovery.fresh_exchange(data)  # the engine the batches come from, as the server's
    p = opener("flaky")
    reached = 0
    follow = p.listener(
        lambda: reached, data, lambda: engine, max_pending=500, defer_s=defer_s, commit_s=commit_s
    )
    monkeypatch.setattr(sql, "RETRY_S", 0.01)
    write, fetch = p.backend.write, p.backend.fetch
    down = False

    def flaky_write(*args: Any) -> None:
        if down:
            raise OSError("database unreachable")
        write(*args)

    def flaky_fetch(*args: Any) -> Any:
        if down:
            raise p.backend.errors[0]("database unreachable")
        return fetch(*args)

    commit = p.backend.commit

    def flaky_commit() -> None:
        if down:
            raise OSError("database unreachable")
        commit()

    p.backend.write = flaky_write  # type: ignore[method-assign]
    p.backend.commit = flaky_commit  # type: ignore[method-assign]
    p.backend.fetch = flaky_fetch  # type: ignore[method-assign]
    short, long = range(6, 9), range(20, 45)  # 11 commands; about 2,000

    async def level() -> None:
        deadline = asyncio.get_running_loop().time() + 60
        while not follow.level:
            assert asyncio.get_running_loop().time() < deadline, "never caught up"
            await asyncio.sleep(0.01)

    async def run() -> None:
        nonlocal reached, down
        for k, (commands, _, seq) in enumerate(scenario.batches()):
            down = k in short or k in long
            if k == short.stop:
                await level()
                assert follow.checkpoint is None  # what it kept was enough
            if k == long.start:
                assert not follow.behind and p.seq + follow.deferred_count == seq - len(commands)
                with pytest.raises(HistoryUnavailable):  # a read finds it down first
                    p.orders(scenario.a)
                assert follow.behind
            if k == 60 and opener.kind == "postgresql":  # the server drops the connection
                with psycopg_connect() as conn:
                    conn.execute("SELECT pg_terminate_backend(%s)", (p.backend.conn.info.backend_pid,))
            results = [engine.apply(command) for command in commands]
            reached = seq
            follow(commands, results)  # never raises
            if defer_s and k % 7 == 3 and not down and not follow.behind:
                held = follow.deferred_count
                p.orders(scenario.a)  # a read between batches writes what is held first
                assert p.seq == seq and follow.level and not follow.deferred
                assert held or k == 3  # it was holding some
            if follow.behind:
                assert p.seq < seq
                with pytest.raises(HistoryUnavailable):
                    p.order(scenario.a, scenario.cancelled)
            if k == long.stop - 1:
                assert follow.checkpoint is not None  # it kept too much: the journal covers the rest
            await asyncio.sleep(0)  # the catch-up runs between batches, as on the server
        await level()

    asyncio.run(run())
    assert p.seq == len(scenario.d.log) and follow.level and not follow.pending
    assert p.order(scenario.a, scenario.cancelled) is not None
    assert dump(p) == dump(whole)


def test_held_writes_are_read_at_once_and_committed_after_commit_s(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The server's SQLite history holds its writes in an open transaction: reads on its own
    connection see every batch written, another connection only what is committed, which is
    everything `commit_s` after the first held write, at `stop` and with the candles; the rows
    end as those written batch by batch."""
    import sqlite3

    whole = Projection.open(tmp_path / "whole")
    feed(whole, scenario)
    p = Projection.open(tmp_path / "held")
    reached = 0
    follow = p.listener(lambda: reached, tmp_path / "data", lambda: None, defer_s=0.001, commit_s=0.05)  # type: ignore[arg-type,return-value]
    other = sqlite3.connect(tmp_path / "held" / sql.FILE_NAME)

    def committed() -> int:
        return int(other.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    async def run() -> None:
        nonlocal reached
        held = 0
        for commands, results, seq in scenario.batches():
            reached = seq
            follow(commands, results)
            p.orders(scenario.a)  # a read writes what is deferred first: into the open transaction
            assert p.seq == seq and follow.level
            if p.held:
                held += 1
                assert committed() < seq and follow.uncommitted
            else:
                assert committed() == seq
            await asyncio.sleep(0)
        assert held  # some writes were held uncommitted
        deadline = asyncio.get_running_loop().time() + 10
        while p.held:  # committed commit_s after the first held write
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert committed() == reached and not follow.uncommitted

    asyncio.run(run())
    follow.stop()
    assert committed() == len(scenario.d.log)
    other.close()
    assert dump(p) == dump(whole)
    whole.close()
    p.close()


def test_a_failed_held_write_rolls_back_to_the_last_commit(scenario: Scenario, tmp_path: Path) -> None:
    """`on_batch(hold=True)` leaves the transaction open; a later write that fails rolls back every
    held batch, and `seq` is the committed one again, from which the batches write again to the
    same rows."""
    whole = Projection.open(tmp_path / "whole")
    feed(whole, scenario)
    p = Projection.open(tmp_path / "held")
    batches = list(scenario.batches())
    p.on_batch(*batches[0])
    first = p.seq
    for commands, results, seq in batches[1:4]:
        p.on_batch(commands, results, seq, hold=True)
        assert p.held and p.seq == seq
    write = p.backend.write

    def failing(*args: Any) -> None:
        raise OSError("disk full")

    p.backend.write = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        p.on_batch(*batches[4], hold=True)
    assert not p.held and p.seq == first
    p.backend.write = write  # type: ignore[method-assign]
    p.refresh()
    assert p.seq == first
    for commands, results, seq in batches[1:]:
        p.on_batch(commands, results, seq, hold=True)
    p.commit()
    assert not p.held and p.seq == len(scenario.d.log)
    assert dump(p) == dump(whole)
    whole.close()
    p.close()


def psycopg_connect() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_URL, autocommit=True)


def test_reopening_keeps_the_rows_and_the_open_orders(opener: Opener, scenario: Scenario) -> None:
    whole = opener("whole")
    feed(whole, scenario)
    expected = dump(whole)
    half = len(scenario.d.log) // 3
    p = opener("restarted")
    feed(p, scenario, upto=half)
    assert p.seq == half
    p.close()
    again = opener("restarted")
    assert again.seq == half
    log_ = scenario.d.log
    again.on_batch([c for c, _ in log_[half:]], [e for _, e in log_[half:]], len(log_))
    assert dump(again) == expected
    again.close()
    assert dump(opener("restarted")) == expected


def write_journal(directory: Path, s: Scenario) -> None:
    recovery.initialize(directory)
    journal = log.Journal(directory)
    commands = [c for c, _ in s.d.log]
    for i in range(0, len(commands), 500):
        journal.append(commands[i : i + 500])
    journal.close()


def test_rebuild_from_the_journal_gives_the_same_rows(
    opener: Opener, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = opener("live")
    feed(live, scenario)
    expected = dump(live)
    data = tmp_path / "data"
    write_journal(data, scenario)
    total = len(scenario.d.log)

    rebuilt = opener("rebuilt")
    assert rebuilt.rebuild(data, batch=777) == total
    assert rebuilt.seq == total and dump(rebuilt) == expected
    assert rebuilt.rebuild(data) == total and dump(rebuilt) == expected  # level already: nothing to do

    behind = opener("behind")
    feed(behind, scenario, upto=total - 1_234)
    assert behind.rebuild(data) == total and dump(behind) == expected

    # from a snapshot at or below the projection's seq instead of from nothing
    at = 2_000
    ex = recovery.fresh_exchange(data)
    for seq, command in log.read(data):
        ex.apply(command)
        if seq == at:
            snapshot.write(data, at, ex)
            break
    quick = opener("quick")
    feed(quick, scenario, upto=at + 10)
    with monkeypatch.context() as patch:
        patch.setattr(recovery, "fresh_exchange", None)  # the snapshot must be used instead
        assert quick.rebuild(data, from_snapshot=True) == total
    assert dump(quick) == expected

    # ahead of the journal: it belongs to another history and is rebuilt from nothing
    short = tmp_path / "short"
    recovery.initialize(short)
    journal = log.Journal(short)
    journal.append([c for c, _ in scenario.d.log[:300]])
    journal.close()
    ahead = opener("ahead")
    feed(ahead, scenario, upto=400)
    assert ahead.rebuild(short) == 300 and ahead.seq == 300
    reference = opener("reference")
    feed(reference, scenario, upto=300)
    assert dump(ahead) == dump(reference)


# ----------------------------------------------------------------------------- market data


def market_state(m: MarketData) -> tuple[list[CandleRow], dict[str, list[tuple]]]:
    candles = sorted(
        c.row() for table in (m.candles, m.index_candles) for rows in table.values() for c in rows
    )
    trades = {
        name: [(t.id, t.price, t.size, t.side, t.liquidation, t.ts) for t in rows]
        for name, rows in m.trades.items()
    }
    return candles, trades


def test_candles_saved_live_are_the_candles_rebuilt_from_the_journal(
    opener: Opener, scenario: Scenario, tmp_path: Path
) -> None:
    """Market data kept live (marks sampled after each batch, saved with it) and read back; then
    saved only up to a point (a process killed before saving the rest) and completed by a rebuild
    from the journal; both read back as the live market data."""
    data = tmp_path / "data"
    recovery.initialize(data)
    journal = log.Journal(data)
    for commands, _, _ in scenario.batches():  # a record per batch, as the server writes them
        journal.append(commands)
    journal.close()
    engine = Exchange()
    live = MarketData(engine)
    p = opener("live")
    cut = len(scenario.d.log) - 700
    crashed = opener("crashed")
    crashed_market = MarketData(engine)
    for commands, _, seq in scenario.batches():
        results = [engine.apply(command) for command in commands]
        live.on_batch(commands, results)
        p.on_batch(commands, results, seq, live)
        if seq <= cut:
            crashed_market.on_batch(commands, results)
            crashed.on_batch(commands, results, seq, crashed_market)
        else:
            crashed.on_batch(commands, results, seq)  # the rows, not the candles
    assert p.candles_seq == p.seq and 0 < crashed.candles_seq <= cut < crashed.seq
    expected = market_state(live)
    assert len(expected[0]) > 1_000 and expected[1][ETH]

    again = MarketData(Exchange())
    p.load_candles(again)
    p.load_trades(again)
    assert market_state(again) == expected

    rebuilt = MarketData(Exchange())
    assert crashed.rebuild(data, market=rebuilt) == len(scenario.d.log)
    crashed.load_trades(rebuilt)
    assert crashed.candles_seq == crashed.seq and market_state(rebuilt) == expected
    assert dump(crashed)["candles"] == dump(p)["candles"]


# ----------------------------------------------------------------------------- exact integers


def test_integers_beyond_64_bits_are_kept_exactly(opener: Opener) -> None:
    p = opener()
    huge = 10**12
    price = 10**10  # 10**22 in fill value: far past 2**63
    accepted = [
        OrderAccepted(1, 0, PERP, "sell", price, huge, "limit", False, False, False, None, 5),
        OrderAccepted(2, 1, PERP, "buy", price, 2 * huge, "limit", False, False, False, None, 6),
    ]
    fill = Fill(1, PERP, price, huge, "buy", 2, 1, 1, 0, 7, "USD", 2, "USD", -(10**25), 10**25, 6)
    fund = InsuranceFundChanged(10**20, 3 * 10**20, "liquidation", 1, 6)
    closed = OrderClosed(1, 0, PERP, "filled", huge, huge, 6)
    p.on_batch(["c1", "c2"], [accepted[:1], [accepted[1], fill, closed, fund]], 2)  # type: ignore[list-item]
    maker = p.order(0, 1)
    taker = p.order(1, 2)
    assert maker is not None and taker is not None
    assert maker["fill_value"] == taker["fill_value"] == huge * price
    fill2 = Fill(2, PERP, price, huge, "buy", 2, 3, 1, 0, 7, "USD", 2, "USD", 0, 0, 8)
    p.on_batch(["c3"], [[fill2]], 3)  # type: ignore[list-item]
    taker = p.order(1, 2)
    assert taker is not None and taker["fill_value"] == 2 * huge * price and taker["remaining"] == 0
    (row,) = p.insurance_fund().rows
    assert (row["change"], row["balance"]) == (10**20, 3 * 10**20)
    assert {f["realized"] for f in p.fills(1).rows} == {-(10**25), 0}
    assert all(type(v) is int for v in (row["change"], row["balance"], taker["fill_value"]))
    p.close()
    reopened = opener()
    taker = reopened.order(1, 2)
    assert taker is not None and taker["fill_value"] == 2 * huge * price


def test_event_tables_name_the_events_fields() -> None:
    for kind, table in LOGGED_TABLES.items():
        assert set(table.names[2:]) <= set(kind._fields), (kind, table.name)


def test_a_projection_of_another_schema_version_is_dropped(opener: Opener, scenario: Scenario) -> None:
    p = opener()
    feed(p, scenario, upto=500)
    assert p.seq == 500 and dump(p)["orders"]
    p.backend.execute("UPDATE meta SET value = ? WHERE key = 'version'", (schema.VERSION + 1,))
    p.close()
    again = opener()
    assert again.seq == 0 and not any(dump(again).values())
    if opener.kind == "sqlite":
        assert (opener.directory / "main" / "history.sqlite").exists()
        assert again.backend.fetch("PRAGMA journal_mode") == [("wal",)]


# ----------------------------------------------------------------------------- unsynced SQLite


def test_sqlite_marks_itself_open_with_the_boot_and_a_clean_close_syncs_and_clears_it(
    scenario: Scenario, tmp_path: Path
) -> None:
    boot = boot_id()
    if boot is None:
        pytest.skip("no boot id on this system: SQLite runs with synchronous=NORMAL")
    p = Projection.open(tmp_path)
    mark = tmp_path / (FILE_NAME + ".boot")
    assert mark.read_text() == boot
    assert p.backend.conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
    feed(p, scenario)
    expected = dump(p)
    p.close()
    assert not mark.exists()
    assert (
        not (tmp_path / (FILE_NAME + "-wal")).exists()
        or (tmp_path / (FILE_NAME + "-wal")).stat().st_size == 0
    )
    again = Projection.open(tmp_path)
    assert again.seq == len(scenario.d.log) and dump(again) == expected
    again.close()


def test_a_projection_left_open_by_a_killed_process_is_kept(scenario: Scenario, tmp_path: Path) -> None:
    if boot_id() is None:
        pytest.skip("no boot id on this system")
    p = Projection.open(tmp_path)
    feed(p, scenario)
    expected = dump(p)
    p.backend._checkpoints.stop()
    p.backend.conn.close()  # as SIGKILL leaves it: no final sync, the mark still there, same boot
    assert (tmp_path / (FILE_NAME + ".boot")).exists()
    again = Projection.open(tmp_path)
    assert again.seq == len(scenario.d.log) and dump(again) == expected
    again.close()


def test_a_projection_left_open_when_the_system_went_down_is_rebuilt_from_the_journal(
    scenario: Scenario, tmp_path: Path
) -> None:
    if boot_id() is None:
        pytest.skip("no boot id on this system")
    data = tmp_path / "data"
    write_journal(data, scenario)
    p = Projection.open(data)
    feed(p, scenario)
    expected = dump(p)
    p.backend._checkpoints.stop()
    p.backend.conn.close()
    (data / (FILE_NAME + ".boot")).write_text("a boot before the power went out")
    fresh = Projection.open(data)
    assert fresh.seq <= 0 and all(not rows for rows in dump(fresh).values())  # not trusted: gone
    assert fresh.rebuild(data) == len(scenario.d.log)
    assert dump(fresh) == expected
    fresh.close()


def test_booleans_and_nulls_bind_through_registered_adapters_and_store_as_before() -> None:
    """`backends` registers sqlite3 adapters for bool and None: without them each such value cost
    a failed attribute lookup before binding. What is stored is what sqlite3 stored without them,
    an integer 0 or 1 and NULL, in a STRICT table as the history's are."""
    import sqlite3

    from backstop.projections import backends

    assert backends.SQLite is not None  # imported: the adapters are registered
    assert sqlite3.adapters[(bool, sqlite3.PrepareProtocol)] is int
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (yes INTEGER, no INTEGER, absent INTEGER, label TEXT) STRICT")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(True, False, None, None)] * 2)
    assert (
        conn.execute(
            "SELECT yes, no, absent, label, typeof(yes), typeof(absent), typeof(label) FROM t"
        ).fetchall()
        == [(1, 0, None, None, "integer", "null", "null")] * 2
    )
