"""Journals and snapshots written before the product seam (main at d0b3857) still replay and
verify to the very state hashes they reached then: codes, canonical form and restore unchanged.

The fixture (tests/data/journal-v1) was recorded once by `tests/data/make_journal_v1.py` with
that engine: every core command kind, trades, an hour of funding, both liquidation steps, trigger
orders, a mass quote and a halt, and a snapshot at the journal's middle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from backstop.journal import log, recovery, snapshot

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "journal-v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(FIXTURE, target)
    return target


def test_the_fixture_holds_every_core_command(directory: Path) -> None:
    commands = [c for _, c in log.read(directory)]
    assert len(commands) == EXPECTED["commands"]
    assert sorted({type(c).__name__ for c in commands}) == EXPECTED["kinds"]
    assert len(EXPECTED["kinds"]) == 19


def test_an_old_journal_replays_to_the_same_state_hash(directory: Path) -> None:
    exchange, seq = recovery.replay(directory)
    assert seq == EXPECTED["commands"]
    assert exchange.state_hash() == EXPECTED["final_hash"]
    assert exchange.discrepancies() == {}


def test_an_old_snapshot_still_verifies_and_recovery_uses_it(directory: Path) -> None:
    seq, exchange = snapshot.load(directory / f"snapshot-{EXPECTED['snapshot_seq']:016d}.pkl")
    assert seq == EXPECTED["snapshot_seq"]
    assert exchange.state_hash() == EXPECTED["snapshot_hash"]
    found = snapshot.latest(directory)
    assert found is not None and found.seq == EXPECTED["snapshot_seq"]
    exchange, seq = recovery.start(directory)
    assert (seq, exchange.state_hash()) == (EXPECTED["commands"], EXPECTED["final_hash"])
