"""The product seam, proved end to end by a test-only product (points_product.py) that mints and
burns its own coin against USD held in a reserve pool, has commands in its own code range, a tick
hook, a liquidation hook and state: journaled, replayed, snapshotted and restored to the same
state hash, and covered by the conservation check and the solvency report, with no core edit."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from engine_kit import Desk, usd
from points_product import POOL, PTS, IssuePoints, Points, PointsForfeited, RedeemPoints

from backstop import products
from backstop.engine import commands
from backstop.engine.commands import (
    BY_CODE,
    CODES,
    COMMANDS,
    PRODUCT_SPAN,
    Command,
    PlaceOrder,
    Tick,
    from_dict,
    invalid_field,
    to_dict,
)
from backstop.engine.events import Fill, LiquidationStarted, Rejected
from backstop.engine.exchange import Exchange
from backstop.engine.integrity import solvency
from backstop.engine.restore import restore
from backstop.journal import log, snapshot

PERP = "BTC-PERP"
HOUR = 3_600 * 1_000_000


class PointsDesk(Desk):
    """A Desk on an exchange with the points product that keeps every command it applies (as the
    journal would) and every event."""

    def __init__(self) -> None:
        super().__init__(start_ts=HOUR - 10_000_000)
        self.points = Points()
        self.ex = products.exchange(products=(self.points,))
        self.sent: list[Any] = []
        self.events: list[Any] = []

    def apply(self, command: tuple) -> list:
        self.sent.append(command)
        events = self.ex.apply(command)
        self.events.extend(events)
        return events

    def ok(self, command: tuple) -> list:
        events = self.apply(command)
        assert not (events and isinstance(events[0], Rejected)), events
        return events


def points_desk() -> tuple[PointsDesk, Points, list[Any]]:
    d = PointsDesk()
    return d, d.points, d.sent


def session() -> tuple[PointsDesk, Points, list[Any], int]:
    """Points issued and redeemed, trades, an hour boundary and a liquidation (carol, 20 BTC long at
    10,000 on $10,500 with $500 of it in points, as test_liquidation's orderly case)."""
    d, points, sent = points_desk()
    d.index("BTC", 10_000)
    mm = d.account("mm", "", 10_000_000)
    carol = d.account("carol", "", 11_000)
    d.ok(IssuePoints(d.tick(), carol, usd(500)))
    d.ok(IssuePoints(d.tick(), mm, usd(1_000)))
    d.ok(RedeemPoints(d.tick(), mm, usd(250)))
    d.leverage(carol, 20)
    d.rest(carol, PERP, "buy", "20", 10_000)
    d.place(mm, PERP, "sell", "20", 10_000)
    d.second(12)  # through 01:00:00: the hourly bonus
    d.index("BTC", 9_720)
    d.rest(mm, PERP, "buy", "50", 9_719)
    d.rest(mm, PERP, "sell", "50", 9_721)
    for _ in range(60):
        if any(isinstance(e, Fill) and e.liquidation for e in d.second()):
            break
    d.second()
    return d, points, sent, carol


def test_product_commands_get_codes_in_their_own_range() -> None:
    points_desk()
    assert CODES[IssuePoints] == 9_000 and CODES[RedeemPoints] == 9_001
    assert BY_CODE[9_000] is IssuePoints
    # the core's codes are what they always were: positions in COMMANDS
    assert [CODES[c] for c in COMMANDS] == list(range(19))
    assert [c.__name__ for c in COMMANDS][:3] == ["CreateAccount", "Deposit", "Withdraw"]
    assert CODES[commands.MassQuote] == 18
    with pytest.raises(ValueError, match="core's range"):
        commands.register(PRODUCT_SPAN - 1, IssuePoints)
    with pytest.raises(ValueError, match="IssuePoints's"):
        commands.register(9_000, RedeemPoints)


def test_product_commands_cross_every_edge_like_core_ones() -> None:
    points_desk()
    command = IssuePoints(5, 1, 100)
    assert invalid_field(command) is None
    assert invalid_field(IssuePoints(5, 1, "100")) == "amount"  # type: ignore[arg-type]
    assert from_dict(to_dict(command)) == command  # type: ignore[arg-type]
    encode = log.encoder()
    assert encode(command)  # type: ignore[arg-type]


def test_an_unknown_command_is_rejected_and_changes_nothing() -> None:
    class Stranger(tuple):  # type: ignore[type-arg]
        pass

    ex = Exchange()
    before = ex.state_hash()
    (event,) = ex.apply(Stranger((10,)))
    assert isinstance(event, Rejected) and event.error == "Unknown command Stranger"
    assert ex.state_hash() == before and ex.now == 0


def test_every_core_command_has_a_handler() -> None:
    ex = Exchange()
    assert set(ex.handlers) == set(COMMANDS)


def test_a_product_cannot_take_a_taken_code() -> None:
    class Copy(Points):
        name = "copy"

    with pytest.raises(ValueError):
        products.exchange(products=(Points(), Copy()))  # the same classes under another name


def test_points_issue_and_redeem_through_the_ledger() -> None:
    d, _, _ = points_desk()
    a = d.account("a", "", 1_000)
    d.ok(IssuePoints(d.tick(), a, usd(400)))
    assert d.balance(a) == usd(600) and d.balance(a, PTS) == usd(400)
    assert d.ex.supply == {PTS: usd(400)} and d.ex.pools == {POOL: {"USD": usd(400)}}
    d.ok(RedeemPoints(d.tick(), a, usd(100)))
    assert d.balance(a) == usd(700) and d.balance(a, PTS) == usd(300)
    assert d.ex.supply == {PTS: usd(300)}
    # the ledger refuses a debit beyond what the account has, all or nothing
    before = d.ex.state_hash()
    d.reject(IssuePoints(d.tick(), a, usd(701)), "Not enough balances")
    d.reject(RedeemPoints(d.tick(), a, usd(301)), "Not enough in the reserve")
    b = d.account("b", "", 1_000)
    d.ok(IssuePoints(d.tick(), b, usd(1_000)))
    before = d.ex.state_hash()
    d.reject(RedeemPoints(d.tick(), a, usd(301)), "Not enough balances")
    assert d.ex.state_hash() == before
    assert d.ex.discrepancies() == {}


def test_hooks_run_in_the_tick_and_when_liquidation_starts() -> None:
    d, points, _, carol = session()
    assert points.ticks == len(points.seen_ticks) > 12
    assert points.bonuses >= 1  # the hour's bonus, minted
    # carol's points were forfeited (burned) when her liquidation started
    assert points.forfeited == [(carol, usd(500))]
    assert d.balance(carol, PTS) == 0
    assert d.ex.supply[PTS] == usd(1_000) - usd(250) + points.bonuses


def test_conservation_and_solvency_cover_the_products_coin_and_reserve() -> None:
    d, _points, _, _ = session()
    ex = d.ex
    assert ex.discrepancies() == {}
    report = solvency(ex)
    assert report["balanced"]
    pts = report["coins"][PTS]
    assert pts["supply"] == ex.supply[PTS] == pts["balances"]
    assert report["coins"]["USD"]["pools"] == usd(500 + 1_000 - 250)
    # an unbacked change is seen: points appearing without a mint break the check
    ex.accounts[0].credit(PTS, 7)
    assert ex.discrepancies() == {PTS: 7}
    assert not solvency(ex)["balanced"]


def test_journal_replay_and_snapshot_reach_the_same_state(tmp_path: Path) -> None:
    d, _, sent, _ = session()
    final = d.ex.state_hash()
    journal = log.Journal(tmp_path)
    for i in range(0, len(sent), 13):
        journal.append(sent[i : i + 13])
    journal.close()
    read: list[Command] = [c for _, c in log.read(tmp_path)]
    assert read == sent and any(type(c) is IssuePoints for c in read)
    again = products.exchange(products=(Points(),))
    for c in read:
        again.apply(c)
    assert again.state_hash() == final
    # the product's state is in the hash: a product that forgets it changes the hash
    assert d.ex.canonical()[-1][1][0] == "points"
    # snapshot (pickle) and restore
    snapshot.write(tmp_path, len(read), d.ex)
    seq, loaded = snapshot.load(tmp_path / f"snapshot-{len(read):016d}.pkl")
    assert seq == len(read) and loaded.state_hash() == final
    assert isinstance(loaded.products[0], Points)
    assert loaded.products[0].canonical() == d.ex.products[0].canonical()
    # and the restored exchange goes on exactly as the original
    for ex in (d.ex, loaded, pickle.loads(pickle.dumps(again))):
        ex.apply(IssuePoints(d.ts + 10, 0, 5))
        ex.apply(Tick(d.ts + HOUR))
    assert d.ex.state_hash() == loaded.state_hash()


def test_a_state_with_product_sections_needs_those_products() -> None:
    d, _, _, _ = session()
    state = d.ex.canonical()
    with pytest.raises(ValueError, match="does not have"):
        restore(d.ex.catalog, state)
    with pytest.raises(ValueError, match="nothing of products"):
        restore(d.ex.catalog, state[:-1], (Points,))


def test_without_products_the_canonical_form_is_the_core_alone() -> None:
    ex = products.exchange(products=())
    assert ex.products == ()
    assert len(ex.canonical()) == 12
    ex.apply(PlaceOrder(1, 0, PERP, "buy", 1, 1))  # rejected: no such account
    assert len(ex.canonical()) == 12


def test_liquidation_hook_runs_once_the_accounts_orders_are_cancelled() -> None:
    d, points, _, carol = session()
    assert points.liquidations == [(carol, 0)]  # (account, its open orders when the hook ran)
    forfeits = [e for e in d.events if isinstance(e, PointsForfeited)]
    starts = [e for e in d.events if isinstance(e, LiquidationStarted)]
    assert forfeits[0].account == starts[0].account == carol
    assert d.events.index(starts[0]) < d.events.index(forfeits[0])


@pytest.mark.parametrize(("owners", "called"), [("", True), ("car", True), ("carl", False), (None, False)])
def test_a_liquidation_hook_runs_for_the_owners_its_product_names(
    monkeypatch: pytest.MonkeyPatch, owners: str | None, called: bool
) -> None:
    """`liquidation_owners` (product.py): an owner prefix, "" for every account (as without it)
    or None for none; the liquidation itself runs the same either way."""
    monkeypatch.setattr(Points, "liquidation_owners", owners, raising=False)
    d, points, _, carol = session()
    assert points.liquidations == ([(carol, 0)] if called else [])
    assert any(isinstance(e, LiquidationStarted) and e.account == carol for e in d.events)


def test_the_engine_bench_measures_the_engine_with_a_product_registered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backstop.bench.engine import IdleProduct, run
    from backstop.bench.workload import build, prepare

    result = run(2_000, 500, 7, True)
    assert result["engine_with_product_vs_baseline"] > 0
    workload = build(2_000, seed=7)
    plain, idle = prepare(workload, ()), prepare(workload, (IdleProduct(),))
    for c in workload.commands:
        plain.apply(c)
        idle.apply(c)
    assert idle.canonical()[:12] == plain.canonical() and idle.canonical()[12] == [
        ["ledger", [[], []]],
        ["idle", []],
    ]
