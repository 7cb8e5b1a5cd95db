"""The insurance fund's history (insurance.FundHistory) answers as the list of (ts, change,
balance, reason, account) tuples it replaced: by index, `between` as a slice, `last` as the
list's last entries, iteration, len; the same canonical form through a snapshot and a restore."""

from __future__ import annotations

import pickle

from engine_kit import Desk, usd
from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.engine.commands import FundInsurance
from backstop.engine.insurance import FundHistory

MOVEMENTS = st.lists(
    st.tuples(
        st.integers(0, 2**62),
        st.integers(-(10**20), 10**20),
        st.integers(-(10**20), 10**20),
        st.sampled_from(["seed", "fee", "backstop", "funding rounding"]),
        st.integers(-1, 10**6),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    movements=MOVEMENTS,
    bounds=st.tuples(st.integers(-40, 40), st.integers(-40, 40)),
    count=st.integers(-3, 40),
)
def test_the_history_reads_as_the_list_of_tuples(
    movements: list[tuple[int, int, int, str, int]], bounds: tuple[int, int], count: int
) -> None:
    history = FundHistory.of(movements)
    assert len(history) == len(movements)
    assert list(history) == movements
    for i in range(-len(movements), len(movements)):
        assert history[i] == movements[i]
    start, stop = bounds
    assert history.between(start, stop) == movements[start:stop]
    assert history.last(count) == (movements[-count:] if count > 0 else [])


def test_a_restored_exchange_has_the_same_fund_history() -> None:
    d = Desk()
    a = d.account("a", "", 1_000)
    for amount in (100, 250):
        d.ok(FundInsurance(d.tick(), a, usd(amount)))
    history = d.ex.insurance.history
    moved = [(change, balance, account) for _, change, balance, _, account in history]
    assert moved[-2:] == [(usd(100), moved[-2][1], a), (usd(250), moved[-2][1] + usd(250), a)]
    back = pickle.loads(pickle.dumps(d.ex))
    assert list(back.insurance.history) == list(history)
    assert back.state_hash() == d.ex.state_hash()
