"""Journals and snapshots written before the product seam (main at d0b3857) still replay and
verify to the very state hashes they reached then: codes, canonical form and restore unchanged.

The fixture (tests/data/journal-v1) was recorded once by `tests/data/make_journal_v1.py` with
that engine: every core command kind, trades, an hour of funding, both liquidation steps, trigger
orders, a mass quote and a halt, and a snapshot at the journal's middle.

Since then the state holds one thing more: each market's rolling 24-hour volume (engine/volume.py),
in the canonical form only while its window holds a trade. The journal's trades are all within
an hour of its end, so its final state now carries windows: with them left out, the form is the
one that engine hashed (`expected.json`, kept as that engine wrote it), and with them the replay
reaches `FINAL_HASH` every time. The old snapshot has no windows: it restores them empty and still
verifies at its old hash; recovery uses it only once the trades before it have left the window (a
day), and until then replays the journal, so recovery and replay reach the same state.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from backstop.engine import state, volume
from backstop.engine.book import MARKET_STATE
from backstop.engine.commands import Tick
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery, snapshot

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "journal-v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
FINAL_HASH = "2721b74f0caea7b35c5239476d9b78b5f5f7b98334fb01a3a675f4d20a1c17ee"
"""The full replay's state hash with the markets' 24-hour volume windows in the state."""


def hash_without_windows(ex: Exchange) -> str:
    """The state hash of the canonical form with each market's 24-hour volume window cut off: the
    form the engine of d0b3857 hashed."""
    form: Any = ex.canonical()
    risk = form[[p.name for p in state.PARTS].index("risk")]
    for row in risk[[p.name for p in state.RISK_PARTS].index("markets")]:
        del row[1 + len(MARKET_STATE) :]
    return hashlib.sha256(repr(form).encode()).hexdigest()


def windows(ex: Exchange) -> dict[str, list[tuple[int, int]]]:
    return {b.market: w for b in ex.book_list if (w := volume.canonical(b, ex.now))}


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
    assert hash_without_windows(exchange) == EXPECTED["final_hash"]
    assert set(windows(exchange)) == {"BTC-PERP", "ETH-PERP", "BTC/USD"}
    assert exchange.state_hash() == FINAL_HASH
    assert recovery.replay(directory)[0].state_hash() == FINAL_HASH
    assert exchange.discrepancies() == {}


def test_an_old_snapshot_still_verifies_and_recovery_uses_it_once_the_day_is_over(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seq, exchange = snapshot.load(directory / f"snapshot-{EXPECTED['snapshot_seq']:016d}.pkl")
    assert seq == EXPECTED["snapshot_seq"]
    assert exchange.state_hash() == EXPECTED["snapshot_hash"]
    assert windows(exchange) == {}  # written before windows: restored empty
    found = snapshot.latest(directory)
    assert found is not None and found.seq == EXPECTED["snapshot_seq"] and not found.volume
    # the journal's end is within the day of the trades before the snapshot, which the snapshot's
    # windows lack: recovery replays the journal instead, and reaches what a replay reaches
    exchange, seq = recovery.start(directory)
    assert (seq, exchange.state_hash()) == (EXPECTED["commands"], FINAL_HASH)
    assert "holds no 24-hour volume" in caplog.text
    # a day on, every trade before the snapshot is out of the window: recovery uses the snapshot
    caplog.clear()
    journal = log.Journal(directory)
    journal.append([Tick(exchange.now + 24 * 3_600 * 1_000_000)])
    journal.close()
    recovered, seq = recovery.start(directory)
    assert seq == EXPECTED["commands"] + 1
    assert "holds no 24-hour volume" not in caplog.text and "skipped" not in caplog.text
    replayed, _ = recovery.replay(directory)
    assert recovered.state_hash() == replayed.state_hash()
    assert windows(recovered) == windows(replayed) == {}
