"""Snapshots are verified before they are trusted (real files): a flipped byte or an edited balance
is skipped and recovery falls back to an older snapshot or a replay, reaching the state a clean
replay of the journal reaches; an edit whose checksum and state hash were redone loads, and the
solvency check sends the writer to a replay of the journal; a snapshot from before checksums is
ignored, not a crash."""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

import pytest

from backstop import products
from backstop.bench.workload import build
from backstop.journal import recovery, snapshot
from backstop.server.runtime import Runtime


def _directory(path: Path, snapshot_every: int = 400) -> int:
    """A data directory with a journal of 1,500 commands and its two newest snapshots; last seq."""
    workload = build(1_500, accounts=20, seed=9)
    sent = (workload.setup + workload.commands)[:1_500]
    with Runtime(path, snapshot_every=snapshot_every) as runtime:
        for i in range(0, len(sent), 50):
            runtime.submit(sent[i : i + 50])
        return runtime.seq


def _newest(path: Path) -> Path:
    return snapshot.snapshots(path)[-1][1]


def _rewrite(path: Path, edit: bool, checksum: bool, state_hash: bool) -> None:
    """Flip one bit of the first account's USD balance in a snapshot; redo its checksum and state
    hash or keep the old ones."""
    data = path.read_bytes()
    seq, old_hash, exchange = pickle.loads(data[len(snapshot.MAGIC) + snapshot.DIGEST :])
    if edit:
        exchange.accounts[0].usd ^= 1 << 20
    new_hash = exchange.state_hash() if state_hash else old_hash
    body = pickle.dumps((seq, new_hash, exchange), protocol=pickle.HIGHEST_PROTOCOL)
    old_digest = data[len(snapshot.MAGIC) : len(snapshot.MAGIC) + snapshot.DIGEST]
    digest = hashlib.sha256(body).digest() if checksum else old_digest
    path.write_bytes(snapshot.MAGIC + digest + body)


def _replayed(path: Path) -> str:
    return recovery.replay(path)[0].state_hash()


@pytest.mark.parametrize("damage", ["flipped byte", "balance edit", "balance edit, checksum redone"])
def test_a_damaged_snapshot_is_skipped_and_recovery_reaches_a_clean_replay(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    seq = _directory(tmp_path)
    newest = _newest(tmp_path)
    if damage == "flipped byte":
        data = bytearray(newest.read_bytes())
        data[len(data) // 2] ^= 0x10
        newest.write_bytes(bytes(data))
    else:
        _rewrite(newest, edit=True, checksum=damage.endswith("redone"), state_hash=False)
    with caplog.at_level(logging.WARNING, logger="backstop.journal"), Runtime(tmp_path) as runtime:
        assert runtime.seq == seq
        assert runtime.exchange.state_hash() == _replayed(tmp_path)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and newest.name in skipped[0]
    reason = "match its state hash" if damage.endswith("redone") else "match its checksum"
    assert reason in skipped[0]


def test_every_snapshot_damaged_falls_back_to_a_full_replay(tmp_path: Path) -> None:
    seq = _directory(tmp_path)
    for _, path in snapshot.snapshots(tmp_path):
        path.write_bytes(path.read_bytes()[:-7])
    exchange, recovered = recovery.recover(tmp_path)
    assert recovered == seq
    assert exchange.state_hash() == _replayed(tmp_path)


def test_an_edit_with_checksum_and_state_hash_redone_is_caught_by_the_solvency_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The edited snapshot passes its own checks, but the state it gives breaks the solvency
    invariant: the writer replays the whole journal instead and starts on the true state."""
    _directory(tmp_path)
    newest = _newest(tmp_path)
    loaded = snapshot.latest(tmp_path)
    assert loaded is not None
    seq, exchange = loaded[:2]
    exchange.accounts[0].usd ^= 1 << 20
    assert snapshot.write(tmp_path, seq, exchange) == newest  # written as the runtime writes them
    exchange, _ = recovery.recover(tmp_path)  # reading commands show what is wrong
    assert exchange.discrepancies() in ({"USD": 1 << 20}, {"USD": -(1 << 20)})
    with caplog.at_level(logging.ERROR, logger="backstop.journal"), Runtime(tmp_path) as runtime:
        assert runtime.exchange.state_hash() == _replayed(tmp_path)
        assert runtime.exchange.discrepancies() == {}
    caught = [r.getMessage() for r in caplog.records if "breaks the solvency invariant" in r.getMessage()]
    assert len(caught) == 1 and newest.name in caught[0] and "replaying the whole journal" in caught[0]


def test_a_snapshot_from_before_checksums_is_ignored_and_the_journal_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seq = _directory(tmp_path, snapshot_every=10**9)
    exchange = recovery.replay(tmp_path)[0]
    old = tmp_path / f"snapshot-{seq:016d}.pkl"
    with open(old, "wb") as f:  # the format written before: the pickle of (seq, exchange)
        pickle.dump((seq, exchange), f, protocol=pickle.HIGHEST_PROTOCOL)
    with caplog.at_level(logging.WARNING, logger="backstop.journal"), Runtime(tmp_path) as runtime:
        assert runtime.exchange.state_hash() == exchange.state_hash()
    assert any("no checksum" in r.getMessage() for r in caplog.records)


def test_a_snapshot_that_cannot_be_written_never_stops_the_exchange(tmp_path: Path) -> None:
    """A directory standing where the snapshot's temporary file goes: the write fails, the
    runtime carries on, and the next try (after snapshot_every more commands) succeeds."""
    workload = build(300, accounts=5, seed=4)
    sent = workload.setup + workload.commands
    with Runtime(tmp_path, snapshot_every=100) as runtime:
        runtime.submit(sent[:60])
        blocker = tmp_path / f"snapshot-{runtime.seq + 50:016d}.tmp"
        blocker.mkdir()
        runtime.submit(sent[60:110])
        assert not snapshot.snapshots(tmp_path)
        blocker.rmdir()
        runtime.submit(sent[110:215])
        assert [seq for seq, _ in snapshot.snapshots(tmp_path)] == [215]
        assert runtime.take_snapshot()
    assert not list(tmp_path.glob("*.tmp"))
    exchange = products.exchange()  # the enabled products, as a new data directory records them
    for command in sent[:215]:
        exchange.apply(command)
    assert recovery.recover(tmp_path)[0].state_hash() == exchange.state_hash()
