"""Index-price feeds: replay of real candles, the seeded jump-diffusion, the operator's prices.

Expected prices are rows copied by hand from the CSV files (the shipped sample, and the shared data
folder when it is present), written as USD atoms (1e-8): 34,000.0 -> 3_400_000_000_000.
"""

from __future__ import annotations

import gzip
import math
import statistics
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.catalog import load as load_catalog
from backstop.engine.amounts import ATOM
from backstop.engine.commands import IndexUpdate, invalid_field
from backstop.feeds import (
    DEFAULT_PROCESSES,
    CoinProcess,
    DoubleExponentialJumps,
    Feed,
    ManualFeed,
    NormalJumps,
    Rebase,
    ReplayFeed,
    SyntheticFeed,
    intrabar_price,
    iso_utc,
    load_history,
    make_feed,
    price_to_atoms,
    read_bars,
    sample_paths,
    utc_us,
)

USD = 10**8
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data folder is not here")


def usd(text: str) -> int:
    return int(Decimal(text) * USD)


def sample(prefix: str):
    (path,) = [p for p in sample_paths() if p.name.startswith(prefix)]
    return path


@pytest.fixture(scope="module")
def history():
    return load_history()


@pytest.fixture(scope="module")
def ftx_hourly():
    return load_history([sample("ftx_spot_1h")])


def quotes(feed: Feed, when: str) -> dict[str, tuple[int, ...]]:
    return {u.coin: u.prices for u in feed.at(utc_us(when))}


def series(feed: Feed, coin: str, start: str, end: str, step: int, which: int = 0) -> list[int]:
    return [u.prices[which] for u in feed.updates(utc_us(start), utc_us(end), step) if u.coin == coin]


# -- prices and times ------------------------------------------------------------------------------


def test_price_to_atoms_is_exact_and_rounds_half_even():
    assert price_to_atoms("10000.5") == 1_000_050_000_000
    assert price_to_atoms(Decimal("0.00000001")) == 1
    assert price_to_atoms(42) == 42 * USD
    assert price_to_atoms(" 35.1475 ") == 3_514_750_000
    assert price_to_atoms("1.000000005") == 100_000_000  # half to even (down)
    assert price_to_atoms("1.000000015") == 100_000_002  # half to even (up)
    assert price_to_atoms("1.0000000051") == 100_000_001


@pytest.mark.parametrize("bad", ["0", "-1", "0.000000004", "NaN", "Infinity", "abc", ""])
def test_price_to_atoms_refuses_non_prices(bad):
    with pytest.raises(ValueError):
        price_to_atoms(bad)


@pytest.mark.parametrize("bad", [1.5, True, None])
def test_price_to_atoms_refuses_floats_and_other_types(bad):
    with pytest.raises(TypeError):
        price_to_atoms(bad)


@given(st.integers(1, 10**16))
def test_price_to_atoms_round_trips_every_atom(atoms):
    assert price_to_atoms(str(Decimal(atoms) / USD)) == atoms


def test_times_are_utc_microseconds():
    assert utc_us("2021-05-19T13:00:00Z") == 1_621_429_200 * SECOND
    assert utc_us("2021-05-19T13:00:00") == utc_us("2021-05-19T15:00:00+02:00")
    assert iso_utc(utc_us("2021-05-19T13:10:20Z")) == "2021-05-19T13:10:20Z"
    assert iso_utc(1) == "1970-01-01T00:00:00.000001Z"


# -- the shipped sample ----------------------------------------------------------------------------


def test_sample_is_small_documented_and_complete(history):
    names = [p.name for p in sample_paths()]
    assert len(names) == 3
    assert sum(len(p.read_bytes()) for p in sample_paths()) < 1_500_000
    readme = files("backstop.feeds") / "data" / "README.md"
    assert all(name in readme.read_text() for name in names)
    assert history.coins() == ("BTC", "ETH", "FTT", "SOL")
    assert (iso_utc(history.start_us), iso_utc(history.end_us)) == (
        "2021-04-10T00:00:00Z",
        "2021-07-01T00:00:00Z",
    )


# -- replay: real values at candle boundaries ------------------------------------------------------


def test_replay_emits_the_real_open_at_each_candle_boundary(ftx_hourly):
    # ftx_spot_1h: 2021-05-19T13:00:00Z,BTC/USD,34000.0,37243.0,29150.0,35947.0 (and ETH, FTT, SOL rows)
    feed = ReplayFeed(ftx_hourly)
    assert quotes(feed, "2021-05-19T13:00:00Z") == {
        "BTC": (usd("34000.0"),),
        "ETH": (usd("2316.3"),),
        "FTT": (usd("35.739"),),
        "SOL": (usd("35.1475"),),
    }
    assert quotes(feed, "2021-05-19T14:00:00Z")["BTC"] == (usd("35947.0"),)  # 14:00 open = 13:00 close
    # the last candle, 2021-06-30T23:00:00Z,SOL/USD,35.42,35.985,35.4075,35.53: its close ends the data
    assert quotes(feed, "2021-06-30T23:00:00Z")["SOL"] == (usd("35.42"),)
    assert quotes(feed, "2021-07-01T00:00:00Z")["SOL"] == (usd("35.53"),)
    assert feed.at(utc_us("2021-07-01T00:00:01Z")) == []
    assert feed.at(utc_us("2021-04-09T23:59:59Z")) == []


def test_the_intrabar_path_touches_low_and_high(ftx_hourly):
    # 13:00 candle: open 34,000, high 37,243 (3,243 away), low 29,150 (4,850 away): high first
    feed = ReplayFeed(ftx_hourly, coins=["BTC"])
    path = series(feed, "BTC", "2021-05-19T13:00:00Z", "2021-05-19T14:00:01Z", MINUTE)
    assert len(path) == 61
    assert (min(path), max(path)) == (usd("29150"), usd("37243"))
    assert (path[0], path[20], path[40], path[60]) == (usd("34000"), usd("37243"), usd("29150"), usd("35947"))
    # piecewise linear: 34,000 -> 37,243 in 20 equal steps of 162.15
    assert path[10] == usd("34000") + 10 * usd("162.15")


def test_the_nearer_extreme_comes_first(ftx_hourly):
    # ftx_spot_1h 2021-05-19T12:00:00Z,BTC/USD,38679.0,39150.0,31932.0,34000.0: the high is nearer
    feed = ReplayFeed(ftx_hourly, coins=["BTC"])
    assert quotes(feed, "2021-05-19T12:20:00Z")["BTC"] == (usd("39150"),)
    assert quotes(feed, "2021-05-19T12:40:00Z")["BTC"] == (usd("31932"),)


def test_minute_candles_take_over_inside_their_window(history):
    feed = ReplayFeed(history, coins=["BTC"])
    # binance 1m: 2021-05-19T13:10:00Z,BTCUSDT,30101.0,31474.97,30000.0,31392.53 (low nearer: first)
    minute = series(feed, "BTC", "2021-05-19T13:10:00Z", "2021-05-19T13:11:00Z", SECOND)
    assert (minute[0], minute[20], minute[40]) == (usd("30101.0"), usd("30000.0"), usd("31474.97"))
    assert (min(minute), max(minute)) == (usd("30000.0"), usd("31474.97"))
    # the hourly candle's extremes (at 13:20 and 13:40) are not used where minutes exist
    assert quotes(feed, "2021-05-19T13:20:00Z")["BTC"][0] not in (usd("38000.0"), usd("30000.0"))
    # after the minute file ends (19:59 is its last candle) the hourly path resumes:
    # binance 1h 2021-05-21T13:00:00Z,BTCUSDT,40508.01,41299.86,40269.0,41112.03 (low nearer)
    assert quotes(feed, "2021-05-21T13:20:00Z")["BTC"][0] == usd("40269.0")
    assert quotes(feed, "2021-05-21T13:40:00Z")["BTC"][0] == usd("41299.86")


def test_each_venue_is_one_constituent_and_outages_drop_out(history):
    feed = ReplayFeed(history)
    at_crash = quotes(feed, "2021-05-19T13:00:00Z")
    # (binance, ftx) in venue order; binance 1m 13:00 open 35234.62 equals its 1h open
    assert at_crash["BTC"] == (usd("35234.62"), usd("34000.0"))
    assert at_crash["FTT"] == (usd("36.139"), usd("35.739"))
    assert all(len(prices) == 2 for prices in at_crash.values())
    # Binance has no candles for 2021-04-20 02:00 and 03:00: only FTX quotes then
    assert all(len(p) == 1 for p in quotes(feed, "2021-04-20T02:30:00Z").values())
    # unless the feed may hold a venue's last close (01:00 candle closed at 54,764.12) for an hour
    patient = ReplayFeed(history, max_stale_us=HOUR)
    assert quotes(patient, "2021-04-20T02:30:00Z")["BTC"][0] == usd("54764.12")
    assert len(quotes(patient, "2021-04-20T03:30:00Z")["BTC"]) == 1


# -- replay: live time -----------------------------------------------------------------------------


def test_live_replay_rebases_history_and_runs_at_speed(history):
    research = ReplayFeed(history)
    live_start = utc_us("2030-01-01T00:00:00Z")
    origin = utc_us("2021-05-19T12:00:00Z")
    live = ReplayFeed.live(history, start_us=live_start, speed=60, history_start_us=origin, fill=None)
    for k in range(0, 7200, 7):  # two live hours = five history days, every seventh second
        now = live_start + k * SECOND
        got = live.at(now)
        assert [u.ts for u in got] == [now] * 4
        assert [(u.coin, u.prices) for u in got] == [
            (u.coin, u.prices) for u in research.at(origin + 60 * k * SECOND)
        ]
    assert quotes(live, "2030-01-01T01:00:00Z") == quotes(research, "2021-05-22T00:00:00Z")
    assert live.end_us - live_start == (history.end_us - origin) // 60


def test_a_live_replay_fills_the_listed_coins_its_history_lacks(history):
    """BNB and USDT have no candles: a live replay prices them with the synthetic processes,
    seeded and run in history time (at the replay's speed), from the history's start to its end;
    a research replay, and a live one told not to, leave them out."""
    live_start = utc_us("2030-01-01T00:00:00Z")
    live = ReplayFeed.live(history, start_us=live_start, speed=60)
    assert live.coins() == ("BNB", "BTC", "ETH", "FTT", "SOL", "USDT")
    assert {c.price_market for c in load_catalog().coins.values() if c.price_market} <= {
        f"{coin}/USD" for coin in live.coins()
    }  # every coin the catalog prices has an index
    synthetic = SyntheticFeed(
        {c: DEFAULT_PROCESSES[c] for c in ("BNB", "USDT")},
        seed=0,
        origin_us=history.start_us,
        grid_us=10 * SECOND,
    )
    seen = set()
    for k in range(0, 3600, 13):
        now = live_start + k * SECOND
        got = {u.coin: u for u in live.at(now)}
        assert [u.coin for u in live.at(now)] == sorted(got)  # in coin order, as every feed
        expected = {u.coin: u.prices for u in synthetic.at(history.start_us + 60 * k * SECOND)}
        assert {c: got[c].prices for c in ("BNB", "USDT")} == expected
        assert got["BNB"].ts == now
        seen.add(got["BNB"].prices)
    assert len(seen) > 200  # it moves
    bnb = [p[0] / ATOM for p in seen]
    assert min(bnb) > 250 and max(bnb) < 1000  # around its $500 start over an hour of history
    assert ReplayFeed.live(history, start_us=0, fill=None).coins() == history.coins()
    assert ReplayFeed(history).coins() == history.coins()
    after = live.at(live.end_us + SECOND)
    assert after == []  # the replay is over for every coin alike
    # the same feed, started again (a restart), says the same
    again = ReplayFeed.live(history, start_us=live_start, speed=60)
    assert again.at(live_start + 3000 * SECOND) == live.at(live_start + 3000 * SECOND)


def test_live_replay_accepts_fractional_speeds_and_starts_at_the_beginning(history):
    slow = ReplayFeed.live(history, start_us=0, speed="0.5", fill=None)
    assert slow.start_us == 0
    assert quotes(slow, "1970-01-01T00:00:02Z") == quotes(ReplayFeed(history), "2021-04-10T00:00:01Z")
    assert slow.end_us == 2 * (history.end_us - history.start_us)
    with pytest.raises(ValueError):
        ReplayFeed.live(history, start_us=0, speed=0)


@given(
    st.fractions(min_value=Fraction(1, 1000), max_value=Fraction(100_000)),
    st.integers(-(10**15), 10**15),
    st.integers(-(10**15), 10**15),
)
def test_rebase_is_monotone_and_inverts(speed, live, history_time):
    r = Rebase(live_start_us=12_345, history_start_us=10**15, speed=speed)
    assert r.history_us(live) <= r.history_us(live + 1)
    assert r.history_us(r.live_us(history_time)) >= history_time
    assert r.history_us(r.live_us(history_time) - 1) < history_time


# -- replay: the intrabar path as a property -------------------------------------------------------


@st.composite
def candles(draw):
    low = draw(st.integers(1, 10**15))
    high = draw(st.integers(low, low + 10**13))
    open_ = draw(st.integers(low, high))
    close = draw(st.integers(low, high))
    interval = draw(st.sampled_from([MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, DAY, 7]))
    return open_, high, low, close, interval


@given(candles(), st.data())
def test_intrabar_path_stays_in_range_and_hits_every_price(candle, data):
    open_, high, low, close, interval = candle
    price = intrabar_price(open_, high, low, close, interval, data.draw(st.integers(0, interval)))
    assert type(price) is int and low <= price <= high
    assert intrabar_price(*candle, 0) == open_
    assert intrabar_price(*candle, interval) == close
    assert {intrabar_price(*candle, interval // 3), intrabar_price(*candle, 2 * interval // 3)} == {low, high}


# -- replay: loading files -------------------------------------------------------------------------


@needs_shared
def test_research_replay_of_the_shared_files_three_venues_on_2020_03_13():
    # shared README: 2020-03-13 lows 3,782 (Binance spot), 3,622 (Binance perp), 3,900 (FTX), all 02:00
    files = [
        SHARED / "binance_spot_1h_BTCUSDT_ETHUSDT_2017-08_2023-03.csv.gz",
        SHARED / "binance_usdm_perp_1h_BTCUSDT_ETHUSDT_2019-09_2023-01.csv.gz",
        SHARED / "ftx_spot_1h_BTC_ETH_FTT_SOL_USD_2019-07_2022-07.csv.gz",
    ]
    since, until = utc_us("2020-03-12T00:00:00Z"), utc_us("2020-03-14T00:00:00Z")
    history = load_history(files, coins=["BTC"], since_us=since, until_us=until)
    venues = [(c.venue, c.symbol) for c in history.constituents["BTC"]]
    assert venues == [
        ("binance_spot", "BTCUSDT"),
        ("binance_usdm_perp", "BTCUSDT-PERP"),
        ("ftx_spot", "BTC/USD"),
    ]
    feed = ReplayFeed(history)
    # binance spot 2020-03-13T02:00:00Z,BTCUSDT,4131.23,5276.97,3782.13,4848.71 (and perp 4062.95, ftx 4188.5)
    assert quotes(feed, "2020-03-13T02:00:00Z")["BTC"] == (usd("4131.23"), usd("4062.95"), usd("4188.5"))
    night = [
        u.prices for u in feed.updates(utc_us("2020-03-13T00:00:00Z"), utc_us("2020-03-13T04:00:00Z"), MINUTE)
    ]
    lows = [min(p[i] for p in night) for i in range(3)]
    assert lows == [usd("3782.13"), usd("3621.81"), usd("3900.0")]
    assert (history.start_us, history.end_us) == (since, until)


@needs_shared
def test_shared_file_rows_match_the_shipped_sample(ftx_hourly):
    shared = load_history(
        [SHARED / "ftx_spot_1h_BTC_ETH_FTT_SOL_USD_2019-07_2022-07.csv.gz"],
        since_us=utc_us("2021-05-19T00:00:00Z"),
        until_us=utc_us("2021-05-20T00:00:00Z"),
    )
    mine = ReplayFeed(ftx_hourly)
    theirs = ReplayFeed(shared)
    start, end = utc_us("2021-05-19T00:00:00Z"), utc_us("2021-05-20T00:00:00Z")
    assert list(theirs.updates(start, end, 10 * MINUTE)) == list(mine.updates(start, end, 10 * MINUTE))


def write_csv(path: Path, rows: list[str], header: str = "open_time_utc,symbol,open,high,low,close,volume"):
    text = "\n".join([header, *rows]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_plain_csv_with_no_interval_in_its_name_infers_the_interval(tmp_path):
    path = write_csv(
        tmp_path / "mydesk.csv",
        ["2022-01-01T00:10:00Z,ETH/USD,10,12,9,11,1", "2022-01-01T00:00:00Z,ETH/USD,9.5,10,9,10,1"],
    )
    (bars,) = read_bars(path)
    assert (bars.venue, bars.symbol, bars.coin, bars.interval_us) == ("mydesk", "ETH/USD", "ETH", 10 * MINUTE)
    assert bars.opens == (usd("9.5"), usd("10"))  # sorted by time
    feed = ReplayFeed(load_history([path]))
    assert quotes(feed, "2022-01-01T00:20:00Z") == {"ETH": (usd("11"),)}


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        (["2022-01-01T00:00:00Z,BTCUSDT,10,12,9,13,1"], None),  # close above high
        (["2022-01-01T00:00:00Z,BTCUSDT,8,12,9,10,1"], None),  # open below low
        (["2022-01-01T00:00:00Z,BTCUSDT,10,12,9,11,1"] * 2, None),  # repeated time
        (["2022-01-01T00:00:00Z,BTCUSDT,10,12,9,11,1"], "open_time_utc,symbol,open,high,close"),
        (["2022-01-01T00:00:00Z,BTCETH,10,12,9,11,1"], None),  # not quoted in USD
        (["2022-01-01T00:00:00Z,BTCUSDT,10,12,nine,11,1"], None),  # not a number
        (["2022-01-01T00:00:00Z,BTCUSDT,0,12,0,11,1"], None),  # not a price
        (["2022-01-01T00:00:00Z,BTCUSDT,10,12,9"], None),  # short row
    ],
)
def test_malformed_files_are_refused(tmp_path, rows, header):
    path = write_csv(tmp_path / "bad_spot_1h_X.csv.gz", rows, *([header] if header else []))
    with pytest.raises(ValueError):
        load_history([path])


# -- every feed: commands the engine accepts -------------------------------------------------------


def assert_valid_stream(updates: list[IndexUpdate]):
    assert updates
    assert [u.ts for u in updates] == sorted(u.ts for u in updates)
    for ts in {u.ts for u in updates}:
        coins = [u.coin for u in updates if u.ts == ts]
        assert coins == sorted(set(coins))
    for u in updates:
        assert type(u) is IndexUpdate and invalid_field(u) is None
        assert all(type(p) is int and p > 0 for p in u.prices)


def test_every_feed_emits_valid_integer_commands_in_time_order(history):
    start = utc_us("2021-05-19T12:00:00Z")
    assert_valid_stream(list(ReplayFeed(history).updates(start, start + 2 * HOUR, 37 * SECOND)))
    assert_valid_stream(list(SyntheticFeed(seed=3).updates(start, start + HOUR, 30 * SECOND)))
    assert_valid_stream(list(ManualFeed({"BTC": "1", "ETH": 2}).updates(start, start + HOUR, MINUTE)))
    with pytest.raises(ValueError):
        list(ManualFeed().updates(0, 10, 0))


# -- synthetic -------------------------------------------------------------------------------------


def run(feed: Feed, steps: int, step_us: int, start: int = 0) -> list[IndexUpdate]:
    return list(feed.updates(start, start + steps * step_us, step_us))


def test_synthetic_same_seed_same_prices_other_seed_other_prices():
    a = run(SyntheticFeed(seed=7, grid_us=MINUTE), 600, MINUTE)
    b = run(SyntheticFeed(seed=7, grid_us=MINUTE), 600, MINUTE)
    c = run(SyntheticFeed(seed=8, grid_us=MINUTE), 600, MINUTE)
    assert a == b
    assert [u.prices for u in a[6:]] != [u.prices for u in c[6:]]
    assert a[:6] == c[:6]  # both start at the start prices
    assert {u.coin: u.prices for u in a[:6]} == {
        "BNB": (usd("500"),),
        "BTC": (usd("40000"),),
        "ETH": (usd("2500"),),
        "FTT": (usd("30"),),
        "SOL": (usd("35"),),
        "USDT": (usd("1"),),
    }


def test_synthetic_prices_do_not_depend_on_how_the_feed_is_asked():
    fine = run(SyntheticFeed(seed=1), 3600, SECOND, start=5 * DAY)
    coarse = run(SyntheticFeed(seed=1, origin_us=5 * DAY), 60, MINUTE, start=5 * DAY)
    assert coarse == [u for u in fine if (u.ts - 5 * DAY) % MINUTE == 0]
    lazy = SyntheticFeed(seed=1)
    lazy.at(5 * DAY)  # the first question binds the origin
    assert lazy.at(5 * DAY + 1800 * SECOND) == [u for u in fine if u.ts == 5 * DAY + 1800 * SECOND]
    feed = SyntheticFeed(seed=1, origin_us=5 * DAY)
    later, earlier = feed.at(5 * DAY + HOUR), feed.at(5 * DAY + MINUTE)
    assert earlier == [u for u in fine if u.ts == 5 * DAY + MINUTE]
    assert later == feed.at(5 * DAY + HOUR)
    with pytest.raises(ValueError):
        feed.at(5 * DAY - 1)


def test_an_uncorrelated_coin_keeps_its_path_when_others_are_added():
    btc = CoinProcess("40000", volatility=0.8, jump_intensity=50)
    alone = run(SyntheticFeed({"BTC": btc}, seed=5, grid_us=MINUTE), 300, MINUTE)
    crowd = run(SyntheticFeed({"BTC": btc, "ETH": CoinProcess("2500")}, seed=5, grid_us=MINUTE), 300, MINUTE)
    assert alone == [u for u in crowd if u.coin == "BTC"]


def log_returns(updates: list[IndexUpdate], coin: str) -> list[float]:
    prices = [u.prices[0] for u in updates if u.coin == coin]
    return [math.log(b / a) for a, b in pairwise(prices)]


def test_volatility_is_roughly_the_configured_annual_volatility():
    feed = SyntheticFeed({"BTC": CoinProcess("40000", volatility=0.8)}, seed=11, grid_us=HOUR)
    returns = log_returns(run(feed, 24 * 365, HOUR), "BTC")
    assert statistics.pstdev(returns) * math.sqrt(24 * 365) == pytest.approx(0.8, rel=0.05)


def test_jumps_occur_at_the_configured_intensity():
    # 500 jumps a year of exactly +5% on a path with no diffusion: over two years about 1,000 jumps
    process = CoinProcess("100", volatility=0.0, jump_intensity=500, jumps=NormalJumps(0.05, 0.0))
    feed = SyntheticFeed({"SOL": process}, seed=2, grid_us=HOUR)
    updates = run(feed, 2 * 24 * 365 + 1, HOUR)
    count = len(feed.jumps["SOL"])
    assert abs(count - 1000) < 4 * math.sqrt(1000)
    assert all(size == 0.05 for _, size in feed.jumps["SOL"])
    # and they are in the prices: the hours with a jump are the hours that moved up
    jumped_hours = {math.ceil(t / HOUR) for t, _ in feed.jumps["SOL"]}
    up_hours = {i + 1 for i, r in enumerate(log_returns(updates, "SOL")) if r > 0.02}
    assert up_hours == jumped_hours
    # the compensator makes the expected return zero: the path drifts down between jumps
    assert all(r < 0 for i, r in enumerate(log_returns(updates, "SOL")) if i + 1 not in jumped_hours)


def test_double_exponential_jumps_are_mostly_down_when_configured_so():
    process = CoinProcess(
        "30",
        volatility=0.5,
        jump_intensity=2000,
        jumps=DoubleExponentialJumps(p_up=0.2, up_mean=0.02, down_mean=0.04),
    )
    feed = SyntheticFeed({"FTT": process}, seed=4, grid_us=HOUR)
    run(feed, 24 * 365, HOUR)
    sizes = [s for _, s in feed.jumps["FTT"]]
    assert len(sizes) == pytest.approx(2000, rel=0.1)
    assert sum(s > 0 for s in sizes) / len(sizes) == pytest.approx(0.2, abs=0.04)
    assert statistics.fmean(s for s in sizes if s < 0) == pytest.approx(-0.04, rel=0.15)


def test_correlated_coins_move_together():
    processes = {"BTC": CoinProcess("40000", volatility=0.8), "ETH": CoinProcess("2500", volatility=1.0)}
    feed = SyntheticFeed(processes, seed=9, grid_us=HOUR, correlation=0.9)
    updates = run(feed, 5000, HOUR)
    rho = statistics.correlation(log_returns(updates, "BTC"), log_returns(updates, "ETH"))
    assert rho == pytest.approx(0.9, abs=0.03)
    independent = run(SyntheticFeed(processes, seed=9, grid_us=HOUR), 5000, HOUR)
    assert (
        abs(statistics.correlation(log_returns(independent, "BTC"), log_returns(independent, "ETH"))) < 0.06
    )
    with pytest.raises(ValueError):
        SyntheticFeed(
            {**processes, "SOL": CoinProcess("35")},
            correlation={("BTC", "ETH"): 0.99, ("BTC", "SOL"): 0.99, ("ETH", "SOL"): -0.99},
        )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**64), st.integers(1, 100))
def test_synthetic_emits_positive_ints_for_any_seed(seed, steps):
    updates = run(SyntheticFeed(seed=seed, grid_us=HOUR), steps, 7 * HOUR)
    assert all(type(p) is int and p > 0 for u in updates for p in u.prices)


# -- manual ----------------------------------------------------------------------------------------


def test_manual_feed_quotes_what_the_operator_set_and_nothing_else():
    feed = ManualFeed()
    assert feed.at(1) == [] and feed.coins() == ()
    assert feed.set("ETH", "2500.25") == usd("2500.25")
    feed.set("BTC", Decimal("30000"))
    assert feed.at(5) == [IndexUpdate(5, "BTC", (usd("30000"),)), IndexUpdate(5, "ETH", (usd("2500.25"),))]
    # re-sent at every step so the index stays fresh
    assert list(feed.updates(10, 40, 10)) == [
        IndexUpdate(ts, coin, (price,))
        for ts in (10, 20, 30)
        for coin, price in (("BTC", usd("30000")), ("ETH", usd("2500.25")))
    ]
    feed.set("BTC", 29000)
    assert feed.get("BTC") == usd("29000") and feed.get("SOL") is None
    feed.unset("ETH")
    assert feed.at(50) == [IndexUpdate(50, "BTC", (usd("29000"),))]


def test_manual_feed_refuses_floats_and_nonsense():
    feed = ManualFeed({"FTT": "25"})
    with pytest.raises(TypeError):
        feed.set("BTC", 30000.5)
    for coin, price in (("BTC", "0"), ("BTC", "-3"), ("", "1"), (" BTC", "1")):
        with pytest.raises(ValueError):
            feed.set(coin, price)
    assert feed.coins() == ("FTT",)


# -- the factory -----------------------------------------------------------------------------------


def test_make_feed_builds_each_kind(history):
    research = make_feed("replay")
    assert isinstance(research, ReplayFeed) and research.coins() == history.coins()
    assert quotes(research, "2021-05-19T13:00:00Z") == quotes(ReplayFeed(history), "2021-05-19T13:00:00Z")
    live = make_feed("replay", start_us=10**15, speed=3600, coins=["ETH"])
    # one live second is one history hour: 24 live seconds in, the sample's second day begins
    assert quotes(live, iso_utc(10**15 + 24 * SECOND)) == {
        "ETH": quotes(research, "2021-04-11T00:00:00Z")["ETH"]
    }
    synthetic = make_feed("synthetic", seed=3, start_us=0, coins=["BTC"], grid_us=MINUTE)
    assert isinstance(synthetic, SyntheticFeed) and synthetic.coins() == ("BTC",)
    assert run(synthetic, 50, MINUTE) == run(
        SyntheticFeed({"BTC": synthetic.processes["BTC"]}, seed=3, grid_us=MINUTE), 50, MINUTE
    )
    manual = make_feed("manual", prices={"SOL": "40"})
    assert isinstance(manual, ManualFeed) and manual.at(0) == [IndexUpdate(0, "SOL", (usd("40"),))]


def test_make_feed_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="unknown feed"):
        make_feed("oracle")
    with pytest.raises(ValueError, match="speed"):
        make_feed("synthetic", speed=10)
    with pytest.raises(ValueError, match="DOGE"):
        make_feed("replay", coins=["DOGE"])
    with pytest.raises(ValueError, match="DOGE"):
        make_feed("synthetic", coins=["DOGE"])
