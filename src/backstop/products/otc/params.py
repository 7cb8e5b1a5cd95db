"""Every parameter of the OTC desk, defined once.

Sources are keys of ../shared/research/products.md section 2: [FTX-OTC] (the OTC portal's quote
object: an expiry about 12 s after the quote), [FTX-FEES] (no fee on OTC or convert: the cost is in
the price). Where FTX published nothing the value is ours and says so.
"""

from __future__ import annotations

from backstop.catalog import USD

SECOND_US = 1_000_000

QUOTE_LIFETIME_US = 12 * SECOND_US
"""A quote is firm for 12 s after it is given (FTX's portal: quoted 17:01:23, expiry 17:01:35
[FTX-OTC]); at and after `expiry` it can no longer be accepted. The product's default: an exchange
may be built with another (`Otc(lifetime_us=...)`), which its state then records."""

MAX_LIVE_QUOTES = 10
"""Ours: live (unexpired, unfilled) quotes one account may hold at once. Each live quote holds a
provider's funds until it expires, so a requester may not tie up the providers' capital at will."""

MAX_LEVELS = 500
"""Ours: levels per side of a ladder (a side is (size, price) pairs: 1,000 integers, the most a
command's tuple carries, commands.MAX_VALUES)."""

RECENT_CLOSED = 10_000
"""Ours: the desk remembers at least this many filled or expired quote ids (with their requester)
to answer "Quote already filled" / "Quote expired"; older ones read "No such quote" (their history
is in the SQL projection)."""

QUOTE_PREFERENCE: tuple[str, ...] = (USD, "USDT", "BTC", "ETH")
"""Which coin of a pair is the quote (a pair's orientation, `pricing.orient`): USD (and the USD
stablecoins the catalog credits as USD) always; then a spot market of the catalog named for the
pair; then the first of these in this order (FTX quoted its spot pairs in USD, USDT, then BTC and
ETH: ETH/BTC, SOL/BTC, ...); else the alphabetically later coin is the quote."""
