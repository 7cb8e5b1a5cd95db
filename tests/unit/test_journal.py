"""The journal on real files: a torn last record (the crash case) is cut and the start goes on; any
other bad record is damage to acknowledged commands, and every reader refuses it, naming the byte
offset and seq, with the file left byte for byte as it was, wherever the damage is (after or before
the newest snapshot, in a payload or in a header)."""

from __future__ import annotations

from pathlib import Path

import msgpack

from backstop.bench.workload import build
from backstop.engine.commands import CODES
from backstop.journal import log

BATCH = 40


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
