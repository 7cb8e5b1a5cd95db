"""FTX's websocket orderbook channel: checksum, number formatting, frames, and ccxt.pro keeping up."""

from __future__ import annotations

from decimal import Decimal

import ccxt.pro
import pytest
from engine_kit import Desk
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.catalog import load
from backstop.server.ws_book import (
    DEPTH,
    BookFeed,
    ccxt_formats_alike,
    checksum,
    format_number,
    levels,
    partial,
    update,
)

D = Decimal
MARKET = "BTC-PERP"


def side(*pairs: tuple[object, object]) -> list[tuple[Decimal, Decimal]]:
    return [(D(str(p)), D(str(s))) for p, s in pairs]


# ------------------------------------------------------------------ a stand-in for ccxt.pro's socket


class StubClient:
    """What ccxt.pro's handlers call on the connection: resolve (a watcher gets data) and reject."""

    def __init__(self) -> None:
        self.resolved: list[str] = []
        self.rejected: list[tuple[Exception, object]] = []

    def resolve(self, result: object, message_hash: str | None = None) -> None:
        self.resolved.append(message_hash or "")

    def reject(self, error: Exception, message_hash: object = None) -> None:
        self.rejected.append((error, message_hash))


class CcxtBook:
    """ccxt.pro 2.0.90's real `ftx` class fed our frames through `handle_message`."""

    def __init__(self) -> None:
        self.exchange = ccxt.pro.ftx()
        self.client = StubClient()

    def feed(self, frame: dict | None) -> None:
        if frame is None:
            return
        self.exchange.handle_message(self.client, frame)
        assert self.client.rejected == [], self.client.rejected
        assert self.client.resolved[-1] == f"orderbook:{frame['market']}"

    def watch_returns(self) -> None:
        """What `watch_order_book(symbol)` does to the stored book when it returns: trims to depth."""
        self.exchange.orderbooks[MARKET].limit()

    def sides(self) -> tuple[list[list[float]], list[list[float]]]:
        book = self.exchange.orderbooks[MARKET]
        return [list(level) for level in book["bids"]], [list(level) for level in book["asks"]]


def as_floats(levels_: list[tuple[Decimal, Decimal]]) -> list[list[float]]:
    return [[float(p), float(s)] for p, s in levels_[:DEPTH]]


# ------------------------------------------------------------------ checksum and formatting


def test_checksum_documented_vectors():
    bids = side((4, 5), (3, 10), (2, 15))
    asks = side((5, 20), (6, 30), (7, 40))
    assert checksum(bids, asks) == 3640375499  # 4.0:5.0:5.0:20.0:3.0:10.0:6.0:30.0:2.0:15.0:7.0:40.0
    assert checksum(side(("5000.5", 10), ("4995.0", 5)), side(("5001.0", 6))) == 941346228


def test_checksum_of_empty_book_is_zero_and_one_sided_books_skip_the_missing_side():
    import zlib

    assert checksum([], []) == 0
    assert checksum(side((1, 2)), []) == zlib.crc32(b"1.0:2.0")
    assert checksum([], side(("0.5", "0.00001"), (1, 3))) == zlib.crc32(b"0.5:1e-05:1.0:3.0")


def test_checksum_covers_only_the_first_100_levels():
    bids = side(*[(1000 - i, 1) for i in range(150)])
    asks = side(*[(2000 + i, 1) for i in range(120)])
    assert checksum(bids, asks) == checksum(bids[:100], asks[:100])
    assert checksum(bids, asks) != checksum(bids[:99], asks[:100])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("5", "5.0"),
        ("39132.00", "39132.0"),
        ("10", "10.0"),
        ("0.0962", "0.0962"),
        ("1.10", "1.1"),
        ("0.0001", "0.0001"),  # 1e-4 itself is still positional
        ("0.00001", "1e-05"),
        ("1E-5", "1e-05"),
        ("0.000025", "2.5e-05"),
        ("2.5E-7", "2.5e-07"),
        ("1E-8", "1e-08"),
        ("0.00012345", "0.00012345"),
        ("123456.789", "123456.789"),
        ("1E16", "1e+16"),
        ("9999999999999998", "9999999999999998.0"),
    ],
)
def test_format_number_is_python_float_str(value, text):
    assert format_number(D(value)) == text
    assert format_number(D(value)) == str(float(value))


def test_format_number_of_engine_values():
    sol = load().markets["SOL-PERP"]  # priceIncrement 0.0025
    assert sol.price_of(400) == D("1.0000")
    assert format_number(sol.price_of(400)) == "1.0"
    assert format_number(sol.price_of(41)) == "0.1025"
    usdt = load().markets["USDT-PERP"]  # priceIncrement 0.000001
    assert format_number(usdt.price_of(1)) == "1e-06"
    assert format_number(usdt.price_of(1_000_123)) == "1.000123"


@pytest.mark.parametrize(
    "value",
    ["5", "0.0962", "0.0001", "0.00001", "2.5E-7", "0.00001234", "0.000012345678", "1E16", "123456789.5"],
)
def test_ccxt_formats_alike_predicts_ccxt(value):
    ccxt_text = ccxt.pro.ftx().format_number(float(value))
    assert ccxt_formats_alike(D(value)) == (ccxt_text == format_number(D(value)))


def test_ccxt_formats_catalog_increments_alike():
    for market in load().markets.values():
        for tick in (1, 3, 7, 9999):
            assert ccxt_formats_alike(market.price_of(tick)), market.name
            assert ccxt_formats_alike(market.size_of(tick)), market.name


# ------------------------------------------------------------------ frames


def test_partial_frame_is_ftxs_shape():
    frame = partial(MARKET, side((100, "1.5"), (99, 2)), side(("101.5", "0.00001")), 1642754385.4862628)
    assert frame == {
        "channel": "orderbook",
        "market": MARKET,
        "type": "partial",
        "data": {
            "time": 1642754385.4862628,
            "checksum": checksum(side((100, "1.5"), (99, 2)), side(("101.5", "0.00001"))),
            "bids": [[100.0, 1.5], [99.0, 2.0]],
            "asks": [[101.5, 1e-05]],
            "action": "partial",
        },
    }
    assert all(isinstance(x, float) for level in frame["data"]["bids"] for x in level)


def test_partial_holds_top_100_per_side():
    bids = side(*[(1000 - i, 1) for i in range(130)])
    frame = partial(MARKET, bids, [], 1.0)
    assert len(frame["data"]["bids"]) == 100
    assert frame["data"]["bids"][-1] == [901.0, 1.0]


def test_update_carries_only_changes_with_zero_for_removed():
    old_bids = side((100, 1), (99, 2), (98, 3))
    old_asks = side((101, 1), (102, 2))
    new_bids = side((100, 1), (99, 5))
    new_asks = side((101, 1), (102, 2), (103, 4))
    frame = update(MARKET, old_bids, old_asks, new_bids, new_asks, 2.5)
    assert frame is not None
    assert frame["type"] == "update" and frame["data"]["action"] == "update"
    assert frame["data"]["bids"] == [[99.0, 5.0], [98.0, 0.0]]
    assert frame["data"]["asks"] == [[103.0, 4.0]]
    assert frame["data"]["checksum"] == checksum(new_bids, new_asks)
    assert frame["data"]["time"] == 2.5


def test_no_change_in_the_window_sends_nothing():
    bids = side(*[(1000 - i, 1) for i in range(100)])
    assert update(MARKET, bids, [], list(bids), [], 1.0) is None
    # a change beyond level 100 is invisible to subscribers
    assert update(MARKET, [*bids, (D(800), D(1))], [], [*bids, (D(800), D(7))], [], 1.0) is None
    # the same values written differently are the same level
    assert update(MARKET, side((5, "1.0")), [], side(("5.00", 1)), [], 1.0) is None


def test_level_pushed_out_of_the_window_is_sent_with_size_zero_and_comes_back():
    bids = side(*[(1000 - i, 1) for i in range(101)])  # 101 levels: 900 is outside the window
    feed = BookFeed(MARKET)
    client = CcxtBook()
    client.feed(feed.frame(bids, [], 1.0))

    better = [(D(1001), D(2)), *bids]
    frame = feed.frame(better, [], 2.0)
    assert frame is not None
    assert frame["data"]["bids"] == [[1001.0, 2.0], [901.0, 0.0]]  # 901 fell to level 101
    client.feed(frame)

    frame = feed.frame(bids, [], 3.0)  # the better bid left again: 901 is back in the window
    assert frame is not None
    assert frame["data"]["bids"] == [[1001.0, 0.0], [901.0, 1.0]]
    client.feed(frame)
    assert client.sides()[0] == as_floats(bids)


def test_feed_first_frame_is_partial_then_updates_and_reset_starts_over():
    feed = BookFeed(MARKET)
    assert feed.frame([], [], 1.0) == partial(MARKET, [], [], 1.0)
    assert feed.frame([], [], 2.0) is None
    frame = feed.frame(side((1, 1)), [], 3.0)
    assert frame is not None and frame["type"] == "update"
    assert feed.bids == side((1, 1))
    feed.reset()
    assert feed.frame(side((1, 1)), [], 4.0) == partial(MARKET, side((1, 1)), [], 4.0)


def test_levels_must_be_ordered_from_the_touch_with_positive_sizes():
    with pytest.raises(ValueError):
        partial(MARKET, side((99, 1), (100, 1)), [], 1.0)
    with pytest.raises(ValueError):
        partial(MARKET, [], side((101, 1), (100, 1)), 1.0)
    with pytest.raises(ValueError):
        partial(MARKET, side((100, 1), (100, 2)), [], 1.0)
    with pytest.raises(ValueError):
        BookFeed(MARKET).frame(side((100, 0)), [], 1.0)


def test_engine_depth_through_levels_to_ccxt():
    d = Desk()
    maker = d.account("maker", "", 1_000_000, BTC=100)
    for i in range(3):
        d.rest(maker, MARKET, "buy", "0.01", 9_990 - i)
        d.rest(maker, MARKET, "sell", "0.0123", 10_010 + i)
    d.rest(maker, MARKET, "buy", "0.02", 9_990)
    market = d.markets[MARKET]
    book = d.book(MARKET)
    bids = levels(market, book.bids.depth(DEPTH))
    asks = levels(market, book.asks.depth(DEPTH))
    assert bids[0] == (D(9990), D("0.03"))
    assert asks[0] == (D(10010), D("0.0123"))
    client = CcxtBook()
    client.feed(BookFeed(MARKET).frame(bids, asks, 1.0))
    assert client.sides() == ([[9990.0, 0.03], [9989.0, 0.01], [9988.0, 0.01]], as_floats(asks))


# ------------------------------------------------------------------ ccxt.pro keeps verifying

PRICE_STEPS = [D("1"), D("0.5"), D("0.0025"), D("0.000001"), D("1E-8")]
SIZE_STEPS = [D("0.0001"), D("0.001"), D("1"), D("1E-8"), D("0.01")]

# Prices are ticks in a narrow range so that books hover around 100 levels: inserts and deletes near
# the touch push levels across the window's edge both ways.
BID_TICKS = st.integers(1_000, 1_140)
ASK_TICKS = st.integers(2_000, 2_140)
LOTS = st.integers(1, 5_000)
change = st.tuples(st.one_of(BID_TICKS, ASK_TICKS), st.one_of(st.just(0), LOTS))  # lots 0: delete
batches = st.lists(st.lists(change, min_size=1, max_size=12), min_size=1, max_size=25)


@st.composite
def start(draw) -> dict[int, int]:
    """A book of about 60 to 141 levels a side (sometimes empty): each tick present with a drawn
    probability, with a random size."""
    rng = draw(st.randoms(use_true_random=False))
    fill = draw(st.sampled_from([0.0, 0.45, 0.7, 0.85, 1.0]))
    ticks = [*range(1_000, 1_141), *range(2_000, 2_141)]
    return {t: rng.randint(1, 5_000) for t in ticks if rng.random() < fill}


def build(book: dict[int, int], price_step: Decimal, size_step: Decimal):
    bid_ticks = sorted((t for t in book if t < 2_000), reverse=True)
    ask_ticks = sorted(t for t in book if t >= 2_000)
    bids = [(t * price_step, book[t] * size_step) for t in bid_ticks]
    asks = [(t * price_step, book[t] * size_step) for t in ask_ticks]
    return bids, asks


@settings(max_examples=60, deadline=None)
@given(
    start=start(),
    batches=batches,
    steps=st.tuples(st.sampled_from(PRICE_STEPS), st.sampled_from(SIZE_STEPS)),
    trims=st.lists(st.booleans(), min_size=25, max_size=25),
    join_at=st.integers(0, 25),
)
def test_ccxt_pro_accepts_every_frame_and_holds_the_true_top_100(start, batches, steps, trims, join_at):
    price_step, size_step = steps
    book = dict(start)
    feed = BookFeed(MARKET)
    first = CcxtBook()  # subscribed from the start
    late: CcxtBook | None = None  # joins the shared feed later through snapshot()
    pure = CcxtBook()  # fed by the module-level partial/update functions instead of the feed
    bids, asks = build(book, price_step, size_step)
    first.feed(feed.frame(bids, asks, 1.0))
    pure.feed(partial(MARKET, bids, asks, 1.0))
    for n, batch in enumerate(batches):
        old_bids, old_asks = bids, asks
        for ticks, lots in batch:
            if lots:
                book[ticks] = lots
            else:
                book.pop(ticks, None)
        bids, asks = build(book, price_step, size_step)
        time_s = 2.0 + n
        frame = feed.frame(bids, asks, time_s)
        first.feed(frame)
        pure.feed(update(MARKET, old_bids, old_asks, bids, asks, time_s))
        if late is not None:
            late.feed(frame)
        if n == join_at:
            late = CcxtBook()
            late.feed(feed.snapshot(time_s))
        if trims[n]:
            first.watch_returns()
        truth = (as_floats(bids), as_floats(asks))
        for client in (first, pure) if late is None else (first, pure, late):
            assert client.sides() == truth
        if frame is not None:
            assert first.exchange.orderbooks[MARKET]["timestamp"] == int(time_s * 1000)


def test_ccxt_pro_rejects_a_wrong_checksum():
    """The harness itself can fail: a tampered checksum is caught by ccxt.pro."""
    frame = partial(MARKET, side((100, 1)), side((101, 1)), 1.0)
    frame["data"]["checksum"] ^= 1
    client = CcxtBook()
    with pytest.raises(AssertionError):
        client.feed(frame)
    assert "checksum" in str(client.client.rejected[0][0])
