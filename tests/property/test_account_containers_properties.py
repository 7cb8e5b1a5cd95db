"""An account's balances (`Coins`) and positions (`Positions`) answer every read exactly as the
dicts they replaced (engine/accounts.py): the same values, the same order, the same misses,
whatever the coins and markets and however many, through the engine's own writes
(`Account.credit`, `Account.position`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.catalog import USD, load
from backstop.engine.accounts import NO_COINS, NO_POSITIONS, SCAN_MAX, Account
from backstop.engine.book import Book
from backstop.engine.fees import Volume

CATALOG = load()
# every market of the catalog (12, spot ones too: the container does not care), so that an account
# holds more than SCAN_MAX and its dict by market is read as well
MARKETS = sorted(CATALOG.markets)
COINS = sorted(c for c in CATALOG.coins if c != USD)
ASKED = [*COINS[:6], "NOPE", ""]  # coins held or not, and names no coin has


def same_reads(ours: Any, reference: dict[str, Any], asked: list[str], missing: Any) -> None:
    """`missing`: what `get` answers for a key not held (balances: 0, as `get(coin, 0)` did)."""
    assert len(ours) == len(reference)
    assert bool(ours) == bool(reference)
    assert list(ours) == list(reference)
    assert list(ours.keys()) == list(reference)
    assert list(ours.values()) == list(reference.values())
    assert list(ours.items()) == list(reference.items())
    for key in asked:
        assert (key in ours) == (key in reference)
        assert ours.get(key) == reference.get(key, missing)
        if key in reference:
            assert ours[key] is reference[key] or ours[key] == reference[key]
        else:
            try:
                ours[key]
            except KeyError:
                pass
            else:
                raise AssertionError(f"{key!r} answered though not held")


@settings(max_examples=200, deadline=None)
@given(
    credits=st.lists(
        st.tuples(st.sampled_from([*COINS[:6], USD]), st.integers(-(10**20), 10**20)), max_size=40
    )
)
def test_balances_read_as_the_dict(credits: list[tuple[str, int]]) -> None:
    acct = Account(0, "o", "", Volume())
    reference: dict[str, int] = {}
    for coin, atoms in credits:
        acct.credit(coin, atoms)
        if coin != USD:
            reference[coin] = reference.get(coin, 0) + atoms
        same_reads(acct.balances, reference, ASKED, 0)
        assert acct.balances.any_held() == any(reference.values())
        assert acct.balance(coin) == (acct.usd if coin == USD else reference[coin])
    assert len(NO_COINS) == 0 and not NO_COINS  # the shared empty one was never written to


@settings(max_examples=100, deadline=None)
@given(opened=st.lists(st.sampled_from(MARKETS), max_size=3 * SCAN_MAX))
def test_positions_read_as_the_dict(opened: list[str]) -> None:
    assert len(MARKETS) > SCAN_MAX
    acct = Account(0, "o", "", Volume())
    books: dict[str, Book] = {}
    reference: dict[str, Any] = {}
    asked = [*MARKETS, "NOPE-PERP", ""]
    for market in opened:
        book = books.setdefault(market, Book(CATALOG.markets[market]))
        pos = acct.position(book)
        assert acct.position(book) is pos  # held: the same one again
        reference.setdefault(market, pos)
        assert reference[market] is pos
        same_reads(acct.positions, reference, asked, None)
    assert len(NO_POSITIONS) == 0 and not NO_POSITIONS
