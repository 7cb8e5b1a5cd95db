"""MassQuote: a maker's whole ladder in one command, exactly what CancelAll(market, limit_only)
and one post-only PlaceOrder per pair would do, with the margin of the ladder checked once.

The property test builds two identical exchanges and sends one the MassQuote, the other the
separate commands; they must end in the same state and say the same things (a refused pair's
Rejected comes at the end of the MassQuote's events instead of in its place)."""

from __future__ import annotations

from engine_kit import Desk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.engine import errors
from backstop.engine.commands import CancelAll, MassQuote, PlaceOrder
from backstop.engine.events import OrderAccepted, OrderClosed, Rejected

PERP = "BTC-PERP"


def market(capital: int, held: str, resting: list[tuple[str, int]]) -> tuple[Desk, int]:
    """A BTC-PERP at $10,000 with a resting bid and ask from someone else at $9,990 / $10,010; the
    maker has `capital` USD, a position of `held` BTC (from a trade at $10,000) and `resting`
    orders of its own (side, price) of 0.1 BTC to be replaced."""
    d = Desk()
    d.index("BTC", 10_000)
    maker = d.account("maker", "", capital)
    other = d.account("other", "", 10_000_000)
    if float(held):
        side = "buy" if float(held) > 0 else "sell"
        d.rest(other, PERP, "sell" if side == "buy" else "buy", held.lstrip("-"), 10_000)
        d.place(maker, PERP, side, held.lstrip("-"), 10_000)
    d.rest(other, PERP, "buy", "1", 9_990)
    d.rest(other, PERP, "sell", "1", 10_010)
    for side, price in resting:
        d.apply(d.order_cmd(maker, PERP, side, "0.1", price))
    d.second()
    return d, maker


def flat(pairs: list[tuple[int, int]], d: Desk) -> tuple[int, ...]:
    out: list[int] = []
    for price, tenths in pairs:
        out += (d.ticks(PERP, price), d.lots(PERP, "0.1") * tenths)
    return tuple(out)


prices = st.integers(9_900, 10_100)
ladder = st.lists(st.tuples(prices, st.integers(1, 30)), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capital=st.sampled_from([1_500, 6_000, 20_000, 2_000_000]),
    held=st.sampled_from(["0", "1", "-1"]),
    resting=st.lists(st.tuples(st.sampled_from(["buy", "sell"]), prices), max_size=3),
    bids=ladder,
    asks=ladder,
)
def test_a_mass_quote_is_the_cancel_and_the_orders_it_stands_for(capital, held, resting, bids, asks):
    one, maker = market(capital, held, resting)
    two, _ = market(capital, held, resting)
    ts = one.tick()
    two.tick()
    quote = MassQuote(ts, maker, PERP, flat(bids, one), flat(asks, one))
    got = one.apply(quote)

    expected = two.apply(CancelAll(ts, maker, PERP, None, False, True))
    refused = []
    for side, pairs in (("buy", quote.bids), ("sell", quote.asks)):
        for i in range(0, len(pairs), 2):
            order = PlaceOrder(ts, maker, PERP, side, pairs[i + 1], pairs[i], "limit", False, True)
            events = two.apply(order)
            (refused if events and isinstance(events[0], Rejected) else expected).extend(events)
    assert got == expected + refused
    if expected:
        assert one.ex.state_hash() == two.ex.state_hash()
    else:  # every pair refused, nothing to cancel: a rejected command, which leaves even the
        # clock alone, where the CancelAll on its own, a no-op, still moved it
        assert one.ex.canonical()[1:] == two.ex.canonical()[1:]
    assert one.ex.discrepancies() == {}


def test_the_old_ladder_goes_and_the_new_one_rests() -> None:
    d, maker = market(1_000_000, "0", [("buy", 9_980), ("sell", 10_020)])
    old = {o.id for o in d.acct(maker).orders.values()}
    events = d.ok(MassQuote(d.tick(), maker, PERP, flat([(9_985, 2), (9_975, 4)], d), flat([(10_015, 2)], d)))
    assert {e.order_id for e in events if isinstance(e, OrderClosed)} == old
    placed = [(e.side, e.price, e.size) for e in events if isinstance(e, OrderAccepted)]
    assert placed == [
        ("buy", d.ticks(PERP, 9_985), d.lots(PERP, "0.2")),
        ("buy", d.ticks(PERP, 9_975), d.lots(PERP, "0.4")),
        ("sell", d.ticks(PERP, 10_015), d.lots(PERP, "0.2")),
    ]
    assert all(e.post_only for e in events if isinstance(e, OrderAccepted))
    assert sorted((o.side, o.price) for o in d.acct(maker).orders.values()) == [
        ("buy", d.ticks(PERP, 9_975)),
        ("buy", d.ticks(PERP, 9_985)),
        ("sell", d.ticks(PERP, 10_015)),
    ]


def test_a_quote_through_the_touch_expires_post_only_and_the_rest_stands() -> None:
    d, maker = market(1_000_000, "0", [])
    events = d.ok(MassQuote(d.tick(), maker, PERP, flat([(10_010, 1), (9_985, 1)], d), ()))
    closed = [e for e in events if isinstance(e, OrderClosed)]
    assert [e.reason for e in closed] == ["post_only"]  # $10,010 would have taken the ask
    assert [o.price for o in d.acct(maker).orders.values()] == [d.ticks(PERP, 9_985)]


def test_a_ladder_beyond_the_margin_keeps_the_orders_that_fit() -> None:
    """$200 at the default 10x carries $2,000 of open orders: 0.1 BTC ($999) fits, a second 0.1
    ($1,998 in all) fits, a third does not; the refusal comes last."""
    d, maker = market(200, "0", [])
    events = d.apply(MassQuote(d.tick(), maker, PERP, flat([(9_990, 1), (9_985, 1), (9_980, 1)], d), ()))
    assert [type(e) for e in events] == [OrderAccepted, OrderAccepted, Rejected]
    assert events[-1].error == errors.NOT_ENOUGH_MARGIN


def test_bad_input_changes_nothing() -> None:
    d, maker = market(1_000_000, "0", [("buy", 9_980)])
    before = d.ex.state_hash()
    for command, error in [
        (MassQuote(d.tick(), maker, "NOPE-PERP", (), ()), errors.no_such_market("NOPE-PERP")),
        (MassQuote(d.tick(), 99, PERP, (), ()), errors.NO_SUCH_SUBACCOUNT),
        (MassQuote(d.tick(), maker, PERP, (9_990,), ()), errors.INVALID_SIZE),  # a price, no size
    ]:
        assert d.apply(command) == [Rejected(error)]
    assert d.ex.state_hash() == before
