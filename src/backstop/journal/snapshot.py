"""Snapshots of engine state, so recovery replays only the journal tail.

A snapshot file is `MAGIC`, the sha256 of the rest, then the pickle of (seq, the engine's
`state_hash()`, the Exchange after `seq` commands). It is written to a temporary file, fsynced and
renamed, so a crash leaves either the old set of snapshots or the new one, never half a file; a
failed write removes its temporary file. Loading checks the checksum before unpickling (the data
directory is the exchange's own, so an intact pickle is trusted) and the state hash after: a
snapshot that fails either, or that predates checksums (no `MAGIC`), is skipped with a warning and
recovery falls back to an older snapshot or a replay of the whole journal.

Format 3 (`MAGIC`) is the state with the markets' rolling 24-hour volume (engine/volume.py). A
format 2 snapshot (`MAGIC_2`, written before) is still read: its windows restore empty and
`Loaded.volume` is false, so recovery knows the trades before it are missing from them (see
`recovery`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import NamedTuple

from backstop.engine.exchange import Exchange
from backstop.journal.log import fsync_dir

KEEP = 2
MAGIC = b"backstop snapshot 3\n"
MAGIC_2 = b"backstop snapshot 2\n"  # before the 24-hour volume was part of the state: still read
DIGEST = 32  # bytes of sha256
logger = logging.getLogger("backstop.journal")


class Loaded(NamedTuple):
    seq: int
    exchange: Exchange
    path: Path
    volume: bool = True  # whether it holds the 24-hour volume (format 3); format 2 restores it empty


class BadSnapshot(Exception):
    """A snapshot that cannot be trusted; the message says why."""


def _name(seq: int) -> str:
    return f"snapshot-{seq:016d}.pkl"


def snapshots(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob("snapshot-*.pkl"):
        try:
            found.append((int(path.stem.split("-")[1]), path))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def write(directory: Path, seq: int, exchange: Exchange) -> Path:
    """Write the snapshot of `exchange` after `seq` commands; older ones beyond `KEEP` and
    temporary files left by a crash are removed."""
    body = pickle.dumps((seq, exchange.state_hash(), exchange), protocol=pickle.HIGHEST_PROTOCOL)
    path = directory / _name(seq)
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(hashlib.sha256(body).digest())
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    for _, old in snapshots(directory)[:-KEEP]:
        old.unlink(missing_ok=True)
    for stale in directory.glob("snapshot-*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def load(path: Path) -> tuple[int, Exchange]:
    """(seq, exchange) of a snapshot that passes its checks; raises `BadSnapshot` or OSError."""
    seq, exchange, _ = _load(path)
    return seq, exchange


def _load(path: Path) -> tuple[int, Exchange, bool]:
    """`load`, and whether the snapshot holds the 24-hour volume (format 3)."""
    data = path.read_bytes()
    volume = data.startswith(MAGIC)
    if not volume and not data.startswith(MAGIC_2):
        raise BadSnapshot("it has no checksum (an older format)")
    start = len(MAGIC) + DIGEST  # both formats' magic have the same length
    body = memoryview(data)[start:]
    if hashlib.sha256(body).digest() != data[len(MAGIC) : start]:
        raise BadSnapshot("its bytes do not match its checksum")
    try:
        seq, state_hash, exchange = pickle.loads(body)
    except Exception as exc:
        raise BadSnapshot(f"it cannot be read ({exc})") from None
    if not isinstance(exchange, Exchange) or not isinstance(seq, int) or path.name != _name(seq):
        raise BadSnapshot("it holds something other than its name says")
    if exchange.state_hash() != state_hash:
        raise BadSnapshot("the state it holds does not match its state hash")
    return seq, exchange, volume


def latest(directory: Path, at_most: int | None = None) -> Loaded | None:
    """The newest snapshot (at or below seq `at_most` if given) that passes its checks; each one
    skipped is logged."""
    for seq, path in reversed(snapshots(directory)):
        if at_most is not None and seq > at_most:
            continue
        try:
            found, exchange, volume = _load(path)
        except (OSError, BadSnapshot) as exc:
            logger.warning(
                "%s skipped: %s; recovery uses an older snapshot or a replay of the journal", path, exc
            )
            continue
        return Loaded(found, exchange, path, volume)
    return None
