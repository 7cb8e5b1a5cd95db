"""The exchange's products (leveraged tokens, an OTC desk, FTT, the volume token): one package each
under this one, joined to the engine through the seam in `backstop/engine/product.py`.

Enabling a product is its folder plus one line: its module in `ENABLED`. Its package's
`product()` returns a fresh `Product` (its commands and handlers, hooks and state); everything
that builds an exchange (the server's recovery and replay, the lab, the CLI, the benches) builds it
with `exchange(...)` here, so every one of them has the same products, and the journal decodes
their commands (registered when this package is imported).

A product may also list coins and markets of its own (leveraged tokens: their coins and spot
markets): a product with a `listing(catalog) -> Catalog` method is given the catalog the exchange is
built with and returns it extended (idempotently: a catalog that already lists them, as one read back
from a snapshot, comes back unchanged). Its coins and markets exist only where it is enabled, so an
exchange without products keeps the catalog, books and canonical form it always had.

The order of `ENABLED` is the order of the products' state in the canonical form; a product's
code base (engine/commands.py `PRODUCT_SPAN`) and name never change once a journal holds them.
A journal is replayed with the products its data directory recorded when it was made
(journal/recovery.py), whatever is enabled now; a directory made before products existed has none.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from backstop.catalog import Catalog
from backstop.catalog import load as load_catalog
from backstop.engine.commands import register as register_command
from backstop.engine.exchange import Exchange
from backstop.engine.product import Product
from backstop.engine.product import codes as product_codes

ENABLED: tuple[str, ...] = ("leveraged_tokens", "otc", "ftt", "volume_token")
"""The enabled products: modules under backstop.products (or dotted paths), in canonical order. A
new data directory records them (journal/recovery.py); an existing one keeps the list it recorded."""


class UnknownProduct(ValueError):
    """A product name with no package under backstop.products (nor a module at its dotted path)."""


def load(names: Sequence[str] | None = None) -> tuple[Product, ...]:
    """A fresh instance of each product named (the enabled ones by default); `UnknownProduct` for a
    name that is not installed."""
    out: list[Product] = []
    for name in ENABLED if names is None else names:
        path = name if "." in name else f"{__name__}.{name}"
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name is None or not path.startswith(exc.name):
                raise  # the product is there but something it imports is not
            raise UnknownProduct(f"no product named {name!r} is installed") from None
        out.append(module.product())
    return tuple(out)


def register(products: Sequence[Product]) -> None:
    """Give the products' commands their journal codes (so journals decode them)."""
    for product in products:
        for code, (cls, _) in product_codes(product).items():
            register_command(code, cls)


def exchange(
    catalog: Catalog | None = None, seed: int = 0, products: Sequence[Product] | None = None
) -> Exchange:
    """A new exchange with the enabled products (or those given), on `catalog` (the packaged one by
    default) with what the products list added."""
    chosen = load() if products is None else products
    return Exchange(listed(catalog, chosen), seed, products=chosen)


def listed(catalog: Catalog | None, products: Sequence[Product]) -> Catalog | None:
    """`catalog` (None: the packaged one) extended by each product's `listing`, in product order;
    None back when no product lists anything and none was given (the Exchange loads the default)."""
    for product in products:
        listing = getattr(product, "listing", None)
        if listing is not None:
            catalog = listing(load_catalog() if catalog is None else catalog)
    return catalog


register(load())
