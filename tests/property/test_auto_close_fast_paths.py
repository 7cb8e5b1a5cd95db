"""The auto-close's fast paths against the computations they replaced (hypothesis).

- `backstop.allocate` splits lots pro rata to the providers' capacities by largest remainder; it
  no longer sorts every index by (-remainder, index) on each call (`sorted_allocate`, the old code
  verbatim), it hands the few lots left over one by one: the same shares.
- `margin.has_free_collateral` answers `free_collateral(ex, acct) > 0` for each backstop provider
  on each auto-close with remembered IMF bounds instead of square roots, falling back on the exact
  computation when its lower bound is not positive: the same answer, through positions that grow,
  shrink and flip, open orders, leverage and margin floors that change, marks that move, and free
  collateral held around zero so that both the bound and the fallback answer.
- A transfer's loss at the zero price (`liquidation._loss`) cancels the lot's value out of
  floor(tav x value / notional) when the notional is a whole number of lots' values, and the
  assessment's rates (MF, MMF, ACMF) come from `amounts.rate_of`: the same quotients as the one-line
  big-int formulas they replaced.
- Whole FTX-model cascades with backstop providers whose free collateral runs out midway run the
  same, event for event, with the fast paths and with the old computations patched in (pure
  Python: patched into the module).
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.engine import amounts, backstop, liquidation, risk
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import (
    CancelAll,
    CreateAccount,
    Deposit,
    FundInsurance,
    IndexUpdate,
    PlaceOrder,
    RegisterBackstop,
    SetLeverage,
    Tick,
)
from backstop.engine.events import AutoClosed
from backstop.engine.exchange import Exchange
from backstop.engine.margin import free_collateral, has_free_collateral
from backstop.engine.settlement import settle

SECOND = 1_000_000
PURE = liquidation.__file__.endswith(".py")
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def sorted_allocate(lots: int, weights: list[int]) -> list[int]:
    """The allocation as it was."""
    total = sum(weights)
    if not total:
        return [0] * len(weights)
    shares = [lots * w // total for w in weights]
    left = lots - sum(shares)
    if left:
        order = sorted(range(len(weights)), key=lambda i: (-(lots * weights[i] % total), i))
        for i in order[:left]:
            shares[i] += 1
    return shares


@SETTINGS
@given(
    st.integers(0, 10**9),
    st.lists(
        st.one_of(st.integers(0, 12), st.integers(0, 10**20), st.sampled_from((0, 5, 10**17))), max_size=30
    ),
)
def test_allocate_gives_the_sorted_allocation(lots: int, weights: list[int]) -> None:
    assert backstop.allocate(lots, weights) == sorted_allocate(lots, weights)


def old_loss(tav: int, lots: int, unit: int, notional: int) -> int:
    """A transfer's loss as it was: tav x value // notional."""
    return tav * (lots * unit) // notional


def old_mf(a: risk.Assessment) -> int:
    return a.tav * RATE // a.notional if a.notional else 0


def old_mmf(a: risk.Assessment) -> int:
    return -(-a.requirement * RATE // a.notional) if a.notional else 0


def old_acmf(a: risk.Assessment) -> int:
    return -(-a.auto_close() * RATE // a.notional) if a.notional else 0


money = st.one_of(st.integers(-(2**62), 2**62), st.integers(-(10**14), 10**14), st.integers(-(2**80), 2**80))


@SETTINGS
@given(
    money,
    st.one_of(st.integers(1, 10**6), st.integers(1, 2**40)),
    st.one_of(st.integers(1, 2**30), st.integers(1, 2**50), st.just(270_000_000)),
    st.one_of(st.integers(1, 10**6), st.integers(1, 2**40)),
    st.integers(0, 2**40),
)
def test_the_loss_is_the_old_quotient(tav: int, lots: int, unit: int, held: int, extra: int) -> None:
    """A notional of whole lots' values (one position) and one of any size (several positions)."""
    for compiled in (True, False):  # both forms (amounts.COMPILED), whichever build runs here
        with mock.patch.object(liquidation, "COMPILED", compiled):
            for notional in (held * unit, held * unit + extra):
                if notional:
                    assert liquidation._loss(tav, lots, unit, notional) == old_loss(tav, lots, unit, notional)
            assert liquidation._loss(tav, lots, 0, held) == 0


@SETTINGS
@given(money, st.integers(0, 2**62), st.one_of(st.integers(1, 2**48), st.integers(1, 2**80)))
def test_the_assessment_rates_are_the_old_quotients(tav: int, requirement: int, notional: int) -> None:
    for compiled in (True, False):
        with mock.patch.object(amounts, "COMPILED", compiled):
            for n in (notional, 0):
                a = risk.Assessment(tav, n, requirement, 0, 0, 0)
                assert (a.mf(), a.mmf(), a.acmf()) == (old_mf(a), old_mmf(a), old_acmf(a))


MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")

changes = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 2), st.integers(-400_000, 400_000)),
        st.tuples(st.just("orders"), st.integers(0, 2), st.integers(0, 300_000), st.integers(0, 300_000)),
        st.tuples(st.just("mark"), st.integers(0, 2), st.integers(-2_000, 2_000)),
        st.tuples(st.just("leverage"), st.sampled_from((1, 3, 5, 10, 20))),
        st.tuples(st.just("floor"), st.integers(0, 2), st.sampled_from((0, 0, 5, 20, 50))),
        st.tuples(st.just("edge"), st.integers(-3_000, 3_000)),
    ),
    min_size=1,
    max_size=60,
)


@SETTINGS
@given(changes)
def test_has_free_collateral_answers_as_free_collateral(steps: list) -> None:
    ex = Exchange(load())
    ex.apply(CreateAccount(SECOND, "blp"))
    acct = ex.accounts[0]
    acct.usd = 1_000_000 * ATOM
    for name in MARKETS:
        book = ex.books[name]
        book.index = 10**6 // book.info.tick_value * 10  # some mark in ticks
        book.stale = True
    caps: dict[str, tuple[int, int, int, int]] = {}  # kept across the changes, as a cascade keeps it
    for step in steps:
        kind = step[0]
        if kind == "fill":
            _, m, lots = step
            book = ex.books[MARKETS[m]]
            if lots:
                settle(acct, book, lots, abs(lots) * book.mark_or(1) * book.info.tick_value)
        elif kind == "orders":
            _, m, buys, sells = step
            pos = acct.position(ex.books[MARKETS[m]])
            pos.open_buy, pos.open_sell = buys, sells
        elif kind == "mark":
            _, m, move = step
            book = ex.books[MARKETS[m]]
            book.index = max(1, book.mark_or(1) * (10_000 + move) // 10_000)
            book.stale = True
        elif kind == "leverage":
            acct.leverage = step[1]
        elif kind == "floor":
            _, m, percent = step
            ex.books[MARKETS[m]].imf_floor = percent * RATE // 100
        else:  # free collateral brought to within a few dollars of zero: the bound fails, the exact answers
            acct.usd -= free_collateral(ex, acct) + step[1] * ATOM // 1_000
        assert has_free_collateral(ex, acct, caps) == (free_collateral(ex, acct) > 0), step


# ----------------------------------------------------------------------------- whole cascades

MARKET = "BTC-PERP"
MAKER, OPERATOR = 0, 1

traders = st.lists(
    st.tuples(
        st.integers(1_000, 20_000), st.sampled_from((10, 20)), st.booleans(), st.sampled_from((60, 95))
    ),
    min_size=6,
    max_size=16,
)
path = st.lists(st.integers(-900, 400), min_size=4, max_size=20)
# the providers: each registers with FTX's least collateral ($500k) and uses this much of it (percent
# of the $8.5m it can hold at 20x, long or short), so its free collateral runs out during the cascade
providers = st.lists(st.tuples(st.integers(30, 99), st.booleans()), min_size=1, max_size=4)


def commands(population: list, moves: list[int], deposits: list[tuple[int, bool]]) -> list:
    ts = SECOND
    out: list = [
        IndexUpdate(ts, "BTC", (10_000 * ATOM,)),
        CreateAccount(ts, "maker"),
        CreateAccount(ts, "operator"),
        Deposit(ts, MAKER, "USD", 500_000_000 * ATOM),
        Deposit(ts, OPERATOR, "USD", 100_000 * ATOM),
        FundInsurance(ts, OPERATOR, 5_000 * ATOM),
    ]
    for n, (use, long) in enumerate(deposits):
        lots = 8_500_000 * use // 100  # $1 a lot at $10,000: up to about its initial margin
        out += [
            CreateAccount(ts, f"blp{n}"),
            Deposit(ts, 2 + n, "USD", 500_000 * ATOM),
            RegisterBackstop(ts, 2 + n, 100_000 * ATOM, 300_000 * ATOM),
            SetLeverage(ts, 2 + n, 20),
            PlaceOrder(ts, MAKER, MARKET, "sell" if long else "buy", lots, 10_000),
            PlaceOrder(ts, 2 + n, MARKET, "buy" if long else "sell", lots, 10_000, "limit", True),
        ]
    out += [CancelAll(ts, MAKER)] + [
        PlaceOrder(ts, MAKER, MARKET, side, 50_000, 10_000 + (5 if side == "sell" else -5))
        for side in ("buy", "sell")
    ]
    first = 2 + len(deposits)
    for n, (collateral, leverage, long, use) in enumerate(population):
        lots = collateral * leverage * use // 100  # $1 a lot at $10,000
        out += [
            CreateAccount(ts, f"t{n}"),
            Deposit(ts, first + n, "USD", collateral * ATOM),
            SetLeverage(ts, first + n, leverage),
            PlaceOrder(
                ts,
                first + n,
                MARKET,
                "buy" if long else "sell",
                lots,
                10_200 if long else 9_800,
                "limit",
                True,
            ),
        ]
    price = 10_000
    for move in moves:
        price = max(1_000, price * (10_000 + move) // 10_000)
        for second in range(3):
            ts += SECOND
            out.append(IndexUpdate(ts, "BTC", (price * ATOM,)))
            if second == 0:
                out.append(CancelAll(ts, MAKER))
            out.append(Tick(ts))
    return out


def exact(ex: Exchange, acct: object, caps: object) -> bool:
    return free_collateral(ex, acct) > 0  # type: ignore[arg-type]


@pytest.mark.skipif(not PURE, reason="the old computations are patched into the pure-Python modules only")
@settings(max_examples=40, deadline=None, suppress_health_check=SETTINGS.suppress_health_check)
@given(traders, path, providers, st.integers(0, 2**32))
def test_cascades_run_the_same_with_the_fast_paths_and_without(
    population: list, moves: list[int], deposits: list[tuple[int, bool]], seed: int
) -> None:
    fast = Exchange(load(model="ftx"), seed=seed)
    slow = Exchange(load(model="ftx"), seed=seed)
    for command in commands(population, moves, deposits):
        # the fast paths in the compiled engine's forms (amounts.COMPILED), run as pure Python
        with mock.patch.object(amounts, "COMPILED", True), mock.patch.object(liquidation, "COMPILED", True):
            events = fast.apply(command)
        with (
            mock.patch.object(liquidation, "has_free_collateral", exact),
            mock.patch.object(liquidation, "allocate", sorted_allocate),
            mock.patch.object(liquidation, "_loss", old_loss),
            mock.patch.object(risk.Assessment, "mf", old_mf),
            mock.patch.object(risk.Assessment, "mmf", old_mmf),
            mock.patch.object(risk.Assessment, "acmf", old_acmf),
        ):
            assert slow.apply(command) == events, command
        if isinstance(command, Tick):
            assert fast.state_hash() == slow.state_hash()
    assert fast.discrepancies() == {}


def test_a_provider_out_of_free_collateral_gets_nothing_more() -> None:
    """The fallback decides: a small provider takes auto-closes until its free collateral is gone,
    then the others (or the last resort) take the rest, as with the exact computation."""
    population = [(2_000, 20, True, 95)] * 12
    fast = Exchange(load(model="ftx"), seed=3)
    slow = Exchange(load(model="ftx"), seed=3)
    vias: set[str] = set()
    for command in commands(population, [-700, -300], [(95, True), (40, False)]):
        events = fast.apply(command)
        with mock.patch.object(liquidation, "has_free_collateral", exact):
            assert slow.apply(command) == events
        vias |= {e.via for e in events if isinstance(e, AutoClosed)}
    assert "backstop" in vias
    assert fast.state_hash() == slow.state_hash()
