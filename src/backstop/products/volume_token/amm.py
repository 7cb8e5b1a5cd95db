"""The AMM pool's arithmetic: Uniswap v2's constant product [UNI] (v2-core UniswapV2Pair, v2-periphery
UniswapV2Library), in integers. Pure: reserves in, amounts out; handlers.py moves the money.

Reserves are the pool's ledger amounts: its VOL in shares (so a rebase rescales it with every other
holder and the reserves are never stale: Ampleforth's pools need `sync` for that), its USD in atoms.
Since every share amount is the VOL amount times one common factor, the product x * y and every
ratio below are those of the VOL amounts times that factor: the rules are Uniswap's unchanged.

- Swap: `amount_out(in, reserve_in, reserve_out, fee)` = in x (1 - fee) x reserve_out /
  (reserve_in + in x (1 - fee)), rounded down (getAmountOut); the whole input enters the pool, so
  the fee stays with the liquidity providers and k = x * y never falls.
- First deposit: sqrt(x * y) LP shares, MINIMUM_LIQUIDITY of them locked forever (minted to no
  one), as Uniswap's `mint`.
- Later deposits: the pool takes the two amounts at its current ratio (the router's `quote`: the
  smaller side in full, the other side's matching amount), and mints min(dx T / x, dy T / y).
- Withdrawal: lp / T of each reserve, rounded down (the pool keeps the dust).
"""

from __future__ import annotations

from math import isqrt

from backstop.engine.amounts import RATE


def amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee: int) -> int:
    """What a swap of `amount_in` takes out (getAmountOut, the fee in rate units); 0 for no pool."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return 0
    with_fee = amount_in * (RATE - fee)
    return with_fee * reserve_out // (reserve_in * RATE + with_fee)


def first_deposit(x: int, y: int, minimum: int) -> int:
    """LP shares the first deposit mints to its depositor (sqrt(x y) - minimum; <= 0: refused)."""
    return isqrt(x * y) - minimum


def matched(x: int, y: int, reserve_x: int, reserve_y: int) -> tuple[int, int]:
    """The amounts of a later deposit the pool takes at its ratio: (x, y) offered, at most those."""
    y_for_x = x * reserve_y // reserve_x
    if y_for_x <= y:
        return x, y_for_x
    return y * reserve_x // reserve_y, y


def minted(x: int, y: int, reserve_x: int, reserve_y: int, total: int) -> int:
    """LP shares a later deposit of (x, y) mints (the smaller of the two sides' shares)."""
    return min(x * total // reserve_x, y * total // reserve_y)


def withdrawn(lp: int, reserve_x: int, reserve_y: int, total: int) -> tuple[int, int]:
    """What burning `lp` of `total` LP shares returns of each reserve (rounded down)."""
    return lp * reserve_x // total, lp * reserve_y // total
