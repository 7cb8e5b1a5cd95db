"""What FTT's product keeps, with its canonical form and restore in one place.

Balances are not here: staked FTT and FTT waiting out its unstake lock are in the ledger's pool
`ftt:staked` (counted by the conservation check and the solvency report, not by any account's
collateral). The fee adjustment each owner has is the engine's (`fees.Volume`, hashed with it).
Kept here: each account's stake, the unstake requests waiting, the id counters and the minute the
holding discounts were last recomputed.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class UnstakeRequest(NamedTuple):
    id: int
    account: int
    size: int  # FTT atoms
    ts: int  # when it was asked for
    unlocks: int  # ts + the lock


class FttState:
    def __init__(self) -> None:
        self.stakes: dict[int, int] = {}  # account id -> FTT atoms staked (absent: none)
        self.requests: dict[int, UnstakeRequest] = {}  # by id; ids rise with time, so by unlock
        self.next_stake = 1
        self.next_request = 1
        self.minute = -1  # the refresh period (ts // refresh_us) holding discounts were last set in

    def canonical(self) -> list[Any]:
        return [
            self.next_stake,
            self.next_request,
            self.minute,
            sorted(self.stakes.items()),
            [list(r) for _, r in sorted(self.requests.items())],
        ]

    def restore(self, form: list[Any]) -> None:
        self.next_stake, self.next_request, self.minute, stakes, requests = form
        self.stakes = dict(stakes)
        self.requests = {r[0]: UnstakeRequest(*r) for r in sorted(requests)}
