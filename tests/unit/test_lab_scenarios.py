"""Historical stress scenarios for coins with short histories (`lab.scenarios`): asked for BTC, ETH
and SOL, the guaranty-fund sizing used to find no window where all three had prices and silently
lost every historical scenario. Now each base window is kept, SOL's move is its own where it has
prices and a documented proxy (a volatility-scaled ETH move) where it has none, and a coin that can
be neither measured nor proxied is refused."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from backstop.lab import guaranty, scenarios
from backstop.lab.replay import Replay, default_data
from backstop.lab.spec import LabConfig, with_overrides

SOL_LISTED = pd.Timestamp("2020-08-11 07:00", tz="UTC")


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    """A year of hourly closes: BTC and ETH from the start, SOL (1.7x ETH's moves plus its own
    noise) from its Binance listing; seeded, so every figure below is computed, not remembered."""
    rng = np.random.default_rng(7)
    index = pd.date_range("2020-01-01", "2021-01-01", freq="h", tz="UTC", inclusive="left")
    n = len(index)
    btc = rng.normal(0, 0.008, n)
    eth = 0.8 * btc + rng.normal(0, 0.006, n)
    sol = 1.7 * eth + rng.normal(0, 0.01, n)
    eth[2000:2024] -= 0.02  # a crash day before SOL exists, so ETH's worst window is one SOL lacks
    frame = pd.DataFrame(
        {
            "BTC": 7000 * np.exp(np.cumsum(btc)),
            "ETH": 130 * np.exp(np.cumsum(eth)),
            "SOL": 3 * np.exp(np.cumsum(sol)),
        },
        index=index,
    )
    frame.loc[frame.index < SOL_LISTED, "SOL"] = np.nan
    return frame


def test_a_coin_without_history_takes_the_documented_proxy_and_no_window_is_lost(
    closes: pd.DataFrame,
) -> None:
    before = pd.Timestamp("2020-06-01", tz="UTC")
    built = scenarios.historical(closes, ("BTC", "ETH", "SOL"), before)
    alone = guaranty.historical_scenarios(closes.loc[closes.index < before, ["BTC", "ETH"]].dropna())
    assert len(built.scenarios) == len(alone) > 0  # every base window kept, none dropped
    proxy = built.proxies["SOL"]
    assert (proxy.proxy, proxy.scale) == ("ETH", scenarios.DEFAULT_SCALES["SOL"]["ETH"])
    for made, base in zip(built.scenarios, alone, strict=True):
        assert made.shocks["BTC"] == base.shocks["BTC"] and made.shocks["ETH"] == base.shocks["ETH"]
        assert made.shocks["SOL"] == max(-0.99, proxy.scale * base.shocks["ETH"])
        assert made.name.startswith(base.name) and "SOL = 1.58 x ETH" in made.name


def test_where_the_coin_has_history_its_own_moves_and_a_measured_scale_are_used(closes: pd.DataFrame) -> None:
    before = pd.Timestamp("2021-01-01", tz="UTC")
    built = scenarios.historical(closes, ("BTC", "ETH", "SOL"), before)
    daily = closes[closes.index.hour == 0]
    logs = np.log(daily).diff().dropna()
    expected = float(logs["SOL"].std() / logs["ETH"].std())  # SOL is made of ETH: ETH is its proxy
    proxy = built.proxies["SOL"]
    assert proxy.proxy == "ETH" and proxy.scale == pytest.approx(expected, rel=1e-12)
    assert proxy.source.startswith(f"measured on {len(logs)} days")
    own = proxied = 0
    for s in built.scenarios:
        end = scenarios._window_end(s.name)
        start = end - pd.Timedelta(hours=24)
        assert set(s.shocks) == {"BTC", "ETH", "SOL"}
        if start >= SOL_LISTED:
            assert s.shocks["SOL"] == pytest.approx(closes.at[end, "SOL"] / closes.at[start, "SOL"] - 1)
            assert "proxy" not in s.name
            own += 1
        else:
            assert s.shocks["SOL"] == pytest.approx(max(-0.99, expected * s.shocks["ETH"]))
            proxied += 1
    assert own and proxied
    assert any("SOL down #1" in s.name for s in built.scenarios)  # SOL's own worst day is a scenario


def test_btc_and_eth_alone_give_exactly_the_scenarios_they_gave_before(closes: pd.DataFrame) -> None:
    before = pd.Timestamp("2020-10-01", tz="UTC")
    built = scenarios.historical(closes[["BTC", "ETH"]], ("BTC", "ETH"), before)
    assert built.proxies == {}
    assert built.scenarios == guaranty.historical_scenarios(
        closes.loc[closes.index < before, ["BTC", "ETH"]].dropna(how="any")
    )


def test_a_coin_that_can_be_neither_measured_nor_proxied_is_refused(closes: pd.DataFrame) -> None:
    frame = closes.assign(XYZ=math.nan)
    with pytest.raises(ValueError, match=r"no price history for XYZ before 2020-06-01.*--data"):
        scenarios.historical(frame, ("BTC", "ETH", "XYZ"), pd.Timestamp("2020-06-01", tz="UTC"))
    assert scenarios.historical(closes, ("BTC",), pd.Timestamp("2020-01-02", tz="UTC")).scenarios == []


def test_a_coin_the_packaged_history_lacks_is_read_from_the_replays_candles() -> None:
    from backstop.feeds.replay import read_bars

    frame = scenarios.hourly_closes(("BTC", "ETH", "SOL"), tuple(default_data()))
    sol = frame["SOL"].dropna()
    assert len(sol) >= 48 and frame["BTC"].count() > 40_000
    first = next(b for p in default_data() for b in read_bars(p, coins=["SOL"]) if b.coin == "SOL")
    i = next(k for k, t in enumerate(first.open_us) if (t + first.interval_us) % 3_600_000_000 == 0)
    at = pd.Timestamp(first.open_us[i] + first.interval_us, unit="us", tz="UTC")
    assert at.minute == 0 and sol[at] == first.closes[i] / 1e8  # the first file's close at the whole hour


def test_a_replay_with_sol_keeps_its_historical_stress_scenarios() -> None:
    """The replay's own guaranty sizing, on the day SOL's minute bars ship for (2021-05-19)."""
    config = with_overrides(
        LabConfig(start="2021-05-18", end="2021-05-19", coins=("BTC", "ETH", "SOL")), traders=40
    )
    r = Replay(config)
    result = r.run()
    historical = [s for s in r.scenarios if s.kind == "historical"]
    assert len(historical) >= 10 and all(set(s.shocks) == {"BTC", "ETH", "SOL"} for s in historical)
    assert result.summary["stress_proxies"]["SOL"]["proxy"] == "ETH"
    assert result.summary["guaranty_cover1_max"] > 0
