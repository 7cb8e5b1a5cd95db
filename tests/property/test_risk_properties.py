"""Properties of the risk engine over random market paths (hypothesis).

A small population trades BTC-PERP at random leverage against a market maker who requotes around
a random-walk index with jumps; backstop providers and a seeded fund stand behind it. Across
every command: money is conserved (the solvency report balances exactly), after every sweep no
account outside liquidation is below zero, the at-risk index never misses an account below
maintenance, and a pickled engine continues identically. Half the traders guard their position
with a stop (trigger orders fire inside the same ticks). Each liquidation model is exercised.
"""

from __future__ import annotations

import pickle

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import (
    CancelAll,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceConditional,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    SetMarginFloor,
    Tick,
)
from backstop.engine.events import Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.integrity import solvency
from backstop.engine.risk import assess

SECOND = 1_000_000
MARKET = "BTC-PERP"
MAKER, OPERATOR, BLP = 0, 1, 2
TRADERS = 6

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

traders = st.lists(
    st.tuples(
        st.integers(1_000, 20_000),  # collateral, USD
        st.sampled_from((1, 3, 10, 20)),  # leverage
        st.booleans(),  # long?
        st.integers(40, 95),  # percent of the leverage used
    ),
    min_size=TRADERS,
    max_size=TRADERS,
)
path = st.lists(st.integers(-400, 300), min_size=10, max_size=60)  # index moves, basis points per step


def setup(model: str, population: list[tuple[int, int, bool, int]], seed: int) -> tuple[Exchange, list, int]:
    ex = Exchange(load(model=model), seed=seed)
    ts = SECOND
    commands: list = [
        IndexUpdate(ts, "BTC", (10_000 * ATOM,)),
        CreateAccount(ts, "maker"),
        CreateAccount(ts, "operator"),
        CreateAccount(ts, "blp"),
        Deposit(ts, MAKER, "USD", 50_000_000 * ATOM),
        Deposit(ts, OPERATOR, "USD", 100_000 * ATOM),
        FundInsurance(ts, OPERATOR, 2_000 * ATOM),
        Deposit(ts, BLP, "USD", 1_000_000 * ATOM),
        RegisterBackstop(ts, BLP, 100_000 * ATOM, 300_000 * ATOM),
    ]
    commands += quotes(ts, 10_000)
    for n, (collateral, leverage, long, use) in enumerate(population):
        account = 3 + n
        lots = collateral * leverage * use // 100  # 1e-4 BTC lots at $10,000: value = lots x $1
        commands += [
            CreateAccount(ts, f"trader-{n}"),
            Deposit(ts, account, "USD", collateral * ATOM),
            SetLeverage(ts, account, leverage),
            PlaceOrder(
                ts, account, MARKET, "buy" if long else "sell", lots, 10_200 if long else 9_800, "limit", True
            ),
        ]
        if n % 2:  # half of them guard the position with a reduce-only stop 4% away (market or limit)
            stop = 9_600 if long else 10_400
            limit = None if n % 4 == 1 else (stop - 50 if long else stop + 50)
            commands.append(
                PlaceConditional(
                    ts, account, MARKET, "sell" if long else "buy", lots, "stop", stop, limit, None, True
                )
            )
    return ex, commands, ts


def quotes(ts: int, price: int) -> list:
    out: list = [CancelAll(ts, MAKER)]
    for level in range(6):
        away = price * (5 + 20 * level) // 10_000
        out.append(PlaceOrder(ts, MAKER, MARKET, "buy", 10_000 * (1 + level), price - away))
        out.append(PlaceOrder(ts, MAKER, MARKET, "sell", 10_000 * (1 + level), price + away))
    return out


def run(model: str, population: list, moves: list[int], seed: int, floor: int = 0) -> None:
    """`floor`: a margin floor (IMF percent; MMF 0.6 of it) set a third of the way along the path."""
    ex, commands, ts = setup(model, population, seed)
    price = 10_000
    for step, move in enumerate(moves):
        if floor and step == len(moves) // 3:
            commands.append(SetMarginFloor(ts, MARKET, floor * RATE // 100, floor * 6 * RATE // 1_000))
        price = max(1_000, price * (10_000 + move) // 10_000)
        for second in range(6):  # six seconds per step: one step-1 round on average
            ts += SECOND
            commands.append(IndexUpdate(ts, "BTC", (price * ATOM,)))
            if second == 0:
                commands += quotes(ts, price)
            commands.append(Tick(ts))
        if step == len(moves) // 2:
            commands.append("pickle")
    twin: Exchange | None = None
    checked = 0
    for command in commands:
        if command == "pickle":
            twin = pickle.loads(pickle.dumps(ex))
            assert twin.state_hash() == ex.state_hash()
            continue
        events = ex.apply(command)
        if twin is not None:
            assert twin.apply(command) == events
        assert ex.discrepancies() == {}, command
        book = ex.books[MARKET]
        # liquidation fills inside the tick may move the mark after the sweep looked; the next
        # sweep sees that move, so the check applies when the mark is still the one swept
        if isinstance(command, Tick) and book.mark() == book.swept:
            assert solvency(ex)["balanced"]
            checked += 1
            for acct in ex.accounts:
                if acct.liquidation:
                    continue
                a = assess(ex, acct)
                # the sweep (with its at-risk index) missed no one below maintenance or zero
                assert not (a.notional and a.tav < a.requirement), (acct.id, command)
                assert a.tav >= 0, (acct.id, command)
        else:
            setup_failed = events and isinstance(events[0], Rejected)
            assert not (setup_failed and isinstance(command, (Deposit, CreateAccount)))
    assert twin is not None and twin.state_hash() == ex.state_hash()
    assert checked >= len(moves)  # most ticks moved no mark after their sweep


@SETTINGS
@given(traders, path, st.integers(0, 2**32), st.sampled_from((0, 9, 15, 30)))
def test_ftx_model(population: list, moves: list[int], seed: int, floor: int) -> None:
    run("ftx", population, moves, seed, floor)


CI_PATH = [-80, 0, -348, -36, -130, 1, -68, 31, 161, 16, -398, -298, 54, -12, 56, -155, 60, -73, 212, 27]
CI_PATH += [207, -52, -172, -328, -166, -376]


@SETTINGS
@given(traders, path, st.integers(0, 2**32))
@example(  # found in CI: the mean |premium| behind the price bands was missing from the state
    [(1_000, 1, False, 40)] * 6,
    CI_PATH,
    0,
)
def test_bitmex_model(population: list, moves: list[int], seed: int) -> None:
    run("bitmex", population, moves, seed)


@SETTINGS
@given(traders, path, st.integers(0, 2**32))
def test_okex_model(population: list, moves: list[int], seed: int) -> None:
    run("okex", population, moves, seed)
