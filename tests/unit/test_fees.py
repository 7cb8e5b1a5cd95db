"""Fees: FTX's 30-day volume tiers per owner, the coin each side pays in, rounding, the ledger."""

from __future__ import annotations

from engine_kit import DAY_US, Desk, fills

from backstop.engine.commands import PlaceOrder

PERP = "BTC-PERP"
SPOT = "BTC/USD"
USD = 10**8


def fresh() -> tuple[Desk, int, int]:
    d = Desk()
    x = d.account("x", "", 2_000_000)
    y = d.account("y", "", 2_000_000)
    return d, x, y


def trade_at(d: Desk, ts: int, taker: int, maker: int, size: str, price: int = 10_000, side: str = "buy"):
    """`maker` rests, `taker` takes, at time `ts`; the single Fill."""
    other = "sell" if side == "buy" else "buy"
    lots = d.lots(PERP, size)
    d.ok(PlaceOrder(ts, maker, PERP, other, lots, price))
    (fill,) = fills(d.ok(PlaceOrder(ts, taker, PERP, side, lots, price, "limit", True)))
    return fill


def test_tier_1_is_2bp_maker_7bp_taker_in_usd():
    d, x, y = fresh()
    fill = trade_at(d, d.tick(), x, y, "1")
    # $10,000: taker 0.07% = $7, maker 0.02% = $2
    assert (fill.taker_fee, fill.taker_fee_coin) == (7 * USD, "USD")
    assert (fill.maker_fee, fill.maker_fee_coin) == (2 * USD, "USD")
    assert d.balance(x) == 2_000_000 * USD - 7 * USD
    assert d.balance(y) == 2_000_000 * USD - 2 * USD


def test_fee_rounds_up_in_the_exchanges_favour():
    d = Desk()
    a = d.account("a", "", 100)
    b = d.account("b", "", 100, BNB=1)
    d.rest(b, "BNB/USD", "sell", "0.01", "0.001")
    (fill,) = fills(d.place(a, "BNB/USD", "buy", "0.01", "0.001"))
    # value: 0.01 BNB x $0.001 = 0.00001 USD = 1,000 atoms; 7 bp = 0.7 atoms -> 1; 2 bp = 0.2 -> 1
    assert (fill.taker_fee, fill.maker_fee) == (1, 1)


def test_tier_changes_once_30_day_volume_reaches_2m():
    d, x, y = fresh()
    ts = 10 * DAY_US
    trade_at(d, ts, x, y, "199")  # $1,990,000 each
    fill = trade_at(d, ts + 1, x, y, "1")  # still tier 1 for this fill; volume reaches $2,000,000
    assert (fill.taker_fee, fill.maker_fee) == (7 * USD, 2 * USD)
    fill = trade_at(d, ts + 2, x, y, "1")
    # tier 2: 0.015% maker, 0.060% taker of $10,000
    assert (fill.taker_fee, fill.maker_fee) == (6 * USD, 150_000_000)


def test_volume_is_per_owner_across_subaccounts():
    d, x, y = fresh()
    x_sub = d.account("x", "sub", 2_000_000)
    z = d.account("z", "", 2_000_000)
    ts = 10 * DAY_US
    trade_at(d, ts, x, y, "100")  # x: $1m
    trade_at(d, ts + 1, x_sub, z, "100")  # x: $2m (main + sub); z: $1m
    fill = trade_at(d, ts + 2, x, z, "1")
    assert fill.taker_fee == 6 * USD  # x at tier 2
    assert fill.maker_fee == 2 * USD  # z still at tier 1


def test_volume_window_drops_days_older_than_30():
    d, x, y = fresh()
    day0 = 100 * DAY_US
    trade_at(d, day0, x, y, "200")  # $2m on day 100
    fill = trade_at(d, day0 + 29 * DAY_US, x, y, "1", side="sell")  # day 129: day 100 still counts
    assert fill.taker_fee == 6 * USD
    # close the positions so margin is not in the way
    fill = trade_at(d, day0 + 30 * DAY_US, x, y, "1", side="sell")  # day 130: day 100 has left
    # volume now $20,000 (days 129 and 130 both inside the window): tier 1
    assert (fill.taker_fee, fill.maker_fee) == (7 * USD, 2 * USD)


def test_higher_tiers():
    d = Desk()
    x = d.account("x", "", 100_000_000)
    y = d.account("y", "", 100_000_000)
    ts = 5 * DAY_US
    expected = [
        ("500", 6 * USD, 150_000_000),  # after $5m -> tier 3 next
        ("500", 550_000_000, 1 * USD),  # at $10m -> tier 4 next
        ("1500", 5 * USD, 50_000_000),  # at $25m -> tier 5 next
        ("2500", 450_000_000, 0),  # at $50m -> tier 6 next
        ("1", 4 * USD, 0),
    ]
    trade_at(d, ts, x, y, "200")  # $2m: tier 2 from the next fill
    side = "sell"
    for i, (size, taker, maker) in enumerate(expected):
        # a probe of 1 BTC shows the current tier, then the bulk trade moves volume on
        fill = trade_at(d, ts + 2 * i + 1, x, y, "1", side=side)
        assert (fill.taker_fee, fill.maker_fee) == (taker, maker), i
        side = "buy" if side == "sell" else "sell"
        trade_at(d, ts + 2 * i + 2, x, y, size, side=side)


def test_spot_maker_pays_in_the_coin_received_taker_in_quote():
    d = Desk()
    a = d.account("a", "", 100_000, BTC=10)
    b = d.account("b", "", 100_000, BTC=10)
    d.rest(a, SPOT, "buy", "1", 10_000)
    (fill,) = fills(d.place(b, SPOT, "sell", "1", 10_000))
    assert (fill.maker_fee_coin, fill.maker_fee) == ("BTC", 20_000)  # 2 bp of 1 BTC
    assert (fill.taker_fee_coin, fill.taker_fee) == ("USD", 7 * USD)
    d.rest(a, SPOT, "sell", "1", 10_000)
    (fill,) = fills(d.place(b, SPOT, "buy", "1", 10_000))
    assert (fill.maker_fee_coin, fill.maker_fee) == ("USD", 2 * USD)
    assert (fill.taker_fee_coin, fill.taker_fee) == ("USD", 7 * USD)


def test_fee_ledger_totals_and_days():
    d = Desk()
    a = d.account("a", "", 1_000_000, BTC=10)
    b = d.account("b", "", 1_000_000, BTC=10)
    day3 = 3 * DAY_US
    day4 = 4 * DAY_US
    d.ok(PlaceOrder(day3, a, SPOT, "buy", 10_000, 10_000))
    d.ok(PlaceOrder(day3, b, SPOT, "sell", 10_000, 10_000))  # $7 USD taker, 0.0002 BTC maker
    d.ok(PlaceOrder(day4, a, PERP, "sell", 20_000, 10_000))
    d.ok(PlaceOrder(day4, b, PERP, "buy", 20_000, 10_000))  # $20,000: $14 taker, $4 maker
    ledger = d.ex.fees
    assert ledger.totals == {"USD": 25 * USD, "BTC": 20_000}
    assert ledger.revenue(3) == {"USD": 7 * USD, "BTC": 20_000}
    assert ledger.revenue(4) == {"USD": 18 * USD}
    assert ledger.revenue(5) == {}
    assert d.ex.discrepancies() == {}
