"""The margin backtests (backstop.lab.backtest): Kupiec, its direction, Christoffersen, Acerbi-Szekely
Z2 and its simulated null, each against a hand computation written out in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backstop.lab import backtest


def test_kupiec_on_ten_days_by_hand() -> None:
    # n = 10 at 90%: expected 1 breach.
    # x = 0: LR = -2 * 10 * ln 0.9 = 2.107210; p = 2 (1 - Phi(sqrt 2.107210 = 1.45162)) = 0.1466
    lr, p = backtest.kupiec_pof(0, 10, 0.90)
    assert lr == pytest.approx(2.107210, abs=1e-6)
    assert p == pytest.approx(0.1466, abs=5e-4)
    # x = 1 = n (1 - alpha): the observed rate is the claimed one, LR = 0, p = 1
    assert backtest.kupiec_pof(1, 10, 0.90) == (0.0, 1.0)
    # x = 3: ln L0 = 7 ln 0.9 + 3 ln 0.1 = -0.7375235 - 6.9077553 = -7.6452788
    #        ln L1 = 7 ln 0.7 + 3 ln 0.3 = -2.4967246 - 3.6119184 = -6.1086430; LR = 3.0732716
    lr, p = backtest.kupiec_pof(3, 10, 0.90)
    assert lr == pytest.approx(3.0732716, abs=1e-6)
    assert p == pytest.approx(0.0796, abs=5e-4)  # 2 (1 - Phi(1.75307))


def test_kupiec_direction_says_which_way_a_rejection_goes() -> None:
    # 1,310 days at 99%: 13.1 expected. 0 breaches: LR = -2 * 1310 ln 0.99 = 26.33, p ~ 3e-7
    lr, p = backtest.kupiec_pof(0, 1310, 0.99)
    assert lr == pytest.approx(26.33, abs=0.01)
    assert backtest.direction(0, 1310, 0.99, p) == "too few breaches: conservative"
    _, p30 = backtest.kupiec_pof(30, 1310, 0.99)
    assert backtest.direction(30, 1310, 0.99, p30) == "too many breaches: under-margined"
    _, p13 = backtest.kupiec_pof(13, 1310, 0.99)
    assert backtest.direction(13, 1310, 0.99, p13) == "consistent"
    assert backtest.direction(0, 0, 0.99, math.nan) == "no data"


def test_christoffersen_by_hand() -> None:
    # hits 0 0 1 1 0 0 0 1 1 0: transitions n00 = 3, n01 = 2, n10 = 2, n11 = 2 (9 in all)
    # pi = 4/9, pi01 = 2/5, pi11 = 2/4
    # ln L0 = 5 ln(5/9) + 4 ln(4/9) = -2.938933 - 3.243721 = -6.182654
    # ln L1 = 3 ln 0.6 + 2 ln 0.4 + 2 ln 0.5 + 2 ln 0.5 = -1.532477 - 1.832581 - 2.772589 = -6.137647
    # LR = 0.090014; p = 2 (1 - Phi(0.30002)) = 0.7642
    lr, p = backtest.christoffersen([0, 0, 1, 1, 0, 0, 0, 1, 1, 0])
    assert lr == pytest.approx(0.090014, abs=1e-5)
    assert p == pytest.approx(0.7642, abs=5e-4)
    # Clustered: 0 0 0 0 0 1 1 1 1 1: n00 = 4, n01 = 1, n10 = 0, n11 = 4; pi01 = 0.2, pi11 = 1
    # ln L1 = 4 ln 0.8 + ln 0.2 = -0.892574 - 1.609438 = -2.502012; LR = 7.361284, p = 0.00666
    lr, p = backtest.christoffersen([0] * 5 + [1] * 5)
    assert lr == pytest.approx(7.361284, abs=1e-5)
    assert p == pytest.approx(0.00666, abs=5e-5)
    # No breach at all: nothing that could cluster, no test
    assert all(math.isnan(v) for v in backtest.christoffersen([0] * 20))


def test_z2_on_a_hand_built_sample() -> None:
    # 4 days, tail 25%, VaR 0.1 and ES 0.25 each day; losses 0.05, 0.2, 0.01, 0.3: breaches on
    # days 2 and 4. Z2 = 1 - (0.2 + 0.3) / 0.25 / (4 * 0.25) = 1 - 2 = -1.
    assert backtest.z2_statistic([0.05, 0.2, 0.01, 0.3], [0.1] * 4, [0.25] * 4, 0.25) == pytest.approx(-1.0)
    # One breach of exactly ES on one day of four: 1 - (0.25 / 0.25) / 1 = 0: as the model says.
    assert backtest.z2_statistic([0.05, 0.25, 0.0, 0.0], [0.1] * 4, [0.25] * 4, 0.25) == pytest.approx(0.0)
    # No breach: 1 (ES over-predicted, or just a calm sample)
    assert backtest.z2_statistic([0.0] * 4, [0.1] * 4, [0.25] * 4, 0.25) == 1.0


def test_z2_null_of_an_empirical_model_is_centred_and_seeded() -> None:
    # Every day the model is uniform over the losses 0.00 .. 0.99 (100 points): at 99% the VaR is
    # the second largest, 0.98 (P(L > 0.98) = 1%), ES the largest, 0.99. Drawn from the model
    # itself, E[L 1{L > VaR}] = 0.99 / 100 = tail x ES: E[Z2] = 0 exactly.
    points = np.arange(100) / 100.0
    days = 500
    sampler = backtest.empirical_sampler(points, np.full(days, 100), lambda x: x)
    var, es = np.full(days, 0.98), np.full(days, 0.99)
    realised = np.random.default_rng(7).choice(points, size=days)
    test = backtest.z2_test(realised, var, es, 0.01, sampler, sims=4000, seed=3)
    # Z2 per path: 1 - (k breaches) / 5, k ~ Binomial(500, 1%): mean 0, sd sqrt(4.95) / 5 = 0.445
    assert test.mean_null == pytest.approx(0.0, abs=0.03)
    # 5% quantile of 1 - k / 5: P(k >= 10) = 3.1%, P(k >= 9) = 6.8% (Binomial(500, 1%)), so k = 9
    assert test.critical == pytest.approx(-0.8)
    assert test.critical == backtest.z2_test(realised, var, es, 0.01, sampler, sims=4000, seed=3).critical
    assert not test.rejected
    # Losses twice what the model forecasts: every draw from 0.50 up breaches, half the days
    doubled = np.random.default_rng(8).choice(points, size=days) * 2
    worse = backtest.z2_test(doubled, var, es, 0.01, sampler, sims=4000, seed=3)
    assert worse.rejected and worse.p_value < 0.01
    assert worse.as_dict()["verdict"] == "ES underestimated"


def test_empirical_sampler_draws_only_the_scenarios_known_each_day() -> None:
    # Day 0 knows the first scenario only, day 1 the first two: draws stay within them.
    sampler = backtest.empirical_sampler(np.array([1.0, 2.0, 3.0]), [1, 2], lambda x: x)
    drawn = sampler(np.random.default_rng(0), 1000)
    assert set(drawn[:, 0].tolist()) == {1.0}
    assert set(drawn[:, 1].tolist()) == {1.0, 2.0}
    with pytest.raises(ValueError, match="at least one"):
        backtest.empirical_sampler(np.array([1.0]), [0], lambda x: x)


def test_breaches_are_counted_per_day_and_dated_missing_days_left_out() -> None:
    out = backtest.breaches([0.1, 0.1, math.nan, 0.1], [0.2, 0.05, 0.5, 0.1], ["d1", "d2", "d3", "d4"], 0.9)
    # d1 breaches (0.2 > 0.1), d2 does not, d3 has no margin, d4 equals its margin: no breach
    assert (out["n"], out["breaches"], out["expected"]) == (3, 1, pytest.approx(0.3))
    assert out["dates"] == [{"date": "d1", "loss": 0.2, "margin": 0.1}]
    assert out["coverage_pct"] == pytest.approx(100 * 2 / 3)
