"""Expiry of dated futures (research notes section 4, help.ftx.com 360027668752).

BTC-0326 expires on Friday 26 March 2027 at 03:00 UTC to the time-weighted average of its index
from 02:00 to 03:00, sampled every second. At 03:00 open orders are cancelled, every position
closes to USD at the settlement price (realized PnL = size x price - cost, no fee) and the market
takes no more orders.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine_kit import Desk, closes

from backstop.engine.events import MarketSettled, OrderClosed, PositionSettled

FUTURE = "BTC-0326"
PERP = "BTC-PERP"
USD = 10**8  # atoms per dollar
SECOND = 1_000_000
HOUR = 3_600 * SECOND
EXPIRY = int(datetime(2027, 3, 26, 3, 0, tzinfo=UTC).timestamp()) * SECOND
TICK_LOT = 10_000  # BTC-0326: one lot (0.0001 BTC) at one tick ($1) is $0.0001 = 10,000 atoms


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_the_catalog_expiry_is_0300_utc_on_the_last_friday_of_march_2027():
    d = Desk()
    assert d.markets[FUTURE].expiry_us == EXPIRY
    assert d.markets["ETH-0326"].expiry_us == EXPIRY
    assert datetime.fromtimestamp(EXPIRY // SECOND, UTC).strftime("%A") == "Friday"
    assert d.markets[PERP].expiry_us is None


def test_expiry_settles_at_the_index_twap_closes_positions_and_cancels_orders():
    d = Desk()
    d.index("BTC", 29_000)
    d.index("ETH", 2_000)
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    c = d.account("c", "", 100_000)
    e = d.account("e", "", 100_000)
    d.rest(b, FUTURE, "sell", "1", 30_500)
    d.place(a, FUTURE, "buy", "1", 30_500)  # a long 1 at 30,500, b short
    d.rest(e, FUTURE, "sell", "0.3", 31_300)
    d.place(c, FUTURE, "buy", "0.3", 31_300)  # c long 0.3 at 31,300, e short
    bid = d.rest(c, FUTURE, "buy", "0.5", 29_000)
    ask = d.rest(a, FUTURE, "sell", "0.2", 35_000)
    perp_bid = d.rest(c, PERP, "buy", "0.5", 20_000)
    assert d.ex.mark(FUTURE) == 31_300  # median(29,000, 35,000, last 31,300)
    assert d.ex.discrepancies() == {}

    # jump to 01:59:01 on expiry day, then one tick a second
    d.ts = EXPIRY - HOUR - 60 * SECOND
    d.second(30)  # .. 01:59:30 at 29,000: before the window, must not count
    d.index("BTC", 30_000)
    d.second(30 + 2_400)  # .. 02:40:00 at 30,000
    d.index("BTC", 33_000)
    d.second(1_199)  # .. 02:59:59 at 33,000
    assert d.ts == EXPIRY - SECOND
    assert not d.book(FUTURE).closed
    assert d.position(a, FUTURE).size == 10_000
    before = {x: d.balance(x) for x in (a, b, c, e)}

    events = d.second()  # 03:00:00
    assert d.ts == EXPIRY
    # TWAP: 30,000 for 2,400 s and 33,000 for 1,200 s: (72,000,000 + 39,600,000) / 3,600 = 31,000
    # (not the last index, 33,000, nor the future's own last trade or mark, 31,300)
    assert sorted(of(events, MarketSettled), key=lambda x: x.market) == [
        MarketSettled(FUTURE, 31_000, EXPIRY),
        MarketSettled("ETH-0326", 20_000, EXPIRY),  # $2,000.0 in $0.1 ticks
    ]
    # realized = size x 31,000 - cost:
    #   a:  1   x (31,000 - 30,500) = +$500     b: -1   x (31,000 - 30,500) = -$500
    #   c:  0.3 x (31,000 - 31,300) =  -$90     e: -0.3 x (31,000 - 31,300) =  +$90
    assert of(events, PositionSettled) == [
        PositionSettled(a, FUTURE, 10_000, 31_000, 500 * USD, EXPIRY),
        PositionSettled(b, FUTURE, -10_000, 31_000, -500 * USD, EXPIRY),
        PositionSettled(c, FUTURE, 3_000, 31_000, -90 * USD, EXPIRY),
        PositionSettled(e, FUTURE, -3_000, 31_000, 90 * USD, EXPIRY),
    ]
    assert sorted(closes(events), key=lambda x: x.order_id) == [
        OrderClosed(bid, c, FUTURE, "expired", 0, 5_000, EXPIRY),
        OrderClosed(ask, a, FUTURE, "expired", 0, 2_000, EXPIRY),
    ]
    # PnL to USD, no settlement fee
    assert {x: d.balance(x) - before[x] for x in (a, b, c, e)} == {
        a: 500 * USD,
        b: -500 * USD,
        c: -90 * USD,
        e: 90 * USD,
    }
    for x in (a, b, c, e):
        pos = d.position(x, FUTURE)
        assert (pos.size, pos.cost, pos.open_buy, pos.open_sell) == (0, 0, 0, 0), x
    assert d.position(a, FUTURE).realized == 500 * USD
    assert d.position(c, FUTURE).realized == -90 * USD
    book = d.book(FUTURE)
    assert book.closed
    assert book.holders == {}
    assert d.bids(FUTURE) == d.asks(FUTURE) == []
    assert list(d.acct(a).orders) == []
    assert list(d.acct(c).orders) == [perp_bid]  # other markets are untouched
    assert d.bids(PERP) == [(perp_bid, 20_000, 5_000)]
    assert d.ex.mark(FUTURE) == 31_000
    assert d.ex.discrepancies() == {}

    # no more orders on the expired market
    d.reject(d.order_cmd(c, FUTURE, "buy", "0.1", 31_000), "Market is closed")
    d.reject(d.order_cmd(e, FUTURE, "sell", "0.1", 31_000), "Market is closed")
    d.reject(d.order_cmd(c, FUTURE, "buy", "0.1"), "Market is closed")
    d.reject(d.order_cmd(b, FUTURE, "buy", "0.1", 31_000, reduce_only=True), "Market is closed")
    # later ticks and index moves change nothing about it
    d.index("BTC", 40_000)
    later = d.second(10)
    assert of(later, MarketSettled) == of(later, PositionSettled) == []
    assert d.ex.mark(FUTURE) == 31_000
    assert {x: d.balance(x) - before[x] for x in (a, b, c, e)} == {
        a: 500 * USD,
        b: -500 * USD,
        c: -90 * USD,
        e: 90 * USD,
    }
    assert not d.book(PERP).closed
    d.rest(c, PERP, "buy", "0.1", 39_000)
    assert d.ex.discrepancies() == {}


def test_a_partly_closed_position_settles_its_remaining_cost():
    d = Desk()
    d.index("BTC", 30_000)
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    c = d.account("c", "", 100_000)
    d.rest(b, FUTURE, "sell", "1", 30_000)
    d.place(a, FUTURE, "buy", "1", 30_000)  # a long 1 at 30,000
    d.rest(a, FUTURE, "buy", "0.5", 31_000)
    d.place(b, FUTURE, "sell", "0.5", 31_000)  # and 0.5 more at 31,000: 1.5 for $45,500
    d.rest(c, FUTURE, "buy", "0.9", 32_000)
    d.place(a, FUTURE, "sell", "0.9", 32_000)
    # a sold 0.9 of 1.5: cost released 45,500 x 0.9 / 1.5 = 27,300; realized 28,800 - 27,300 = $1,500
    pos = d.position(a, FUTURE)
    assert (pos.size, pos.cost, pos.realized) == (6_000, 18_200 * USD, 1_500 * USD)
    d.ts = EXPIRY - HOUR - SECOND
    events = d.second(3_601)  # 01:59:59 .. 03:00:00, index 30,000 all along: settles at 30,000
    # a:  0.6 x 30,000 - 18,200 = -$200      b: -1.5 x 30,000 + 45,500 = +$500
    # c:  0.9 x 30,000 - 28,800 = -$1,800
    assert of(events, PositionSettled) == [
        PositionSettled(a, FUTURE, 6_000, 30_000, -200 * USD, EXPIRY),
        PositionSettled(b, FUTURE, -15_000, 30_000, 500 * USD, EXPIRY),
        PositionSettled(c, FUTURE, 9_000, 30_000, -1_800 * USD, EXPIRY),
    ]
    assert d.position(a, FUTURE).realized == 1_300 * USD
    assert d.ex.discrepancies() == {}


def test_the_window_is_the_last_hour_only():
    """An hour of index at 50,000 just before 02:00 does not count."""
    d = Desk()
    d.index("BTC", 50_000)
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    d.rest(b, FUTURE, "sell", "0.1", 30_000)
    d.place(a, FUTURE, "buy", "0.1", 30_000)
    d.ts = EXPIRY - 2 * HOUR - SECOND
    d.second(3_601)  # 01:00:00 .. 02:00:00 at 50,000
    d.index("BTC", 36_000)  # 36,000 from just after 02:00:00
    events = d.second(3_600)  # 02:00:01 .. 03:00:00
    assert [e for e in of(events, MarketSettled) if e.market == FUTURE] == [
        MarketSettled(FUTURE, 36_000, EXPIRY)
    ]
    # a: 0.1 x (36,000 - 30,000) = +$600, b the opposite
    assert of(events, PositionSettled) == [
        PositionSettled(a, FUTURE, 1_000, 36_000, 600 * USD, EXPIRY),
        PositionSettled(b, FUTURE, -1_000, 36_000, -600 * USD, EXPIRY),
    ]
    assert d.ex.discrepancies() == {}


def test_an_order_timestamped_after_expiry_is_rejected_even_before_the_next_tick():
    d = Desk()
    d.index("BTC", 30_000)
    a = d.account("a", "", 100_000)
    d.ts = EXPIRY - 2 * SECOND
    d.second()  # 02:59:59
    d.ts = EXPIRY + SECOND // 2  # 03:00:00.5, no tick at or after 03:00:00 applied yet
    d.reject(d.order_cmd(a, FUTURE, "buy", "0.1", 30_000), "Market is closed")


def test_a_future_nobody_priced_still_closes_at_expiry():
    d = Desk()
    a = d.account("a", "", 100_000)
    d.ts = EXPIRY - 2 * SECOND
    d.second(2)  # 02:59:59, 03:00:00: ETH has no index and ETH-0326 no orders or trades
    d.reject(d.order_cmd(a, "ETH-0326", "buy", "1", 2_000), "Market is closed")
