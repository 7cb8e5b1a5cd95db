"""The volume token as a product of the engine (engine/product.py): VOL, a rebasing token whose
target price is the exchange's own 24-hour USD volume / divisor [FVT-MED], held in shares of its
supply so a rebase is one number [AMPL], with a constant-product AMM pool VOL/USD whose cumulative
price gives the market price [UNI], and a VOL/USD spot book beside it.

- Commands (code base 4000): `IssueVolumeToken` (4000, the operator's, once), `SwapVolumeToken`
  (4001), `AddVolumeLiquidity` (4002), `RemoveVolumeLiquidity` (4003), `SetVolumePolicy` (4004, the
  operator's, only faster); handlers.py.
- Tick: the pool's minute observations, then the rebase when its drawn second has come
  (schedule.py).
- Parameters: volume_token.toml (params.py); the maths: amm.py, oracle.py, rebase.py (pure).
- Listing: the coin VOL (weight 0) and the market VOL/USD (listing.py).
- History: history.py, the SQL projection's tables of its events; view.py, what the API shows.
- State: state.py, hashed and restored with the engine's; the units (shares per atom) are the
  engine's (`Exchange.units`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.catalog import Catalog
from backstop.engine.accounts import Account
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler
from backstop.products.volume_token import handlers, listing, params, schedule
from backstop.products.volume_token.commands import (
    CODE_BASE,
    AddVolumeLiquidity,
    IssueVolumeToken,
    RemoveVolumeLiquidity,
    SetVolumePolicy,
    SwapVolumeToken,
)
from backstop.products.volume_token.state import VolumeState

if TYPE_CHECKING:
    from backstop.projections.schema import History

NAME = "volume_token"


class VolumeToken:
    name = NAME
    code_base = CODE_BASE
    liquidation_owners: str | None = None  # nothing of VOL to do in a liquidation (on_liquidation)

    def __init__(self) -> None:
        self.params = params.load()
        self.coins: tuple[str, ...] = (self.params.coin,)
        self.held_in_shares: tuple[str, ...] = self.coins  # the ledger holds VOL in shares (set_units)
        policy = self.params.policy
        self.state = VolumeState(policy.threshold, policy.lag)

    def listing(self, catalog: Catalog) -> Catalog:
        return listing.extend(catalog, self.params)

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {
            0: (IssueVolumeToken, self._issue),
            1: (SwapVolumeToken, self._swap),
            2: (AddVolumeLiquidity, self._add),
            3: (RemoveVolumeLiquidity, self._remove),
            4: (SetVolumePolicy, self._policy),
        }

    def _issue(self, ex: Exchange, c: IssueVolumeToken, ts: int) -> list[Event]:
        return handlers.issue(self, ex, c, ts)

    def _swap(self, ex: Exchange, c: SwapVolumeToken, ts: int) -> list[Event]:
        return handlers.swap(self, ex, c, ts)

    def _add(self, ex: Exchange, c: AddVolumeLiquidity, ts: int) -> list[Event]:
        return handlers.add_liquidity(self, ex, c, ts)

    def _remove(self, ex: Exchange, c: RemoveVolumeLiquidity, ts: int) -> list[Event]:
        return handlers.remove_liquidity(self, ex, c, ts)

    def _policy(self, ex: Exchange, c: SetVolumePolicy, ts: int) -> list[Event]:
        return handlers.set_policy(self, ex, c, ts)

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        schedule.on_tick(self, ex, ts, events)

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        return None  # VOL is no collateral; LP shares are not the account's wallet: nothing to do

    def history(self) -> History:
        """Its tables in the SQL projection (history.py, imported only when asked for)."""
        from backstop.products.volume_token import history

        return history.history()

    def canonical(self) -> Any:
        return self.state.canonical()

    def restore(self, state: Any) -> None:
        self.state.restore(state)


def product() -> VolumeToken:
    return VolumeToken()
