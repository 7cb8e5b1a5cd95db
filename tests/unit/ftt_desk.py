"""A Desk (engine_kit) on an exchange with FTT's product, recording every command it applies (for
journal replays) and every event; FTT/USD given a mark by a trade."""

from __future__ import annotations

from typing import Any

from engine_kit import Desk, fills, usd

from backstop import products
from backstop.engine.commands import PlaceOrder, Tick
from backstop.engine.events import Fill, Rejected
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.product import Ftt

MINUTE = 60 * 1_000_000
DAY = 86_400 * 1_000_000
PERP = "BTC-PERP"
USD = 10**8


class FttDesk(Desk):
    def __init__(self, start_ts: int = 10 * DAY, seed: int = 0, ftt: Ftt | None = None) -> None:
        super().__init__(start_ts=start_ts)
        self.ftt = Ftt() if ftt is None else ftt
        self.ex = products.exchange(seed=seed, products=(self.ftt,))
        self.markets = self.ex.catalog.markets
        self.sent: list[Any] = []
        self.events: list[Any] = []

    def record(self, command: Any) -> list[Any]:
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

    # -- staking ---------------------------------------------------------------------------------

    def stake(self, account: int, size: str | int) -> list:
        return self.ok(StakeFtt(self.tick(), account, usd(size)))

    def unstake(self, account: int, size: str | int) -> int:
        """Ask for `size` FTT back; the request's id."""
        (event, *_) = self.ok(RequestFttUnstake(self.tick(), account, usd(size)))
        return int(event.id)

    def cancel_unstake(self, account: int, request_id: int) -> list:
        return self.ok(CancelFttUnstake(self.tick(), account, request_id))

    # -- time --------------------------------------------------------------------------------------

    def at(self, ts: int) -> list:
        """One Tick at exactly `ts` (time jumps there)."""
        assert ts > self.ts
        self.ts = ts
        return self.ok(Tick(ts))

    def next_minute(self) -> list:
        """A Tick on the next whole minute: holding discounts are recomputed."""
        return self.at((self.ts // MINUTE + 1) * MINUTE)

    # -- fees -------------------------------------------------------------------------------------

    def rates(self, account: int) -> tuple[int, int]:
        """(maker, taker) ppm the account's owner pays now."""
        volume = self.ex.accounts[account].volume
        return volume.maker_rate, volume.taker_rate

    def perp_fill(
        self, taker: int, maker: int, size: str = "1", price: int = 10_000, side: str = "buy"
    ) -> Fill:
        """`maker` rests on BTC-PERP at $`price`, `taker` takes `size` BTC; the Fill."""
        other = "sell" if side == "buy" else "buy"
        lots = self.lots(PERP, size)
        self.ok(PlaceOrder(self.tick(), maker, PERP, other, lots, price))
        (fill,) = fills(self.ok(PlaceOrder(self.tick(), taker, PERP, side, lots, price, "limit", True)))
        return fill
