"""An order as FTX shows it, written straight to JSON text: the hot path's answer to a placed order.

`order_json(market, row)` is, byte for byte, `render(order_row_view(...))` of the same row (a
property test holds the two equal), without the intermediate dict of Decimals the general
encoder then turns into floats one `default` call at a time. The rules that make it exact:

- an amount is `count x increment`, shown as the float nearest to that exact value: the general
  path multiplies exactly in Decimal and rounds once to a float; here `count x num / den` (the
  increment as the ratio of integers it is) is one correctly rounded integer division, so the
  same float;
- strings are escaped by the same function the JSON encoder uses (`encode_basestring_ascii`),
  floats written by the same `float.__repr__`;
- anything not of the types an order's row is made of (from the engine's events, or the history's)
  falls back to the general path.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii as quote
from typing import Any

from backstop.catalog import Market
from backstop.server.envelope import iso

_BOOLS = {True: "true", False: "false"}


class MarketText:
    """What an order's JSON takes from its market, worked out once."""

    __slots__ = (
        "amounts",
        "future",
        "lots",
        "market",
        "name",
        "price_den",
        "price_num",
        "price_one",
        "prices",
        "size_den",
        "size_num",
    )

    def __init__(self, market: Market) -> None:
        self.market = market
        self.name = quote(market.name)
        self.future = "null" if market.is_spot else self.name
        self.price_num, self.price_den = market.price_increment.as_integer_ratio()
        self.size_num, self.size_den = market.size_increment.as_integer_ratio()
        self.price_one = market.price_of(1)
        self.lots: dict[tuple[type, str], int] = {}  # sizes counted in lots (`order_entry.lots`), by text
        self.amounts: dict[int, str] = {}  # a count of size increments -> its JSON text (`size_text`)
        self.prices: dict[int, str] = {}  # a count of price increments -> its JSON text (`price_text`)

    def size_text(self, count: int) -> str:
        """The JSON text of `count` size increments, kept (at most MAX_AMOUNTS per market, forgotten
        all at once past that): an order's size, filled and remaining sizes are mostly a few
        counts sent over and over."""
        found = self.amounts.get(count)
        return _kept(self.amounts, count, self.size_num, self.size_den) if found is None else found

    def price_text(self, ticks: int) -> str:
        """The JSON text of a price of `ticks` price increments, kept as `size_text` keeps sizes:
        orders rest at a few prices near the market."""
        found = self.prices.get(ticks)
        return _kept(self.prices, ticks, self.price_num, self.price_den) if found is None else found


def _kept(texts: dict[int, str], count: int, num: int, den: int) -> str:
    """The JSON text of `count` x num / den, kept in `texts` (cleared once it holds MAX_AMOUNTS)."""
    text = repr(count * num / den)
    if len(texts) >= MAX_AMOUNTS:
        texts.clear()
    texts[count] = text
    return text


MAX_AMOUNTS = 1_000
"""Amounts (sizes, prices) whose JSON text a market keeps (`MarketText.size_text`, `price_text`)."""


_MARKETS: dict[str, MarketText] = {}


def market_text(market: Market) -> MarketText:
    found = _MARKETS.get(market.name)
    if found is None or found.market is not market:
        found = _MARKETS[market.name] = MarketText(market)
    return found


def _text(value: Any) -> str | None:
    return quote(value) if type(value) is str else None


_WORDS = {word: quote(word) for word in ("limit", "market", "buy", "sell", "new", "open", "closed")}
"""An order's type, side and status, as JSON strings: the few words they are, quoted once."""


def order_json(market: Market, row: Sequence[Any]) -> str | None:
    """The order of `row` (the history's columns, in order: `projections.writer`) in FTX's shape as
    JSON text, or None when a value is of a type this does not write (the caller then renders
    `order_row_view`)."""
    (order_id, _, name, side, kind, price, size, filled, remaining, fill_value, status) = row[:11]
    reduce_only, ioc, post_only, client_id, created, _, liquidation = row[12:]
    m = market_text(market)
    if type(order_id) is not int or type(size) is not int or type(filled) is not int:
        return None
    if type(remaining) is not int or type(created) is not int or name != market.name:
        return None
    if type(price) is not int and price is not None:
        return None
    bools = _BOOLS
    if type(reduce_only) is not bool or type(ioc) is not bool or type(post_only) is not bool:
        return None
    if type(liquidation) is not bool:
        return None
    words = _WORDS
    kind_text = words.get(kind) or _text(kind)
    side_text = words.get(side) or _text(side)
    status_text = words.get(status) or _text(status)
    if kind_text is None or side_text is None or status_text is None:
        return None
    if client_id is None:
        client_text = "null"
    else:
        found = _text(client_id)
        if found is None:
            return None
        client_text = found
    price_text = "null" if price is None or kind == "market" else m.price_text(price)
    if filled:
        avg = m.price_one * Decimal(fill_value) / filled
        avg_text = repr(float(avg))
    else:
        avg_text = "null"
    amounts = m.amounts
    size_text = amounts.get(size) or m.size_text(size)
    filled_text = amounts.get(filled) or m.size_text(filled)
    remaining_text = amounts.get(remaining) or m.size_text(remaining)
    return (
        f'{{"id":{order_id},"clientId":{client_text},"market":{m.name},"future":{m.future},'
        f'"type":{kind_text},"side":{side_text},"price":{price_text},'
        f'"size":{size_text},"filledSize":{filled_text},'
        f'"remainingSize":{remaining_text},"avgFillPrice":{avg_text},"status":{status_text},'
        f'"createdAt":{quote(iso(created))},"reduceOnly":{bools[reduce_only]},"ioc":{bools[ioc]},'
        f'"postOnly":{bools[post_only]},"liquidation":{bools[liquidation]}}}'
    )
