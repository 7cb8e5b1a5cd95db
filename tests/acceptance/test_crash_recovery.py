"""A real sequencer process is fed commands and SIGKILLed mid-stream. After restart every
acknowledged command is in the journal, in order, and recovery (snapshot + tail) reaches the same
state hash as a clean replay of the journal and as applying the sent commands in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from backstop import products
from backstop.bench.workload import build
from backstop.engine.commands import to_dict
from backstop.journal import log, recovery


def _start(data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "backstop", "--data-dir", str(data_dir), "node", "--snapshot-every", "700"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _feed(proc: subprocess.Popen[bytes], lines: list[bytes], hold_from: int, killed: threading.Event) -> None:
    """Write the commands in small chunks; from `hold_from` on, only once the kill has happened,
    so the process always dies with commands still coming."""
    assert proc.stdin is not None
    try:
        for i in range(0, len(lines), 50):
            if i >= hold_from:
                killed.wait(timeout=60)
            proc.stdin.write(b"".join(lines[i : i + 50]))
            proc.stdin.flush()
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the process is gone while we are still writing: that is the point


def test_sigkill_mid_stream_loses_no_acknowledged_command(tmp_path: Path) -> None:
    workload = build(6_000, accounts=50, seed=11)
    sent = workload.setup + workload.commands
    lines = [json.dumps(to_dict(c)).encode() + b"\n" for c in sent]

    proc = _start(tmp_path)
    killed = threading.Event()
    writer = threading.Thread(target=_feed, args=(proc, lines, 5_000, killed), daemon=True)
    writer.start()
    acked: list[int] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        reply = json.loads(raw)
        assert "seq" in reply, reply
        acked.append(reply["seq"])
        if len(acked) == 4_000:
            proc.send_signal(signal.SIGKILL)
            killed.set()
            break
    for raw in proc.stdout:  # acks already written before the kill still count
        acked.append(json.loads(raw)["seq"])
    proc.wait()
    writer.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert acked == list(range(1, len(acked) + 1))
    assert len(acked) < len(sent), "the kill must land mid-stream"

    journaled = list(log.read(tmp_path))
    assert len(journaled) >= len(acked)
    assert [seq for seq, _ in journaled] == list(range(1, len(journaled) + 1))
    assert [c for _, c in journaled] == sent[: len(journaled)]

    recovered, seq = recovery.recover(tmp_path)
    replayed, replay_seq = recovery.replay(tmp_path)
    assert seq == replay_seq == len(journaled)
    assert recovered.state_hash() == replayed.state_hash()
    assert any(p.name.startswith("snapshot-") for p in tmp_path.iterdir()), "recovery used a snapshot"

    direct = products.exchange()  # the enabled products, as a new data directory records them
    for command in sent[:seq]:
        direct.apply(command)
    assert direct.state_hash() == recovered.state_hash()

    # the restarted sequencer carries on from where the journal ends
    rest = lines[seq:]
    proc = _start(tmp_path)
    out, err = proc.communicate(b"".join(rest), timeout=120)
    assert proc.returncode == 0, err.decode()
    seqs = [json.loads(line)["seq"] for line in out.splitlines()]
    assert seqs == list(range(seq + 1, len(sent) + 1))
    final, final_seq = recovery.recover(tmp_path)
    assert final_seq == len(sent)
    whole = products.exchange()  # the enabled products, as a new data directory records them
    for command in sent:
        whole.apply(command)
    assert final.state_hash() == whole.state_hash()
    assert not final.discrepancies()


def test_torn_tail_is_cut_and_never_acknowledged(tmp_path: Path) -> None:
    workload = build(200, accounts=5, seed=3)
    sent = workload.setup + workload.commands
    recovery.initialize(tmp_path)
    journal = log.Journal(tmp_path)
    journal.append(sent[:100])
    journal.append(sent[100:150])
    journal.close()
    path = tmp_path / log.FILE_NAME
    whole = path.stat().st_size
    with open(path, "ab") as f:  # half a record, as a crash in the middle of a write leaves it
        f.write(os.urandom(37))
    reopened = log.Journal(tmp_path)
    assert reopened.last_seq == 150
    assert path.stat().st_size == whole
    reopened.append(sent[150:160])
    reopened.close()
    assert [c for _, c in log.read(tmp_path)] == sent[:160]
