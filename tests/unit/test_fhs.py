"""FHS initial margin (backstop.lab.fhs): each rule against a hand computation, then the real data.

Expected values are worked out by hand in the comments (or taken from research/risk-model.md and
the data README), never copied from the module's output.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.lab import fhs


def test_ewma_variance_by_hand() -> None:
    # lam 0.9, seed 1e-4, returns 0.01, -0.02, 0.03, 0.00:
    # v1 = 0.9 * 1e-4   + 0.1 * 1e-4 = 1.0e-4
    # v2 = 0.9 * 1e-4   + 0.1 * 4e-4 = 1.3e-4
    # v3 = 0.9 * 1.3e-4 + 0.1 * 9e-4 = 2.07e-4
    # v4 = 0.9 * 2.07e-4 + 0          = 1.863e-4
    v = fhs.ewma_variance([0.01, -0.02, 0.03, 0.00], 0.9, 1e-4)
    assert v == pytest.approx([1e-4, 1e-4, 1.3e-4, 2.07e-4, 1.863e-4], rel=1e-12)


def test_ewma_variance_skips_missing_returns() -> None:
    # the NaN day leaves the forecast alone: 1e-4, 1e-4, 1e-4, then 0.9e-4 + 0.1 * 9e-4 = 1.8e-4
    v = fhs.ewma_variance([0.01, math.nan, 0.03], 0.9, 1e-4)
    assert v == pytest.approx([1e-4, 1e-4, 1e-4, 1.8e-4], rel=1e-12)


LOSSES = [0.10, 0.05, 0.08, 0.02, 0.01, 0.00, -0.01, -0.02, 0.03, 0.04]
# sorted worst first: 0.10, 0.08, 0.05, 0.04, 0.03, 0.02, 0.01, 0.00, -0.01, -0.02


@pytest.mark.parametrize(
    ("alpha", "es", "var"),
    [
        (0.80, (0.10 + 0.08) / 2, 0.05),  # tail of 2 losses; VaR: 8th smallest (P(L <= 0.05) = 0.8)
        (0.75, (0.10 + 0.08 + 0.5 * 0.05) / 2.5, 0.05),  # 2.5 losses: the third at half weight
        (0.95, 0.10, 0.10),  # half a loss: the worst one
    ],
)
def test_es_and_var_on_a_known_set(alpha: float, es: float, var: float) -> None:
    assert fhs.expected_shortfall(LOSSES, alpha) == pytest.approx(es, rel=1e-12)
    assert fhs.value_at_risk(LOSSES, alpha) == pytest.approx(var, rel=1e-12)


def test_loss_fraction_long_and_short() -> None:
    # a -50% log move costs a long 1 - e^-0.5 = 0.393469, a short gains; +0.2 costs a short e^0.2 - 1
    assert fhs.loss_fraction([-0.5, 0.2], "long") == pytest.approx([0.3934693, -0.2214028], rel=1e-6)
    assert fhs.loss_fraction([-0.5, 0.2], "short") == pytest.approx([-0.3934693, 0.2214028], rel=1e-6)


def test_kupiec_three_breaches_in_250() -> None:
    # ln L0 = 247 ln 0.99 + 3 ln 0.01           = -2.482433 - 13.815511 = -16.297944
    # ln L1 = 247 ln(247/250) + 3 ln(3/250)      = -2.981932 - 13.268546 = -16.250478
    # LR = -2 (ln L0 - ln L1) = 0.094932; p = 2 (1 - Phi(sqrt 0.094932 = 0.3081)) = 0.758
    lr, p = fhs.kupiec_pof(3, 250, 0.99)
    assert lr == pytest.approx(0.094932, abs=1e-4)
    assert p == pytest.approx(0.758, abs=2e-3)


def test_kupiec_no_breach_rejects_at_large_n() -> None:
    # x = 0: LR = -2 * 250 * ln 0.99 = 5.02517; p = 2 (1 - Phi(2.2417)) = 0.0250
    lr, p = fhs.kupiec_pof(0, 250, 0.99)
    assert lr == pytest.approx(5.02517, abs=1e-4)
    assert p == pytest.approx(0.0250, abs=5e-4)


def test_coverage_counts_breaches_per_side() -> None:
    # margin 10%: long loses 1 - e^-0.2 = 18.1% on -0.2 (breach), short loses e^0.3 - 1 = 35% on +0.3
    long = fhs.coverage([0.1] * 4, [-0.2, 0.0, -0.05, 0.3], "long")
    short = fhs.coverage([0.1] * 4, [-0.2, 0.0, -0.05, 0.3], "short")
    assert (long["breaches"], long["n"], long["coverage_pct"]) == (1, 4, 75.0)
    assert (short["breaches"], short["n"]) == (1, 4)


def test_buffer_released_on_a_sharp_rise_and_rebuilt() -> None:
    # buffer 25%, released when margin >= 1.25 x min of the previous 2 days, rebuilt over 2 days:
    # t0 0.10 (no past: full 0.25), t1, t2 0.10 (full), t3 0.14 >= 0.125 -> 0, t4 0.15 >= 1.25 * 0.10
    # -> 0, t5 0.15 < 1.25 * 0.14 -> 0.125, t6 -> 0.25
    params = fhs.FhsParams(buffer=0.25, buffer_rise=0.25, buffer_lookback=2, buffer_rebuild_days=2)
    margin = np.array([0.10, 0.10, 0.10, 0.14, 0.15, 0.15, 0.15])
    b = fhs.buffer_fraction(margin, params)
    assert b == pytest.approx([0.25, 0.25, 0.25, 0.0, 0.0, 0.125, 0.25])
    assert margin * (1 + b) == pytest.approx([0.125, 0.125, 0.125, 0.14, 0.15, 0.16875, 0.1875])


def _toy() -> tuple[pd.Series, pd.Series, fhs.FhsParams]:
    """Six daily returns of +-2% and one stress window with three known 24 h moves."""
    days = pd.date_range("2020-01-01", periods=6, freq="D", tz="UTC")
    daily = pd.Series([-0.02, 0.02, -0.02, 0.02, -0.02, 0.02], index=days)
    hours = pd.date_range("2020-01-01", "2020-01-07", freq="h", tz="UTC")
    r24 = pd.Series(np.nan, index=hours)
    # the window 2020-01-03..01-04 holds the 24 h moves ending 01-04 00:00 .. 01-05 00:00
    r24[pd.Timestamp("2020-01-04 00:00", tz="UTC")] = -0.5
    r24[pd.Timestamp("2020-01-04 12:00", tz="UTC")] = -0.1
    r24[pd.Timestamp("2020-01-05 00:00", tz="UTC")] = 0.2
    r24[pd.Timestamp("2020-01-06 00:00", tz="UTC")] = -0.9  # outside the window: must not count
    params = fhs.FhsParams(
        lam=0.5, warmup=1, stress_windows=((date(2020, 1, 3), date(2020, 1, 4)),), buffer_lookback=2
    )
    return daily, r24, params


def test_fhs_and_apc_components_on_a_toy_series() -> None:
    daily, r24, params = _toy()
    out = fhs.fhs_margin(daily, replace(params, stress_floor_conf=0.99, apc="max"), r24)
    # seed var = 0.02^2; every |r| = 0.02 keeps it there: sigma 0.02, residuals +-1.
    assert out["sigma"].to_numpy() == pytest.approx([0.02] * 6)
    # long: worst scenario -1 * 0.02 -> 1 - e^-0.02 = 0.0198013 every day (ES99 of <100 points = worst)
    assert out["long_es"].to_numpy() == pytest.approx([0.0198013] * 6, rel=1e-5)
    # short, day 0: only the scenario -0.02 exists, a gain: margin 0; then e^0.02 - 1 = 0.0202013
    assert out["short_es"].to_numpy() == pytest.approx([0.0] + [0.0202013] * 5, rel=1e-5)
    # (c) long-run vol: sample std of returns so far. t1: 0.0282843 -> 1 - e^-0.0282843 = 0.0278880;
    # t2, t3: sqrt(5.3333e-4) = 0.0230940 -> 0.0228294; t4, t5: sqrt(4.8e-4) = 0.0219089 -> 0.0216706
    lr = out["long_lr_floor"].to_numpy()
    assert math.isnan(lr[0])
    assert lr[1:] == pytest.approx([0.0278880, 0.0228294, 0.0228294, 0.0216706, 0.0216706], rel=1e-5)
    # (a) long margin never rises: buffer stays full, 1.25 * 0.0198013 = 0.0247516
    assert out["long_buffered"].to_numpy() == pytest.approx([0.0247516] * 6, rel=1e-5)
    # stress window over at 01-05 00:00 (days 4, 5). Long losses 0.393469, 0.095163, -0.221403;
    # ES99 and VaR99 of 3 points = the worst = 0.393469; short: the +0.2 move, 0.221403.
    assert out["long_stress_floor"].to_numpy() == pytest.approx([0, 0, 0, 0, 0.393469, 0.393469], rel=1e-5)
    assert out["short_stress_floor"].to_numpy() == pytest.approx([0, 0, 0, 0, 0.221403, 0.221403], rel=1e-5)
    # (b) the stressed observations hold 25% of the probability, 1/12 each: the worst, 0.393469,
    # alone outweighs the 1% tail (long), as does the +0.2 move's 0.221403 (short). Before the
    # window is over: the plain ES.
    assert out["long_stressed"].to_numpy() == pytest.approx([0.0198013] * 4 + [0.393469] * 2, rel=1e-5)
    assert out["short_stressed"].to_numpy()[4:] == pytest.approx([0.221403] * 2, rel=1e-5)
    # max of all: t0 buffer, t1 long-run floor, t2 t3 buffer, t4 t5 (b) and the stress floor
    assert out["long_apc"].to_numpy() == pytest.approx(
        [0.0247516, 0.0278880, 0.0247516, 0.0247516, 0.393469, 0.393469], rel=1e-5
    )
    # With the stress floor on, every tool is floored by it on days 4 and 5: (c) = max(plain,
    # long-run floor) before (t0 has no floor yet: one return has no std), (a) the buffer
    assert out["long_apc_c"].to_numpy() == pytest.approx(
        [0.0198013, 0.0278880, 0.0228294, 0.0228294, 0.393469, 0.393469], rel=1e-5
    )
    assert out["long_apc_a"].to_numpy() == pytest.approx([0.0247516] * 4 + [0.393469] * 2, rel=1e-5)
    assert out["long_apc_none"].to_numpy() == pytest.approx([0.0198013] * 4 + [0.393469] * 2, rel=1e-5)


def test_each_apc_tool_alone_and_the_stress_floor_off_by_default() -> None:
    daily, r24, params = _toy()
    out = fhs.fhs_margin(daily, params, r24)  # defaults: tool (c), no stress floor
    assert fhs.FhsParams().apc == "c" and fhs.FhsParams().stress_floor_conf is None
    assert (out["long_stress_floor"] == 0.0).all()
    # (c) alone, as in the toy above; (a) alone keeps its 0.0247516 on the stressed days too
    assert out["long_apc"].to_numpy() == pytest.approx(
        [0.0198013, 0.0278880, 0.0228294, 0.0228294, 0.0216706, 0.0216706], rel=1e-5
    )
    assert out["long_apc_a"].to_numpy() == pytest.approx([0.0247516] * 6, rel=1e-5)
    # max without the floor: t4, t5 set by (b), 0.393469
    assert out["long_apc_max"].to_numpy()[4:] == pytest.approx([0.393469] * 2, rel=1e-5)
    for tool in ("a", "b", "c"):
        assert (out["long_apc_max"] >= out[f"long_apc_{tool}"] - 1e-15).all()
    with pytest.raises(ValueError, match="apc must be one of"):
        fhs.FhsParams(apc="d")  # type: ignore[arg-type]


def test_apc_b_weights_the_stressed_observations_by_hand() -> None:
    # At 90% the toy's day 4 (long): FHS losses 0.0198013 x3 and -0.0202013 x2 at 0.75 / 5 = 0.15
    # each; stressed 0.393469, 0.095163, -0.221403 at 0.25 / 3 = 0.083333 each. Worst first:
    # 0.393469 (cum 0.083333), 0.095163 (cum 0.166667 > 0.1): VaR90 = 0.095163,
    # ES90 = (0.083333 x 0.393469 + (0.1 - 0.083333) x 0.095163) / 0.1 = 0.343752.
    daily, r24, params = _toy()
    out = fhs.fhs_margin(daily, replace(params, es_conf=0.9, backtest_var_conf=0.9), r24)
    assert out["long_stressed"].iloc[4] == pytest.approx(0.343752, rel=1e-5)
    assert out["long_stressed_var99"].iloc[4] == pytest.approx(0.095163, rel=1e-5)


def test_weighted_es_and_var_by_hand() -> None:
    # losses 10, 5, 1, 0 with probabilities 0.01, 0.04, 0.45, 0.5:
    # at 95% the tail 0.05 is 10 (0.01) and 5 (0.04): ES = (0.1 + 0.2) / 0.05 = 6, VaR = 1 (the
    # next loss); at 97%, 10 and 0.02 of 5: ES = (0.1 + 0.1) / 0.03 = 6.6667, VaR = 5.
    losses, weights = [0.0, 5.0, 1.0, 10.0], [0.5, 0.04, 0.45, 0.01]
    assert fhs.weighted_es_var(losses, weights, 0.95) == pytest.approx((6.0, 1.0))
    assert fhs.weighted_es_var(losses, weights, 0.97) == pytest.approx((0.2 / 0.03, 5.0))
    # weights need not sum to one; equal weights give the plain ES and VaR
    assert fhs.weighted_es_var(losses, [2 * w for w in weights], 0.97) == pytest.approx((0.2 / 0.03, 5.0))
    for alpha in (0.75, 0.8, 0.95):
        assert fhs.weighted_es_var(LOSSES, [1.0] * len(LOSSES), alpha) == pytest.approx(
            (fhs.expected_shortfall(LOSSES, alpha), fhs.value_at_risk(LOSSES, alpha))
        )


def test_residuals_use_the_forecast_made_before_the_return() -> None:
    # lam 0.5, seed = 0.02^2. v0 = v1 = 4e-4, v2 = 0.5 * 4e-4 + 0.5 * 0.06^2 = 2e-3.
    # z0 = 0.02 / 0.02 = 1, z1 = 0.06 / 0.02 = 3 (not 0.06 / sqrt(2e-3)); today's sigma sqrt(2e-3)
    # = 0.0447214: short ES (worst of 2) = e^(3 * 0.0447214) - 1 = e^0.1341641 - 1
    # = 0.1341641 + 0.0090000 + 0.0004025 + 0.0000135 + 0.0000004 (series) = 0.1435805
    days = pd.date_range("2020-01-01", periods=2, freq="D", tz="UTC")
    out = fhs.fhs_margin(pd.Series([0.02, 0.06], index=days), fhs.FhsParams(lam=0.5, warmup=1))
    assert out["sigma"].iloc[1] == pytest.approx(0.0447214, rel=1e-6)
    assert out["short_es"].iloc[1] == pytest.approx(0.1435805, rel=1e-5)
    assert out["long_es"].iloc[1] == 0.0  # both scenarios are up moves: no loss for a long


def test_no_look_ahead() -> None:
    closes = fhs.load_closes()
    daily = fhs.daily_returns(closes)["BTC"]
    r24 = fhs.rolling_returns_24h(closes)["BTC"]
    t = daily.index.get_loc(pd.Timestamp("2020-03-12", tz="UTC"))
    base = fhs.fhs_margin(daily, fhs.FhsParams(), r24)
    shocked_daily = daily.copy()
    shocked_daily.iloc[t + 1 :] *= 3.0
    shocked_r24 = r24.copy()
    shocked_r24[shocked_r24.index > daily.index[t]] *= 3.0
    shocked = fhs.fhs_margin(shocked_daily, fhs.FhsParams(), shocked_r24)
    pd.testing.assert_frame_equal(base.iloc[: t + 1], shocked.iloc[: t + 1])
    assert not np.allclose(base["long_es"].iloc[t + 1 :], shocked["long_es"].iloc[t + 1 :])


def test_sqrt_size_addons_and_ftx_imf() -> None:
    # FTX's worked example: 2,500 BTC at 0.002 -> 0.002 * 50 = 10%; 100 BTC -> the 5% base (20x)
    assert fhs.concentration_addon(2500, 0.002) == pytest.approx(0.10)
    assert fhs.ftx_imf(2500, 0.002) == pytest.approx(0.10)
    assert fhs.ftx_imf(100, 0.002) == pytest.approx(0.05)
    assert fhs.ftx_imf(1e8, 0.002) == 1.0  # 0.002 * 1e4 = 20: fully funded
    assert fhs.total_margin(0.5, 0.4, 0.3) == 1.0
    assert fhs.total_margin(0.2, 0.1, 0.05) == pytest.approx(0.35)


def test_liquidity_addon_by_hand() -> None:
    # 1,000 coins, ADV 100,000, daily vol 4%: half-spread 0.00025; impact 0.04 * sqrt(0.01) = 0.004;
    # exit at 15% of volume takes 1000 / 15000 = 0.066667 days: 2.326 * 0.04 * sqrt(0.066667 / 3)
    # = 0.09304 * 0.149071 = 0.013870; total 0.018120
    assert fhs.liquidity_addon(1000, 100_000, 0.04) == pytest.approx(0.018120, abs=2e-6)
    assert fhs.liquidity_addon(0, 100_000, 0.04) == 0.0
    assert fhs.liquidity_addon(4000, 100_000, 0.04) > fhs.liquidity_addon(1000, 100_000, 0.04)


returns_strategy = st.lists(
    st.floats(min_value=-0.6, max_value=0.6, allow_nan=False), min_size=35, max_size=120
)


@settings(max_examples=60, deadline=None)
@given(returns_strategy, st.sampled_from([0.94, 0.97, 0.99]))
def test_margin_in_unit_interval_and_monotone_in_confidence(returns: list[float], lam: float) -> None:
    daily = pd.Series(returns, index=pd.date_range("2021-01-01", periods=len(returns), freq="D", tz="UTC"))
    out = {conf: fhs.fhs_margin(daily, fhs.FhsParams(lam=lam, es_conf=conf)) for conf in (0.95, 0.99, 0.995)}
    for side in fhs.SIDES:
        for conf, frame in out.items():
            for col in (f"{side}_es", f"{side}_apc"):
                m = frame[col].dropna().to_numpy()
                assert ((m >= 0) & (m <= 1)).all(), (conf, col)
        lo, mid, hi = (out[c][f"{side}_es"].to_numpy() for c in (0.95, 0.99, 0.995))
        ok = ~np.isnan(lo)
        assert (mid[ok] >= lo[ok] - 1e-12).all()
        assert (hi[ok] >= mid[ok] - 1e-12).all()


def test_packaged_data_shape() -> None:
    # data README: 48,456 candles per symbol, 127 missing hours each, 2017-08-17 04:00 first open
    closes = fhs.load_closes()
    assert list(closes.columns) == ["BTC", "ETH"]
    assert closes.notna().sum().tolist() == [48456, 48456]
    assert closes.isna().sum().tolist() == [127, 127]
    assert closes.index[0] == pd.Timestamp("2017-08-17 05:00", tz="UTC")  # observed at the close
    # risk-model.md 5: BTC's worst day 2020-03-12, 7,934.52 -> 4,800.00
    d = fhs.daily_returns(closes)["BTC"]
    assert d[pd.Timestamp("2020-03-13", tz="UTC")] == pytest.approx(math.log(4800.00 / 7934.52), rel=1e-9)


@pytest.fixture(scope="module")
def real_summary() -> dict[str, object]:
    return fhs.summary()


def test_summary_on_real_data(real_summary: dict[str, object]) -> None:
    json.dumps(real_summary)
    coins = real_summary["coins"]
    assert isinstance(coins, dict)
    # risk-model.md 5: flat 15% covers about 99.77% (BTC) and 99.34% (ETH) of long-side 24 h moves
    btc_flat = coins["BTC"]["flat_15"]["long"]["hourly"]["coverage_pct"]
    eth_flat = coins["ETH"]["flat_15"]["long"]["hourly"]["coverage_pct"]
    assert btc_flat == pytest.approx(99.77, abs=0.2)
    assert eth_flat == pytest.approx(99.34, abs=0.2)
    for coin in ("BTC", "ETH"):
        for model in fhs.MODELS:
            for side in fhs.SIDES:
                fig = coins[coin][model][side]
                # 2019-05-01 .. 2022-11-30: 1,310 days (risk-model.md 5), 24 hourly windows a day
                assert fig["daily"]["n"] == 1310
                assert fig["daily"]["expected"] == pytest.approx(13.1)
                assert len(fig["daily"]["dates"]) == fig["daily"]["breaches"]
                assert 1310 * 24 - 200 < fig["hourly"]["n"] <= 1310 * 24
                assert 90.0 <= fig["hourly"]["coverage_pct"] <= 100.0
                assert 0.0 <= fig["daily"]["kupiec_p"] <= 1.0
                assert 0.0 < fig["margin"]["median"] <= fig["margin"]["peak"] <= 1.0
        # The 2020-03-12 crash breaches the plain FHS long margin (risk-model.md 5: it asked 13%
        # before a -39.5% day) on both coins.
        assert "2020-03-12" in {d["date"] for d in coins[coin]["fhs"]["long"]["daily"]["dates"]}
        # (c)'s volatility: returns from 2017-08-19 on; 2019-05-01 is 621 days later (1.70 years),
        # 2022-11-30 1,930 (5.28 years), less the odd day without a 00:00 close
        years = coins[coin]["lookback_years"]
        assert years["first"] == pytest.approx(621 / 365.25, abs=0.01)
        assert years["last"] == pytest.approx(1930 / 365.25, abs=0.01)
        for side in fhs.SIDES:
            # the VaR backtest is at the VaR's own 99%, on the same 1,310 days
            var = coins[coin]["var_backtest"]["fhs"][side]
            assert (var["n"], var["alpha"]) == (1310, 0.99)
            assert var["direction"] in (
                "consistent",
                "too few breaches: conservative",
                "too many breaches: under-margined",
            )
            z2 = coins[coin]["es_backtest"]["fhs"][side]
            assert z2["critical_5pct"] < 0.0 < z2["upper_95pct"]
            assert z2["days"] == 1310 and z2["sims"] == 2000
            # the chosen tool's margin is the one reported as fhs_apc
            assert coins[coin]["apc_tools"]["c"][side]["margin"] == coins[coin]["fhs_apc"][side]["margin"]
            # (max) is at least every single tool, every day, so never breached more
            breaches = {t: coins[coin]["apc_tools"][t][side]["daily"]["breaches"] for t in fhs.APC_TOOLS}
            assert breaches["max"] <= min(breaches[t] for t in ("a", "b", "c"))
            assert breaches["none"] == coins[coin]["fhs"][side]["daily"]["breaches"]
            assert sum(coins[coin]["apc_binding"][side].values()) == pytest.approx(1.0)


def test_margin_series_shape() -> None:
    frame = fhs.margin_series()
    assert set(frame.columns.get_level_values("model")) == set(fhs.MODELS)
    flat = frame[("BTC", "flat_15", "long")].dropna()
    assert (flat == 0.15).all()
    assert frame.index.hour.unique().tolist() == [0]


def test_sol_and_ftt_warm_up_from_their_own_listing() -> None:
    """FTX's regime margins SOL and FTT too: each coin's EWMA starts at its own first Binance close
    (FTT 2019-12-20, SOL 2020-08-11), its first margin the warm-up's 30 days later, and BTC's
    figures are the same whichever coins share the grid."""
    closes, volumes = fhs.packaged_history(("BTC", "ETH", "FTT", "SOL"))
    assert list(closes.columns) == ["BTC", "ETH", "FTT", "SOL"]
    assert closes["SOL"].first_valid_index() == pd.Timestamp("2020-08-11 07:00", tz="UTC")
    assert closes["FTT"].first_valid_index() == pd.Timestamp("2019-12-20 04:00", tz="UTC")
    frame = fhs.margin_series(closes=closes, volumes=volumes)
    sol = frame[("SOL", "fhs_apc", "long")]
    ftt = frame[("FTT", "fhs_apc", "short")]
    # SOL's first 00:00 closes are 2020-08-12's and 08-13's, so its first daily return ends 08-13;
    # the EWMA's seed is the first 30 rows (that return's leading NaN among them), and the first
    # margin the seed's last day, 2020-09-10: the same rule as BTC's (first close 2017-08-17 05:00,
    # first margin 2017-09-17)
    assert sol.first_valid_index() == pd.Timestamp("2020-09-10", tz="UTC")
    assert frame[("BTC", "fhs_apc", "long")].first_valid_index() == pd.Timestamp("2017-09-17", tz="UTC")
    assert ftt.first_valid_index() < sol.first_valid_index()
    assert sol.dropna().min() > 0.0 and sol.dropna().max() <= 1.0
    alone = fhs.margin_series()
    shared = frame["BTC"].reindex(alone["BTC"].index)
    assert (shared.fillna(-1.0) == alone["BTC"].fillna(-1.0)).all().all()
    with pytest.raises(ValueError, match="no history for DOGE"):
        fhs.packaged_history(("BTC", "DOGE"))
