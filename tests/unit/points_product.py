"""A test-only product that proves the seam: a loyalty "points" coin (PTS) issued against USD.

- `IssuePoints` (code 9000): the account pays `amount` USD atoms into the product's reserve pool
  and receives `amount` PTS atoms, minted.
- `RedeemPoints` (code 9001): burns `amount` PTS of the account's and pays the USD back from the
  reserve.
- on every Tick: counts the ticks; at each new hour mints one bonus point to the lowest account id
  holding PTS (unbacked: the supply says so).
- on liquidation: the account's points are forfeited (burned) and the account noted.

Nothing in the core was edited to add it: it is built with `products.exchange(products=...)`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from backstop.catalog import USD
from backstop.engine import ledger
from backstop.engine.accounts import Account
from backstop.engine.events import Event, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.ledger import Moves
from backstop.engine.product import Handler

PTS = "PTS"
POOL = "points reserve"
HOUR_US = 3_600 * 1_000_000


class IssuePoints(NamedTuple):
    ts: int
    account: int
    amount: int


class RedeemPoints(NamedTuple):
    ts: int
    account: int
    amount: int


class PointsIssued(NamedTuple):
    account: int
    amount: int
    ts: int


class PointsForfeited(NamedTuple):
    account: int
    amount: int
    ts: int


class Points:
    name = "points"
    code_base = 9_000
    coins = (PTS,)

    def __init__(self) -> None:
        self.ticks = 0
        self.hour = -1
        self.bonuses = 0
        self.forfeited: list[tuple[int, int]] = []  # (account, atoms)
        self.seen_ticks: list[int] = []  # the ts of each tick hook call (the tests read it)
        self.liquidations: list[tuple[int, int]] = []  # (account, its open orders then): for tests

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {0: (IssuePoints, issue), 1: (RedeemPoints, redeem)}

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        self.ticks += 1
        self.seen_ticks.append(ts)
        hour = ts // HOUR_US
        if hour == self.hour:
            return
        self.hour = hour
        holders = [a.id for a in ex.accounts if a.balance(PTS) > 0]
        if holders:
            ledger.must(ex, Moves().mint(PTS, 1).pay(holders[0], PTS, 1), ts, events)
            self.bonuses += 1

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        self.liquidations.append((account.id, len(account.orders)))
        held = account.balance(PTS)
        if held > 0:
            ledger.must(ex, Moves().pay(account.id, PTS, -held).burn(PTS, held), ts, events)
            self.forfeited.append((account.id, held))
            events.append(PointsForfeited(account.id, held, ts))

    def canonical(self) -> Any:
        return [self.ticks, self.hour, self.bonuses, list(self.forfeited)]

    def restore(self, state: Any) -> None:
        self.ticks, self.hour, self.bonuses, forfeited = state
        self.forfeited = [tuple(f) for f in forfeited]  # type: ignore[misc]


def issue(ex: Exchange, c: IssuePoints, ts: int) -> list[Event]:
    if c.amount <= 0:
        return [Rejected("Invalid parameter amount")]
    moves = Moves().pay(c.account, USD, -c.amount).pool(POOL, USD, c.amount).mint(PTS, c.amount)
    moves.pay(c.account, PTS, c.amount)
    events: list[Event] = [PointsIssued(c.account, c.amount, ts)]
    err = ledger.apply(ex, moves, ts, events, available=True)
    return [Rejected(err)] if err else events


def redeem(ex: Exchange, c: RedeemPoints, ts: int) -> list[Event]:
    if c.amount <= 0:
        return [Rejected("Invalid parameter amount")]
    if ex.pools.get(POOL, {}).get(USD, 0) < c.amount:
        return [Rejected("Not enough in the reserve")]
    moves = Moves().pay(c.account, PTS, -c.amount).burn(PTS, c.amount)
    moves.pool(POOL, USD, -c.amount).pay(c.account, USD, c.amount)
    err = ledger.apply(ex, moves, ts, [], available=True)
    return [Rejected(err)] if err else []


def product() -> Points:
    return Points()
