"""A Desk (engine_kit) on an exchange with FTT's product, recording every command it applies (for
journal replays) and every event; FTT/USD given a mark by a trade."""

from __future__ import annotations

from engine_kit import fills, usd
from lt_desk import RecordingDesk

from backstop.engine.commands import PlaceOrder, Tick
from backstop.engine.events import Fill
from backstop.products.ftt.commands import CancelFttUnstake, RequestFttUnstake, StakeFtt
from backstop.products.ftt.product import Ftt

MINUTE = 60 * 1_000_000
DAY = 86_400 * 1_000_000
PERP = "BTC-PERP"
USD = 10**8


class FttDesk(RecordingDesk):
    def __init__(self, start_ts: int = 10 * DAY, seed: int = 0, ftt: Ftt | None = None) -> None:
        self.ftt = Ftt() if ftt is None else ftt
        RecordingDesk.__init__(self, start_ts, seed, (self.ftt,))  # not the MRO: test desks combine

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
