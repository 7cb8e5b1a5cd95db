"""What every index-price feed is: a function of time to `IndexUpdate` commands.

The engine takes the median of a coin's constituent prices itself, so a feed only says what each
source quoted at an instant. Feeds are pure functions of the time they are asked about (given their
configuration, data and seed): the live runtime asks for "now", the lab for every step of a
simulated clock, and both get the same answer for the same time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Final

from backstop.engine.amounts import ATOM
from backstop.engine.commands import IndexUpdate

SECOND_US: Final = 1_000_000
MINUTE_US: Final = 60 * SECOND_US
HOUR_US: Final = 60 * MINUTE_US
DAY_US: Final = 24 * HOUR_US

Price = Decimal | str | int
"""A human price in USD per whole coin. Never a float: binary floats cannot say 0.1 exactly."""


class Feed(ABC):
    """A source of index prices. Subclasses say what each coin's constituents quote at an instant."""

    @abstractmethod
    def coins(self) -> tuple[str, ...]:
        """The coins this feed can price (sorted), whether or not it has a price for them right now."""

    @abstractmethod
    def at(self, ts: int) -> list[IndexUpdate]:
        """The quotes at `ts` (microseconds, UTC): one IndexUpdate per coin that has any price,
        in coin order. A coin with no live source at `ts` is left out, never sent empty."""

    def updates(self, start_us: int, end_us: int, step_us: int) -> Iterator[IndexUpdate]:
        """`at(t)` for t = start_us, start_us + step_us, ... < end_us (half-open, like range), in
        time order: the clock a lab run or a test drives the exchange with."""
        if step_us <= 0:
            raise ValueError(f"step_us must be positive, got {step_us}")
        for ts in range(start_us, end_us, step_us):
            yield from self.at(ts)


def price_to_atoms(price: Price) -> int:
    """USD per coin -> integer USD atoms (1e-8), exactly; sub-atom digits round half-even.

    Floats are refused (a float price has already lost its exactness), as are non-positive and
    non-finite prices: an index price of zero would value every position at nothing.
    """
    if isinstance(price, bool) or not isinstance(price, Decimal | str | int):
        raise TypeError(f"price must be Decimal, str or int, not {type(price).__name__}")
    try:
        value = Decimal(price.strip() if isinstance(price, str) else price)
    except InvalidOperation:
        raise ValueError(f"not a price: {price!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a price: {price!r}")
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any price an exchange could quote
        atoms = int((value * ATOM).to_integral_value(rounding=ROUND_HALF_EVEN))
    if atoms <= 0:
        raise ValueError(f"price must be at least one atom (1e-8 USD), got {price!r}")
    return atoms


def atoms_to_price(atoms: int) -> Decimal:
    """USD atoms -> Decimal USD per coin (exact), for display and reports."""
    return Decimal(atoms) / ATOM


def utc_us(iso: str) -> int:
    """ISO-8601 time ('2021-05-19T13:00:00Z'; no offset means UTC) -> microseconds since the epoch."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


def iso_utc(ts: int) -> str:
    """Microseconds since the epoch -> ISO-8601 UTC ('2021-05-19T13:00:00Z'), for messages."""
    seconds, micros = divmod(ts, SECOND_US)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"
