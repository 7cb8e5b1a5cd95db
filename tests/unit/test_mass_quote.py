"""MassQuote: a maker's whole ladder in one command, exactly what CancelAll(market, limit_only)
and one post-only PlaceOrder per pair would do, with the margin of the ladder checked once.

The property test builds two identical exchanges and sends one the MassQuote, the other the
separate commands; they must end in the same state and say the same things (a refused pair's
Rejected comes at the end of the MassQuote's events instead of in its place)."""

from __future__ import annotations

from engine_kit import Desk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backstop.engine import errors
from backstop.engine.commands import CancelAll, HaltMarket, MassQuote, PlaceOrder
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


# ----------------------------------------------------------------------------- the fast path
# `_mass_quote` places a futures ladder without a PlaceOrder per level (`_quote_side`) and cancels
# the old ladder with one touch search per side (`Side.remove_all`, `Account.forget_all`). The
# property below drives both through every rule `_check` applies to such an order: sizes of zero,
# below and above minProvideSize (with the account near its hourly allowance of small ones), prices
# of zero, through the touch and outside the price band, a halted market, a spot market (the
# generic path), resting orders of its own with client ids and reduce-only ones, and a second quote
# that replaces the first. The two exchanges must agree on the events, the state, and the books'
# derived structures (touch, heap, levels).


def _sides(d: Desk, market: str) -> list:
    out = []
    book = d.ex.books[market]
    for side in (book.bids, book.asks):
        out.append(
            (
                side.top,
                sorted(side.heap),
                sorted(side.in_heap),
                {p: list(lv) for p, lv in side.levels.items()},
            )
        )
    return out


def _separately(d: Desk, ts: int, maker: int, market: str, quote: MassQuote) -> list:
    expected = d.apply(CancelAll(ts, maker, market, None, False, True))
    refused = []
    for side, pairs in (("buy", quote.bids), ("sell", quote.asks)):
        for i in range(0, len(pairs), 2):
            order = PlaceOrder(ts, maker, market, side, pairs[i + 1], pairs[i], "limit", False, True)
            events = d.apply(order)
            (refused if events and isinstance(events[0], Rejected) else expected).extend(events)
    return expected, refused


def _market_with_history(
    market: str, capital: int, held: str, small: int, own: list, halted: bool
) -> tuple[Desk, int]:
    d = Desk()
    d.index("BTC", 10_000)
    maker = d.account("maker", "", capital, **({"BTC": 1} if market != PERP else {}))
    other = d.account("other", "", 10_000_000, BTC=100)
    if float(held) and market == PERP and capital >= 1_500:  # 1 BTC at $10,000 needs $1,000
        side = "buy" if float(held) > 0 else "sell"
        d.rest(other, PERP, "sell" if side == "buy" else "buy", held.lstrip("-"), 10_000)
        d.place(maker, PERP, side, held.lstrip("-"), 10_000)
    d.rest(other, market, "buy", "1", 9_990)
    d.rest(other, market, "sell", "1", 10_010)
    for i in range(small):  # resting orders below minProvideSize, counted for an hour
        d.apply(d.order_cmd(maker, market, "buy", "0.0001", 9_000 + i))
    for n, (side, price, client, reduce) in enumerate(own):
        cmd = d.order_cmd(maker, market, side, "0.1", price, client_id=f"c{n}" if client else None)
        if reduce and market == PERP:
            cmd = cmd._replace(reduce_only=True)
        d.apply(cmd)
    d.second(2)  # the risk anchor and bands exist
    if halted:
        d.ok(HaltMarket(d.tick(), market, True))
    return d, maker


quote_prices = st.one_of(st.integers(9_900, 10_100), st.sampled_from([0, 8_000, 9_000, 11_000, 12_000]))
quote_lots = st.one_of(st.integers(1, 3_000), st.sampled_from([-3, 0, 1, 9, 10, 11]))
quote_ladder = st.lists(st.tuples(quote_prices, quote_lots), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market_name=st.sampled_from([PERP, PERP, PERP, "BTC/USD"]),
    capital=st.sampled_from([300, 1_500, 6_000, 20_000, 2_000_000]),
    held=st.sampled_from(["0", "1", "-1"]),
    small=st.sampled_from([0, 0, 9, 10]),
    own=st.lists(
        st.tuples(st.sampled_from(["buy", "sell"]), st.integers(9_900, 10_100), st.booleans(), st.booleans()),
        max_size=4,
    ),
    halted=st.sampled_from([False, False, False, False, True]),
    first=st.tuples(quote_ladder, quote_ladder),
    second=st.none() | st.tuples(quote_ladder, quote_ladder),
)
@example(  # beyond the margin: the first orders stand, the rest are refused (each checked alone)
    market_name=PERP,
    capital=300,
    held="0",
    small=0,
    own=[("buy", 9_950, True, False)],
    halted=False,
    first=([(9_995, 2_000), (9_990, 2_000), (9_985, 20)], [(10_020, 2_000), (10_030, 2_000)]),
    second=([(9_996, 1_000), (9_991, 3_000)], [(10_021, 3_000)]),
)
@example(  # held short, a reduce-only bid resting, replaced by a ladder through the touch
    market_name=PERP,
    capital=6_000,
    held="-1",
    small=10,
    own=[("buy", 9_980, False, True), ("sell", 10_050, True, False)],
    halted=False,
    first=([(10_010, 100), (9_989, 5), (9_988, 50)], [(9_990, 100), (10_011, 9)]),
    second=None,
)
@example(  # open orders per side beyond 5 x 1% of BTC's ADV floor ($500m): refused before margin
    market_name=PERP,
    capital=2_000_000,
    held="0",
    small=0,
    own=[],
    halted=False,
    first=([(9_995, 3_000_000), (9_990, 600_000_000)], [(10_020, 1_000_000), (10_030, 300_000_000)]),
    second=None,
)
def test_the_fast_path_is_the_cancel_and_the_orders(
    market_name, capital, held, small, own, halted, first, second
):
    one, maker = _market_with_history(market_name, capital, held, small, own, halted)
    two, _ = _market_with_history(market_name, capital, held, small, own, halted)
    for ladders in (first, second):
        if ladders is None:
            continue
        ts = one.tick()
        two.tick()
        bids = tuple(x for price, lots in ladders[0] for x in (one.ticks(market_name, price), lots))
        asks = tuple(x for price, lots in ladders[1] for x in (one.ticks(market_name, price), lots))
        quote = MassQuote(ts, maker, market_name, bids, asks)
        got = one.apply(quote)
        expected, refused = _separately(two, ts, maker, market_name, quote)
        assert got == expected + refused
        if expected:
            assert one.ex.state_hash() == two.ex.state_hash()
        else:  # nothing but refusals: the MassQuote is a rejected command (see the test above)
            assert one.ex.canonical()[1:] == two.ex.canonical()[1:]
            one.ex.now = two.ex.now
        assert _sides(one, market_name) == _sides(two, market_name)
        acct_one, acct_two = one.acct(maker), two.acct(maker)
        assert acct_one.closed_ids() == acct_two.closed_ids()
        assert dict(acct_one.client_ids) == dict(acct_two.client_ids)
    assert one.ex.discrepancies() == {}


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.integers(0, 2_500), min_size=1, max_size=6),
    clients=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_forget_all_is_forget_of_each(batches, clients) -> None:
    """`Account.forget_all` leaves the open-order indexes and the remembered closed ids (trimmed by
    RECENT_CLOSED) exactly as `forget` of each in turn does, for batches across the trim length."""
    from backstop.engine.accounts import NO_CLIENT_IDS, NO_ORDERS, Account
    from backstop.engine.fees import Volume
    from backstop.engine.orders import Order

    d = Desk()
    book = d.ex.books[PERP]
    one = Account(0, "a", "", Volume())
    two = Account(0, "a", "", Volume())
    next_id = 1
    for batch in batches:
        pairs = []
        for acct in (one, two):
            orders = []
            for i in range(batch):
                client = f"c{next_id + i}" if clients[i % len(clients)] else None
                order = Order(next_id + i, 0, book, "buy", 1, 1, "limit", False, True, False, client, 0)
                acct.add_order(order)
                orders.append(order)
            pairs.append(orders)
        next_id += batch
        for order in pairs[0]:
            one.forget(order)
        two.forget_all(pairs[1])
        assert two.closed_ids() == one.closed_ids()
        assert two.last_closed == one.last_closed
        assert list(two.recent_closed) == list(one.recent_closed)
        assert two.orders is NO_ORDERS and one.orders is NO_ORDERS
        assert two.client_ids is NO_CLIENT_IDS and one.client_ids is NO_CLIENT_IDS
