"""Leveraged tokens as a product of the engine (engine/product.py): FTX's BULL, BEAR, HEDGE and HALF
on BTC-PERP and ETH-PERP (tokens.toml), each a wallet coin with a spot market against USD
(listing.py) backed by an ordinary account holding its perp and USD, margined and liquidated like
any other: nothing in the engine exempts it.

- Commands (code base 1000): `CreateLeveragedToken` (1000) and `RedeemLeveragedToken` (1001),
  handlers.py.
- Tick: the management fee and the daily and intraday rebalances, sliced (scheduler.py).
- Liquidation: a token account entering liquidation is noted, its rebalance under way ends, and
  creations and redemptions are refused while it is liquidated (handlers.py checks the account).
- History: history.py, the SQL projection's tables of its events.
- State: state.py, hashed and restored with the engine's.
- Catalog: `listing(catalog)` adds the tokens' coins and spot markets; `backstop.products.exchange`
  calls it, so they exist only where the product is enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstop.catalog import Catalog
from backstop.engine.accounts import Account
from backstop.engine.events import Event
from backstop.engine.exchange import Exchange
from backstop.engine.product import Handler
from backstop.products.leveraged_tokens import handlers, listing, scheduler
from backstop.products.leveraged_tokens.commands import CODE_BASE, CreateLeveragedToken, RedeemLeveragedToken
from backstop.products.leveraged_tokens.events import TokenAccountLiquidating
from backstop.products.leveraged_tokens.listing import OWNER_PREFIX
from backstop.products.leveraged_tokens.state import ProductState

if TYPE_CHECKING:
    from backstop.projections.schema import History

NAME = "leveraged_tokens"


class LeveragedTokens:
    name = NAME
    code_base = CODE_BASE
    liquidation_owners = OWNER_PREFIX  # its hook concerns the tokens' own accounts only

    def __init__(self) -> None:
        self.tokens = listing.tokens()
        self.coins: tuple[str, ...] = tuple(self.tokens)
        self.state = ProductState(list(self.tokens), sorted({t.perp for t in self.tokens.values()}))

    def listing(self, catalog: Catalog) -> Catalog:
        """`catalog` with the tokens' coins and spot markets (listing.extend)."""
        return listing.extend(catalog)

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        return {0: (CreateLeveragedToken, self._create), 1: (RedeemLeveragedToken, self._redeem)}

    def _create(self, ex: Exchange, c: CreateLeveragedToken, ts: int) -> list[Event]:
        return handlers.create_token(self, ex, c, ts)

    def _redeem(self, ex: Exchange, c: RedeemLeveragedToken, ts: int) -> list[Event]:
        return handlers.redeem_token(self, ex, c, ts)

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None:
        scheduler.on_tick(self, ex, ts, events)

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None:
        if not account.owner.startswith(OWNER_PREFIX):
            return  # not a token's account (each is opened under its token's owner, listing.Token.owner)
        for name, st in self.state.tokens.items():
            if st.account == account.id:
                st.liquidations += 1
                scheduler.end(st, self.tokens[name], "liquidation", ts, events)
                events.append(TokenAccountLiquidating(name, account.id, ts))  # type: ignore[arg-type]

    def history(self) -> History:
        """Its tables in the SQL projection (history.py; imported here, as the projection asks: the
        engine's own imports never load the projection)."""
        from backstop.products.leveraged_tokens import history

        return history.history()

    def account_of(self, token: str) -> int | None:
        """The token's account id, once opened."""
        st = self.state.tokens.get(token)
        return None if st is None or st.account < 0 else st.account

    def canonical(self) -> Any:
        return self.state.canonical()

    def restore(self, state: Any) -> None:
        self.state.restore(state)


def product() -> LeveragedTokens:
    return LeveragedTokens()
