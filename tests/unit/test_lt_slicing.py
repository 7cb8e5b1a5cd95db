"""Leveraged tokens: a rebalance sliced into children, its start drawn in a window, its stop rule."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from lt_kit import BTC_PERP, ETH_PERP, fresh, lot_value, ticks

from backstop.engine.amounts import RATE
from backstop.products.leveraged_tokens.nav import after_fill
from backstop.products.leveraged_tokens.params import (
    BULL,
    CHILD_PAUSE_US,
    DAY_US,
    DEPTH_BAND_RATE,
    DEPTH_SHARE_RATE,
    HALF,
    MIN_CHILD_LOTS,
    PARTICIPATION_RATE,
    REBALANCE_EARLIEST_US,
    REBALANCE_WINDOW_US,
    VOLUME_WINDOW_US,
)
from backstop.products.leveraged_tokens.rebalance import daily_rebalance
from backstop.products.leveraged_tokens.slicing import (
    child_time,
    depth_in_band,
    draw_start,
    max_child_lots,
    next_child,
    split,
    stop_remaining,
)


@given(max_child=st.integers(1, 10**7), whole=st.integers(-1_000, 1_000), part=st.integers(0, 10**7))
def test_children_sum_to_the_total_and_none_exceeds_the_max(max_child: int, whole: int, part: int):
    total = whole * max_child + (part % max_child) * (1 if whole >= 0 else -1)  # at most 1,001 children
    children = split(total, max_child)
    assert sum(children) == total
    assert all(0 < abs(c) <= max_child for c in children)
    assert all((c > 0) == (total > 0) for c in children)
    assert len(children) == -(-abs(total) // max_child)  # the fewest children
    if children:
        assert max(map(abs, children)) - min(map(abs, children)) <= 1  # as even as possible


@given(remaining=st.integers(-(10**9), 10**9), max_child=st.integers(1, 10**6))
def test_next_child_takes_at_most_the_max_in_the_remainings_direction(remaining: int, max_child: int):
    child = next_child(remaining, max_child)
    assert abs(child) == min(abs(remaining), max_child)
    assert child * remaining >= 0


@given(depth=st.integers(0, 10**10), volume=st.integers(0, 10**12))
def test_max_child_is_the_lesser_share_of_depth_and_volume_with_a_one_lot_floor(depth: int, volume: int):
    child = max_child_lots(depth, volume)
    assert child >= MIN_CHILD_LOTS
    by_depth = depth * DEPTH_SHARE_RATE / RATE
    by_volume = volume * PARTICIPATION_RATE / RATE * CHILD_PAUSE_US / VOLUME_WINDOW_US
    assert child <= max(MIN_CHILD_LOTS, by_depth, 0) and child <= max(MIN_CHILD_LOTS, by_volume)
    assert child == MIN_CHILD_LOTS or child > min(by_depth, by_volume) - 1


def test_depth_counts_only_the_band_from_the_touch():
    touch = ticks(BTC_PERP, 10_000)
    edge = touch + touch * DEPTH_BAND_RATE // RATE
    asks = [(touch, 5), (touch + 10, 7), (edge, 11), (edge + 1, 1_000)]
    assert depth_in_band(asks, buying=True) == 5 + 7 + 11
    low = touch - touch * DEPTH_BAND_RATE // RATE
    bids = [(touch, 3), (low, 4), (low - 1, 1_000)]
    assert depth_in_band(bids, buying=False) == 3 + 4
    assert depth_in_band([], buying=True) == 0


@given(seed=st.integers(0, 2**64), day=st.integers(0, 20_000))
def test_start_is_drawn_in_the_window_and_reproducible_from_the_seed(seed: int, day: int):
    day_start = day * DAY_US
    start = draw_start(day_start, random.Random(seed))
    assert (
        day_start + REBALANCE_EARLIEST_US <= start < day_start + REBALANCE_EARLIEST_US + REBALANCE_WINDOW_US
    )
    assert draw_start(day_start, random.Random(seed)) == start


def test_start_draws_spread_over_the_window():
    rng = random.Random(7)
    starts = [draw_start(0, rng) - REBALANCE_EARLIEST_US for _ in range(400)]
    assert len(set(starts)) == len(starts)
    halves = sum(s < REBALANCE_WINDOW_US // 2 for s in starts)
    assert 150 < halves < 250  # both halves of the window are used


def test_children_are_paused():
    assert [child_time(1_000, i) for i in range(3)] == [
        1_000,
        1_000 + CHILD_PAUSE_US,
        1_000 + 2 * CHILD_PAUSE_US,
    ]


def test_a_favourable_move_stops_the_remaining_children_of_a_bull_buy():
    start_mark = ticks(ETH_PERP, 2_100)
    bull = fresh(ETH_PERP, BULL, 200_000, 1_000, ticks(ETH_PERP, 2_000))  # then ETH +5%: buy
    total = daily_rebalance(bull, BULL, ETH_PERP, start_mark)
    children = split(total, total // 10 + 1)
    first = children[0]
    bull = after_fill(bull, first, first * lot_value(ETH_PERP, start_mark))
    assert not stop_remaining(bull, BULL, ETH_PERP, start_mark, buying=True)  # nothing moved: go on
    assert not stop_remaining(bull, BULL, ETH_PERP, ticks(ETH_PERP, 2_150), buying=True)  # against: go on
    assert stop_remaining(bull, BULL, ETH_PERP, ticks(ETH_PERP, 2_000), buying=True)  # back down: stop
    small = ticks(ETH_PERP, "2099.9")  # a tick lower only shrinks the need: go on
    assert not stop_remaining(bull, BULL, ETH_PERP, small, buying=True)


def test_half_stops_its_buy_when_the_price_comes_back_up():
    half = fresh(BTC_PERP, HALF, 1_000_000, 1_000, ticks(BTC_PERP, 10_000))
    start_mark = ticks(BTC_PERP, 9_000)  # HALF buys after a fall
    assert daily_rebalance(half, HALF, BTC_PERP, start_mark) > 0
    assert not stop_remaining(half, HALF, BTC_PERP, ticks(BTC_PERP, 8_500), buying=True)
    assert stop_remaining(half, HALF, BTC_PERP, ticks(BTC_PERP, 10_000), buying=True)
