"""Guaranty fund sizing: stress losses, Cover-n, affiliates, the 10%-of-IM rule and scenarios.

Expected figures are worked by hand in the comments (prices x sizes x shocks minus collateral); the
real-data figures are rows copied from the shipped Binance CSV.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.lab.guaranty import (
    FUSD_FUND_USD,
    MAX_RISE,
    Member,
    Scenario,
    aggregate_by_owner,
    aggregate_rows,
    cover_n,
    daily_sizing,
    default_directions,
    fund_size,
    fund_size_arrays,
    historical_scenarios,
    hypothetical_scenarios,
    reverse_stress,
    reverse_stress_arrays,
    reverse_stress_funds,
    stress_loss,
)

DATA = (
    Path(__file__).resolve().parents[2]
    / "src/backstop/lab/data/binance_spot_1h_BTCUSDT_ETHUSDT_2017-08_2023-03.csv.gz"
)
PRICES = {"BTC": 10_000.0, "ETH": 1_000.0}


def hypo(name: str, **shocks: float) -> Scenario:
    return Scenario(name, "hypothetical", {"BTC": 0.0, "ETH": 0.0, **shocks})


def load_closes() -> pd.DataFrame:
    """Hourly closes, one column per coin (BTC, ETH), indexed by the candle's UTC open time."""
    raw = pd.read_csv(DATA)
    raw["t"] = pd.to_datetime(raw["open_time_utc"], utc=True)
    closes = raw.pivot(index="t", columns="symbol", values="close")
    return closes.rename(columns=lambda s: s.removesuffix("USDT"))


# --- stress loss ---------------------------------------------------------------------------------


def test_stress_loss_long_and_short_with_collateral_absorbing_part() -> None:
    crash = hypo("down", BTC=-0.5, ETH=-0.5)
    squeeze = hypo("up", BTC=0.5, ETH=0.5)
    # Long 2 BTC at 10,000 = 20,000 notional; -50% -> PnL -10,000. Equity 4,000 absorbs part:
    # the fund bears 10,000 - 4,000 = 6,000.
    long = Member("long", {"BTC": 2.0}, collateral=4_000.0, initial_margin=3_000.0)
    assert stress_loss(long, crash, PRICES, beyond="equity") == pytest.approx(6_000.0)
    # Counting only the 3,000 IM as the member's resource (the default): 10,000 - 3,000 = 7,000.
    assert stress_loss(long, crash, PRICES) == pytest.approx(7_000.0)
    assert stress_loss(long, crash, PRICES, beyond="margin") == pytest.approx(7_000.0)
    # A long gains when prices rise: nothing for the fund.
    assert stress_loss(long, squeeze, PRICES) == 0.0

    # Short 10 ETH at 1,000 = 10,000 notional; +50% -> PnL -5,000; equity 1,500 -> 3,500.
    short = Member("short", {"ETH": -10.0}, collateral=1_500.0, initial_margin=1_000.0)
    assert stress_loss(short, squeeze, PRICES, beyond="equity") == pytest.approx(3_500.0)
    assert stress_loss(short, squeeze, PRICES, beyond="margin") == pytest.approx(4_000.0)
    assert stress_loss(short, crash, PRICES) == 0.0
    # Enough equity (5,500 > 5,000) absorbs the whole loss; beyond its 1,000 IM, 4,000 is left.
    rich_short = Member("rich", {"ETH": -10.0}, collateral=5_500.0, initial_margin=1_000.0)
    assert stress_loss(rich_short, squeeze, PRICES, beyond="equity") == 0.0
    assert stress_loss(rich_short, squeeze, PRICES) == pytest.approx(4_000.0)


def test_an_account_below_its_initial_margin_has_posted_only_its_equity() -> None:
    # Long 2 BTC (20,000), IM 3,000 required but equity only 1,200 (it lost since): margin posted
    # min(1,200, 3,000) = 1,200. -50% takes 10,000: the fund bears 10,000 - 1,200 = 8,800 either way.
    thin = Member("thin", {"BTC": 2.0}, collateral=1_200.0, initial_margin=3_000.0)
    crash = hypo("down", BTC=-0.5)
    assert stress_loss(thin, crash, PRICES) == pytest.approx(8_800.0)
    assert stress_loss(thin, crash, PRICES, beyond="equity") == pytest.approx(8_800.0)
    # Already bankrupt (equity -500): its hole is the fund's too, 10,000 + 500 = 10,500.
    bust = Member("bust", {"BTC": 2.0}, collateral=-500.0, initial_margin=3_000.0)
    assert stress_loss(bust, crash, PRICES) == pytest.approx(10_500.0)
    with pytest.raises(ValueError, match="margin"):
        cover_n([thin], [crash], PRICES, 1, beyond="im")  # type: ignore[arg-type]


def test_a_scenario_that_does_not_move_a_held_coin_is_refused() -> None:
    member = Member("m", {"SOL": 1.0}, collateral=0.0, initial_margin=0.0)
    with pytest.raises(KeyError, match="SOL"):
        stress_loss(member, hypo("down", BTC=-0.5), {**PRICES, "SOL": 20.0})
    with pytest.raises(KeyError, match="SOL"):
        cover_n([member], [hypo("down", BTC=-0.5)], {**PRICES, "SOL": 20.0}, 1)


# --- Cover-n -------------------------------------------------------------------------------------

# Scenario A: BTC -50%. Scenario B: ETH +50%. BTC 10,000, ETH 1,000.
# alice: long 40 BTC (A takes 40 x 10,000 x 0.5 = 200,000), equity 100,000.
#        A: 200,000 - 100,000 = 100,000.   B: no ETH -> 0.
# bob:   long 12 BTC, short 220 ETH, equity 50,000.
#        A: 12 x 10,000 x 0.5 = 60,000 lost -> 10,000.   B: 220 x 1,000 x 0.5 = 110,000 -> 60,000.
# carol: short 120 ETH, no equity.   A: 0.   B: 120 x 1,000 x 0.5 = 60,000.
# Cover-1: A = 100,000 (alice) beats B = 60,000       -> A, alice.
# Cover-2: A = 100,000 + 10,000 = 110,000; B = 60,000 + 60,000 = 120,000 -> B, bob and carol.
# Cover-3: A = 110,000 + 0; B = 120,000 + 0 (alice)     -> B, 120,000.
ALICE = Member("alice", {"BTC": 40.0}, collateral=100_000.0, initial_margin=80_000.0)
BOB = Member("bob", {"BTC": 12.0, "ETH": -220.0}, collateral=50_000.0, initial_margin=40_000.0)
CAROL = Member("carol", {"ETH": -120.0}, collateral=0.0, initial_margin=0.0)
SCENARIO_A = hypo("A: BTC -50%", BTC=-0.5)
SCENARIO_B = hypo("B: ETH +50%", ETH=0.5)


def test_cover_2_picks_its_own_worst_scenario_and_its_two_largest_members() -> None:
    members = [ALICE, BOB, CAROL]
    scenarios = [SCENARIO_A, SCENARIO_B]

    one = cover_n(members, scenarios, PRICES, 1, "equity")
    assert one.scenario == "A: BTC -50%"
    assert one.members == ("alice",)
    assert one.loss == pytest.approx(100_000.0)

    two = cover_n(members, scenarios, PRICES, 2, "equity")
    assert two.scenario == "B: ETH +50%"
    assert set(two.members) == {"bob", "carol"}
    assert two.member_losses == pytest.approx((60_000.0, 60_000.0))
    assert two.loss == pytest.approx(120_000.0)

    # Only two members lose anything in B, so Cover-3 adds nothing and names no-one else.
    three = cover_n(members, scenarios, PRICES, 3, "equity")
    assert three.scenario == "B: ETH +50%"
    assert three.loss == pytest.approx(120_000.0)
    assert set(three.members) == {"bob", "carol"}


def test_cover_2_beyond_initial_margin_names_its_members_with_loss_im_and_equity() -> None:
    # Beyond IM (alice 80,000, bob 40,000, carol 0; each below its equity):
    #   A (BTC -50%): alice 200,000 - 80,000 = 120,000; bob 60,000 - 40,000 = 20,000; carol 0.
    #   B (ETH +50%): bob 110,000 - 40,000 = 70,000; carol 60,000 - 0 = 60,000; alice 0.
    # Cover-1: A, alice 120,000 (beyond equity it was 100,000).
    # Cover-2: A = 140,000 beats B = 130,000, so alice and bob (beyond equity: B, bob and carol).
    # EMIR 42(3): A max(120,000, 20,000 + 0) = 120,000; B max(70,000, 60,000 + 0) -> 120,000.
    members = [ALICE, BOB, CAROL]
    scenarios = [SCENARIO_A, SCENARIO_B]
    one = cover_n(members, scenarios, PRICES, 1)
    assert (one.scenario, one.members, one.loss) == ("A: BTC -50%", ("alice",), pytest.approx(120_000.0))
    two = cover_n(members, scenarios, PRICES, 2)
    assert two.scenario == "A: BTC -50%"
    assert two.members == ("alice", "bob")
    assert two.member_losses == pytest.approx((120_000.0, 20_000.0))
    assert two.member_im == (80_000.0, 40_000.0)
    assert two.member_equity == (100_000.0, 50_000.0)
    assert two.loss == pytest.approx(140_000.0)
    sizing = fund_size(members, scenarios, PRICES)
    assert sizing.beyond == "margin"
    assert [c.loss for c in sizing.combined] == pytest.approx([120_000.0, 140_000.0, 140_000.0])
    assert sizing.emir_default_fund == pytest.approx(120_000.0)
    named = json.loads(json.dumps(sizing.as_dict()))["combined"][1]["members"]
    assert named == [
        {"member": "alice", "loss": 120_000.0, "initial_margin": 80_000.0, "equity": 100_000.0},
        {"member": "bob", "loss": 20_000.0, "initial_margin": 40_000.0, "equity": 50_000.0},
    ]


def test_emirs_default_fund_rule_takes_the_second_and_third_when_they_are_larger() -> None:
    # One scenario, BTC -50%, no resources: losses 100,000 (10 BTC), 60,000 (6), 50,000 (5):
    # max(100,000, 60,000 + 50,000) = 110,000. With the third at 30,000 (3 BTC): 100,000.
    crash = hypo("down", BTC=-0.5)

    def sized(*btc: float) -> float:
        members = [Member(f"m{i}", {"BTC": b * 2}, 0.0, 0.0) for i, b in enumerate(btc)]
        return fund_size(members, [crash], PRICES).emir_default_fund

    assert sized(10, 6, 5) == pytest.approx(110_000.0)
    assert sized(10, 6, 3) == pytest.approx(100_000.0)
    assert sized(10) == pytest.approx(100_000.0)
    assert sized(10, 6) == pytest.approx(100_000.0)


def test_cover_n_with_no_loss_names_no_scenario() -> None:
    flat = Member("flat", {}, collateral=10.0, initial_margin=0.0)
    result = cover_n([flat], [SCENARIO_A], PRICES, 2)
    assert (result.loss, result.scenario, result.members) == (0.0, None, ())


def test_cover_n_refuses_an_owner_listed_twice() -> None:
    with pytest.raises(ValueError, match="aggregate_by_owner"):
        cover_n([ALICE, ALICE], [SCENARIO_A], PRICES, 1)


# --- affiliates ----------------------------------------------------------------------------------


def test_affiliates_count_as_one_member_and_their_positions_net() -> None:
    crash = hypo("BTC -50%", BTC=-0.5)
    accounts = [
        Member("desk-long", {"BTC": 10.0}, collateral=10_000.0, initial_margin=5_000.0),
        Member("desk-short", {"BTC": -4.0, "ETH": 3.0}, collateral=10_000.0, initial_margin=4_000.0),
        Member("retail", {"BTC": 1.0}, collateral=1_000.0, initial_margin=1_000.0),
    ]
    # Apart: desk-long loses 10 x 10,000 x 0.5 = 50,000 - 10,000 = 40,000: the largest exposure.
    assert cover_n(accounts, [crash], PRICES, 1, "equity").loss == pytest.approx(40_000.0)

    merged = aggregate_by_owner(accounts, {"desk-long": "fund", "desk-short": "fund"})
    assert [m.name for m in merged] == ["fund", "retail"]
    fund = merged[0]
    # One owner: BTC nets to 10 - 4 = 6 long, ETH 3 carried over; equity 20,000, IM 9,000.
    assert fund.positions == {"BTC": 6.0, "ETH": 3.0}
    assert fund.collateral == 20_000.0
    assert fund.initial_margin == 9_000.0
    # Together: 6 x 10,000 x 0.5 = 30,000 lost, less 20,000 equity = 10,000.
    assert stress_loss(fund, crash, PRICES, "equity") == pytest.approx(10_000.0)
    # retail: 1 x 10,000 x 0.5 = 5,000 - 1,000 = 4,000; Cover-2 = 10,000 + 4,000.
    assert cover_n(merged, [crash], PRICES, 2, "equity").loss == pytest.approx(14_000.0)
    # Beyond IM: the fund 30,000 - 9,000 = 21,000, retail 5,000 - min(1,000, 1,000) = 4,000.
    assert cover_n(merged, [crash], PRICES, 2).loss == pytest.approx(25_000.0)

    # Fully offsetting accounts leave no position at all.
    hedged = aggregate_by_owner(
        [Member("a", {"BTC": 5.0}, 0.0, 0.0), Member("b", {"BTC": -5.0}, 0.0, 0.0)], lambda _: "owner"
    )
    assert hedged == [Member("owner", {}, 0.0, 0.0)]


def test_rows_of_one_owner_or_group_merge_into_one_member() -> None:
    # Rows: a (long 2 BTC, equity 100, IM 10), b (short 1 ETH, 50, 5), a again (short 0.5 BTC, 30, 3).
    merged = aggregate_rows(
        ["a", "b", "a"], [[2.0, 0.0], [0.0, -1.0], [-0.5, 0.0]], [100.0, 50.0, 30.0], [10.0, 5.0, 3.0]
    )
    assert merged.keys == ["a", "b"]
    assert merged.rows == [[0, 2], [1]]
    assert merged.holdings.tolist() == [[1.5, 0.0], [0.0, -1.0]]
    assert merged.collateral.tolist() == [130.0, 50.0]
    assert merged.initial_margin.tolist() == [13.0, 5.0]
    # Nobody to merge: the same rows, untouched.
    alone = aggregate_rows(["a", "b"], [[1.0], [2.0]], [1.0, 2.0], [0.5, 0.5])
    assert alone.keys == ["a", "b"] and alone.rows == [[0], [1]] and alone.holdings.tolist() == [[1.0], [2.0]]


# --- reverse stress ------------------------------------------------------------------------------

# BTC 10,000, ETH 1,000.
# ann:  long 10 BTC (100,000), IM 10,000, equity 50,000: loses 100,000 t - 10,000 once t > 0.1.
# ben:  long 100 ETH (100,000), IM 20,000, equity 20,000: 100,000 t - 20,000 once t > 0.2.
# cleo: short 5 BTC (50,000), IM 5,000, equity 5,000: on a rise, 50,000 t - 5,000 once t > 0.1.
ANN = Member("ann", {"BTC": 10.0}, collateral=50_000.0, initial_margin=10_000.0)
BEN = Member("ben", {"ETH": 100.0}, collateral=20_000.0, initial_margin=20_000.0)
CLEO = Member("cleo", {"BTC": -5.0}, collateral=5_000.0, initial_margin=5_000.0)


def test_reverse_stress_finds_the_smallest_move_that_exhausts_the_fund_by_hand() -> None:
    moves = {r.direction: r for r in reverse_stress([ANN, BEN, CLEO], PRICES, 30_000.0)}
    assert list(moves) == ["all coins down", "all coins up", "BTC down", "BTC up", "ETH down", "ETH up"]
    # All down: for 0.1 < t < 0.2 only ann, 100,000 t - 10,000 = 30,000 at t = 0.4: past 0.2, so
    # both: 200,000 t - 30,000 = 30,000 at t = 0.3 (ann 20,000 + ben 10,000).
    down = moves["all coins down"]
    assert down.move == pytest.approx(0.3)
    assert (down.defaulters, down.loss) == (2, pytest.approx(30_000.0))
    # All up: cleo alone, 50,000 t - 5,000 = 30,000 at t = 0.7.
    assert moves["all coins up"].move == pytest.approx(0.7)
    # BTC alone down: ann, 0.4; ETH alone down: ben, 100,000 t - 20,000 = 30,000 at 0.5.
    assert moves["BTC down"].move == pytest.approx(0.4)
    assert moves["ETH down"].move == pytest.approx(0.5)
    assert moves["BTC up"].move == pytest.approx(0.7)
    # ETH up: only ben holds ETH, and gains: no move up to +1,000% exhausts anything.
    assert moves["ETH up"].move is None
    assert (moves["ETH up"].bound, moves["ETH up"].bound_loss) == (MAX_RISE, 0.0)
    # Beyond equity ann starts losing at 0.5 (50,000 / 100,000): all down, 100,000 t - 20,000
    # (ben) reaches 30,000 at t = 0.5, where ann's loss is still 0.
    eq = {r.direction: r for r in reverse_stress([ANN, BEN, CLEO], PRICES, 30_000.0, "equity")}
    assert eq["all coins down"].move == pytest.approx(0.5)
    # A fund of 1,000,000: prices at zero cost 200,000 - 30,000 = 170,000 beyond IM: not enough.
    big = {r.direction: r for r in reverse_stress([ANN, BEN, CLEO], PRICES, 1_000_000.0)}
    assert big["all coins down"].move is None
    assert big["all coins down"].bound == 1.0
    assert big["all coins down"].bound_loss == pytest.approx(170_000.0)


def test_reverse_stress_counts_a_member_already_short_of_its_margin_and_its_gains() -> None:
    # dan: short 1 BTC with equity -2,000 (bankrupt): at t = 0 the fund already owes 2,000, and a
    # fall shrinks that, 2,000 - 10,000 t, to 0 at t = 0.2. With ann, all down:
    #   0 <= t <= 0.1: 2,000 - 10,000 t; 0.1 <= t <= 0.2: 90,000 t - 8,000 (1,000 at t = 0.1).
    # A fund of 1,500 is exhausted at once; one of 2,500 at 90,000 t = 10,500, t = 0.116667.
    dan = Member("dan", {"BTC": -1.0}, collateral=-2_000.0, initial_margin=1_000.0)
    down = [("all coins down", {"BTC": -1.0})]
    assert reverse_stress([ANN, dan], PRICES, 1_500.0, directions=down)[0].move == 0.0
    later = reverse_stress([ANN, dan], PRICES, 2_500.0, directions=down)[0]
    assert later.move == pytest.approx(10_500.0 / 90_000.0)
    assert later.defaulters == 2


def test_default_directions() -> None:
    assert default_directions(["BTC"]) == [("all coins down", {"BTC": -1.0}), ("all coins up", {"BTC": 1.0})]
    assert [d for d, _ in default_directions(["BTC", "ETH"])][2:] == [
        "BTC down",
        "BTC up",
        "ETH down",
        "ETH up",
    ]


# --- sizing --------------------------------------------------------------------------------------


def test_ten_percent_of_initial_margin_rule_and_fusd_flag() -> None:
    # Well-collateralised members lose nothing in a -50%: 10 BTC long = 100,000 notional, 50,000 lost,
    # 60,000 equity. IM 1,000,000 + 3,000,000 = 4,000,000 -> 10% = 400,000 binds.
    members = [
        Member("a", {"BTC": 10.0}, collateral=60_000.0, initial_margin=1_000_000.0),
        Member("b", {}, collateral=3_000_000.0, initial_margin=3_000_000.0),
    ]
    sizing = fund_size(members, [hypo("down", BTC=-0.5)], PRICES)
    assert sizing.total_initial_margin == 4_000_000.0
    assert sizing.im_rule == pytest.approx(400_000.0)
    assert sizing.cover(2) == 0.0
    assert (sizing.fund, sizing.binding) == (pytest.approx(400_000.0), "im")
    assert sizing.fusd_covers
    assert sizing.fund_over_fusd == pytest.approx(400_000.0 / 250_000_000.0)

    # 3,000,000,000 of IM -> 300,000,000 required, more than FUSD's 250,000,000.
    big = [Member("whale", {}, collateral=3e9, initial_margin=3e9)]
    big_sizing = fund_size(big, [], PRICES)
    assert big_sizing.fund == pytest.approx(300_000_000.0)
    assert not big_sizing.fusd_covers
    assert big_sizing.fund_over_fusd == pytest.approx(1.2)
    assert FUSD_FUND_USD == 250_000_000.0


def test_cover_2_binds_when_it_exceeds_ten_percent_of_im_and_kinds_are_kept_apart() -> None:
    # Members of the Cover-n test: IM 80,000 + 40,000 + 0 = 120,000 -> 10% = 12,000.
    # Hypothetical Cover-2 = 120,000 (scenario B). A historical scenario of BTC -20%:
    # alice 40 x 10,000 x 0.2 = 80,000 < 100,000 equity -> 0; bob 12 x 10,000 x 0.2 = 24,000 < 50,000 -> 0;
    # carol holds no BTC -> historical Cover-n = 0.
    history = Scenario("2020-03-12", "historical", {"BTC": -0.2, "ETH": 0.0})
    sizing = fund_size([ALICE, BOB, CAROL], [SCENARIO_A, SCENARIO_B, history], PRICES, "equity")
    assert sizing.im_rule == pytest.approx(12_000.0)
    assert [c.loss for c in sizing.historical] == [0.0, 0.0, 0.0]
    assert [c.loss for c in sizing.hypothetical] == pytest.approx([100_000.0, 120_000.0, 120_000.0])
    assert [c.loss for c in sizing.combined] == pytest.approx([100_000.0, 120_000.0, 120_000.0])
    assert (sizing.fund, sizing.binding) == (pytest.approx(120_000.0), "cover2")
    decoded = json.loads(json.dumps(sizing.as_dict()))
    assert decoded["combined"][1]["scenario"] == "B: ETH +50%"
    assert decoded["binding"] == "cover2"


def test_the_array_entry_point_sizes_exactly_as_the_member_one() -> None:
    # The Cover-n members plus a flat one; the arrays list the coins in another order, with a coin
    # nobody holds (and that has no price): neither may change a single bit of the sizing.
    flat = Member("flat", {}, collateral=5_000.0, initial_margin=1_000.0)
    members = [ALICE, BOB, CAROL, flat]
    history = Scenario("2020-03-12", "historical", {"BTC": -0.45, "ETH": -0.5})
    scenarios = [SCENARIO_A, SCENARIO_B, history]
    coins = ["SOL", "ETH", "BTC"]
    holdings = np.array([[0.0, m.positions.get("ETH", 0.0), m.positions.get("BTC", 0.0)] for m in members])
    asked: list[int] = []

    def name(row: int) -> str:
        asked.append(row)
        return members[row].name

    for beyond in ("equity", "margin"):
        expected = fund_size(members, scenarios, PRICES, beyond)
        sized = fund_size_arrays(
            name,
            coins,
            holdings,
            [m.collateral for m in members],
            [m.initial_margin for m in members],
            scenarios,
            PRICES,
            beyond,
        )
        assert sized.as_dict() == expected.as_dict()
        assert expected.cover(2) > 0.0
    # Names are asked for only the members a Cover-n names: never flat's, who loses nothing.
    assert asked and 3 not in asked


def test_the_array_entry_point_refuses_arrays_that_disagree_and_names_twice() -> None:
    with pytest.raises(ValueError, match="same 2 members"):
        fund_size_arrays(["a", "b"], ["BTC"], np.zeros((2, 2)), [0.0, 0.0], [0.0, 0.0], [], PRICES)
    with pytest.raises(ValueError, match="same 2 members"):
        fund_size_arrays(["a", "b"], ["BTC"], np.zeros((2, 1)), [0.0, 0.0], [0.0], [], PRICES)
    with pytest.raises(ValueError, match="aggregate_by_owner"):
        fund_size_arrays(["a", "a"], ["BTC"], np.ones((2, 1)), [0.0, 0.0], [0.0, 0.0], [], PRICES)


def test_daily_sizing_has_one_row_per_day() -> None:
    day1 = ("2022-11-08", [ALICE, BOB, CAROL], PRICES)
    # Day 2: prices doubled, so every loss doubles and equity does not: alice under A loses
    # 40 x 20,000 x 0.5 = 400,000 - 100,000 = 300,000 (Cover-1).
    day2 = ("2022-11-09", [ALICE, BOB, CAROL], {"BTC": 20_000.0, "ETH": 2_000.0})
    table = daily_sizing([day1, day2], [SCENARIO_A, SCENARIO_B], beyond="equity")
    assert list(table.index) == ["2022-11-08", "2022-11-09"]
    assert table.loc["2022-11-08", "cover2_all"] == pytest.approx(120_000.0)
    assert table.loc["2022-11-09", "cover1_all"] == pytest.approx(300_000.0)
    assert table.loc["2022-11-08", "cover2_members"] in ("bob, carol", "carol, bob")
    assert table.loc["2022-11-08", "binding"] == "cover2"
    # Without scenarios, the day's hypothetical ones: all coins -50% hurts alice most
    # (40 x 10,000 x 0.5 - 100,000 = 100,000; bob gains on his short ETH there).
    default = daily_sizing([day1], beyond="equity")
    assert default.loc["2022-11-08", "cover1_hypo"] == pytest.approx(100_000.0)
    assert default.loc["2022-11-08", "cover1_hist"] == 0.0


# --- scenarios -----------------------------------------------------------------------------------


def test_hypothetical_scenarios() -> None:
    scenarios = hypothetical_scenarios(["BTC", "ETH"])
    by_name = {s.name: s.shocks for s in scenarios}
    # Two sizes (50%, 30%) x two directions x (all together + each of 2 coins alone) = 12.
    assert len(scenarios) == 12
    assert all(s.kind == "hypothetical" for s in scenarios)
    assert by_name["24h all coins -50%"] == {"BTC": -0.5, "ETH": -0.5}
    assert by_name["24h all coins +50%"] == {"BTC": 0.5, "ETH": 0.5}
    assert by_name["24h ETH alone -50%"] == {"BTC": 0.0, "ETH": -0.5}
    assert by_name["24h BTC alone +30%"] == {"BTC": 0.3, "ETH": 0.0}
    assert by_name["24h all coins -30%"] == {"BTC": -0.3, "ETH": -0.3}


def test_historical_scenarios_are_joint_and_declustered() -> None:
    index = pd.date_range("2020-01-01", periods=8, freq="h", tz="UTC")
    closes = pd.DataFrame(
        {"BTC": [100, 100, 80, 50, 60, 100, 100, 100], "ETH": [10, 10, 10, 10, 9, 12, 12, 12]},
        index=index,
        dtype=float,
    )
    # 2 h moves ending at hours 2..7: BTC -20%, -50%, -25%, +100%, +66.7%, 0
    #                                  ETH   0,    0,  -10%,  +20%, +33.3%, 0
    scenarios = historical_scenarios(closes, horizon_hours=2, count=2)
    shocks = {s.name.split(" (")[1].rstrip(")"): s.shocks for s in scenarios}
    # BTC down #1 ends at hour 3 (-50%, ETH flat). Its runners-up at hours 2 and 4 overlap that
    # window (less than 2 h away), so there is no BTC down #2; BTC's only other down move is none.
    assert shocks["BTC down #1"] == pytest.approx({"BTC": -0.5, "ETH": 0.0})
    assert "BTC down #2" not in shocks
    # BTC up #1 at hour 5 (+100%, ETH +20%); hour 6 overlaps it, hour 7 is flat: no #2.
    assert shocks["BTC up #1"] == pytest.approx({"BTC": 1.0, "ETH": 0.2})
    # ETH down #1 at hour 4 (-10%, with BTC's -25% of the same window).
    assert shocks["ETH down #1"] == pytest.approx({"BTC": 60 / 80 - 1, "ETH": -0.1})
    # ETH up #1 at hour 6 (+1/3), BTC +2/3 in the same window; ETH up #2 would be hour 5, too close.
    assert shocks["ETH up #1"] == pytest.approx({"BTC": 100 / 60 - 1, "ETH": 12 / 9 - 1})
    assert len(scenarios) == 4
    assert scenarios[0].name.startswith("2020-01-01 01:00 .. 2020-01-01 03:00 UTC")

    # A missing hour is never bridged: without hour 1 the window ending at hour 3 has no start,
    # so BTC's worst becomes hour 4 (60 / 80 - 1 = -25%).
    gappy = historical_scenarios(closes.drop(index[1]), horizon_hours=2, count=1)
    assert gappy[0].shocks["BTC"] == pytest.approx(-0.25)
    # A coin listed later (no ETH price for hours 0-1): windows starting there have no joint move
    # and are skipped rather than given a missing ETH shock; BTC's worst is again hour 4.
    late = closes.copy()
    late.loc[index[:2], "ETH"] = float("nan")
    late_scenarios = historical_scenarios(late, horizon_hours=2, count=1)
    assert late_scenarios[0].shocks == pytest.approx({"BTC": -0.25, "ETH": -0.1})
    assert all(not math.isnan(v) for s in late_scenarios for v in s.shocks.values())


def test_historical_scenarios_on_real_data_include_march_2020_with_eth_in_the_same_window() -> None:
    closes = load_closes()
    scenarios = historical_scenarios(closes, horizon_hours=24, count=5)
    assert all(s.kind == "historical" and set(s.shocks) == {"BTC", "ETH"} for s in scenarios)

    worst_btc = min(scenarios, key=lambda s: s.shocks["BTC"])
    assert worst_btc.name.startswith("2020-03-12 01:00 .. 2020-03-13 01:00 UTC")
    # Rows of the CSV (open time, close): BTCUSDT 2020-03-12T01:00Z 7713.27, 2020-03-13T01:00Z 4130.64;
    # ETHUSDT 185.03 and 96.62 at the same hours.
    # BTC: 4130.64 / 7713.27 - 1 = -0.4645 (risk-model.md: "rolling 24 h -46.4% to 2020-03-13 01:00").
    # ETH: 96.62 / 185.03 - 1 = -0.4778.
    assert -0.47 < worst_btc.shocks["BTC"] < -0.39
    assert worst_btc.shocks["BTC"] == pytest.approx(4130.64 / 7713.27 - 1)
    assert worst_btc.shocks["ETH"] == pytest.approx(96.62 / 185.03 - 1)
    assert closes.loc[pd.Timestamp("2020-03-12T01:00Z"), "BTC"] == 7713.27

    # May 2021 (China mining ban, 2021-05-19) is among ETH's worst days; BTC moved with it, less.
    may_2021 = [s for s in scenarios if s.name.startswith("2021-05-19")]
    assert len(may_2021) == 1
    assert may_2021[0].shocks["ETH"] < -0.30 < may_2021[0].shocks["BTC"] < 0.0
    # Both directions are represented.
    assert any(s.shocks["BTC"] > 0.25 for s in scenarios)


# --- properties ----------------------------------------------------------------------------------

sizes = st.floats(-50.0, 50.0, allow_nan=False)
members_st = st.lists(
    st.builds(
        lambda btc, eth, collateral, im_share: (btc, eth, collateral, collateral * im_share),
        sizes,
        sizes,
        st.floats(0.0, 1e6),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=6,
)
scenarios_st = st.lists(st.tuples(st.floats(-0.95, 0.95), st.floats(-0.95, 0.95)), min_size=1, max_size=5)


def members_of(raw: list[tuple[float, float, float, float]]) -> list[Member]:
    """`members_st`'s draws as Members m0, m1, ... holding BTC and ETH."""
    return [
        Member(f"m{i}", {"BTC": btc, "ETH": eth}, collateral, im)
        for i, (btc, eth, collateral, im) in enumerate(raw)
    ]


@settings(max_examples=200, deadline=None)
@given(members_st, scenarios_st, st.sampled_from(["equity", "margin"]))
def test_cover_n_is_non_decreasing_in_n_and_agrees_with_stress_loss(
    raw_members, raw_scenarios, beyond
) -> None:
    members = members_of(raw_members)
    scenarios = [hypo(f"s{i}", BTC=b, ETH=e) for i, (b, e) in enumerate(raw_scenarios)]
    losses = [cover_n(members, scenarios, PRICES, n, beyond).loss for n in range(1, 6)]
    assert all(a <= b for a, b in itertools.pairwise(losses))
    # Cover-1 is the single largest stress loss over all members and scenarios.
    largest = max(stress_loss(m, s, PRICES, beyond) for m in members for s in scenarios)
    assert losses[0] == pytest.approx(largest, rel=1e-9, abs=1e-6)
    assert all(stress_loss(m, s, PRICES, beyond) >= 0.0 for m in members for s in scenarios)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 100.0),
    st.floats(0.0, 1e6),
    st.floats(-1.0, 1.0),
    st.floats(-1.0, 1.0),
)
def test_stress_loss_of_a_long_grows_with_the_fall(size, collateral, shock1, shock2) -> None:
    long = Member("long", {"BTC": size}, collateral, collateral / 2)
    deeper, milder = sorted((shock1, shock2))
    loss_deeper = stress_loss(long, hypo("deeper", BTC=deeper), PRICES, "equity")
    loss_milder = stress_loss(long, hypo("milder", BTC=milder), PRICES, "equity")
    assert loss_deeper >= loss_milder >= 0.0
    # And it is exactly the fall beyond equity: size x price x |shock| - collateral, floored at 0.
    assert loss_deeper == pytest.approx(max(0.0, -size * 10_000.0 * deeper - collateral))
    assert not math.isnan(loss_deeper)
    # Beyond the margin posted, min(collateral, collateral / 2): never less than beyond equity.
    beyond_im = stress_loss(long, hypo("deeper", BTC=deeper), PRICES)
    assert beyond_im == pytest.approx(max(0.0, -size * 10_000.0 * deeper - collateral / 2))
    assert beyond_im >= loss_deeper


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([-20.0, -5.0, 0.0, 5.0, 20.0]), st.sampled_from([0.0, 10_000.0, 50_000.0])),
        min_size=1,
        max_size=40,
    ),
    scenarios_st,
)
def test_cover_n_sums_the_n_largest_losses_of_the_worst_scenario_among_many_tied_members(
    raw_members, raw_scenarios
) -> None:
    # Few distinct sizes and equities: many members lose exactly the same (or nothing), the case a
    # partial selection of the largest losses gets wrong if any.
    members = [Member(f"m{i:02}", {"BTC": btc}, equity, 0.0) for i, (btc, equity) in enumerate(raw_members)]
    scenarios = [hypo(f"s{i}", BTC=b, ETH=e) for i, (b, e) in enumerate(raw_scenarios)]
    sizing = fund_size(members, scenarios, PRICES)
    for n, cover in zip((1, 2, 3), sizing.combined, strict=True):
        totals = [
            sum(sorted((stress_loss(m, s, PRICES) for m in members), reverse=True)[:n]) for s in scenarios
        ]
        assert cover.loss == pytest.approx(max(totals), rel=1e-12, abs=1e-6)
        if cover.loss:  # the members named are the n largest losers of that scenario, largest first
            worst = next(s for s in scenarios if s.name == cover.scenario)
            ranked = sorted((stress_loss(m, worst, PRICES) for m in members), reverse=True)[:n]
            expected = [loss for loss in ranked if loss > 0.0]
            assert list(cover.member_losses) == pytest.approx(expected, rel=1e-12, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(members_st)
def test_the_fund_cover_2_asks_is_exhausted_by_a_move_no_larger_than_its_scenario(raw_members) -> None:
    # Cover-2 over the hypothetical scenarios (all coins, or one alone, +-30% or +-50%) is the loss
    # beyond IM of two members in one of them; all members together lose at least that there, so
    # the reverse stress move for that fund in that scenario's direction is at most its size.
    members = members_of(raw_members)
    cover2 = cover_n(members, hypothetical_scenarios(["BTC", "ETH"]), PRICES, 2)
    if cover2.loss <= 0.0:
        return
    assert cover2.scenario is not None
    size = abs(float(cover2.scenario.split()[-1].rstrip("%"))) / 100
    label = cover2.scenario.removeprefix("24h ").rsplit(" ", 1)[0].replace(" alone", "")
    sign = "down" if "-" in cover2.scenario else "up"
    direction = f"{label} {sign}"
    moves = {r.direction: r for r in reverse_stress(members, PRICES, cover2.loss)}
    found = moves[direction].move
    assert found is not None and found <= size + 1e-9
    # and just below it the fund is not yet exhausted (the move is the smallest)
    if found > 1e-6:
        below = reverse_stress(
            members, PRICES, cover2.loss, directions=[(direction, moves[direction].shocks)]
        )
        assert below[0].move == pytest.approx(found)
        smaller = [
            stress_loss(
                m, hypo("x", **{c: v * found * 0.999 for c, v in moves[direction].shocks.items()}), PRICES
            )
            for m in members
        ]
        assert math.fsum(smaller) < cover2.loss


@settings(max_examples=200, deadline=None)
@given(
    members_st, st.lists(st.floats(0.0, 5e6), min_size=1, max_size=4), st.sampled_from(["equity", "margin"])
)
def test_reverse_stress_for_several_funds_is_each_fund_alone_and_the_smallest_move(
    raw_members, funds, beyond
) -> None:
    # The replay asks for its funds together (each direction's breakpoints built once): the same
    # answers as one fund at a time, and each move the smallest whose losses beyond resources
    # reach the fund, checked against a direct sum of stress_loss at and just below it.
    members = members_of(raw_members)
    coins = ["BTC", "ETH"]
    holdings = np.array([[m.positions["BTC"], m.positions["ETH"]] for m in members])
    collateral = np.array([m.collateral for m in members])
    margin = np.array([m.initial_margin for m in members])
    together = reverse_stress_funds(coins, holdings, collateral, margin, PRICES, funds, beyond)
    assert len(together) == len(funds)
    for fund, tests in zip(funds, together, strict=True):
        alone = reverse_stress_arrays(coins, holdings, collateral, margin, PRICES, fund, beyond)
        assert tests == alone
        for test in tests:

            def loss_at(move: float, shocks=test.shocks) -> float:
                moved = hypo("x", **{c: v * move for c, v in shocks.items()})
                return math.fsum(stress_loss(m, moved, PRICES, beyond) for m in members)

            assert test.bound_loss == pytest.approx(loss_at(test.bound), rel=1e-9, abs=1e-6)
            if test.move is None:
                assert test.bound_loss < fund * (1 + 1e-9) + 1e-6
                continue
            assert loss_at(test.move) >= fund * (1 - 1e-9) - 1e-6
            assert test.loss == pytest.approx(loss_at(test.move), rel=1e-9, abs=1e-6)
            if test.move > 1e-6:
                assert loss_at(test.move * (1 - 1e-6)) < fund + 1e-6
