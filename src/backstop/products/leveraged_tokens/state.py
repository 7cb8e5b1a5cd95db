"""What the product keeps, per token and per perp, with its canonical form and restore in one place.

Balances, positions and supply are not here: they are the engine's (the token's account, the
ledger's supply). Kept here: which account is the token's, the management fee's accrual point, the
day's drawn rebalance start, the rebalance under way, the liquidations noted, request and rebalance
ids, and each perp's minute samples of traded volume (the slicing's recent volume).
"""

from __future__ import annotations

from typing import Any

NO_ACCOUNT = -1


class Rebalance:
    """A rebalance under way: `lots` (signed) planned at `mark`, `filled` so far, the next child's time."""

    __slots__ = ("children", "filled", "id", "kind", "lots", "mark", "next_ts", "started")

    def __init__(self, id: int, kind: str, lots: int, mark: int, started: int) -> None:
        self.id = id
        self.kind = kind  # "daily" | "intraday"
        self.lots = lots
        self.mark = mark
        self.started = started
        self.filled = 0
        self.children = 0
        self.next_ts = started

    def canonical(self) -> list[Any]:
        return [
            self.id,
            self.kind,
            self.lots,
            self.mark,
            self.started,
            self.filled,
            self.children,
            self.next_ts,
        ]

    @classmethod
    def restored(cls, form: list[Any]) -> Rebalance:
        rid, kind, lots, mark, started, filled, children, next_ts = form
        out = cls(rid, kind, lots, mark, started)
        out.filled, out.children, out.next_ts = filled, children, next_ts
        return out


class TokenState:
    """One token's engine-side state."""

    __slots__ = ("account", "active", "day", "fee_ts", "liquidations", "start")

    def __init__(self) -> None:
        self.account = NO_ACCOUNT  # its ordinary account, once opened
        self.fee_ts = 0  # the management fee is accrued up to here (0: not yet started)
        self.day = -1  # the day whose rebalance start has been drawn
        self.start = 0  # that start (0 once begun or when none is due)
        self.active: Rebalance | None = None
        self.liquidations = 0  # times its account entered liquidation

    def canonical(self) -> list[Any]:
        active = None if self.active is None else self.active.canonical()
        return [self.account, self.fee_ts, self.day, self.start, active, self.liquidations]

    def restore(self, form: list[Any]) -> None:
        self.account, self.fee_ts, self.day, self.start, active, self.liquidations = form
        self.active = None if active is None else Rebalance.restored(active)


class ProductState:
    """Everything the product keeps: per token, per perp, and its id counters."""

    def __init__(self, names: list[str], perps: list[str]) -> None:
        self.tokens: dict[str, TokenState] = {name: TokenState() for name in names}
        self.volume: dict[str, list[tuple[int, int]]] = {perp: [] for perp in perps}  # (minute, cumulative)
        self.next_request = 1
        self.next_rebalance = 1

    def canonical(self) -> list[Any]:
        return [
            self.next_request,
            self.next_rebalance,
            [[name, st.canonical()] for name, st in sorted(self.tokens.items())],
            [[perp, [list(s) for s in samples]] for perp, samples in sorted(self.volume.items())],
        ]

    def restore(self, form: list[Any]) -> None:
        self.next_request, self.next_rebalance, tokens, volume = form
        for name, st in tokens:
            self.tokens[name].restore(st)
        for perp, samples in volume:
            self.volume[perp] = [(minute, cumulative) for minute, cumulative in samples]
