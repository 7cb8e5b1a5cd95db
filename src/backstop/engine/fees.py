"""Trading fees: FTX's six 30-day-volume tiers (schedule of 4 Jan 2021), floors, and the ledger.

Volume is counted per owner (main account and subaccounts together, as FTX did), in daily buckets
keyed by the command time, so the 30-day window moves with the journal, not the wall clock.

The fee seam (for products: FTT's holding discount and staking override): `Volume.adjust` sets an
owner's discount (ppm of the fee), and caps on its maker and taker rates (a VIP schedule, a staking
maker override). They are applied where the rates are computed (`retier`), with FTX's floors, so a
fill reads two plain ints as before and pays nothing for the seam. Order: the tier's rate, capped;
a positive rate discounted (rounded up, the exchange's favour; a rebate is never reduced); then
the floors (taker >= 0.015%, maker >= -0.01%). An owner never adjusted hashes as before.

The taker count (for products: FTT's referral rebates): `Volume.count_taker(True)` makes the
engine add up the taker fees the owner pays and the notional they are paid on, two additions per
fill behind one flag read, for the product to collect with `take_taker` (which starts them again
from zero) and pay a share of, off the hot path. An owner never counted hashes as before.

Memory: the seam's figures (the adjustment and the count) live in a `Terms` of their own, and the
owners no product has adjusted or counted (most of them) share one that is never written,
`NO_TERMS`: a `Volume` carries one pointer for them instead of five fields. `Volume.discount`,
`.maker_cap`, `.taker_cap`, `.taker_fees` and `.taker_value` read them; only `adjust`,
`count_taker`, `add_taker` and `take_taker` write them, taking the owner's own `Terms` first.
"""

from __future__ import annotations

from typing import Any, Final

from backstop.engine.amounts import ATOM, PPM, mul_div, mul_div_up

DAY_US: Final = 86_400 * 1_000_000
WINDOW_DAYS: Final = 30

# (30-day volume in USD atoms, maker ppm, taker ppm): 0.020%/0.070% down to 0.000%/0.040%.
TIERS: Final[tuple[tuple[int, int, int], ...]] = (
    (0, 200, 700),
    (2_000_000 * ATOM, 150, 600),
    (5_000_000 * ATOM, 100, 550),
    (10_000_000 * ATOM, 50, 500),
    (25_000_000 * ATOM, 0, 450),
    (50_000_000 * ATOM, 0, 400),
)
TAKER_FLOOR: Final = 150  # taker >= 0.015% after all discounts
MAKER_FLOOR: Final = -100  # maker >= -0.01%
NO_NEXT_TIER: Final = (1 << 62) - 1  # stays a machine-size int in the compiled engine
NO_CAP: Final = NO_NEXT_TIER
"""A rate cap that caps nothing (the default: no product has adjusted the owner)."""
NO_DAYS: Final[dict[int, int]] = {}
"""The past days of an owner that has none (`Volume.days`): shared, never written to."""


class Terms:
    """A product's adjustment of an owner's rates and its count of the owner's taker fees (module
    docstring); the defaults adjust and count nothing."""

    __slots__ = ("discount", "maker_cap", "taker_cap", "taker_fees", "taker_value")

    def __init__(self) -> None:
        self.discount = 0  # ppm of a positive fee rate taken off (a product's, e.g. FTT holdings)
        self.maker_cap = NO_CAP  # the maker rate is at most this (ppm), before the discount
        self.taker_cap = NO_CAP
        self.taker_fees = 0  # USD atoms of taker fees paid since the product last took the count
        self.taker_value = 0  # USD atoms of notional those fees were paid on


NO_TERMS: Final = Terms()
"""The terms of every owner no product has adjusted or counted: shared, never written to."""

VOLUME_FIELDS = (
    "day",
    "days",
    "first_day",
    "maker_rate",
    "next_threshold",
    "taker_counted",
    "taker_rate",
    "terms",
    "tier",
    "today",
    "total",
)


class Volume:
    """An owner's rolling 30-day volume and the fee rates (ppm, after the floors) it earns."""

    __slots__ = VOLUME_FIELDS

    def __init__(self) -> None:
        # day number -> USD atoms traded that day, before today; the shared empty NO_DAYS (never
        # written to) until the owner's first past day with volume, as most owners have none
        self.days: dict[int, int] = NO_DAYS
        self.today = 0  # traded on `day` so far
        self.total = 0  # the window's volume, today included
        self.first_day = 0  # oldest day still inside the window
        self.day = -1  # the day the window was last rolled to; volume is added to it
        self.tier = 0
        self.next_threshold = TIERS[1][0]
        self.maker_rate = TIERS[0][1]
        self.taker_rate = TIERS[0][2]
        self.terms = NO_TERMS  # the product seam's figures (module docstring)
        self.taker_counted = False  # a product counts the taker fees the owner pays (below)

    @property
    def discount(self) -> int:
        return self.terms.discount

    @property
    def maker_cap(self) -> int:
        return self.terms.maker_cap

    @property
    def taker_cap(self) -> int:
        return self.terms.taker_cap

    @property
    def taker_fees(self) -> int:
        return self.terms.taker_fees

    @property
    def taker_value(self) -> int:
        return self.terms.taker_value

    def _own_terms(self) -> Terms:
        """The owner's own terms, to write to (the shared defaults are never written)."""
        terms = self.terms
        if terms is NO_TERMS:
            terms = Terms()
            self.terms = terms
        return terms

    def roll(self, day: int) -> None:
        """Move the window to end on `day`, dropping the days that left it."""
        if self.today:
            if self.days is NO_DAYS:
                self.days = {}
            self.days[self.day] = self.today
            self.today = 0
        self.day = day
        start = day - WINDOW_DAYS + 1
        if start <= self.first_day:
            return
        days = self.days
        # every day kept is >= first_day (days are kept as the window reaches them), so those that
        # leave it are the days [first_day, start): looked up one by one when they are fewer than
        # the days kept (an owner trading daily: one), else found among the days kept
        if start - self.first_day <= len(days):
            for old in range(self.first_day, start):
                self.total -= days.pop(old, 0)
        else:
            for old in [d for d in days if d < start]:
                self.total -= days.pop(old)
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
        terms = self.terms
        self.maker_rate = adjusted_rate(TIERS[tier][1], terms.maker_cap, terms.discount, MAKER_FLOOR)
        self.taker_rate = adjusted_rate(TIERS[tier][2], terms.taker_cap, terms.discount, TAKER_FLOOR)

    def adjust(self, discount: int, maker_cap: int = NO_CAP, taker_cap: int = NO_CAP) -> None:
        """A product's adjustment of the owner's rates (replacing the previous one): `discount` ppm
        (0 .. 1,000,000) off positive rates, the rates capped at `maker_cap` / `taker_cap` ppm.
        The rates are recomputed now, with the floors."""
        if self.terms is not NO_TERMS or discount != 0 or maker_cap != NO_CAP or taker_cap != NO_CAP:
            terms = self._own_terms()
            terms.discount = discount
            terms.maker_cap = maker_cap
            terms.taker_cap = taker_cap
        self.retier()

    def count_taker(self, on: bool) -> None:
        """Start (or stop) counting the taker fees the owner pays, from zero."""
        self.taker_counted = on
        terms = self.terms
        if terms is not NO_TERMS:
            terms.taker_fees = 0
            terms.taker_value = 0

    def add_taker(self, fee: int, value: int) -> None:
        """Count a taker fee of `fee` USD atoms paid on `value` of notional (when counted)."""
        terms = self._own_terms()
        terms.taker_fees += fee
        terms.taker_value += value

    def take_taker(self) -> tuple[int, int]:
        """(taker fees, notional) counted since the last take; the count starts again from zero."""
        terms = self.terms
        counted = (terms.taker_fees, terms.taker_value)
        if terms is not NO_TERMS:
            terms.taker_fees = 0
            terms.taker_value = 0
        return counted

    def canonical(self) -> tuple[Any, ...]:
        form = (sorted(self.days.items()), self.day, self.today, self.total, self.tier, self.first_day)
        t = self.terms
        if self.taker_counted:  # counted: the adjustment always, then the count (11 fields)
            return (*form, t.discount, t.maker_cap, t.taker_cap, t.taker_fees, t.taker_value)
        if t.discount != 0 or t.maker_cap != NO_CAP or t.taker_cap != NO_CAP:
            return (*form, t.discount, t.maker_cap, t.taker_cap)
        return form  # never adjusted nor counted: the form it had before the seam


def adjusted_rate(rate: int, cap: int, discount: int, floor: int) -> int:
    """`rate` (ppm) capped, a positive one discounted by `discount` ppm of itself (rounded up),
    then raised to `floor`."""
    if rate > cap:
        rate = cap
    if discount and rate > 0:
        rate = rate - rate * discount // PPM  # the discount rounded down: the rate rounded up
    return rate if rate > floor else floor


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
