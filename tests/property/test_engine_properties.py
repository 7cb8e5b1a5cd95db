"""Properties of the engine over random command sequences (hypothesis).

The strategy builds plausible traffic over five accounts (one owner has two of them) on a
perpetual, a second perpetual and a spot market, with prices clustered around the touch so orders
cross often, plus deliberately bad (but well-typed) inputs: unknown accounts and markets, bad
sides, zero or negative sizes, missing prices, unknown order ids, duplicate client ids, transfers
to other owners, leverage out of range, timestamps that run backwards.
"""

from __future__ import annotations

import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.engine.commands import (
    CancelAll,
    CancelOrder,
    CreateAccount,
    Deposit,
    ModifyOrder,
    PlaceOrder,
    SetLeverage,
    Tick,
    Transfer,
    Withdraw,
    invalid_field,
)
from backstop.engine.events import Rejected
from backstop.engine.exchange import Exchange

DAY_US = 86_400 * 1_000_000
ATOM = 10**8
MARKETS = ("BTC-PERP", "ETH-PERP", "BTC/USD")
# (owner, subaccount): accounts 0 and 1 belong to alice, so transfers between them are allowed and
# they never trade with each other (self-trade prevention)
ACCOUNTS = (("alice", ""), ("alice", "sub"), ("bob", ""), ("carol", ""), ("dave", ""))
CLIENT_IDS = ("c1", "c2", "c3")

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Each command is built good, then about one in ten gets one field replaced by a bad value.
# The engine trusts command types (the edges check them with `commands.invalid_field`), so the bad
# values are well-typed: out of range, unknown, or wrong for the state the engine is in.
BAD_VALUES: dict[str, tuple] = {
    "account": (-1, 5, 99),
    "source": (-1, 99),
    "destination": (-1, 99),
    "market": ("NOPE-PERP", "BTC-0325"),
    "side": ("hold", "BUY"),
    "size": (0, -10, 10**13),
    "price": (0, -3, None),
    "type": ("stop",),
    "order_id": (10**6, -1),
    "coin": ("DOGE", "usd"),
    "amount": (0, -ATOM, 10**18 + 1),  # beyond MAX_ATOMS (beyond 64 bits is the edge's to refuse)
    "leverage": (0, 21, -1),
}
KINDS = ("place",) * 16 + (
    "cancel",
    "cancel",
    "cancel_all",
    "modify",
    "modify",
    "modify",
    "modify",
    "deposit",
    "withdraw",
    "transfer",
    "leverage",
    "tick",
)
WALLET_COINS = ("USD", "USD", "USDC", "BTC", "ETH")
TS_STEPS = (0, 1, 1_000_000) * 5 + (DAY_US, 31 * DAY_US, -5_000_000)

account = st.integers(0, len(ACCOUNTS) - 1)
# prices in ticks: BTC-PERP and BTC/USD $1 ticks, ETH-PERP $0.1 ticks, so 10,000 ticks is the centre
price = st.one_of(st.integers(9_990, 10_010), st.integers(9_900, 10_100))
size = st.one_of(st.integers(10, 400), st.integers(1, 20), st.sampled_from([100, 5_000, 30_000]))
order_id = st.integers(1, 15)
client_id = st.sampled_from((None, None, *CLIENT_IDS))


def wallet_amount(draw, coin: str) -> int:
    if coin in ("BTC", "ETH"):
        return draw(st.integers(1, 5 * ATOM))
    return draw(st.integers(1, 50_000)) * ATOM


@st.composite
def command(draw) -> tuple:
    kind = KINDS[draw(st.integers(0, len(KINDS) - 1))]
    if kind == "place":
        market_order = draw(st.integers(0, 5)) == 0
        flags = draw(st.integers(0, 479))
        cmd = PlaceOrder(
            0,
            draw(account),
            draw(st.sampled_from(MARKETS)),
            draw(st.sampled_from(("buy", "sell"))),
            draw(size),
            None if market_order else draw(price),
            "market" if market_order else "limit",
            flags % 6 == 0,
            (flags // 6) % 8 == 0,
            (flags // 48) % 10 == 0,
            draw(client_id),
        )
    elif kind == "cancel":
        if draw(st.booleans()):
            cmd = CancelOrder(0, draw(account), None, draw(st.sampled_from((*CLIENT_IDS, "nope"))))
        else:
            cmd = CancelOrder(0, draw(account), draw(order_id))
    elif kind == "cancel_all":
        which = draw(st.integers(0, 3))
        market = draw(st.sampled_from(MARKETS)) if which & 1 else None
        side = draw(st.sampled_from(("buy", "sell"))) if which & 2 else None
        cmd = CancelAll(0, draw(account), market, side)
    elif kind == "modify":
        by_client = draw(st.booleans())
        what = draw(st.integers(0, 2))
        cmd = ModifyOrder(
            0,
            draw(account),
            None if by_client else draw(order_id),
            draw(st.sampled_from(CLIENT_IDS)) if by_client else None,
            draw(price) if what != 1 else None,
            draw(size) if what != 0 else None,
            draw(client_id),
        )
    elif kind in ("deposit", "withdraw"):
        coin = draw(st.sampled_from(WALLET_COINS))
        cls = Deposit if kind == "deposit" else Withdraw
        cmd = cls(0, draw(account), coin, wallet_amount(draw, coin))
    elif kind == "transfer":
        coin = draw(st.sampled_from(WALLET_COINS))
        cmd = Transfer(0, draw(account), draw(account), coin, wallet_amount(draw, coin))
    elif kind == "leverage":
        cmd = SetLeverage(0, draw(account), draw(st.integers(1, 20)))
    else:
        return Tick(0)
    if draw(st.integers(0, 9)) == 5:  # a middle value: hypothesis favours the ends of a range
        fields = [f for f in cmd._fields if f in BAD_VALUES]
        field = draw(st.sampled_from(fields))
        cmd = cmd._replace(**{field: draw(st.sampled_from(BAD_VALUES[field]))})
    return cmd


@st.composite
def sessions(draw, min_size: int = 20, max_size: int = 70) -> list[tuple]:
    """A prologue that opens the accounts and funds some of them, then random traffic, all with
    timestamps stamped on in order (sometimes stepping back, which the engine reads as now)."""
    out: list[tuple] = [CreateAccount(0, owner, sub) for owner, sub in ACCOUNTS]
    for acct in range(len(ACCOUNTS)):
        dollars = draw(st.sampled_from([0, 2_000, 100_000, 100_000]))
        if dollars:
            out.append(Deposit(0, acct, "USD", dollars * ATOM))
        btc = draw(st.sampled_from([0, ATOM, 3 * ATOM, 3 * ATOM]))
        if btc:
            out.append(Deposit(0, acct, "BTC", btc))
    out += draw(st.lists(command(), min_size=min_size, max_size=max_size))
    ts = 1_000_000
    stamped = []
    for cmd in out:
        ts += draw(st.sampled_from(TS_STEPS))
        stamped.append(cmd._replace(ts=ts))
    return stamped


# ---------------------------------------------------------------------------------- invariants


def check_orders(ex: Exchange) -> None:
    """Open orders and what they hold agree with the books and the positions."""
    in_books = {}
    for name, book in ex.books.items():
        for side_name, side in (("buy", book.bids), ("sell", book.asks)):
            for order in side.orders():
                assert order.market == name and order.side == side_name
                in_books[order.id] = order
    in_accounts = {}
    catalog = ex.catalog.markets
    for acct in ex.accounts:
        held: dict[str, int] = {}
        open_lots: dict[tuple[str, str], int] = {}
        reduce_only: dict[str, int] = {}
        reducing: dict[tuple[str, str], int] = {}
        for oid, order in acct.orders.items():
            assert oid == order.id and order.account == acct.id
            assert order.remaining > 0, order.canonical()
            assert order.status == "open"
            assert order.filled + order.remaining <= order.size or order.reduce_only
            in_accounts[oid] = order
            market = catalog[order.market]
            if market.is_spot:
                if order.side == "buy":
                    held["USD"] = held.get("USD", 0) + order.remaining * order.price * market.tick_value
                else:
                    held[market.base] = held.get(market.base, 0) + order.remaining * market.lot_atoms
            else:
                key = (order.market, order.side)
                open_lots[key] = open_lots.get(key, 0) + order.remaining
                if order.reduce_only:
                    reduce_only[order.market] = reduce_only.get(order.market, 0) + 1
                    reducing[key] = reducing.get(key, 0) + order.remaining
        for name, pos in acct.positions.items():
            assert pos.open_buy == open_lots.get((name, "buy"), 0), (acct.id, name)
            assert pos.open_sell == open_lots.get((name, "sell"), 0), (acct.id, name)
            assert pos.reduce_only_orders == reduce_only.get(name, 0), (acct.id, name)
            # resting reduce-only orders never add up to more than the position they reduce
            assert reducing.get((name, "sell"), 0) <= max(pos.size, 0), (acct.id, name)
            assert reducing.get((name, "buy"), 0) <= max(-pos.size, 0), (acct.id, name)
        for name, _side in open_lots:
            assert name in acct.positions
        assert {k: v for k, v in acct.reserved.items() if v} == held, acct.id
        for cid, order in acct.client_ids.items():
            assert order.client_id == cid and acct.orders.get(order.id) is order
        assert len(acct.client_ids) == sum(1 for o in acct.orders.values() if o.client_id is not None)
    assert in_books.keys() == in_accounts.keys()
    assert all(in_books[k] is in_accounts[k] for k in in_books)


def run(commands: list[tuple], each=None) -> Exchange:
    ex = Exchange()
    for cmd in commands:
        assert invalid_field(cmd) is None, cmd
        events = ex.apply(cmd)
        if each is not None:
            each(ex, cmd, events)
    return ex


# ---------------------------------------------------------------------------------- properties


@SETTINGS
@given(sessions())
def test_money_is_conserved_after_every_command(commands):
    def each(ex, cmd, events):
        assert ex.discrepancies() == {}, (cmd, events)

    run(commands, each)


def median_mark(book) -> int | None:
    """FTX's market price worked out from the book: median(best bid, best ask, last); with two of
    them, their midpoint rounded down; with one, that one."""
    bids = [o.price for o in book.bids.orders()]
    asks = [o.price for o in book.asks.orders()]
    known = [p for p in (max(bids, default=None), min(asks, default=None), book.last) if p is not None]
    if len(known) == 3:
        return sorted(known)[1]
    if len(known) == 2:
        return sum(known) // 2
    return known[0] if known else None


@SETTINGS
@given(sessions())
def test_books_never_cross_and_the_mark_is_the_median(commands):
    def each(ex, cmd, events):
        for name, book in ex.books.items():
            assert not book.crossed(), (name, cmd, events)
            assert ex.mark(name) == median_mark(book), (name, cmd, events)

    run(commands, each)


@SETTINGS
@given(sessions(), st.data())
def test_replay_and_pickle_give_the_same_state(commands, data):
    first_events: list = []
    second_events: list = []
    first = run(commands, lambda ex, cmd, events: first_events.append(events))
    second = run(commands, lambda ex, cmd, events: second_events.append(events))
    assert first_events == second_events
    assert first.state_hash() == second.state_hash()
    assert first.canonical() == second.canonical()

    cut = data.draw(st.integers(0, len(commands)), label="pickle after")
    ex = run(commands[:cut])
    ex = pickle.loads(pickle.dumps(ex))
    for cmd in commands[cut:]:
        ex.apply(cmd)
    assert ex.state_hash() == first.state_hash()


@SETTINGS
@given(sessions())
def test_a_rejected_command_changes_nothing(commands):
    ex = Exchange()
    for cmd in commands:
        before = ex.state_hash()
        now = ex.now
        events = ex.apply(cmd)
        if events and isinstance(events[0], Rejected):
            assert len(events) == 1, events
            assert isinstance(events[0].error, str) and events[0].error
            assert ex.state_hash() == before, (cmd, events)
            assert ex.now == now
        else:
            assert not any(isinstance(e, Rejected) for e in events), events


@SETTINGS
@given(sessions())
def test_open_orders_match_books_and_positions(commands):
    def each(ex, cmd, events):
        check_orders(ex)

    run(commands, each)


@SETTINGS
@given(sessions())
def test_spot_only_accounts_never_go_negative(commands):
    """Without positions, an account never owes coins: spot orders spend only what is there."""

    def each(ex, cmd, events):
        for acct in ex.accounts:
            if any(p.size or p.cost for p in acct.positions.values()):
                continue
            negative = {c: v for c, v in acct.wallet().items() if v < 0}
            assert not negative, (acct.id, negative, cmd, events)

    # spot traffic only, so positions never explain a negative balance
    run([c for c in commands if not (isinstance(c, PlaceOrder) and c.market.endswith("PERP"))], each)
