"""`--regime ftx`: FTX's dated leverage cap, its 101x-era maintenance floor, the leverage
distribution against SBF's statements, coin collateral at FTX's weights, several markets on one
account, the behavioural rules by hand, and the same seed giving the same state."""

from __future__ import annotations

import math

import pytest

from backstop.catalog import load
from backstop.engine.amounts import RATE, mul_div
from backstop.engine.commands import CreateAccount, SetLeverage
from backstop.engine.events import Rejected
from backstop.engine.margin import collateral, mark_of, position_mmf
from backstop.feeds.base import utc_us
from backstop.lab import regime
from backstop.lab.population import leverage_setting
from backstop.lab.replay import Replay, replay
from backstop.lab.spec import LabConfig, with_overrides, with_regime
from backstop.products import exchange


def test_the_leverage_cap_by_date() -> None:
    assert regime.max_leverage_on(utc_us("2020-03-12T00:00:00Z")) == 101
    assert regime.max_leverage_on(utc_us("2021-07-24T23:59:59Z")) == 101
    assert regime.max_leverage_on(utc_us("2021-07-25T00:00:00Z")) == 20
    assert regime.max_leverage_on(utc_us("2022-01-01T00:00:00Z")) == 20


def test_leverage_settings_above_twenty_are_fifty_or_the_cap() -> None:
    assert [leverage_setting(x, 101) for x in (0.4, 2.3, 20.0, 20.5, 50.0, 60.0)] == [1, 3, 20, 50, 50, 101]
    assert leverage_setting(60.0, 20) == 20 and regime.leverage_setting(35.0, 101) == 50


def test_the_leverage_distribution_matches_sbf() -> None:
    """Mean 2x (~2x), and above 20x 0.05% of traders and 0.66% of notional (way under 1%)."""
    traders, notional = regime.share_above(20.0)
    mu = math.log(2.0) - 0.32  # ln(mean) - sigma^2 / 2
    z = (math.log(20.0) - mu) / 0.8  # 3.2782
    assert z == pytest.approx(3.2782, abs=1e-4)
    assert traders == pytest.approx(0.000522, abs=2e-6)  # 1 - Phi(3.2782)
    assert notional == pytest.approx(0.00660, abs=2e-5)  # 1 - Phi(2.4782)
    assert traders < 0.01 and notional < 0.01
    assert regime.share_above(10.0)[0] == pytest.approx(0.0080, abs=1e-4)  # the old "1% above 10x"


def test_the_maintenance_floor_above_twenty_x() -> None:
    btc = load().markets["BTC-PERP"]
    assert position_mmf(btc, 10_000, 0, 20) == 3 * RATE // 100
    assert position_mmf(btc, 10_000, 0, 101) == 6 * RATE // 1000  # ACMF 0.3% (help.ftx.com BLP page)
    assert position_mmf(btc, 10_000, 0, 50) == 6 * RATE // 1000


def test_101x_needs_the_labs_catalog() -> None:
    ex = exchange(load(), seed=1, products=())
    ex.apply(CreateAccount(1, "a"))
    assert isinstance(ex.apply(SetLeverage(2, 0, 101))[0], Rejected)  # live default: 20x
    lab = regime.lab_catalog(load(), ("BTC", "FTT"), 101, 1)
    assert lab.risk.max_leverage == 101 and "FTT-PERP" in lab.markets
    ex = exchange(lab, seed=1, products=())
    ex.apply(CreateAccount(1, "a"))
    assert not isinstance(ex.apply(SetLeverage(2, 0, 101))[0], Rejected)
    assert ex.accounts[0].leverage == 101


def test_activity_herding_and_top_ups_by_hand() -> None:
    assert regime.activity(4.0, 1.0, 0.8) == pytest.approx(2**0.8)  # 1.7411
    assert regime.activity(1000.0, 1.0, 0.8) == pytest.approx(10**0.8)  # clipped at 10x
    assert regime.activity(0.01, 1.0, 0.8) == pytest.approx((1 / 3) ** 0.8)
    assert regime.activity(4.0, 1.0, 0.0) == 1.0
    assert regime.long_probability(0.5, 0.05, 0.05, 0.1) == pytest.approx(0.5 + 0.1 * math.tanh(1.0))
    assert regime.long_probability(0.5, 0.05, 0.05, 0.0) == 0.5
    assert regime.wants_top_up(150, 100, 2.0) and not regime.wants_top_up(250, 100, 2.0)
    assert not regime.wants_top_up(0, 100, 2.0) and not regime.wants_top_up(150, 100, 0.0)
    assert regime.draw_weighted(0.0, (("USD", 3.0), ("BTC", 1.0))) == "USD"
    assert regime.draw_weighted(0.8, (("USD", 3.0), ("BTC", 1.0))) == "BTC"


def test_the_volume_elasticity_is_what_the_data_says() -> None:
    assert regime.measure_volume_elasticity("BTC") == pytest.approx(0.69, abs=0.02)
    assert regime.measure_volume_elasticity("ETH") == pytest.approx(0.90, abs=0.02)


def test_with_regime_sets_ftxs_population_markets_and_margin() -> None:
    c = with_regime(LabConfig(), "ftx")
    assert c.coins == ("BTC", "ETH", "SOL", "FTT") and c.margin == "ftx" and c.regime == "ftx"
    p = c.population
    assert p.max_leverage == 101 and p.mean_leverage == 2.0 and p.volume_elasticity == 0.8
    assert p.collateral_mix and p.markets_per_trader == (0.5, 0.3, 0.2)


SHORT = LabConfig(start="2020-03-02", end="2020-03-03", coins=("BTC", "ETH", "FTT"), guaranty=False)


def test_coin_collateral_counts_at_ftxs_weights() -> None:
    config = with_overrides(SHORT, traders=6, collateral_mix=(("BTC", 1.0), ("ETH", 1.0)), margin="ftx")
    r = Replay(config)
    r.setup()
    assert {t.coin for t in r.traders} == {"BTC", "ETH"}
    for t in r.traders:
        acct = r.ex.accounts[t.account]
        assert acct.usd == 0 and acct.balances[t.coin] > 0
        book = r.ex.coin_books[t.coin]
        value = book.info.coin_value(acct.balances[t.coin], mark_of(book))
        weights = {"BTC": (97_500_000, 95_000_000), "ETH": (95_000_000, 90_000_000)}[t.coin]  # H-COLL
        assert collateral(r.ex, acct, initial=False) == mul_div(value, weights[0], RATE)
        assert collateral(r.ex, acct, initial=True) == mul_div(value, weights[1], RATE)
        # deposited at the index, valued at the spot book's mark (its maker's ladder): within 4 bp
        assert value / 1e8 == pytest.approx(t.collateral_usd, rel=5e-4)


def test_traders_hold_several_markets_on_one_account() -> None:
    config = with_overrides(SHORT, traders=20, markets_per_trader=(0.0, 0.0, 1.0), margin="ftx")
    r = Replay(config)
    r.run()
    assert all(len(t.markets) == 3 and len(set(t.markets)) == 3 for t in r.traders)
    several = 0
    for t in r.traders:
        held = {m for m, pos in r.ex.accounts[t.account].positions.items() if pos.size}
        assert held <= set(t.markets)
        several += len(held) >= 2
    assert several >= 10


def test_the_cap_falls_to_twenty_x_on_2021_07_25() -> None:
    config = with_regime(
        with_overrides(LabConfig(start="2021-07-24", end="2021-07-26", guaranty=False), traders=30), "ftx"
    )
    r = Replay(config)
    r.setup()
    t = r.traders[0]
    t.leverage = 80.0
    r.send(SetLeverage(r.start_us, t.account, 101))
    assert r.leverage_cap == 101 and r.ex.accounts[t.account].leverage == 101
    result = r.run()
    assert r.leverage_cap == 20 and t.leverage == 20.0
    assert max(r.ex.accounts[x.account].leverage for x in r.traders) <= 20
    assert result.summary["solvent"] is True


def test_the_same_seed_gives_the_same_state_in_ftxs_regime_at_scale() -> None:
    config = with_overrides(
        with_regime(LabConfig(start="2020-03-02", end="2020-03-03", guaranty=False, scale_to="ftx"), "ftx"),
        traders=60,
    )
    a, b = replay(config), replay(config)
    assert a.state_hash == b.state_hash and a.summary == b.summary and a.daily == b.daily
    assert a.summary["scale_k"] > 1 and a.summary["regime"] == "ftx"
    assert replay(with_overrides(config, seed=2)).state_hash != a.state_hash


def test_the_command_line_turns_on_ftxs_regime_and_keeps_explicit_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    import backstop.lab.replay as driver
    from backstop.lab.cli import lab

    seen: list[LabConfig] = []

    def capture(config: LabConfig, *args: object, **kwargs: object) -> None:
        seen.append(config)
        raise ValueError("captured")

    monkeypatch.setattr(driver, "replay", capture)
    args = ["replay", "--regime", "ftx", "--scale-to", "ftx", "--leverage", "3", "--json"]
    done = CliRunner().invoke(lab, args)
    assert "captured" in done.output
    c = seen[0]
    assert c.regime == "ftx" and c.scale_to == "ftx" and c.margin == "ftx" and c.coins == regime.FTX_COINS
    assert c.population.mean_leverage == 3.0  # given: kept over the regime's 2x
    assert c.population.max_leverage == 101 and c.population.herding == regime.HERDING  # the regime's
    CliRunner().invoke(lab, ["replay", "--json"])
    assert seen[1].regime == "lab" and seen[1].population.max_leverage == 20 and not seen[1].scale_to
