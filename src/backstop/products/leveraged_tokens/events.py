"""What the leveraged tokens did: the API's /lt/creations, /lt/redemptions and rebalance history are
built from these (FTX's fields [FTX-API-LT]: id, token, requestedSize, createdSize, price, cost, fee,
requestedAt = fulfilledAt = ts, pending false: requests settle within their command).

NamedTuples, like command classes: they are not compiled with the engine's `Event` classes and need
not be. USD in USD atoms, sizes in token atoms, lots and ticks of the perp, leverage as a rate.
"""

from __future__ import annotations

from typing import NamedTuple


class TokenAccountOpened(NamedTuple):
    """The token's ordinary account was created (its first creation)."""

    token: str
    account: int
    ts: int


class LeveragedTokenCreated(NamedTuple):
    id: int
    account: int
    token: str
    requested: int  # token atoms asked for
    size: int  # token atoms created (less than requested when the hedge filled partly)
    price: int  # NAV per whole token charged, USD atoms (value x 1e8 / size, rounded up)
    cost: int  # what the creator paid in all: value + hedge cost + fee
    fee: int  # the 0.10% into the fee ledger
    hedge_lots: int  # signed lots of the perp the token traded for it
    hedge_cost: int  # the hedge's cost against the mark (slippage and trading fees)
    ts: int


class LeveragedTokenRedeemed(NamedTuple):
    id: int
    account: int
    token: str
    requested: int
    size: int  # token atoms redeemed (burned)
    price: int  # NAV per whole token paid, USD atoms (rounded down)
    proceeds: int  # what the redeemer received: value - hedge cost - fee
    fee: int
    hedge_lots: int
    hedge_cost: int
    ts: int


class LeveragedTokenRequestFailed(NamedTuple):
    """A creation or redemption that traded nothing (its hedge found no fill, or the hedge order was
    refused after the token's account had just been opened): nothing created or redeemed, nothing
    charged."""

    id: int
    account: int
    token: str
    kind: str  # "create" | "redeem"
    requested: int
    reason: str
    ts: int


class ManagementFeeCharged(NamedTuple):
    """0.03%/day of the token's NAV, pro-rated over `elapsed` microseconds, into the fee ledger."""

    token: str
    account: int
    amount: int
    nav: int
    elapsed: int
    ts: int


class RebalanceStarted(NamedTuple):
    id: int
    token: str
    kind: str  # "daily" | "intraday"
    lots: int  # signed lots to trade, FTX's (DP - CP) x outstanding
    mark: int  # the perp's mark at the start, ticks
    leverage: int | None  # signed, a rate; None when NAV <= 0
    ts: int


class RebalanceChild(NamedTuple):
    id: int
    token: str
    order_id: int  # the child order's id (0 if refused)
    lots: int  # signed lots sent
    filled: int  # signed lots filled
    max_child: int  # the child cap then: min(10% of depth within 1%, 10% of recent volume), lots
    ts: int


class RebalanceEnded(NamedTuple):
    id: int
    token: str
    reason: str  # "done" | "favourable" | "liquidation" | "refused: <error>" | "expired" | "no mark"
    filled: int  # signed lots filled in all
    ts: int


class TokenAccountLiquidating(NamedTuple):
    """The token's account started liquidation: creations and redemptions are refused while it is."""

    token: str
    account: int
    ts: int
