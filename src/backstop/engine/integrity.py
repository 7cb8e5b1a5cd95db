"""Proofs about the state: a canonical form and its hash, and the money-conservation check."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine.book import MARKET_STATE

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
        _risk_state(ex),
    ]


def _risk_state(ex: Exchange) -> list[Any]:
    """Prices, funding and expiry progress per market, the insurance fund and the BLPs. The
    at-risk index is left out: it is a cache (see risk.py)."""
    markets = [
        [book.market, *(_plain(getattr(book, name)) for name in MARKET_STATE)] for book in ex.book_list
    ]
    return [
        ex.clock,
        sorted(ex.index.items()),
        markets,
        ex.insurance.canonical(),
        [ex.backstops[a].canonical() for a in sorted(ex.backstops)],
        ex.next_trigger_id,
        [ex.conditionals[i].canonical() for i in sorted(ex.conditionals)],
        list(ex.closed_conditionals),
    ]


def _rng_state(ex: Exchange) -> list[Any]:
    version, internal, gauss = ex.rng.getstate()
    return [version, list(internal), gauss]


def _plain(value: Any) -> Any:
    """Dicts as sorted (key, value) lists and lists copied, so the form is canonical."""
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, list):
        return list(value)
    return value


def state_hash(ex: Exchange) -> str:
    """sha256 of the canonical form's repr (ints, strings, None, bools, lists and tuples only, so
    the text is the same on every run and machine)."""
    return hashlib.sha256(repr(canonical(ex)).encode()).hexdigest()


def discrepancies(ex: Exchange) -> dict[str, int]:
    """Per coin: balances + fee revenue + insurance fund - (deposits - withdrawals), with the
    futures cost basis taken from USD (so unrealized PnL counts at any mark, since positions sum
    to zero in every market). All zero while money is conserved."""
    out: dict[str, int] = {}
    usd = 0
    for acct in ex.accounts:
        usd += acct.usd
        for coin, atoms in acct.balances.items():
            out[coin] = out.get(coin, 0) + atoms
        for pos in acct.positions.values():
            usd -= pos.cost
    out[USD] = out.get(USD, 0) + usd
    for coin, atoms in ex.fees.totals.items():
        out[coin] = out.get(coin, 0) + atoms
    out[USD] = out.get(USD, 0) + ex.insurance.balance
    for coin, atoms in ex.deposits.items():
        out[coin] = out.get(coin, 0) - atoms
    for coin, atoms in ex.withdrawals.items():
        out[coin] = out.get(coin, 0) + atoms
    return {coin: v for coin, v in out.items() if v}


def solvency(ex: Exchange) -> dict[str, Any]:
    """The operator's solvency report: per coin, wallet balances + unrealized PnL (USD) + fee
    revenue + insurance fund against deposits - withdrawals. Anyone can recompute it from the
    journal; `balanced` is true only when every coin's difference is exactly zero."""
    from backstop.engine.margin import mark_of

    balances: dict[str, int] = {USD: sum(acct.usd for acct in ex.accounts)}
    for acct in ex.accounts:
        for coin, atoms in acct.balances.items():
            balances[coin] = balances.get(coin, 0) + atoms
    unrealized = 0
    for book in ex.book_list:
        mark = mark_of(book)
        for pos in book.holders.values():
            unrealized += pos.size * mark * book.info.tick_value - pos.cost
    coins = sorted(set(balances) | set(ex.deposits) | set(ex.withdrawals) | set(ex.fees.totals) | {USD})
    report: dict[str, Any] = {"coins": {}}
    balanced = True
    for coin in coins:
        held = balances.get(coin, 0)
        fees = ex.fees.totals.get(coin, 0)
        fund = ex.insurance.balance if coin == USD else 0
        upnl = unrealized if coin == USD else 0
        owed = ex.deposits.get(coin, 0) - ex.withdrawals.get(coin, 0)
        difference = held + upnl + fees + fund - owed
        balanced = balanced and difference == 0
        report["coins"][coin] = {
            "balances": held,
            "unrealizedPnl": upnl,
            "feeRevenue": fees,
            "insuranceFund": fund,
            "deposits": ex.deposits.get(coin, 0),
            "withdrawals": ex.withdrawals.get(coin, 0),
            "difference": difference,
        }
    report["balanced"] = balanced
    report["difference"] = report["coins"][USD]["difference"]
    return report
