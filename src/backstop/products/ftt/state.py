"""What FTT's product keeps, with its canonical form and restore in one place.

Balances are not here: staked FTT and FTT waiting out its unstake lock are in the ledger's pool
`ftt:staked` (counted by the conservation check and the solvency report, not by any account's
collateral); fee revenue owed to the burn in the pool `ftt:burn`. The fee adjustment each owner has
is the engine's (`fees.Volume`, hashed with it). Kept here: each account's stake, the unstake
requests waiting, the id counters, the minute the holding discounts were last recomputed, the
burn's progress (the last day accrued, and what it moved out of the fee ledger on days not yet
accrued, burn.py); the buying and burning under way (burn_buying.py) and the stake-time and fund
accounting of the shared insurance-fund gains (gains.py), each with its own canonical form; and
each referred owner's referrer (referrals.py; the taker fees it pays are counted by the engine, in
its `fees.Volume`; the FTT collateral switch is the engine's too, `Account.excluded`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from backstop.products.ftt.burn_buying import BuyingState
from backstop.products.ftt.gains import GainsState

REFERRALS = "referrals"
TAGS = (REFERRALS,)
"""Names of the optional sections that end the canonical form (FttState._tagged)."""


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
        self.burn_day = -1  # the last day whose fee revenue was accrued to the burn
        self.burn_checked = -1  # the day of the last Tick that looked for days to accrue
        self.burn_moved: dict[int, dict[str, int]] = {}  # day -> coin -> moved out of the fees that day
        self.referrers: dict[str, str] = {}  # referred owner -> its referrer (referrals.py), set once
        self.buying = BuyingState()
        self.gains = GainsState()

    def canonical(self) -> list[Any]:
        return [
            self.next_stake,
            self.next_request,
            self.minute,
            sorted(self.stakes.items()),
            [list(r) for _, r in sorted(self.requests.items())],
            self.burn_day,
            self.burn_checked,
            [[day, sorted(moved.items())] for day, moved in sorted(self.burn_moved.items())],
            self.buying.canonical(),
            self.gains.canonical(),
            *self._tagged(),
        ]

    def _tagged(self) -> list[Any]:
        """Optional sections after the fixed fields, each [name, form], present only when not empty
        (so a state without them hashes as before): the referrals."""
        if self.referrers:
            return [[REFERRALS, sorted(self.referrers.items())]]
        return []

    def restore(self, form: list[Any]) -> None:
        tagged: dict[str, Any] = {}
        while form and isinstance(form[-1], list) and form[-1] and form[-1][0] in TAGS:
            tagged[form[-1][0]] = form[-1][1]
            form = form[:-1]
        self.referrers = dict(tagged.get(REFERRALS, ()))
        self.next_stake, self.next_request, self.minute, stakes, requests = form[:5]
        self.burn_day, self.burn_checked, moved = form[5:8]
        self.buying = BuyingState()
        self.gains = GainsState()
        if len(form) > 8:
            self.buying.restore(form[8])
            self.gains.restore(form[9])
        else:  # a form from before the buying and the gains: the fund's history from the next Tick on
            self.gains.seen = -1
        self.burn_moved = {day: dict(coins) for day, coins in moved}
        self.stakes = dict(stakes)
        self.requests = {r[0]: UnstakeRequest(*r) for r in sorted(requests)}
