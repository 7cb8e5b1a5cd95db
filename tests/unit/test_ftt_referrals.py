"""FTT referrals and the per-account FTT collateral switch through the real engine (issue 13 section 2):
a referral chain pays only the direct referrer, the share follows the referrer's staking tier, the
referred owner's 5% discount and FTX's non-VIP floor on actual fills with hand-computed fees,
refusals change nothing, money is conserved, journals replay and snapshots restore to the same
state hash; FTT counted as collateral or not decides an order and a liquidation.

By hand (ftx-mechanics.md 5.1, 5.3, 5.4; tiers.toml): a new owner pays 0.020% maker / 0.070% taker
(200 / 700 ppm); referred, 5% less: 190 / 665. A $10,000 fill's taker fee is then $6.65, of which
a non-staking referrer earns 25%: $1.6625. FTT is at $25 ($1M is 40,000 FTT).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from ftt_desk import DAY, MINUTE, PERP, USD, FttDesk

from backstop import products
from backstop.engine import fees
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import PlaceOrder, Tick
from backstop.engine.events import LiquidationStarted
from backstop.engine.integrity import solvency
from backstop.engine.liquidation_price import estimated_liquidation_price
from backstop.engine.margin import collateral, free_collateral, margin_fraction
from backstop.engine.risk import below_maintenance
from backstop.journal import log
from backstop.products.ftt import collateral as ftt_collateral
from backstop.products.ftt import referrals
from backstop.products.ftt.commands import SetFttCollateral, SetFttReferrer
from backstop.products.ftt.events import (
    FttCollateralSwitched,
    FttFeeBenefitsChanged,
    FttReferralRebate,
    FttReferrerSet,
)
from backstop.products.ftt.product import Ftt

FTT_PRICE = 25
TEN_K = 10_000 * USD  # the notional of perp_fill's 1 BTC at $10,000


def ftt_desk() -> tuple[FttDesk, int, int]:
    """FTT/USD's mark at $25; two makers with $10M each (never referred)."""
    d = FttDesk()
    d.set_mark("FTT/USD", FTT_PRICE)
    x = d.account("x", "", 10_000_000)
    y = d.account("y", "", 10_000_000)
    d.next_minute()
    return d, x, y


def balanced(d: FttDesk) -> bool:
    return d.ex.discrepancies() == {} and bool(solvency(d.ex)["balanced"])


def refer(d: FttDesk, account: int, referrer: str) -> list:
    return d.ok(SetFttReferrer(d.tick(), account, referrer))


def rebates(d: FttDesk) -> list[tuple[str, str, int, int, int, bool]]:
    """(referrer, owner, fees, share, rebate, capped) of every settlement so far."""
    return [(e.referrer, e.owner, e.fees, e.share, e.rebate, e.capped) for e in d.of(FttReferralRebate)]


# ----------------------------------------------------------------------------- the pure rule


def test_the_rebate_rule_by_hand() -> None:
    # $6.65 of fees on $10,000, 25%: $1.6625; the floor leaves $6.65 - $3 = $3.65: not binding
    assert referrals.rebate_for(665 * USD // 100, TEN_K, 250_000, 300, False) == (166_250_000, False)
    # $3.85 (385 ppm): 25% is $0.9625 but only $0.85 is above 0.03% of $10,000
    assert referrals.rebate_for(385_000_000, TEN_K, 250_000, 300, False) == (85_000_000, True)
    # below the floor already: nothing; a VIP is not bound by it
    assert referrals.rebate_for(150_000_000, TEN_K, 250_000, 300, False) == (0, True)
    assert referrals.rebate_for(150_000_000, TEN_K, 250_000, 300, True) == (37_500_000, False)
    # rounded down (the exchange's favour): 7 atoms x 25% = 1.75 -> 1
    assert referrals.rebate_for(7, 0, 250_000, 300, False) == (1, False)


# ----------------------------------------------------------------------------- chain, share, discount


def test_a_referral_chain_pays_only_the_direct_referrer() -> None:
    d, x, _y = ftt_desk()
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    c = d.account("c", "", 100_000)
    (set_b, *_) = refer(d, b, "a")
    assert set_b == FttReferrerSet("b", "a", d.ts)
    refer(d, c, "b")
    assert d.rates(b) == d.rates(c) == (190, 665)  # 5% off at once: 200 - 10, 700 - 35
    assert d.rates(a) == (200, 700)  # a referrer gets no discount for it
    fills = [d.perp_fill(taker=b, maker=x), d.perp_fill(taker=c, maker=x, side="sell")]
    assert [f.taker_fee for f in fills] == [665_000_000, 665_000_000]  # $6.65 each
    assert [f.maker_fee for f in fills] == [2 * USD, 2 * USD]  # x not referred: $2
    a_usd, b_usd, c_usd = d.balance(a), d.balance(b), d.balance(c)
    revenue = d.ex.fees.totals["USD"]
    assert rebates(d) == []  # paid on the minute, not per fill
    d.next_minute()
    assert rebates(d) == [
        ("a", "b", 665_000_000, 250_000, 166_250_000, False),  # a on b's fees only
        ("b", "c", 665_000_000, 250_000, 166_250_000, False),  # b on c's; a nothing on c's
    ]
    assert d.balance(a) == a_usd + 166_250_000
    assert d.balance(b) == b_usd + 166_250_000
    assert d.balance(c) == c_usd
    assert d.ex.fees.totals["USD"] == revenue - 2 * 166_250_000  # paid out of the fee revenue
    d.next_minute()  # nothing more traded: nothing more paid
    assert len(rebates(d)) == 2
    # a maker fill pays the referrer nothing (only taker fees are shared)
    d.perp_fill(taker=x, maker=b)
    d.next_minute()
    assert len(rebates(d)) == 2
    d.at(11 * DAY)  # the burn accrues day 10's revenue, net of the rebates
    assert balanced(d)


def test_fees_before_the_referral_earn_nothing_and_the_count_restarts_each_minute() -> None:
    d, x, _y = ftt_desk()
    d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    d.perp_fill(taker=b, maker=x)  # $7 before b names a referrer
    refer(d, b, "a")
    d.perp_fill(taker=b, maker=x, side="sell", size="2")  # $20,000: $13.30
    d.next_minute()
    d.perp_fill(taker=b, maker=x, size="0.5")  # $5,000 x 665 ppm = $3.325
    d.next_minute()
    assert [(fees_, rebate) for _, _, fees_, _, rebate, _ in rebates(d)] == [
        (1_330_000_000, 332_500_000),
        (332_500_000, 83_125_000),
    ]
    assert [e.value for e in d.of(FttReferralRebate)] == [20_000 * USD, 5_000 * USD]
    assert balanced(d)


@pytest.mark.parametrize(
    ("staked", "share", "rebate"),
    [
        (0, 250_000, 166_250_000),  # non-staker: FTX's 25%
        (24, 250_000, 166_250_000),  # just below the first tier
        (25, 280_000, 186_200_000),  # 28% of $6.65
        (1_000, 320_000, 212_800_000),  # 32%
        (1_000_000, 400_000, 266_000_000),  # 40%; $6.65 - $2.66 >= $3: the floor does not bind
    ],
)
def test_the_share_is_the_referrers_staking_tiers(staked: int, share: int, rebate: int) -> None:
    d, x, _y = ftt_desk()
    a = d.account("a", "", 100_000, FTT=1_000_000)
    sub = d.account("a", "staking")  # staked in a subaccount: counts for the owner; paid to main
    if staked:
        d.transfer(a, sub, "FTT", staked)
        d.stake(sub, staked)
    b = d.account("b", "", 100_000)
    refer(d, b, "a")
    d.perp_fill(taker=b, maker=x)
    before = d.balance(a)
    d.next_minute()
    assert rebates(d) == [("a", "b", 665_000_000, share, rebate, False)]
    (event,) = d.of(FttReferralRebate)
    assert event.account == a and d.balance(a) == before + rebate and d.balance(sub) == 0
    assert balanced(d)


def test_the_5pct_adds_to_the_holding_discount_and_the_non_vip_floor_cuts_the_rebate() -> None:
    d, x, _y = ftt_desk()
    d.account("a", "", 100_000)
    b = d.account("b", "", 100_000, FTT=40_000)  # $1M: 40%
    d.next_minute()
    assert d.rates(b) == (120, 420)
    (*_, changed) = refer(d, b, "a")
    assert isinstance(changed, FttFeeBenefitsChanged) and changed.discount == 450_000
    assert d.rates(b) == (110, 385)  # 45%: 200 - 90, 700 - 315
    fill = d.perp_fill(taker=b, maker=x)
    assert fill.taker_fee == 385_000_000  # $3.85
    d.next_minute()
    # 25% would be $0.9625; taker less rebate must stay >= 0.03% of $10,000 = $3: $0.85
    assert rebates(d) == [("a", "b", 385_000_000, 250_000, 85_000_000, True)]
    assert balanced(d)


def test_a_vip_is_not_bound_by_the_non_vip_floor_and_keeps_the_taker_floor() -> None:
    d, x, _y = ftt_desk()
    d.account("a", "", 100_000)
    b = d.account("b", "", 100_000, FTT=100_000)  # $2.5M: 50% + VIP1 (0 / 300)
    refer(d, b, "a")
    # VIP1's 300 less 55% is 135, raised to FTX's taker floor of 150
    assert d.rates(b) == (0, 150)
    fill = d.perp_fill(taker=b, maker=x)
    assert fill.taker_fee == 150_000_000  # $1.50, below 0.03%: the non-VIP floor would pay nothing
    d.next_minute()
    assert rebates(d) == [("a", "b", 150_000_000, 250_000, 37_500_000, False)]
    assert balanced(d)


def test_a_referrer_without_a_main_account_is_paid_in_its_first() -> None:
    d, x, _y = ftt_desk()
    first = d.account("a", "one")
    d.account("a", "two")
    b = d.account("b", "", 100_000)
    refer(d, b, "a")
    d.perp_fill(taker=b, maker=x)
    d.next_minute()
    (event,) = d.of(FttReferralRebate)
    assert event.account == first and d.balance(first) == 166_250_000
    assert balanced(d)


# ----------------------------------------------------------------------------- refusals


def test_refusals_change_nothing() -> None:
    d, _x, _y = ftt_desk()
    d.account("a", "")
    b = d.account("b", "")
    c = d.account("c", "")
    a_sub = d.account("a", "sub")
    d.reject(SetFttReferrer(d.tick(), 999, "a"), "No such subaccount")
    d.reject(SetFttReferrer(d.tick(), b, "nobody"), referrals.NO_SUCH_REFERRER)
    d.reject(SetFttReferrer(d.tick(), b, "b"), referrals.SELF_REFERRAL)
    refer(d, b, "a")
    refer(d, c, "b")
    d.reject(SetFttReferrer(d.tick(), b, "c"), referrals.REFERRER_SET)  # twice, even to another
    d.reject(SetFttReferrer(d.tick(), b, "a"), referrals.REFERRER_SET)  # twice, the same
    d.reject(SetFttReferrer(d.tick(), a_sub, "b"), referrals.REFERRAL_CYCLE)  # a -> b -> a
    d.reject(SetFttReferrer(d.tick(), a_sub, "c"), referrals.REFERRAL_CYCLE)  # a -> c -> b -> a
    assert d.ftt.state.referrers == {"b": "a", "c": "b"}
    refer(d, a_sub, "x")  # a names someone outside its chain: fine
    assert balanced(d)


# ----------------------------------------------------------------------------- state


def test_canonical_forms_change_only_for_referred_owners_and_switched_accounts() -> None:
    d, x, y = ftt_desk()
    ftt_before = d.ftt.canonical()
    assert len(ftt_before) == 10  # the fixed fields, the burn's and the gains' states
    d.account("a", "")
    b = d.account("b", "", 1_000, FTT=100)
    d.perp_fill(taker=x, maker=y)
    assert len(d.ex.volumes["x"].canonical()) == 6
    assert len(d.ex.accounts[b].canonical()) == 12
    refer(d, b, "a")
    assert len(d.ex.volumes["b"].canonical()) == 11  # the adjustment, then the count
    assert d.ftt.canonical()[10] == ["referrals", [("b", "a")]]
    d.ok(SetFttCollateral(d.tick(), b, False))
    assert d.ex.accounts[b].canonical()[12] == ["FTT"]
    d.ok(SetFttCollateral(d.tick(), b, True))
    assert len(d.ex.accounts[b].canonical()) == 12


def scenario() -> FttDesk:
    d, x, y = ftt_desk()
    a = d.account("a", "", 100_000, FTT=2_000)
    d.stake(a, 1_000)
    b = d.account("b", "", 100_000, FTT=40_000)
    c = d.account("c", "", 100_000)
    refer(d, b, "a")
    refer(d, c, "b")
    d.ok(SetFttCollateral(d.tick(), b, False))
    d.perp_fill(taker=b, maker=x)
    d.perp_fill(taker=c, maker=y, side="sell")
    d.next_minute()
    d.perp_fill(taker=c, maker=x, size="0.5")  # counted, not yet paid
    return d


def test_a_journal_replays_to_the_same_state_hash_and_events(tmp_path: Path) -> None:
    d = scenario()
    assert d.of(FttReferralRebate) and d.of(FttCollateralSwitched)
    assert d.ex.volumes["c"].taker_fees > 0
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    journal.append(d.sent)
    journal.close()
    read = [command for _, command in log.read(tmp_path)]
    assert read == d.sent
    again = products.exchange(products=(Ftt(),))
    replayed = []
    for command in read:
        replayed.extend(again.apply(command))
    assert again.state_hash() == final
    assert replayed == d.events
    assert balanced(d)


def test_a_snapshot_restores_referrers_counts_and_switches_and_goes_on_the_same() -> None:
    d = scenario()
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    (restored,) = copy.products
    assert isinstance(restored, Ftt) and restored.state.referrers == {"b": "a", "c": "b"}
    assert copy.volumes["c"].taker_counted and copy.volumes["c"].taker_fees == d.ex.volumes["c"].taker_fees
    b = d.ex.account_id("b")
    assert b is not None and copy.accounts[b].excluded == {"FTT"}
    later = []
    for ex in (d.ex, copy):
        later.append(ex.apply(Tick(d.ts + MINUTE)))
    assert later[0] == later[1] and any(isinstance(e, FttReferralRebate) for e in later[0])
    assert copy.state_hash() == d.ex.state_hash()


# ----------------------------------------------------------------------------- the collateral switch


def long_on_ftt(d: FttDesk, usd_amount: int) -> int:
    """An account with $`usd_amount` and 1,000 FTT ($23,750 of collateral at 0.95), long 1 BTC-PERP
    bought at $10,000 (IMF 10%: $1,000; MMF 3%)."""
    y = d.ex.account_id("y")
    assert y is not None
    s = d.account("s", "", usd_amount, FTT=1_000)
    d.ok(PlaceOrder(d.tick(), y, PERP, "sell", d.lots(PERP, "1"), 10_000))
    d.ok(PlaceOrder(d.tick(), s, PERP, "buy", d.lots(PERP, "1"), 10_000, "limit", True))
    assert d.position(s, PERP).size == d.lots(PERP, "1")
    return s


def test_ftt_counts_zero_when_switched_off_and_a_switch_that_leaves_no_margin_is_refused() -> None:
    d, _x, _y = ftt_desk()
    s = long_on_ftt(d, 0)  # all its collateral is FTT
    acct = d.acct(s)
    fee = 7 * USD  # its taker fee
    assert collateral(d.ex, acct, initial=False) == 23_750 * USD - fee
    assert ftt_collateral.counts(d.ex, d.ftt, s)
    d.reject(SetFttCollateral(d.tick(), s, False), ftt_collateral.NOT_ENOUGH_COLLATERAL)
    d.deposit(s, "USD", 1_500)
    assert d.ok(SetFttCollateral(d.tick(), s, True)) == []  # on already: nothing happens
    (switched,) = d.ok(SetFttCollateral(d.tick(), s, False))
    assert switched == FttCollateralSwitched(s, False, d.ts)
    assert not ftt_collateral.counts(d.ex, d.ftt, s)
    assert collateral(d.ex, acct, initial=False) == 1_500 * USD - fee
    assert free_collateral(d.ex, acct) == 1_500 * USD - fee - 1_000 * USD
    assert margin_fraction(d.ex, acct) == (1_500 * USD - fee) * RATE // TEN_K  # 14.93%
    assert d.balance(s, "FTT") == 1_000 * ATOM  # still its own
    d.withdraw(s, "FTT", 1_000)  # and free to leave: it backs nothing
    assert balanced(d)


def test_an_order_refused_with_ftt_off_is_accepted_with_it_on() -> None:
    d, _x, y = ftt_desk()
    s = long_on_ftt(d, 1_500)
    d.ok(SetFttCollateral(d.tick(), s, False))
    # $1,493 of collateral less $1,000 held for the long: 1 more BTC needs $1,000 more
    d.ok(PlaceOrder(d.tick(), y, PERP, "sell", d.lots(PERP, "1"), 10_000))
    d.reject(
        PlaceOrder(d.tick(), s, PERP, "buy", d.lots(PERP, "1"), 10_000, "limit", True),
        "Account does not have enough margin for order",
    )
    d.ok(SetFttCollateral(d.tick(), s, True))
    d.ok(PlaceOrder(d.tick(), s, PERP, "buy", d.lots(PERP, "1"), 10_000, "limit", True))
    assert d.position(s, PERP).size == d.lots(PERP, "2")
    assert balanced(d)


@pytest.mark.parametrize("back_on", [False, True])
def test_a_fall_liquidates_the_account_with_ftt_off_and_not_with_it_switched_back_on(back_on: bool) -> None:
    d, _x, _y = ftt_desk()
    s = long_on_ftt(d, 1_500)
    d.ok(SetFttCollateral(d.tick(), s, False))
    # without FTT: TAV = $1,493 + (p - $10,000), maintenance 3% of p: liquidated below ~$8,770 (8,507 / 0.97)
    price = estimated_liquidation_price(d.ex, d.acct(s), PERP)
    assert price is not None and d.ticks(PERP, 8_765) < price < d.ticks(PERP, 8_775)
    if back_on:
        d.ok(SetFttCollateral(d.tick(), s, True))
        assert estimated_liquidation_price(d.ex, d.acct(s), PERP) == 0  # fully collateralised
    events = []
    for price_step in (9_600, 9_200, 8_800, 8_700):  # within the market's price bands
        d.set_mark(PERP, price_step)
        events += d.second()
    started = [e for e in events if isinstance(e, LiquidationStarted) and e.account == s]
    if back_on:
        assert started == [] and not below_maintenance(d.ex, d.acct(s))
    else:
        assert len(started) == 1 and d.acct(s).liquidation
        # being liquidated, it may switch its FTT back on (never harmful), not off again
        d.ok(SetFttCollateral(d.tick(), s, True))
        d.reject(SetFttCollateral(d.tick(), s, False), "Account is being liquidated")
    assert balanced(d)


def test_an_ftt_debt_counts_in_full_either_way() -> None:
    d, _x, _y = ftt_desk()
    s = d.account("s", "", 10_000)
    acct = d.acct(s)
    d.ok(SetFttCollateral(d.tick(), s, False))
    acct.credit("FTT", -ATOM)  # a debt of 1 FTT, as funding or a borrow would leave (no money moved)
    assert collateral(d.ex, acct, initial=False) == 10_000 * USD - FTT_PRICE * USD
    acct.credit("FTT", ATOM)


def test_fees_module_count_api() -> None:
    v = fees.Volume()
    assert v.take_taker() == (0, 0) and not v.taker_counted
    v.count_taker(True)
    v.add_taker(5, 7)
    assert (v.taker_fees, v.taker_value) == (5, 7)
    assert v.take_taker() == (5, 7) and v.take_taker() == (0, 0)
    assert len(v.canonical()) == 11
    assert (fees.NO_TERMS.taker_fees, fees.NO_TERMS.taker_value) == (0, 0)  # the owner's own terms
    v.count_taker(False)
    assert len(v.canonical()) == 6


def test_referrals_and_switches_are_written_to_the_projection(tmp_path: Path) -> None:
    from backstop.products.ftt import history
    from backstop.projections import Projection

    d = scenario()
    d.next_minute()
    results = []
    again = products.exchange(products=(Ftt(),))
    for command in d.sent:
        results.append(again.apply(command))
    live = Projection.open(tmp_path / "live", histories=(Ftt().history(),))
    live.on_batch(d.sent, results, len(d.sent))
    events = [(seq, n, e) for seq, es in enumerate(results, 1) for n, e in enumerate(es)]
    for table in (history.REFERRERS, history.REFERRAL_REBATES, history.COLLATERAL_SWITCHES):
        kind = next(k for k, t in history.history().logged.items() if t is table)
        rows = live.backend.fix(
            table, live.backend.fetch(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY seq, n")
        )
        fields = table.names[2:]
        expected = [(seq, n, *(getattr(e, f) for f in fields)) for seq, n, e in events if type(e) is kind]
        assert rows == expected and rows, table.name


def test_every_settlement_matches_the_fills_since_the_last_one_over_days_of_random_trading() -> None:
    """The engine's count against the Fill events: each settlement's fees and notional are exactly
    the referred owner's taker fills since its previous one, across minutes and days (with the burn
    accruing), and money is conserved throughout."""
    import random

    from backstop.engine.events import Fill

    rng = random.Random(13)
    d, x, y = ftt_desk()
    owners = ["a", "b", "c", "d"]
    accounts = {o: d.account(o, "", 1_000_000, FTT=rng.choice([0, 100, 40_000])) for o in owners}
    d.stake(accounts["a"], 25)
    refer(d, accounts["b"], "a")
    refer(d, accounts["c"], "b")
    for _ in range(120):
        taker = accounts[rng.choice(owners)]
        side = rng.choice(["buy", "sell"])
        d.perp_fill(taker=taker, maker=rng.choice([x, y]), size=rng.choice(["0.01", "0.1", "1"]), side=side)
        if rng.random() < 0.2:
            d.at(d.ts + rng.choice([MINUTE // 2, MINUTE, 5 * MINUTE, 6 * 3_600 * 1_000_000]))
        if rng.random() < 0.05 and "d" not in d.ftt.state.referrers:
            refer(d, accounts["d"], "c")  # a referral made mid-way counts from then on
    d.next_minute()
    tick_value = d.markets[PERP].tick_value
    counting: dict[str, list[int]] = {}
    settled = 0
    for e in d.events:
        if isinstance(e, FttReferrerSet):
            counting[e.owner] = [0, 0]
        elif isinstance(e, Fill):
            owner = d.ex.accounts[e.taker_account].owner
            if owner in counting:
                counting[owner][0] += e.taker_fee
                counting[owner][1] += e.size * e.price * tick_value
        elif isinstance(e, FttReferralRebate):
            assert [e.fees, e.value] == counting[e.owner], e
            counting[e.owner] = [0, 0]
            settled += 1
    assert settled > 10 and all(v == [0, 0] for v in counting.values())
    assert d.ex.pools.get("ftt:burn")  # days passed: the burn accrued beside the rebates
    assert balanced(d)
