"""The exact-division helpers equal the one-line definitions for every sign and size (hypothesis).

`mul_div` and `mul_div_up` split a negative dividend off so that the compiled engine multiplies
non-negative machine ints only, `rate_of` divides by RATE's two halves, and `mul_small` splits
its first factor at bit 30: each must give the exact product, or floor (or ceil) of the exact
quotient, bit for bit, including at the 2**30, 2**60 and 2**62 edges where the compiled code
changes paths.
"""

from __future__ import annotations

from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from backstop.engine import amounts
from backstop.engine.amounts import RATE, SPLIT_LIMIT, mul_div, mul_div_up, mul_small, rate_of
from backstop.engine.margin import lot_value

EDGES = [0, 1, 2**30 - 1, 2**30, 2**31, 2**60 - 1, 2**60, 2**62 - 1, 2**62, 2**63]
EDGES += [SPLIT_LIMIT - 1, SPLIT_LIMIT]
ints = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(-(2**40), 2**40),
    st.sampled_from(EDGES + [-e for e in EDGES]),
)
positive = st.one_of(st.integers(1, 2**80), st.integers(1, 2**40), st.sampled_from([e for e in EDGES if e]))


@given(ints, ints, positive)
def test_mul_div_is_the_floor_and_mul_div_up_the_ceiling(a: int, b: int, d: int) -> None:
    assert mul_div(a, b, d) == a * b // d
    assert mul_div_up(a, b, d) == -(-(a * b) // d)


@given(ints, positive)
def test_rate_of_is_the_floor_of_a_times_rate_over_d(a: int, d: int) -> None:
    """In both its forms: the compiled engine's (run here as pure Python too) and pure Python's."""
    for compiled in (True, False):
        with mock.patch.object(amounts, "COMPILED", compiled):
            assert rate_of(a, d) == a * RATE // d


@given(ints, st.one_of(ints, st.integers(0, 2**30 - 1)))
def test_mul_small_is_the_product(a: int, b: int) -> None:
    assert mul_small(a, b) == a * b


@given(ints, st.integers(0, 2**40))
def test_lot_value_is_the_product(size: int, unit: int) -> None:
    assert lot_value(size, unit) == size * unit
