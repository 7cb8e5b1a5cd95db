"""FTT staking's commands (codes Ftt.code_base + offset, fixed forever).

Sizes are FTT atoms (1e-8 FTT), as every coin amount in the engine. FTX's `POST /srm_stakes/stakes
{coin, size}`, `POST /staking/unstake_requests {coin, size}` and `DELETE
/staking/unstake_requests/{id}`.
"""

from __future__ import annotations

from typing import NamedTuple

CODE_BASE = 3_000
"""The product's first journal code (engine/commands.py PRODUCT_SPAN: it owns 3000 .. 3999)."""


class StakeFtt(NamedTuple):
    """Code 3000: `account` stakes `size` atoms of FTT from its wallet."""

    ts: int
    account: int
    size: int


class RequestFttUnstake(NamedTuple):
    """Code 3001: `account` asks for `size` atoms of its staked FTT back, released 14 days later."""

    ts: int
    account: int
    size: int


class CancelFttUnstake(NamedTuple):
    """Code 3002: `account` cancels its unstake request `request_id`: the FTT is staked again."""

    ts: int
    account: int
    request_id: int
