"""The OTC desk as a product of the engine (engine/product.py): FTX's convert / request-for-quote
[FTX-API-LT 3.9], [FTX-OTC], priced by registered liquidity providers' firm ladders and settled into
the same wallets as everything else.

- Commands (code base 2000): `RegisterOtcProvider` (2000, the operator's), `SetOtcLadder` (2001, a
  provider's), `RequestOtcQuote` (2002), `AcceptOtcQuote` (2003), handlers.py.
- A request is priced against the best ladder for its size at that moment (pricing.py) and the
  provider's side is held until the quote is filled or expires (handlers.py says how and where the
  hold can still be reached); an accept settles both wallets in one ledger move at the quoted price,
  with no fee (the cost is in the price [FTX-FEES]), or is refused with nothing moved.
- Tick: quotes whose expiry has come end and their holds are released.
- Liquidation: the live quotes of an account starting liquidation (given or asked for) end.
- History: history.py, the SQL projection's tables of its events.
- Counting for FTT's OTC rebates: once `count_notional(True)` is called (by FTT's product), each
  fill adds its USD notional to its requester owner's count (handlers.usd_notional), which
  `take_notional` hands over and resets (products/ftt/otc_rebates.py pays on it). Never called
  (no FTT), nothing is counted and the state hashes as before.
- State: state.py, hashed and restored with the engine's.
- Coins: none of its own; any pair of coins the wallet knows, the leveraged tokens' included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.engine.accounts import Account
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler
from backstop.products.otc import handlers
from backstop.products.otc.commands import (
    CODE_BASE,
    AcceptOtcQuote,
    RegisterOtcProvider,
    RequestOtcQuote,
    SetOtcLadder,
)
from backstop.products.otc.params import QUOTE_LIFETIME_US
from backstop.products.otc.state import DeskState

if TYPE_CHECKING:
    from backstop.projections.schema import History

NAME = "otc"


class Otc:
    name = NAME
    code_base = CODE_BASE
    coins: tuple[str, ...] = ()

    def __init__(self, lifetime_us: int = QUOTE_LIFETIME_US) -> None:
        if lifetime_us <= 0:
            raise ValueError(f"a quote lifetime must be positive, not {lifetime_us}")
        self.state = DeskState(lifetime_us)

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {
            0: (RegisterOtcProvider, self._register),
            1: (SetOtcLadder, self._ladder),
            2: (RequestOtcQuote, self._request),
            3: (AcceptOtcQuote, self._accept),
        }

    def _register(self, ex: Exchange, c: RegisterOtcProvider, ts: int) -> list[Event]:
        return handlers.register_provider(self.state, ex, c, ts)

    def _ladder(self, ex: Exchange, c: SetOtcLadder, ts: int) -> list[Event]:
        return handlers.set_ladder(self.state, ex, c, ts)

    def _request(self, ex: Exchange, c: RequestOtcQuote, ts: int) -> list[Event]:
        return handlers.request_quote(self.state, ex, c, ts)

    def _accept(self, ex: Exchange, c: AcceptOtcQuote, ts: int) -> list[Event]:
        return handlers.accept_quote(self.state, ex, c, ts)

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        handlers.expire(self.state, ex, ts, events)

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        if self.state.live:  # no live quote, nothing to end (a cascade asks for every account)
            handlers.on_liquidation(self.state, ex, account.id, ts, events)

    def history(self) -> History:
        """Its tables in the SQL projection (history.py; imported here, as the projection asks: the
        engine's own imports never load the projection)."""
        from backstop.products.otc import history

        return history.history()

    def held(self, account: int) -> dict[str, int]:
        """What the account's live quotes hold of its funds, per balance coin (part of its
        `reserved`, beside its open spot orders' holds)."""
        out: dict[str, int] = {}
        for quote in self.state.live.values():
            if quote.provider == account:
                out[quote.gets] = out.get(quote.gets, 0) + quote.proceeds
        return out

    @property
    def counting(self) -> bool:
        """Whether fills' USD notional is being counted per requester owner."""
        return self.state.counting

    def count_notional(self, on: bool) -> None:
        """Count (or stop counting) each requester owner's filled USD notional from now on."""
        self.state.counting = on

    def take_notional(self) -> dict[str, int]:
        """Owner -> USD atoms of its fills as requester since the last take; the counts restart."""
        taken = self.state.notional
        self.state.notional = {}
        return taken

    def canonical(self) -> Any:
        return self.state.canonical()

    def restore(self, state: Any) -> None:
        self.state.restore(state)


def product() -> Otc:
    return Otc()
