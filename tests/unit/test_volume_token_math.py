"""The volume token's pure rules against hand-computed cases: the seed's rebase formula [FVT-MED]
on Ampleforth's policy [AMPL], Uniswap v2's constant product and cumulative price [UNI]."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from backstop.engine.amounts import ATOM, RATE
from backstop.products.volume_token import amm, oracle, rebase
from backstop.products.volume_token.params import MAX_RATE, MAX_SUPPLY, MIN_SUPPLY

FIVE_PCT = RATE // 20
D = 1_000_000_000  # FTX's scale: target = volume / 1e9


def dollars(x: str) -> int:
    return int(Fraction(x) * ATOM)


# -- the rebase formula ---------------------------------------------------------------------------


def test_target_is_volume_over_divisor() -> None:
    # FVT's example: $1.1bn of 24-hour volume -> a $1.10 target
    assert rebase.target(dollars("1100000000"), D) == dollars("1.1")


def test_inside_the_band_no_rebase() -> None:
    volume = dollars("1000000000")  # target $1.00
    supply = dollars("500000")
    for price in ("1.0499", "0.9501", "1"):
        assert rebase.supply_delta(supply, volume, D, dollars(price), FIVE_PCT, 4) == 0
    # exactly 5% away is outside (|deviation| < threshold is the band, Ampleforth's test)
    assert rebase.supply_delta(supply, volume, D, dollars("1.05"), FIVE_PCT, 4) == dollars("6250")


def test_outside_the_band_a_quarter_of_the_gap() -> None:
    volume = dollars("1000000000")  # target $1.00
    supply = dollars("500000")
    # price $1.20: +20%, lag 4 -> +5% of supply = 25,000 VOL
    assert rebase.deviation(volume, D, dollars("1.2")) == RATE // 5
    assert rebase.supply_delta(supply, volume, D, dollars("1.2"), FIVE_PCT, 4) == dollars("25000")
    # price $0.80: -20% -> -25,000 VOL
    assert rebase.supply_delta(supply, volume, D, dollars("0.8"), FIVE_PCT, 4) == -dollars("25000")
    # per holder (the seed's words): 1,000 VOL x (1.2 - 1) / 1 / 4 = 50 VOL, the same share of supply
    assert rebase.supply_delta(dollars("1000"), volume, D, dollars("1.2"), FIVE_PCT, 4) == dollars("50")


def test_delta_rounds_toward_zero() -> None:
    volume = 3 * D  # target 3 atoms per VOL
    # price 4: deviation 1/3; supply 10 atoms x 1/3 / 4 = 0.8333 -> 0 (toward zero), -> 0 the other way
    assert rebase.supply_delta(10, volume, D, 4, FIVE_PCT, 4) == 0
    assert rebase.supply_delta(100, volume, D, 4, FIVE_PCT, 4) == 8  # 8.33
    assert rebase.supply_delta(100, volume, D, 2, FIVE_PCT, 4) == -8  # -8.33


def test_small_gap_shrinks_by_about_a_quarter_when_market_value_holds() -> None:
    """With the token's market value (price x supply) unchanged by a rebase, the deviation after
    is (1 + d) / (1 + d/4) - 1 = (3d/4) / (1 + d/4): about three quarters of the gap."""
    volume = dollars("1000000000")
    supply = dollars("500000")
    price = Fraction(dollars("1.10"))
    gaps = []
    for _ in range(4):
        d = Fraction(rebase.deviation(volume, D, int(price)), RATE)
        gaps.append(d)
        delta = rebase.supply_delta(supply, volume, D, int(price), FIVE_PCT, 4)
        after = supply + delta
        price = price * supply / after  # market value held
        supply = after
    assert gaps[0] == Fraction(1, 10)
    for before, after in itertools.pairwise(gaps):
        expected = (before * 3 / 4) / (1 + before / 4)
        assert abs(after - expected) < Fraction(1, 10**6)
        assert Fraction(70, 100) < after / before < Fraction(76, 100)  # about a quarter off each time


def test_both_rates_are_checked() -> None:
    assert rebase.refusal(0, D, dollars("1")) == rebase.NO_VOLUME
    assert rebase.refusal(dollars("1"), D, 0) == rebase.NO_PRICE
    assert rebase.refusal(MAX_RATE * D + 1, D, dollars("1")) == rebase.TARGET_TOO_HIGH
    assert rebase.refusal(MAX_RATE * D, D, dollars("1")) == ""
    assert rebase.capped(MAX_RATE * 5) == MAX_RATE


def test_supply_is_clipped() -> None:
    assert rebase.clipped(MAX_SUPPLY - 10, 100) == MAX_SUPPLY
    assert rebase.clipped(MIN_SUPPLY + 10, -100) == MIN_SUPPLY
    assert rebase.clipped(dollars("100"), dollars("5")) == dollars("105")


@given(
    supply=st.integers(MIN_SUPPLY, MAX_SUPPLY),
    volume=st.integers(1, 10**20),
    price=st.integers(1, MAX_RATE),
    lag=st.integers(1, 30),
)
def test_delta_is_the_exact_formula_rounded_toward_zero(
    supply: int, volume: int, price: int, lag: int
) -> None:
    exact = Fraction(supply) * (Fraction(price * D, volume) - 1) / lag
    delta = rebase.supply_delta(supply, volume, D, price, FIVE_PCT, lag)
    if abs(Fraction(price * D, volume) - 1) < Fraction(FIVE_PCT, RATE):
        assert delta == 0
    else:
        assert delta == int(exact)  # int() truncates toward zero


# -- the pool -------------------------------------------------------------------------------------


def test_swap_out_by_hand() -> None:
    # Uniswap's getAmountOut: 1,000 in at 0.3% against 100,000 / 200,000:
    # 997,000 x 200,000 / (100,000 x 1,000 + 997,000) = 1974.32... -> 1974
    assert amm.amount_out(1_000, 100_000, 200_000, RATE * 3 // 1000) == 1974
    assert amm.amount_out(0, 100_000, 200_000, 0) == 0
    assert amm.amount_out(10, 0, 200_000, 0) == 0


@given(
    x=st.integers(10**6, 10**18),
    y=st.integers(10**6, 10**18),
    amount=st.integers(1, 10**18),
)
def test_k_never_falls_on_a_swap(x: int, y: int, amount: int) -> None:
    out = amm.amount_out(amount, x, y, RATE * 3 // 1000)
    assert 0 <= out < y
    assert (x + amount) * (y - out) >= x * y


def test_deposits_and_withdrawals_by_hand() -> None:
    # first deposit: sqrt(4,000,000 x 1,000,000) = 2,000,000, less the 1,000 locked
    assert amm.first_deposit(4_000_000, 1_000_000, 1_000) == 1_999_000
    # later: the pool takes the offer at its 4:1 ratio (the smaller side whole)
    assert amm.matched(400, 500, 4_000_000, 1_000_000) == (400, 100)
    assert amm.matched(4_000, 500, 4_000_000, 1_000_000) == (2_000, 500)
    assert amm.minted(400, 100, 4_000_000, 1_000_000, 2_000_000) == 200
    assert amm.withdrawn(200, 4_000_000, 1_000_000, 2_000_000) == (400, 100)


# -- the cumulative price -------------------------------------------------------------------------


def test_twap_against_uniswaps_definition() -> None:
    """A hand-built path: $1.00 for 10 s, $2.00 for 20 s, $1.00 for 30 s. Uniswap v2: cumulative
    += price x elapsed at each update; TWAP = delta cumulative / delta time."""
    one, two = dollars("1"), dollars("2")
    assert oracle.price(dollars("500"), 500 * ATOM * 7, 7) == one  # 500 USD / 500 VOL (7 shares per atom)
    cum, t = 0, 0
    for held, span in ((one, 10), (two, 20), (one, 30)):
        cum = oracle.accrued(cum, t, t + span * 10**6, held)
        t += span * 10**6
    assert cum == (one * 10 + two * 20 + one * 30) * 10**6
    assert oracle.twap(0, 0, cum, t) == dollars("80") // 60  # (10 + 40 + 30) / 60 dollars
    # a window starting inside the path: [10 s, 60 s] -> (40 + 30) / 50 = $1.40
    cum10 = one * 10 * 10**6
    assert oracle.twap(cum10, 10 * 10**6, cum, t) == dollars("1.4")


def test_accrual_splits_add_up() -> None:
    """The cumulative price is a function of the path: split a span anywhere, same sum."""
    p = dollars("1.2345")
    whole = oracle.accrued(0, 0, 90, p)
    split = oracle.accrued(oracle.accrued(0, 0, 37, p), 37, 90, p)
    assert whole == split == p * 90
    assert oracle.accrued(5, 10, 10, p) == 5  # no time, nothing added
