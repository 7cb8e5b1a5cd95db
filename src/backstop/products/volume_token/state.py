"""What the volume token keeps, with its canonical form and restore in one place.

Balances are not here: they are the engine's, in shares (engine/exchange.py `set_units`); the units
themselves (shares per atom) are the engine's too (`Exchange.units`), hashed with its ledger. The
pool's reserves are the ledger's pool `params.POOL`. Kept here: the nominal supply and the policy,
the rebase schedule (the interval being served, its drawn second, whether it is done), the pool's
LP shares, its cumulative price and the minute observations the TWAP reads.
"""

from __future__ import annotations

from typing import Any

NOT_ISSUED = -1


class VolumeState:
    __slots__ = (
        "cum",
        "cum_ts",
        "divisor",
        "done",
        "due",
        "epoch",
        "issuer",
        "lag",
        "last_rebase",
        "lp",
        "lp_total",
        "next_id",
        "observations",
        "period",
        "pool_since",
        "supply",
        "threshold",
    )

    def __init__(self, threshold: int, lag: int) -> None:
        self.issuer = NOT_ISSUED  # the account the supply was minted to (NOT_ISSUED: not yet)
        self.supply = 0  # nominal supply, atoms
        self.divisor = 0
        self.threshold = threshold  # the policy's two adjustable rates (SetVolumePolicy)
        self.lag = lag
        self.epoch = 0  # rebases so far
        self.last_rebase = 0  # ts of the last rebase (0: none)
        self.period = -1  # the rebase interval being served (ts // interval)
        self.due = 0  # its drawn rebase time, us
        self.done = True  # its rebase has happened (or was skipped)
        self.lp_total = 0  # LP shares outstanding, the locked minimum included
        self.lp: dict[int, int] = {}  # account -> LP shares
        self.next_id = 1  # ids of swaps and liquidity changes
        self.cum = 0  # cumulative price at cum_ts (oracle.py)
        self.cum_ts = 0
        self.pool_since = -1  # since when the pool has held both coins without a break (-1: empty)
        self.observations: list[tuple[int, int]] = []  # (ts, cumulative), one per minute, oldest first

    @property
    def issued(self) -> bool:
        return self.issuer != NOT_ISSUED

    def canonical(self) -> list[Any]:
        return [
            self.issuer,
            self.supply,
            self.divisor,
            self.threshold,
            self.lag,
            self.epoch,
            self.last_rebase,
            self.period,
            self.due,
            self.done,
            self.lp_total,
            sorted(self.lp.items()),
            self.next_id,
            self.cum,
            self.cum_ts,
            self.pool_since,
            [list(o) for o in self.observations],
        ]

    def restore(self, form: list[Any]) -> None:
        (
            self.issuer,
            self.supply,
            self.divisor,
            self.threshold,
            self.lag,
            self.epoch,
            self.last_rebase,
            self.period,
            self.due,
            self.done,
            self.lp_total,
            lp,
            self.next_id,
            self.cum,
            self.cum_ts,
            self.pool_since,
            observations,
        ) = form
        self.lp = {account: shares for account, shares in lp}
        self.observations = [(ts, cum) for ts, cum in observations]
