"""What the OTC desk did: the API's `/otc/quotes/{id}` and the OTC fills are built from these (FTX's
fields [FTX-API-LT 3.9]: id, baseCoin, quoteCoin, fromCoin, toCoin, side, price, cost, proceeds,
expiry, filled, expired).

NamedTuples, like command classes (not compiled with the engine's `Event` classes). Amounts in
atoms, prices in quote atoms per whole base coin, times in microseconds. `side` is the requester's:
"buy" when it buys the base coin, "sell" when it sells it (FTX: BTC -> USD is a "sell").
"""

from __future__ import annotations

from typing import NamedTuple


class OtcProviderRegistered(NamedTuple):
    account: int
    enabled: bool  # False: unregistered, its ladders withdrawn
    ts: int


class OtcLadderSet(NamedTuple):
    """A provider's ladder for a pair replaced: its levels per side (0 and 0: withdrawn)."""

    account: int
    base: str
    quote: str
    bid_levels: int
    ask_levels: int
    ts: int


class OtcQuoted(NamedTuple):
    """A firm quote: the provider's side (`proceeds` of `to_coin`) is held for it until `expiry`."""

    id: int
    account: int  # the requester
    provider: int
    from_coin: str  # as requested (a USD stablecoin moves the USD balance)
    to_coin: str
    base: str  # the pair's base and quote coins (balance coins)
    quote: str
    side: str  # the requester's: "buy" | "sell" of the base
    price: int  # quote atoms per whole base
    cost: int  # what the requester pays, atoms of from_coin (the size asked)
    proceeds: int  # what it receives, atoms of to_coin
    expiry: int  # µs: acceptable while ts < expiry
    ts: int


class OtcQuoteFilled(NamedTuple):
    """An accepted quote, settled in one ledger move at its price: the requester paid `cost` and
    received `proceeds`, the provider the reverse. No fee (the cost is in the price [FTX-FEES])."""

    id: int
    account: int
    provider: int
    from_coin: str
    to_coin: str
    base: str
    quote: str
    side: str
    price: int
    cost: int
    proceeds: int
    ts: int


class OtcQuoteExpired(NamedTuple):
    """A live quote ended unfilled, its provider's funds released: "expired" (its time passed) or
    "liquidation" (the requester or the provider started liquidation)."""

    id: int
    account: int
    provider: int
    reason: str
    ts: int
