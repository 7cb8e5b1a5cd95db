"""The order gateway's shortcuts give exactly what the general path gives: an order's JSON text
(`wire.order_json`) is `render(order_row_view(...))` byte for byte, `iso` is datetime's own
isoformat, the request signature is `hmac.digest`'s, an integer price counts the ticks the
exact Decimal division counts, and a size the lots it counts."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backstop import catalog
from backstop.catalog import Market
from backstop.engine import errors
from backstop.server import params, wire
from backstop.server.auth import _hex_hmac
from backstop.server.envelope import ISO_EXACT_US, ApiError, iso, render
from backstop.server.order_entry import FAST_TICKS, lots, ticks
from backstop.server.private import order_row_view

CATALOG = catalog.load()
STATE: Any = SimpleNamespace(exchange=SimpleNamespace(catalog=CATALOG))
MARKETS = sorted(CATALOG.markets)
INT64 = 2**63 - 1

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
counts = st.one_of(st.integers(0, 10**6), st.integers(0, INT64))


@st.composite
def rows(draw: st.DrawFn) -> list[Any]:
    """An order's row (the history's columns) as the engine's events or the history make one."""
    size = draw(counts)
    filled = draw(st.integers(0, size))
    price = draw(st.one_of(st.none(), counts))
    kind = draw(st.sampled_from(["limit", "market"]))
    fill_value = draw(st.integers(0, INT64)) if filled else 0
    return [
        draw(st.integers(0, INT64)),  # id
        draw(st.integers(0, 10**6)),  # account
        draw(st.sampled_from(MARKETS)),
        draw(st.sampled_from(["buy", "sell"])),
        kind,
        price,
        size,
        filled,
        draw(st.integers(0, size - filled)),  # remaining
        fill_value,
        draw(st.sampled_from(["open", "closed", "new"])),
        draw(st.one_of(st.none(), st.sampled_from(["filled", "cancelled", "ioc"]))),
        draw(st.booleans()),  # reduce_only
        draw(st.booleans()),  # ioc
        draw(st.booleans()),  # post_only
        draw(st.one_of(st.none(), texts)),  # client_id
        draw(st.one_of(st.integers(0, 4 * 10**15), st.integers(0, 2 * 10**17))),  # created_us
        None,
        draw(st.booleans()),  # liquidation
    ]


def _general(row: list[Any]) -> bytes:
    return render(order_row_view(STATE, row))


@settings(max_examples=3000, deadline=None)
@given(rows())
def test_an_orders_json_text_is_the_general_paths_byte_for_byte(row: list[Any]) -> None:
    text = wire.order_json(CATALOG.markets[row[2]], row)
    assert text is not None
    assert text.encode() == _general(row)
    assert wire.order_json(CATALOG.markets[row[2]], row) == text  # its amounts' texts now kept
    assert render({"success": True, "result": json.loads(text)}).startswith(b'{"success":true,"result":')


def test_values_of_other_types_go_the_general_way() -> None:
    row: list[Any] = [7, 1, "BTC-PERP", "buy", "limit", 29990, 10, 0, 10, 0, "open", None]
    row += [False, False, True, None, 1_700_000_000_000_000, None, False]
    market = CATALOG.markets["BTC-PERP"]
    assert wire.order_json(market, row) is not None
    for index, odd in ((0, True), (5, Decimal(1)), (12, 1), (15, 5), (10, None), (6, 1.0)):
        changed = list(row)
        changed[index] = odd
        assert wire.order_json(market, changed) is None, index


@settings(max_examples=5000, deadline=None)
@given(st.one_of(st.integers(0, ISO_EXACT_US + 10**9), st.integers(-(10**15), 2 * 10**17)))
def test_iso_is_datetimes_isoformat(ts_us: int) -> None:
    assert iso(ts_us) == datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC).isoformat()


def test_iso_at_the_edges_of_seconds_and_of_the_exact_span() -> None:
    for base in (0, 1_000_000, 1_700_000_000_000_000, ISO_EXACT_US - 1_000_000, ISO_EXACT_US):
        for ts_us in range(base - 3, base + 3):
            if ts_us >= 0:
                assert iso(ts_us) == datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC).isoformat()


@settings(max_examples=2000, deadline=None)
@given(texts.filter(bool) | st.text(min_size=60, max_size=200), st.binary(max_size=600))
def test_the_signature_is_hmac_sha256(secret: str, payload: bytes) -> None:
    assert _hex_hmac(secret, payload) == hmac.digest(secret.encode(), payload, "sha256").hex()


def _decimal_ticks(market_name: str, value: Any) -> int | str:
    """What `order_entry.ticks` answers by the general path (Decimal division), or its error."""
    market = CATALOG.markets[market_name]
    try:
        price = params.decimal(value, "price")
    except ApiError as exc:
        return exc.error
    count = price / market.price_increment
    if price <= 0 or count != count.to_integral_value():
        return "Invalid price"
    return int(count)


def _answer(count: Callable[[Market, Any], int], market_name: str, value: Any) -> int | str:
    """What the API's `count` (ticks or lots) answers for `value` in the market, or its error."""
    try:
        return count(CATALOG.markets[market_name], value)
    except ApiError as exc:
        return exc.error


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(MARKETS),
    st.one_of(
        st.integers(-10, 10**6),
        st.integers(1, FAST_TICKS + 10),
        st.integers(FAST_TICKS - 10, FAST_TICKS + 10),
        st.integers(-(10**30), 10**30),
    ),
)
def test_an_integer_price_counts_the_ticks_decimal_division_counts(market: str, value: int) -> None:
    assert _answer(ticks, market, value) == _decimal_ticks(market, value)


def _decimal_lots(market_name: str, value: Any) -> int | str:
    """What `order_entry.lots` answered by the Decimal division, or its error."""
    market = CATALOG.markets[market_name]
    try:
        size = params.decimal(value, "size")
    except ApiError as exc:
        return exc.error
    if size <= 0:
        return errors.SIZE_TOO_SMALL
    count = size / market.size_increment
    if count != count.to_integral_value():
        return errors.SIZE_TOO_SMALL if count < 1 else "Invalid parameter size"
    return int(count)


sizes = st.builds(
    lambda digits, exponent, negative: (-1 if negative else 1) * Decimal(digits).scaleb(exponent),
    st.integers(0, 10**24),
    st.integers(-32, 32),
    st.booleans(),
)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(MARKETS), st.one_of(sizes, sizes.map(str), st.integers(-10, 10**30)))
def test_a_size_counts_the_lots_decimal_division_counts(market: str, value: Any) -> None:
    assert _answer(lots, market, value) == _decimal_lots(market, value)


def test_a_size_is_counted_once_per_text_and_kept_within_bounds() -> None:
    """`lots` keeps the counts of sizes given as text or fractions, per market and text: asked
    again (from what it kept) it answers what the Decimal division does; a number equal in value
    but written with more digits than allowed is still refused; a refused size is not kept; and
    a market keeps at most MAX_SIZES."""
    from backstop.server import order_entry
    from backstop.server.wire import market_text

    market = CATALOG.markets["BTC-PERP"]
    kept = market_text(market).lots
    kept.clear()
    for value in (Decimal("0.001"), "0.001", Decimal("0.0010"), Decimal("1E-3"), "0.5"):
        for _ in range(2):
            assert _answer(lots, "BTC-PERP", value) == _decimal_lots("BTC-PERP", value)
    assert (Decimal, "0.001") in kept and (str, "0.001") in kept and (Decimal, "0.0010") in kept
    too_long = Decimal("0.001" + "0" * params.MAX_DIGITS)  # equal to 0.001, more than MAX_DIGITS digits
    assert too_long == Decimal("0.001")
    for _ in range(2):
        assert _answer(lots, "BTC-PERP", too_long) == "Invalid parameter size"
    assert _answer(lots, "BTC-PERP", "0.00001") == errors.SIZE_TOO_SMALL
    assert (str, "0.00001") not in kept
    for n in range(order_entry.MAX_SIZES + 5):
        assert lots(market, f"{n + 1}.0") == (n + 1) * 10_000
    assert len(kept) <= order_entry.MAX_SIZES


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(MARKETS), st.integers(0, 10**12))
def test_an_amounts_text_is_kept_as_it_is_written(market_name: str, count: int) -> None:
    """`MarketText.size_text` gives the float text of `count` increments, the first time and from
    what it kept."""
    from backstop.server.wire import market_text

    m = market_text(CATALOG.markets[market_name])
    expected = repr(count * m.size_num / m.size_den)
    assert m.size_text(count) == expected == m.size_text(count)
    assert m.amounts[count] == expected


def test_an_order_resting_as_it_came_is_its_acceptances_row() -> None:
    """`placed_row` of a command whose one event accepted an order (it rests untouched) is the row
    the general fold of the events gives, and so is that of a command with more events."""
    from backstop.engine.events import OrderAccepted, OrderClosed
    from backstop.projections.writer import order_from_events
    from backstop.server.order_entry import placed_row

    accepted = OrderAccepted(
        7, 3, "BTC-PERP", "buy", 29_980, 10, "limit", False, True, False, "c1", 2_000_000, False
    )
    assert placed_row([accepted]) == order_from_events([accepted], 7)
    closed = OrderClosed(7, 3, "BTC-PERP", "cancelled", 0, 10, 2_000_001)
    assert placed_row([accepted, closed]) == order_from_events([accepted, closed], 7)
    assert placed_row([accepted, closed])[10] == "closed"
