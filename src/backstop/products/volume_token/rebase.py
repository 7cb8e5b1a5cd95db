"""The rebase rule [FVT-MED] on Ampleforth's policy [AMPL], in integers. Pure.

    target = 24-hour USD volume / divisor                      (USD per VOL)
    deviation = (price - target) / target                      (price: the pool's 24-hour TWAP)
    supply delta = supply x deviation / lag, if |deviation| >= threshold, else 0

(per holder: balance x (price - target) / target / lag, the seed's words; one supply number here,
since every balance is a share of it). With volume V (USD atoms), divisor D, price P (USD atoms per
VOL): deviation = (P D - V) / V exactly, so every comparison is in integers; the delta is rounded
toward zero (Ampleforth's int256 division), then the new supply is clipped to
[MIN_SUPPLY, MAX_SUPPLY]. Both rates are checked before use (positive; price capped at MAX_RATE;
FVT never range-checked its target [FVT-GH]): `refusal` says why a rebase cannot be computed.
"""

from __future__ import annotations

from backstop.engine.amounts import RATE
from backstop.products.volume_token.params import MAX_RATE, MAX_SUPPLY, MIN_SUPPLY

NO_VOLUME = "no volume in the window: no target"
NO_PRICE = "no pool price over the window"
TARGET_TOO_HIGH = "target above the highest rate"


def target(volume: int, divisor: int) -> int:
    """The target price, USD atoms per VOL, rounded down (for showing: the rules use V and D)."""
    return volume // divisor


def refusal(volume: int, divisor: int, price: int) -> str:
    """Why no rebase can be computed from these rates, or ""."""
    if volume <= 0:
        return NO_VOLUME
    if price <= 0:
        return NO_PRICE
    if volume > MAX_RATE * divisor:
        return TARGET_TOO_HIGH
    return ""


def capped(price: int) -> int:
    """The market rate a rebase reads: at most MAX_RATE (Ampleforth caps it the same way)."""
    return price if price < MAX_RATE else MAX_RATE


def deviation(volume: int, divisor: int, price: int) -> int:
    """(price - target) / target in rate units, rounded toward zero (for showing)."""
    gap = price * divisor - volume
    out = abs(gap) * RATE // volume
    return out if gap >= 0 else -out


def in_band(volume: int, divisor: int, price: int, threshold: int) -> bool:
    """Whether |price - target| < threshold x target (no rebase)."""
    return abs(price * divisor - volume) * RATE < threshold * volume


def supply_delta(supply: int, volume: int, divisor: int, price: int, threshold: int, lag: int) -> int:
    """The change of supply, atoms (0 inside the band), before clipping."""
    if in_band(volume, divisor, price, threshold):
        return 0
    gap = price * divisor - volume
    delta = abs(supply * gap) // (volume * lag)
    return delta if gap >= 0 else -delta


def clipped(supply: int, delta: int) -> int:
    """The new supply: supply + delta kept within [MIN_SUPPLY, MAX_SUPPLY]."""
    return max(MIN_SUPPLY, min(MAX_SUPPLY, supply + delta))
