"""Trading fees: FTX's six 30-day-volume tiers (schedule of 4 Jan 2021), floors, and the ledger.

Volume is counted per owner (main account and subaccounts together, as FTX did), in daily buckets
keyed by the command time, so the 30-day window moves with the journal, not the wall clock.
"""

from __future__ import annotations

from typing import Any

from backstop.engine.amounts import ATOM, PPM, mul_div, mul_div_up

DAY_US = 86_400 * 1_000_000
WINDOW_DAYS = 30

# (30-day volume in USD atoms, maker ppm, taker ppm): 0.020%/0.070% down to 0.000%/0.040%.
TIERS: tuple[tuple[int, int, int], ...] = (
    (0, 200, 700),
    (2_000_000 * ATOM, 150, 600),
    (5_000_000 * ATOM, 100, 550),
    (10_000_000 * ATOM, 50, 500),
    (25_000_000 * ATOM, 0, 450),
    (50_000_000 * ATOM, 0, 400),
)
TAKER_FLOOR = 150  # taker >= 0.015% after all discounts
MAKER_FLOOR = -100  # maker >= -0.01%
NO_NEXT_TIER = (1 << 62) - 1  # stays a machine-size int in the compiled engine


VOLUME_FIELDS = (
    "day",
    "days",
    "first_day",
    "maker_rate",
    "next_threshold",
    "taker_rate",
    "tier",
    "today",
    "total",
)


class Volume:
    """An owner's rolling 30-day volume and the fee rates (ppm, after the floors) it earns."""

    __slots__ = VOLUME_FIELDS

    def __init__(self) -> None:
        self.days: dict[int, int] = {}  # day number -> USD atoms traded that day, before today
        self.today = 0  # traded on `day` so far
        self.total = 0  # the window's volume, today included
        self.first_day = 0  # oldest day still inside the window
        self.day = -1  # the day the window was last rolled to; volume is added to it
        self.tier = 0
        self.next_threshold = TIERS[1][0]
        self.maker_rate = TIERS[0][1]
        self.taker_rate = TIERS[0][2]

    def roll(self, day: int) -> None:
        """Move the window to end on `day`, dropping the days that left it."""
        if self.today:
            self.days[self.day] = self.today
            self.today = 0
        self.day = day
        start = day - WINDOW_DAYS + 1
        if start <= self.first_day:
            return
        for old in [d for d in self.days if d < start]:
            self.total -= self.days.pop(old)
        self.first_day = start
        self.retier()

    def add(self, value: int) -> None:
        self.today += value
        self.total += value
        if self.total >= self.next_threshold:
            self.retier()

    def retier(self) -> None:
        tier = 0
        for i, (threshold, _, _) in enumerate(TIERS):
            if self.total >= threshold:
                tier = i
        self.tier = tier
        self.next_threshold = TIERS[tier + 1][0] if tier + 1 < len(TIERS) else NO_NEXT_TIER
        self.maker_rate = max(TIERS[tier][1], MAKER_FLOOR)
        self.taker_rate = max(TIERS[tier][2], TAKER_FLOOR)

    def canonical(self) -> tuple[Any, ...]:
        return (sorted(self.days.items()), self.day, self.today, self.total, self.tier, self.first_day)


def fee(amount: int, rate_ppm: int) -> int:
    """Fee on `amount` atoms: charges round up, rebates round toward zero (the exchange's favour)."""
    if rate_ppm >= 0:
        return mul_div_up(amount, rate_ppm, PPM)
    return -mul_div(amount, -rate_ppm, PPM)


class FeeLedger:
    """Fee revenue, net of rebates, per coin, since the start; and the running totals as they
    stood when each UTC day with fees began, so revenue per day (for the FTT burn) is a difference."""

    __slots__ = ("day", "day_open", "totals")

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.day = -1
        self.day_open: dict[int, dict[str, int]] = {}  # day -> totals when its first fee came

    def book(self, day: int, coin: str, amount: int) -> None:
        if day != self.day:
            self.day_open[day] = dict(self.totals)
            self.day = day
        if amount:
            self.totals[coin] = self.totals.get(coin, 0) + amount

    def revenue(self, day: int) -> dict[str, int]:
        """Fee revenue booked on `day`, per coin."""
        opened = self.day_open.get(day)
        if opened is None:
            return {}
        later = [d for d in self.day_open if d > day]
        closed = self.day_open[min(later)] if later else self.totals
        return {c: v - opened.get(c, 0) for c, v in closed.items() if v != opened.get(c, 0)}

    def canonical(self) -> tuple[Any, ...]:
        return (
            sorted(self.totals.items()),
            self.day,
            sorted((d, sorted(v.items())) for d, v in self.day_open.items()),
        )
