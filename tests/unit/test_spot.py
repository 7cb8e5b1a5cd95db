"""Spot: fills move coins, orders reserve what they could spend, "Not enough balances"."""

from __future__ import annotations

from engine_kit import Desk, fills

SPOT = "BTC/USD"
BTC = 10**8  # atoms per BTC
USD = 10**8  # atoms per dollar


def test_taker_buy_moves_coins_and_pays_fees_in_quote_maker_seller_in_usd():
    d = Desk()
    seller = d.account("s", "", 0, BTC=2)
    buyer = d.account("b", "", 30_000)
    d.rest(seller, SPOT, "sell", "1.5", 10_000)
    assert d.acct(seller).reserved == {"BTC": 150_000_000}
    (fill,) = fills(d.place(buyer, SPOT, "buy", "1.5", 10_000))
    # value 1.5 x 10,000 = $15,000; taker 7 bp = $10.50 in USD; maker 2 bp = $3.00 in USD (received)
    assert (fill.taker_fee, fill.taker_fee_coin) == (1_050_000_000, "USD")
    assert (fill.maker_fee, fill.maker_fee_coin) == (300_000_000, "USD")
    assert d.balance(buyer, "BTC") == 150_000_000
    assert d.balance(buyer) == 30_000 * USD - 15_000 * USD - 1_050_000_000
    assert d.balance(seller, "BTC") == 50_000_000
    assert d.balance(seller) == 15_000 * USD - 300_000_000
    assert d.acct(seller).reserved == {}
    assert d.ex.discrepancies() == {}


def test_taker_sell_maker_buyer_pays_fee_in_btc():
    d = Desk()
    buyer = d.account("b", "", 30_000)
    seller = d.account("s", "", 0, BTC=2)
    d.rest(buyer, SPOT, "buy", "2", 10_000)
    assert d.acct(buyer).reserved == {"USD": 20_000 * USD}
    (fill,) = fills(d.place(seller, SPOT, "sell", "2", 10_000))
    # maker receives 2 BTC and pays 2 bp of it: 0.0004 BTC; taker pays 7 bp of $20,000 = $14 in USD
    assert (fill.maker_fee, fill.maker_fee_coin) == (40_000, "BTC")
    assert (fill.taker_fee, fill.taker_fee_coin) == (14 * USD, "USD")
    assert d.balance(buyer, "BTC") == 2 * BTC - 40_000
    assert d.balance(buyer) == 10_000 * USD
    assert d.balance(seller, "BTC") == 0
    assert d.balance(seller) == 20_000 * USD - 14 * USD
    assert d.acct(buyer).reserved == {}
    assert d.ex.fees.totals == {"USD": 14 * USD, "BTC": 40_000}
    assert d.ex.discrepancies() == {}


def test_partial_maker_fill_releases_only_the_filled_reservation():
    d = Desk()
    buyer = d.account("b", "", 30_000)
    seller = d.account("s", "", 0, BTC=2)
    d.rest(buyer, SPOT, "buy", "2", 10_000)
    d.place(seller, SPOT, "sell", "0.5", 10_000)
    assert d.acct(buyer).reserved == {"USD": 15_000 * USD}
    assert d.acct(buyer).available("USD") == 30_000 * USD - 5_000 * USD - 15_000 * USD


def test_sell_without_the_coin_is_not_enough_balances():
    d = Desk()
    a = d.account("a", "", 100_000, BTC="0.5")
    d.reject(d.order_cmd(a, SPOT, "sell", "0.5001", 10_000), "Not enough balances")
    d.reject(d.order_cmd(a, "ETH/USD", "sell", "1", 1_000), "Not enough balances")
    d.rest(a, SPOT, "sell", "0.5", 10_000)


def test_buy_needs_the_notional_plus_the_taker_fee():
    d = Desk()
    a = d.account("a", "", 10_007)
    # 1 BTC at $10,000 may take and pay 7 bp in USD: $10,007 in all
    d.reject(d.order_cmd(a, SPOT, "buy", "1.0001", 10_000), "Not enough balances")
    d.rest(a, SPOT, "buy", "1", 10_000)
    b = d.account("b", "", "10006.99999999")
    d.reject(d.order_cmd(b, SPOT, "buy", "1", 10_000), "Not enough balances")


def test_open_orders_hold_their_balance():
    d = Desk()
    a = d.account("a", "", 10_007, BTC=1)
    d.rest(a, SPOT, "buy", "0.6", 10_000)  # holds $6,000; $4,007 left, $4,002.80 buys 0.4 with its fee
    d.reject(d.order_cmd(a, SPOT, "buy", "0.5", 10_000), "Not enough balances")
    d.rest(a, SPOT, "buy", "0.4", 10_000)
    d.rest(a, SPOT, "sell", "0.7", 20_000)  # holds 0.7 BTC
    d.reject(d.order_cmd(a, SPOT, "sell", "0.31", 20_000), "Not enough balances")
    d.rest(a, SPOT, "sell", "0.3", 20_000)


def test_market_buy_needs_the_balance_at_the_band_cap():
    d = Desk()
    s = d.account("s", "", 0, BTC=2)
    a = d.account("a", "", 12_000)
    d.rest(s, SPOT, "sell", "2", 10_000)
    # a market buy may trade up to 25% through the touch: 1 BTC could cost $12,500 + 7 bp
    d.reject(d.order_cmd(a, SPOT, "buy", "1"), "Not enough balances")
    (fill,) = fills(d.place(a, SPOT, "buy", "0.9"))
    assert (fill.price, fill.size) == (10_000, 9_000)


def test_spot_buyer_usd_never_goes_negative():
    """A spot-only account that would spend its whole USD balance as a taker cannot also pay the
    fee from it: the engine must refuse the order or leave the balance non-negative (FTX had no
    implicit borrowing outside spot margin)."""
    d = Desk()
    s = d.account("s", "", 0, BTC=1)
    a = d.account("a", "", 10_000)
    d.rest(s, SPOT, "sell", "1", 10_000)
    events = d.apply(d.order_cmd(a, SPOT, "buy", "1", 10_000))
    assert d.balance(a) >= 0, (d.balance(a), events)
