"""The OTC desk's commands (codes Otc.code_base + offset, fixed forever).

Coin amounts are atoms (1e-8 of a coin), as everywhere in the engine; a price is quote-coin atoms
per whole base coin (1e8 base atoms). FTX's convert API [FTX-API-LT 3.9]: `POST /otc/quotes
{fromCoin, toCoin, size}` (size in fromCoin) -> RequestOtcQuote; `POST /otc/quotes/{id}/accept`
-> AcceptOtcQuote. Providers and their ladders are ours (FTX's desk was its own).
"""

from __future__ import annotations

from typing import NamedTuple

from backstop.engine.commands import MAY_BE_EMPTY

CODE_BASE = 2_000
"""The product's first journal code (engine/commands.py PRODUCT_SPAN: it owns 2000 .. 2999)."""


class RegisterOtcProvider(NamedTuple):
    """Code 2000, the operator's: make `account` an OTC liquidity provider (`enabled`), or no longer
    one (its ladders are withdrawn; quotes it has given stay firm until they expire)."""

    ts: int
    account: int
    enabled: bool = True


class SetOtcLadder(NamedTuple):
    """Code 2001: a provider's firm ladder for the pair `base`/`quote` (in the pair's orientation,
    pricing.orient), replacing its previous one for that pair. Each side is (max size, price) pairs
    flattened: max size in base atoms, strictly increasing; price in quote atoms per whole base. A
    request is priced at the first level whose max size covers it, whole (not walked). `bids`: the
    provider buys base (a requester selling base); `asks`: it sells base. Both empty: the ladder is
    withdrawn."""

    ts: int
    account: int
    base: str
    quote: str
    bids: tuple[int, ...]  # size, price, size, price, ... ; may be empty
    asks: tuple[int, ...]


class RequestOtcQuote(NamedTuple):
    """Code 2002: `account` asks to convert `size` atoms of `from_coin` into `to_coin` (FTX's
    `POST /otc/quotes {fromCoin, toCoin, size}`)."""

    ts: int
    account: int
    from_coin: str
    to_coin: str
    size: int


class AcceptOtcQuote(NamedTuple):
    """Code 2003: the requester accepts its quote `quote_id` before it expires (FTX's
    `POST /otc/quotes/{quoteId}/accept`)."""

    ts: int
    account: int
    quote_id: int


# a ladder's side may be empty (one-sided ladders; both empty withdraws it), as a mass quote's may:
# the edges' field check (commands.invalid_field) reads this registry
MAY_BE_EMPTY[SetOtcLadder] = frozenset(("bids", "asks"))
