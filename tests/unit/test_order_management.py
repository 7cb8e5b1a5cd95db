"""Client order ids, cancel, cancel-all and modify (cancel-and-replace)."""

from __future__ import annotations

from engine_kit import Desk, accepted, closes, fills

from backstop.engine.commands import CancelAll, CancelOrder, ModifyOrder, PlaceOrder

PERP = "BTC-PERP"
ETH = "ETH-PERP"
SPOT = "BTC/USD"


def desk_with(*owners: str, usd_amount: int = 1_000_000) -> tuple[Desk, list[int]]:
    d = Desk()
    return d, [d.account(o, "", usd_amount, BTC=100) for o in owners]


# ------------------------------------------------------------------ clientId


def test_client_id_must_be_unique_among_open_orders():
    d, (a,) = desk_with("a")
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.reject(d.order_cmd(a, PERP, "buy", "0.01", 8_000, client_id="x"), "Duplicate client order ID")
    d.reject(d.order_cmd(a, SPOT, "sell", "1", 20_000, client_id="x"), "Duplicate client order ID")


def test_client_id_is_per_account():
    d, (a, b) = desk_with("a", "b")
    sub = d.account("a", "sub", 1_000_000)
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.rest(b, PERP, "buy", "0.01", 9_000, client_id="x")
    d.rest(sub, PERP, "buy", "0.01", 9_000, client_id="x")


def test_client_id_can_be_reused_after_cancel():
    d, (a,) = desk_with("a")
    first = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.cancel(a, client_id="x")
    second = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    assert second != first
    assert d.acct(a).client_ids["x"].id == second


def test_client_id_can_be_reused_after_fill():
    d, (a, b) = desk_with("a", "b")
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.place(b, PERP, "sell", "0.01", 9_000, ioc=True)
    assert "x" not in d.acct(a).client_ids
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")


def test_client_id_of_an_order_that_never_rested_is_free():
    d, (a,) = desk_with("a")
    d.place(a, PERP, "buy", "0.01", 9_000, ioc=True, client_id="x")
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")


def test_cancel_by_client_id_only_sees_open_orders():
    d, (a,) = desk_with("a")
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.cancel(a, client_id="x")
    d.reject(CancelOrder(d.tick(), a, None, "x"), "Order not found")


# ------------------------------------------------------------------ cancel


def test_cancel_removes_the_order_and_releases_the_open_size():
    d, (a,) = desk_with("a")
    oid = d.rest(a, PERP, "buy", "0.01", 9_000)
    assert d.position(a, PERP).open_buy == 100
    events = d.cancel(a, oid)
    assert [(c.order_id, c.reason, c.filled, c.size) for c in closes(events)] == [(oid, "cancelled", 0, 100)]
    assert d.bids(PERP) == []
    assert d.position(a, PERP).open_buy == 0
    assert d.acct(a).orders == {}


def test_cancel_spot_order_releases_the_reservation():
    d, (a,) = desk_with("a")
    buy = d.rest(a, SPOT, "buy", "1", 9_000)
    sell = d.rest(a, SPOT, "sell", "2", 11_000)
    assert d.acct(a).reserved == {"USD": 9_000 * 10**8, "BTC": 2 * 10**8}
    d.cancel(a, buy)
    assert d.acct(a).reserved == {"BTC": 2 * 10**8}
    d.cancel(a, sell)
    assert d.acct(a).reserved == {}


def test_cancel_unknown_order_is_not_found():
    d, (a,) = desk_with("a")
    d.reject(CancelOrder(d.tick(), a, 12345), "Order not found")


def test_cancel_someone_elses_order_is_not_found():
    d, (a, b) = desk_with("a", "b")
    oid = d.rest(a, PERP, "buy", "0.01", 9_000)
    d.reject(CancelOrder(d.tick(), b, oid), "Order not found")
    assert d.bids(PERP) == [(oid, 9_000, 100)]


def test_cancel_twice_is_already_closed():
    d, (a,) = desk_with("a")
    oid = d.rest(a, PERP, "buy", "0.01", 9_000)
    d.cancel(a, oid)
    d.reject(CancelOrder(d.tick(), a, oid), "Order already closed")


def test_cancel_filled_order_is_already_closed():
    d, (a, b) = desk_with("a", "b")
    oid = d.rest(a, PERP, "buy", "0.01", 9_000)
    d.place(b, PERP, "sell", "0.01", 9_000)
    d.reject(CancelOrder(d.tick(), a, oid), "Order already closed")


def test_cancel_ioc_order_that_never_rested_is_already_closed():
    d, (a,) = desk_with("a")
    events = d.place(a, PERP, "buy", "0.01", 9_000, ioc=True)
    d.reject(CancelOrder(d.tick(), a, accepted(events)[0].order_id), "Order already closed")


def test_cancel_all_filters_by_market_and_side():
    d, (a,) = desk_with("a")
    perp_buy = d.rest(a, PERP, "buy", "0.01", 9_000)
    perp_sell = d.rest(a, PERP, "sell", "0.01", 11_000)
    eth_buy = d.rest(a, ETH, "buy", "0.01", 900)
    spot_sell = d.rest(a, SPOT, "sell", "1", 11_000)

    events = d.cancel_all(a, PERP, "buy")
    assert [c.order_id for c in closes(events)] == [perp_buy]
    events = d.cancel_all(a, PERP)
    assert [c.order_id for c in closes(events)] == [perp_sell]
    events = d.cancel_all(a, None, "sell")
    assert [c.order_id for c in closes(events)] == [spot_sell]
    assert set(d.acct(a).orders) == {eth_buy}
    events = d.cancel_all(a)
    assert [(c.order_id, c.reason) for c in closes(events)] == [(eth_buy, "cancelled")]
    assert d.acct(a).orders == {}
    assert d.acct(a).reserved == {}
    for market in (PERP, ETH):
        pos = d.position(a, market)
        assert (pos.open_buy, pos.open_sell) == (0, 0)


def test_cancel_all_leaves_other_accounts_alone():
    d, (a, b) = desk_with("a", "b")
    d.rest(a, PERP, "buy", "0.01", 9_000)
    theirs = d.rest(b, PERP, "buy", "0.01", 9_000)
    d.cancel_all(a)
    assert d.bids(PERP) == [(theirs, 9_000, 100)]


def test_cancel_all_with_nothing_open_is_empty():
    d, (a,) = desk_with("a")
    assert d.cancel_all(a, PERP) == []


def test_cancel_all_rejects_bad_market_and_side():
    d, (a,) = desk_with("a")
    d.rest(a, PERP, "buy", "0.01", 9_000)
    d.reject(CancelAll(d.tick(), a, "NOPE-PERP"), "No such market: NOPE-PERP")
    d.reject(CancelAll(d.tick(), a, PERP, "up"), "Invalid parameter side")
    d.reject(CancelAll(d.tick(), 99), "No such subaccount")


# ------------------------------------------------------------------ modify


def test_modify_replaces_with_a_new_id():
    d, (a,) = desk_with("a")
    old = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    events = d.modify(a, old, price=9_100)
    (closed,) = closes(events)
    assert (closed.order_id, closed.reason) == (old, "modified")
    (new,) = accepted(events)
    assert new.order_id != old
    assert (new.price, new.size, new.client_id) == (9_100, 100, "x")
    assert d.bids(PERP) == [(new.order_id, 9_100, 100)]
    assert d.acct(a).client_ids["x"].id == new.order_id
    assert d.position(a, PERP).open_buy == 100
    d.reject(CancelOrder(d.tick(), a, old), "Order already closed")


def test_modify_loses_queue_priority():
    d, (a, b, t) = desk_with("a", "b", "t")
    first = d.rest(a, PERP, "sell", "0.01", 10_000)
    second = d.rest(b, PERP, "sell", "0.01", 10_000)
    events = d.modify(a, first, size=100)  # same price and size: still goes to the back
    replaced = accepted(events)[0].order_id
    assert [oid for oid, _, _ in d.asks(PERP)] == [second, replaced]
    (fill,) = fills(d.place(t, PERP, "buy", "0.01", 10_000, ioc=True))
    assert fill.maker_order == second


def test_modify_size_of_partially_filled_order():
    d, (a, t) = desk_with("a", "t")
    old = d.rest(a, PERP, "sell", "0.05", 10_000)
    d.place(t, PERP, "buy", "0.02", 10_000, ioc=True)
    events = d.modify(a, old, price=10_100)
    (new,) = accepted(events)
    assert new.size == 300  # the remaining size carries over when size is not given
    assert d.position(a, PERP).open_sell == 300
    events = d.modify(a, new.order_id, size=700)
    new2 = accepted(events)[0].order_id
    assert d.asks(PERP) == [(new2, 10_100, 700)]
    assert d.position(a, PERP).open_sell == 700


def test_modify_by_client_id_and_new_client_id():
    d, (a,) = desk_with("a")
    d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    events = d.ok(ModifyOrder(d.tick(), a, None, "x", 9_050, None, "y"))
    new = accepted(events)[0]
    assert new.client_id == "y"
    assert set(d.acct(a).client_ids) == {"y"}
    d.rest(a, PERP, "buy", "0.01", 8_000, client_id="x")


def test_modify_to_a_crossing_price_trades():
    d, (a, t) = desk_with("a", "t")
    d.rest(t, PERP, "sell", "0.01", 10_000)
    old = d.rest(a, PERP, "buy", "0.01", 9_000)
    events = d.modify(a, old, price=10_000)
    (fill,) = fills(events)
    assert (fill.taker_account, fill.price, fill.size) == (a, 10_000, 100)
    assert d.position(a, PERP).size == 100
    assert d.position(a, PERP).open_buy == 0


def test_modify_rejections_leave_the_old_order_in_place():
    d, (a, b) = desk_with("a", "b", usd_amount=10_000)
    old = d.rest(a, PERP, "buy", "0.01", 9_000, client_id="x")
    d.rest(a, PERP, "buy", "0.01", 8_000, client_id="y")
    before = d.bids(PERP)
    d.reject(ModifyOrder(d.tick(), a, old), "Must modify either price or size")
    d.reject(ModifyOrder(d.tick(), a, old, new_client_id="y", price=9_001), "Duplicate client order ID")
    d.reject(ModifyOrder(d.tick(), a, old, price=-1), "Invalid price")
    d.reject(ModifyOrder(d.tick(), a, old, size=0), "Size too small")
    for k in range(10):  # the 10 resting orders below minProvideSize FTX allowed an hour
        d.rest(a, PERP, "buy", "0.0009", 7_000 - k)
    before = d.bids(PERP)
    d.reject(ModifyOrder(d.tick(), a, old, size=5), "Size too small for provide")
    # $10,000 at 10x leverage carries about 11 BTC at $9,000; 20 BTC does not fit
    d.reject(
        ModifyOrder(d.tick(), a, old, size=d.lots(PERP, "20")),
        "Account does not have enough margin for order",
    )
    d.reject(ModifyOrder(d.tick(), b, old, price=9_001), "Order not found")
    d.reject(ModifyOrder(d.tick(), a, 999, price=9_001), "Order not found")
    assert d.bids(PERP) == before
    assert d.acct(a).client_ids["x"].id == old


def test_modify_spot_buy_needs_only_the_extra_balance():
    d = Desk()
    a = d.account("a", "", 10_007)
    old = d.rest(a, SPOT, "buy", "1", 9_000)
    # 1 BTC at $10,000 needs $10,000 + 7 bp taker fee; $9,000 is already held by the old order
    events = d.modify(a, old, price=10_000)
    new = accepted(events)[0].order_id
    assert d.acct(a).reserved == {"USD": 10_000 * 10**8}
    # $10,001 + $7.0007 - $10,000 held = $8.0007 > the $7 available
    d.reject(ModifyOrder(d.tick(), a, new, price=10_001), "Not enough balances")
    assert d.bids(SPOT) == [(new, 10_000, 10_000)]


def test_modify_closed_order_is_already_closed():
    d, (a,) = desk_with("a")
    old = d.rest(a, PERP, "buy", "0.01", 9_000)
    d.modify(a, old, price=9_100)
    d.reject(ModifyOrder(d.tick(), a, old, price=9_200), "Order already closed")


def test_min_provide_size_binds_on_the_eleventh_small_resting_order_within_an_hour():
    """FTX's minProvideSize applied only past 10 small resting orders an hour; IOC is never held
    to it, and the window moves with command time."""
    d, (a, b) = desk_with("a", "b", usd_amount=10_000)
    small = d.lots(PERP, "0.0009")  # below BTC-PERP's minProvideSize of 0.001
    for k in range(10):
        d.ok(PlaceOrder(d.tick(), a, PERP, "buy", small, 7_000 - k))
    d.reject(PlaceOrder(d.tick(), a, PERP, "buy", small, 6_000), "Size too small for provide")
    d.ok(PlaceOrder(d.tick(), a, PERP, "buy", small, 6_000, ioc=True))  # takes nothing, expires
    d.ok(PlaceOrder(d.tick(), b, PERP, "buy", small, 6_000))  # another account has its own count
    d.ts += 3_600 * 1_000_000  # an hour later the first ten have left the window
    d.ok(PlaceOrder(d.tick(), a, PERP, "buy", small, 6_000))
