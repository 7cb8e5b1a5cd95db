"""The risk lab's replay on real data: a few days of March 2020 (BTC fell 39% in a day) through the
engine with a small seeded population. Money is conserved, the same seed gives the same numbers
bit for bit, every liquidation is counted at exactly one tier, and the measures agree with the
engine's own ledgers."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from backstop.engine.amounts import ATOM, RATE
from backstop.engine.exchange import Exchange
from backstop.engine.margin import mark_of, position_imf
from backstop.engine.risk import assess
from backstop.feeds.base import HOUR_US, MINUTE_US
from backstop.lab import makers, sweep
from backstop.lab.intrabar import candle_path, candle_seed
from backstop.lab.population import PopulationConfig, Trader, draw_leverage, leverage_setting
from backstop.lab.replay import AHEAD, TIERS, IndexPath, Replay, hours_in, load_bars, replay
from backstop.lab.spec import LabConfig, Result, with_overrides

CRASH = with_overrides(LabConfig(start="2020-03-11", end="2020-03-14"), traders=300)


@dataclass
class Run:
    """A replay kept with its result, so tests can read the engine it ran."""

    replay: Replay
    result: Result

    @property
    def ex(self) -> Exchange:
        return self.replay.ex


@pytest.fixture(scope="module")
def crash() -> Run:
    r = Replay(CRASH)
    return Run(r, r.run())


def test_the_crash_is_replayed_solvently_and_liquidates_at_every_early_tier(crash: Run) -> None:
    s = crash.result.summary
    assert s["solvent"] is True  # wallet + unrealized + fees + fund == deposits - withdrawals, exactly
    assert s["days"] == 3
    assert s["liquidations"] >= s["accounts_liquidated"] > 20  # an account may be liquidated twice
    assert sum(s["liquidations_by_tier"].values()) == s["accounts_liquidated"]  # each at its deepest tier
    assert s["liquidations_by_tier"]["orderly"] > 0 and s["liquidations_by_tier"]["backstop"] > 0
    assert s["fee_revenue"] > 0
    assert 0 <= s["equity_returned"] <= s["equity_at_liquidation"]


def test_the_fund_measures_agree_with_the_engines_ledger(crash: Run) -> None:
    s = crash.result.summary
    history = crash.ex.insurance.history  # (ts, change, balance, reason, account)
    paid = -sum(change for _, change, _, _, _ in history if change < 0) / ATOM
    received = sum(change for _, change, _, reason, _ in history if change > 0 and reason != "seed") / ATOM
    assert s["fund_paid"] == pytest.approx(paid) and s["fund_received"] == pytest.approx(received)
    assert s["fund_net"] == pytest.approx(received - paid)
    assert s["fund_end"] == crash.ex.insurance.balance / ATOM
    daily = crash.result.daily
    assert sum(row["fund_change"] for row in daily) == pytest.approx(s["fund_net"])
    assert s["fund_max_daily_draw"] == max(row["fund_draw"] for row in daily)


def test_the_same_seed_gives_the_same_state_and_another_seed_does_not(crash: Run) -> None:
    again = replay(CRASH)
    assert again.state_hash == crash.result.state_hash
    assert again.summary == crash.result.summary
    assert again.daily == crash.result.daily  # the guaranty sizing and reverse stress columns too
    other = replay(with_overrides(CRASH, seed=2))
    assert other.state_hash != again.state_hash


def test_the_fifteen_percent_regime_sets_the_floors_and_caps_what_traders_hold() -> None:
    """At 15% IMF / 9% MMF no position may be opened beyond 1 / 15% = 6.67x of equity. (Whether that
    liquidates fewer accounts is a finding, not a rule: a 6x trader has 16.7% - 9% = 7.7% of room
    instead of 16.7% - 3%, and on this crash more accounts are liquidated, fewer reach the fund.)"""
    r = Replay(with_overrides(CRASH, margin="ftx15"))
    r.setup()
    assert {r.ex.books[m].imf_floor for m in CRASH.markets} == {15 * ATOM // 100}
    assert {r.ex.books[m].mmf_floor for m in CRASH.markets} == {9 * ATOM // 100}
    opened: list[float] = []

    def watched(ts: int, trader: Trader) -> None:
        acct = r.ex.accounts[trader.account]
        pos = acct.positions.get(trader.market)
        if pos is not None and pos.size and not acct.liquidation:
            a = assess(r.ex, acct)
            opened.append(a.notional / a.tav)  # leverage right after the decision

    r.after_decision = watched
    assert r.run().summary["solvent"] is True
    assert opened and max(opened) <= 1 / 0.15 + 0.01
    assert max(t.leverage for t in r.traders) > 7  # some wanted more than the regime allows


def test_the_index_follows_the_candle_path_through_its_low() -> None:
    series = load_bars(CRASH)["BTC"]
    assert [b.interval_us // 60_000_000 for b in series] == [5, 60]  # five-minute bars, then hourly
    hourly = series[-1]
    path = IndexPath((hourly,))
    i = hourly.open_us.index(max(t for t in hourly.open_us if t <= hourly.open_us[0] + 36 * 3_600_000_000))
    seen = [path.at(hourly.open_us[i] + m * 60_000_000) for m in range(60)]
    assert min(p for p in seen if p is not None) == hourly.lows[i]  # the low is visited on a minute
    assert max(p for p in seen if p is not None) == hourly.highs[i]


def test_hours_no_finer_bar_overlaps_are_drawn_alone_wherever_the_walk_starts() -> None:
    """`IndexPath` draws the hours after the five-minute bars end a day ahead at a time: each
    hour's minutes are still the path `intrabar` draws for that candle alone from its own
    generator, and a walk started at any later hour prices it the same, minute for minute."""
    five, hourly = load_bars(CRASH)["BTC"]
    first = min(k for k, t in enumerate(hourly.open_us) if t >= five.end_us)
    hours = range(first, len(hourly.open_us))
    assert len(hours) > AHEAD  # past the first batch
    walk = IndexPath((five, hourly), seed=3)
    walked = {
        i: [walk.at(hourly.open_us[i] + m * MINUTE_US) for m in range(60)]
        for i in range(first - 2, hours.stop)
    }
    for i in hours:
        t0 = hourly.open_us[i]
        alone = candle_path(
            candle_seed(3, "BTC", HOUR_US, t0),
            hourly.opens[i],
            hourly.highs[i],
            hourly.lows[i],
            hourly.closes[i],
            HOUR_US / MINUTE_US,
        )
        assert walked[i] == alone[:60]
    for i in (hours[5], hours[AHEAD - 1], hours[-1]):
        late = IndexPath((five, hourly), seed=3)
        assert [late.at(hourly.open_us[i] + m * MINUTE_US) for m in range(60)] == walked[i]


def test_the_finest_candle_covering_an_instant_prices_it() -> None:
    """Binance's five-minute BTC bars end at 2020-03-12 21:15: before, they price the index (their
    own low on the minute); after, the hourly candle's path carries on from their last close, inside
    the hour's low and high, to the next hour's open, without a jump at the seam."""
    five, hourly = load_bars(CRASH)["BTC"]
    path = IndexPath((five, hourly))
    j = five.open_us.index(
        min(five.open_us[k] for k in range(len(five.open_us)) if five.lows[k] == min(five.lows))
    )
    prices = [path.at(five.open_us[j] + s * 1_000_000) for s in range(0, 300, 20)]
    assert min(prices) == five.lows[j]
    h = max(k for k, t in enumerate(hourly.open_us) if t <= five.end_us)
    assert hourly.open_us[h] < five.end_us < hourly.open_us[h] + hourly.interval_us  # inside the hour
    assert path.at(five.end_us) == five.closes[-1]  # the seam: the rest starts where the bars stopped
    rest = [path.at(t) for t in range(five.end_us, hourly.open_us[h + 1], 60_000_000)]
    assert all(hourly.lows[h] <= p <= hourly.highs[h] for p in rest if p is not None)
    assert path.at(hourly.open_us[h + 1]) == hourly.opens[h + 1]


def test_the_leverage_distribution_has_ftxs_mean_and_a_thin_tail_to_the_cap() -> None:
    import random

    config = PopulationConfig()
    rng = random.Random(5)
    draws = [draw_leverage(rng, config) for _ in range(50_000)]
    assert sum(draws) / len(draws) == pytest.approx(2.0, rel=0.03)  # SBF: about 2x on average
    assert max(draws) <= 20
    assert 0.003 < sum(d > 10 for d in draws) / len(draws) < 0.02  # the tail beyond 10x: about 1%
    assert (
        leverage_setting(0.4, 20) == 1 and leverage_setting(2.01, 20) == 3 and leverage_setting(25, 20) == 20
    )


def test_a_sweep_in_parallel_gives_the_numbers_of_a_sweep_in_series() -> None:
    short = with_overrides(LabConfig(start="2020-03-12", end="2020-03-13"), traders=100)
    configs = sweep.grid(short, {"seed": [1, 2], "margin": ["ftx5", "ftx15"]})
    assert [(c.seed, c.margin) for c in configs] == [(1, "ftx5"), (1, "ftx15"), (2, "ftx5"), (2, "ftx15")]
    assert sweep.run(configs, workers=2) == sweep.run(configs, workers=1)


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        LabConfig(margin="ftx99")
    with pytest.raises(ValueError, match="model"):
        LabConfig(model="cme")
    with pytest.raises(ValueError, match="before"):
        LabConfig(start="2021-01-02", end="2021-01-01")
    with pytest.raises(ValueError, match="no candles"):
        load_bars(LabConfig(start="2030-01-01", end="2030-02-01"))
    assert TIERS[0] == "orderly" and TIERS[-1] == "clawback"


def test_a_sweep_on_a_dask_cluster_gives_the_numbers_of_a_sweep_in_series() -> None:
    """A real local Dask cluster (scheduler and two worker processes on loopback), reached by its
    address as `backstop lab sweep --cluster` reaches a remote one."""
    from dask.distributed import LocalCluster

    short = with_overrides(LabConfig(start="2020-03-12", end="2020-03-13"), traders=60)
    configs = sweep.grid(short, {"seed": [1, 2, 3]})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = sweep.run(configs, cluster=cluster.scheduler_address)
    assert on_cluster == sweep.run(configs, workers=1)


def test_the_lab_builds_without_products_on_a_catalog_lacking_their_perps() -> None:
    """Leveraged tokens need BTC-PERP and ETH-PERP; a BTC-only lab builds (without products, the
    lab's choice) and lists no token."""
    r = Replay(with_overrides(LabConfig(start="2020-03-12", end="2020-03-13", coins=("BTC",)), traders=10))
    assert r.ex.products == () and "ETH-PERP" not in r.ex.books and "BULL/USD" not in r.ex.books


def test_the_daily_guaranty_columns_count_losses_beyond_margin_and_name_the_members(crash: Run) -> None:
    for row in crash.result.daily:
        # a member's margin posted, min(equity, IM), is at most its equity: beyond IM every loss
        # is at least the loss beyond equity, so is the sum of the n largest
        for n in (1, 2, 3):
            assert row[f"cover{n}"] >= row[f"cover{n}_equity"] - 1e-6
        assert row["cover1"] <= row["cover2"] <= row["cover3"]
        assert row["im_rule"] == pytest.approx(0.1 * row["total_im"])
        assert row["guaranty_fund"] == max(row["im_rule"], row["cover2"])
        assert row["guaranty_fund_equity"] == max(row["im_rule"], row["cover2_equity"])
        # EMIR 42(3) lies between Cover-1 and Cover-3 (max(L1, L2 + L3) in the worst scenario)
        assert row["cover1"] - 1e-6 <= row["emir_default_fund"] <= row["cover3"] + 1e-6
        named = [row[f"cover2_member{k}"] for k in (1, 2) if row[f"cover2_member{k}"]]
        assert named and len(set(named)) == len(named)
        assert sum(row[f"cover2_member{k}_loss"] for k in (1, 2)) == pytest.approx(row["cover2"])
        roles = [row[f"cover2_member{k}_role"] for k in (1, 2) if row[f"cover2_member{k}"]]
        assert set(roles) <= {"maker", "trader", "blp", "operator"}
        assert row["cover2_maker"] == ("maker" in roles)
        for k in (1, 2):
            if row[f"cover2_member{k}_role"] == "maker":  # makers are owned as maker-<market>
                assert row[f"cover2_member{k}"].startswith("maker-")
        # the day's own fund is exhausted by some move no larger than 100% down (it covers Cover-2)
        moves = [v for key, v in row.items() if key.startswith("reverse_lab_") and v is not None]
        assert moves and min(moves) <= 1.0
    s = crash.result.summary
    assert s["guaranty_cover2_equity_max"] <= s["guaranty_cover2_max"]
    assert s["guaranty_maker_in_cover2_days"] == sum(row["cover2_maker"] for row in crash.result.daily)


def test_affiliated_owners_default_together() -> None:
    """The makers of both markets as one firm: one member, named as the group, with the equity and
    initial margin of both accounts as the engine has them, and never named apart in Cover-2.
    (Their positions net, so the group may lose less than its parts: a loss on one coin offsets a
    gain on the other.)"""
    from backstop.lab.exposure import account_exposures
    from backstop.lab.guaranty import aggregate_rows

    linked = Replay(with_overrides(CRASH, end="2020-03-13"))
    linked.affiliates = {"maker-*": "makers"}
    last = linked.run().daily[-1]  # sized at the end of 2020-03-12: the engine's final state
    assert last["date"] == "2020-03-12"
    makers = [linked.ex.accounts[i] for i in sorted(linked.maker_ids)]
    assert [m.owner for m in makers] == ["maker-BTC-PERP", "maker-ETH-PERP"]
    equity = sum(assess(linked.ex, m).tav for m in makers) / ATOM
    im = 0
    for m in makers:
        for pos in m.positions.values():
            if pos.size:
                notional = abs(pos.size) * mark_of(pos.book) * pos.book.info.tick_value
                im += (
                    notional
                    * position_imf(pos.book.info, abs(pos.size), m.leverage, pos.book.imf_floor)
                    // RATE
                )
    x = account_exposures(linked.ex)
    owners = x.owners()
    agg = aggregate_rows([linked._affiliate(o) for o in owners], x.holdings, x.collateral, x.initial_margin)
    assert "makers" in agg.keys and not any(k.startswith("maker-") for k in agg.keys)
    k = agg.keys.index("makers")
    assert sorted(owners[r] for r in agg.rows[k]) == ["maker-BTC-PERP", "maker-ETH-PERP"]
    assert agg.collateral[k] == pytest.approx(equity, rel=1e-12)
    assert agg.initial_margin[k] == pytest.approx(im / ATOM, rel=1e-12)
    assert not any(last[f"cover2_member{j}"].startswith("maker-") for j in (1, 2))
    if "makers" in (last["cover2_member1"], last["cover2_member2"]):
        j = 1 if last["cover2_member1"] == "makers" else 2
        assert last[f"cover2_member{j}_equity"] == pytest.approx(equity, rel=1e-12)
        assert last[f"cover2_member{j}_role"] == "maker" and last["cover2_maker"]


# ------------------------------------------------------------------ tiers, days and progress

SHORT = with_overrides(LabConfig(start="2020-03-12", end="2020-03-14", guaranty=False), traders=300)


def _payees(r: Replay) -> tuple[set[int], set[int]]:
    """From the fund's own ledger: the accounts it paid for, and those it paid beyond its balance."""
    history = r.ex.insurance.history  # (ts, change, balance, reason, account)
    paid = {account for _, change, _, _, account in history if change < 0}
    beyond = {account for _, change, balance, _, account in history if change < 0 and balance < 0}
    return paid, beyond


@pytest.mark.parametrize("model", ["ftx", "bitmex", "okex"])
@pytest.mark.parametrize("fund", [250_000_000, 0])
def test_every_model_counts_the_accounts_the_fund_paid_for_at_the_fund_tiers(model: str, fund: int) -> None:
    """BitMEX's takeover and OKEx's dump end with the fund paying a bankrupt account's deficit
    without any auto-close: those accounts were counted at the book tier, and the fund tier read 0
    while the fund paid. The tiers now follow the fund's ledger under every model; with an empty
    fund, an account paid for beyond its balance is at the clawback tier (and no other is)."""
    r = Replay(with_overrides(SHORT, model=model, fund_start_usd=fund))
    s = r.run().summary
    paid, beyond = _payees(r)
    assert s["fund_paid"] > 0 and paid
    deepest = r.tally.deepest
    assert {a for a, tier in deepest.items() if tier >= TIERS.index("fund")} == paid
    assert {a for a, tier in deepest.items() if tier == TIERS.index("clawback")} == beyond
    tiers = s["liquidations_by_tier"]
    assert tiers["fund"] + tiers["clawback"] == len(paid)
    assert sum(tiers.values()) == s["accounts_liquidated"] == len(deepest)
    assert sum(s["episodes_by_tier"].values()) == s["liquidations"] >= s["accounts_liquidated"]
    assert tiers["clawback"] == len(beyond)
    if fund == 0 and model == "ftx":  # with no fund, this crash is paid for beyond it: the tier is reached
        assert beyond


def test_the_days_count_accounts_and_episodes_apart_and_keep_the_money_exact(crash: Run) -> None:
    result = crash.result
    daily, atoms = result.daily, result.daily_atoms
    assert len(atoms) == len(daily) == 3
    for row, exact in zip(daily, atoms, strict=True):
        # the float columns are the exact atoms in USD, to the float's last place or so: the
        # mypyc-compiled driver divides two large integers as floats (2.5e16 atoms pass 2**53)
        assert {k: row[k] for k in exact} == {k: pytest.approx(v / ATOM, rel=1e-15) for k, v in exact.items()}
        assert 0 <= row["accounts_liquidated"] <= row["liquidation_episodes"]
    s = result.summary
    assert sum(row["liquidation_episodes"] for row in daily) == s["liquidations"]
    assert sum(row["accounts_liquidated"] for row in daily) >= s["accounts_liquidated"]
    assert atoms[-1]["fund"] - CRASH.fund_start_usd * ATOM == sum(day["fund_change"] for day in atoms)


def test_progress_counts_every_simulated_hour_against_the_right_total() -> None:
    """The bar counted 0/1 .. 456/1: the command gave 1 as the total and the replay's total was
    off by one hour when the start is not on the hour."""
    config = with_overrides(
        LabConfig(start="2020-03-12T00:30:00Z", end="2020-03-12T03:15:00Z", guaranty=False), traders=20
    )
    seen: list[tuple[int, int]] = []
    replay(config, lambda done, total: seen.append((done, total)))
    assert hours_in(config) == 4  # 00:00 (from 00:30), 01:00, 02:00, 03:00 (to 03:15)
    assert seen == [(n, 4) for n in range(1, 5)]


def test_a_sweep_in_processes_reports_the_hours_of_all_its_replays_and_the_same_numbers() -> None:
    short = with_overrides(LabConfig(start="2020-03-12", end="2020-03-13", guaranty=False), traders=40)
    configs = sweep.grid(short, {"seed": [1, 2, 3]})
    seen: list[tuple[int, int]] = []
    parallel = sweep.run(configs, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert parallel == sweep.run(configs, workers=1)
    assert {total for _, total in seen} == {72}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never backwards
    assert seen[-1] == (72, 72) and len(seen) > 3  # hour by hour, not only per replay


def test_a_replay_stepped_in_pieces_alternately_with_another_gives_the_result_of_one_run() -> None:
    """`bench lab` steps a replay and its no-trader baseline a day at a time, alternately, in one
    process: each must give the `Result` of its own `run()` in one go, bit for bit, wherever the
    span is cut (here every 7 h 30 min, across the day's end and the crash's per-second rounds)."""
    config = with_overrides(SHORT, traders=200)
    configs = (config, with_overrides(config, traders=0))
    whole = [replay(c) for c in configs]
    bars = load_bars(config)
    stepped = [Replay(c, bars) for c in configs]
    for r in stepped:
        r.begin()
    start, end = stepped[0].start_us, stepped[0].end_us
    with pytest.raises(ValueError, match="has not reached its end"):
        stepped[0].finish()
    cut = 450 * 60 * 1_000_000
    for n, until in enumerate(range(start + cut, end + cut, cut)):
        for r in stepped[n % 2 :] + stepped[: n % 2]:  # the order rotating, as the bench does
            r.advance(until)
    results = [r.finish() for r in stepped]
    assert [r.commands for r in stepped] == [w.summary["commands"] for w in whole]
    assert whole[0].summary["liquidations"] > 0 and whole[0].summary != whole[1].summary
    for got, want in zip(results, whole, strict=True):
        assert got.summary == want.summary
        assert got.daily == want.daily and got.daily_atoms == want.daily_atoms
        assert got.fund_path == want.fund_path
        assert got.state_hash == want.state_hash


def test_a_configuration_and_a_makers_quotes_survive_pickling() -> None:
    """A sweep's or a cluster's workers get the configuration pickled. Compiled (mypyc), the frozen
    population and the makers' plain quote classes pickle through their constructors."""
    config = with_overrides(LabConfig(start="2021-01-01", end="2021-01-02"), traders=7, herding=0.2)
    again = pickle.loads(pickle.dumps(config))
    assert again == config and again.population.traders == 7 and hash(again) == hash(config)
    trader = Trader(3, "BTC-PERP", 5_000.0, 2.0, 0, markets=("BTC-PERP", "ETH-PERP"))
    assert pickle.loads(pickle.dumps(trader)) == trader
    q = makers.quotes(config.population, 1e6, 2e7, 1e7, 5e5, 2.0, 1e4, 0.0)
    back = pickle.loads(pickle.dumps(q))
    assert (back.shift, back.bids.levels, back.asks.levels) == (q.shift, q.bids.levels, q.asks.levels)
