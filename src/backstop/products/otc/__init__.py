"""The OTC desk: FTX's convert / request for quote [FTX-API-LT 3.9], [FTX-OTC], on the product seam.

Registered liquidity providers stream firm ladders per pair; a request is priced against the best
ladder for its size, the provider's side is held, and an accept before expiry settles both wallets in
one ledger move at the quoted price (no fee), or is refused with nothing moved. Modules: `params`
(every constant), `pricing` (the pure sums), `commands`, `events`, `state`, `handlers`, `product`,
`history` (the SQL projection's tables).
"""

from backstop.products.otc.product import product

__all__ = ["product"]
