"""FTT's economics as a product of the engine (engine/product.py): the holding discount and staking
benefits on trading fees, through the engine's fee seam (`fees.Volume.adjust`), and staking with
FTX's 14-day unstake lock. FTT itself is the catalog's coin (coins.toml, priced by FTT/USD): the
product creates no coin.

- Commands (code base 3000): `StakeFtt` (3000), `RequestFttUnstake` (3001), `CancelFttUnstake`
  (3002), handlers.py; `SetFttReferrer` (3010), referrals.py; `SetFttCollateral` (3011), the
  per-account FTT collateral switch, collateral.py.
- Tick: matured unstake requests released to their wallets; on the first Tick of a UTC day, a
  third of each finished day's fee revenue accrued to the burn pool (burn.py), then each finished
  day's insurance-fund net gain shared with the burn pool and the stakers (gains.py); the burn
  pool's USD spent on FTT/USD in slices from a drawn start, every FTT bought burned
  (burn_buying.py); on the first Tick of each minute, referral rebates paid on the taker fees
  referred owners paid (referrals.py), then the OTC rebates of holders on their OTC notional
  (otc_rebates.py), then every owner's fee benefits recomputed (discounts.py says when and why).
- Stake-time: every change of an account's stake (stake, unstake request, cancel) advances its
  stake-time accumulator (gains.stake_changed), here around the handlers.
- Tiers: tiers.toml, as data; tiers.py the pure rules (the better of holding and staking).
- History: history.py, the SQL projection's tables of its events.
- State: state.py, hashed and restored with the engine's; the fee adjustments themselves are the
  engine's (hashed with each owner's volume).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.engine.accounts import Account
from backstop.engine.events import Event, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler
from backstop.products.ftt import (
    burn,
    burn_buying,
    burn_params,
    collateral,
    discounts,
    gains,
    handlers,
    otc_rebates,
    referrals,
    tiers,
)
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
    liquidation_owners: str | None = None  # staked FTT is not collateral (on_liquidation)
    coins: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.schedule = tiers.load()
        self.burn_params = burn_params.load()
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
        before = self.state.stakes.get(c.account, 0)
        return self._stake_time(c.account, before, handlers.stake(self, ex, c, ts), ts)

    def _request_unstake(self, ex: Exchange, c: RequestFttUnstake, ts: int) -> list[Event]:
        before = self.state.stakes.get(c.account, 0)
        return self._stake_time(c.account, before, handlers.request_unstake(self, ex, c, ts), ts)

    def _cancel_unstake(self, ex: Exchange, c: CancelFttUnstake, ts: int) -> list[Event]:
        before = self.state.stakes.get(c.account, 0)
        return self._stake_time(c.account, before, handlers.cancel_unstake(self, ex, c, ts), ts)

    def _stake_time(self, account: int, before: int, events: list[Event], ts: int) -> list[Event]:
        """After a stake change that was not refused: the account's stake-time up to `ts` at the
        stake it had (gains.py)."""
        if not (events and isinstance(events[0], Rejected)):
            gains.stake_changed(self.state.gains, self.state.stakes, account, before, ts)
        return events

    def _set_referrer(self, ex: Exchange, c: SetFttReferrer, ts: int) -> list[Event]:
        return referrals.set_referrer(self, ex, c, ts)

    def _set_collateral(self, ex: Exchange, c: SetFttCollateral, ts: int) -> list[Event]:
        return collateral.switch(self, ex, c, ts)

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        st = self.state
        if st.requests:
            handlers.release(self, ex, ts, events)
        accrued = len(events)
        burn.on_tick(self.schedule, st, ex, ts, events)
        burn_buying.noted_accruals(st.buying, events[accrued:])
        st.buying.fund_share += gains.on_tick(self.burn_params, st.gains, st.stakes, ex, ts, events)
        burn_buying.on_tick(self.schedule, self.burn_params, st.buying, ex, ts, events)
        period = ts // self.schedule.refresh_us
        if period != st.minute:
            st.minute = period
            referrals.settle(self, ex, ts, events)  # the minute's rebates, under the benefits paid at
            otc_rebates.settle(self, ex, ts, events)  # the holders' OTC rebates (otc_rebates.py)
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
