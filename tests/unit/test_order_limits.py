"""FTX's order limits (help.ftx.com 360027946651): open orders per side at most max($1m, 1% of
ADV) x 5 on perpetuals, and per-market position limits as data. The price bands are in
test_prices.py."""

from __future__ import annotations

import dataclasses

from engine_kit import Desk

from backstop.catalog import load
from backstop.engine import errors
from backstop.engine.book import Book
from backstop.engine.exchange import Exchange
from backstop.engine.restore import restore

DAY_US = 86_400_000_000

SOL = "SOL-PERP"


def test_open_orders_per_side_are_capped_at_five_times_max_1m_or_1pct_of_adv() -> None:
    # SOL's ADV floor is $100m: 1% is $1m, so each side may hold $5m of open orders
    d = Desk()
    whale = d.account("whale", "", 20_000_000)
    d.leverage(whale, 1)
    d.rest(whale, SOL, "buy", "49000", 100)  # $4.9m
    d.reject(d.order_cmd(whale, SOL, "buy", "2000", 100), errors.SIZE_TOO_LARGE)  # $5.1m
    d.rest(whale, SOL, "buy", "1000", 100)  # exactly $5m is allowed
    d.rest(whale, SOL, "sell", "49000", 110)  # the other side has its own cap
    d.reject(d.order_cmd(whale, SOL, "sell", "2000", 110), errors.SIZE_TOO_LARGE)


def test_a_dated_future_gets_one_times_the_cap() -> None:
    d = Desk()
    whale = d.account("whale", "", 100_000_000)
    d.leverage(whale, 20)
    # BTC's ADV floor is $10bn: 1% = $100m per side on BTC-0326 (x5 = $500m on BTC-PERP)
    d.rest(whale, "BTC-0326", "buy", "9000", 10_000)  # $90m
    d.reject(d.order_cmd(whale, "BTC-0326", "buy", "1001", 10_000), errors.SIZE_TOO_LARGE)
    d.rest(whale, "BTC-PERP", "buy", "9000", 10_000)


def test_position_limits_are_data() -> None:
    catalog = load()
    limited = dataclasses.replace(catalog.markets[SOL], position_limit=catalog.markets[SOL].to_lots("1000"))
    d = Desk()
    d.ex = Exchange(dataclasses.replace(catalog, markets={**catalog.markets, SOL: limited}))
    d.markets = d.ex.catalog.markets
    a = d.account("a", "", 1_000_000)
    b = d.account("b", "", 1_000_000)
    d.rest(b, SOL, "sell", "1000", 100)
    d.place(a, SOL, "buy", "600", 100)
    d.rest(a, SOL, "buy", "400", 99)  # position 600 + open 400 = the limit
    d.reject(d.order_cmd(a, SOL, "buy", "1", 99), errors.SIZE_TOO_LARGE)
    d.rest(a, SOL, "sell", "600", 120)  # reducing is always allowed


def _summed_adv(book: Book) -> int:
    """The ADV from its definition: today and the kept earlier days over 30."""
    return (book.volume_today + sum(book.volume_days.values())) // 30


def test_the_adv_kept_between_day_rolls_is_the_sum_of_its_days_after_trades_rolls_and_a_restore() -> None:
    # Book.adv keeps the earlier days' sum until a day rolls: trade on 40 days (more than the 30
    # kept), some days twice, and compare with the sum from the days themselves each time
    d = Desk()
    maker = d.account("maker", "", 10_000_000)
    taker = d.account("taker", "", 10_000_000)
    book = d.book(SOL)
    for day in range(40):
        d.ts = (day + 1) * DAY_US
        for _ in range(1 + day % 2):
            d.rest(maker, SOL, "sell", 1 + day % 7, "100")
            d.place(taker, SOL, "buy", 1 + day % 7, "100")
            assert book.adv() == _summed_adv(book) > 0
    assert len(book.volume_days) == 29  # the 30-day window: 29 earlier days and today
    again = restore(d.ex.catalog, d.ex.canonical())
    assert again.books[SOL].adv() == _summed_adv(again.books[SOL]) == book.adv()
