"""A RecordingDesk on an exchange with the volume token (and only it), with a policy that may be
shortened for tests (the seed's day-long interval otherwise), and helpers in human units."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine_kit import usd
from lt_desk import RecordingDesk

from backstop.engine.commands import Tick
from backstop.products.volume_token.commands import (
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SwapVolumeToken,
)
from backstop.products.volume_token.events import VolumeRebased, VolumeRebaseSkipped
from backstop.products.volume_token.params import SECOND_US
from backstop.products.volume_token.product import VolumeToken
from backstop.products.volume_token.state import VolumeState

MINUTE = 60 * SECOND_US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
DAY0 = 20_000 * DAY  # a UTC midnight (2024-10-04)
VOL = "VOL"


def token(**policy: Any) -> VolumeToken:
    """A fresh product, its policy's fields replaced by `policy` (microseconds, rate units)."""
    vt = VolumeToken()
    if policy:
        vt.params = replace(vt.params, policy=replace(vt.params.policy, **policy))
        vt.state = VolumeState(vt.params.policy.threshold, vt.params.policy.lag)
    return vt


class VolDesk(RecordingDesk):
    def __init__(self, start_ts: int = DAY0 + SECOND_US, seed: int = 0, **policy: Any) -> None:
        self.vt = token(**policy)
        super().__init__(start_ts, seed, (self.vt,))

    # -- the token --------------------------------------------------------------------------

    def issue(self, account: int, supply: str | int, divisor: int) -> list:
        return self.ok(IssueVolumeToken(self.tick(), account, usd(supply), divisor))

    def swap(self, account: int, coin_in: str, amount: str | int, min_out: str | int = 0) -> list:
        return self.ok(SwapVolumeToken(self.tick(), account, coin_in, usd(amount), usd(min_out)))

    def add(self, account: int, vol: str | int, usd_amount: str | int, min_lp: int = 0) -> list:
        return self.ok(AddVolumeLiquidity(self.tick(), account, usd(vol), usd(usd_amount), min_lp))

    def remove(self, account: int, lp: int) -> list:
        return self.ok(RemoveVolumeLiquidity(self.tick(), account, lp, 0, 0))

    def vol(self, account: int) -> int:
        """The account's VOL as a holder sees it, atoms."""
        return self.ex.atoms_of(VOL, self.ex.accounts[account].balance(VOL))

    def shares(self, account: int) -> int:
        return self.ex.accounts[account].balance(VOL)

    def units(self) -> int:
        return self.ex.units[VOL]

    def trade(self, seller: int, buyer: int, market: str, size: str | int, price: str | int) -> None:
        """`seller` rests a sell, `buyer` takes it whole (volume: size x price)."""
        self.rest(seller, market, "sell", size, price)
        self.place(buyer, market, "buy", size, price, ioc=True)

    def until(self, ts: int, step: int = MINUTE) -> list:
        """Tick every `step` microseconds (on its multiples) up to `ts`; the events."""
        out: list = []
        while (self.ts // step + 1) * step <= ts:
            self.ts = (self.ts // step + 1) * step
            out += self.ok(Tick(self.ts))
        return out

    def rebases(self) -> list[VolumeRebased]:
        return self.of(VolumeRebased)

    def skips(self) -> list[VolumeRebaseSkipped]:
        return self.of(VolumeRebaseSkipped)
