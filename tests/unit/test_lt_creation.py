"""Leveraged tokens: creation and redemption at NAV plus the hedge's actual cost and FTX's 0.10%,
never diluting other holders; the 0.03% daily management fee [FTX-FEES]."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lt_kit import BTC_PERP, ETH_PERP, fresh, leverage, lot_value, ticks

from backstop.catalog import Market
from backstop.engine.amounts import ATOM, PPM
from backstop.engine.fees import fee
from backstop.products.leveraged_tokens.creation import (
    HedgeFill,
    charge_management_fee,
    create,
    creation_hedge,
    management_fee,
    projected_cost,
    projected_proceeds,
    redeem,
    redemption_hedge,
)
from backstop.products.leveraged_tokens.nav import TokenTotals, after_fill, nav_per_token, nav_total
from backstop.products.leveraged_tokens.params import BULL, DAY_US, KINDS, SECOND_US
from backstop.products.leveraged_tokens.rebalance import intraday_rebalance

TAKER_PPM = 700  # FTX's tier-1 taker fee, what the token pays on its hedge
LAUNCH = 100 * ATOM  # $100 a token at launch


def hedge_fill(lots: int, market: Market, mark: int, slip_ppm: int) -> HedgeFill:
    """A hedge of `lots` filled `slip_ppm` worse than the mark (better when negative), with a taker fee."""
    at_mark = lots * lot_value(market, mark)
    value = at_mark + abs(at_mark) * slip_ppm // PPM
    return HedgeFill(lots, value, fee(abs(value), TAKER_PPM))


def test_creation_at_the_mark_costs_nav_plus_the_hedges_fee_plus_0_10_percent():
    mark = ticks(ETH_PERP, 2_000)
    bull = fresh(ETH_PERP, BULL, 200_000, 1_000, mark)
    size = 10 * ATOM
    lots = creation_hedge(bull, size, BULL, ETH_PERP, mark, LAUNCH)
    assert lots == bull.position // 100  # 10 more tokens on 1,000: 1% more position
    hedge = HedgeFill(lots, lots * lot_value(ETH_PERP, mark), 0)
    done = create(bull, size, ETH_PERP, mark, hedge, LAUNCH)
    assert done.value == 2_000 * ATOM  # NAV $200 x 10
    assert done.fee == 2 * ATOM  # FTX's 0.10%
    assert done.hedge_cost == 0 and done.amount == 2_002 * ATOM
    assert projected_cost(bull, size, ETH_PERP, mark, LAUNCH) == done.amount
    assert nav_per_token(done.totals, ETH_PERP, mark) == 200 * ATOM


def test_a_creators_slippage_is_the_creators():
    mark = ticks(BTC_PERP, 10_000)
    bull = fresh(BTC_PERP, BULL, 1_000_000, 10_000, mark)
    size = 100 * ATOM
    lots = creation_hedge(bull, size, BULL, BTC_PERP, mark, LAUNCH)
    hedge = hedge_fill(lots, BTC_PERP, mark, 5_000)  # filled 0.5% over the mark
    done = create(bull, size, BTC_PERP, mark, hedge, LAUNCH)
    expected = hedge.value - lots * lot_value(BTC_PERP, mark) + hedge.fee
    assert done.hedge_cost == expected > 0
    assert done.amount == done.value + expected + done.fee
    assert nav_per_token(done.totals, BTC_PERP, mark) == 100 * ATOM


def test_redemption_pays_nav_less_the_hedges_cost_less_0_10_percent():
    mark = ticks(BTC_PERP, 10_000)
    bear = fresh(BTC_PERP, KINDS["BEAR"], 1_000_000, 10_000, mark)
    size = 100 * ATOM
    lots = redemption_hedge(bear, size)
    assert lots == -(bear.position // 100)  # a short buys back 1%
    hedge = hedge_fill(lots, BTC_PERP, mark, 2_000)
    done = redeem(bear, size, BTC_PERP, mark, hedge)
    assert done.value == 10_000 * ATOM and done.fee == 10 * ATOM
    assert done.amount == done.value - done.hedge_cost - done.fee
    assert projected_proceeds(bear, size, BTC_PERP, mark) == done.value - done.fee
    assert nav_per_token(done.totals, BTC_PERP, mark) == 100 * ATOM


def test_the_last_redemption_empties_the_token_and_the_next_creation_starts_at_the_launch_price():
    mark = ticks(BTC_PERP, 10_000)
    bull = fresh(BTC_PERP, BULL, 1_000, 10, mark)
    lots = redemption_hedge(bull, bull.supply)
    done = redeem(bull, bull.supply, BTC_PERP, mark, HedgeFill(lots, lots * lot_value(BTC_PERP, mark)))
    assert done.totals == TokenTotals(0, 0, 0)
    lots = creation_hedge(done.totals, 5 * ATOM, BULL, BTC_PERP, mark, LAUNCH)
    hedge = HedgeFill(lots, lots * lot_value(BTC_PERP, mark))
    again = create(done.totals, 5 * ATOM, BTC_PERP, mark, hedge, LAUNCH)
    assert nav_per_token(again.totals, BTC_PERP, mark) == LAUNCH
    assert abs(leverage(again.totals, BTC_PERP, mark) - 3) < Fraction(lot_value(BTC_PERP, mark), 500 * ATOM)


def test_requests_that_cannot_settle_are_refused():
    mark = ticks(BTC_PERP, 10_000)
    bull = fresh(BTC_PERP, BULL, 1_000, 10, mark)
    with pytest.raises(ValueError):
        redemption_hedge(bull, bull.supply + 1)
    with pytest.raises(ValueError):
        create(bull, 0, BTC_PERP, mark, HedgeFill(0, 0), LAUNCH)
    lots = redemption_hedge(bull, ATOM)
    with pytest.raises(ValueError):  # a hedge that costs more than the tokens are worth
        redeem(bull, ATOM, BTC_PERP, mark, hedge_fill(lots, BTC_PERP, mark, 900_000))
    broke = TokenTotals(-bull.position * lot_value(BTC_PERP, mark), bull.position, bull.supply)
    with pytest.raises(ValueError):
        create(broke, ATOM, BTC_PERP, mark, HedgeFill(0, 0), LAUNCH)


SLIP = st.integers(-20_000, 50_000)  # hedge fills from 2% better to 5% worse than the mark
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(1, 10_000 * ATOM), SLIP),
        st.tuples(st.just("redeem"), st.integers(1, PPM), SLIP),
        st.tuples(st.just("price"), st.integers(-80_000, 80_000), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    market=st.sampled_from([BTC_PERP, ETH_PERP]),
    holder=st.integers(1, 1_000 * ATOM),
    ops=OPS,
)
def test_no_holder_is_diluted_by_anothers_creation_or_redemption(
    kind: str, market: Market, holder: int, ops: list[tuple[str, int, int]]
):
    """An untouched holder's NAV per token changes only with the price: each creation or redemption
    leaves it equal or higher, by less than one USD atom over the whole supply."""
    target = KINDS[kind]
    mark = market.to_ticks("2000")
    empty = TokenTotals(0, 0, 0)
    lots = creation_hedge(empty, holder, target, market, mark, LAUNCH)
    token = create(empty, holder, market, mark, hedge_fill(lots, market, mark, 0), LAUNCH).totals
    for op, amount, slip in ops:
        nav, supply = nav_total(token, market, mark), token.supply
        if op == "price":
            new_mark = max(1, mark + mark * amount // PPM)
            moved = nav_total(token, market, new_mark)
            assert moved - nav == token.position * (new_mark - mark) * market.tick_value  # price only
            mark = new_mark
            if moved <= 0:
                return
            trade = intraday_rebalance(token, target, market, mark)  # as the engine would
            token = after_fill(token, trade, trade * lot_value(market, mark))
            continue
        if op == "create":
            lots = creation_hedge(token, amount, target, market, mark, LAUNCH)
            done = create(token, amount, market, mark, hedge_fill(lots, market, mark, slip), LAUNCH)
            assert done.amount == max(0, done.value + done.hedge_cost) + done.fee
        else:
            size = (token.supply - holder) * amount // PPM  # the holder never redeems
            if size == 0:
                continue
            lots = redemption_hedge(token, size)
            done = redeem(token, size, market, mark, hedge_fill(lots, market, mark, slip))
            assert done.amount == done.value - done.hedge_cost - done.fee >= 0
        assert done.fee == fee(done.value, 1_000)  # FTX's 0.10%, rounded up
        token = done.totals
        gain = Fraction(nav_total(token, market, mark), token.supply) - Fraction(nav, supply)
        assert 0 <= gain * token.supply < 1  # per token atom: never lower, up by < 1 atom in all


def test_management_fee_is_0_03_percent_a_day_pro_rated():
    nav = 1_000_000 * ATOM
    assert management_fee(nav, DAY_US) == 300 * ATOM  # FTX: 0.03% a day
    assert management_fee(nav, DAY_US // 2) == 150 * ATOM
    per_second = sum(management_fee(nav, SECOND_US) for _ in range(86_400))
    assert 300 * ATOM <= per_second <= 300 * ATOM + 86_400  # rounded up, by at most an atom a call
    assert management_fee(-nav, DAY_US) == 0 and management_fee(nav, 0) == 0
    assert management_fee(7, DAY_US) == 1  # rounded up: the exchange's favour


def test_management_fee_comes_out_of_the_tokens_cash():
    mark = ticks(BTC_PERP, 10_000)
    bull = fresh(BTC_PERP, BULL, 1_000_000, 10_000, mark)
    due, after = charge_management_fee(bull, BTC_PERP, mark, DAY_US)
    assert due == 300 * ATOM
    assert nav_total(after, BTC_PERP, mark) == nav_total(bull, BTC_PERP, mark) - due
    assert after.position == bull.position and after.supply == bull.supply
