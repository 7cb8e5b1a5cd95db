"""An owner's 30-day volume window (fees.Volume): whatever the days it trades on and the gaps
between them, its total is the sum of the volume traded on the days inside the window, the days it
keeps are exactly those, and its tier and rates follow the total; also after a restore."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backstop.engine.fees import TIERS, WINDOW_DAYS, Volume

# (days since the last trade, USD atoms traded), at an owner's pace (the longest gap it leaves):
# every day or two (the window then moves a day at a time, each day leaving it having volume),
# or gaps of weeks to years; amounts up to tier 6 and beyond, so windows empty, fill, and move
# over one day or many at once
TRADES = st.sampled_from([1, 1, 2, 3, 2 * WINDOW_DAYS, 2_000]).flatmap(
    lambda pace: st.lists(st.tuples(st.integers(0, pace), st.integers(1, 10**17)), min_size=40, max_size=120)
)


def traded(volume: Volume, day: int, value: int) -> None:
    """As the exchange books a fill: the window rolled to the fill's day first."""
    if volume.day != day:
        volume.roll(day)
    volume.add(value)


def expected_tier(total: int) -> int:
    return max(i for i, (threshold, _, _) in enumerate(TIERS) if total >= threshold)


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 30_000), trades=TRADES, restore_at=st.integers(0, 119))
def test_window_total_is_the_sum_of_the_days_inside_it(
    first: int, trades: list[tuple[int, int]], restore_at: int
) -> None:
    volume = Volume()
    by_day: dict[int, int] = {}
    day = first
    for i, (gap, value) in enumerate(trades):
        day += gap
        traded(volume, day, value)
        by_day[day] = by_day.get(day, 0) + value
        if i == restore_at:  # what a snapshot keeps, loaded into a fresh Volume (state.py)
            again = Volume()
            again.days = dict(volume.days) if volume.days else again.days
            again.day, again.today, again.total = volume.day, volume.today, volume.total
            again.first_day = volume.first_day
            again.retier()
            volume = again
        inside = {d: v for d, v in by_day.items() if day - WINDOW_DAYS < d <= day}
        assert volume.total == sum(inside.values())
        kept = dict(volume.days)
        if volume.today:
            kept[volume.day] = kept.get(volume.day, 0) + volume.today
        assert kept == inside
        assert volume.tier == expected_tier(volume.total)
