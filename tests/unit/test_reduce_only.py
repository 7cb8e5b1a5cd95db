"""Reduce-only orders: futures only, need a position to reduce, never flip it."""

from __future__ import annotations

from engine_kit import Desk, accepted, closes, fills

PERP = "BTC-PERP"
SPOT = "BTC/USD"


def long_one_btc() -> tuple[Desk, int, int]:
    """`a` is long 1 BTC-PERP at $10,000 bought from `b`; the book is empty."""
    d = Desk()
    a = d.account("a", "", 100_000)
    b = d.account("b", "", 100_000)
    d.rest(b, PERP, "sell", "1", 10_000)
    d.place(a, PERP, "buy", "1", 10_000)
    assert d.position(a, PERP).size == 10_000
    assert d.bids(PERP) == d.asks(PERP) == []
    return d, a, b


def test_spot_orders_cannot_be_reduce_only():
    d = Desk()
    a = d.account("a", "", 100_000, BTC=1)
    d.reject(d.order_cmd(a, SPOT, "sell", "1", 10_000, reduce_only=True), "Spot orders cannot be reduce-only")
    d.reject(d.order_cmd(a, SPOT, "buy", "1", 10_000, reduce_only=True), "Spot orders cannot be reduce-only")


def test_reduce_only_without_a_position_is_invalid():
    d = Desk()
    a = d.account("a", "", 100_000)
    d.reject(d.order_cmd(a, PERP, "sell", "1", 10_000, reduce_only=True), "Invalid reduce-only order")
    d.reject(d.order_cmd(a, PERP, "buy", "1", 10_000, reduce_only=True), "Invalid reduce-only order")


def test_reduce_only_in_the_direction_of_the_position_is_invalid():
    d, a, _ = long_one_btc()
    d.reject(d.order_cmd(a, PERP, "buy", "0.1", 9_000, reduce_only=True), "Invalid reduce-only order")
    d.reject(d.order_cmd(a, PERP, "buy", "0.1", reduce_only=True), "Invalid reduce-only order")


def test_reduce_only_taker_stops_at_flat():
    d, a, _ = long_one_btc()
    c = d.account("c", "", 100_000)
    d.rest(c, PERP, "buy", "3", 9_900)
    events = d.place(a, PERP, "sell", "3", 9_900, reduce_only=True)
    assert [f.size for f in fills(events)] == [10_000]
    taker = accepted(events)[0].order_id
    assert [(x.reason, x.filled, x.size) for x in closes(events) if x.order_id == taker] == [
        ("reduce_only", 10_000, 30_000)
    ]
    assert d.position(a, PERP).size == 0
    assert d.position(a, PERP).open_sell == 0
    assert d.bids(PERP)[0][2] == 20_000


def test_reduce_only_market_order_never_flips():
    d, a, _ = long_one_btc()
    c = d.account("c", "", 100_000)
    d.rest(c, PERP, "buy", "0.5", 9_900)
    d.rest(c, PERP, "buy", "2", 9_850)
    events = d.place(a, PERP, "sell", "5", reduce_only=True)
    assert [(f.price, f.size) for f in fills(events)] == [(9_900, 5_000), (9_850, 5_000)]
    assert d.position(a, PERP).size == 0


def test_resting_reduce_only_is_trimmed_to_the_position():
    d, a, _ = long_one_btc()
    events = d.place(a, PERP, "sell", "3", 10_100, reduce_only=True)
    oid = accepted(events)[0].order_id
    assert d.asks(PERP) == [(oid, 10_100, 10_000)]
    assert d.position(a, PERP).open_sell == 10_000


def test_resting_reduce_only_fills_only_what_the_position_allows():
    d, a, _ = long_one_btc()
    oid = accepted(d.place(a, PERP, "sell", "1", 10_100, reduce_only=True))[0].order_id
    c = d.account("c", "", 100_000)
    # `a` sells 0.6 BTC outright first, so only 0.4 is left to reduce
    d.rest(c, PERP, "buy", "0.6", 10_000)
    d.place(a, PERP, "sell", "0.6", 10_000)
    assert d.position(a, PERP).size == 4_000
    events = d.place(c, PERP, "buy", "1", 10_100)
    assert [(f.maker_order, f.size) for f in fills(events)] == [(oid, 4_000)]
    assert d.position(a, PERP).size == 0
    assert oid not in d.acct(a).orders
    assert d.position(a, PERP).open_sell == 0
    # the buyer's remaining 0.6 BTC rests; it did not flip `a` short
    assert d.bids(PERP)[0][2] == 6_000


def test_reduce_only_short_cover():
    d, _, b = long_one_btc()
    # b is short 1 BTC; a reduce-only buy of 2 covers exactly 1
    c = d.account("c", "", 100_000)
    d.rest(c, PERP, "sell", "2", 10_050)
    events = d.place(b, PERP, "buy", "2", 10_050, reduce_only=True)
    assert sum(f.size for f in fills(events)) == 10_000
    assert d.position(b, PERP).size == 0


def test_reduce_only_needs_no_free_collateral():
    d, a, _ = long_one_btc()
    # take away almost all collateral: after withdrawing, free collateral is ~0
    d.leverage(a, 10)
    # USD = 100,000 - $7 taker fee; requirement 1 x 10,000 x 10% = 1,000
    d.withdraw(a, "USD", "98993")
    d.reject(d.order_cmd(a, PERP, "buy", "0.01", 9_000), "Account does not have enough margin for order")
    d.rest(a, PERP, "sell", "1", 10_100, reduce_only=True)


def test_resting_reduce_only_orders_are_cut_to_what_the_position_can_still_reduce():
    """When the position shrinks, resting reduce-only orders are resized (oldest first) or
    cancelled, so they never leave open size that no margin check saw."""
    d, a, _ = long_one_btc()
    c = d.account("c", "", 100_000)
    first = d.rest(a, PERP, "sell", "0.6", 12_000, reduce_only=True)
    second = d.rest(a, PERP, "sell", "0.4", 12_100, reduce_only=True)
    assert d.position(a, PERP).open_sell == 10_000
    d.rest(c, PERP, "buy", "0.5", 9_000)
    events = d.place(a, PERP, "sell", "0.5", 9_000)  # an ordinary sell halves the position
    resized = [e for e in events if type(e).__name__ == "OrderResized"]
    assert [(e.order_id, e.remaining) for e in resized] == [(first, 5_000)]
    assert [(x.order_id, x.reason) for x in closes(events) if x.order_id == second] == [
        (second, "reduce_only")
    ]
    pos = d.position(a, PERP)
    assert (pos.size, pos.open_sell, pos.reduce_only_orders) == (5_000, 5_000, 1)
    assert [o[2] for o in d.asks(PERP)] == [5_000]
    assert d.ex.discrepancies() == {}


def test_closing_the_position_cancels_its_resting_reduce_only_orders():
    d, a, b = long_one_btc()
    stop = d.rest(a, PERP, "sell", "1", 12_000, reduce_only=True)
    d.rest(b, PERP, "buy", "1", 9_500)
    events = d.place(a, PERP, "sell", "1", 9_500)
    assert [(x.order_id, x.reason) for x in closes(events) if x.order_id == stop] == [(stop, "reduce_only")]
    pos = d.position(a, PERP)
    assert (pos.size, pos.open_sell, pos.reduce_only_orders) == (0, 0, 0)
    assert d.asks(PERP) == []


def test_reduce_only_orders_together_never_exceed_the_position():
    d, a, _ = long_one_btc()
    first = d.rest(a, PERP, "sell", "0.6", 12_000, reduce_only=True)
    events = d.place(a, PERP, "sell", "0.6", 12_100, reduce_only=True)
    second = accepted(events)[0].order_id
    assert d.acct(a).orders[first].remaining == 6_000
    assert d.acct(a).orders[second].remaining == 4_000  # only 0.4 BTC is left to reduce
    assert d.position(a, PERP).open_sell == 10_000
    events = d.place(a, PERP, "sell", "0.1", 12_200, reduce_only=True)
    assert [(x.reason, x.filled) for x in closes(events)] == [("reduce_only", 0)]
