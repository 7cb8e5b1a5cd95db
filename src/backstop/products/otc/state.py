"""What the OTC desk keeps, with its canonical form and restore in one place.

Balances and holds are not here: they are the engine's (a live quote's hold is the provider
account's `reserved`, as an open spot order's). Kept here: the quote lifetime, the providers, their
ladders (with the sequence that orders ties), the live quotes in id order (which is expiry order:
every quote lives the same time and time never runs backwards), and the recently closed quote ids.

And, only once asked to (`counting`, turned on by FTT's product for its OTC rebates,
products/ftt/otc_rebates.py), the USD notional of each requester owner's fills since the counts were
last taken (`notional`, handlers.usd_notional says how a fill is valued). An exchange without FTT
never counts: its canonical form is the 7 fields as before; with counting on, an 8th,
[NOTIONAL, sorted counts], ends it.
"""

from __future__ import annotations

from typing import Any

from backstop.products.otc.params import QUOTE_LIFETIME_US, RECENT_CLOSED

NOTIONAL = "notional"
FILLED = "filled"
EXPIRED = "expired"

Levels = tuple[tuple[int, int], ...]
"""A ladder side: (max size in base atoms, price in quote atoms per whole base), sizes increasing."""


class Ladder:
    """One provider's firm ladder for one pair; `seq` orders ties (the earliest ladder wins)."""

    __slots__ = ("account", "asks", "base", "bids", "quote", "seq")

    def __init__(self, account: int, base: str, quote: str, seq: int, bids: Levels, asks: Levels) -> None:
        self.account = account
        self.base = base
        self.quote = quote
        self.seq = seq
        self.bids = bids
        self.asks = asks

    def canonical(self) -> list[Any]:
        return [
            self.account,
            self.base,
            self.quote,
            self.seq,
            [list(level) for level in self.bids],
            [list(level) for level in self.asks],
        ]

    @classmethod
    def restored(cls, form: list[Any]) -> Ladder:
        account, base, quote, seq, bids, asks = form
        return cls(account, base, quote, seq, _levels(bids), _levels(asks))


def _levels(form: list[Any]) -> Levels:
    return tuple((size, price) for size, price in form)


class Quote:
    """A live quote. `pays` is the balance coin the requester pays (`cost`), `gets` the one it
    receives (`proceeds`): the provider's hold is `proceeds` of `gets`."""

    __slots__ = (
        "account",
        "base",
        "cost",
        "expiry",
        "from_coin",
        "gets",
        "id",
        "pays",
        "price",
        "proceeds",
        "provider",
        "quote",
        "side",
        "to_coin",
        "ts",
    )

    def __init__(
        self,
        id: int,
        account: int,
        provider: int,
        from_coin: str,
        to_coin: str,
        pays: str,
        gets: str,
        base: str,
        quote: str,
        side: str,
        price: int,
        cost: int,
        proceeds: int,
        expiry: int,
        ts: int,
    ) -> None:
        self.id = id
        self.account = account
        self.provider = provider
        self.from_coin = from_coin
        self.to_coin = to_coin
        self.pays = pays
        self.gets = gets
        self.base = base
        self.quote = quote
        self.side = side
        self.price = price
        self.cost = cost
        self.proceeds = proceeds
        self.expiry = expiry
        self.ts = ts

    def canonical(self) -> list[Any]:
        return [
            self.id,
            self.account,
            self.provider,
            self.from_coin,
            self.to_coin,
            self.pays,
            self.gets,
            self.base,
            self.quote,
            self.side,
            self.price,
            self.cost,
            self.proceeds,
            self.expiry,
            self.ts,
        ]

    @classmethod
    def restored(cls, form: list[Any]) -> Quote:
        return cls(*form)


class DeskState:
    """Everything the desk keeps. `live_count` (live quotes per requester) is derived, not state."""

    def __init__(self, lifetime_us: int = QUOTE_LIFETIME_US) -> None:
        self.lifetime_us = lifetime_us
        self.next_quote = 1
        self.next_ladder = 1
        self.providers: set[int] = set()
        self.ladders: dict[tuple[str, str], dict[int, Ladder]] = {}  # (base, quote) -> provider -> ladder
        self.live: dict[int, Quote] = {}  # by id, in id (and expiry) order
        self.closed: dict[int, tuple[int, str]] = {}  # id -> (requester, FILLED | EXPIRED), oldest first
        self.live_count: dict[int, int] = {}
        self.counting = False  # whether fills' USD notional is counted per requester owner
        self.notional: dict[str, int] = {}  # owner -> USD atoms filled as requester since the last take

    # -- changes kept consistent in one place ------------------------------------------------------

    def open(self, quote: Quote) -> None:
        self.live[quote.id] = quote
        self.live_count[quote.account] = self.live_count.get(quote.account, 0) + 1

    def close(self, quote: Quote, status: str) -> None:
        del self.live[quote.id]
        left = self.live_count[quote.account] - 1
        if left:
            self.live_count[quote.account] = left
        else:
            del self.live_count[quote.account]
        closed = self.closed
        closed[quote.id] = (quote.account, status)
        if len(closed) >= 2 * RECENT_CLOSED:  # trimmed in batches: cheap per quote
            for old in list(closed)[:RECENT_CLOSED]:
                del closed[old]

    # -- canonical form -----------------------------------------------------------------------------

    def canonical(self) -> list[Any]:
        return [
            self.lifetime_us,
            self.next_quote,
            self.next_ladder,
            sorted(self.providers),
            [
                self.ladders[pair][account].canonical()
                for pair in sorted(self.ladders)
                for account in sorted(self.ladders[pair])
            ],
            [quote.canonical() for quote in self.live.values()],
            [[qid, account, status] for qid, (account, status) in self.closed.items()],
            *self._counts(),
        ]

    def _counts(self) -> list[Any]:
        """The counting section, present only once counting is on (so a desk that never counts
        hashes as before)."""
        if not self.counting and not self.notional:
            return []
        return [[NOTIONAL, self.counting, sorted(self.notional.items())]]

    def restore(self, form: list[Any]) -> None:
        self.lifetime_us, self.next_quote, self.next_ladder, providers, ladders, live, closed = form[:7]
        self.counting = False
        self.notional = {}
        if len(form) > 7:
            _, counting, notional = form[7]
            self.counting = bool(counting)
            self.notional = dict(notional)
        self.providers = set(providers)
        self.ladders = {}
        for ladder_form in ladders:
            ladder = Ladder.restored(ladder_form)
            self.ladders.setdefault((ladder.base, ladder.quote), {})[ladder.account] = ladder
        self.live = {}
        self.live_count = {}
        for quote_form in live:
            self.open(Quote.restored(quote_form))
        self.closed = {qid: (account, status) for qid, account, status in closed}
