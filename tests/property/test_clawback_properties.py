"""The clawback's winners under the OKEx model (every net winner) looked for among the holders of
some market instead of every account (hypothesis): the same accounts, in the same order, with the
same profits as the old pass over every account (`every_account` below, the old code verbatim),
whatever the positions (several markets, none, closed again), the marks, the bankrupt account and
the accounts being liquidated."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.engine.accounts import Account
from backstop.engine.amounts import ATOM
from backstop.engine.commands import CreateAccount
from backstop.engine.exchange import Exchange
from backstop.engine.insurance import _winners
from backstop.engine.margin import mark_of
from backstop.engine.settlement import settle

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def every_account(ex: Exchange, bankrupt: int) -> list[tuple[Account, int]]:
    out: list[tuple[Account, int]] = []
    for acct in ex.accounts:
        if acct.id == bankrupt or acct.liquidation:
            continue
        profit = 0
        for pos in acct.positions.values():
            if pos.size:
                profit += pos.size * mark_of(pos.book) * pos.book.info.tick_value - pos.cost
        if profit > 0:
            out.append((acct, profit))
    return out


fills = st.lists(
    st.tuples(
        st.integers(0, 14), st.integers(0, 14), st.integers(0, 2), st.integers(1, 50), st.integers(80, 120)
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fills,
    st.lists(st.integers(80, 120), min_size=3, max_size=3),
    st.integers(-1, 14),
    st.lists(st.booleans(), min_size=15, max_size=15),
)
def test_okex_winners_are_those_of_a_pass_over_every_account(
    steps: list, marks: list[int], bankrupt: int, liquidating: list[bool]
) -> None:
    for model in ("okex", "ftx"):  # FTX's asks for them with no market ("" : every market)
        ex = Exchange(load(model=model))
        for n in range(15):
            ex.apply(CreateAccount(1, f"t{n}"))
            ex.accounts[n].usd = 1_000 * ATOM
        for a, b, m, lots, price in steps:  # a buys from b at price% of 100 ticks ($1 a lot at 100)
            if a == b:
                continue
            book = ex.books[MARKETS[m]]
            value = lots * price * book.info.tick_value
            settle(ex.accounts[a], book, lots, value)
            settle(ex.accounts[b], book, -lots, value)
        for name, mark in zip(MARKETS, marks, strict=True):
            ex.books[name].index = mark
            ex.books[name].stale = True
        for acct, flag in zip(ex.accounts, liquidating, strict=True):
            acct.liquidation = 2 if flag else 0
        market = "BTC-PERP" if model == "okex" else ""
        assert _winners(ex, market, bankrupt) == every_account(ex, bankrupt)
