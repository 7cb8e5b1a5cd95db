"""The insurance fund, published from its own ledger, and the clawback behind it.

Every movement is an event with a reason (the FTX trial showed a displayed fund computed from
volume x a random number: here the balance is the sum of its history, nothing else; every change
goes through the ledger, ledger.py). When payments exceed the fund, the shortfall is clawed back at
the end of the tick from profitable accounts: under the FTX model from positions that gain on the
market where the loss arose (the winners of that move), under the OKEx model from every account
with unrealized profit. Only if even they cannot cover it does the fund go below zero, and the
solvency report shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.accounts import Account
from backstop.engine.amounts import ceil_div
from backstop.engine.events import ClawedBack, Event, InsuranceFundChanged
from backstop.engine.ledger import Moves
from backstop.engine.margin import mark_of

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange


Movement = tuple[int, int, int, str, int]
"""One movement of the fund as its history answers it: (ts, change, balance, reason, account)."""


class FundHistory:
    """The fund's movements, oldest first, read as `Movement` tuples (index, slice, iteration,
    len). Kept as the `InsuranceFundChanged` events the ledger published for them, which hold
    the same five numbers as fields: a cascade moves the fund once per transfer, and a tuple of
    five Python objects per movement was a tenth of its cost in the compiled engine (issue 17).
    The events are never changed once made, so keeping them is keeping the numbers."""

    __slots__ = ("changes",)

    def __init__(self) -> None:
        self.changes: list[InsuranceFundChanged] = []

    def add(self, change: InsuranceFundChanged) -> None:
        self.changes.append(change)

    def __len__(self) -> int:
        return len(self.changes)

    def at(self, i: int) -> Movement:
        e = self.changes[i]
        return (e.ts, e.change, e.balance, e.reason, e.account)

    def __getitem__(self, i: int) -> Movement:
        return self.at(i)

    def between(self, start: int, stop: int) -> list[Movement]:
        """The movements [start, stop) (Python's slice rules for negative or large bounds)."""
        return [(e.ts, e.change, e.balance, e.reason, e.account) for e in self.changes[start:stop]]

    def last(self, count: int) -> list[Movement]:
        """The latest `count` movements (none when `count` <= 0)."""
        if count <= 0:
            return []
        held = len(self.changes)
        return self.between(held - count if count < held else 0, held)

    def __iter__(self) -> Iterator[Movement]:
        return iter(self.between(0, len(self.changes)))

    @staticmethod
    def of(movements: Iterable[Sequence[Any]]) -> FundHistory:
        """A history holding `movements` ((ts, change, balance, reason, account) each)."""
        history = FundHistory()
        for ts, change, balance, reason, account in movements:
            history.add(InsuranceFundChanged(change, balance, reason, account, ts))
        return history


class InsuranceFund:
    def __init__(self) -> None:
        self.balance = 0  # USD atoms
        self.history = FundHistory()

    def canonical(self) -> list[object]:
        return [self.balance, list(self.history)]


def settle_shortfall(ex: Exchange, ts: int, events: list[Event]) -> None:
    """Claw back what the fund is short by, market by market, from that market's winners."""
    shortfall = ex.shortfall
    if not shortfall:
        return
    ex.shortfall = {}
    for market in sorted(shortfall):
        needed = -ex.insurance.balance
        if needed <= 0:
            break
        clawback(ex, min(needed, shortfall[market]), market, -1, ts, events)


def _winners(ex: Exchange, market: str, bankrupt: int) -> list[tuple[Account, int]]:
    """(account, unrealized profit) of the accounts the shortfall is taken from."""
    out: list[tuple[Account, int]] = []
    if ex.catalog.risk.model == "okex" or not market:
        # an account without a position has no profit: only the holders of some market are looked
        # at, in id order (as a pass over every account took them), not the whole exchange
        ids: set[int] = set()
        for held in ex.book_list:
            if held.holders:
                ids.update(held.holders)
        accounts = ex.accounts
        for aid in sorted(ids):
            acct = accounts[aid]
            if aid == bankrupt or acct.liquidation:
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
    for acct, profit in winners:
        take = profit if total <= amount else min(profit, ceil_div(amount * profit, total))
        if not take:
            continue
        events.append(ClawedBack(acct.id, take, market, ts))
        ledger.must(
            ex, Moves().pay(acct.id, USD, -take).to_fund(take, "clawback", acct.id, market), ts, events
        )
