"""Trigger orders (FTX's conditional orders): stop, take-profit and trailing stop, market or limit,
fired by the mark price by default (or the last trade or the index), checked every clock tick."""

from __future__ import annotations

import pickle

from engine_kit import Desk
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backstop.engine import errors
from backstop.engine.commands import (
    CancelAll,
    CancelConditional,
    IndexUpdate,
    ModifyConditional,
    PlaceConditional,
    Tick,
)
from backstop.engine.events import (
    ConditionalCancelled,
    ConditionalModified,
    ConditionalPlaced,
    ConditionalTriggered,
    Fill,
    OrderAccepted,
)
from backstop.engine.restore import restore

PERP = "BTC-PERP"


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def setup() -> tuple[Desk, int, int]:
    """Alice long 1 BTC at 10,000; the book then holds only a deep bid at 9,000 and an ask at
    11,000 with the last trade at 10,000... so the mark follows the index (one-sided books do)."""
    d = Desk()
    d.index("BTC", 10_000)
    mm = d.account("mm", "", 10_000_000)
    alice = d.account("alice", "", 100_000)
    d.rest(mm, PERP, "sell", "1", 10_000)
    d.place(alice, PERP, "buy", "1", 10_000)
    d.rest(mm, PERP, "buy", "50", 9_000)
    d.second()
    return d, alice, mm


def conditional(d: Desk, account: int, side: str, size: str, **kw) -> PlaceConditional:
    for key in ("trigger_price", "order_price", "trail_value"):
        if kw.get(key) is not None:
            kw[key] = d.ticks(PERP, kw[key]) if key != "trail_value" else kw[key]
    return PlaceConditional(d.tick(), account, PERP, side, d.lots(PERP, size), **kw)


def test_a_stop_market_sell_fires_when_the_mark_falls_to_its_trigger() -> None:
    d, alice, _ = setup()
    (placed,) = d.ok(conditional(d, alice, "sell", "1", trigger_price=9_500, reduce_only=True))
    assert isinstance(placed, ConditionalPlaced) and placed.type == "stop" and placed.trigger_by == "mark"
    d.index("BTC", 9_501)
    assert not of(d.second(), ConditionalTriggered)
    d.index("BTC", 9_500)
    events = d.second()
    (fired,) = of(events, ConditionalTriggered)
    assert (fired.trigger_id, fired.price, fired.error) == (placed.order_id, 9_500, "")
    (sent,) = of(events, OrderAccepted)
    assert sent.order_id == fired.order_id and sent.type == "market" and sent.reduce_only
    assert sum(f.size for f in of(events, Fill)) == 10_000  # sold at the 9,000 bid
    assert d.position(alice, PERP).size == 0
    assert not d.ex.conditionals  # done
    d.reject(CancelConditional(d.tick(), alice, placed.order_id), errors.ORDER_ALREADY_CLOSED)


def test_a_stop_limit_buy_rests_its_limit_order_when_the_mark_rises_to_its_trigger() -> None:
    d, alice, _ = setup()
    (placed,) = d.ok(conditional(d, alice, "buy", "0.5", trigger_price=10_500, order_price=10_400))
    d.index("BTC", 10_500)
    events = d.second()
    (sent,) = of(events, OrderAccepted)
    assert (sent.type, sent.price, sent.size) == ("limit", 10_400, 5_000)
    assert sent.order_id in d.acct(alice).orders  # resting: it is the account's to manage now
    assert placed.order_id not in d.ex.conditionals


def test_take_profit_fires_on_the_favourable_side() -> None:
    d, alice, _ = setup()
    d.ok(conditional(d, alice, "sell", "1", type="take_profit", trigger_price=10_800, order_price=10_800))
    d.index("BTC", 10_700)
    assert not of(d.second(), ConditionalTriggered)
    d.index("BTC", 10_800)
    (sent,) = of(d.second(), OrderAccepted)
    assert (sent.side, sent.price) == ("sell", 10_800)


def test_a_trailing_stop_follows_the_high_and_fires_its_trail_below_it() -> None:
    d, alice, _ = setup()
    d.ok(conditional(d, alice, "sell", "1", type="trailing_stop", trail_value=-300))
    for price in (10_200, 10_600, 10_400, 10_301):  # the high is 10,600: the stop sits at 10,300
        d.index("BTC", price)
        assert not of(d.second(), ConditionalTriggered), price
    d.index("BTC", 10_300)
    (fired,) = of(d.second(), ConditionalTriggered)
    assert fired.price == 10_300


def test_triggers_on_the_wrong_side_are_refused() -> None:
    d, alice, _ = setup()
    d.reject(conditional(d, alice, "sell", "1", trigger_price=10_100), errors.TRIGGER_TOO_HIGH)
    d.reject(conditional(d, alice, "buy", "1", trigger_price=9_900), errors.TRIGGER_TOO_LOW)
    d.reject(
        conditional(d, alice, "sell", "1", type="take_profit", trigger_price=9_900), errors.TRIGGER_TOO_LOW
    )
    d.reject(
        conditional(d, alice, "buy", "1", type="take_profit", trigger_price=10_100), errors.TRIGGER_TOO_HIGH
    )
    d.reject(
        conditional(d, alice, "sell", "1", type="trailing_stop", trail_value=300),
        "Invalid parameter trailValue",
    )
    d.reject(conditional(d, alice, "sell", "1", type="stop"), "Invalid parameter triggerPrice")
    d.reject(
        conditional(d, alice, "sell", "1", trigger_price=9_000, trigger_by="bid"),
        "Invalid parameter triggerBy",
    )
    d.reject(
        PlaceConditional(d.tick(), alice, "BTC/USD", "sell", 1, "stop", 9_000, None, None, True),
        errors.SPOT_REDUCE_ONLY,
    )


def test_trigger_by_last_trade_or_index() -> None:
    d, alice, _ = setup()
    by_last = d.ok(conditional(d, alice, "sell", "0.1", trigger_price=9_800, trigger_by="last"))[0]
    by_index = d.ok(conditional(d, alice, "sell", "0.1", trigger_price=9_700, trigger_by="index"))[0]
    d.index("BTC", 9_750)  # the index (and the mark) pass 9,800; the last trade is still 10,000
    events = d.second()
    assert [e.trigger_id for e in of(events, ConditionalTriggered)] == []
    assert by_last.order_id in d.ex.conditionals
    d.index("BTC", 9_700)
    fired = [e.trigger_id for e in of(d.second(), ConditionalTriggered)]
    assert fired == [by_index.order_id]  # its sale printed 9,000: the last now passes 9,800
    fired = [e.trigger_id for e in of(d.second(), ConditionalTriggered)]
    assert fired == [by_last.order_id]


def test_retry_until_filled_sends_the_rest_of_a_market_order_again() -> None:
    d, alice, mm = setup()
    d.ok(CancelAll(d.tick(), mm))
    d.ok(conditional(d, alice, "sell", "1", trigger_price=9_500))
    d.index("BTC", 9_450)
    d.rest(mm, PERP, "buy", "0.3", 9_400)  # (within 5% of the index: BTC-PERP's premium band)
    events = d.second()
    assert sum(f.size for f in of(events, Fill)) == 3_000  # the book had 0.3 BTC
    assert d.ex.conditionals  # still working on the other 0.7
    d.rest(mm, PERP, "buy", "5", 9_390)
    events = d.second()
    assert sum(f.size for f in of(events, Fill)) == 7_000
    assert not d.ex.conditionals and d.position(alice, PERP).size == 0


def test_a_reduce_only_stop_whose_position_is_gone_ends_with_the_error() -> None:
    d, alice, _ = setup()
    d.ok(conditional(d, alice, "sell", "1", trigger_price=9_500, reduce_only=True))
    d.place(alice, PERP, "sell", "1")  # closed by hand at 9,000 first
    d.index("BTC", 9_400)
    (fired,) = of(d.second(), ConditionalTriggered)
    assert fired.error == errors.INVALID_REDUCE_ONLY and fired.order_id == -1
    assert not d.ex.conditionals


def test_modify_cancel_and_cancel_all_flags() -> None:
    d, alice, _ = setup()
    (a,) = d.ok(conditional(d, alice, "sell", "1", trigger_price=9_500))
    (b,) = d.ok(conditional(d, alice, "sell", "1", trigger_price=9_400))
    resting = d.rest(alice, PERP, "sell", "0.1", 10_400)
    (changed,) = d.ok(ModifyConditional(d.tick(), alice, a.order_id, trigger_price=9_600))
    assert isinstance(changed, ConditionalModified) and changed.trigger_price == 9_600
    d.reject(ModifyConditional(d.tick(), alice, a.order_id, trigger_price=10_100), errors.TRIGGER_TOO_HIGH)
    d.reject(ModifyConditional(d.tick(), alice, a.order_id), errors.MUST_MODIFY)
    d.ok(CancelAll(d.tick(), alice, None, None, False, True))  # limit orders only
    assert resting not in d.acct(alice).orders and len(d.ex.conditionals) == 2
    (cancelled,) = d.ok(CancelConditional(d.tick(), alice, a.order_id))
    assert isinstance(cancelled, ConditionalCancelled) and cancelled.reason == "cancelled"
    d.reject(CancelConditional(d.tick(), alice, 999), errors.ORDER_NOT_FOUND)
    d.ok(CancelAll(d.tick(), alice, None, None, True))  # conditional orders only
    assert not d.ex.conditionals
    del b


def test_a_restored_engine_keeps_and_fires_trigger_orders_identically() -> None:
    d, alice, _ = setup()
    d.ok(conditional(d, alice, "sell", "1", type="trailing_stop", trail_value=-500))
    d.index("BTC", 10_300)
    d.second()  # the trail has moved up to 10,300
    copy = pickle.loads(pickle.dumps(d.ex))
    assert copy.state_hash() == d.ex.state_hash()
    ts = d.ts
    fired = 0
    for price in (10_400, 10_000, 9_900):
        ts = (ts // 1_000_000 + 1) * 1_000_000
        index = IndexUpdate(ts - 1, "BTC", (price * 10**8,))
        assert d.ex.apply(index) == copy.apply(index)
        events = d.ex.apply(Tick(ts))
        assert events == copy.apply(Tick(ts))
        fired += len(of(events, ConditionalTriggered))
    assert fired == 1 and copy.state_hash() == d.ex.state_hash()


def test_liquidation_cancels_the_accounts_trigger_orders() -> None:
    d, _, _ = setup()
    bob = d.account("bob", "", 1_100)
    d.leverage(bob, 20)
    mm2 = d.account("mm2", "", 1_000_000)
    d.rest(mm2, PERP, "sell", "2", 9_950)
    d.place(bob, PERP, "buy", "2", 9_950)
    d.ok(PlaceConditional(d.tick(), bob, PERP, "sell", 20_000, "stop", 5_000, None, None, True))
    d.index("BTC", 9_500)
    events = d.second()
    assert any(e.reason == "liquidation" and e.account == bob for e in of(events, ConditionalCancelled))
    assert not d.ex.conditionals


def test_sizes_prices_and_trails_beyond_the_engines_limits_are_refused_and_change_nothing() -> None:
    """A trigger order holds at most FTX's largest order (99,999,999 BTC) and prices and trails of
    at most $10 billion a coin, on placing and on modifying: beyond them the history's 64-bit columns
    would overflow (10**15 BTC did, and bricked the data directory)."""
    d, alice, _ = setup()
    most_lots = d.lots(PERP, "99999999")
    most_ticks = d.ticks(PERP, "10000000000")
    d.reject(conditional(d, alice, "sell", "99999999.0001", trigger_price=9_500), errors.SIZE_TOO_LARGE)
    d.reject(conditional(d, alice, "sell", "1000000000000000", trigger_price=9_500), errors.SIZE_TOO_LARGE)
    d.reject(
        conditional(d, alice, "buy", "1", trigger_price=10_500, order_price=10_000_000_001),
        errors.INVALID_PRICE,
    )
    d.reject(
        conditional(d, alice, "buy", "1", trigger_price=10_000_000_001), "Invalid parameter triggerPrice"
    )
    d.reject(
        conditional(d, alice, "sell", "1", type="trailing_stop", trail_value=-most_ticks - 1),
        "Invalid parameter trailValue",
    )
    assert not d.ex.conditionals
    (stop,) = d.ok(
        conditional(d, alice, "buy", "99999999", trigger_price=10_000_000_000, order_price=10_000_000_000)
    )
    (trail,) = d.ok(conditional(d, alice, "sell", "1", type="trailing_stop", trail_value=-most_ticks))
    assert (stop.size, stop.trigger_price, stop.order_price) == (most_lots, most_ticks, most_ticks)
    for change, error in (
        ({"size": most_lots + 1}, errors.SIZE_TOO_LARGE),
        ({"trigger_price": most_ticks + 1}, "Invalid parameter triggerPrice"),
        ({"order_price": most_ticks + 1}, errors.INVALID_PRICE),
    ):
        d.reject(ModifyConditional(d.tick(), alice, stop.order_id, **change), error)
    d.reject(
        ModifyConditional(d.tick(), alice, trail.order_id, trail_value=-most_ticks - 1),
        "Invalid parameter trailValue",
    )


def _index_of(ex) -> dict[int, list[int]]:
    """The per-account index of open trigger orders as the engine should keep it: from scratch."""
    out: dict[int, list[int]] = {}
    for oid in sorted(ex.conditionals):
        out.setdefault(ex.conditionals[oid].account, []).append(oid)
    return out


STEP = st.tuples(st.integers(0, 7), st.integers(0, 2), st.booleans(), st.integers(0, 9))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(STEP, min_size=8, max_size=40))
def test_each_accounts_trigger_orders_are_indexed_in_id_order_through_everything(steps) -> None:
    """Places, cancels (one, or all an account's in a market or on a side), fires and restores:
    after each, `conditionals_of` lists each account's open trigger orders in id order (what a
    liquidation and a cancel-all cancel, in that order), and nothing else; a cancel-all cancels
    exactly the orders the old scan of every trigger order picked, in id order."""
    d, alice, mm = setup()
    bob = d.account("bob", "", 100_000)
    people = (alice, mm, bob)
    price = 10_000
    for kind, who, flag, n in steps:
        account = people[who]
        ex = d.ex
        if kind <= 3:  # a stop on either side of the mark
            side = "sell" if flag else "buy"
            trigger = price - 100 - 50 * n if side == "sell" else price + 100 + 50 * n
            d.apply(conditional(d, account, side, "0.1", trigger_price=trigger))
        elif kind == 4 and ex.conditionals:  # cancel one (perhaps another account's: refused)
            oid = sorted(ex.conditionals)[n % len(ex.conditionals)]
            d.apply(CancelConditional(d.tick(), account, oid))
        elif kind == 5:  # cancel all of an account's trigger orders, maybe by side or market
            side = ("sell" if flag else "buy") if n >= 7 else None
            market = PERP if n % 2 else None
            expected = [
                oid
                for oid in sorted(ex.conditionals)
                if ex.conditionals[oid].account == account
                and (market is None or ex.conditionals[oid].market == market)
                and (side is None or ex.conditionals[oid].side == side)
            ]
            events = d.apply(CancelAll(d.tick(), account, market, side, True))
            assert [e.trigger_id for e in of(events, ConditionalCancelled)] == expected
            event(f"a cancel-all of {min(len(expected), 2)}+ trigger orders")
        elif kind == 6:  # the index moves and a second passes: stops fire
            price = max(9_000, min(11_000, price + (n - 5) * 30))
            d.index("BTC", price)
            d.second()
        else:  # a restore from the canonical state (snapshot) or a pickle
            state = ex.canonical() if flag else None
            d.ex = restore(ex.catalog, state) if state is not None else pickle.loads(pickle.dumps(ex))
            assert d.ex.state_hash() == ex.state_hash()
        index = {account: list(ids) for account, ids in d.ex.conditionals_of.items()}
        assert index == _index_of(d.ex)
