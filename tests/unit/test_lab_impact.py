"""The reacting market of the risk lab: the square-root impact law and its decay computed by hand,
the makers' sourced book (shape, thinning, refill, capital), a forced liquidation that moves the
perpetual's mark through the book and the index through the impact law, both returning, and the
switch that turns it all off and gives back the lab's earlier numbers to the bit."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import SetLeverage, SetMarginFloor
from backstop.feeds.base import DAY_US, HOUR_US, MINUTE_US, SECOND_US, utc_us
from backstop.lab import impact, makers, scale
from backstop.lab.impact import ImpactState, daily_inputs, impacted, square_root_impact
from backstop.lab.population import PopulationConfig
from backstop.lab.replay import IndexPath, Replay, replay
from backstop.lab.spec import LabConfig, with_overrides

# ------------------------------------------------------------------ the impact law, by hand


def test_the_square_root_law_for_a_given_flow_volume_and_volatility() -> None:
    # Y sigma sqrt(Q / V): 0.7 x 4% x sqrt($10M / $1B) = 0.7 x 0.04 x 0.1 = 0.28%
    assert square_root_impact(10e6, 1e9, 0.04, 0.7) == pytest.approx(0.0028, rel=1e-12)
    assert square_root_impact(-10e6, 1e9, 0.04, 0.7) == pytest.approx(-0.0028, rel=1e-12)  # selling
    # four times the flow, twice the impact (the square root), not four times
    assert square_root_impact(40e6, 1e9, 0.04, 0.7) == pytest.approx(0.0056, rel=1e-12)
    assert square_root_impact(10e6, 0.0, 0.04) == 0.0 and square_root_impact(0.0, 1e9, 0.04) == 0.0


def test_the_impact_halves_every_half_life_once_the_flow_stops() -> None:
    state = ImpactState()
    t0 = 1_600_000_000_000_000
    first = state.step(t0, -10e6, 0.04, 1e9, 0.7, 8.0)
    assert first == pytest.approx(-0.0028, rel=1e-12)
    # k hours later with no flow: the flow has decayed by 2^(-k/4) (half-life 4 h), its square root
    # by 2^(-k/8): the impact's half-life is the 8 hours configured
    for k in (1, 4, 8, 16, 24):
        state = ImpactState()
        state.step(t0, -10e6, 0.04, 1e9, 0.7, 8.0)
        later = state.step(t0 + k * HOUR_US, 0.0, 0.04, 1e9, 0.7, 8.0)
        assert later == pytest.approx(-0.0028 * 2 ** (-k / 8), rel=1e-12)
    assert state.worst == pytest.approx(-0.0028, rel=1e-12) and state.worst_ts == t0
    assert impact.decay_factor(0, 1.0) == 1.0 and impact.decay_factor(5, 0.0) == 0.0


def test_the_index_path_under_a_known_flow() -> None:
    """Sell $10M at t0, buy back $2.5M four hours later: E = -10 x 2^(-4/4) + 2.5 = -2.5 ($M), the
    impact -0.7 x 0.04 x sqrt(2.5e6 / 1e9) = -0.14%, and the index 10,000 x (1 - 0.0014) = 9,986."""
    state = ImpactState()
    t0 = 1_600_000_000_000_000
    history = 10_000 * ATOM
    assert impacted(history, state.step(t0, -10e6, 0.04, 1e9, 0.7, 8.0)) == 9_972 * ATOM
    move = state.step(t0 + 4 * HOUR_US, 2.5e6, 0.04, 1e9, 0.7, 8.0)
    assert state.flow_usd == pytest.approx(-2.5e6, rel=1e-12)
    assert move == pytest.approx(-0.0014, rel=1e-12)
    assert impacted(history, move) == 9_986 * ATOM
    assert impacted(history, 0.0) == history and impacted(history, -2.0) == history // 20  # the floor


def test_sigma_and_volume_are_measured_over_the_days_before(tmp_path: Path) -> None:
    """Two hourly candles on day 1 (closes 100 then 110, 1 BTC each), two on day 2 (110 then 99,
    2 BTC each): day 2 sees day 1 only (sigma = ln 1.1, V = $210), day 3 both (sigma = the root of
    the mean of the two days' squared returns, V = the mean of $210 and $418)."""
    rows = [
        ("2020-01-01T00:00:00Z", 100, 1),
        ("2020-01-01T01:00:00Z", 110, 1),
        ("2020-01-02T00:00:00Z", 110, 2),
        ("2020-01-02T01:00:00Z", 99, 2),
    ]
    text = "open_time_utc,symbol,open,high,low,close,volume\n" + "".join(
        f"{t},BTCUSDT,{c},{c},{c},{c},{v}\n" for t, c, v in rows
    )
    path = tmp_path / "binance_spot_1h_BTCUSDT_test.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    inputs = daily_inputs((str(path),), "BTC")
    day2 = inputs.at(utc_us("2020-01-02T12:00:00Z"))
    assert day2 is not None
    assert day2[0] == pytest.approx(math.log(1.1), rel=1e-12) and day2[1] == pytest.approx(210.0)
    day3 = inputs.at(utc_us("2020-01-03T00:00:00Z"))
    assert day3 is not None
    # day 2's returns: the night's 0 (110 -> 110 across midnight is 23 hours, not one candle) and
    # ln(99/110) within the day
    variance = (math.log(1.1) ** 2 + math.log(0.9) ** 2) / 2
    assert day3[0] == pytest.approx(math.sqrt(variance), rel=1e-12)
    assert day3[1] == pytest.approx((210.0 + 2 * 110 + 2 * 99) / 2)
    assert inputs.at(utc_us("2020-01-01T12:00:00Z")) is None  # nothing before the data
    assert daily_inputs((str(path),), "ETH").at(utc_us("2020-01-02T00:00:00Z")) is None


# ------------------------------------------------------------------ the makers' book


def test_the_books_shape_is_the_power_law_between_its_levels() -> None:
    p = PopulationConfig()
    d1 = 1_000_000.0
    # Amberdata's Binance BTC/FDUSD: 4.72 times the depth for 10 times the distance
    assert makers.cumulative_depth(0.01, d1, p.book_shape_alpha) == d1
    assert makers.cumulative_depth(0.001, d1, p.book_shape_alpha) == pytest.approx(d1 * 0.1**0.674)
    assert 10**p.book_shape_alpha == pytest.approx(4.72, abs=0.01)
    ladder = makers.ladder(p, d1, 1.0, 0.0)
    distances = [d for d, _ in ladder.levels]
    assert distances[0] == pytest.approx(4e-4) and distances[-1] == pytest.approx(0.02)  # touch, reach
    assert len(distances) == p.book_levels
    # the levels add up to the law's depth at the reach: D(2%) = D1 x 2^alpha
    assert ladder.usd == pytest.approx(d1 * 2**p.book_shape_alpha, rel=1e-12)
    # stress 4: every distance x4, depth / 4; within the calm reach x4 the same shape, a quarter of it
    stressed = makers.ladder(p, d1, 4.0, 0.0)
    assert [d for d, _ in stressed.levels] == pytest.approx([4 * d for d in distances])
    assert stressed.usd == pytest.approx(ladder.usd / 4, rel=1e-12)
    # consumed depth comes off from the touch outwards
    touch = ladder.levels[0][1]
    eaten = makers.ladder(p, d1, 1.0, touch + 1_000.0)
    assert eaten.levels[0][0] == distances[1]
    assert eaten.levels[0][1] == pytest.approx(ladder.levels[1][1] - 1_000)
    assert eaten.usd == pytest.approx(ladder.usd - touch - 1_000)
    # beyond the exchange's band, levels gather at it
    capped = makers.ladder(p, d1, 1.0, 0.0, max_away=0.01)
    assert capped.levels[-1][0] == 0.01 and capped.usd == pytest.approx(ladder.usd)


def test_depth_refills_with_the_resilience_half_life() -> None:
    p = PopulationConfig()
    assert makers.refill_left(20.0, makers.refill_half_life(p, 1.0)) == pytest.approx(0.5)
    assert makers.refill_left(60.0, makers.refill_half_life(p, 1.0)) == pytest.approx(0.125)
    assert makers.refill_half_life(p, 5.0) == 100.0 and makers.refill_half_life(p, 50.0) == 200.0


def test_depth_follows_the_markets_size_and_makers_capital() -> None:
    p = PopulationConfig()
    assert makers.depth_usd(p, 2e9) == pytest.approx(2e7)  # 1% of a $2B day within 1% a side
    assert makers.ladder_depths(p) == pytest.approx(2**0.674)  # the whole ladder: D(2%) / D1
    # the unscaled population: 2,000 traders each closing and reopening its notional every 48 hours
    volume = scale.base_volume_usd(p, p.max_leverage)
    assert volume == pytest.approx(2_000 * scale.trader_notional_usd(p, p.max_leverage) * 48 / 48)
    r = Replay(with_overrides(LabConfig(start="2020-03-12", end="2020-03-13", guaranty=False), traders=2_000))
    r.setup()
    for market in ("BTC-PERP", "ETH-PERP"):  # half the traders' markets each
        assert r.depth[market] == pytest.approx(
            min(0.01 * volume / 2, 0.9 * r.order_cap_usd(market) / 2**0.674)
        )
        assert r.maker_capital[market] == pytest.approx(20 * 0.01 * volume / 2, rel=1e-9)
    # half its capital lost: half the depth; beyond its inventory limit: that side is not quoted
    full = makers.quotes(p, 1e6, 2e7, 2e7, 0.0, 1.0, 0.0, 0.0)
    half = makers.quotes(p, 1e6, 2e7, 1e7, 0.0, 1.0, 0.0, 0.0)
    assert half.bids.usd == pytest.approx(full.bids.usd / 2) and full.shift == 0.0
    long = makers.quotes(p, 1e6, 2e7, 1e7, 3.1e7, 1.0, 0.0, 0.0)
    assert long.bids.usd == 0.0 and long.asks.usd > 0 and long.shift < 0  # sells lower to unload
    short = makers.quotes(p, 1e6, 2e7, 1e7, -1e6, 1.0, 0.0, 0.0)
    assert short.shift == pytest.approx(4e-4)  # one touch distance per D1 of inventory


def with_pop(p: PopulationConfig, **changes: float) -> PopulationConfig:
    from dataclasses import replace

    return replace(p, **changes)


# ------------------------------------------------------------------ the replay


def test_impact_off_reproduces_the_labs_earlier_numbers_bit_for_bit() -> None:
    """The state hash recorded from main at cc0a218, before the market reacted (one day of March
    2020, BTC, 100 traders). Re-record only for an intended change of the engine, the data, the
    index path or the fixed ladder."""
    config = with_overrides(
        LabConfig(start="2020-03-12", end="2020-03-13", coins=("BTC",), guaranty=False, impact="off"),
        traders=100,
    )
    result = replay(config)
    assert result.state_hash == "177cf33f4e7abe234649f2adf63084aa566b320c712050ee9e6f8a8ab3026a3c"
    assert "index_impact_max_bp" not in result.summary and result.summary["impact"] == "off"


def test_with_the_book_only_the_index_follows_history_and_with_impact_it_is_moved() -> None:
    base = with_overrides(
        LabConfig(start="2020-03-12", end="2020-03-12T06:00:00Z", coins=("BTC",), guaranty=False),
        traders=100,
    )
    for mode in ("book", "on"):
        r = Replay(with_overrides(base, impact=mode))
        r.setup()
        path = IndexPath(r.bars["BTC"], intrabar=r.config.intrabar, seed=r.config.seed, coin="BTC")
        path.at(r.start_us)
        for ts in range(r.start_us + MINUTE_US, r.end_us, MINUTE_US):
            r._minute(ts)
            history = path.at(ts)
            assert history is not None
            state = r.impacts.get("BTC")
            expected = history if mode == "book" else impacted(history, state.impact if state else 0.0)
            assert r.index["BTC"] == expected
        assert (mode == "on") == bool(r.impacts) and r.commands > 0


WHALE = with_overrides(
    LabConfig(start="2021-05-01", end="2021-05-04", coins=("BTC",), guaranty=False, model="okex"),
    traders=0,
    market_volume_usd=2e9,  # a market turning over $2B a day: $20M within 1% a side
)


def run_minutes(r: Replay, start: int, end: int) -> None:
    """The replay's own loop: a minute at a time, every second while anyone is liquidated."""
    for ts in range(start, end, MINUTE_US):
        if r.ex.liquidating:
            for second in range(ts, ts + MINUTE_US, SECOND_US):
                r._minute(second, ticks_only=second != ts)
        else:
            r._minute(ts)


def whale_liquidated() -> tuple[Replay, int, int]:
    """A whale buys $100M of BTC-PERP at 10x on 1 May 2021 (in slices, through the maker), and is
    liquidated at midnight: the operator raises maintenance to 50%, and (OKEx's model) the
    position is dumped on the book each second until it is gone."""
    r = Replay(WHALE)
    r.setup()
    ts = r.start_us
    whale = r.account(ts, "whale")
    r.deposit(ts, whale, 20_000_000 * ATOM)
    r.send(SetLeverage(ts, whale, 10))
    info = r.ex.catalog.markets["BTC-PERP"]
    r.aim(ts, whale, "BTC-PERP", int(100e6 / (r.index["BTC"] / ATOM) * ATOM / info.lot_atoms))
    assert r.depth["BTC-PERP"] == pytest.approx(2e7)
    run_minutes(r, ts, ts + DAY_US)
    forced = ts + DAY_US
    r.send(SetMarginFloor(forced, "BTC-PERP", RATE // 2, RATE // 2))
    return r, whale, forced


def test_a_forced_liquidation_moves_the_mark_and_the_index_down_and_both_come_back() -> None:
    r, whale, forced = whale_liquidated()
    book = r.ex.books["BTC-PERP"]
    assert r.ex.accounts[whale].positions["BTC-PERP"].size > 0
    r._minute(forced)  # the first second: the dump sweeps the maker's bids
    r._minute(forced + SECOND_US, ticks_only=True)
    mark = book.mark()
    assert mark is not None
    index_ticks = r.index["BTC"] // book.info.tick_atoms
    assert mark < index_ticks * 0.99  # the perpetual's price fell through the thin book, > 1%
    for second in range(forced + 2 * SECOND_US, forced + MINUTE_US, SECOND_US):
        r._minute(second, ticks_only=True)
    run_minutes(r, forced + MINUTE_US, forced + 10 * MINUTE_US)
    assert not r.ex.accounts[whale].positions["BTC-PERP"].size  # all of it sold
    assert not r.ex.liquidating
    # the index is below the historical path: the maker bought $100M and lays it off in the market
    state = r.impacts["BTC"]
    after = state.impact
    assert after < -0.001 and r.index["BTC"] < r.history["BTC"]
    # the book refilled: the mark is back next to the index within minutes
    mark = book.mark()
    assert mark is not None and abs(mark / (r.index["BTC"] / book.info.tick_atoms) - 1) < 0.002
    # with no flow since, the impact halves every 8 hours (sigma and V are the day's: same day)
    ts = forced + 10 * MINUTE_US
    run_minutes(r, ts, ts + 8 * HOUR_US)
    assert state.impact == pytest.approx(after / 2, rel=1e-9)
    assert r.ex.accounts[r.makers["BTC-PERP"]].positions["BTC-PERP"].size == 0  # the maker is flat
    assert state.worst <= after


def test_the_reacting_market_is_a_pure_function_of_its_configuration() -> None:
    one, _, forced = whale_liquidated()
    two, _, _ = whale_liquidated()
    for r in (one, two):
        run_minutes(r, forced, forced + 30 * MINUTE_US)
    assert one.ex.state_hash() == two.ex.state_hash()
    assert one.impacts["BTC"] == two.impacts["BTC"]
