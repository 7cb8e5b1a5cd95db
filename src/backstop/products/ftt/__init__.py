"""FTT's economics (products.md section 4, ftx-mechanics.md 5.3-5.4): fee discounts for holders,
staking with a 14-day unstake lock and its maker-fee overrides, the better of the two, FTX's floors;
buy-and-burn through the book and the insurance fund's gains shared with stakers.

Modules: `tiers` (tiers.toml's tables and the pure rules), `discounts` (when and how owners' fee
benefits are set in the engine's fee seam), `commands`, `events`, `state`, `handlers` (stake,
unstake request, cancel, release), `burn` (a third of each day's fee revenue into the burn pool),
`burn_buying` (the pool's USD buys FTT on FTT/USD in slices, and it is burned), `gains` (shares of
the insurance fund's net gains to the burn and to stakers by stake-time), `burn_params`
(burn.toml), `history` (SQL tables), `product` (the seam's object).
"""

from backstop.products.ftt.product import product

__all__ = ["product"]
