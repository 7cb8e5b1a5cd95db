"""What a product is to the engine: the seam by which leveraged tokens, an OTC desk or a volume
token join the exchange without the core knowing them.

A product is a package under `backstop/products/<name>/` (commands, events, state, pure maths,
handlers) whose `product()` returns an object of this protocol; `backstop.products.ENABLED` lists
the enabled packages and `backstop.products.exchange(...)` builds every Exchange with them, so
enabling one is a folder and one line. The core engine never imports a product.

The rules a product keeps (those of the engine):
- **Commands**: NamedTuples whose first field is `ts`, fields of the kinds commands may carry
  (`commands._KINDS`). `commands()` gives each one's offset from `code_base` (0 .. 999) and its
  handler `(ex, command, ts) -> events`. `code_base` is a multiple of 1,000 from 1,000 on
  (`commands.PRODUCT_SPAN`: product N owns N x 1000 .. N x 1000 + 999), fixed forever once a
  journal holds one of its commands. A handler checks everything before its first change and
  answers a refusal with one `Rejected` (nothing changed), as the core's do.
- **Money** moves only through the ledger (`ledger.apply` with a `Moves`), minting and burning
  its coins (`coins`) against their supply; it trades only through the engine's order path
  (`ex.place_order`) on its own ordinary accounts, margined and liquidated like anyone's.
- **Time**: `on_tick(ex, ts, events)` runs inside every `Tick`, after funding, expiry and trigger
  orders and before the drift is measured and the liquidation sweep runs (so anything a product
  trades or moves is assessed in the same second).
- **Liquidation**: `on_liquidation(ex, account, ts, events)` runs when the risk engine starts
  liquidating an account (after its orders and trigger orders are cancelled), for every account:
  the product decides whether the account is one of its own. Optionally, `liquidation_owners`
  says which accounts the hook can concern, so that a cascade does not call it for the others:
  an owner prefix (only accounts whose owner starts with it), "" (every account, the default)
  or None (none: the hook does nothing).
- **State**: `canonical()` gives its whole state in plain values (ints, strings, None, bools,
  lists, tuples) and `restore(state)` puts that form back; restoring then canonicalising gives the
  same form. Product state is hashed with the engine's (`integrity.canonical`) and written in
  snapshots; a product's class must be constructible with no arguments (a snapshot names it).
- **Events**: a product's events go in the same lists as the core's. `events.Event` is a class
  the compiled build makes native, which interpreted classes cannot subclass: a product's event
  module is compiled with the engine (listed in setup.py's COMPILED) to subclass it, or its events
  are NamedTuples (as the test product's are).
- **Determinism**: no clock, no I/O, randomness only from `ex.rng`.
- **Coins held in shares** (optional): a product whose coin rebases lists it in `held_in_shares`;
  the ledger then holds it in shares of its supply once the product sets its units
  (`Exchange.set_units`, which says how every amount converts), and refuses deposits of it beyond
  what was withdrawn (none exist outside before the product issues it).
- **History** (optional, outside the engine): a product with a `history()` method returns the tables
  of its events the SQL projection keeps (`projections.schema.History`: one row per event, its
  fields as the columns), created, written, rebuilt and read with the core's; the API's history
  routes for the product read them (`Projection.product_events`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from backstop.engine.commands import PRODUCT_SPAN

if TYPE_CHECKING:
    from backstop.engine.accounts import Account
    from backstop.engine.events import Event
    from backstop.engine.exchange import Exchange

Handler = Callable[["Exchange", Any, int], "list[Event]"]
"""A command handler: (exchange, command, ts) -> events (one Rejected and no change, or what
happened)."""


class Product(Protocol):
    name: str
    """Its name, unique among products: its state's name in the canonical form."""
    code_base: int
    """The first journal code of its range (a multiple of commands.PRODUCT_SPAN, >= it)."""
    coins: tuple[str, ...]
    """Coins it creates (beyond the catalog's): the ledger knows them from registration on."""

    def commands(self) -> dict[int, tuple[type[Any], Handler]]:
        """Offset from `code_base` (0 .. 999) -> (command class, handler)."""
        ...

    def on_tick(self, ex: Exchange, ts: int, events: list[Event]) -> None: ...

    def on_liquidation(self, ex: Exchange, account: Account, ts: int, events: list[Event]) -> None: ...

    def canonical(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


def codes(product: Product) -> dict[int, tuple[type[Any], Handler]]:
    """The product's commands by journal code, its range checked."""
    base = product.code_base
    if base < PRODUCT_SPAN or base % PRODUCT_SPAN:
        raise ValueError(f"product {product.name}: code base {base} is not a multiple of {PRODUCT_SPAN}")
    out: dict[int, tuple[type[Any], Handler]] = {}
    for offset, entry in product.commands().items():
        if not 0 <= offset < PRODUCT_SPAN:
            raise ValueError(f"product {product.name}: code offset {offset} outside 0 .. {PRODUCT_SPAN - 1}")
        out[base + offset] = entry
    return out
