"""The journal on real files: a torn last record (the crash case) is cut and the start goes on; any
other bad record is damage to acknowledged commands, and every reader refuses it, naming the byte
offset and seq, with the file left byte for byte as it was, wherever the damage is (after or before
the newest snapshot, in a payload or in a header)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from backstop.bench.workload import build
from backstop.engine.commands import CODES, Command
from backstop.journal import log, recovery, snapshot
from backstop.journal.lock import WriterLock
from backstop.server.runtime import Runtime

BATCH = 40


def _journaled(directory: Path, count: int = 1_200, snapshot_every: int = 10**9) -> list[Command]:
    """A data directory whose journal holds `count` commands in batches of BATCH; the commands."""
    workload = build(count, accounts=20, seed=5)
    sent = (workload.setup + workload.commands)[:count]
    with Runtime(directory, snapshot_every=snapshot_every) as runtime:
        for i in range(0, len(sent), BATCH):
            runtime.submit(sent[i : i + BATCH])
    return sent


def _records(path: Path) -> list[tuple[int, int, int]]:
    """(offset, payload length, first seq) of each record, read from the headers alone."""
    data = path.read_bytes()
    found = []
    offset = 0
    while offset < len(data):
        length, _, first = log.HEADER.unpack_from(data, offset)
        found.append((offset, length, first))
        offset += log.HEADER.size + length
    return found


def _flip(path: Path, at: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1 << bit
    path.write_bytes(bytes(data))


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_records_encoded_command_by_command_are_the_bytes_of_the_batch_packed_at_once(tmp_path: Path) -> None:
    """The on-disk format is unchanged: journals written before still read, and the other way."""
    sent = build(300, accounts=5, seed=2).commands
    encode = log.encoder()
    for size in (1, 15, 16, 300):
        batch = sent[:size]
        old = msgpack.packb([(CODES[type(c)], c) for c in batch], use_bin_type=True)
        new = log.record(7, [encode(c) for c in batch])
        assert new[log.HEADER.size :] == old
        assert log.HEADER.unpack_from(new)[0] == len(old)


@pytest.mark.parametrize(
    ("where", "bit"),
    [("payload", 3), ("length", 0), ("length", 7), ("crc", 5), ("seq", 1)],
)
def test_a_flip_mid_journal_stops_the_start_and_changes_nothing(tmp_path: Path, where: str, bit: int) -> None:
    sent = _journaled(tmp_path)
    path = tmp_path / log.FILE_NAME
    records = _records(path)
    offset, length, first = records[len(records) // 2]
    at = {
        "payload": offset + log.HEADER.size + length // 2,
        "length": offset + (3 if bit == 7 else 0),  # a low bit, or the top bit of the u32
        "crc": offset + 4,
        "seq": offset + 8,
    }[where]
    _flip(path, at, bit)
    before = _files(tmp_path)
    with pytest.raises(log.JournalDamaged) as raised:
        Runtime(tmp_path)
    assert (raised.value.offset, raised.value.seq) == (offset, first)
    assert f"damaged at byte {offset} (the batch from seq {first})" in str(raised.value)
    WriterLock(tmp_path).release()  # the failed start let go of the directory (its traceback lives on)
    with pytest.raises(log.JournalDamaged):
        recovery.replay(tmp_path)
    with pytest.raises(log.JournalDamaged):
        list(log.read(tmp_path))
    assert _files(tmp_path) == before
    assert len(sent) > first  # intact, acknowledged records follow the damage


def test_a_bad_seq_in_the_last_record_is_damage_not_a_torn_write(tmp_path: Path) -> None:
    """Its checksum holds: a crash cannot have left it, so it is not cut."""
    _journaled(tmp_path, count=200)
    path = tmp_path / log.FILE_NAME
    offset, _, _ = _records(path)[-1]
    _flip(path, offset + 8, 2)
    before = path.read_bytes()
    with pytest.raises(log.JournalDamaged) as raised:
        Runtime(tmp_path)
    assert raised.value.offset == offset
    assert path.read_bytes() == before


def test_a_record_that_ends_before_the_file_with_nothing_intact_after_it_is_damage(tmp_path: Path) -> None:
    _journaled(tmp_path, count=200)
    path = tmp_path / log.FILE_NAME
    offset, _, _ = _records(path)[-1]
    _flip(path, offset + log.HEADER.size + 5)
    with open(path, "ab") as f:
        f.write(b"\x01" * 40)  # not zeros, not a record
    before = path.read_bytes()
    with pytest.raises(log.JournalDamaged):
        Runtime(tmp_path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("tail", ["half a record", "a header cut short", "zeros"])
def test_a_torn_last_record_is_cut_and_the_start_goes_on(tmp_path: Path, tail: str) -> None:
    sent = _journaled(tmp_path, count=400)
    path = tmp_path / log.FILE_NAME
    whole = path.read_bytes()
    encode = log.encoder()
    record = log.record(len(sent) + 1, [encode(c) for c in sent[:30]])
    torn = {
        "half a record": record[: len(record) // 2],
        "a header cut short": record[:9],
        "zeros": bytes(4096),
    }
    with open(path, "ab") as f:
        f.write(torn[tail])
    with Runtime(tmp_path) as runtime:
        assert runtime.seq == len(sent)
        assert path.read_bytes() == whole
        runtime.submit(sent[:3])
    assert [c for _, c in log.read(tmp_path)] == sent + sent[:3]


def test_a_flip_before_the_newest_snapshot_refuses_too(tmp_path: Path) -> None:
    """Recovery would not need that record, but a replay would: nothing starts, nothing changes."""
    _journaled(tmp_path, snapshot_every=300)
    assert len(snapshot.snapshots(tmp_path)) == 2
    path = tmp_path / log.FILE_NAME
    offset, length, first = _records(path)[2]
    assert first < snapshot.snapshots(tmp_path)[0][0]
    _flip(path, offset + log.HEADER.size + length - 1, 6)
    before = _files(tmp_path)
    with pytest.raises(log.JournalDamaged) as raised:
        Runtime(tmp_path)
    assert raised.value.offset == offset
    assert _files(tmp_path) == before


def test_verify_and_state_report_a_damaged_journal(tmp_path: Path) -> None:
    _journaled(tmp_path, count=400)
    path = tmp_path / log.FILE_NAME
    offset, _, _ = _records(path)[3]
    _flip(path, offset + log.HEADER.size + 2)
    before = _files(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "backstop", "--data-dir", str(tmp_path), *args]
        return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)

    verified = cli("verify")
    assert verified.returncode == 1
    report = json.loads(verified.stdout)
    assert report["equal"] is False
    assert f"damaged at byte {offset}" in report["error"]
    state = cli("state")
    assert state.returncode != 0
    assert f"damaged at byte {offset}" in state.stderr
    assert "Traceback" not in state.stderr + verified.stderr
    assert _files(tmp_path) == before


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (CI runs as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_write_the_full_disk_refuses_leaves_the_journal_at_its_last_durable_length(tiny_disk: Path) -> None:
    """Half a record written before the disk filled is cut at once; once space is back the journal
    takes the next batch and reads back whole."""
    sent = build(2_000, accounts=20, seed=8).commands
    recovery.initialize(tiny_disk / "data")
    journal = log.Journal(tiny_disk / "data")
    path = tiny_disk / "data" / log.FILE_NAME
    filler = tiny_disk / "filler"
    with open(filler, "wb") as f:  # leave about 40 KiB
        f.write(
            bytes((1 << 20) - (40 << 10) - sum(p.stat().st_size for p in (tiny_disk / "data").rglob("*")))
        )
    written = 0
    with pytest.raises(OSError) as raised:
        while True:
            journal.append(sent[written : written + 200])
            written += 200
    assert raised.value.errno == errno.ENOSPC
    assert path.stat().st_size == log.scan(path).end  # nothing of the refused batch is left
    assert log.scan(path).last_seq == written
    filler.unlink()
    journal.append(sent[written : written + 200])
    journal.close()
    assert [c for _, c in log.read(tiny_disk / "data")] == sent[: written + 200]
