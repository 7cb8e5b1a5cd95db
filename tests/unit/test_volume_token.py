"""The volume token on the engine: issuance in shares, swaps and liquidity through the ledger,
rebases on their schedule with every input recorded, VOL on its spot book, conservation and
replay. Expected figures are worked out by hand in the comments."""

from __future__ import annotations

import itertools

from engine_kit import usd
from hypothesis import given, settings
from hypothesis import strategies as st
from vol_desk import DAY, DAY0, HOUR, MINUTE, VOL, VolDesk

from backstop import products
from backstop.engine import integrity
from backstop.engine.amounts import ATOM, RATE
from backstop.engine.commands import Deposit
from backstop.engine.events import OrderClosed
from backstop.engine.state import canonical, restore_into
from backstop.products.volume_token import handlers, view
from backstop.products.volume_token.commands import (
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SetVolumePolicy,
    SwapVolumeToken,
)
from backstop.products.volume_token.events import VolumeLiquidityAdded, VolumeRebased, VolumeSwapped
from backstop.products.volume_token.params import POOL, TOTAL_SHARES
from backstop.products.volume_token.schedule import POOL_TOO_YOUNG
from backstop.products.volume_token.state import VolumeState

FAST = {"interval_us": HOUR, "window_length_us": HOUR, "twap_window_us": 10 * MINUTE}
"""An hourly policy with a 10-minute TWAP: the seed's rules on a test's time scale."""


def launched(seed: int = 0, price: str = "1.1", **policy: object) -> tuple[VolDesk, int, int, int]:
    """1,000,000 VOL issued (divisor 100,000), all of it in the pool against $1.1m ($1.10), and one
    BTC/USD trade of $100,000: a $1.00 target, the pool 10% above it. (desk, issuer, a, b)"""
    d = VolDesk(seed=seed, **{**FAST, **policy})
    issuer = d.account("issuer", usd_amount=1_100_000 * int(float(price) * 10) // 11)
    a = d.account("a", usd_amount=200_000)
    b = d.account("b", BTC=1)
    d.issue(issuer, 1_000_000, 100_000)
    d.add(issuer, 1_000_000, int(1_000_000 * float(price)))
    d.trade(b, a, "BTC/USD", 1, 100_000)
    return d, issuer, a, b


def test_issuance_mints_every_share_to_the_issuer() -> None:
    d = VolDesk()
    issuer = d.account("issuer")
    d.issue(issuer, 500_000, 10**9)
    assert d.units() == TOTAL_SHARES // usd(500_000) == 180_000
    assert d.shares(issuer) == TOTAL_SHARES
    assert d.vol(issuer) == usd(500_000)
    assert d.ex.supply[VOL] == TOTAL_SHARES
    d.reject(IssueVolumeToken(d.tick(), issuer, usd(1), 10**9), handlers.ALREADY_ISSUED)
    assert not any(integrity.discrepancies(d.ex).values())


def test_rebase_moves_supply_by_a_quarter_of_the_gap_and_records_its_inputs() -> None:
    d, issuer, _a, _b = launched()
    d.until(DAY0 + 4 * HOUR)
    rebased = d.rebases()
    assert rebased, d.skips()
    first = rebased[0]
    # inputs: the $100,000 trade in the 24-hour window, divisor 100,000: target $1.00; the pool
    # untouched since its deposit: TWAP exactly $1.10; deviation +10%
    assert first.volume == usd(100_000)
    assert first.target == usd(1)
    assert first.twap == usd("1.1")
    assert first.deviation == RATE // 10
    # supply 1,000,000 x 10% / 4 = +25,000 VOL
    assert first.supply_before == usd(1_000_000)
    assert first.delta == usd(25_000)
    assert first.supply_after == usd(1_025_000)
    assert first.units_before == 9 * 10**18 // usd(1_000_000) == 90_000
    assert first.units_after == 9 * 10**18 // usd(1_025_000) == 87_804
    # the window's inputs: the TWAP window inside the last 10 minutes, the volume window the last 24 h
    assert first.ts - 10 * MINUTE <= first.twap_from < first.ts - 9 * MINUTE
    assert first.twap_to == first.ts
    assert first.volume_to - first.volume_from == DAY
    # the issuer's VOL count grew by the rebase factor, its shares did not move
    assert d.shares(issuer) == 0  # all in the pool
    pool_shares = d.ex.pools[POOL][VOL]
    assert pool_shares == TOTAL_SHARES
    # after it the pool held 9e18 // 87,804 atoms = 1,025,010.25 VOL: the units' rounding (1e-5)
    assert pool_shares // first.units_after == 102_501_025_010_250


def test_with_market_value_held_each_rebase_closes_about_a_quarter() -> None:
    """Nobody trades with the pool: its USD (the token's market value) holds, so the price falls
    as the supply grows; each rebase's deviation is about three quarters of the last."""
    d, *_ = launched()
    d.until(DAY0 + 8 * HOUR)
    devs = [r.deviation for r in d.rebases()]
    assert len(devs) >= 4
    for before, after in itertools.pairwise(devs):
        if before < RATE // 20:  # inside the band: no change
            assert after == before
            continue
        expected = (before * 3 / 4) / (1 + before / RATE / 4)
        assert abs(after - expected) <= RATE // 10_000  # within 0.01% (units' rounding)


def test_a_holders_share_of_supply_never_moves() -> None:
    d, _issuer, a, _b = launched()
    d.swap(a, "USD", 50_000)  # a buys VOL from the pool
    mine = d.shares(a)
    share_before = (mine, d.ex.supply[VOL])
    d.until(DAY0 + 4 * HOUR)
    assert d.rebases()
    assert (d.shares(a), d.ex.supply[VOL]) == share_before
    # what a sees: its atoms scale with the supply
    last = d.rebases()[-1]
    assert d.vol(a) == mine // last.units_after


def test_rebases_once_per_interval_and_only_inside_its_window() -> None:
    for seed in range(6):
        d, *_ = launched(seed=seed, window_offset_us=20 * MINUTE, window_length_us=30 * MINUTE)
        d.until(DAY0 + 10 * HOUR)
        periods = [r.ts // HOUR for r in d.rebases()] + [s.ts // HOUR for s in d.skips()]
        assert len(periods) == len(set(periods)), periods  # never twice in an hour
        for r in d.rebases():
            assert 20 * MINUTE <= r.ts % HOUR < 50 * MINUTE
        assert len(d.rebases()) >= 8


def test_first_interval_waits_for_a_whole_twap_window() -> None:
    d = VolDesk(**{**FAST, "twap_window_us": 30 * MINUTE})
    issuer = d.account("issuer", usd_amount=1_100_000)
    d.issue(issuer, 1_000_000, 100_000)
    d.until(DAY0 + 50 * MINUTE)
    d.add(issuer, 1_000_000, 1_100_000)  # the pool opens at 00:50: the first hour cannot use it
    d.until(DAY0 + 2 * HOUR)
    assert any(s.reason == POOL_TOO_YOUNG for s in d.skips())


def test_rebase_cancels_orders_resting_on_vols_book() -> None:
    d, _issuer, a, _b = launched()
    d.swap(a, "USD", 10_000)
    oid = d.rest(a, "VOL/USD", "sell", 100, "1.2")
    held = d.ex.accounts[a].reserved[VOL]
    assert held == d.lots("VOL/USD", 100) * d.ex.books["VOL/USD"].lot_units == usd(100) * d.units()
    d.until(DAY0 + 2 * HOUR)
    assert d.rebases()
    closed = [e for e in d.events if isinstance(e, OrderClosed) and e.order_id == oid]
    assert closed and closed[0].reason == "rebase"
    assert VOL not in d.ex.accounts[a].reserved


def test_vol_on_its_spot_book_moves_shares() -> None:
    d, _issuer, a, b = launched()
    d.swap(a, "USD", 10_000)
    d.until(DAY0 + 2 * HOUR)  # at least one rebase: units no longer 90,000
    units = d.units()
    assert units != 90_000
    before_a, before_b = d.shares(a), d.shares(b)
    d.trade(a, b, "VOL/USD", 10, "1.05")
    # b took 10 VOL (its taker fee is in USD; a, the maker selling, pays its fee in USD too)
    assert d.shares(b) - before_b == usd(10) * units
    assert before_a - d.shares(a) == usd(10) * units
    assert d.vol(b) - before_b // units in (usd(10), usd(10) + 1)
    assert not any(integrity.discrepancies(d.ex).values())


def test_withdraw_deposit_and_transfer_in_vol_atoms() -> None:
    d, _issuer, a, _b = launched()
    d.swap(a, "USD", 10_000)
    have = d.vol(a)
    d.withdraw(a, VOL, 100)
    assert d.vol(a) == have - usd(100)
    d.deposit(a, VOL, 40)
    assert d.vol(a) == have - usd(60)
    # only what left may come back
    d.reject(
        Deposit(d.tick(), a, VOL, usd(61)),
        "Deposit refused: more VOL than was ever withdrawn from the exchange",
    )
    a2 = d.account("a", "sub")
    d.transfer(a, a2, VOL, 5)
    assert d.vol(a2) == usd(5)
    assert not any(integrity.discrepancies(d.ex).values())


def test_swap_checks_and_slippage() -> None:
    d, _issuer, a, _b = launched()
    # 1,100 USD in at 0.3% against 1,100,000 USD / 1,000,000 VOL: 1,096.7 x 1e6 / 1,101,096.7 = 996.0...
    out = SwapVolumeToken(d.tick(), a, "USD", usd(1_100), usd(997))
    d.reject(out, handlers.SLIPPAGE)
    (swapped, *_) = d.swap(a, "USD", 1_100, 996)
    assert isinstance(swapped, VolumeSwapped)
    assert swapped.amount_out // ATOM == 996
    assert swapped.fee == usd("3.3")
    d.reject(SwapVolumeToken(d.tick(), a, "BTC", usd(1), 0), handlers.INVALID_COIN)
    d.reject(SwapVolumeToken(d.tick(), a, "USD", usd(10**7), 0), "Not enough balances")
    d.reject(SwapVolumeToken(d.tick(), 99, "USD", usd(1), 0), "No such subaccount")


def test_fees_accrue_to_liquidity_providers() -> None:
    d, _issuer, a, _b = launched()
    lp_account = d.account("lp", usd_amount=110_000)
    d.swap(lp_account, "USD", 55_000)  # VOL to deposit with
    (added, *_) = d.ok(AddVolumeLiquidity(d.tick(), lp_account, d.vol(lp_account), usd(55_000), 0))
    assert isinstance(added, VolumeLiquidityAdded)
    assert added.vol > 0 and added.usd > 0
    for _ in range(20):  # round trips: the pool keeps 0.3% of each input
        d.swap(a, "USD", 5_000)
        d.swap(a, VOL, d.vol(a) // ATOM)
    (removed, *_) = d.remove(lp_account, added.lp)
    # priced at the pool's price after, what came out is worth more than what went in
    price = removed.price
    value_in = added.usd + added.vol * price // ATOM
    value_out = removed.usd + removed.vol * price // ATOM
    assert value_out > value_in


def test_policy_only_faster() -> None:
    d = VolDesk()
    d.reject(SetVolumePolicy(d.tick(), RATE // 10, 4), handlers.ONLY_FASTER)  # threshold up
    d.reject(SetVolumePolicy(d.tick(), RATE // 20, 5), handlers.ONLY_FASTER)  # lag up
    d.ok(SetVolumePolicy(d.tick(), RATE // 50, 2))
    assert (d.vt.state.threshold, d.vt.state.lag) == (RATE // 50, 2)


def test_conservation_through_swaps_liquidity_and_rebases() -> None:
    d, _issuer, a, _b = launched()
    for i in range(6):
        d.swap(a, "USD", 1_000 + i)
        d.until(d.ts + 25 * MINUTE)
        d.swap(a, VOL, 500)
        assert not any(integrity.discrepancies(d.ex).values()), integrity.discrepancies(d.ex)
    assert d.rebases()
    shares = sum(acct.balance(VOL) for acct in d.ex.accounts) + d.ex.pools[POOL][VOL]
    assert shares == TOTAL_SHARES


def test_replay_reproduces_rebase_times_and_state() -> None:
    d, *_ = launched(seed=7)
    d.until(DAY0 + 6 * HOUR)
    times = [r.ts for r in d.rebases()]
    assert times
    vt = VolDesk(seed=7, **FAST).vt
    again = products.exchange(seed=7, products=(vt,))
    events = []
    for command in d.sent:
        events += again.apply(command)
    assert [e.ts for e in events if isinstance(e, VolumeRebased)] == times
    assert again.state_hash() == d.ex.state_hash()


def test_snapshot_round_trip_keeps_units_on_the_books() -> None:
    d, *_ = launched()
    d.until(DAY0 + 2 * HOUR)
    form = canonical(d.ex)
    vt = VolDesk(**FAST).vt
    fresh = products.exchange(seed=0, products=(vt,))
    restore_into(fresh, form)
    assert canonical(fresh) == form
    assert fresh.units[VOL] == d.units()
    assert fresh.books["VOL/USD"].lot_units == d.ex.books["VOL/USD"].lot_units


def test_exchange_without_the_product_is_unchanged() -> None:
    ex = products.exchange(seed=0, products=())
    assert "VOL" not in ex.catalog.coins and not ex.units
    assert VolumeState(1, 1).issued is False


def test_a_few_minutes_of_manipulation_move_the_24h_twap_by_their_time_share() -> None:
    """The pool at $1.10 for a day; a manipulator buys the price up to about $4.40 for 5 minutes,
    then sells back. Over the 24-hour window the TWAP moves by the path's time-weighted share, at
    most (4.40 - 1.10) x 5 / 1,440 = about $0.0115, however high the spike."""
    d = VolDesk()
    issuer = d.account("issuer", usd_amount=1_100_000)
    m = d.account("m", usd_amount=2_000_000)
    d.issue(issuer, 1_000_000, 100_000)
    d.add(issuer, 1_000_000, 1_100_000)
    d.until(DAY0 + 25 * HOUR)
    base = view.token(d.vt, d.ex, d.ts).twap
    assert base == usd("1.1")
    (up, *_) = d.swap(m, "USD", 1_100_000)  # doubles the USD side: price about x4
    start = up.ts
    d.until(start + 5 * MINUTE)
    (down, *_) = d.swap(m, VOL, d.vol(m) // ATOM)
    d.until(down.ts + 30 * MINUTE)
    now = d.ts
    seen = view.token(d.vt, d.ex, now)
    assert up.price > 4 * usd(1)
    # by hand from the path: $1.10 until `up`, up.price until `down`, down.price until now
    t0 = seen.twap_from
    expected = (usd("1.1") * (start - t0) + up.price * (down.ts - start) + down.price * (now - down.ts)) // (
        now - t0
    )
    assert seen.twap == expected
    assert 0 < seen.twap - base <= (up.price - base) * (down.ts - start) // (24 * HOUR) + usd("0.0001")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["buy", "sell", "add", "remove", "wait"]), st.integers(1, 100_000)),
        min_size=1,
        max_size=25,
    )
)
def test_property_conservation_and_k(ops: list[tuple[str, int]]) -> None:
    """Any sequence of swaps, deposits, withdrawals of liquidity and rebases: every coin conserved
    (integrity), every share accounted for (balances + pool = TOTAL_SHARES), k never falls on a swap
    and an LP's shares never exceed what was minted."""
    d, _issuer, a, _b = launched()
    lp = d.account("lp", usd_amount=500_000)
    d.swap(lp, "USD", 200_000)
    for op, n in ops:
        shares, usd_reserve = d.ex.pools[POOL][VOL], d.ex.pools[POOL]["USD"]
        k = shares * usd_reserve
        if op == "buy":
            events = d.apply(SwapVolumeToken(d.tick(), a, "USD", usd(n), 0))
        elif op == "sell":
            events = d.apply(SwapVolumeToken(d.tick(), lp, VOL, usd(n) // 10, 0))
        elif op == "add":
            events = d.apply(AddVolumeLiquidity(d.tick(), lp, usd(n), usd(n), 0))
        elif op == "remove":
            held = d.vt.state.lp.get(lp, 0)
            events = d.apply(RemoveVolumeLiquidity(d.tick(), lp, max(1, held * n // 100_000), 0, 0))
        else:
            events = d.until(d.ts + n * 2_000_000)
        if op in ("buy", "sell") and events and isinstance(events[0], VolumeSwapped):
            assert d.ex.pools[POOL][VOL] * d.ex.pools[POOL]["USD"] >= k
        assert not any(integrity.discrepancies(d.ex).values())
        held_shares = sum(acct.balance(VOL) for acct in d.ex.accounts) + d.ex.pools[POOL][VOL]
        assert held_shares == TOTAL_SHARES == d.ex.supply[VOL]
        assert sum(d.vt.state.lp.values()) + d.vt.params.minimum_liquidity == d.vt.state.lp_total


def test_vol_is_valued_in_atoms_wherever_the_risk_engine_looks() -> None:
    """The ledger holds shares; margin, the risk sweep and liquidation's collateral sale must see
    VOL atoms at the VOL/USD mark (weight 0: worth its value gross, nothing as collateral)."""
    from backstop.engine import liquidation, risk
    from backstop.engine.margin import collateral

    d, *_ = launched()
    a = d.account("holder", usd_amount=10_000)
    d.swap(a, "USD", 10_000)
    d.until(DAY0 + 2 * HOUR)  # a rebase: units moved off their issuance value
    mm = d.account("mm", usd_amount=100_000)
    d.swap(mm, "USD", 20_000)
    d.rest(mm, "VOL/USD", "buy", 100, "1")
    d.rest(mm, "VOL/USD", "sell", 100, "1.2")
    book = d.ex.books["VOL/USD"]
    mark = book.mark()
    assert mark is not None
    held = d.vol(a)
    worth = book.info.coin_value(held, mark)
    acct = d.ex.accounts[a]
    assert risk.assess(d.ex, acct).gross == worth
    assert collateral(d.ex, acct, True) == acct.usd  # weight 0
    assert liquidation._sellable(d.ex, acct) == [(worth, VOL)]
