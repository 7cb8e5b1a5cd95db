"""Matching rules: price-time priority, partial fills, IOC, post-only, price bands, self-trade."""

from __future__ import annotations

from engine_kit import Desk, accepted, closes, fills

from backstop.engine.events import Fill, OrderAccepted, OrderClosed

PERP = "BTC-PERP"
SPOT = "BTC/USD"


def desk_with(*owners: str, usd_amount: int = 1_000_000) -> tuple[Desk, list[int]]:
    d = Desk()
    return d, [d.account(o, "", usd_amount, BTC=100) for o in owners]


# ------------------------------------------------------------------ price-time priority


def test_better_price_fills_first_regardless_of_time():
    d, (a, b, t) = desk_with("a", "b", "t")
    worse = d.rest(a, PERP, "sell", "0.01", 10_001)
    better = d.rest(b, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.01", 10_001, ioc=True)
    (fill,) = fills(events)
    assert fill.maker_order == better
    assert fill.price == 10_000  # the maker's price, not the taker's limit
    assert d.asks(PERP) == [(worse, 10_001, 100)]


def test_same_price_fills_in_time_order():
    d, (a, b, t) = desk_with("a", "b", "t")
    first = d.rest(a, PERP, "buy", "0.01", 9_990)
    second = d.rest(b, PERP, "buy", "0.01", 9_990)
    events = d.place(t, PERP, "sell", "0.015", 9_990, ioc=True)
    got = [(f.maker_order, f.size) for f in fills(events)]
    assert got == [(first, 100), (second, 50)]
    assert d.bids(PERP) == [(second, 9_990, 50)]


def test_taker_sweeps_levels_in_price_order_at_each_makers_price():
    d, (a, b, t) = desk_with("a", "b", "t")
    d.rest(a, PERP, "sell", "0.01", 10_002)
    d.rest(b, PERP, "sell", "0.01", 10_000)
    d.rest(a, PERP, "sell", "0.01", 10_001)
    events = d.place(t, PERP, "buy", "0.03", 10_002)
    assert [(f.price, f.size) for f in fills(events)] == [(10_000, 100), (10_001, 100), (10_002, 100)]
    assert d.asks(PERP) == []
    assert d.bids(PERP) == []


# ------------------------------------------------------------------ partial fills


def test_partial_fill_of_taker_rests_the_rest_at_its_limit():
    d, (m, t) = desk_with("m", "t")
    maker = d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.025", 10_000)
    (acc,) = accepted(events)
    (fill,) = fills(events)
    assert (fill.size, fill.maker_order, fill.taker_order) == (100, maker, acc.order_id)
    (closed,) = closes(events)
    assert (closed.order_id, closed.reason, closed.filled, closed.size) == (maker, "filled", 100, 100)
    assert d.bids(PERP) == [(acc.order_id, 10_000, 150)]
    order = d.acct(t).orders[acc.order_id]
    assert (order.filled, order.remaining, order.status) == (100, 150, "open")


def test_partial_fill_of_maker_keeps_its_place():
    d, (m, n, t) = desk_with("m", "n", "t")
    first = d.rest(m, PERP, "sell", "0.05", 10_000)
    second = d.rest(n, PERP, "sell", "0.05", 10_000)
    d.place(t, PERP, "buy", "0.02", 10_000, ioc=True)
    assert d.asks(PERP) == [(first, 10_000, 300), (second, 10_000, 500)]
    order = d.acct(m).orders[first]
    assert (order.filled, order.remaining, order.size) == (200, 300, 500)
    events = d.place(t, PERP, "buy", "0.04", 10_000, ioc=True)
    assert [(f.maker_order, f.size) for f in fills(events)] == [(first, 300), (second, 100)]


# ------------------------------------------------------------------ IOC


def test_ioc_remainder_is_closed_not_rested():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.03", 10_000, ioc=True)
    acc = accepted(events)[0]
    assert sum(f.size for f in fills(events)) == 100
    taker_close = [c for c in closes(events) if c.order_id == acc.order_id]
    assert [(c.reason, c.filled, c.size) for c in taker_close] == [("ioc", 100, 300)]
    assert d.bids(PERP) == []
    assert acc.order_id not in d.acct(t).orders
    assert d.position(t, PERP).open_buy == 0


def test_ioc_that_does_not_cross_closes_with_nothing_filled():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.01", 9_999, ioc=True)
    assert fills(events) == []
    assert [(c.reason, c.filled) for c in closes(events)] == [("ioc", 0)]
    assert d.bids(PERP) == []


def test_ioc_below_min_provide_size_is_accepted():
    # FTX's minimum provide size applies to orders that may rest; an IOC never rests.
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.0001", 10_000, ioc=True)
    assert [f.size for f in fills(events)] == [1]


# ------------------------------------------------------------------ post-only


def test_post_only_that_would_take_is_accepted_then_closed():
    d, (m, t) = desk_with("m", "t")
    ask = d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.01", 10_000, post_only=True)
    assert [type(e) for e in events] == [OrderAccepted, OrderClosed]
    assert (events[1].reason, events[1].filled) == ("post_only", 0)
    assert d.asks(PERP) == [(ask, 10_000, 100)]
    assert d.bids(PERP) == []
    assert d.position(t, PERP) is None or d.position(t, PERP).open_buy == 0


def test_post_only_that_does_not_cross_rests():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    oid = d.rest(t, PERP, "buy", "0.01", 9_999, post_only=True)
    assert d.bids(PERP) == [(oid, 9_999, 100)]


def test_post_only_sell_on_spot_that_would_take_is_closed():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, SPOT, "buy", "1", 10_000)
    events = d.place(t, SPOT, "sell", "1", 9_000, post_only=True)
    assert [(c.reason, c.filled) for c in closes(events)] == [("post_only", 0)]
    assert d.acct(t).reserved == {}
    assert d.balance(t, "BTC") == 100 * 10**8


# ------------------------------------------------------------------ price bands


def test_futures_market_buy_trades_at_most_2_percent_through_the_touch():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    d.rest(m, PERP, "sell", "0.01", 10_200)  # exactly 2% through: tradable
    d.rest(m, PERP, "sell", "0.01", 10_201)  # beyond: not
    events = d.place(t, PERP, "buy", "0.03")
    assert [(f.price, f.size) for f in fills(events)] == [(10_000, 100), (10_200, 100)]
    taker = accepted(events)[0].order_id
    assert [(c.reason, c.filled) for c in closes(events) if c.order_id == taker] == [("ioc", 200)]
    assert [p for _, p, _ in d.asks(PERP)] == [10_201]
    assert d.bids(PERP) == []


def test_futures_market_sell_trades_at_most_2_percent_through_the_touch():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "buy", "0.01", 10_000)
    d.rest(m, PERP, "buy", "0.01", 9_800)  # 10,000 x 0.98
    d.rest(m, PERP, "buy", "0.01", 9_799)
    events = d.place(t, PERP, "sell", "0.03")
    assert [f.price for f in fills(events)] == [10_000, 9_800]
    assert [p for _, p, _ in d.bids(PERP)] == [9_799]
    assert d.asks(PERP) == []


def test_spot_market_buy_trades_at_most_25_percent_through_the_touch():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, SPOT, "sell", "1", 10_000)
    d.rest(m, SPOT, "sell", "1", 12_500)
    d.rest(m, SPOT, "sell", "1", 12_501)
    events = d.place(t, SPOT, "buy", "3")
    assert [f.price for f in fills(events)] == [10_000, 12_500]
    assert [p for _, p, _ in d.asks(SPOT)] == [12_501]
    assert d.bids(SPOT) == []


def test_spot_market_sell_trades_at_most_25_percent_through_the_touch():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, SPOT, "buy", "1", 10_000)
    d.rest(m, SPOT, "buy", "1", 7_500)
    d.rest(m, SPOT, "buy", "1", 7_499)
    events = d.place(t, SPOT, "sell", "3")
    assert [f.price for f in fills(events)] == [10_000, 7_500]
    assert [p for _, p, _ in d.bids(SPOT)] == [7_499]


def test_limit_price_beyond_the_band_is_capped_and_rests_at_the_cap():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, PERP, "sell", "0.01", 10_000)
    d.rest(m, PERP, "sell", "0.01", 10_500)
    events = d.place(t, PERP, "buy", "0.03", 11_000)
    assert [f.price for f in fills(events)] == [10_000]
    taker = accepted(events)[0].order_id
    assert d.bids(PERP) == [(taker, 10_200, 200)]
    assert not d.book(PERP).crossed()


def test_limit_sell_beyond_the_spot_band_is_capped():
    d, (m, t) = desk_with("m", "t")
    d.rest(m, SPOT, "buy", "1", 10_000)
    events = d.place(t, SPOT, "sell", "2", 1_000)
    assert [f.price for f in fills(events)] == [10_000]
    taker = accepted(events)[0].order_id
    # the bid side is empty after the fill, the rest sits at 25% below the old touch
    assert d.asks(SPOT) == [(taker, 7_500, 10_000)]


def test_market_order_on_an_empty_book_closes_unfilled():
    d, (t,) = desk_with("t")
    events = d.place(t, PERP, "buy", "0.01")
    assert fills(events) == []
    assert [(c.reason, c.filled) for c in closes(events)] == [("ioc", 0)]
    assert d.bids(PERP) == []


# ------------------------------------------------------------------ self-trade prevention


def test_self_trade_cancels_the_resting_maker_and_matching_goes_on():
    d = Desk()
    own_main = d.account("alice", "", 1_000_000)
    own_sub = d.account("alice", "sub", 1_000_000)
    other = d.account("bob", "", 1_000_000)
    mine = d.rest(own_sub, PERP, "sell", "0.01", 10_000)
    theirs = d.rest(other, PERP, "sell", "0.01", 10_000)
    events = d.place(own_main, PERP, "buy", "0.01", 10_000)
    cancelled = [c for c in closes(events) if c.order_id == mine]
    assert [(c.reason, c.account) for c in cancelled] == [("self_trade", own_sub)]
    (fill,) = fills(events)
    assert (fill.maker_order, fill.maker_account) == (theirs, other)
    assert d.asks(PERP) == []
    assert d.position(own_sub, PERP).open_sell == 0
    assert d.position(own_sub, PERP).size == 0


def test_self_trade_with_only_own_liquidity_rests_the_taker():
    d = Desk()
    a = d.account("alice", "", 1_000_000)
    mine = d.rest(a, PERP, "sell", "0.01", 10_000)
    events = d.place(a, PERP, "buy", "0.01", 10_000)
    assert fills(events) == []
    assert [(c.order_id, c.reason) for c in closes(events)] == [(mine, "self_trade")]
    taker = accepted(events)[0].order_id
    assert d.bids(PERP) == [(taker, 10_000, 100)]
    assert d.asks(PERP) == []
    assert not d.book(PERP).crossed()


def test_self_trade_on_spot_releases_the_reserved_coins():
    d = Desk()
    a = d.account("alice", "", 1_000_000, BTC=2)
    d.rest(a, SPOT, "sell", "2", 10_000)
    assert d.acct(a).reserved == {"BTC": 2 * 10**8}
    d.place(a, SPOT, "buy", "1", 10_000, ioc=True)
    assert d.acct(a).reserved == {}
    assert d.balance(a, "BTC") == 2 * 10**8
    assert d.balance(a) == 1_000_000 * 10**8


def test_fill_event_carries_both_sides():
    d, (m, t) = desk_with("m", "t")
    maker = d.rest(m, PERP, "sell", "0.01", 10_000)
    events = d.place(t, PERP, "buy", "0.01", 10_000)
    (fill,) = fills(events)
    assert isinstance(fill, Fill)
    assert (fill.market, fill.taker_side, fill.maker_order, fill.taker_account, fill.maker_account) == (
        PERP,
        "buy",
        maker,
        t,
        m,
    )
    assert d.book(PERP).last == 10_000


def test_accepted_event_carries_the_price_the_order_rests_at_after_the_band_cap():
    d = Desk()
    a = d.account("a", "", 1_000_000)
    b = d.account("b", "", 1_000_000)
    d.rest(b, PERP, "sell", "0.001", 10_000)
    events = d.place(a, PERP, "buy", "1", 11_000)  # 10% through the touch: capped at 2%
    (event,) = accepted(events)
    assert event.price == 10_200
    assert d.bids(PERP)[0][1] == 10_200
