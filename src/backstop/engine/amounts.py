"""Exact integer units the engine counts in.

Money and coin quantities are integers of 1e-8 (an "atom"), rates (weights, margin fractions)
integers of 1e-8, fee rates integers of 1e-6 (ppm). Prices and sizes inside a market are ticks
and lots of that market. Decimal appears only at the edges, when converting to and from these.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from math import isqrt
from typing import Final

ATOM: Final = 10**8
"""Atoms per coin (and per USD)."""
RATE: Final = 10**8
"""Rate units per 1.0 (weights, IMF/MMF, margin fractions)."""
PPM: Final = 10**6
"""Fee-rate units per 1.0."""
MAX_ATOMS: Final = 10**18
"""Largest amount a single command may move (10 billion coins); keeps every value in 64 bits. Also
the highest price the engine takes, in USD atoms per whole coin: an index constituent, a trigger
order's prices and trail ($10 billion a coin)."""
MAX_ORDER_ATOMS: Final = 99_999_999 * ATOM
"""FTX's largest order size, in coin atoms: orders and trigger orders alike."""


def _compiled() -> bool:
    """Whether this module runs compiled (mypyc): a compiled function has no code object."""
    return not hasattr(_compiled, "__code__")


COMPILED: Final = _compiled()
"""True in the compiled engine. A few exact computations take a form in machine-int-sized steps
there (`rate_of`, `liquidation._loss`) and their one-line big-int form as pure Python, where a big
int costs little and each extra step an interpreted operation: the same results, tested both ways
(the tests set COMPILED to run the compiled form as pure Python)."""


def to_atoms(amount: Decimal | str | int) -> int:
    """Exact conversion; raises ValueError if the amount has more than 8 decimals."""
    scaled = Decimal(amount) * ATOM
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more precision than 1e-8")
    return int(scaled)


def from_atoms(atoms: int) -> Decimal:
    return Decimal(atoms) / ATOM


def to_rate(value: Decimal | str) -> int:
    scaled = Decimal(value) * RATE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more precision than 1e-8")
    return int(scaled)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def mul_div(a: int, b: int, d: int) -> int:
    """floor(a * b / d), exactly, for b >= 0 and d > 0.

    Written as (a // d) * b + (a % d) * b // d so that, with b and d below 2**30, every product
    stays in the compiled engine's machine-int fast path even when a * b would not. That path
    takes non-negative operands only, so a negative `a` is handled as -ceil(|a| x b / d).
    """
    if a >= 0:
        return a // d * b + a % d * b // d
    n = -a
    return -(n % d * b) // d - n // d * b


def mul_div_up(a: int, b: int, d: int) -> int:
    """ceil(a * b / d), exactly, for b >= 0 and d > 0 (see mul_div): -floor(|a| x b / d) for a
    negative `a`."""
    if a >= 0:
        return a // d * b - (-(a % d * b) // d)
    n = -a
    return -(n // d * b + n % d * b // d)


LIMB: Final = 30
LIMB_MASK: Final = (1 << LIMB) - 1


def mul_small(a: int, b: int) -> int:
    """a x b, exactly, for any `a` and a small `b` (0 <= b < 2**30 for speed; any b is exact).

    The compiled engine multiplies in machine ints only when both factors are below 2**30 and
    not negative; otherwise it boxes both into heap ints and calls the generic multiply, though
    the product would fit. So |a| is split at bit 30: ((|a| >> 30) x b << 30) + (|a| & (2**30 - 1))
    x b, each factor below 2**30 for |a| below 2**60, every step a machine-int operation while the
    product stays below 2**62, the sign put back at the end."""
    if a >= 0:
        return ((a >> LIMB) * b << LIMB) + (a & LIMB_MASK) * b
    n = -a
    return -(((n >> LIMB) * b << LIMB) + (n & LIMB_MASK) * b)


SPLIT: Final = 10**4  # RATE = SPLIT x SPLIT
SPLIT_LIMIT: Final = (1 << 62) // SPLIT  # divisors below it keep remainder x SPLIT in machine ints


def rate_of(a: int, d: int) -> int:
    """floor(a * RATE / d), exactly, for d > 0: a long division by RATE's two halves, so that with
    d below SPLIT_LIMIT every intermediate stays a machine int in the compiled engine, where
    a x RATE is a heap-allocated big int for any `a` above $460 and its division a slow one. Its
    products go through `mul_small` (a remainder up to d times SPLIT, a negative quotient times
    RATE: both off the compiled multiply's fast path as plain products). As pure Python (not
    COMPILED), the one-line form, cheaper there."""
    if d >= SPLIT_LIMIT or not COMPILED:
        return a * RATE // d
    q = a // d
    r = mul_small(a % d, SPLIT)
    return mul_small(q, RATE) + r // d * SPLIT + mul_small(r % d, SPLIT) // d


def isqrt_ceil(n: int) -> int:
    r = isqrt(n)
    return r if r * r == n else r + 1


def sqrt_term(factor_rate: int, coin_atoms: int) -> int:
    """factor * sqrt(size in coins), as a rate, rounded up (the direction that is against the account).

    sqrt(atoms / 1e8) * 1e8 == sqrt(atoms * 1e8), so the square root is taken exactly in integers.
    """
    if factor_rate == 0 or coin_atoms == 0:
        return 0
    return ceil_div(factor_rate * isqrt_ceil(abs(coin_atoms) * RATE), RATE)


@cache
def sqrt_term_below(factor_rate: int, limit: int) -> int:
    """The largest coin amount (atoms) whose sqrt_term is <= `limit`: below it the square root
    cannot bind, so the hot path compares amounts instead of taking roots. Exact, by bisection."""
    if factor_rate == 0:
        return MAX_ATOMS * ATOM
    lo, hi = 0, MAX_ATOMS * ATOM
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sqrt_term(factor_rate, mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
