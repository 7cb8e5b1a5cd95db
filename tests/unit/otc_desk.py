"""A Desk (engine_kit) on an exchange with the enabled products' classes (leveraged tokens and the OTC
desk), recording every command it applies (for journal replays) and every event, with the desk's
commands in human units (coins and dollars)."""

from __future__ import annotations

from typing import Any

from engine_kit import usd
from lt_desk import RecordingDesk

from backstop.products.leveraged_tokens.product import LeveragedTokens
from backstop.products.otc.commands import AcceptOtcQuote, RegisterOtcProvider, RequestOtcQuote, SetOtcLadder
from backstop.products.otc.events import OtcQuoted
from backstop.products.otc.product import Otc

SECOND = 1_000_000


def ladder(*levels: tuple[str | int, str | int]) -> tuple[int, ...]:
    """A ladder side from (max size in coins, price in quote coins per whole base) pairs."""
    return tuple(v for size, price in levels for v in (usd(size), usd(price)))


class OtcDesk(RecordingDesk):
    """One exchange with the leveraged tokens and the OTC desk (its lifetime `lifetime_us`)."""

    def __init__(self, start_ts: int = 1_000 * SECOND, seed: int = 0, **otc: Any) -> None:
        self.otc = Otc(**otc)
        RecordingDesk.__init__(self, start_ts, seed, (LeveragedTokens(), self.otc))

    # -- the desk's commands ------------------------------------------------------------------------

    def provider(self, owner: str, usd_amount: str | int = 0, **coins: str | int) -> int:
        account = self.account(owner, "", usd_amount, **coins)
        self.ok(RegisterOtcProvider(self.tick(), account))
        return account

    def ladder(self, account: int, base: str, quote: str, bids=(), asks=()) -> list:
        return self.ok(SetOtcLadder(self.tick(), account, base, quote, ladder(*bids), ladder(*asks)))

    def request_cmd(self, account: int, from_coin: str, to_coin: str, size: str | int) -> RequestOtcQuote:
        return RequestOtcQuote(self.tick(), account, from_coin, to_coin, usd(size))

    def request(self, account: int, from_coin: str, to_coin: str, size: str | int) -> OtcQuoted:
        (quoted,) = self.ok(self.request_cmd(account, from_coin, to_coin, size))
        assert isinstance(quoted, OtcQuoted)
        return quoted

    def accept_cmd(self, account: int, quote_id: int) -> AcceptOtcQuote:
        return AcceptOtcQuote(self.tick(), account, quote_id)

    def accept(self, account: int, quote_id: int) -> list:
        return self.ok(self.accept_cmd(account, quote_id))

    def until(self, ts: int, step: int = SECOND) -> list:
        """Tick every `step` microseconds up to `ts`; the events."""
        from backstop.engine.commands import Tick

        out: list = []
        while self.ts + step <= ts:
            self.ts = (self.ts // step + 1) * step
            out += self.ok(Tick(self.ts))
        return out
