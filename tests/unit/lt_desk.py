"""A Desk (engine_kit) on an exchange with the leveraged-token product, recording every command it
applies (for journal replays) and every event."""

from __future__ import annotations

from typing import Any

from engine_kit import Desk, usd

from backstop import products
from backstop.engine.amounts import ATOM
from backstop.engine.events import Rejected
from backstop.products.leveraged_tokens.basket import totals
from backstop.products.leveraged_tokens.commands import CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.nav import TokenTotals, nav_total
from backstop.products.leveraged_tokens.product import LeveragedTokens

PERP = "ETH-PERP"
HOUR = 3_600 * 1_000_000
DAY = 24 * HOUR
NOON = 12 * HOUR


class RecordingDesk(Desk):
    """A Desk on an exchange with `chosen` products; `sent` holds every command applied, `events`
    every event (the desks of the products' tests: lt, otc, ftt)."""

    def __init__(self, start_ts: int, seed: int, chosen: tuple[Any, ...]) -> None:
        super().__init__(start_ts=start_ts)
        self.ex = products.exchange(seed=seed, products=chosen)
        self.markets = self.ex.catalog.markets
        self.sent: list[Any] = []
        self.events: list[Any] = []

    def record(self, command: Any) -> list[Any]:
        """Apply `command`, noting it and its events (the compiled Exchange's `apply` cannot be
        wrapped, so the desk's own paths record)."""
        self.sent.append(command)
        events = self.ex.apply(command)
        self.events.extend(events)
        return events

    def apply(self, command: tuple) -> list:
        return self.record(command)

    def ok(self, command: tuple) -> list:
        events = self.record(command)
        assert not (events and isinstance(events[0], Rejected)), events
        return events

    def reject(self, command: tuple, error: str) -> None:
        before = self.ex.state_hash()
        events = self.record(command)
        assert events == [Rejected(error)], events
        assert self.ex.state_hash() == before

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class LtDesk(RecordingDesk):
    """One exchange with the leveraged tokens; `sent` holds every command applied, `events` every
    event."""

    def __init__(self, start_ts: int = NOON, seed: int = 0) -> None:
        self.lt = LeveragedTokens()
        super().__init__(start_ts, seed, (self.lt,))

    def create(self, account: int, token: str, size: str | int) -> list:
        return self.ok(CreateLeveragedToken(self.tick(), account, token, usd(size)))

    def redeem(self, account: int, token: str, size: str | int) -> list:
        return self.ok(RedeemLeveragedToken(self.tick(), account, token, usd(size)))

    def totals(self, token: str) -> TokenTotals:
        return totals(self.ex, self.lt.tokens[token], self.lt.state.tokens[token])

    def token_account(self, token: str) -> int:
        account = self.lt.account_of(token)
        assert account is not None
        return account

    def nav(self, token: str) -> int:
        """The token's total NAV at its perp's mark, USD atoms."""
        perp = self.lt.tokens[token].perp
        mark = self.ex.mark(perp)
        assert mark is not None
        return nav_total(self.totals(token), self.markets[perp], mark)

    def nav_per_token(self, token: str) -> int:
        t = self.totals(token)
        return self.nav(token) * ATOM // t.supply

    def quote(self, mm: int, market: str, bid: str | int, ask: str | int, size: str | int) -> None:
        """Replace `mm`'s quotes in `market` by one bid and one ask of `size`."""
        self.cancel_all(mm, market)
        self.rest(mm, market, "buy", size, bid)
        self.rest(mm, market, "sell", size, ask)

    def until(self, ts: int, step: int = 1_000_000) -> list:
        """Tick every `step` microseconds up to `ts`; the events."""
        from backstop.engine.commands import Tick

        out: list = []
        while self.ts + step <= ts:
            self.ts = (self.ts // step + 1) * step
            out += self.ok(Tick(self.ts))
        return out
