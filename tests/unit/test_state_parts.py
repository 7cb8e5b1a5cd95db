"""State that describes itself (engine/state.py): every part of the canonical form restores to the
same form, and the rich scenario gives every part (and every market field) a value a fresh
exchange does not have, so a field that was hashed but not restored would show."""

from __future__ import annotations

from typing import Any

import pytest
from test_projections import Scenario

from backstop.engine import state, volume
from backstop.engine.book import MARKET_STATE
from backstop.engine.commands import HaltMarket, PlaceConditional, SetMarginFloor, Tick
from backstop.engine.events import Fill
from backstop.engine.exchange import Exchange
from backstop.engine.insurance import FundHistory
from backstop.engine.restore import restore

HOUR = 3_600 * 1_000_000


@pytest.fixture(scope="module")
def ex() -> Exchange:
    """The projections' scenario, then a trigger order left waiting, a halted market, a margin
    floor, the dated futures' expiry (their TWAP hour and settlement) and a later day's trade."""
    s = Scenario()
    d = s.d
    d.ok(
        PlaceConditional(
            d.tick(), s.m, "ETH-PERP", "sell", d.lots("ETH-PERP", "0.1"), "stop", d.ticks("ETH-PERP", 100)
        )
    )
    d.ok(HaltMarket(d.tick(), "SOL-PERP", True))
    d.ok(SetMarginFloor(d.tick(), "ETH-PERP", 60_000, 30_000))
    expiry = d.markets["BTC-0326"].expiry_us
    assert expiry is not None
    d.ok(Tick(expiry - HOUR // 2))
    d.ok(Tick(expiry + 1_000_000))
    seller = d.account("seller", "", 0, BTC=1)  # spot trades on two later days: volume history
    for day in range(2):
        d.ts = expiry + 2_000_000 + day * 24 * HOUR
        assert any(isinstance(e, Fill) for e in d.place(seller, "BTC/USD", "sell", "0.1", 10_000))
    return d.ex


def mismatches(original: Exchange, restored: Exchange) -> list[str]:
    """The parts (risk's by their own names) whose form differs between two exchanges."""
    out = [p.name for p in state.PARTS if p.name != "risk" and p.canonical(original) != p.canonical(restored)]
    out += [p.name for p in state.RISK_PARTS if p.canonical(original) != p.canonical(restored)]
    return out


def test_each_part_restores_to_the_form_it_gave(ex: Exchange) -> None:
    again = restore(ex.catalog, ex.canonical())
    assert mismatches(ex, again) == []
    assert again.canonical() == ex.canonical()


def test_the_scenario_exercises_every_part(ex: Exchange) -> None:
    fresh = Exchange()
    assert set(mismatches(ex, fresh)) == {p.name for p in state.PARTS if p.name != "risk"} | {
        p.name for p in state.RISK_PARTS
    }


def test_every_market_field_is_exercised_and_restored(ex: Exchange) -> None:
    again = restore(ex.catalog, ex.canonical())
    fresh = Exchange()
    untouched = [
        name
        for name in MARKET_STATE
        if all(getattr(b, name) == getattr(fresh.books[b.market], name) for b in ex.book_list)
    ]
    assert untouched == []
    for book in ex.book_list:
        for name in MARKET_STATE:
            assert getattr(again.books[book.market], name) == getattr(book, name), (book.market, name)
    # and the 24-hour volume's window (volume.py), in the form only while it holds a trade
    windows = {b.market: volume.canonical(b, ex.now) for b in ex.book_list}
    assert any(windows.values())
    assert {b.market: volume.canonical(b, again.now) for b in again.book_list} == windows


def test_a_field_left_out_of_restore_is_caught(ex: Exchange) -> None:
    """The check above can fail: a restore that forgets a market field or its 24-hour volume, an
    account's leverage or the fund's history shows up as that part."""
    broken: list[tuple[str, Any]] = [
        ("markets", lambda e: setattr(e.books["BTC-PERP"], "funding_rates", [])),
        ("markets", lambda e: setattr(e.books["BTC/USD"], "volume_minute_atoms", 0)),  # its window
        ("accounts", lambda e: setattr(e.accounts[0], "leverage", 1)),
        ("insurance_fund", lambda e: setattr(e.insurance, "history", FundHistory())),
    ]
    for part, forget in broken:
        again = restore(ex.catalog, ex.canonical())
        forget(again)
        assert mismatches(ex, again) == [part]


def test_parts_are_named_once_and_the_core_form_keeps_its_shape() -> None:
    names = [p.name for p in state.PARTS] + [p.name for p in state.RISK_PARTS]
    assert len(names) == len(set(names))
    assert [p.name for p in state.PARTS] == [
        "now",
        "next_order_id",
        "next_trade_id",
        "accounts",
        "orders",
        "books",
        "volumes",
        "fees",
        "deposits",
        "withdrawals",
        "rng",
        "risk",
    ]
