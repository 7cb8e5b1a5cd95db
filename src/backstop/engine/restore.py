"""Rebuild an exchange from its canonical state (the form `state_hash` hashes).

This is how snapshots (and pickles) of the engine are read back: the canonical form holds the whole
logical state, and everything else (heaps, caches, references between objects) is derived from it
(state.py, where each part of the state is defined once). It does not depend on how the engine's
classes were compiled. Snapshots written before products existed call `restore(catalog, state)`
by this name: it stays.
"""

from __future__ import annotations

from typing import Any

from backstop.catalog import Catalog
from backstop.engine.exchange import Exchange
from backstop.engine.state import restore_into


def restore(catalog: Catalog, state: list[Any], products: tuple[type[Any], ...] = ()) -> Exchange:
    """The exchange whose canonical form is `state`; `products` are the classes of its products
    (each built with no arguments, then given its state)."""
    ex = Exchange(catalog, products=tuple(kind() for kind in products))
    restore_into(ex, state)
    return ex
