"""Snapshots of engine state, so recovery replays only the journal tail.

A snapshot is the pickled Exchange after `seq` commands, written to a temporary file, fsynced and
renamed, so a crash leaves either the old set of snapshots or the new one, never half a file. The
data directory is the exchange's own, so unpickling it is trusted.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from backstop.engine.exchange import Exchange
from backstop.journal.log import fsync_dir

KEEP = 2


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
    path = directory / _name(seq)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump((seq, exchange), f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(directory)
    for _, old in snapshots(directory)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def latest(directory: Path) -> tuple[int, Exchange] | None:
    """The newest readable snapshot, skipping any that fails to load."""
    for _, path in reversed(snapshots(directory)):
        try:
            with open(path, "rb") as f:
                seq, exchange = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            continue
        return seq, exchange
    return None
