"""Proofs about the state: a canonical form and its hash, and the money-conservation check."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from backstop.catalog import USD

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange


def canonical(ex: Exchange) -> list[Any]:
    """The whole logical state in a canonical form: no heap layout, no caches."""
    books = []
    for name in sorted(ex.books):
        book = ex.books[name]
        books.append(
            [name, book.last, [o.id for o in book.bids.orders()], [o.id for o in book.asks.orders()]]
        )
    orders = sorted((o.canonical() for a in ex.accounts for o in a.orders.values()), key=lambda t: int(t[0]))
    return [
        ex.now,
        ex.next_order_id,
        ex.next_trade_id,
        [a.canonical() for a in ex.accounts],
        orders,
        books,
        sorted((owner, v.canonical()) for owner, v in ex.volumes.items()),
        ex.fees.canonical(),
        sorted(ex.deposits.items()),
        sorted(ex.withdrawals.items()),
        _rng_state(ex),
    ]


def _rng_state(ex: Exchange) -> list[Any]:
    version, internal, gauss = ex.rng.getstate()
    return [version, list(internal), gauss]


def state_hash(ex: Exchange) -> str:
    """sha256 of the canonical form's repr (ints, strings, None, bools, lists and tuples only, so
    the text is the same on every run and machine)."""
    return hashlib.sha256(repr(canonical(ex)).encode()).hexdigest()


def discrepancies(ex: Exchange) -> dict[str, int]:
    """Per coin: balances + fee revenue - (deposits - withdrawals), with the futures cost basis
    taken from USD (so unrealized PnL counts at any mark). All zero while money is conserved."""
    out: dict[str, int] = {}
    for acct in ex.accounts:
        for coin, atoms in acct.balances.items():
            out[coin] = out.get(coin, 0) + atoms
        for pos in acct.positions.values():
            out[USD] = out.get(USD, 0) - pos.cost
    for coin, atoms in ex.fees.totals.items():
        out[coin] = out.get(coin, 0) + atoms
    for coin, atoms in ex.deposits.items():
        out[coin] = out.get(coin, 0) - atoms
    for coin, atoms in ex.withdrawals.items():
        out[coin] = out.get(coin, 0) + atoms
    return {coin: v for coin, v in out.items() if v}
