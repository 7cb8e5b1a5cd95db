"""Proofs about the state: a canonical form and its hash, and the money-conservation check."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine import state

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange


def canonical(ex: Exchange) -> list[Any]:
    """The whole logical state in a canonical form (state.py: each part defines its own)."""
    return state.canonical(ex)


def state_hash(ex: Exchange) -> str:
    """sha256 of the canonical form's repr (ints, strings, None, bools, lists and tuples only, so
    the text is the same on every run and machine)."""
    return hashlib.sha256(repr(canonical(ex)).encode()).hexdigest()


def discrepancies(ex: Exchange) -> dict[str, int]:
    """Per coin: balances + fee revenue + insurance fund + pools - supply - (deposits -
    withdrawals), with the futures cost basis taken from USD (so unrealized PnL counts at any mark,
    since positions sum to zero in every market). All zero while money is conserved. The supply
    (minted - burned) and pools are the ledger's, for any coin: a product's coin or reserve is
    covered without this knowing the product."""
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
    for held in ex.pools.values():
        for coin, atoms in held.items():
            out[coin] = out.get(coin, 0) + atoms
    for coin, atoms in ex.supply.items():
        out[coin] = out.get(coin, 0) - atoms
    for coin, atoms in ex.deposits.items():
        out[coin] = out.get(coin, 0) - atoms
    for coin, atoms in ex.withdrawals.items():
        out[coin] = out.get(coin, 0) + atoms
    return {coin: v for coin, v in out.items() if v}


def solvency(ex: Exchange) -> dict[str, Any]:
    """The operator's solvency report: per coin, wallet balances + unrealized PnL (USD) + fee
    revenue + insurance fund + pools (product reserves) against deposits - withdrawals + supply
    (atoms a product minted and has not burned: owed to their holders, backed by nothing outside).
    Anyone can recompute it from the journal; `balanced` is true only when every coin's difference
    is exactly zero."""
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
    pools: dict[str, int] = {}
    for pool in ex.pools.values():
        for coin, atoms in pool.items():
            pools[coin] = pools.get(coin, 0) + atoms
    coins = sorted(
        set(balances)
        | set(ex.deposits)
        | set(ex.withdrawals)
        | set(ex.fees.totals)
        | set(ex.supply)
        | set(pools)
        | {USD}
    )
    report: dict[str, Any] = {"coins": {}}
    balanced = True
    for coin in coins:
        held = balances.get(coin, 0)
        fees = ex.fees.totals.get(coin, 0)
        fund = ex.insurance.balance if coin == USD else 0
        upnl = unrealized if coin == USD else 0
        pooled = pools.get(coin, 0)
        supply = ex.supply.get(coin, 0)
        owed = ex.deposits.get(coin, 0) - ex.withdrawals.get(coin, 0) + supply
        difference = held + upnl + fees + fund + pooled - owed
        balanced = balanced and difference == 0
        report["coins"][coin] = {
            "balances": held,
            "unrealizedPnl": upnl,
            "feeRevenue": fees,
            "insuranceFund": fund,
            "pools": pooled,
            "supply": supply,
            "deposits": ex.deposits.get(coin, 0),
            "withdrawals": ex.withdrawals.get(coin, 0),
            "difference": difference,
        }
        if coin in ex.units:  # held in shares (Exchange.set_units): every figure above is in shares
            report["coins"][coin]["sharesPerAtom"] = ex.units[coin]
    report["balanced"] = balanced
    report["difference"] = report["coins"][USD]["difference"]
    return report
