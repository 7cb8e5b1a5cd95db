"""FTT's economics through the real engine (issue 13 section 2, the engine side): the holding discount
by the USD value of FTT held across an owner's subaccounts, staking with FTX's 14-day unstake lock and
its maker-fee overrides, the better of the two, FTX's floors, all on actual fills; staked FTT is not
collateral; money is conserved; journals replay and snapshots restore to the same state hash.

Expected rates are worked out by hand from the tables (tiers.toml; ftx-mechanics.md 5.1, 5.3, 5.4):
a new owner pays 0.020% maker / 0.070% taker (200 / 700 ppm). FTT is at $25 throughout unless moved,
so $100 is 4 FTT and $1M is 40,000 FTT.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from engine_kit import usd
from ftt_desk import DAY, MINUTE, PERP, USD, FttDesk

from backstop import products
from backstop.engine import fees, state
from backstop.engine.amounts import ATOM
from backstop.engine.commands import PlaceOrder, Tick
from backstop.engine.integrity import solvency
from backstop.engine.margin import collateral, free_collateral
from backstop.journal import log, snapshot
from backstop.products.ftt import burn, handlers, tiers
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.events import (
    FttBurnAccrued,
    FttFeeBenefitsChanged,
    FttStaked,
    FttUnstakeCancelled,
    FttUnstaked,
    FttUnstakeRequested,
)
from backstop.products.ftt.product import Ftt

FTT_PRICE = 25
LOCK = 14 * DAY
NO_CAP = fees.NO_CAP

# (USD held from, maker ppm, taker ppm): each holding tier's rates for a new owner, by hand:
# 200 and 700 less the discount (rounded so the rate rounds up); from $2.5M the VIP level's rates
# (VIP1 0/300, VIP2 0/250) discounted, then the taker floor of 150.
HOLDING = [
    (100, 194, 679),  # 3%: 200 - 6, 700 - 21
    (1_000, 190, 665),  # 5%
    (5_000, 180, 630),  # 10%
    (10_000, 170, 595),  # 15%
    (25_000, 160, 560),  # 20%
    (50_000, 150, 525),  # 25%
    (100_000, 140, 490),  # 30%
    (250_000, 130, 455),  # 35%
    (1_000_000, 120, 420),  # 40%
    (2_500_000, 0, 150),  # 50% + VIP1: maker 0; taker 300 x 0.5 = 150, the floor exactly
    (5_000_000, 0, 150),  # 60% + VIP2: maker 0; taker 250 x 0.4 = 100, raised to the floor
]
# (FTT staked from, maker ppm): FTX's staking table; the taker rate stays 700
STAKING = [
    (25, 0),
    (150, -5),
    (1_000, -10),
    (10_000, -15),
    (50_000, -20),
    (250_000, -25),
    (1_000_000, -30),
]


def ftt_desk() -> tuple[FttDesk, int, int]:
    """FTT/USD's mark at $25; two traders with $10M each (no FTT)."""
    d = FttDesk()
    d.set_mark("FTT/USD", FTT_PRICE)
    x = d.account("x", "", 10_000_000)
    y = d.account("y", "", 10_000_000)
    d.next_minute()
    return d, x, y


def ftt_for(usd_value: int) -> int:
    """FTT atoms worth exactly `usd_value` dollars at $25."""
    return usd_value * ATOM // FTT_PRICE


def deposit_atoms(d: FttDesk, account: int, atoms: int) -> None:
    from backstop.engine.commands import Deposit

    d.ok(Deposit(d.tick(), account, "FTT", atoms))


def balanced(d: FttDesk) -> bool:
    return d.ex.discrepancies() == {} and bool(solvency(d.ex)["balanced"])


# ----------------------------------------------------------------------------- the tables


def test_the_tables_are_ftxs_where_ftx_published_them_and_monotone() -> None:
    s = tiers.load()
    assert (s.coin, s.lock_us, s.refresh_us) == ("FTT", LOCK, MINUTE)
    assert next((t.usd // ATOM, t.discount) for t in s.holding) == (100, 30_000)
    assert [(t.usd // ATOM, t.discount) for t in s.holding][-3:] == [
        (1_000_000, 400_000),
        (2_500_000, 500_000),
        (5_000_000, 600_000),
    ]
    assert [t.vip.name if t.vip else None for t in s.holding][-3:] == [None, "VIP1", "VIP2"]
    assert [(t.ftt // ATOM, t.maker) for t in s.staking] == STAKING
    assert [t.referral_share // 10_000 for t in s.staking] == [28, 30, 32, 34, 36, 38, 40]
    assert [t.free_withdrawals for t in s.staking] == [1, 3, 10, 30, 100, 300, 1000]
    assert s.referral_share(0) == 250_000 and s.referral_share(25 * ATOM) == 280_000


def test_a_table_out_of_order_is_refused() -> None:
    import tomllib
    from importlib import resources

    data = tomllib.loads(resources.files("backstop.products.ftt").joinpath("tiers.toml").read_text())
    data["holding"][1]["discount"] = "2%"  # below the 3% before it
    with pytest.raises(ValueError, match="monotone"):
        tiers.parse(data)
    data = tomllib.loads(resources.files("backstop.products.ftt").joinpath("tiers.toml").read_text())
    data["staking"][0]["maker"] = "0.001%"  # an override above zero
    with pytest.raises(ValueError, match="above zero"):
        tiers.parse(data)


def test_adjusted_rates_round_in_the_exchanges_favour_and_keep_the_floors() -> None:
    # 550 ppm less 3%: 533.5 -> 534 (the rate rounds up)
    assert fees.adjusted_rate(550, NO_CAP, 30_000, fees.TAKER_FLOOR) == 534
    assert fees.adjusted_rate(700, NO_CAP, 900_000, fees.TAKER_FLOOR) == 150  # 70 -> the taker floor
    assert fees.adjusted_rate(200, -250, 0, fees.MAKER_FLOOR) == -100  # -250 -> the maker floor
    assert fees.adjusted_rate(-50, NO_CAP, 600_000, fees.MAKER_FLOOR) == -50  # a rebate is never cut
    assert fees.adjusted_rate(200, 0, 600_000, fees.MAKER_FLOOR) == 0


# ----------------------------------------------------------------------------- holding


def test_every_holding_tier_boundary_just_below_and_at() -> None:
    d, x, _ = ftt_desk()
    main = d.account("h", "")
    sub = d.account("h", "sub")  # held across subaccounts: half in each
    held = 0
    expected_below = (200, 700)
    for threshold, maker, taker in HOLDING:
        target = ftt_for(threshold)
        assert target * FTT_PRICE == threshold * ATOM  # exactly $threshold at $25
        below = target - 1 - held
        deposit_atoms(d, main, below // 2)
        deposit_atoms(d, sub, below - below // 2)
        held = target - 1
        d.next_minute()
        assert d.rates(main) == expected_below, threshold
        deposit_atoms(d, sub, 1)
        held = target
        d.next_minute()
        assert d.rates(main) == d.rates(sub) == (maker, taker), threshold
        expected_below = (maker, taker)
    assert d.rates(x) == (200, 700)  # others are untouched
    changes = [e for e in d.of(FttFeeBenefitsChanged) if e.owner == "h"]
    assert [e.holding_tier for e in changes] == list(range(1, len(HOLDING) + 1))
    assert changes[0].held_usd == 100 * USD
    assert balanced(d)


def test_holding_is_valued_at_ftt_usds_mark_and_recomputed_on_the_next_minute() -> None:
    d, _x, _y = ftt_desk()
    h = d.account("h", "", 0, FTT=4)  # $100 at $25
    assert d.rates(h) == (200, 700)  # not until the minute turns
    d.next_minute()
    assert d.rates(h) == (194, 679)
    # FTT falls to $24.999: 4 FTT are worth $99.996, below the first tier, from the next minute on
    d.cancel_all(d.ex.account_id("mark-maker-sell"))
    seller = d.ex.account_id("mark-maker-sell")
    buyer = d.ex.account_id("mark-maker-buy")
    d.place(seller, "FTT/USD", "sell", "0.1", "24.999")
    d.place(buyer, "FTT/USD", "buy", "0.1", "24.999", ioc=True)
    assert d.ex.mark("FTT/USD") == d.ticks("FTT/USD", "24.999")
    d.at(d.ts // MINUTE * MINUTE + 30_000_000)  # a tick later in the same minute changes nothing
    assert d.rates(h) == (194, 679)
    d.next_minute()
    assert d.rates(h) == (200, 700)
    # selling the FTT away likewise: back to $25, then h sells it all
    d.place(seller, "FTT/USD", "sell", "0.1", "25")
    d.place(buyer, "FTT/USD", "buy", "0.1", "25", ioc=True)
    d.next_minute()
    assert d.rates(h) == (194, 679)
    d.rest(buyer, "FTT/USD", "buy", "4", "25")
    d.place(h, "FTT/USD", "sell", "4", "25", ioc=True)
    d.next_minute()
    assert d.rates(h) == (200, 700)
    assert len(d.ex.volumes["h"].canonical()) == 6  # back to no adjustment: the form before the seam
    assert balanced(d)


def test_holding_discount_on_an_actual_fill() -> None:
    d, x, y = ftt_desk()
    deposit_atoms(d, x, ftt_for(1_000_000))  # 40%: maker 120, taker 420
    d.next_minute()
    fill = d.perp_fill(taker=x, maker=y)  # $10,000
    assert fill.taker_fee == 420 * USD // 100  # 0.042% of $10,000 = $4.20
    assert fill.maker_fee == 2 * USD  # y has no FTT: 0.020%
    fill = d.perp_fill(taker=y, maker=x, side="sell")
    assert fill.taker_fee == 7 * USD
    assert fill.maker_fee == 120 * USD // 100  # 0.012% = $1.20
    assert balanced(d)


# ----------------------------------------------------------------------------- staking


def test_every_staking_tier_boundary_just_below_and_at() -> None:
    d, _x, _ = ftt_desk()
    s = d.account("s", "")
    staked = 0
    expected_below = 200
    for threshold, maker in STAKING:
        target = threshold * ATOM
        deposit_atoms(d, s, target - 1 - staked)
        d.ok(StakeFtt(d.tick(), s, target - 1 - staked))
        staked = target - 1
        assert d.rates(s) == (expected_below, 700), threshold  # at once, no minute needed
        deposit_atoms(d, s, 1)
        d.ok(StakeFtt(d.tick(), s, 1))
        staked = target
        assert d.rates(s) == (maker, 700), threshold
        assert d.ftt.staked(s) == target
        expected_below = maker
    assert d.acct(s).balance("FTT") == 0
    d.next_minute()  # staked FTT is not held: no holding discount on top
    assert d.rates(s) == (-30, 700)
    assert balanced(d)


def test_staking_maker_override_on_an_actual_fill_and_the_rebate_rounds_toward_zero() -> None:
    d, x, y = ftt_desk()
    deposit_atoms(d, y, 1_000 * ATOM)
    d.stake(y, 1_000)  # maker -0.001%
    fill = d.perp_fill(taker=x, maker=y)  # $10,000
    assert fill.maker_fee == -USD // 10  # a rebate of $0.10
    assert fill.taker_fee == 7 * USD
    before = d.balance(y)
    fill = d.perp_fill(taker=x, maker=y, size="0.0001", side="sell")  # $1: 10 ppm = 1,000 atoms
    assert fill.maker_fee == -1_000
    assert d.balance(y) == before + 1_000
    # $1.0001 (0.0001 BTC at $10,001) = 100,010,000 atoms: 10 ppm is 1,000.1 atoms, paid as 1,000
    fill = d.perp_fill(taker=x, maker=y, size="0.0001", price=10_001, side="sell")
    assert fill.maker_fee == -1_000
    assert balanced(d)


def test_staking_across_subaccounts_counts_for_the_owner() -> None:
    d, _x, _ = ftt_desk()
    a = d.account("s", "", 0, FTT=100)
    b = d.account("s", "b", 0, FTT=50)
    d.stake(a, 100)
    # 100 FTT staked: the 25 tier's maker 0; the 50 FTT b holds ($1,250): 5% off the taker 700
    assert d.rates(b) == (0, 665)
    d.stake(b, 50)
    assert d.rates(a) == d.rates(b) == (-5, 700)  # 150 FTT
    assert balanced(d)


# ----------------------------------------------------------------------------- the better of the two


def test_an_owner_gets_the_better_of_holding_and_staking_per_rate() -> None:
    d, _x, y = ftt_desk()
    h = d.account("both", "", 10_000_000)
    hs = d.account("both", "stake", 0, FTT=1_000)
    deposit_atoms(d, h, ftt_for(1_000_000))  # holding: 40% -> maker 120, taker 420
    d.stake(hs, 1_000)  # staking: maker override -10, taker 700
    d.next_minute()
    assert d.rates(h) == (-10, 420)  # taker from holding, maker from staking
    fill = d.perp_fill(taker=h, maker=y)
    assert fill.taker_fee == 420 * USD // 100  # $4.20
    fill = d.perp_fill(taker=y, maker=h, side="sell")
    assert fill.maker_fee == -USD // 10  # -$0.10
    changed = d.of(FttFeeBenefitsChanged)[-1]
    assert (changed.owner, changed.holding_tier, changed.staking_tier) == ("both", 9, 3)
    assert (changed.maker_rate, changed.taker_rate) == (-10, 420)
    # staked FTT does not count as held: staking 40,000 FTT ($1M) alone gives no holding discount
    only = d.account("staker", "", 0, FTT=40_000)
    d.stake(only, 40_000)
    d.next_minute()
    assert d.rates(only) == (-15, 700)
    assert balanced(d)


def test_a_large_holder_staking_keeps_vip_rates_and_the_floor() -> None:
    d, _x, _y = ftt_desk()
    h = d.account("whale", "", 1_000_000)
    deposit_atoms(d, h, ftt_for(5_000_000) + 25 * ATOM)
    d.stake(h, 25)  # leaves exactly $5M held
    d.next_minute()
    assert d.rates(h) == (0, 150)


# ----------------------------------------------------------------------------- floors, on fills


def test_taker_floor_binds_for_the_largest_holders_on_a_fill() -> None:
    d, x, y = ftt_desk()
    deposit_atoms(d, x, ftt_for(5_000_000))  # 60% + VIP2: 250 x 0.4 = 100 ppm, floored to 150
    deposit_atoms(d, y, ftt_for(2_500_000))  # 50% + VIP1: 300 x 0.5 = 150 ppm, the floor
    d.next_minute()
    fill = d.perp_fill(taker=x, maker=y)  # $10,000
    assert fill.taker_fee == 150 * USD // 100  # 0.015% = $1.50, not the $1.00 60% of VIP2 gives
    assert fill.maker_fee == 0  # VIP1's maker 0%
    fill = d.perp_fill(taker=y, maker=x, side="sell")
    assert fill.taker_fee == 150 * USD // 100
    assert fill.maker_fee == 0
    assert balanced(d)


def test_maker_floor_binds_on_a_fill_whatever_a_product_asks() -> None:
    d, x, y = ftt_desk()
    d.ex.volumes["y"].adjust(0, -250)  # a maker rate of -0.025% asked for: floored to -0.01%
    assert d.rates(y) == (-100, 700)
    fill = d.perp_fill(taker=x, maker=y)  # $10,000
    assert fill.maker_fee == -1 * USD  # -0.01% = -$1.00
    assert fill.taker_fee == 7 * USD
    d.ex.volumes["x"].adjust(990_000)  # 99% off: 7 ppm taker, floored to 150
    fill = d.perp_fill(taker=x, maker=y, side="sell")
    assert fill.taker_fee == 150 * USD // 100
    assert balanced(d)


def test_the_discount_follows_the_volume_tier() -> None:
    d, x, y = ftt_desk()
    deposit_atoms(d, x, ftt_for(100))  # 3%
    d.next_minute()
    d.perp_fill(taker=x, maker=y, size="200")  # $2M: x reaches tier 2 (150 / 600)
    assert d.rates(x) == (150 - 4, 600 - 18)  # 145.5 -> 146, 582
    fill = d.perp_fill(taker=x, maker=y)
    assert fill.taker_fee == 582 * USD // 100


# ----------------------------------------------------------------------------- the unstake lock


def test_an_unstaked_ftt_is_released_exactly_14_days_after_the_request() -> None:
    d, _x, _ = ftt_desk()
    s = d.account("s", "", 0, FTT=100)
    d.stake(s, 100)
    assert d.acct(s).balance("FTT") == 0 and d.ex.pools[handlers.POOL]["FTT"] == 100 * ATOM
    rid = d.unstake(s, 40)
    asked = d.ts
    (req,) = d.of(FttUnstakeRequested)
    assert (req.id, req.account, req.size, req.unlocks) == (rid, s, 40 * ATOM, asked + LOCK)
    assert d.ftt.staked(s) == 60 * ATOM
    assert d.rates(s) == (0, 700)  # 60 FTT: still the 25 tier
    d.at(asked + DAY)
    d.at(asked + LOCK - 1)  # one microsecond short of 14 days
    assert d.of(FttUnstaked) == [] and d.acct(s).balance("FTT") == 0
    assert d.ex.pools[handlers.POOL]["FTT"] == 100 * ATOM
    d.at(asked + LOCK)
    (done,) = d.of(FttUnstaked)
    assert (done.id, done.account, done.size, done.requested, done.ts) == (
        rid,
        s,
        40 * ATOM,
        asked,
        asked + LOCK,
    )
    assert d.acct(s).balance("FTT") == 40 * ATOM
    assert d.ex.pools[handlers.POOL]["FTT"] == 60 * ATOM
    assert d.ftt.staked(s) == 60 * ATOM and d.ftt.state.requests == {}
    d.reject(CancelFttUnstake(d.tick(), s, rid), handlers.NO_SUCH_REQUEST)  # released: gone
    assert balanced(d)


def test_requests_mature_in_order_and_a_late_tick_releases_all_that_are_due() -> None:
    d, _x, _ = ftt_desk()
    s = d.account("s", "", 0, FTT=100)
    d.stake(s, 100)
    first = d.unstake(s, 10)
    t1 = d.ts
    d.at(t1 + DAY)
    second = d.unstake(s, 20)
    t2 = d.ts
    d.at(t1 + LOCK)
    assert [e.id for e in d.of(FttUnstaked)] == [first]
    d.at(t2 + LOCK + 5 * DAY)
    assert [e.id for e in d.of(FttUnstaked)] == [first, second]
    assert d.acct(s).balance("FTT") == 30 * ATOM
    assert balanced(d)


def test_a_cancelled_request_is_staked_again_and_never_released() -> None:
    d, _x, _ = ftt_desk()
    s = d.account("s", "", 0, FTT=200)
    other = d.account("t", "", 0, FTT=1)
    d.stake(s, 150)
    assert d.rates(s) == (-5, 665)  # 150 staked: maker -5; 50 FTT held ($1,250): 5% off the taker
    rid = d.unstake(s, 150)
    assert d.rates(s) == (190, 665)  # a request no longer counts as staked: holding's 5% alone
    d.reject(CancelFttUnstake(d.tick(), other, rid), handlers.NO_SUCH_REQUEST)  # not its request
    d.reject(CancelFttUnstake(d.tick(), s, rid + 1), handlers.NO_SUCH_REQUEST)
    d.cancel_unstake(s, rid)
    (cancelled,) = d.of(FttUnstakeCancelled)
    assert (cancelled.id, cancelled.size) == (rid, 150 * ATOM)
    assert d.ftt.staked(s) == 150 * ATOM and d.rates(s) == (-5, 665)
    d.at(d.ts + LOCK + 1)
    assert d.of(FttUnstaked) == [] and d.acct(s).balance("FTT") == 50 * ATOM
    assert balanced(d)


def test_refusals_change_nothing() -> None:
    d, _x, _y = ftt_desk()
    s = d.account("s", "", 100_000, FTT=100)
    d.stake(s, 10)
    d.reject(StakeFtt(d.tick(), 999, 1), "No such subaccount")
    d.reject(StakeFtt(d.tick(), s, 0), "Invalid parameter size")
    d.reject(StakeFtt(d.tick(), s, usd(91)), "Not enough balances")
    d.reject(RequestFttUnstake(d.tick(), s, usd(11)), handlers.NOT_ENOUGH_STAKED)
    d.reject(RequestFttUnstake(d.tick(), s, 0), "Invalid parameter size")
    d.reject(RequestFttUnstake(d.tick(), 999, 1), "No such subaccount")
    d.reject(CancelFttUnstake(d.tick(), 999, 1), "No such subaccount")
    # FTT held by an open sell order cannot be staked
    d.rest(s, "FTT/USD", "sell", "50", "30")
    d.reject(StakeFtt(d.tick(), s, usd(41)), "Not enough balances")
    d.stake(s, 40)
    assert balanced(d)


# ----------------------------------------------------------------------------- not collateral


def test_staked_ftt_is_not_collateral() -> None:
    d, _x, _y = ftt_desk()
    s = d.account("s", "", 0, FTT=1_000)
    # 1,000 FTT x $25 x weight 0.95
    assert collateral(d.ex, d.acct(s), initial=False) == 23_750 * USD
    d.stake(s, 400)
    assert collateral(d.ex, d.acct(s), initial=False) == 600 * 25 * 95 * USD // 100
    d.stake(s, 600)
    assert collateral(d.ex, d.acct(s), initial=False) == 0
    assert balanced(d)


def test_a_stake_that_would_leave_free_collateral_negative_is_refused() -> None:
    d, _x, y = ftt_desk()
    s = d.account("s", "", 0, FTT=1_000)  # $23,750 of collateral, initial weight 0.95
    d.ok(PlaceOrder(d.tick(), y, PERP, "sell", d.lots(PERP, "1"), 10_000))
    d.ok(PlaceOrder(d.tick(), s, PERP, "buy", d.lots(PERP, "1"), 10_000, "limit", True))
    assert d.position(s, PERP).size == d.lots(PERP, "1")
    d.reject(StakeFtt(d.tick(), s, usd(1_000)), "Not enough balances")
    assert free_collateral(d.ex, d.acct(s)) > 0
    d.stake(s, 100)  # a little is fine
    assert free_collateral(d.ex, d.acct(s)) >= 0
    assert balanced(d)


# ----------------------------------------------------------------------------- state: replay, snapshot, hash


def scenario() -> FttDesk:
    d, x, y = ftt_desk()
    h = d.account("h", "", 1_000_000, FTT=50_000)
    s = d.account("h", "s", 0, FTT=2_000)
    d.stake(s, 1_500)
    rid = d.unstake(s, 500)
    d.unstake(s, 100)
    d.cancel_unstake(s, rid)
    d.next_minute()
    d.perp_fill(taker=h, maker=x)
    d.perp_fill(taker=y, maker=h, side="sell")
    d.at(d.ts + LOCK)
    d.next_minute()
    d.perp_fill(taker=x, maker=s, size="0.5")
    return d


def test_a_journal_replays_to_the_same_state_hash_and_events(tmp_path: Path) -> None:
    d = scenario()
    assert d.of(FttStaked) and d.of(FttUnstaked) and d.of(FttFeeBenefitsChanged)
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    journal.append(d.sent)
    journal.close()
    read = [c for _, c in log.read(tmp_path)]
    assert read == d.sent
    again = products.exchange(products=(Ftt(),))
    replayed = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    assert replayed == d.events
    assert balanced(d)


def test_a_snapshot_restores_stakes_requests_and_fee_rates_and_goes_on_the_same(tmp_path: Path) -> None:
    d = scenario()
    s = d.ex.account_id("h", "s")
    assert s is not None
    d.unstake(s, 100)  # one request waiting
    final = d.ex.state_hash()
    snapshot.write(tmp_path, len(d.sent), d.ex)
    _seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(d.sent):016d}.pkl")
    copy = pickle.loads(pickle.dumps(d.ex))
    for ex in (loaded, copy):
        assert ex.state_hash() == final
        (restored,) = ex.products
        assert isinstance(restored, Ftt) and restored.canonical() == d.ftt.canonical()
        for owner, volume in d.ex.volumes.items():
            other = ex.volumes[owner]
            assert (other.maker_rate, other.taker_rate, other.discount, other.maker_cap, other.taker_cap) == (
                volume.maker_rate,
                volume.taker_rate,
                volume.discount,
                volume.maker_cap,
                volume.taker_cap,
            )
    x = d.ex.account_id("x")
    for ex in (d.ex, loaded):
        ex.apply(PlaceOrder(d.ts + 1, x, "FTT/USD", "buy", 10, 25_000))
        for k in range(1, 40):
            ex.apply(Tick(d.ts + k * DAY // 2))
    assert d.ex.state_hash() == loaded.state_hash()
    assert d.ftt.state.requests == {}


def test_owners_never_adjusted_keep_the_canonical_form_of_before() -> None:
    d, x, y = ftt_desk()
    d.perp_fill(taker=x, maker=y)
    assert len(d.ex.volumes["x"].canonical()) == 6
    form = state.canonical(d.ex)
    volumes = form[[p.name for p in state.PARTS].index("volumes")]
    assert all(len(v) == 6 for owner, v in volumes if owner in ("x", "y"))
    # adjusted, the three ints are appended; set back, the old form returns
    d.ex.volumes["x"].adjust(30_000)
    assert d.ex.volumes["x"].canonical()[6:] == (30_000, NO_CAP, NO_CAP)
    d.ex.volumes["x"].adjust(0)
    assert len(d.ex.volumes["x"].canonical()) == 6


def test_every_enabled_product_together() -> None:
    assert products.ENABLED == ("leveraged_tokens", "otc", "ftt", "volume_token")
    ex = products.exchange()
    assert [p.name for p in ex.products] == list(products.ENABLED)
    assert [p.code_base for p in ex.products] == [1_000, 2_000, 3_000, 4_000]
    assert [name for name, _ in ex.canonical()[-1]] == ["ledger", *products.ENABLED]


def test_history_tables_are_valid_for_the_projection() -> None:
    from backstop.projections.schema import all_tables

    history = Ftt().history()
    names = {t.name for t in all_tables((history,))}
    assert {
        "ftt_stakes",
        "ftt_unstake_requests",
        "ftt_unstake_cancels",
        "ftt_unstakes",
        "ftt_fee_benefits",
    } <= names
    for kind, table in history.logged.items():
        columns = [c.name for c in table.columns][2:]  # after seq, n
        assert columns == list(kind._fields), kind


# ----------------------------------------------------------------------------- buy-and-burn accrual


def test_a_third_of_each_days_fee_revenue_accrues_to_the_burn_pool() -> None:
    d, x, y = ftt_desk()  # day 10; setting FTT/USD's mark traded: fees on day 10 already
    d.perp_fill(taker=x, maker=y)  # $10,000: $7 + $2
    day10 = d.ex.fees.revenue(10)["USD"]
    assert day10 >= 9 * USD
    d.at(11 * DAY)  # the first tick of day 11 accrues day 10
    (accrued,) = d.of(FttBurnAccrued)
    assert (accrued.day, accrued.coin, accrued.revenue) == (10, "USD", day10)
    assert accrued.share == day10 // 3 == d.ex.pools[burn.POOL]["USD"]
    assert d.ex.fees.totals["USD"] == day10 - day10 // 3
    assert balanced(d)
    d.perp_fill(taker=x, maker=y, side="sell")  # day 11: $9 of fees exactly (no FTT held)
    d.at(11 * DAY + MINUTE)  # later ticks the same day accrue nothing more
    assert len(d.of(FttBurnAccrued)) == 1
    d.at(14 * DAY)  # days 12 and 13 had no fees: only day 11 accrues
    later = d.of(FttBurnAccrued)[1:]
    # day 11's base is what trading earned on it ($9), not less the day-10 share moved out on day 11
    assert [(e.day, e.coin, e.revenue, e.share) for e in later] == [(11, "USD", 9 * USD, 3 * USD)]
    assert d.ex.pools[burn.POOL]["USD"] == day10 // 3 + 3 * USD
    assert balanced(d)


def test_spot_fees_in_a_coin_accrue_in_that_coin() -> None:
    d, x, y = ftt_desk()
    d.at(11 * DAY)  # day 10's fees (the mark trade) accrued
    d.deposit(y, "BTC", 1)
    d.rest(x, "BTC/USD", "buy", "1", "10000")  # x the maker buys: pays 0.020% in BTC
    d.place(y, "BTC/USD", "sell", "1", "10000", ioc=True)  # y the taker: 0.070% in USD
    d.at(12 * DAY)
    day11 = {e.coin: e for e in d.of(FttBurnAccrued) if e.day == 11}
    assert day11["BTC"].revenue == 20_000 and day11["BTC"].share == 6_666  # 0.0002 BTC; a third, down
    assert day11["USD"].revenue == 7 * USD and day11["USD"].share == 233_333_333
    assert d.ex.pools[burn.POOL]["BTC"] == 6_666
    assert balanced(d)


def test_the_burn_replays_and_restores() -> None:
    d, x, y = ftt_desk()
    d.perp_fill(taker=x, maker=y)
    d.at(11 * DAY)
    d.perp_fill(taker=x, maker=y, side="sell")
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    for ex in (d.ex, copy):
        ex.apply(Tick(12 * DAY))
    assert copy.state_hash() == d.ex.state_hash()
    again = products.exchange(products=(Ftt(),))
    for command in [*d.sent, Tick(12 * DAY)]:
        again.apply(command)
    assert again.state_hash() == d.ex.state_hash()
