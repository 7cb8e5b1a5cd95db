"""The operator's feed: index prices set by hand, e.g. to halt a runaway index or to test a scenario.

A price once set is re-sent at every step, so the engine's index stays fresh (a feed that went
quiet would look stale); a coin never set sends nothing. The operator API sets prices from its own
thread while the runtime reads them, so both sides go through a lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from threading import Lock

from backstop.engine.commands import IndexUpdate
from backstop.feeds.base import Feed, Price, price_to_atoms


class ManualFeed(Feed):
    """Prices set with `set(coin, price)`; each is one constituent of its coin's index."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._lock = Lock()
        self._atoms: dict[str, int] = {}
        for coin, price in (prices or {}).items():
            self.set(coin, price)

    def set(self, coin: str, price: Price) -> int:
        """Quote `coin` at `price` (USD per coin, Decimal / str / int) from now on; the atoms."""
        if not isinstance(coin, str) or not coin or coin != coin.strip():
            raise ValueError(f"not a coin name: {coin!r}")
        atoms = price_to_atoms(price)
        with self._lock:
            self._atoms[coin] = atoms
        return atoms

    def unset(self, coin: str) -> None:
        """Stop quoting `coin` (no error if it was not set)."""
        with self._lock:
            self._atoms.pop(coin, None)

    def get(self, coin: str) -> int | None:
        """The price `coin` is quoted at, in atoms, or None if it is not set."""
        with self._lock:
            return self._atoms.get(coin)

    def coins(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._atoms))

    def at(self, ts: int) -> list[IndexUpdate]:
        with self._lock:
            quotes = sorted(self._atoms.items())
        return [IndexUpdate(ts, coin, (atoms,)) for coin, atoms in quotes]
