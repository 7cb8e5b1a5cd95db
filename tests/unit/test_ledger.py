"""The ledger (engine/ledger.py): a set of moves is checked as a whole and applied all or none,
balanced per coin (minting and burning against a supply), and marks what it touches for the sweep."""

from __future__ import annotations

import pytest
from engine_kit import Desk, usd

from backstop.engine import ledger
from backstop.engine.events import InsuranceFundChanged
from backstop.engine.ledger import LedgerError, Moves

PERP = "BTC-PERP"


@pytest.fixture
def d() -> Desk:
    desk = Desk()
    desk.account("a", "", 1_000, BTC=2)
    desk.account("b", "", 500)
    desk.ex.dirty.clear()
    return desk


def test_a_balanced_set_moves_every_leg_and_marks_every_account(d: Desk) -> None:
    events: list = []
    moves = (
        Moves()
        .pay(0, "USD", -usd(100))
        .pay(1, "USD", usd(60))
        .fee("USD", usd(10))
        .to_fund(usd(30), "seed", 0)
    )
    assert ledger.apply(d.ex, moves, d.tick(), events) == ""
    assert (d.balance(0), d.balance(1)) == (usd(900), usd(560))
    assert d.ex.fees.totals["USD"] == usd(10) and d.ex.insurance.balance == usd(30)
    assert d.ex.dirty == {0, 1}
    assert [type(e) for e in events] == [InsuranceFundChanged]
    assert d.ex.discrepancies() == {}


def test_an_unbalanced_set_changes_nothing(d: Desk) -> None:
    before = d.ex.state_hash()
    moves = Moves().pay(0, "USD", -usd(100)).pay(1, "USD", usd(99))
    assert ledger.apply(d.ex, moves, d.tick(), []) == "Unbalanced moves: USD off by -100000000"
    assert ledger.apply(d.ex, Moves().pay(0, "BTC", 1), d.tick(), []) == "Unbalanced moves: BTC off by 1"
    assert d.ex.state_hash() == before and not d.ex.dirty
    with pytest.raises(LedgerError):
        ledger.must(d.ex, Moves().fee("USD", 1), d.tick(), [])


def test_unknown_accounts_and_coins_are_refused(d: Desk) -> None:
    before = d.ex.state_hash()
    assert (
        ledger.apply(d.ex, Moves().pay(0, "USD", -1).pay(9, "USD", 1), d.tick(), []) == "No such subaccount"
    )
    assert ledger.apply(d.ex, Moves().pay(0, "XYZ", 1).mint("XYZ", 1), d.tick(), []) == "No such coin: XYZ"
    assert d.ex.state_hash() == before


def test_the_available_rule_counts_what_open_orders_hold(d: Desk) -> None:
    d.rest(0, "BTC/USD", "sell", "1.5", 20_000)  # holds 1.5 of a's 2 BTC
    moves = Moves().pay(0, "BTC", -usd("0.6")).pay(1, "BTC", usd("0.6"))
    assert ledger.apply(d.ex, moves, d.tick(), [], available=True) == "Not enough balances"
    moves = Moves().pay(0, "BTC", -usd("0.5")).pay(1, "BTC", usd("0.5"))
    assert ledger.apply(d.ex, moves, d.tick(), [], available=True) == ""
    # without the rule (funding, liquidation) a balance may go below zero
    assert ledger.apply(d.ex, Moves().pay(1, "USD", -usd(600)).fee("USD", usd(600)), d.tick(), []) == ""
    assert d.balance(1) == -usd(100)


def test_mint_and_burn_keep_the_supply_and_the_check_whole(d: Desk) -> None:
    d.ex.product_coins.add("PTS")  # as a registered product's coin
    assert ledger.apply(d.ex, Moves().mint("PTS", 50).pay(0, "PTS", 30).pay(1, "PTS", 20), d.tick(), []) == ""
    assert d.ex.supply == {"PTS": 50} and d.ex.discrepancies() == {}
    assert ledger.apply(d.ex, Moves().burn("PTS", 20).pay(1, "PTS", -20), d.tick(), []) == ""
    assert d.ex.supply == {"PTS": 30}
    assert ledger.apply(d.ex, Moves().mint("PTS", 5), d.tick(), []) == "Unbalanced moves: PTS off by -5"
    assert ledger.apply(d.ex, Moves().burn("PTS", 30).pay(0, "PTS", -30), d.tick(), []) == ""
    assert d.ex.supply == {} and d.ex.discrepancies() == {}
    assert len(d.ex.canonical()) == 12  # no supply, no pools, no products: the core's form alone


def test_pools_hold_coins_the_report_counts(d: Desk) -> None:
    assert (
        ledger.apply(d.ex, Moves().pay(0, "USD", -usd(5)).pool("reserve", "USD", usd(5)), d.tick(), []) == ""
    )
    assert d.ex.pools == {"reserve": {"USD": usd(5)}} and d.ex.discrepancies() == {}
    assert len(d.ex.canonical()) == 13  # the ledger's section
    assert (
        ledger.apply(d.ex, Moves().pay(0, "USD", usd(5)).pool("reserve", "USD", -usd(5)), d.tick(), []) == ""
    )
    assert d.ex.pools == {}


def test_cost_basis_moves_count_as_usd(d: Desk) -> None:
    assert (
        ledger.apply(d.ex, Moves().cost(0, PERP, 5).pay(0, "USD", 5), d.tick(), [])
        == "No position in BTC-PERP"
    )
    assert ledger.apply(d.ex, Moves().cost(7, PERP, 5).pay(0, "USD", 5), d.tick(), []) == "No such subaccount"
    d.index("BTC", 10_000)
    d.rest(1, PERP, "sell", "0.01", 10_000)
    d.place(0, PERP, "buy", "0.01", 10_000)
    cost = d.position(0, PERP).cost
    assert d.position(1, PERP).cost == -cost
    # releasing a cost basis is a credit: paying it out as well counts twice
    off = Moves().cost(0, PERP, -cost).pay(0, "USD", cost)
    assert ledger.apply(d.ex, off, d.tick(), []) == f"Unbalanced moves: USD off by {2 * cost}"
    # both sides settled at a value v (expiry's move): balanced
    v = usd(110)
    moves = Moves().pay(0, "USD", v - cost).cost(0, PERP, -cost).pay(1, "USD", -v + cost).cost(1, PERP, cost)
    assert ledger.apply(d.ex, moves, d.tick(), []) == ""
    assert d.position(0, PERP).cost == 0 and d.ex.discrepancies() == {}


def test_money_moves_only_through_the_ledger() -> None:
    """Outside ledger.py, a balance is written directly only where it is defined (accounts.py),
    in a fill's and a liquidation transfer's position leg (settlement.py), in a what-if check that
    undoes itself (Exchange._can_release) and when a state is restored (state.py)."""
    import re
    from pathlib import Path

    import backstop.engine
    import backstop.products

    allowed = {"accounts.py": 1, "settlement.py": 1, "exchange.py": 2, "state.py": 1}
    pattern = re.compile(r"\.usd [-+]=|\.credit\(|\.balance [-+]=|\.supply\[|\.deposits\[|\.withdrawals\[")
    found: dict[str, int] = {}
    for package in (backstop.engine, backstop.products):
        for path in Path(package.__path__[0]).rglob("*.py"):
            if path.name == "ledger.py":
                continue
            hits = len(pattern.findall(path.read_text()))
            if hits:
                found[path.name] = hits
    assert found == allowed
