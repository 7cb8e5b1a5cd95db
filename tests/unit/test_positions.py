"""Futures positions: entry cost, realized PnL to USD on reduce and flip, unrealized at the mark."""

from __future__ import annotations

from engine_kit import Desk, fills, margin_view

PERP = "BTC-PERP"
USD = 10**8  # atoms per dollar
LOTS = 10_000  # BTC-PERP lots per BTC


def taker_fee(dollars: int) -> int:
    return dollars * USD * 7 // 10_000  # tier 1 taker, 7 bp


def maker_fee(dollars: int) -> int:
    return dollars * USD * 2 // 10_000  # tier 1 maker, 2 bp


def trade(d: Desk, buyer: int, seller: int, size: str, price: int, taker: str = "buy") -> None:
    """`seller` rests and `buyer` takes (or the other way round); the book is empty afterwards."""
    if taker == "buy":
        d.rest(seller, PERP, "sell", size, price)
        events = d.place(buyer, PERP, "buy", size, price)
    else:
        d.rest(buyer, PERP, "buy", size, price)
        events = d.place(seller, PERP, "sell", size, price)
    assert sum(f.size for f in fills(events)) == d.lots(PERP, size)
    assert d.bids(PERP) == d.asks(PERP) == []


def setup() -> tuple[Desk, int, int, int]:
    d = Desk()
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    c = d.account("c", "", 100_000)
    return d, a, b, c


def test_opening_records_signed_entry_cost():
    d, a, b, _ = setup()
    trade(d, a, b, "1", 10_000)
    pa, pb = d.position(a, PERP), d.position(b, PERP)
    assert (pa.size, pa.cost) == (LOTS, 10_000 * USD)
    assert (pb.size, pb.cost) == (-LOTS, -10_000 * USD)
    # opening realizes nothing: only the fees left the balances
    assert d.balance(a) == 100_000 * USD - taker_fee(10_000)
    assert d.balance(b) == 100_000 * USD - maker_fee(10_000)


def test_adding_to_a_position_averages_the_entry():
    d, a, b, _ = setup()
    trade(d, a, b, "1", 10_000)
    trade(d, a, b, "1", 11_000)
    assert (d.position(a, PERP).size, d.position(a, PERP).cost) == (2 * LOTS, 21_000 * USD)
    usd_before = d.balance(a)
    trade(d, b, a, "1", 12_000)  # a sells 1 as the maker
    # entry 10,500 on average: realized (12,000 - 10,500) x 1 = $1,500
    assert d.balance(a) == usd_before + 1_500 * USD - maker_fee(12_000)
    assert (d.position(a, PERP).size, d.position(a, PERP).cost) == (LOTS, 10_500 * USD)
    assert d.position(a, PERP).realized == 1_500 * USD


def test_reducing_a_long_realizes_pnl_in_usd():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)
    usd_before = d.balance(a)
    trade(d, c, a, "0.4", 11_000, taker="sell")
    # 0.4 x (11,000 - 10,000) = $400 profit, less 7 bp of $4,400
    assert d.balance(a) == usd_before + 400 * USD - taker_fee(4_400)
    pos = d.position(a, PERP)
    assert (pos.size, pos.cost, pos.realized) == (6_000, 6_000 * USD, 400 * USD)


def test_reducing_a_short_at_a_loss_takes_usd():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)  # b short 1 at 10,000
    usd_before = d.balance(b)
    trade(d, b, c, "0.5", 10_600)  # b buys 0.5 back at 10,600 as taker
    assert d.balance(b) == usd_before - 300 * USD - taker_fee(5_300)
    pos = d.position(b, PERP)
    assert (pos.size, pos.cost, pos.realized) == (-5_000, -5_000 * USD, -300 * USD)


def test_closing_fully_leaves_no_cost():
    d, a, b, _ = setup()
    trade(d, a, b, "1", 10_000)
    trade(d, b, a, "1", 9_000, taker="sell")
    assert (d.position(a, PERP).size, d.position(a, PERP).cost) == (0, 0)
    assert (d.position(b, PERP).size, d.position(b, PERP).cost) == (0, 0)
    assert d.balance(a) == 100_000 * USD - taker_fee(10_000) - 1_000 * USD - taker_fee(9_000)
    assert d.balance(b) == 100_000 * USD - maker_fee(10_000) + 1_000 * USD - maker_fee(9_000)
    assert d.ex.discrepancies() == {}


def test_flip_realizes_the_closed_part_and_opens_the_rest_at_the_fill_price():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)
    usd_before = d.balance(a)
    trade(d, c, a, "3", 12_000, taker="sell")
    # closes 1 long at +2,000, opens 2 short at 12,000
    assert d.balance(a) == usd_before + 2_000 * USD - taker_fee(36_000)
    pos = d.position(a, PERP)
    assert (pos.size, pos.cost, pos.realized) == (-2 * LOTS, -24_000 * USD, 2_000 * USD)


def test_unrealized_pnl_at_the_mark():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)
    trade(d, c, a, "3", 12_000, taker="sell")  # a: short 2 from 12,000
    d.set_mark(PERP, 11_000)
    # short 2 from 12,000 at a mark of 11,000: +2,000
    assert margin_view("unrealized", d.ex, a) == 2_000 * USD
    # c: long 3 from 12,000: -3,000
    assert margin_view("unrealized", d.ex, c) == -3_000 * USD
    d.set_mark(PERP, 13_500)
    assert margin_view("unrealized", d.ex, a) == -3_000 * USD
    assert margin_view("unrealized", d.ex, c) == 4_500 * USD


def test_mark_is_the_median_of_bid_ask_last():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)  # last = 10,000
    d.rest(c, PERP, "buy", "0.01", 9_000)
    d.rest(c, PERP, "sell", "0.01", 9_500)
    assert d.ex.mark(PERP) == 9_500  # median(9,000, 9,500, 10,000)
    d.cancel_all(c)
    d.rest(c, PERP, "buy", "0.01", 10_200)
    d.rest(c, PERP, "sell", "0.01", 10_400)
    assert d.ex.mark(PERP) == 10_200  # median(10,200, 10,400, 10,000)
    d.cancel_all(c)
    d.rest(c, PERP, "buy", "0.01", 9_990)
    d.rest(c, PERP, "sell", "0.01", 10_010)
    assert d.ex.mark(PERP) == 10_000


def test_money_is_conserved_through_open_reduce_flip():
    d, a, b, c = setup()
    trade(d, a, b, "1", 10_000)
    trade(d, c, a, "0.3", 10_333, taker="sell")
    trade(d, c, a, "2.7", 9_777)
    trade(d, b, c, "1.1", 10_001)
    assert d.ex.discrepancies() == {}
    # the sum of balances moved by exactly the fees collected
    total = sum(d.balance(x) for x in (a, b, c)) - sum(
        p.cost for x in (a, b, c) for p in d.acct(x).positions.values()
    )
    assert total == 300_000 * USD - d.ex.fees.totals["USD"]


def test_fills_carry_the_pnl_they_realize():
    """The audit trail sees realized PnL on the fill itself: long 1 BTC at $10,000, closed at
    $11,000, realizes +$1,000 for the long and -$1,000 for the short who bought it back."""
    from engine_kit import Desk, fills

    d = Desk()
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    d.rest(b, "BTC-PERP", "sell", "1", 10_000)
    (opening,) = fills(d.place(a, "BTC-PERP", "buy", "1", 10_000))
    assert (opening.taker_realized, opening.maker_realized) == (0, 0)
    d.rest(b, "BTC-PERP", "buy", "1", 11_000)
    (closing,) = fills(d.place(a, "BTC-PERP", "sell", "1", 11_000))
    assert (closing.taker_realized, closing.maker_realized) == (1_000 * 10**8, -1_000 * 10**8)
    assert d.position(a, "BTC-PERP").realized == 1_000 * 10**8
