"""Backstop liquidity providers: accounts that take over positions in auto-close (step 2).

A BLP declares how much notional (USD) it will absorb per minute and per hour; allocation is pro
rata to each one's remaining capacity in both windows. It is an ordinary account otherwise: it
is margined, and liquidated, like anyone, and it receives nothing while it is being liquidated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from backstop.engine import errors
from backstop.engine.commands import RegisterBackstop
from backstop.engine.events import BackstopRegistered, Event, Rejected
from backstop.engine.margin import collateral

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange

MINUTE_US: Final = 60 * 1_000_000
HOUR_US: Final = 60 * MINUTE_US
SORT_ABOVE: Final = 8  # allocate: lots left over past which a sort beats picking them one by one


class Backstop:
    """Capacity is tracked as running per-minute and per-hour totals over the transfers taken,
    so each allocation costs O(1) however many liquidations came before."""

    def __init__(self, account: int, per_minute: int, per_hour: int) -> None:
        self.account = account
        self.per_minute = per_minute  # USD atoms of notional
        self.per_hour = per_hour
        self.used: list[tuple[int, int]] = []  # (ts, notional taken), oldest first
        self.hour_start = 0  # first entry of `used` inside the last hour
        self.minute_start = 0  # first entry inside the last minute
        self.hour_total = 0
        self.minute_total = 0

    def remaining(self, ts: int) -> int:
        used = self.used
        minute_ago = ts - MINUTE_US
        while self.minute_start < len(used) and used[self.minute_start][0] <= minute_ago:
            self.minute_total -= used[self.minute_start][1]
            self.minute_start += 1
        hour_ago = ts - HOUR_US
        while self.hour_start < len(used) and used[self.hour_start][0] <= hour_ago:
            self.hour_total -= used[self.hour_start][1]
            self.hour_start += 1
        if self.hour_start > 1024 and 2 * self.hour_start > len(used):
            del used[: self.hour_start]
            self.minute_start -= self.hour_start
            self.hour_start = 0
        left = min(self.per_minute - self.minute_total, self.per_hour - self.hour_total)
        return left if left > 0 else 0

    def take(self, ts: int, notional: int) -> None:
        self.used.append((ts, notional))
        self.minute_total += notional
        self.hour_total += notional

    def canonical(self) -> tuple[object, ...]:
        return (self.account, self.per_minute, self.per_hour, self.used[self.hour_start :])


def register(ex: Exchange, c: RegisterBackstop, ts: int) -> list[Event]:
    acct = ex.account(c.account)
    if acct is None:
        return [Rejected(errors.NO_SUCH_SUBACCOUNT)]
    if c.per_minute == 0 and c.per_hour == 0:
        ex.backstops.pop(acct.id, None)
        return [BackstopRegistered(acct.id, 0, 0, ts)]
    terms = ex.catalog.risk
    if c.per_minute < terms.backstop_min_per_minute:
        return [Rejected("Invalid parameter perMinute")]
    if c.per_hour < terms.backstop_min_per_hour or c.per_hour < c.per_minute:
        return [Rejected("Invalid parameter perHour")]
    if collateral(ex, acct, initial=False) < terms.backstop_min_collateral:
        return [Rejected(errors.NOT_ENOUGH_BALANCES)]
    found = ex.backstops.get(acct.id)
    if found is None:
        ex.backstops[acct.id] = Backstop(acct.id, c.per_minute, c.per_hour)
    else:
        found.per_minute = c.per_minute
        found.per_hour = c.per_hour
    return [BackstopRegistered(acct.id, c.per_minute, c.per_hour, ts)]


def allocate(lots: int, weights: list[int]) -> list[int]:
    """Split `lots` pro rata to `weights` (largest remainder, ties to the earlier entry).

    Each share's floor and remainder come from one product and one divmod (lots x weight is a
    big int in the compiled engine for capacities in USD atoms), the last share's from the others'
    remainders, without a product; the few lots left over (fewer than the weights) go one by one
    to the largest remainder not yet served, the earlier entry first on a tie, which is the order
    a sort by (-remainder, index) gives: a cascade allocates on every auto-close, and sorting with
    a key per call cost more than the split itself."""
    total = 0
    for w in weights:
        total += w
    count = len(weights)
    if not total:
        return [0] * count
    shares: list[int] = []
    remainders: list[int] = []
    given = 0
    held = 0
    last = count - 1
    for i in range(last):
        share, remainder = divmod(lots * weights[i], total)
        shares.append(share)
        remainders.append(remainder)
        given += share
        held += remainder
    # the last share without its product: the products sum to lots x total, so the remainders
    # sum to (lots - shares given) x total, a multiple of total, and the last one is below total
    remainder = -held % total
    left = (held + remainder) // total
    shares.append(lots - given - left)
    remainders.append(remainder)
    if left > SORT_ABOVE:
        for i in _largest_first(remainders)[:left]:
            shares[i] += 1
        return shares
    while left > 0:
        best = 0
        most = -1
        for i in range(count):
            r = remainders[i]
            if r > most:
                most = r
                best = i
        shares[best] += 1
        remainders[best] = -1  # served
        left -= 1
    return shares


def _largest_first(remainders: list[int]) -> list[int]:
    """The indexes of `remainders`, the largest first, the earlier first on a tie."""
    return sorted(range(len(remainders)), key=lambda i: (-remainders[i], i))
