"""The real `backstop serve` against a damaged journal, a full disk and commands the journal cannot
hold: a damaged journal stops the start with the byte offset and is left as it was (a torn last
record is cut and the server starts); on a full tmpfs nothing unsaved is acknowledged, refused
writes get FTX's 503 retry error, the operator's log gets one line per outage, the same process
takes orders again once space is back, and a stop and a restart on the full disk both work; a
command the journal cannot encode is refused alone and the exchange carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from test_server_public import free_port
from test_server_trading import MANUAL, TOKEN, Server

from backstop.engine import errors
from backstop.journal import log, snapshot
from backstop.journal.lock import LOCK_FILE
from backstop.server.auth import sign_request

PERP = "BTC/USD:USD"
WALL = ("--clock", "wall", "--feed", "manual", "--no-agents")
DISK_MB = 64  # the reserve takes 16 MiB of it, and needs 32 MiB free to be made again
STARTUP_S = 30  # bounds on waits, so that a failure shows instead of hanging
OUTAGE = "journal: cannot write"
RESUMED = "journal: writing again"


def _command(data: Path, port: int, clock: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "backstop", "serve", "--port", str(port), "--data-dir", str(data), *clock]


ENV = dict(os.environ, BACKSTOP_OPERATOR_TOKEN=TOKEN)


def _serve(data: Path, port: int, clock: tuple[str, ...]) -> subprocess.Popen[str]:
    command = _command(data, port, clock)
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _start(data: Path, port: int, clock: tuple[str, ...] = MANUAL) -> subprocess.Popen[str]:
    proc = _serve(data, port, clock)
    deadline = time.time() + STARTUP_S
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/markets", timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGINT (a clean stop); its stderr. The stop must succeed."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "backstop", "--data-dir", str(data), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _files(directory: Path) -> dict[str, bytes]:
    """The data directory's files but the writer lock, whose record names whoever last held it
    (a refused start too)."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and p.name != LOCK_FILE}


def _trading(data: Path, port: int, clock: tuple[str, ...] = MANUAL) -> tuple[subprocess.Popen[str], Server]:
    proc = _start(data, port, clock)
    server = Server(f"http://127.0.0.1:{port}")
    before = server.operator("/operator/state_hash", method="GET")["result"]["sequence"]
    assert server.operator("/operator/index_prices", {"prices": {"BTC": 30_000}})["success"]
    if clock == MANUAL:
        assert server.operator("/operator/clock/advance", {"seconds": 1})["success"]
    else:
        _wait_for_ticks(server, before + 2)
    return proc, server


def _wait_for_ticks(server: Server, sequence: int) -> int:
    """Wait until the journal reaches `sequence` (the wall clock's ticks move it on their own)."""
    deadline = time.time() + STARTUP_S
    while True:
        now = server.operator("/operator/state_hash", method="GET")["result"]["sequence"]
        if now >= sequence:
            return int(now)
        assert time.time() < deadline, f"the journal stayed at {now}"
        time.sleep(0.2)


# ------------------------------------------------------------------------------- a damaged journal


def test_a_journal_flipped_mid_file_stops_serve_and_is_left_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, server = _trading(data, port)
    maker = server.client("maker", 1_000_000)
    for i in range(40):
        maker.create_order(PERP, "limit", "buy", 0.01, 29_000 - i)
    _stop(proc)
    path = data / log.FILE_NAME
    raw = bytearray(path.read_bytes())
    records = []  # (offset, payload length, first seq), from the headers
    offset = 0
    while offset < len(raw):
        length, _, first = log.HEADER.unpack_from(raw, offset)
        records.append((offset, length, first))
        offset += log.HEADER.size + length
    offset, length, first = records[len(records) // 2]
    raw[offset + log.HEADER.size + length // 2] ^= 0x04
    path.write_bytes(bytes(raw))
    assert snapshot.snapshots(data)[-1][0] > first  # the stop's snapshot: the damage lies before it
    before = _files(data)
    refused = subprocess.run(
        _command(data, port, MANUAL), env=ENV, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert f"damaged at byte {offset} (the batch from seq {first})" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _files(data) == before


def test_a_torn_last_record_is_cut_and_serve_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, server = _trading(data, port)
    maker = server.client("maker", 1_000_000)
    ids = [maker.create_order(PERP, "limit", "buy", 0.01, 29_000 - i)["id"] for i in range(5)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    path = data / log.FILE_NAME
    whole = path.stat().st_size
    with open(path, "ab") as f:  # a batch a crash interrupted after its first 23 bytes
        f.write(log.HEADER.pack(200, 12345, 10**6) + b"\x93\x92\x05\x9b\x01\x02\x03")
    proc = _start(data, port)
    try:
        assert path.stat().st_size == whole
        assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted(ids)
        server.client("taker", 10_000).create_order(PERP, "limit", "buy", 0.01, 29_400)
    finally:
        _stop(proc)
    assert json.loads(_cli(data, "verify").stdout)["equal"] is True


def test_a_flipped_snapshot_is_skipped_and_serve_starts_on_the_journals_state(tmp_path: Path) -> None:
    """A clean stop writes a snapshot; one byte of it flipped, the next start skips it (its
    checksum fails), says so, and recovers from the journal: the state a clean replay reaches,
    every order still there."""
    data = tmp_path / "data"
    port = free_port()
    proc, server = _trading(data, port)
    maker = server.client("maker", 1_000_000)
    ids = [maker.create_order(PERP, "limit", "buy", 0.01, 29_000 - i)["id"] for i in range(5)]
    _stop(proc)
    newest = snapshot.snapshots(data)[-1][1]
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    newest.write_bytes(bytes(raw))
    proc = _start(data, port)
    try:
        assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted(ids)
        live = server.operator("/operator/state_hash", method="GET")["result"]["stateHash"]
    finally:
        err = _stop(proc)
    assert f"{newest} skipped" in err
    verified = json.loads(_cli(data, "verify").stdout)
    assert verified["equal"] is True and live in json.dumps(verified)


# ------------------------------------------------------------------------------- unencodable commands


def _signed(client: ccxt.ftx, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
    ts = int(time.time() * 1000)
    request = urllib.request.Request(
        client.urls["api"]["private"] + path,
        data=body or None,
        method=method,
        headers={
            "FTX-KEY": client.apiKey,
            "FTX-TS": str(ts),
            "FTX-SIGN": sign_request(client.secret, ts, method, path, body),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_command_the_journal_cannot_hold_is_refused_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, server = _trading(data, port)
    try:
        maker = server.client("maker", 1_000_000)
        placed = maker.create_order(PERP, "limit", "buy", 0.01, 29_000)["id"]
        status, reply = _signed(maker, "DELETE", f"/api/orders/{2**80}")
        assert 400 <= status < 500 and reply["success"] is False, (status, reply)
        nickname = json.dumps({"nickname": "\ud800"}).encode()  # a lone surrogate
        status, reply = _signed(maker, "POST", "/api/subaccounts", nickname)
        assert 400 <= status < 500 and reply["success"] is False, (status, reply)
        again = maker.create_order(PERP, "limit", "buy", 0.01, 28_990)["id"]  # writes carry on
        assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted([placed, again])
        clock = server.operator("/operator/clock/advance", {"seconds": 3})  # so does the clock
        assert clock["success"], clock
    finally:
        err = _stop(proc)
    assert "Traceback" not in err
    assert json.loads(_cli(data, "verify").stdout)["equal"] is True


# ------------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs of DISK_MB (CI runs as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> Path:
    """Fill the disk to the last byte with a file beside the data directory."""
    filler = mount / "filler"
    with open(filler, "ab", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(bytes(chunk))
            except OSError:
                pass
    return filler


def _until_refused(client: ccxt.ftx, price: int, acknowledged: list[str]) -> int:
    """Place orders until the journal refuses some; each refusal must be FTX's retry error with a
    503. Acknowledged ids are added to `acknowledged`; the number refused."""
    statuses: list[int] = []
    client.session.hooks["response"] = [lambda reply, *args, **kwargs: statuses.append(reply.status_code)]
    refused = 0
    for i in range(400):
        try:
            acknowledged.append(client.create_order(PERP, "limit", "buy", 0.01, price - i % 50)["id"])
        except ccxt.ExchangeNotAvailable as exc:  # the journal's refusal, or the replay guard's record's
            assert errors.JOURNAL_UNAVAILABLE in str(exc) or errors.REQUEST_UNRECORDED in str(exc)
            assert statuses[-1] == 503
            refused += 1
            if refused == 5:
                break
    client.session.hooks["response"] = []
    assert refused == 5, "the full disk never refused an order"
    return refused


def _quiet(err: str) -> None:
    """No traceback per refused write: at most one per outage (the history store logs its own
    failure to write once, with its traceback)."""
    assert "POST /api/orders failed" not in err
    assert err.count("Traceback") <= err.count(OUTAGE), err


def test_a_full_disk_refuses_writes_then_resumes_by_itself_and_restarts(small_disk: Path) -> None:
    data = small_disk / "data"
    port = free_port()
    proc, server = _trading(data, port, WALL)  # the wall clock ticks (and keeps trying) on its own
    maker = server.client("maker", 1_000_000)
    acknowledged = [maker.create_order(PERP, "limit", "buy", 0.01, 29_000)["id"]]
    filler = _fill(small_disk)
    _until_refused(maker, 29_800, acknowledged)
    deposit = server.operator("/operator/deposits", {"account": "maker", "coin": "USD", "size": 5})
    assert deposit.get("status") == 503, deposit  # the operator's writes too
    with pytest.raises(ccxt.ExchangeNotAvailable):  # a bulk cancel the journal refuses is no success
        maker.cancel_orders(acknowledged[:3])
    assert maker.fetch_open_orders(PERP)  # reads go on

    filler.unlink()  # space is back: the same process takes orders again
    acknowledged.append(maker.create_order(PERP, "limit", "buy", 0.01, 29_300)["id"])
    sequence = server.operator("/operator/state_hash", method="GET")["result"]["sequence"]
    _wait_for_ticks(server, sequence + 2)  # and the clock ticks again
    assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted(acknowledged)
    late = server.client("late", 1_000_000)  # writes after the restart (a fresh key: no replay floor)

    filler = _fill(small_disk)  # full again: a clean stop still writes its snapshot
    _until_refused(maker, 29_700, acknowledged)
    err = _stop(proc)
    assert err.count(OUTAGE) == 2 and err.count(RESUMED) == 1, err
    _quiet(err)
    final = max(seq for seq, _ in snapshot.snapshots(data))
    assert final == log.scan(data / log.FILE_NAME).last_seq

    proc = _start(data, port, WALL)  # a restart on the still-full disk
    try:
        assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted(acknowledged)
        placed: list[str] = []
        _until_refused(late, 29_600, placed)
        filler.unlink()
        placed.append(late.create_order(PERP, "limit", "buy", 0.01, 29_200)["id"])
        assert sorted(o["id"] for o in late.fetch_open_orders(PERP)) == sorted(placed)
        assert sorted(o["id"] for o in maker.fetch_open_orders(PERP)) == sorted(acknowledged)
    finally:
        err = _stop(proc)
    assert err.count(OUTAGE) == 1 and err.count(RESUMED) == 1, err
    _quiet(err)
    verified = json.loads(_cli(data, "verify").stdout)
    assert verified["equal"] is True and verified["discrepancies"] == {}
