"""`backstop bench engine`: the interleaved CPU-time measurement and the accounts-scaling workload.
No timing is asserted (the machine is shared); the structure of the figures and the workload are."""

from __future__ import annotations

from typing import Any

import pytest

from backstop.bench.engine import account_fetch_ns, accounts_touched, fetch_bound, run, scaling, sweep
from backstop.bench.measure import interleave, spread
from backstop.bench.workload import START_US, build, prepare
from backstop.engine.commands import CancelOrder, PlaceOrder
from backstop.engine.events import Fill, Rejected


def test_interleave_gives_every_runner_every_chunk_the_order_rotating() -> None:
    calls: list[tuple[str, int, int]] = []

    def runner(name: str) -> Any:
        return lambda lo, hi: calls.append((name, lo, hi))

    spent = interleave([runner("a"), runner("b"), runner("c")], 10, 4)
    assert len(spent) == 3 and all(s >= 0 for s in spent)
    assert calls == [
        ("a", 0, 4), ("b", 0, 4), ("c", 0, 4),
        ("b", 4, 8), ("c", 4, 8), ("a", 4, 8),
        ("c", 8, 10), ("a", 8, 10), ("b", 8, 10),
    ]  # fmt: skip


def test_spread_is_min_median_max() -> None:
    assert spread([0.3, 0.1, 0.2, 0.25]) == {"min": 0.1, "median": 0.225, "max": 0.3}


def test_positions_are_held_by_the_share_of_accounts_and_ids_still_predicted() -> None:
    plain = build(3_000, accounts=200, seed=3)
    assert build(3_000, accounts=200, seed=3, positions=0.0) == plain  # no share: the same workload
    workload = build(3_000, accounts=200, seed=3, positions=0.1)
    ex = prepare(workload)
    holders = [a.id for a in ex.accounts if any(p.size for p in a.positions.values())]
    assert len(holders) == 20 and holders == list(range(0, 200, 10))
    rejected = 0
    for c in workload.commands:
        events = ex.apply(c)
        if events and isinstance(events[0], Rejected):
            assert events[0].error == "Order already closed"
            rejected += 1
    assert rejected < len(workload.commands) // 100


def test_the_bench_reports_each_repeat_and_the_ratios_spread(capsys: Any) -> None:
    result = run(4_000, 500, 7, True, repeat=2, chunk=1_000)
    for key in ("engine", "journal", "with_product"):
        assert len(result["ratios"][key]) == 2 and all(r > 0 for r in result["ratios"][key])
        s = result["spread"][key]
        assert s["min"] <= s["median"] <= s["max"]
    assert result["engine_vs_baseline"] == result["spread"]["engine"]["median"]
    assert result["same_state"] and result["journal_same_state"]
    assert len(result["per_repeat"]) == 2 and result["timing"].startswith("CPU time")
    assert result["journal_commands_per_s"] > 0 and result["baseline_ops_per_s"] > 0
    assert "accounts_scaling" not in result
    assert result["huge_pages"] == "off" and result["huge_pages_mib"] == 0  # the default: as the server


def test_accounts_scaling_measures_each_count_and_memory_per_account() -> None:
    notes: list[str] = []
    s = scaling([100, 400], 2_000, 7, 500, 2, 0.1, notes.append, memory_sample=200)
    rows = s["counts"]
    assert [(r["accounts"], r["warmup_per_account"]) for r in rows] == [
        (100, 0),
        (400, 0),
        (100, 5),
        (400, 5),
    ]
    first, established = rows[:2], rows[2:]
    assert [r["holders_before_timing"] for r in first] == [10, 40]  # the setup's, nothing sent before
    assert [r["warmup_commands"] for r in established] == [500, 2_000]
    # five commands per account, about two in three an order from a random account: ~96% placed one
    assert all(0.9 < r["traded_in_warmup"] <= 1 for r in established)
    assert all(r["traded_in_warmup"] == 0 for r in first)
    assert all(r["holders_before_timing"] > 40 for r in established)  # the warm-up traded
    assert all(r["same_state"] and len(r["ratios"]) == 2 for r in rows)
    assert all(r["trading_accounts"] == r["accounts"] and r["account_fetch_ns"] > 0 for r in rows)
    held = s["held"]  # the largest count held, the smallest trading, established
    assert (held["accounts"], held["trading_accounts"], held["warmup_per_account"]) == (400, 100, 5)
    assert held["warmup_commands"] == 500 and held["same_state"]
    assert 0.9 < held["traded_in_warmup"] <= 1  # of the 100 trading
    assert set(s["last_vs_first"]) == {"first trades", "established", "held, 100 trading"}
    assert set(s["fetch_bound"]) == set(s["last_vs_first"])
    assert all(v > 0 for v in s["last_vs_first"].values())
    assert all(v is not None and v > 0 for v in s["fetch_bound"].values())
    assert 1 < s["accounts_touched_per_command"] < 3  # its own, and the makers a crossing order fills
    m = s["memory"]
    assert m["method"] == "tracemalloc" and 0 < m["bytes_per_account"] < m["bytes_per_account_with_position"]


def test_huge_pages_alternate_splits_the_scaling_repeats_and_gives_both_ratios() -> None:
    """`--huge-pages alternate`: the repeats of each count alternate small pages (first) and huge
    pages, each set reported apart, with the last-to-first ratio of each; the state is the same."""
    s = scaling(
        [100, 400], 2_000, 7, 500, 4, 0.1, [].append, memory_sample=200, warmups=(0.0,), huge="alternate"
    )
    for row in s["counts"]:
        assert row["same_state"]
        assert row["small_pages_ratios"] == row["ratios"][0::2]
        assert row["huge_pages_ratios"] == row["ratios"][1::2]
        assert row["small_pages_median"] > 0 and row["huge_pages_median"] > 0
    assert set(s["last_vs_first"]) == {
        "first trades",
        "first trades, small pages",
        "first trades, huge pages",
        "held, 100 trading",
    }
    off = scaling([100], 2_000, 7, 500, 1, 0.1, [].append, memory_sample=200, warmups=(0.0,), huge="off")
    assert off["counts"][0]["huge_pages_mib"] == 0 and "huge_pages_ratios" not in off["counts"][0]


def test_active_accounts_place_every_order_and_the_others_are_held_idle() -> None:
    """`active`: every order of the mix and of the starting book comes from that many accounts
    spread evenly through the ids; all the accounts are still created, funded and (a share) given
    a position; without it the workload is as before."""
    assert build(2_000, accounts=200, seed=3, positions=0.1, active=None) == build(
        2_000, accounts=200, seed=3, positions=0.1
    )
    workload = build(2_000, accounts=200, seed=3, positions=0.1, active=20)
    created = [c for c in workload.setup if type(c).__name__ == "CreateAccount"]
    assert len(created) == 200
    ex = prepare(workload)
    assert sum(1 for a in ex.accounts if any(p.size for p in a.positions.values())) == 20
    book_and_mix = [c for c in workload.setup if isinstance(c, PlaceOrder)][20:] + workload.commands
    traders = {c.account for c in book_and_mix if isinstance(c, (PlaceOrder, CancelOrder))}
    assert traders <= set(range(0, 200, 10)) and len(traders) > 15
    rejected = sum(1 for c in workload.commands if isinstance(ex.apply(c)[0], Rejected))
    assert rejected < len(workload.commands) // 100  # the mix still names resting orders
    for bad in (0, 201):
        with pytest.raises(ValueError, match="active accounts"):
            build(10, accounts=200, active=bad)


def test_account_fetch_ns_reads_each_commands_account() -> None:
    workload = build(2_000, accounts=50, seed=3)
    ex = prepare(workload)
    assert account_fetch_ns(ex, workload.commands) > 0
    assert account_fetch_ns(ex, []) == 0.0


def test_fetch_bound_is_the_rate_kept_if_the_fetch_were_the_only_growth() -> None:
    """t = 1e9 / 500,000 = 2,000 ns at the first count; the fetch grows 500 ns: 2,000 / 2,500 = 0.8;
    the baselines do not enter it."""
    first = {"engine_commands_per_s": 500_000, "baseline_ops_per_s": 1_000_000, "account_fetch_ns": 40.0}
    last = {"engine_commands_per_s": 300_000, "baseline_ops_per_s": 900_000, "account_fetch_ns": 540.0}
    assert fetch_bound(first, last) == 0.8
    assert fetch_bound(first, {**last, "baseline_ops_per_s": 1}) == 0.8
    assert fetch_bound(first, {**last, "account_fetch_ns": 30.0}) == 1.0  # no dearer (noise): no bound
    assert fetch_bound({**first, "engine_commands_per_s": 0}, last) is None
    # two accounts a command: 2,000 / (2,000 + 2 x 500) = 0.667
    assert fetch_bound(first, last, 2.0) == 0.667


def test_accounts_touched_counts_each_commands_own_account_and_the_makers_it_fills() -> None:
    workload = build(3_000, accounts=100, seed=3)
    ex = prepare(workload)
    expected = 0
    for c in workload.commands:
        makers = {e.maker_account for e in ex.apply(c) if isinstance(e, Fill)}
        expected += len(makers | {c.account})
    assert accounts_touched(workload) == expected / 3_000
    assert accounts_touched(workload, sample=0) == 0.0


def test_the_sweep_after_the_setup_empties_the_accounts_touched_as_a_servers_tick_does() -> None:
    """Without it the setup's every account would wait in `dirty` through the timed run (issue 17's
    held row: a million-entry set, each addition a cache miss); the holders are filed at risk."""
    workload = build(100, accounts=200, seed=3, positions=0.1)
    ex = prepare(workload)
    assert len(ex.dirty) == 200
    sweep(ex, START_US)
    assert not ex.dirty and ex.clock == START_US
    filed = [a.id for a in ex.accounts if a.watch_key >= 0]
    assert filed == list(range(0, 200, 10))  # the twenty holders
