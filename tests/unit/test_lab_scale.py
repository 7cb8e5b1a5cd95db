"""`--scale-to`: FTX's growth path, the scale factors for a date and the population's growth, by
hand, and a short scaled replay that meets its targets and repeats itself bit for bit."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from backstop.catalog import load, with_imf_factor
from backstop.engine.amounts import RATE
from backstop.engine.margin import position_imf, position_mmf
from backstop.lab import scale
from backstop.lab.population import PopulationConfig
from backstop.lab.replay import Replay, replay
from backstop.lab.spec import LabConfig, with_overrides

# a population whose means are exact: $10,000 each at 2x, so a real trader holds $20,000
FLAT = PopulationConfig(collateral_median_usd=10_000.0, collateral_sigma=0.0, leverage_sigma=0.0)


def test_interpolation_is_log_linear_between_points_and_flat_outside() -> None:
    knots = [(0, 100.0), (10, 10_000.0)]
    assert scale.interpolate(knots, 5) == pytest.approx(1_000.0)  # sqrt(100 x 10,000)
    assert scale.interpolate(knots, 2.5) == pytest.approx(100.0 * 100**0.25)  # 316.23
    assert scale.interpolate(knots, -3) == 100.0 and scale.interpolate(knots, 99) == 10_000.0


def test_the_packaged_path_at_its_points_and_between_them() -> None:
    t = scale.targets(scale.read_points("ftx"))
    day = scale.day_number
    assert t.oi(day("2020-05-19")) == pytest.approx(228e6)  # $114M of BTC futures x 2
    assert t.oi(day("2020-03-12")) == pytest.approx(228e6)  # before the first point: held
    assert t.oi(day("2021-08-10")) == pytest.approx(4.8e9)  # 16% of $15B x 2
    # 2021-05-19, 365 of the 448 days from 2020-05-19 to 2021-08-10: 228M x 21.05 ^ (365/448)
    assert t.oi(day("2021-05-19")) == pytest.approx(228e6 * (4.8e9 / 228e6) ** (365 / 448))
    assert t.oi(day("2021-05-19")) == pytest.approx(2.728e9, rel=1e-3)
    assert t.daily_volume(day("2021-04-15")) == pytest.approx(400e9 / 30 * 0.8)
    # 2020-03-12: 52 of the 86 days from 2020-01-20 ($555.76M x 2) to 2020-04-15 ($16B / 30 x 0.8)
    jan, apr = 555_762_277 * 2, 16e9 / 30 * 0.8
    assert t.daily_volume(day("2020-03-12")) == pytest.approx(jan * (apr / jan) ** (52 / 86))
    assert t.daily_volume(day("2020-03-12")) == pytest.approx(6.230e8, rel=1e-3)


def test_every_figure_has_a_source() -> None:
    path = Path(scale.__file__).parent / "data" / scale.GROWTH_FILE
    rows = list(csv.DictReader(path.open()))
    assert rows and all(row["source"].startswith("http") and row["note"] for row in rows)
    assert {row["metric"] for row in rows} >= {"open_interest", "daily_volume", "fund_worst_day"}


def test_the_scale_factors_for_a_date_by_hand() -> None:
    assert scale.mean_collateral_usd(PopulationConfig()) == pytest.approx(5_000 * math.exp(1.5**2 / 2))
    assert scale.trader_notional_usd(FLAT, 20) == 20_000.0
    real = scale.real_traders(228e6, 20_000.0)  # one-sided OI: 2 x 228M / 20k
    assert real == 22_800.0
    k = scale.representative_factor(real, 2_000)  # 22,800 / 2,000 = 11.4 -> 12
    assert k == 12
    assert scale.synthetic_traders(real, k) == 1_900
    assert scale.holding_hours(228e6, 700e6) == pytest.approx(96 * 228 / 700)  # 31.27 h
    assert scale.book_scale(700e6, 70e6) == 10.0 and scale.book_scale(1e6, 70e6) == 1.0
    assert scale.factor_for(0.002, 100) == pytest.approx(0.0002)
    # a plan over March 2020 with this population and a budget of 2,000 accounts
    plan = scale.plan(
        scale.targets(scale.read_points("ftx")),
        FLAT,
        scale.day_number("2020-03-01"),
        scale.day_number("2020-04-01"),
        20.0,
        2_000,
    )
    assert plan.k == 12 and plan.initial_traders() == 1_900
    assert plan.per_trader_oi == 12 * 20_000 / 2
    day = plan.on(scale.day_number("2020-03-12"))
    assert day.holding_hours == pytest.approx(96 * 228e6 / 6.230e8, rel=1e-3)  # 35.13 h


def test_population_growth_counts_by_hand() -> None:
    # target 228M, held 200M, each new synthetic trader 120k: ceil(28M / 120k) = 234 join
    assert scale.joiners(228e6, 200e6, 120_000.0) == 234
    assert scale.joiners(228e6, 230e6, 120_000.0) == 0
    # the target fell: the fewest traders in joining order whose holdings reach it stay active
    assert scale.active_for(100.0, [30.0, 30.0, 30.0, 30.0]) == 4
    assert scale.active_for(90.0, [30.0, 30.0, 30.0, 30.0]) == 3
    assert scale.active_for(500.0, [30.0, 30.0]) == 2


def test_a_k_fold_account_is_margined_as_one_real_trader() -> None:
    btc = load().markets["BTC-PERP"]
    k = 10_000
    scaled = with_imf_factor(btc, btc.imf_factor // 100)  # f / sqrt(10,000)
    real_lots = 20_000_000  # 2,000 BTC: the sqrt term binds (IMF 0.002 x sqrt(2,000) = 8.9%)
    assert position_imf(scaled, real_lots * k, 20) == position_imf(btc, real_lots, 20)
    assert position_mmf(scaled, real_lots * k) == position_mmf(btc, real_lots)
    assert position_imf(btc, real_lots, 20) == pytest.approx(0.002 * math.sqrt(2_000) * RATE, rel=1e-6)


def test_normalised_figures_by_hand() -> None:
    n = scale.normalised(4.7e6, 228e6, 616.1e6, 89e6 / 366)
    assert n["draw_per_oi_bp"] == pytest.approx(206.14, abs=0.01)
    assert n["draw_per_volume_bp"] == pytest.approx(76.29, abs=0.01)
    assert n["draw_per_revenue"] == pytest.approx(19.33, abs=0.01)
    assert scale.normalised(1.0, 0.0, 0.0, 0.0) == {
        "draw_per_oi_bp": None,
        "draw_per_volume_bp": None,
        "draw_per_revenue": None,
    }
    ref = scale.reference(scale.read_points("ftx"))
    assert ref["ftx_worst_day_oi"] == pytest.approx(228e6)
    assert ref["ftx_revenue_per_day"] == pytest.approx(89e6 / 366)
    assert ref["ftx_fund_net_per_revenue"] == pytest.approx(-9.5e6 / (89e6 + 1.02e9 + 270e6))


def _growth_csv(tmp_path: Path) -> str:
    """A steep path: open interest x4 in two days, volume twice the open interest."""
    path = tmp_path / "growth.csv"
    path.write_text(
        "date,metric,value_usd,scope,to_ftx,source,note\n"
        "2020-03-02,open_interest,5000000,test,1,https://example.test,a\n"
        "2020-03-04,open_interest,20000000,test,1,https://example.test,b\n"
        "2020-03-02,daily_volume,10000000,test,1,https://example.test,c\n"
        "2020-03-04,daily_volume,40000000,test,1,https://example.test,d\n"
    )
    return str(path)


def test_a_scaled_replay_grows_toward_its_targets_and_repeats_itself(tmp_path: Path) -> None:
    config = with_overrides(
        LabConfig(start="2020-03-02", end="2020-03-05", guaranty=False, scale_to=_growth_csv(tmp_path)),
        traders=60,
    )
    r = Replay(config)
    result = r.run()
    rows = result.daily
    counts = [row["traders"] for row in rows]
    assert counts == sorted(counts) and counts[-1] > counts[0]  # new traders joined as it rose
    assert r.k >= 1 and rows[-1]["represented_traders"] == counts[-1] * r.k
    assert [row["ftx_open_interest"] for row in rows] == pytest.approx([5e6, 1e7, 2e7])
    last = rows[-1]
    assert 0.6 * last["ftx_open_interest"] < last["open_interest"] < 1.5 * last["ftx_open_interest"]
    assert last["volume"] > 0 and result.summary["solvent"] is True
    again = replay(config)
    assert again.state_hash == result.state_hash and again.daily == rows
