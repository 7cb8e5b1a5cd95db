"""Every parameter of the leveraged tokens, defined once.

Sources are keys of ../shared/research/products.md section 1: [FTX-RB] (how leveraged tokens
rebalance), [FTX-FEES], [FTX-UPD] (de-lever-only intraday, Sept 2019), [FTX-WT], [FLI] (Index Coop's
TWAP rebalances), [BLVT] (hidden timing). Where FTX published nothing (slicing, the start window) the
value is ours and says so.
"""

from __future__ import annotations

from backstop.engine.amounts import RATE

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
DAY_US = 86_400 * SECOND_US

# --- the four kinds [FTX-WT]: target leverage as a signed rate (RATE = 1x) -------------------------
BULL = 3 * RATE
BEAR = -3 * RATE
HEDGE = -RATE
HALF = RATE // 2
KINDS: dict[str, int] = {"BULL": BULL, "BEAR": BEAR, "HEDGE": HEDGE, "HALF": HALF}
"""FTX's token suffixes and their targets: +3x, -3x, -1x, +0.5x [FTX-WT], [FTX-HALF]."""
UNPREFIXED_COIN = "BTC"
"""FTX named the BTC tokens BULL, BEAR, HEDGE, HALF and every other one ETHBULL, ETHBEAR... [FTX-WT]."""

# --- fees [FTX-FEES], in ppm (the engine's fee-rate unit) ------------------------------------------
CREATION_FEE_PPM = 1_000
"""0.10% of the NAV value created."""
REDEMPTION_FEE_PPM = 1_000
"""0.10% of the NAV value redeemed."""
MANAGEMENT_FEE_PPM_PER_DAY = 300
"""0.03% of the token's NAV a day, pro-rated to the microsecond (our choice; FTX only says 'per day')."""

# --- intraday trigger [FTX-RB], [FTX-UPD] ----------------------------------------------------------
TRIGGER_NUMERATOR = 4
TRIGGER_DENOMINATOR = 3
"""An intraday rebalance fires when |leverage| > |target| x 4/3, i.e. exceeds the target by a third
(4x for the 3x tokens [FTX-RB]); it then de-levers to the target and never re-levers [FTX-UPD]. FTX
gave no separate figure for HEDGE and HALF (its "about 30%" for HEDGE does not follow from any rule):
we use the same third for every kind."""

# --- daily rebalance timing (ours: FTX traded at exactly 00:02:00 UTC [FTX-RB]) ---------------------
REBALANCE_EARLIEST_US = 2 * MINUTE_US
"""The daily rebalance starts no earlier than 00:02 UTC, FTX's time [FTX-RB]..."""
REBALANCE_WINDOW_US = 60 * MINUTE_US
"""...at an instant drawn uniformly from the following hour (ours), so it cannot be front-run at a
known second ([BLVT] hides its timing for that reason; FTX's index rebalances also ran over one hour)."""

# --- slicing (ours: FTX published no chunk size or schedule [FTX-WT]; the pattern is [FLI]'s TWAP) --
CHILD_PAUSE_US = 10 * SECOND_US
"""Pause between two children (FTX re-weighted its indices every 10 seconds during their one-hour
rebalances; help.ftx.com/hc/pt/articles/360040657191)."""
DEPTH_BAND_RATE = RATE // 100
"""Depth counted for a child: resting lots on the side it takes, priced within 1% of that side's touch."""
DEPTH_SHARE_RATE = RATE // 10
"""A child takes at most 10% of that depth."""
VOLUME_WINDOW_US = 15 * MINUTE_US
"""Recent volume is the perp's traded lots over the last 15 minutes..."""
PARTICIPATION_RATE = RATE // 10
"""...and a child is at most 10% of the volume traded, at that pace, during one pause: the rebalance
then trades about a tenth of the market's flow."""
MIN_CHILD_LOTS = 1
"""The floor on a child: one lot, so a rebalance always progresses."""
