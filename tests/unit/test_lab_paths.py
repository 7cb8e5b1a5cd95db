"""The risk lab's Monte Carlo paths and statistics, against numbers worked out by hand: the
stationary bootstrap keeps each row's coins together and its blocks have the mean it is given;
the GARCH(1,1) filter and fit; the percentile bootstrap interval and the Wilson interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backstop.feeds.base import HOUR_US, MINUTE_US, utc_us
from backstop.feeds.replay import Bars
from backstop.lab import paths
from backstop.lab.distribution import ftx_mean_open_interest, fund_need, summarise
from backstop.lab.paths import Garch, Sample, build_bars, fit_garch, stationary_blocks, stationary_indices
from backstop.lab.spec import LabConfig, Result
from backstop.lab.stats import bootstrap_ci, describe, wilson_interval

T0 = utc_us("2020-03-01T00:00:00Z")


def well_formed(b: Bars) -> bool:
    """Every candle's low <= open, close <= high."""
    candles = zip(b.opens, b.highs, b.lows, b.closes, strict=True)
    return all(lo <= min(o, c) <= max(o, c) <= h for o, h, lo, c in candles)


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


# ----------------------------------------------------------------------------- the bootstrap


def test_stationary_blocks_have_the_mean_length_asked_and_cover_the_path_exactly() -> None:
    """Geometric lengths with p = 1/24 have mean 24 and standard deviation sqrt(1-p)/p = 23.5;
    over ~41,700 blocks the mean's standard error is 0.115, so 24 +/- 0.5 is over 4 errors."""
    start, size = stationary_blocks(_rng(), 1_000_000, 5_000, 24.0)
    assert int(size.sum()) == 1_000_000 and size.min() >= 1
    assert abs(size[:-1].mean() - 24.0) < 0.5
    assert abs(size[:-1].std() - math.sqrt(1 - 1 / 24) * 24) < 1.0
    assert start.min() >= 0 and start.max() < 5_000
    assert abs(start.mean() - 2_499.5) < 30  # uniform over the rows: sd 1,443 / sqrt(41,700) = 7
    # a mean block of one row is the plain (iid) bootstrap: every block one row long
    _, ones = stationary_blocks(_rng(2), 1_000, 10, 1.0)
    assert set(ones.tolist()) == {1}


def test_stationary_indices_run_on_circularly_inside_a_block() -> None:
    rows = 7
    idx = stationary_indices(_rng(3), 10_000, rows, 5.0)
    start, size = stationary_blocks(_rng(3), 10_000, rows, 5.0)
    at = 0
    for s, n in zip(start.tolist(), size.tolist(), strict=True):
        assert idx[at : at + n].tolist() == [(s + j) % rows for j in range(n)]  # wraps past the last row
        at += n
    assert at == len(idx)


def _sample(rows: int) -> Sample:
    """Two coins whose moves in row r are tagged with r: BTC closes r+1 basis points above its
    open, ETH 2(r+1); open gaps are r/10 basis points; highs and lows 5 bp either side."""
    r = np.arange(rows, dtype=np.float64)
    moves = np.zeros((rows, 2, 4))
    for k in range(2):
        moves[:, k, 0] = r * 1e-5
        moves[:, k, 3] = (k + 1) * (r + 1) * 1e-4
        moves[:, k, 1] = np.maximum(moves[:, k, 3], 0) + 5e-4
        moves[:, k, 2] = np.minimum(moves[:, k, 3], 0) - 5e-4
    open_us = T0 + np.arange(rows, dtype=np.int64) * HOUR_US
    return Sample(("BTC", "ETH"), HOUR_US, open_us, moves)


def _rows_behind(bars: Bars, k: int) -> list[int]:
    """Which tagged row each candle came from (its close against its open, in basis points)."""
    return [
        round(math.log(c / o) / ((k + 1) * 1e-4)) - 1 for o, c in zip(bars.opens, bars.closes, strict=True)
    ]


def test_a_bootstrapped_path_keeps_each_rows_coins_together_and_chains_its_candles() -> None:
    sample = _sample(50)
    rows = stationary_indices(_rng(4), 300, len(sample), 6.0)
    bars = build_bars(sample, rows, np.ones((300, 2)), (800_000_000_000, 20_000_000_000), T0)
    btc, eth = bars["BTC"][0], bars["ETH"][0]
    assert _rows_behind(btc, 0) == _rows_behind(eth, 1) == rows.tolist()  # both coins, the same row
    assert btc.open_us == tuple(T0 + t * HOUR_US for t in range(300))
    assert (btc.opens[0], eth.opens[0]) == (800_000_000_000, 20_000_000_000)  # opens at the start price
    for t in range(1, 300):  # each open is the previous close moved by the drawn row's gap
        assert math.log(btc.opens[t] / btc.closes[t - 1]) == pytest.approx(rows[t] * 1e-5, abs=1e-8)
    for b in (btc, eth):
        assert well_formed(b)


def test_finer_candles_travel_with_their_hour_and_scale_with_it() -> None:
    """A row with five-minute candles gives the synthetic hour built from it the same candles,
    at the same places in the hour, their log levels scaled as the hour's are."""
    five = 5 * MINUTE_US
    hourly = Bars(
        "x",
        "BTCUSDT",
        HOUR_US,
        (T0, T0 + HOUR_US),
        (100_00000000, 101_00000000),
        (102_00000000, 104_00000000),
        (99_00000000, 100_00000000),
        (101_00000000, 103_00000000),
    )
    fine = Bars(
        "x",
        "BTCUSDT",
        five,
        (T0 + HOUR_US, T0 + HOUR_US + five),
        (101_00000000, 100_00000000),
        (101_00000000, 104_00000000),
        (100_00000000, 100_00000000),
        (100_00000000, 104_00000000),
    )
    sample = paths.sample({"BTC": (fine, hourly)}, ("BTC",), T0, T0 + 2 * HOUR_US)
    assert len(sample) == 2 and len(sample.fine) == 1 and sample.fine[0].index.tolist() == [-1, 0]
    rows = np.array([1, 0, 1])
    scale = np.array([[1.0], [1.0], [2.0]])
    bars = build_bars(sample, rows, scale, (50_00000000,), T0)
    five_bars, base = bars["BTC"]
    assert (five_bars.interval_us, base.interval_us) == (five, HOUR_US)
    # hours 0 and 2 come from row 1, which has two five-minute candles at minutes 0 and 5
    assert five_bars.open_us == (T0, T0 + five, T0 + 2 * HOUR_US, T0 + 2 * HOUR_US + five)
    assert five_bars.highs[1] == base.highs[0] == round(50e8 * 104 / 101)  # the hour's high, as in the data
    open2 = base.opens[2]
    assert five_bars.highs[3] == pytest.approx(open2 * (104 / 101) ** 2, rel=1e-9)  # doubled log move


# ----------------------------------------------------------------------------- GARCH(1,1)


def test_the_garch_filter_by_hand() -> None:
    """omega 1, alpha 0.5, beta 0.25 from sigma2 = 4: after r = 2, 1 + 0.5*4 + 0.25*4 = 4; after
    r = 0, 1 + 0 + 0.25*4 = 2; the long-run variance is 1 / 0.25 = 4."""
    g = Garch(1.0, 0.5, 0.25)
    assert g.variances(np.array([2.0, 0.0]), 4.0).tolist() == [4.0, 4.0, 2.0]
    assert g.unconditional == 4.0 and g.persistence == 0.75


def test_the_garch_fit_recovers_the_parameters_of_a_simulated_series() -> None:
    """20,000 draws of omega 2e-6, alpha 0.10, beta 0.85 (hourly-return scale); the MLE's standard
    errors there are about 0.006 (alpha) and 0.01 (beta)."""
    omega, alpha, beta = 2e-6, 0.10, 0.85
    rng = _rng(7)
    z = rng.standard_normal(20_500)
    r = np.zeros(len(z))
    var = omega / (1 - alpha - beta)
    for t in range(len(z)):
        r[t] = math.sqrt(var) * z[t]
        var = omega + alpha * r[t] ** 2 + beta * var
    fit = fit_garch(r[500:])  # past the burn-in
    assert fit.alpha == pytest.approx(alpha, abs=0.02)
    assert fit.beta == pytest.approx(beta, abs=0.03)
    assert fit.unconditional == pytest.approx(omega / (1 - alpha - beta), rel=0.15)
    with pytest.raises(ValueError, match="at least 50 returns"):
        fit_garch(r[:10])


# ----------------------------------------------------------------------------- statistics


def test_the_percentile_bootstrap_interval_on_a_hand_made_sample() -> None:
    """Means of resamples of (0, 0, 0, 1) are k/4 with k ~ Binomial(4, 1/4): P(0) = 0.316,
    P(<=1) = 0.738, P(<=2) = 0.949. At 80% the 10% quantile is 0 and the 90% one is 2/4.
    Of (0, 1): 0, 1/2, 1 with 1/4, 1/2, 1/4: at 90% the interval is the whole (0, 1)."""
    assert bootstrap_ci([0, 0, 0, 1], level=0.80) == (0.0, 0.5)
    assert bootstrap_ci([0.0, 1.0], level=0.90) == (0.0, 1.0)
    assert bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0) and bootstrap_ci([5.0]) == (5.0, 5.0)
    assert bootstrap_ci([1, 2, 3, 9], seed=4) == bootstrap_ci([1, 2, 3, 9], seed=4)  # seeded
    d = describe([1.0, 2.0, 3.0, 4.0], level=0.90)
    assert (d["n"], d["mean"], d["median"], d["min"], d["max"]) == (4, 2.5, 2.5, 1.0, 4.0)
    assert d["sd"] == pytest.approx(math.sqrt(5 / 3))
    assert (d["q_lo"], d["q_hi"]) == pytest.approx((1.15, 3.85))  # linear: 1 + 0.05 * 3, 1 + 0.95 * 3
    assert 1.0 <= d["ci_lo"] < 2.5 < d["ci_hi"] <= 4.0


def test_the_wilson_interval_on_hand_made_counts() -> None:
    """z(95%) = 1.959964: 5 of 10 -> 0.5 -/+ 1.959964 / 1.384146 * sqrt(0.025 + 0.009604) =
    (0.2366, 0.7634); 0 of 8 -> (0, z^2 / (8 + z^2)) = (0, 3.841459 / 11.841459) = (0, 0.3244076);
    at 90% (z^2 = 2.705543) 0 of 8 -> (0, 0.2527235) and 8 of 8 -> (0.7472765, 1)."""
    assert wilson_interval(5, 10, 0.95) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(0, 8, 0.95) == pytest.approx((0.0, 0.3244076), abs=1e-6)
    assert wilson_interval(0, 8, 0.90) == pytest.approx((0.0, 0.2527235), abs=1e-6)
    assert wilson_interval(8, 8, 0.90) == pytest.approx((0.7472765, 1.0), abs=1e-6)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def _result(daily: list[tuple[float, float, float]], fund_start: int = 1_000) -> Result:
    """A run's result reduced to its daily fund rows: (fund at the day's end, change, draws)."""
    rows = [{"fund": f, "fund_change": ch, "fund_draw": d} for f, ch, d in daily]
    return Result(LabConfig(fund_start_usd=fund_start), {}, rows, [], "")


def test_the_fund_needed_and_the_probability_of_exhausting_a_fund_by_hand() -> None:
    """Day 1 the fund pays 300 and earns 350 (ends +50); day 2 it opens at 1,050 and pays 500,
    earning 100 (ends at 650); day 3 it opens at 650 and pays 200. The most it had to hold: by
    day 2's open it was 50 up, so 500 - 50 = 450; by day 3's open it was 350 down, + 200 = 550."""
    r = _result([(1_050, 50, 300), (650, -400, 500), (450, -200, 200)])
    assert fund_need(r) == 550.0
    needs = [0, 100, 200, 300, 400]
    outcomes = [
        {"seed": 1, "path": p + 1, "model": "ftx", "figures": {"fund_need": n, "open_interest_mean": 1e6}}
        for p, n in enumerate(needs)
    ]
    s = summarise(outcomes, LabConfig(fund_start_usd=250), ["lab", "ftx", "150"], level=0.90)
    lab, ftx, small = s["exhaust"]
    assert (lab["usd"], lab["exhausted"], lab["runs"], lab["percent"]) == (250, 2, 5, 40.0)
    # 2 of 5 at 90%: centre (0.4 + 2.705543 / 10) / (1 + 2.705543 / 5) = 0.6705543 / 1.5411086
    # = 0.435112, half 1.644854 / 1.5411086 * sqrt(0.048 + 0.0270554) = 0.292406
    assert (lab["ci_lo_pct"], lab["ci_hi_pct"]) == pytest.approx((14.2706, 72.7518), abs=1e-3)
    # FTX's $9.5M at our open interest over FTX's mean over the span it was paid in (its growth path)
    assert ftx["usd"] == pytest.approx(9_500_000 * 1e6 / ftx_mean_open_interest())
    assert small["exhausted"] == 3 and s["over"] == "paths" and s["runs"] == 5
