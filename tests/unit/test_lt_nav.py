"""Leveraged tokens: NAV, basket and leverage, against FTX's ETHBULL example [FTX-RB]."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from lt_kit import BTC_PERP, ETH_PERP, leverage, ticks, usd

from backstop.engine.amounts import ATOM, RATE
from backstop.products.leveraged_tokens.nav import (
    TokenTotals,
    after_fill,
    cash_per_token,
    current_leverage,
    nav_per_token,
    nav_total,
    position_per_token,
)

TOKENS = 1_000


def ethbull_example() -> TokenTotals:
    """FTX's ETHBULL: -$20,000 and +150 ETH per token, here for TOKENS tokens."""
    eth = 150 * TOKENS
    return TokenTotals(-20_000 * TOKENS * ATOM, ETH_PERP.to_lots(str(eth)), TOKENS * ATOM)


def test_ftx_ethbull_example_nav_11500_and_leverage_2_74():
    totals = ethbull_example()
    mark = ticks(ETH_PERP, 210)
    assert usd(nav_per_token(totals, ETH_PERP, mark)) == 11_500  # FTX: NAV $11,500 per token
    assert usd(nav_total(totals, ETH_PERP, mark)) == 11_500 * TOKENS
    assert leverage(totals, ETH_PERP, mark) == Fraction(31_500, 11_500)  # FTX: 31,500 / 11,500
    shown = current_leverage(totals, ETH_PERP, mark)
    assert shown is not None and round(shown / RATE, 2) == 2.74  # FTX: 2.74x
    assert usd(cash_per_token(totals)) == -20_000
    assert Fraction(position_per_token(totals, ETH_PERP), ATOM) == 150


def test_bear_leverage_is_negative_and_bankrupt_token_has_none():
    mark = ticks(BTC_PERP, 10_000)
    bear = TokenTotals(400 * ATOM, -BTC_PERP.to_lots("0.03"), ATOM)  # $400 cash, short $300
    assert current_leverage(bear, BTC_PERP, mark) == -3 * RATE
    broke = TokenTotals(-300 * ATOM, BTC_PERP.to_lots("0.03"), ATOM)  # long $300 against a $300 debt
    assert current_leverage(broke, BTC_PERP, mark) is None


@given(
    cash=st.integers(-(10**16), 10**16),
    lots=st.integers(-(10**9), 10**9),
    supply=st.integers(1, 10**14),
    mark=st.integers(1, 10**6),
)
def test_per_token_figures_round_as_documented(cash: int, lots: int, supply: int, mark: int):
    totals = TokenTotals(cash, lots, supply)
    exact = Fraction(nav_total(totals, BTC_PERP, mark) * ATOM, supply)
    per_token = nav_per_token(totals, BTC_PERP, mark)
    assert per_token <= exact < per_token + 1  # rounded down
    assert abs(cash_per_token(totals)) <= abs(Fraction(cash * ATOM, supply))  # toward zero
    lev = current_leverage(totals, BTC_PERP, mark)
    if lev is not None:
        assert abs(lev) <= abs(leverage(totals, BTC_PERP, mark) * RATE) < abs(lev) + 1


@given(lots=st.integers(-(10**6), 10**6), mark=st.integers(1, 10**6), fee=st.integers(-(10**6), 10**6))
def test_a_fill_at_the_mark_moves_no_nav_but_its_fee(lots: int, mark: int, fee: int):
    totals = TokenTotals(10**12, 10**5, ATOM)
    after = after_fill(totals, lots, lots * mark * BTC_PERP.tick_value, fee)
    assert nav_total(after, BTC_PERP, mark) == nav_total(totals, BTC_PERP, mark) - fee
    assert after.position == totals.position + lots
