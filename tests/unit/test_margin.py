"""FTX's 2021-22 margin formulas against its own worked numbers, and the order margin check."""

from __future__ import annotations

import pytest
from engine_kit import Desk, fills, margin_view

from backstop.engine.commands import Deposit, SetLeverage

PERP = "BTC-PERP"
USD = 10**8
BTC = 10**8
RATE = 10**8
NO_MARGIN = "Account does not have enough margin for order"

BTC_WEIGHT_TOTAL = 97_500_000  # 0.975
BTC_WEIGHT_INITIAL = 95_000_000  # 0.95
BTC_IMF_FACTOR = 200_000  # 0.002
BTC_PERP_LOT_ATOMS = 10_000  # 0.0001 BTC


# ------------------------------------------------------------------ collateral size haircut


def btc_collateral(btc: str, initial: bool = False) -> int:
    """USD atoms of collateral from `btc` BTC alone at a BTC/USD mark of $10,000."""
    d = Desk()
    a = d.account("a", "", 0, BTC=btc)
    d.set_mark("BTC/USD", 10_000)
    return margin_view("collateral", d.ex, a, initial=initial)


def test_btc_haircut_small_balance_keeps_the_listed_weight():
    # 100 BTC: 1.1 / (1 + 0.002 x 10) = 1.0784 > 0.975, so 0.975 (0.95 initial)
    assert btc_collateral("100") == 975_000 * USD
    assert btc_collateral("100", initial=True) == 950_000 * USD


def test_btc_haircut_10000_btc_is_1_1_over_1_2():
    # 10,000 BTC: 1.1 / (1 + 0.002 x sqrt(10,000)) = 1.1 / 1.2 = 0.91666666 (rounded down)
    # x 10,000 BTC x $10,000 = $91,666,666.00; the same for the initial weight (0.95 > 0.9167)
    assert btc_collateral("10000") == 91_666_666 * USD
    assert btc_collateral("10000", initial=True) == 91_666_666 * USD


def test_haircut_crossover_is_where_the_formula_meets_the_weight():
    # 1.1 / (1 + 0.002 sqrt(n)) = 0.975  <=>  sqrt(n) = (1.1 / 0.975 - 1) / 0.002 = 64.10..,  n = 4109.1..
    assert btc_collateral("4100") == 4_100 * 10_000 * USD * BTC_WEIGHT_TOTAL // RATE
    # 4,200 BTC: 0.002 x sqrt(4200) = 0.12961481.. -> 0.12961482 (up), 1.1 / 1.12961482 -> 0.97378325
    assert btc_collateral("4200") == 4_200 * 10_000 * USD * 97_378_325 // RATE
    # initial weight 0.95: 1.1 / (1 + 0.002 sqrt(n)) = 0.95 <=> n = 6,232.6..
    assert btc_collateral("6200", initial=True) == 6_200 * 10_000 * USD * BTC_WEIGHT_INITIAL // RATE
    assert btc_collateral("6300", initial=True) < 6_300 * 10_000 * USD * BTC_WEIGHT_INITIAL // RATE


def test_collateral_adds_usd_and_weighted_coins():
    d = Desk()
    a = d.account("a", "", 1_000, BTC=100)
    d.set_mark("BTC/USD", 10_000)
    # 100 BTC x $10,000 x 0.975 + $1,000 ; initial weight 0.95
    assert margin_view("collateral", d.ex, a, initial=False) == (975_000 + 1_000) * USD
    assert margin_view("collateral", d.ex, a, initial=True) == (950_000 + 1_000) * USD


def test_coin_without_a_price_is_no_collateral():
    d = Desk()
    a = d.account("a", "", 0, ETH=10)
    assert margin_view("collateral", d.ex, a, initial=True) == 0
    d.reject(d.order_cmd(a, "ETH-PERP", "buy", "0.01", 1_000), NO_MARGIN)


def test_btc_collateral_funds_futures_at_the_initial_weight():
    d = Desk()
    a = d.account("a", "", 0, BTC=1)
    d.set_mark("BTC/USD", 10_000)
    # 1 BTC x 10,000 x 0.95 = $9,500 of collateral; 10x leverage carries $95,000 = 9.5 BTC at 10,000
    d.reject(d.order_cmd(a, PERP, "buy", "9.5001", 10_000), NO_MARGIN)
    d.rest(a, PERP, "buy", "9.5", 10_000)


# ------------------------------------------------------------------ position IMF / MMF

IMF_CASES = [
    # (BTC, leverage, IMF in 1e-8): max(1 / leverage, 0.002 x sqrt(BTC)), rounded up
    ("1", 20, 5_000_000),
    ("100", 20, 5_000_000),  # 0.002 x 10 = 2% < 5%
    ("100", 10, 10_000_000),
    ("100", 3, 33_333_334),  # 1/3 rounded up
    ("100", 1, 100_000_000),
    ("625", 20, 5_000_000),  # 0.002 x 25 = 5%: the sqrt term meets the 20x floor
    ("625.0001", 20, 5_000_001),  # 0.002 x sqrt(625.0001) = 0.0500000039.. -> up
    ("2500", 20, 10_000_000),  # FTX's worked number: 0.002 x 50 = 10%
    ("2500", 10, 10_000_000),
    ("2500.0001", 20, 10_000_001),  # 0.1000000002.. -> up
    ("10000", 20, 20_000_000),
]


@pytest.mark.parametrize(("btc", "leverage", "imf"), IMF_CASES)
def test_imf_is_the_collateral_an_order_needs(btc, leverage, imf):
    """On an empty book an order's open size is valued at its price: a buy of `btc` BTC-PERP at
    $10,000 needs exactly notional x IMF of collateral, rounded up; one atom less is refused."""
    d = Desk()
    lots = d.lots(PERP, btc)
    notional = lots * 10_000 * 10_000  # lots x ticks x USD atoms per tick-lot
    needed = -(-notional * imf // RATE)
    short = d.account("short", "", 0)
    enough = d.account("enough", "", 0)
    for acct, amount in ((short, needed - 1), (enough, needed)):
        d.ok(Deposit(d.tick(), acct, "USD", amount))
        d.leverage(acct, leverage)
    d.reject(d.order_cmd(short, PERP, "buy", btc, 10_000), NO_MARGIN)
    d.rest(enough, PERP, "buy", btc, 10_000)
    assert margin_view("free_collateral", d.ex, enough) == 0


@pytest.mark.parametrize(
    ("btc", "mmf"),
    [
        ("1", 3_000_000),  # 0.6 x 0.002 x 1 = 0.12% < 3%
        ("625", 3_000_000),  # 0.6 x 5% = 3%
        ("2500", 6_000_000),  # FTX's worked number: 0.6 x 10% = 6%
        ("10000", 12_000_000),
    ],
)
def test_mmf_of_a_position(btc, mmf):
    d = Desk()
    a = d.account("a", "", 30_000_000)
    b = d.account("b", "", 30_000_000)
    d.rest(b, PERP, "sell", btc, 10_000)
    d.place(a, PERP, "buy", btc, 10_000)
    assert margin_view("maintenance_requirement", d.ex, a) == mmf
    assert margin_view("maintenance_requirement", d.ex, b) == mmf


def test_2500_btc_needs_10_percent_not_the_5_percent_floor():
    d = Desk()
    a = d.account("a", "", 2_500_000)
    d.leverage(a, 20)
    # 2,500 BTC x $10,000 = $25m; IMF 10% -> $2.5m exactly
    d.reject(d.order_cmd(a, PERP, "buy", "2500.0001", 10_000), NO_MARGIN)
    d.rest(a, PERP, "buy", "2500", 10_000)
    assert margin_view("free_collateral", d.ex, a) == 0

    b = d.account("b", "", "2499999.99999999")
    d.leverage(b, 20)
    d.reject(d.order_cmd(b, PERP, "sell", "2500", 10_100), NO_MARGIN)


# ------------------------------------------------------------------ the $1,000 / 2 BTC example


def two_btc_long_on_1000() -> tuple[Desk, int]:
    """FTX's example: $1,000 of collateral, long 2 BTC-PERP at $10,000 (20x).

    The account deposits $1,004 and buys as the maker (2 bp of $20,000 = $4), so that exactly
    $1,000 of collateral remains once the position is on. The book is empty afterwards."""
    d = Desk()
    a = d.account("a", "", 1_004)
    b = d.account("b", "", 100_000)
    d.leverage(a, 20)
    d.rest(a, PERP, "buy", "2", 10_000)
    assert [f.size for f in fills(d.place(b, PERP, "sell", "2", 10_000))] == [20_000]
    assert d.balance(a) == 1_000 * USD
    assert d.ex.mark(PERP) == 10_000
    return d, a


def test_margin_fraction_at_entry_is_5_percent():
    d, a = two_btc_long_on_1000()
    # TAV / notional = 1,000 / 20,000
    assert margin_view("margin_fraction", d.ex, a) == 5_000_000
    # MMF max(3%, 0.6 x 0.002 x sqrt 2) = 3%
    assert margin_view("maintenance_requirement", d.ex, a) == 3_000_000
    assert margin_view("free_collateral", d.ex, a) == 0


def test_margin_fraction_follows_the_mark():
    d, a = two_btc_long_on_1000()
    d.set_mark(PERP, 9_700)
    # (1,000 - 2 x 300) / (2 x 9,700) = 400 / 19,400 = 2.0618..%
    assert margin_view("margin_fraction", d.ex, a) == 2_061_855
    d.set_mark(PERP, 9_500)
    # zero price = 10,000 x (1 - 5%) = 9,500: TAV is 0
    assert margin_view("margin_fraction", d.ex, a) == 0
    d.set_mark(PERP, 10_500)
    # (1,000 + 1,000) / 21,000
    assert margin_view("margin_fraction", d.ex, a) == 2_000 * RATE // 21_000


def test_no_margin_for_an_order_that_raises_open_size_past_imf():
    d, a = two_btc_long_on_1000()
    d.reject(d.order_cmd(a, PERP, "buy", "0.001", 9_000), NO_MARGIN)
    d.reject(d.order_cmd(a, PERP, "sell", "4.001", 11_000), NO_MARGIN)
    d.reject(d.order_cmd(a, "ETH-PERP", "buy", "0.001", 1_000), NO_MARGIN)
    # orders that do not raise the open size are always allowed
    d.rest(a, PERP, "sell", "1", 11_000)
    d.rest(a, PERP, "sell", "3", 11_000)  # open size max(|2|, |2 - 4|) = 2
    d.reject(d.order_cmd(a, PERP, "sell", "0.001", 11_000), NO_MARGIN)


def test_open_orders_count_toward_imf():
    d = Desk()
    a = d.account("a", "", 1_000)
    d.leverage(a, 20)
    # $1,000 at 20x: $20,000 of open notional in total
    d.rest(a, PERP, "buy", "1", 10_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.reject(d.order_cmd(a, PERP, "buy", "0.001", 10_000), NO_MARGIN)
    # the sell side is checked on its own: max(|0 + 2|, |0 - 2|) = 2 still fits
    d.rest(a, PERP, "sell", "2", 10_010)


def test_unrealized_profit_does_not_fund_new_positions():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)  # 10x: needs $1,000 of $2,002
    d.place(b, PERP, "sell", "1", 10_000)
    assert d.balance(a) == 2_000 * USD
    d.set_mark(PERP, 11_000)
    # min(C, C + uPnL) = 2,000; 10% of open size at the 11,000 mark: 1.8181 BTC -> 1,999.91
    d.reject(d.order_cmd(a, PERP, "buy", "0.8182", 10_900), NO_MARGIN)
    d.rest(a, PERP, "buy", "0.8181", 10_900)


def test_unrealized_loss_reduces_free_collateral():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.place(b, PERP, "sell", "1", 10_000)
    d.set_mark(PERP, 9_000)
    # 2,000 - 1,000 loss - 10% x 9,000 = $100
    assert margin_view("free_collateral", d.ex, a) == 100 * USD
    d.reject(d.order_cmd(a, PERP, "buy", "0.1112", 8_900), NO_MARGIN)  # 0.1112 x 900 > 100
    d.rest(a, PERP, "buy", "0.1111", 8_900)


def test_spot_buys_hold_collateral_against_futures():
    d = Desk()
    a = d.account("a", "", 2_002)
    b = d.account("b", "", 100_000)
    d.rest(a, PERP, "buy", "1", 10_000)
    d.place(b, PERP, "sell", "1", 10_000)
    # $2,000 of USD, $1,000 required by the position: a spot buy may hold at most the other $1,000
    d.reject(d.order_cmd(a, "BTC/USD", "buy", "0.11", 10_000), NO_MARGIN)
    d.rest(a, "BTC/USD", "buy", "0.09", 10_000)
    assert margin_view("free_collateral", d.ex, a) == 100 * USD
    # 0.2 BTC more at the 10,000 mark needs $200 of the $100 left
    d.reject(d.order_cmd(a, PERP, "buy", "0.2", 9_000), NO_MARGIN)
    d.rest(a, PERP, "buy", "0.1", 9_000)


# ------------------------------------------------------------------ leverage


@pytest.mark.parametrize("bad", [0, 21, -1, 100])
def test_leverage_outside_1_to_20_is_rejected(bad):
    d = Desk()
    a = d.account("a", "", 1_000)
    d.reject(SetLeverage(d.tick(), a, bad), "Invalid parameter leverage")


@pytest.mark.parametrize(
    ("leverage", "fits", "too_much"), [(1, "0.1", "0.1001"), (5, "0.5", "0.5001"), (20, "2", "2.0001")]
)
def test_leverage_sets_the_base_imf(leverage, fits, too_much):
    d = Desk()
    a = d.account("a", "", 1_000)
    d.leverage(a, leverage)
    assert d.acct(a).leverage == leverage
    d.reject(d.order_cmd(a, PERP, "buy", too_much, 10_000), NO_MARGIN)
    d.rest(a, PERP, "buy", fits, 10_000)
