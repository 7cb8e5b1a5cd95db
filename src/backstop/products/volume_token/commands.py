"""The volume token's commands (codes VolumeToken.code_base + offset, fixed forever).

Amounts are atoms (1e-8 of a coin), as everywhere in the engine: VOL amounts in VOL atoms (the
ledger turns them into shares), USD in USD atoms. The API and CLI are ours (FTX never ran the token).
"""

from __future__ import annotations

from typing import NamedTuple

CODE_BASE = 4_000
"""The product's first journal code (engine/commands.py PRODUCT_SPAN: it owns 4000 .. 4999)."""


class IssueVolumeToken(NamedTuple):
    """Code 4000, the operator's, once: mint `supply` VOL atoms (all the shares there will ever be)
    to `account`, with the target's `divisor` (target price = 24-hour USD volume / divisor), fixed
    from then on."""

    ts: int
    account: int
    supply: int
    divisor: int


class SwapVolumeToken(NamedTuple):
    """Code 4001: `account` pays `amount` atoms of `coin_in` ("USD" or "VOL") into the pool and takes
    out at least `min_out` atoms of the other coin (0: any), or nothing happens."""

    ts: int
    account: int
    coin_in: str
    amount: int
    min_out: int


class AddVolumeLiquidity(NamedTuple):
    """Code 4002: `account` deposits up to `vol` VOL atoms and `usd` USD atoms into the pool (it takes
    them at its ratio) for at least `min_lp` LP shares (0: any)."""

    ts: int
    account: int
    vol: int
    usd: int
    min_lp: int


class RemoveVolumeLiquidity(NamedTuple):
    """Code 4003: `account` burns `lp` of its LP shares for its part of both reserves, at least
    `min_vol` VOL atoms and `min_usd` USD atoms (0: any)."""

    ts: int
    account: int
    lp: int
    min_vol: int
    min_usd: int


class SetVolumePolicy(NamedTuple):
    """Code 4004, the operator's: a new deviation `threshold` (rate units) and `lag`. Only ever
    faster [FVT-MED]: the threshold may not rise, nor the lag."""

    ts: int
    threshold: int
    lag: int
