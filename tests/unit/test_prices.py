"""Index, mark and risk-band prices (research notes section 3, engine/prices.py and book.py).

Expected values are worked out by hand from FTX's rules:
- index: equal-weighted median of the feed's constituents, copied into every market on the coin
  in that market's ticks (nearest tick);
- mark: median(best bid, best ask, last) on a live two-sided book; index + the premium recorded
  at the last Tick with a two-sided book when the book is empty, one-sided or the market halted;
- risk band: the mark is held within +-10% of an EWMA (time constant 5 minutes) of itself.
"""

from __future__ import annotations

import pytest
from engine_kit import Desk, usd

from backstop.engine import errors, prices
from backstop.engine.commands import HaltMarket, IndexUpdate
from backstop.engine.events import IndexUpdated, MarketHalted

PERP = "BTC-PERP"
FUTURE = "BTC-0326"
SPOT = "BTC/USD"
USD = 10**8  # atoms per dollar


def halt(d: Desk, market: str, halted: bool = True) -> list:
    return d.ok(HaltMarket(d.tick(), market, halted))


# ------------------------------------------------------------------ index


def test_index_is_the_median_of_an_odd_number_of_constituents():
    d = Desk()
    (event,) = d.index("BTC", 30_100, 29_900, 30_000, 31_000, 10)
    # sorted: 10, 29,900, 30,000, 30,100, 31,000 -> 30,000 (the mean, 24,202, would follow the outlier)
    assert event == IndexUpdated("BTC", 30_000 * USD, 5, d.ts)
    assert d.ex.index["BTC"] == 30_000 * USD


def test_index_of_an_even_count_is_the_midpoint_of_the_middle_two():
    d = Desk()
    (event,) = d.index("BTC", 31_000, 30_100, 29_000, 30_000)
    # sorted: 29,000, 30,000, 30,100, 31,000 -> (30,000 + 30,100) / 2
    assert (event.price, event.constituents) == (30_050 * USD, 4)
    # an odd number of atoms between the middle two: the midpoint rounds down to the atom
    (event,) = d.index("BTC", "100.00000001", "100.00000002")
    assert event.price == usd("100.00000001")
    assert d.ex.index["BTC"] == usd("100.00000001")


def test_index_of_a_single_constituent_is_that_price():
    d = Desk()
    (event,) = d.index("ETH", "1234.5")
    assert (event.price, event.constituents) == (usd("1234.5"), 1)


def test_index_reaches_every_market_on_the_coin_in_its_own_ticks():
    d = Desk()
    d.index("BTC", "30000.4")
    # $1 ticks: 30,000.4 -> 30,000 (nearest)
    for market in (PERP, FUTURE, SPOT):
        assert d.book(market).index == 30_000, market
    d.index("BTC", "30000.6")
    for market in (PERP, FUTURE, SPOT):
        assert d.book(market).index == 30_001, market
    # nothing on the other coins moved
    for market in ("ETH-PERP", "ETH-0326", "ETH/USD", "SOL-PERP"):
        assert d.book(market).index is None, market
    d.index("ETH", "2000.06")
    # $0.1 ticks: 2,000.06 -> 2,000.1 = 20,001 ticks
    for market in ("ETH-PERP", "ETH-0326", "ETH/USD"):
        assert d.book(market).index == 20_001, market
    assert d.book(PERP).index == 30_001
    d.index("SOL", "101.2344")
    # $0.0025 ticks: 101.2344 / 0.0025 = 40,493.76 -> 40,494 ticks ($101.235)
    assert d.book("SOL-PERP").index == 40_494


def test_an_empty_book_marks_at_the_index_in_every_market():
    d = Desk()
    d.index("BTC", 30_000)
    d.index("ETH", 2_000)
    for market in (PERP, FUTURE, SPOT):
        assert d.ex.mark(market) == 30_000, market
    assert d.ex.mark("ETH-PERP") == 20_000  # $2,000.0 in $0.1 ticks
    assert d.ex.mark("SOL-PERP") is None  # no index, no book: no mark


@pytest.mark.parametrize(
    ("coin", "prices", "error"),
    [
        ("XYZ", (30_000,), "No such coin: XYZ"),
        ("BTC", (), "Invalid parameter prices"),
        ("BTC", (0,), "Invalid parameter prices"),
        ("BTC", (-30_000 * USD,), "Invalid parameter prices"),
        ("BTC", (31_000 * USD, 0, 30_000 * USD), "Invalid parameter prices"),
        ("BTC", (30_000 * USD, -1), "Invalid parameter prices"),
    ],
)
def test_bad_index_updates_are_rejected_and_change_nothing(coin, prices, error):
    d = Desk()
    d.index("BTC", 20_000)
    d.reject(IndexUpdate(d.tick(), coin, prices), error)
    assert d.ex.index == {"BTC": 20_000 * USD}
    assert d.book(PERP).index == 20_000
    assert d.ex.mark(PERP) == 20_000


# ------------------------------------------------------------------ mark


def quoted(last: int | None, bid: int, ask: int) -> tuple[Desk, int, dict[str, int]]:
    """A BTC-PERP book with one trade at `last` (none if None) and quotes bid / ask (0.001 each)."""
    d = Desk()
    if last is not None:
        d.set_mark(PERP, last)
    m = d.account("m", "", 100_000)
    ids = {"bid": d.rest(m, PERP, "buy", "0.001", bid), "ask": d.rest(m, PERP, "sell", "0.001", ask)}
    return d, m, ids


@pytest.mark.parametrize(
    ("last", "bid", "ask", "mark"),
    [
        (30_000, 29_990, 30_010, 30_000),  # last inside the spread
        (30_050, 29_990, 30_010, 30_010),  # last above the ask: the ask
        (29_900, 29_990, 30_010, 29_990),  # last below the bid: the bid
        (None, 29_990, 30_010, 30_000),  # no trade yet: the midpoint
    ],
)
def test_mark_is_the_median_of_bid_ask_and_last(last, bid, ask, mark):
    d, _, _ = quoted(last, bid, ask)
    d.index("BTC", 25_000)  # a two-sided book ignores the index
    assert d.ex.mark(PERP) == mark
    d.second()
    assert d.ex.mark(PERP) == mark


def test_one_sided_and_empty_books_mark_at_index_plus_the_last_ticks_premium():
    d, m, ids = quoted(30_000, 29_990, 30_010)
    d.index("BTC", 29_950)
    d.second()  # the premium at this tick: median 30,000 - index 29,950 = +50
    assert d.ex.mark(PERP) == 30_000
    # the book moves between ticks (median now 30,005): no tick, so the premium is still +50
    d.cancel(m, ids["bid"])
    d.rest(m, PERP, "buy", "0.001", 30_005)
    assert d.ex.mark(PERP) == 30_005
    d.cancel(m, ids["ask"])  # one-sided: index + 50
    assert d.ex.mark(PERP) == 30_000
    d.index("BTC", 30_450)
    assert d.ex.mark(PERP) == 30_500
    # a tick with a one-sided book keeps the premium
    d.index("BTC", 30_950)
    d.second()
    assert d.ex.mark(PERP) == 31_000
    d.cancel_all(m)  # empty
    assert d.ex.mark(PERP) == 31_000
    d.index("BTC", 30_650)
    assert d.ex.mark(PERP) == 30_700


def test_an_empty_book_that_never_had_two_sides_has_no_premium():
    d = Desk()
    m = d.account("m", "", 100_000)
    d.index("BTC", 30_000)
    d.rest(m, PERP, "buy", "0.001", 29_000)
    d.second()
    assert d.ex.mark(PERP) == 30_000  # index + 0, not the lone bid


def test_a_halted_market_marks_at_index_plus_premium_and_takes_no_orders():
    d, m, _ = quoted(30_000, 29_990, 30_010)
    d.index("BTC", 29_950)
    d.second()  # premium +50
    assert halt(d, PERP) == [MarketHalted(PERP, True, d.ts)]
    assert d.ex.mark(PERP) == 30_000
    d.index("BTC", 30_450)
    assert d.ex.mark(PERP) == 30_500  # the book still shows 30,000, but the market is halted
    d.reject(d.order_cmd(m, PERP, "buy", "0.001", 29_995), "Market is halted")
    d.reject(d.order_cmd(m, PERP, "sell", "0.001", 30_100), "Market is halted")
    d.reject(d.order_cmd(m, PERP, "buy", "0.001"), "Market is halted")  # market order
    # ticks while halted do not take a premium from the frozen book (that would be -450)
    d.second(5)
    assert d.ex.mark(PERP) == 30_500
    # other markets on the coin trade on
    d.rest(m, FUTURE, "buy", "0.001", 29_000)
    d.rest(m, SPOT, "buy", "0.001", 29_000)
    # resume: the book's median again, and orders are accepted
    assert halt(d, PERP, False) == [MarketHalted(PERP, False, d.ts)]
    assert d.ex.mark(PERP) == 30_000
    d.rest(m, PERP, "buy", "0.001", 29_980)
    d.second()  # and the premium is taken from the book again: 30,000 - 30,450
    assert d.book(PERP).premium == -450


def test_halting_an_unknown_market_is_rejected():
    d = Desk()
    d.reject(HaltMarket(d.tick(), "DOGE-PERP", True), "No such market: DOGE-PERP")


# ------------------------------------------------------------------ risk band
#
# With the band anchored at A (first tick), a jump shows at once only up to A x 1.1. Each
# one-second tick moves the anchor 1/300 of the way to the (banded) mark, so while the band binds
# A grows by a factor (1 + 0.1/300) per second:
#   after 300 s: (1 + 1/3000)^300 = e^(300 ln(1 + 1/3000)) = e^0.0999833 = 1.105153
#   after 900 s: e^0.2999500 = 1.349791
# and falling, (1 - 1/3000)^300 = e^-0.1000167 = 0.904822, (1 - 1/3000)^1700 = e^-0.566761 = 0.567359.
# The bands are rounded to whole ticks inwards, which slows the anchor by at most ~1 tick per 300 s.


def anchored_at_10_000() -> Desk:
    d = Desk()
    d.index("BTC", 10_000)
    d.second()  # the anchor: 10,000; band 9,000 .. 11,000
    assert d.ex.mark(PERP) == 10_000
    return d


def test_a_small_move_passes_the_band_at_once():
    d = anchored_at_10_000()
    d.index("BTC", 10_500)
    assert d.ex.mark(PERP) == 10_500
    d.index("BTC", 9_200)
    assert d.ex.mark(PERP) == 9_200


def test_a_one_second_wick_moves_the_mark_only_10_percent_and_goes_away():
    d = anchored_at_10_000()
    d.index("BTC", 15_000)
    assert d.ex.mark(PERP) == 11_000
    assert d.book(PERP).index == 15_000  # the index itself is not smoothed
    d.second()
    # anchor 10,000 + 1,000 / 300 = 10,003.33: band up to 11,003
    assert d.ex.mark(PERP) == 11_003
    d.index("BTC", 10_000)
    assert d.ex.mark(PERP) == 10_000
    d.second()
    assert d.ex.mark(PERP) == 10_000


def test_a_sudden_50_percent_rise_is_followed_at_about_10_percent_per_5_minutes():
    d = anchored_at_10_000()
    d.index("BTC", 15_000)
    for market in (PERP, FUTURE, SPOT):  # every market on the coin is banded the same way
        assert d.ex.mark(market) == 11_000, market
    d.second(300)
    # anchor 10,000 x 1.105153 = 11,051.5 (less at most ~1 tick of rounding): band top 12,155-12,156
    mark = d.ex.mark(PERP)
    assert 12_150 <= mark <= 12_160
    assert 12_000 <= mark < 12_200  # ~20% in the first 5 minutes, not the full 50%
    d.second(600)  # 900 s: anchor ~13,497.9, band top ~14,847
    mark = d.ex.mark(PERP)
    assert 14_800 <= mark <= 14_900
    # the band reaches 15,000 once the anchor is 15,000 / 1.1 = 13,636.4: about 931 s
    d.second(100)
    assert d.ex.mark(PERP) == 15_000
    d.second(600)
    assert d.ex.mark(PERP) == 15_000


def test_a_sudden_50_percent_fall_is_followed_at_about_10_percent_per_5_minutes():
    d = anchored_at_10_000()
    d.index("BTC", 5_000)
    assert d.ex.mark(PERP) == 9_000
    d.second(300)
    # anchor 10,000 x 0.904822 = 9,048.2 (up to ~1 tick more): band bottom ceil(0.9 x 9,048.2) = 8,144-8,145
    mark = d.ex.mark(PERP)
    assert 8_140 <= mark <= 8_150
    d.second(1_400)  # 1,700 s: anchor ~5,673.6, band bottom ~5,107
    mark = d.ex.mark(PERP)
    assert 5_100 <= mark <= 5_115
    # the band reaches 5,000 once the anchor is 5,000 / 0.9 = 5,555.6: about 1,763 s
    d.second(100)
    assert d.ex.mark(PERP) == 5_000


def test_a_two_sided_book_cannot_be_walked_outside_the_bands():
    d, m, ids = quoted(10_000, 9_990, 10_010)
    d.index("BTC", 10_000)
    d.second()  # anchor 10,000
    # walking a thin book up to 15,000 is refused: orders must stay within 10% of the 5-minute
    # mean mark and within 5% (+ the mean |premium|) of the index (BTC-PERP's bands), so the
    # mark used for margin cannot be pushed there either
    d.cancel(m, ids["ask"])
    d.cancel(m, ids["bid"])
    d.reject(d.order_cmd(m, PERP, "buy", "0.001", 14_990), errors.PRICE_BAND)
    d.reject(d.order_cmd(m, PERP, "sell", "0.001", 15_010), errors.PRICE_BAND)
    d.reject(d.order_cmd(m, PERP, "sell", "0.001", 10_600), errors.PRICE_BAND)  # 6% over the index
    d.rest(m, PERP, "buy", "0.001", 10_480)
    d.rest(m, PERP, "sell", "0.001", 10_500)
    assert d.ex.mark(PERP) == 10_480  # median(10,480, 10,500, last 10,000)
    assert prices.bounds(d.book(PERP)) == (9_500, 10_500)
