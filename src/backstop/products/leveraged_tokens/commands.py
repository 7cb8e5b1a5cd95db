"""The leveraged tokens' commands (codes LeveragedTokens.code_base + offset, fixed forever).

Sizes are token atoms (1e-8 of a token), as every coin amount in the engine. FTX's
`POST /lt/{token}/create {size}` and `POST /lt/{token}/redeem {size}` [FTX-API-LT].
"""

from __future__ import annotations

from typing import NamedTuple

CODE_BASE = 1_000
"""The product's first journal code (engine/commands.py PRODUCT_SPAN: it owns 1000 .. 1999)."""


class CreateLeveragedToken(NamedTuple):
    """Code 1000: `account` creates `size` atoms of `token` at NAV plus its hedge's cost and 0.10%."""

    ts: int
    account: int
    token: str
    size: int


class RedeemLeveragedToken(NamedTuple):
    """Code 1001: `account` redeems `size` atoms of `token` for NAV less its hedge's cost and 0.10%."""

    ts: int
    account: int
    token: str
    size: int
