"""Leveraged tokens: daily and intraday rebalances against FTX's examples [FTX-RB], [FTX-FAQ], [FTX-UPD]."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lt_kit import BTC_PERP, ETH_PERP, fresh, leverage, lot_value, ticks, usd

from backstop.engine.amounts import RATE
from backstop.products.leveraged_tokens.nav import TokenTotals, after_fill, nav_per_token, nav_total
from backstop.products.leveraged_tokens.params import BEAR, BULL, HALF, HEDGE, KINDS
from backstop.products.leveraged_tokens.rebalance import (
    daily_rebalance,
    intraday_rebalance,
    intraday_triggered,
    trigger_move,
)

TOKENS = 1_000


def rebalanced_at_mark(totals: TokenTotals, target: int, market, mark: int) -> TokenTotals:
    """The token after its daily rebalance, filled at the mark (FTX's walkthrough ignores slippage)."""
    lots = daily_rebalance(totals, target, market, mark)
    return after_fill(totals, lots, lots * lot_value(market, mark))


def test_ftx_rebalance_example_eth_up_5_percent_buys_60_dollars():
    start = ticks(ETH_PERP, 2_000)
    bull = fresh(ETH_PERP, BULL, 200 * TOKENS, TOKENS, start)  # $200 NAV per token, $600 of ETH
    assert usd(bull.position * lot_value(ETH_PERP, start)) == 600 * TOKENS
    up = ticks(ETH_PERP, 2_100)  # ETH +5%
    assert usd(nav_per_token(bull, ETH_PERP, up)) == 230  # FTX: NAV $230
    assert round(float(leverage(bull, ETH_PERP, up)), 2) == 2.74  # FTX: about 2.74x
    lots = daily_rebalance(bull, BULL, ETH_PERP, up)
    bought = usd(lots * lot_value(ETH_PERP, up)) / TOKENS
    one_lot = usd(lot_value(ETH_PERP, up)) / TOKENS
    assert 60 - one_lot < bought <= 60  # FTX: buys another $60 of ETH (rounded toward zero)
    after = rebalanced_at_mark(bull, BULL, ETH_PERP, up)
    held = usd(after.position * lot_value(ETH_PERP, up)) / TOKENS
    assert 690 - one_lot < held <= 690  # FTX: to $690 notional
    assert nav_total(after, ETH_PERP, up) == nav_total(bull, ETH_PERP, up)  # rebalancing keeps NAV


def test_ftx_path_dependence_btc_10000_11000_10000_leaves_bull_about_minus_5_45_percent():
    path = [ticks(BTC_PERP, p) for p in (10_000, 11_000, 10_000)]
    bull = fresh(BTC_PERP, BULL, 1_000_000, TOKENS, path[0])
    held = bull  # the same token never rebalanced
    for mark in path[1:-1]:
        bull = rebalanced_at_mark(bull, BULL, BTC_PERP, mark)
    start = nav_total(held, BTC_PERP, path[0])
    rebalanced = Fraction(nav_total(bull, BTC_PERP, path[-1]), start) - 1
    assert abs(rebalanced - Fraction(-545, 10_000)) <= Fraction(5, 100_000)  # FTX's table: -5.45%
    assert Fraction(nav_total(held, BTC_PERP, path[-1]), start) - 1 == 0  # no rebalance, no decay


def test_ftx_quoted_trigger_moves():
    bull, bear = trigger_move(BULL), trigger_move(BEAR)
    assert bull is not None and abs(bull - Fraction(-1115, 10_000)) < Fraction(1, 1_000)  # FTX ~11.15% down
    assert bear is not None and abs(bear - Fraction(67, 1_000)) < Fraction(1, 1_000)  # FTX ~6.7% up
    assert trigger_move(HALF) is not None and trigger_move(HEDGE) is not None
    assert trigger_move(RATE) is None  # a 1x long never changes leverage


def boundary(totals: TokenTotals, target: int, market) -> Fraction:
    """The exact mark (ticks) at which |leverage| is |target| x 4/3: P m v = T'(C + P m v)."""
    trigger = Fraction(target, RATE) * 4 / 3
    return trigger * totals.cash / (totals.position * market.tick_value * (1 - trigger))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_intraday_trigger_at_the_boundary(kind: str):
    target = KINDS[kind]
    start = ticks(BTC_PERP, 10_000)
    token = fresh(BTC_PERP, target, 1_000_000, TOKENS, start)
    edge = boundary(token, target, BTC_PERP)
    move = trigger_move(target)
    assert move is not None
    assert abs(edge / start - 1 - move) < Fraction(1, 10_000)  # the rule's move, up to lot rounding
    if move < 0:  # leverage rises as the price falls
        inside = -((-edge.numerator) // edge.denominator)  # ceil: at or above the edge
        outside = inside - 1
    else:
        inside = edge.numerator // edge.denominator
        outside = inside + 1
    assert abs(leverage(token, BTC_PERP, inside)) <= abs(Fraction(target, RATE)) * 4 / 3
    assert not intraday_triggered(token, target, BTC_PERP, inside)
    assert intraday_rebalance(token, target, BTC_PERP, inside) == 0
    assert intraday_triggered(token, target, BTC_PERP, outside)
    lots = intraday_rebalance(token, target, BTC_PERP, outside)
    assert lots != 0 and (lots > 0) != (token.position > 0)  # de-levers
    after = after_fill(token, lots, lots * lot_value(BTC_PERP, outside))
    now = abs(leverage(after, BTC_PERP, outside))
    one_lot = Fraction(lot_value(BTC_PERP, outside), nav_total(after, BTC_PERP, outside))
    assert abs(Fraction(target, RATE)) - one_lot < now <= abs(Fraction(target, RATE))  # back to target


@pytest.mark.parametrize(
    ("kind", "price"), [("BULL", 15_000), ("BEAR", 7_000), ("HEDGE", 5_000), ("HALF", 5_000)]
)
def test_intraday_never_re_levers(kind: str, price: int):
    target = KINDS[kind]
    token = fresh(BTC_PERP, target, 1_000_000, TOKENS, ticks(BTC_PERP, 10_000))
    mark = ticks(BTC_PERP, price)
    assert abs(leverage(token, BTC_PERP, mark)) < abs(Fraction(target, RATE))  # under-levered now
    assert daily_rebalance(token, target, BTC_PERP, mark) != 0  # the daily rebalance would re-lever
    assert intraday_rebalance(token, target, BTC_PERP, mark) == 0


@given(
    kind=st.sampled_from(sorted(KINDS)),
    cash=st.integers(-(10**15), 10**15),
    lots=st.integers(-(10**8), 10**8),
    mark=st.integers(1, 200_000),
)
def test_intraday_only_ever_reduces_the_position(kind: str, cash: int, lots: int, mark: int):
    token = TokenTotals(cash, lots, 10**11)
    target = KINDS[kind]
    trade = intraday_rebalance(token, target, BTC_PERP, mark)
    after = token.position + trade
    assert abs(after) <= abs(token.position)
    assert after == 0 or (after > 0) == (token.position > 0)  # never flips
    if trade and nav_total(token, BTC_PERP, mark) > 0:
        filled = after_fill(token, trade, trade * lot_value(BTC_PERP, mark))
        assert abs(leverage(filled, BTC_PERP, mark)) < abs(leverage(token, BTC_PERP, mark))
