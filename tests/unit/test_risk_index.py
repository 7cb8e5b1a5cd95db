"""The at-risk index (risk.py): who the sweep looks at after prices move.

Accounts holding one position and only USD wait in their market's heap for longs (keyed on the
market's falls) or for shorts (keyed on its rises); everyone else waits in the exchange's heap,
keyed on the largest move of any market. Whether an account was looked at shows in its key: an
assessment files it again under a new one. That nobody below maintenance is ever missed is the
property test's job (tests/property/test_risk_properties.py); this is about who is spared.
"""

from __future__ import annotations

from engine_kit import Desk

from backstop.engine.risk import assess

PERP = "BTC-PERP"


def positions(long_usd: int, short_usd: int) -> tuple[Desk, int, int, int]:
    """A long and a short of 8 BTC at $10,000 ($80k each) with the given collateral, and a
    third account long 1 BTC (from a fourth) that also holds 1 BTC of collateral; the book is
    left empty and the mark at $10,000 (the last trade; there is no index)."""
    d = Desk()
    a = d.account("long", "", long_usd)
    b = d.account("short", "", short_usd)
    c = d.account("mixed", "", 10_000, BTC="1")
    other = d.account("other", "", 100_000)
    d.rest(b, PERP, "sell", "8", 10_000)
    d.place(a, PERP, "buy", "8", 10_000)
    d.rest(other, PERP, "sell", "1", 10_000)
    d.place(c, PERP, "buy", "1", 10_000)
    d.second()
    assert d.ex.mark(PERP) == d.ticks(PERP, 10_000)
    return d, a, b, c


def distance(d: Desk, account: int) -> float:
    """The move the index allows the account before looking again: room over spread."""
    a = assess(d.ex, d.acct(account))
    return (a.tav - a.requirement) / (a.notional + a.gross + a.requirement)


def test_each_account_waits_where_only_its_own_risk_can_reach_it() -> None:
    d, a, b, c = positions(16_000, 10_000)
    book = d.book(PERP)
    assert d.acct(a).watch_heap is book.watch_down  # a long: only falls of BTC-PERP hurt it
    assert d.acct(b).watch_heap is book.watch_up  # a short: only rises
    assert d.acct(c).watch_heap is d.ex.watch  # coin collateral as well: any move of any market


def test_a_rally_looks_at_the_short_and_the_fall_back_spares_the_long() -> None:
    """Long: $16k on $80k, room $16k - 3% x $80k = $13.6k over a spread of $82.4k: 16.5%, which
    the index reaches after 16.5 / 116.5 = 14.2% of falls. Short: $10k, room $7.6k / $82.4k =
    9.2%, reached after 8.4% of rises (less the fees both paid). A rise of 9% reaches the short
    and not the long; the fall back to $10,000 is 8.26% of falls, short of the long's 14.2%,
    although the two moves add up to 17.3%, past both: the old single drift would have looked
    at the long twice for a round trip that left it where it was."""
    d, a, b, c = positions(16_000, 10_000)
    assert 0.14 < distance(d, a) / (1 + distance(d, a)) < 0.145
    assert 0.08 < distance(d, b) / (1 + distance(d, b)) < 0.085
    keys = {n: d.acct(n).watch_key for n in (a, b, c)}
    d.set_mark(PERP, 10_900)
    d.second()
    assert d.ex.mark(PERP) == d.ticks(PERP, 10_900)
    assert d.acct(b).watch_key != keys[b]  # looked at, and filed again under a new key
    assert not d.acct(b).liquidation  # still above maintenance, barely
    assert d.acct(a).watch_key == keys[a]  # a rally cannot hurt a long
    d.set_mark(PERP, 10_000)
    d.second()
    assert d.ex.mark(PERP) == d.ticks(PERP, 10_000)
    assert d.acct(a).watch_key == keys[a]  # the fall back is within what the long can take
    assert d.acct(c).watch_key == keys[c]  # far from maintenance either way


def test_a_fall_past_the_longs_distance_looks_at_it() -> None:
    d, a, b, _ = positions(16_000, 10_000)
    key, short_key = d.acct(a).watch_key, d.acct(b).watch_key
    for price in (9_500, 9_000, 8_700):  # 5.3% + 5.6% + 3.4% of falls: past the long's 14.2%
        d.set_mark(PERP, price)
        d.second(300)  # the risk band's anchor follows, so the next price is within its bounds
    assert d.ex.mark(PERP) == d.ticks(PERP, 8_700)
    assert d.acct(a).watch_key != key
    assert d.acct(b).watch_key == short_key  # a fall cannot hurt a short
    assert not d.acct(a).liquidation  # $16k - 8 x $1,300 = $5.6k, above 3% of $69.6k


def pay_longs(d: Desk) -> None:
    """One hour's funding with longs paying 0.001% (the rate, 1,000 of 1e8, set on the book as if
    sampled), straight through the engine's payment."""
    from backstop.engine.funding import _pay

    book = d.book(PERP)
    book.funding_sum, book.funding_time = 24 * 1_000, 1
    _pay(d.ex, book, 0, d.tick(), [])


def test_funding_paid_by_longs_raises_their_drift_and_leaves_them_filed() -> None:
    d, a, _, _ = positions(16_000, 100_000)
    key, falls = d.acct(a).watch_key, d.book(PERP).drift_down
    pay_longs(d)
    assert d.book(PERP).drift_down == falls + 3 * 1_000 + 1  # as if the price fell 3 x the rate
    assert d.acct(a).watch_key == key and a not in d.ex.dirty


def test_after_a_rally_of_half_funding_paid_by_longs_has_them_looked_at_again() -> None:
    """The longs' heap does not count rises, so a long filed at $10,000 may hold a position worth
    far more by the time it pays: the bound of 3 x the rate no longer holds. At 1.5x the lowest
    mark swept since the heap was last emptied, a payment by longs empties it instead."""
    d, a, _, _ = positions(16_000, 100_000)
    for price in (10_500, 11_000, 11_550, 12_100, 12_700, 13_300, 14_000, 14_700, 15_100):
        d.set_mark(PERP, price)
        d.second(600)  # the risk band's anchor follows, so the next price is within its bounds
    assert d.acct(a).watch_heap is d.book(PERP).watch_down  # a rally never looked at the long
    pay_longs(d)
    assert d.acct(a).watch_key == -1 and a in d.ex.dirty and not d.book(PERP).watch_down
    d.second()
    assert d.acct(a).watch_heap is d.book(PERP).watch_down  # assessed, and filed afresh
