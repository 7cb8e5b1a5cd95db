"""The insurance fund, published from its own ledger, and the clawback behind it.

Every movement is an event with a reason (the FTX trial showed a displayed fund computed from
volume x a random number: here the balance is the sum of its history, nothing else). When a
payment is larger than the fund, the shortfall is first clawed back from profitable accounts:
under the FTX model from positions that gain on the market where the loss arose (the winners of
that move), under the OKEx model from every account with unrealized profit. Only if even they
cannot cover it does the fund go below zero, and the solvency report shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.engine.accounts import Account
from backstop.engine.amounts import ceil_div
from backstop.engine.events import ClawedBack, Event, InsuranceFundChanged
from backstop.engine.margin import mark_of

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange


class InsuranceFund:
    def __init__(self) -> None:
        self.balance = 0  # USD atoms
        self.history: list[tuple[int, int, int, str, int]] = []  # (ts, change, balance, reason, account)

    def canonical(self) -> list[object]:
        return [self.balance, list(self.history)]


def move(
    ex: Exchange, change: int, reason: str, account: int, market: str, ts: int, events: list[Event]
) -> None:
    """Credit (or, negative, debit) the fund; a debit it cannot cover is clawed back first from
    the winners on `market` ("" for all markets)."""
    if not change:
        return
    fund = ex.insurance
    if change < 0 and fund.balance + change < 0:
        clawback(ex, -(fund.balance + change), market, account, ts, events)
    fund.balance += change
    fund.history.append((ts, change, fund.balance, reason, account))
    events.append(InsuranceFundChanged(change, fund.balance, reason, account, ts))


def _winners(ex: Exchange, market: str, bankrupt: int) -> list[tuple[Account, int]]:
    """(account, unrealized profit) of the accounts the shortfall is taken from."""
    out: list[tuple[Account, int]] = []
    if ex.catalog.risk.model == "okex" or not market:
        for acct in ex.accounts:
            if acct.id == bankrupt or acct.liquidation:
                continue
            profit = 0
            for pos in acct.positions.values():
                if pos.size:
                    profit += pos.size * mark_of(pos.book) * pos.book.info.tick_value - pos.cost
            if profit > 0:
                out.append((acct, profit))
        return out
    book = ex.books[market]
    mark = mark_of(book)
    for aid in sorted(book.holders):
        acct = ex.accounts[aid]
        if aid == bankrupt or acct.liquidation:
            continue
        pos = book.holders[aid]
        profit = pos.size * mark * book.info.tick_value - pos.cost
        if profit > 0:
            out.append((acct, profit))
    return out


def clawback(ex: Exchange, amount: int, market: str, bankrupt: int, ts: int, events: list[Event]) -> None:
    """Take `amount` USD atoms into the fund from profitable accounts, pro rata to their profit
    (rounded up, so the fund never ends short by rounding), each at most its profit."""
    winners = _winners(ex, market, bankrupt)
    total = sum(p for _, p in winners)
    if not total:
        return
    fund = ex.insurance
    for acct, profit in winners:
        take = profit if total <= amount else min(profit, ceil_div(amount * profit, total))
        if not take:
            continue
        acct.credit(USD, -take)
        ex.dirty.add(acct.id)
        fund.balance += take
        fund.history.append((ts, take, fund.balance, "clawback", acct.id))
        events.append(ClawedBack(acct.id, take, market, ts))
        events.append(InsuranceFundChanged(take, fund.balance, "clawback", acct.id, ts))
