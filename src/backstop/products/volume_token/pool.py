"""The pool's state as the ledger and the oracle see it: its reserves (the ledger's pool
`params.POOL`: VOL in shares, USD in atoms), its price now, and the cumulative price brought up to
a moment (oracle.py), which every change of reserves or units must do first (Uniswap's `_update`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstop.catalog import USD
from backstop.products.volume_token import oracle
from backstop.products.volume_token.params import POOL

if TYPE_CHECKING:
    from backstop.engine.exchange import Exchange
    from backstop.products.volume_token.state import VolumeState


def reserves(ex: Exchange, coin: str) -> tuple[int, int]:
    """(VOL shares, USD atoms) in the pool."""
    held = ex.pools.get(POOL)
    if held is None:
        return 0, 0
    return held.get(coin, 0), held.get(USD, 0)


def price(ex: Exchange, coin: str) -> int:
    """The pool's price now, USD atoms per VOL (0: empty)."""
    shares, usd = reserves(ex, coin)
    return oracle.price(usd, shares, ex.units.get(coin, 1))


def accrue(st: VolumeState, ex: Exchange, coin: str, ts: int) -> None:
    """Bring the cumulative price up to `ts` at the price that held since its last update."""
    if ts > st.cum_ts:
        st.cum = oracle.accrued(st.cum, st.cum_ts, ts, price(ex, coin))
        st.cum_ts = ts
