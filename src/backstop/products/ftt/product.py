"""FTT's economics as a product of the engine (engine/product.py): the holding discount and staking
benefits on trading fees, through the engine's fee seam (`fees.Volume.adjust`), and staking with
FTX's 14-day unstake lock. FTT itself is the catalog's coin (coins.toml, priced by FTT/USD): the
product creates no coin.

- Commands (code base 3000): `StakeFtt` (3000), `RequestFttUnstake` (3001), `CancelFttUnstake`
  (3002), handlers.py; `SetFttReferrer` (3010), referrals.py; `SetFttCollateral` (3011), the
  per-account FTT collateral switch, collateral.py.
- Tick: matured unstake requests released to their wallets; on the first Tick of a UTC day, a
  third of each finished day's fee revenue accrued to the burn pool (burn.py; the buying and
  burning are not built yet); on the first Tick of each minute, referral rebates paid on the
  taker fees referred owners paid (referrals.py), then every owner's fee benefits recomputed
  (discounts.py says when and why).
- Tiers: tiers.toml, as data; tiers.py the pure rules (the better of holding and staking).
- History: history.py, the SQL projection's tables of its events.
- State: state.py, hashed and restored with the engine's; the fee adjustments themselves are the
  engine's (hashed with each owner's volume).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.engine.accounts import Account
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler
from backstop.products.ftt import burn, collateral, discounts, handlers, referrals, tiers
from backstop.products.ftt.commands import (
    CODE_BASE,
    CancelFttUnstake,
    RequestFttUnstake,
    SetFttCollateral,
    SetFttReferrer,
    StakeFtt,
)
from backstop.products.ftt.state import FttState

if TYPE_CHECKING:
    from backstop.projections.schema import History

NAME = "ftt"


class Ftt:
    name = NAME
    code_base = CODE_BASE
    coins: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.schedule = tiers.load()
        self.state = FttState()

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {
            0: (StakeFtt, self._stake),
            1: (RequestFttUnstake, self._request_unstake),
            2: (CancelFttUnstake, self._cancel_unstake),
            10: (SetFttReferrer, self._set_referrer),
            11: (SetFttCollateral, self._set_collateral),
        }

    def _stake(self, ex: Exchange, c: StakeFtt, ts: int) -> list[Event]:
        return handlers.stake(self, ex, c, ts)

    def _request_unstake(self, ex: Exchange, c: RequestFttUnstake, ts: int) -> list[Event]:
        return handlers.request_unstake(self, ex, c, ts)

    def _cancel_unstake(self, ex: Exchange, c: CancelFttUnstake, ts: int) -> list[Event]:
        return handlers.cancel_unstake(self, ex, c, ts)

    def _set_referrer(self, ex: Exchange, c: SetFttReferrer, ts: int) -> list[Event]:
        return referrals.set_referrer(self, ex, c, ts)

    def _set_collateral(self, ex: Exchange, c: SetFttCollateral, ts: int) -> list[Event]:
        return collateral.switch(self, ex, c, ts)

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        st = self.state
        if st.requests:
            handlers.release(self, ex, ts, events)
        burn.on_tick(self.schedule, st, ex, ts, events)
        period = ts // self.schedule.refresh_us
        if period != st.minute:
            st.minute = period
            referrals.settle(self, ex, ts, events)  # the minute's rebates, under the benefits paid at
            discounts.refresh(self.schedule, st, ex, ts, events)

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        return None  # staked FTT is not collateral: liquidation neither sees nor takes it

    def staked(self, account: int) -> int:
        """FTT atoms `account` has staked (pending unstakes excluded)."""
        return self.state.stakes.get(account, 0)

    def history(self) -> History:
        """Its tables in the SQL projection (history.py, imported only when asked for)."""
        from backstop.products.ftt import history

        return history.history()

    def canonical(self) -> Any:
        return self.state.canonical()

    def restore(self, state: Any) -> None:
        self.state.restore(state)


def product() -> Ftt:
    return Ftt()
