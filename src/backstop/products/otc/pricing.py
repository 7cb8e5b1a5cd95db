"""The desk's pure sums: a pair's orientation, a ladder's levels, and the price, cost and proceeds
of a request against one ladder. No engine state: ints in atoms, prices in quote atoms per whole
base coin (1e8 base atoms).

Rounding is against the requester (the provider's price is firm; the requester asked): its cost is
exactly the size it asked, its proceeds are rounded down, by less than one atom of the coin it
receives.
"""

from __future__ import annotations

from collections.abc import Collection

from backstop.catalog import USD
from backstop.engine.amounts import ATOM, MAX_ATOMS
from backstop.products.otc.params import MAX_LEVELS, QUOTE_PREFERENCE
from backstop.products.otc.state import Levels

BUY = "buy"
SELL = "sell"


def orient(a: str, b: str, markets: Collection[str]) -> tuple[str, str]:
    """(base, quote) of the pair of balance coins `a` and `b` (distinct): USD is always the quote;
    else a market of the catalog named `X/Y` for the pair decides (its quote is Y); else the first
    of params.QUOTE_PREFERENCE; else the alphabetically later coin is the quote."""
    if USD in (a, b):
        return (b, a) if a == USD else (a, b)
    if f"{a}/{b}" in markets:
        return a, b
    if f"{b}/{a}" in markets:
        return b, a
    for coin in QUOTE_PREFERENCE:
        if coin in (a, b):
            return (b, a) if a == coin else (a, b)
    return (a, b) if a < b else (b, a)


def levels(flat: tuple[int, ...]) -> Levels | None:
    """A ladder side from its flattened (max size, price) pairs, or None when it is not one: an odd
    count, more than MAX_LEVELS levels, a size or price outside 1 .. MAX_ATOMS, sizes not strictly
    increasing."""
    if len(flat) % 2 or len(flat) > 2 * MAX_LEVELS:
        return None
    out: list[tuple[int, int]] = []
    last = 0
    for i in range(0, len(flat), 2):
        size, price = flat[i], flat[i + 1]
        if type(size) is not int or type(price) is not int:
            return None
        if not last < size <= MAX_ATOMS or not 0 < price <= MAX_ATOMS:
            return None
        out.append((size, price))
        last = size
    return tuple(out)


def sell_base(bids: Levels, size: int) -> tuple[int, int] | None:
    """A requester selling `size` base atoms to a ladder's bids: (price, proceeds in quote atoms) at
    the first level whose max size covers it, or None (beyond the ladder's depth, or worth nothing or
    more than any balance may hold)."""
    for max_size, price in bids:
        if size <= max_size:
            proceeds = size * price // ATOM
            return (price, proceeds) if 0 < proceeds <= MAX_ATOMS else None
    return None


def buy_base(asks: Levels, size: int) -> tuple[int, int] | None:
    """A requester paying `size` quote atoms to a ladder's asks: (price, proceeds in base atoms) at
    the first level whose max size covers the base it buys there, or None."""
    for max_size, price in asks:
        proceeds = size * ATOM // price
        if proceeds <= max_size:
            return (price, proceeds) if proceeds > 0 else None
    return None


def better(side: str, price: int, than: int) -> bool:
    """Whether `price` is strictly better for a requester on `side` than `than`: higher when it sells
    the base, lower when it buys."""
    return price > than if side == SELL else price < than
