"""The account and position figures FTX's API shows (what ccxt reads), against hand-computed
values, and the estimated liquidation price: the mark at which the engine's own check would put
the account below its maintenance margin fraction, every other price held."""

from __future__ import annotations

from decimal import Decimal

from engine_kit import Desk

from backstop.views import account_view, positions_view

PERP = "BTC-PERP"
ETH = "ETH-PERP"


def trade(d: Desk, taker: int, maker: int, market: str, side: str, size: str, price: int) -> None:
    """`maker` rests the other side and `taker` takes `side`; the book is empty afterwards, and the
    mark (median of bid, ask, last) is the trade's price."""
    d.rest(maker, market, "sell" if side == "buy" else "buy", size, price)
    d.place(taker, market, side, size, price)
    assert d.bids(market) == d.asks(market) == []


def desk() -> tuple[Desk, int]:
    d = Desk()
    return d, d.account("street", "", 10**7)


def liquidation(d: Desk, account: int, market: str = PERP) -> Decimal | None:
    (row,) = [r for r in positions_view(d.ex, d.acct(account)) if r["future"] == market]
    return row["estimatedLiquidationPrice"]


def test_a_long():
    """$1,000, long 1 BTC at $10,000 as taker (fee 0.07% = $7): USD 993, MMF 3%.
    Liquidated when 993 + (p - 10,000) < 0.03 p, i.e. 0.97 p < 9,007, p < 9,285.57:
    at 9,285 the room is 993 - 715 - 278.55 = -0.55, at 9,286 it is 993 - 714 - 278.58 = +0.42."""
    d, street = desk()
    a = d.account("a", "", 1_000)
    trade(d, a, street, PERP, "buy", "1", 10_000)
    assert liquidation(d, a) == 9_285


def test_a_short():
    """$1,000, short 1 BTC at $10,000 as maker (fee 0.02% = $2): USD 998.
    Liquidated when 998 + (10,000 - p) < 0.03 p, i.e. 1.03 p > 10,998, p > 10,677.67:
    at 10,677 the room is 998 - 677 - 320.31 = +0.69, at 10,678 it is 998 - 678 - 320.34 = -0.34."""
    d, street = desk()
    s = d.account("s", "", 1_000)
    d.rest(s, PERP, "sell", "1", 10_000)
    d.place(street, PERP, "buy", "1", 10_000)
    assert liquidation(d, s) == 10_678


def test_two_positions_each_hold_the_others_requirement():
    """$3,000; long 1 BTC-PERP at $10,000 (taker, $7) and short 10 ETH-PERP at $1,000 (maker, $2):
    USD 2,991, each position's requirement 3% x $10,000 = $300.
    BTC (ETH held at 1,000): 2,991 + (p - 10,000) - 300 - 0.03 p < 0  <=>  p < 7,535.05 -> 7,535
      (7,535: 2,991 - 2,465 - 300 - 226.05 = -0.05; 7,536: +0.92).
    ETH (BTC held at 10,000): 2,991 - 300 + 10 (1,000 - q) - 0.3 q < 0  <=>  q > 1,232.14 -> 1,232.2
      (1,232.1: 12,691 - 12,321 - 369.63 = +0.37; 1,232.2: 12,691 - 12,322 - 369.66 = -0.66)."""
    d, street = desk()
    t = d.account("t", "", 3_000)
    trade(d, t, street, PERP, "buy", "1", 10_000)
    d.rest(t, ETH, "sell", "10", 1_000)
    d.place(street, ETH, "buy", "10", 1_000)
    assert liquidation(d, t, PERP) == 7_535
    assert liquidation(d, t, ETH) == Decimal("1232.2")


def test_coin_collateral_moves_with_its_own_future():
    """$1,000 and 1 BTC (BTC/USD mark $10,000; total weight 0.975, no haircut at 1 BTC); long
    2 BTC-PERP at $10,000 as taker ($14): USD 986. The coin's price moves with the future's mark p:
    TAV = 986 + 0.975 p + 2 (p - 10,000), requirement 3% x 2 p: liquidated when 2.915 p < 19,014,
    p < 6,522.81 (6,522: 19,011.63 - 19,014 = -2.37; 6,523: +0.545)."""
    d, street = desk()
    c = d.account("c", "", 1_000, BTC=1)
    d.set_mark("BTC/USD", 10_000)
    trade(d, c, street, PERP, "buy", "2", 10_000)
    assert liquidation(d, c) == 6_522


def test_a_short_hedged_by_its_own_coin():
    """$100 and 1 BTC, short 1 BTC-PERP at $10,000 as maker ($2): USD 98.
    TAV = 98 + 0.975 p + (10,000 - p) = 10,098 - 0.025 p, requirement 0.03 p: the haircut and the
    MMF still liquidate it when 0.055 p > 10,098, p > 183,600 (exactly 0 room there) -> 183,601.
    With 2 BTC the room is 10,098 + 0.92 p, positive at every price: 0, fully collateralised."""
    d, street = desk()
    d.set_mark("BTC/USD", 10_000)
    for btc, expected in (("1", 183_601), ("2", 0)):
        h = d.account(f"h{btc}", "", 100, BTC=btc)
        d.rest(h, PERP, "sell", "1", 10_000)
        d.place(street, PERP, "buy", "1", 10_000)
        assert liquidation(d, h) == expected


def test_a_long_no_price_can_liquidate_shows_0_and_a_flat_row_null():
    """The issue's 0.05 BTC long on $100,000: 100,000 - 1.05 (fee) + 0.05 (p - 30,010) >= 0.0015 p
    at every p > 0, so FTX's 0 ("fully collateralised"). Closed, the row stays with null."""
    d, street = desk()
    a = d.account("a", "", 100_000)
    trade(d, a, street, PERP, "buy", "0.05", 30_010)
    assert liquidation(d, a) == 0
    trade(d, street, a, PERP, "buy", "0.05", 30_010)
    (row,) = positions_view(d.ex, d.acct(a))
    assert row["estimatedLiquidationPrice"] is None and row["entryPrice"] is None


def test_account_and_position_figures():
    """$1,000 and 1 BTC (BTC/USD mark $10,000); long 1 BTC-PERP at $10,000 as taker ($7, USD 993);
    the mark falls to $9,000 (a trade between others, asks at $12,000 left resting so that a bid
    of ours at $8,000 for 0.5 BTC does not move it: median(8,000, 12,000, 9,000) = 9,000).
    collateral (total weights)  993 + 0.975 x 10,000                       = 10,743
    unrealized PnL              1 x 9,000 - 10,000                         = -1,000
    totalAccountValue           10,743 - 1,000                             = 9,743
    totalPositionSize           1 x 9,000                                  = 9,000
    marginFraction              9,743 / 9,000 = 1.0825555..               -> 1.08255555
    maintenanceMarginRequirement                                             0.03
    open size                   max(|1 + 0.5|, |1 - 0|)                   = 1.5 BTC, $13,500
    initialMarginRequirement    10x leverage, no size term                 = 0.1
    openMarginFraction          min(993 + 0.95 x 10,000, that - 1,000) = 9,493; / 13,500 -> 0.70318518
    freeCollateral              9,493 - 0.1 x 13,500                       = 8,143
    collateralUsed              0.1 x 1 x 9,000                            = 900
    liquidation: the coin moves with the mark, at 10,000 / 9,000 of it (ticks rounded down):
      at 4,386: coin floor(43,860 / 9) = 4,873 -> 4,751.175; room 993 + 4,751.175 - 5,614 - 131.58 = -1.405
      at 4,387: coin 4,874 -> 4,752.15;                       room 993 + 4,752.15 - 5,613 - 131.61 = +0.54
    """
    d, street = desk()
    u = d.account("u", "", 1_000, BTC=1)
    d.set_mark("BTC/USD", 10_000)
    trade(d, u, street, PERP, "buy", "1", 10_000)
    other = d.account("other", "", 100_000)
    trade(d, other, street, PERP, "sell", "0.1", 9_000)
    d.rest(street, PERP, "sell", "0.1", 12_000)
    d.rest(u, PERP, "buy", "0.5", 8_000)
    assert d.ex.mark(PERP) == 9_000
    view = account_view(d.ex, d.acct(u))
    (row,) = view.pop("positions")
    assert view == {
        "username": "u",
        "nickname": None,
        "collateral": Decimal(10_743),
        "freeCollateral": Decimal(8_143),
        "totalAccountValue": Decimal(9_743),
        "totalPositionSize": Decimal(9_000),
        "marginFraction": Decimal("1.08255555"),
        "openMarginFraction": Decimal("0.70318518"),
        "maintenanceMarginRequirement": Decimal("0.03"),
        "initialMarginRequirement": Decimal("0.1"),
        "leverage": 10,
        "liquidating": False,
        "backstopProvider": False,
    }
    assert row == {
        "future": PERP,
        "size": Decimal(1),
        "netSize": Decimal(1),
        "side": "buy",
        "longOrderSize": Decimal("0.5"),
        "shortOrderSize": Decimal(0),
        "openSize": Decimal("1.5"),
        "cost": Decimal(10_000),
        "entryPrice": Decimal(10_000),
        "unrealizedPnl": Decimal(-1_000),
        "realizedPnl": Decimal(0),
        "initialMarginRequirement": Decimal("0.1"),
        "maintenanceMarginRequirement": Decimal("0.03"),
        "collateralUsed": Decimal(900),
        "estimatedLiquidationPrice": Decimal(4_386),
        "recentAverageOpenPrice": Decimal(10_000),
        "recentBreakEvenPrice": Decimal(10_000),
        "recentPnl": Decimal(-1_000),
    }


def test_the_account_requirements_weight_each_position_by_its_notional():
    """Leverage 20 (base IMF 5%): long 700 BTC-PERP at $1 ($700), where the size term binds,
    0.002 x sqrt(700) = 0.052915026 -> 0.05291503 (up), MMF 0.6 x that -> 0.03174902 (up); short
    10 ETH-PERP at $1,000 ($10,000) at the bases, 5% and 3%.
    initialMarginRequirement  (700 x 0.05291503 + 10,000 x 0.05) / 10,700 = 0.050190702.. -> 0.05019071 (up)
    maintenanceMarginRequirement (700 x 0.03174902 + 10,000 x 0.03) / 10,700 = 0.030114421.. -> 0.03011443"""
    d, street = desk()
    w = d.account("w", "", 2_000)
    d.leverage(w, 20)
    trade(d, w, street, PERP, "buy", "700", 1)
    d.rest(w, ETH, "sell", "10", 1_000)
    d.place(street, ETH, "buy", "10", 1_000)
    view = account_view(d.ex, d.acct(w))
    assert view["initialMarginRequirement"] == Decimal("0.05019071")
    assert view["maintenanceMarginRequirement"] == Decimal("0.03011443")
    imfs = [r["initialMarginRequirement"] for r in view["positions"]]
    assert imfs == [Decimal("0.05291503"), Decimal("0.05")]
