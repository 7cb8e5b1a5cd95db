"""`backstop lab guaranty`'s figures from a replay's daily rows (lab.cli.guaranty_figures), on rows
built by hand: the ratio of Cover-2 beyond IM to beyond equity, the days a maker is among Cover-2's
members, the smallest reverse stress move and the days each rule binds."""

from __future__ import annotations

from typing import Any

import pytest

from backstop.lab.cli import guaranty_figures
from backstop.lab.guaranty import default_directions
from backstop.lab.replay import _empty_guaranty
from backstop.lab.spec import LabConfig


def day(date: str, **values: Any) -> dict[str, Any]:
    row = _empty_guaranty(default_directions(["BTC", "ETH"]), ["lab", "250m"]) | {"date": date}
    return row | values


ROWS = [
    # Cover-2 beyond IM 200 / beyond equity 100 = 2x; beyond IM above 10% of IM (150)
    day(
        "2020-03-01",
        cover2=200.0,
        cover2_equity=100.0,
        im_rule=150.0,
        total_im=1500.0,
        cover2_member1="maker-BTC-PERP",
        cover2_member1_role="maker",
        cover2_member1_loss=150.0,
        cover2_member2="trader-1",
        cover2_member2_role="trader",
        cover2_member2_loss=50.0,
        cover2_maker=True,
        stress_bound_all_down=100.0,
    ),
    # 300 / 100 = 3x; 10% of IM (400) binds both ways; $250M exhausted by a 80% fall
    day("2020-03-02", cover2=300.0, cover2_equity=100.0, im_rule=400.0, reverse_250m_all_down=0.8)
    | {"stress_bound_all_down": 300.0},
    # nothing at risk beyond equity: no ratio; a 60% fall exhausts $250M
    day("2020-03-03", cover2=5.0, cover2_equity=0.0, im_rule=10.0, reverse_250m_all_down=0.6)
    | {"stress_bound_all_down": 200.0},
]


def test_the_figures_of_the_guaranty_command_by_hand() -> None:
    out = guaranty_figures(ROWS, "margin", LabConfig(start="2020-03-01", end="2020-03-04"))
    m = out["margin_vs_equity"]
    # ratios 2 and 3 on the two days with a loss beyond equity: median 2.5
    assert (m["days_both_positive"], m["ratio_min"], m["ratio_median"], m["ratio_max"]) == (2, 2.0, 2.5, 3.0)
    assert m["cover2_margin_range"] == [5.0, 300.0]
    assert (m["days_cover2_above_im_rule"], m["days_cover2_equity_above_im_rule"]) == (1, 0)
    assert out["makers"] == {"days_in_cover2": 1, "days": 3}
    down = out["reverse_stress"]["250m"]["all_down"]
    assert (down["smallest"], down["date"], down["days_exhaustible"]) == (0.6, "2020-03-03", 2)
    assert (down["bound_loss_max"], down["bound_loss_date"]) == (300.0, "2020-03-02")
    assert out["reverse_stress"]["250m"]["ETH_up"]["smallest"] is None
    first = out["days"][0]
    assert (first["fund"], first["binding"]) == (200.0, "cover2")
    assert [member["member"] for member in first["cover2_members"]] == ["maker-BTC-PERP", "trader-1"]
    assert out["days"][1]["binding"] == "im" and out["days"][2]["cover2_members"] == []
    assert out["largest_fund"] == {"date": "2020-03-02", "fund": 400.0}
    assert out["worst_day"] is ROWS[1]


def test_beyond_equity_sizes_the_fund_on_cover_2_beyond_equity() -> None:
    out = guaranty_figures(ROWS, "equity", LabConfig(start="2020-03-01", end="2020-03-04"))
    assert [d["fund"] for d in out["days"]] == [150.0, 400.0, 10.0]  # max(10% of IM, 100, 100, 0)
    assert [d["binding"] for d in out["days"]] == ["im", "im", "im"]
    assert out["config"]["beyond"] == "equity"
    assert [d["cover2"] for d in out["days"]] == pytest.approx([100.0, 100.0, 0.0])
