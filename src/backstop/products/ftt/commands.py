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


# Referrals and the collateral switch: offsets 10 .. 19 (referrals.py, collateral.py).


class SetFttReferrer(NamedTuple):
    """Code 3010: `account`'s owner records `referrer` (an owner's name) as the owner who referred
    it: once, never itself, never one it referred (directly or not). From then on the referrer
    earns its share of the owner's taker fees and the owner gets 5% off its fees."""

    ts: int
    account: int
    referrer: str


class SetFttCollateral(NamedTuple):
    """Code 3011: `account` counts its FTT as collateral (`on`, the default) or not."""

    ts: int
    account: int
    on: bool
