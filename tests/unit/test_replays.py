"""Each signed write accepted at most once within its window (replays.py): through authenticate,
memory bounds, and what a restart keeps."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_auth import TS, Stub, rec, signed

from backstop.engine.errors import REQUEST_UNRECORDED
from backstop.journal.boot import boot_time_ms
from backstop.server import replays
from backstop.server.auth import REPLAYED, AuthError, authenticate, sign_request
from backstop.server.keys import REPLAY_FILE_NAME, KeyStore
from backstop.server.replays import MAX_PER_KEY, RESERVE_MS, ReplayGuard

WINDOW = 30_000
WITHDRAWAL = b'{"coin":"USD","size":100,"address":"0xabc"}'


def stub() -> Stub:
    return Stub(rec(), rec("bob", "b", owner="bob"), replays=ReplayGuard(None, WINDOW, TS))


def send(store, method="POST", target="/api/wallet/withdrawals", body=WITHDRAWAL, now=TS, **kw):
    return authenticate(store, signed(method, target, body, **kw), method, target, body, now, WINDOW)


def refused_as_replay(store, **kw) -> None:
    with pytest.raises(AuthError) as e:
        send(store, **kw)
    assert (e.value.message, e.value.status) == (REPLAYED, 401)


def test_a_signed_write_is_accepted_once_and_its_replays_refused():
    store = stub()
    send(store)
    for later in (0, 1, 29_999):  # the same request, again and again within its window
        refused_as_replay(store, now=TS + later)
    # DELETE and modify are writes too
    send(store, "DELETE", "/api/orders/7", b"{}")
    refused_as_replay(store, method="DELETE", target="/api/orders/7", body=b"{}")


def test_the_same_write_signed_a_millisecond_later_is_a_new_request():
    store = stub()
    send(store, ts=TS)
    send(store, ts=TS + 1)
    send(store, ts=TS - 1)  # out of order (concurrent requests) is fine
    refused_as_replay(store, ts=TS + 1)


def test_reads_may_be_sent_again():
    store = stub()
    for _ in range(3):
        send(store, "GET", "/api/account", b"")


def test_an_uppercase_copy_of_the_signature_is_the_same_write():
    store = stub()
    send(store)
    h = signed("POST", "/api/wallet/withdrawals", WITHDRAWAL)
    h["FTX-SIGN"] = h["FTX-SIGN"].upper()
    with pytest.raises(AuthError) as e:
        authenticate(store, h, "POST", "/api/wallet/withdrawals", WITHDRAWAL, TS, WINDOW)
    assert e.value.message == REPLAYED


def test_a_replay_aimed_at_another_subaccount_is_the_same_write():
    """FTX-SUBACCOUNT is not signed: without the check, a captured order could be replayed into
    another of the owner's subaccounts."""
    store = stub()
    send(store)
    refused_as_replay(store, FTX_SUBACCOUNT="other")


def test_keys_are_kept_apart():
    store = stub()
    send(store)
    send(store, key="bob", secret="b")  # another key's identical request is its own


def test_a_refused_signature_is_not_remembered():
    store = stub()
    h = signed("POST", "/api/wallet/withdrawals", WITHDRAWAL, secret="wrong")
    with pytest.raises(AuthError):
        authenticate(store, h, "POST", "/api/wallet/withdrawals", WITHDRAWAL, TS, WINDOW)
    send(store)


def test_entries_leave_with_their_window_and_the_floor_keeps_them_refused():
    guard = ReplayGuard(None, WINDOW, TS)
    for i in range(100):
        assert guard.first_use("k", TS + i, f"sig{i}", TS + i)
    # 30 s after the newest, the timestamp check refuses all of them: nothing is kept
    assert guard.first_use("k", TS + 200_000, "fresh", TS + 200_000)
    assert len(guard._keys["k"]) == 1
    # were the clock to step back, the forgotten writes still stay refused (the key's floor)
    assert not guard.first_use("k", TS + 50, "sig50", TS + 60)


def test_the_sweep_frees_idle_keys():
    guard = ReplayGuard(None, WINDOW, TS)
    for i in range(50):
        assert guard.first_use(f"idle{i}", TS, "s", TS)
    assert guard.first_use("busy", TS + 2 * WINDOW, "s", TS + 2 * WINDOW)
    assert set(guard._keys) == {"busy"}


def test_a_flood_from_one_key_is_bounded_and_costs_no_one_else():
    guard = ReplayGuard(None, WINDOW, TS)
    assert guard.first_use("other", TS, "x", TS)
    for i in range(MAX_PER_KEY + 500):
        assert guard.first_use("flood", TS + i // 100, f"f{i}", TS)
    assert len(guard._keys["flood"]) == MAX_PER_KEY
    # the oldest were forgotten: the key's floor rose past them, so they stay refused
    assert not guard.first_use("flood", TS, "f0", TS)
    assert not guard.first_use("flood", TS, "unseen-but-old", TS)
    assert guard.first_use("flood", TS + 1_000, "new", TS)
    assert not guard.first_use("other", TS, "x", TS) and guard.first_use("other", TS, "y", TS)


class _HeapGuard:
    """The guard's rule as it was first written, one heap per key: what `ReplayGuard` must answer."""

    def __init__(self, window_ms: int, limit: int) -> None:
        self.window_ms, self.limit = window_ms, limit
        self.keys: dict[str, tuple[list[int], list[tuple[int, str]], set[str]]] = {}

    def first_use(self, key: str, ts: int, sign: str, now_ms: int) -> bool:
        import heapq

        floor, heap, seen = self.keys.setdefault(key, ([0], [], set()))

        def forget() -> None:
            old, gone = heapq.heappop(heap)
            seen.discard(gone)
            floor[0] = max(floor[0], old)

        while heap and heap[0][0] < now_ms - self.window_ms:
            forget()
        if ts <= floor[0] or sign in seen:
            return False
        if len(heap) >= self.limit:
            forget()
            if ts <= floor[0]:
                return False
        heapq.heappush(heap, (ts, sign))
        seen.add(sign)
        return True


LIMIT = 3  # a bound per key small enough for the examples to reach it often


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(-20, 20), st.integers(0, 2), st.integers(0, 3)),
        max_size=200,
    )
)
def test_writes_in_and_out_of_order_are_answered_as_one_heap_would(
    steps: list[tuple[str, int, int, int]],
) -> None:
    """Writes signed in order are queued and late ones heaped (`_KeyWrites`); whatever the order of
    timestamps (within the window, as the timestamp check leaves them), the clock's steps and the
    bound per key, every answer is that of a single heap per key, oldest forgotten first, and so
    is the number of writes kept."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replays, "MAX_PER_KEY", LIMIT)
        guard = ReplayGuard(None, 20, 0)
        model = _HeapGuard(20, LIMIT)
        now = 0
        for key, offset, step, sign in steps:
            now += step
            ts = now + offset
            signature = f"{ts}:{sign}"
            assert guard.first_use(key, ts, signature, now) == model.first_use(key, ts, signature, now)
            if key in guard._keys:
                assert len(guard._keys[key]) == len(model.keys[key][1])


# -- restarts --------------------------------------------------------------------------------------


def test_a_killed_process_writes_stay_refused_by_the_next(tmp_path: Path):
    path = tmp_path / "replay"
    now = boot_time_ms() + 10 * WINDOW  # any time in this boot
    first = ReplayGuard(path, WINDOW, now)
    assert first.first_use("k", now, "w1", now)
    assert first.first_use("k", now + 5_000, "w2", now + 5_000)
    # killed: never closed; the appends are in the operating system's cache
    second = ReplayGuard(path, WINDOW, now + 6_000)
    assert not second.first_use("k", now + 5_000, "w2", now + 6_000)
    assert not second.first_use("k", now, "w1", now + 6_000)
    # a client signing afresh after the restart is served at once
    assert second.first_use("k", now + 5_000 + RESERVE_MS + 1, "w3", now + 6_001)
    assert second.first_use("other", now + 6_000, "w1", now + 6_001)


def test_a_fast_clock_is_covered_by_its_own_reservation(tmp_path: Path):
    path = tmp_path / "replay"
    now = boot_time_ms() + 10 * WINDOW
    ahead = now + 25_000  # this client's clock runs 25 s ahead of ours
    first = ReplayGuard(path, WINDOW, now)
    assert first.first_use("k", ahead, "w1", now)
    second = ReplayGuard(path, WINDOW, now + 2_000)  # restarted 2 s later
    assert not second.first_use("k", ahead, "w1", now + 2_000)


def test_a_file_left_open_by_another_boot_refuses_what_that_boot_could_have_seen(tmp_path: Path):
    path = tmp_path / "replay"
    path.write_text("boot 00000000-dead-beef-0000-000000000000\nk 1\n")
    # the boot's start is read off two clocks (wall and since-boot) at each call: it moves by a
    # millisecond or so between calls (rounding, the wall clock slewed), hence the test's margin
    boot = boot_time_ms()
    margin = 1_000
    guard = ReplayGuard(path, WINDOW, boot + 5 * WINDOW)
    assert not guard.first_use("k", boot + WINDOW - margin, "old", boot + WINDOW)
    assert not guard.first_use("new-key", boot + WINDOW - margin, "old", boot + WINDOW)
    assert guard.first_use("k", boot + WINDOW + margin, "new", boot + WINDOW + margin)
    # killed again in this boot: the floor was kept with the file
    again = ReplayGuard(path, WINDOW, boot + 5 * WINDOW + 1)
    assert not again.first_use("new-key", boot + WINDOW - margin, "old", boot + WINDOW)


def test_a_cleanly_closed_file_is_trusted_on_any_boot(tmp_path: Path):
    path = tmp_path / "replay"
    now = boot_time_ms() + 10 * WINDOW
    first = ReplayGuard(path, WINDOW, now)
    assert first.first_use("k", now, "w1", now)
    first.close()
    text = path.read_text().splitlines()
    assert text[-1] == replays.CLEAN
    path.write_text("\n".join([f"boot another-boot {now - 1}", *text[1:]]) + "\n")
    second = ReplayGuard(path, WINDOW, now + 1_000)
    assert not second.first_use("k", now, "w1", now + 1_000)
    assert second.first_use("k", now + RESERVE_MS + 1, "w2", now + 1_001)
    assert second.first_use("new-key", now, "w1", now + 1_001)  # no boot floor


def test_the_file_is_compacted_and_stays_small(tmp_path: Path):
    path = tmp_path / "replay"
    now = boot_time_ms() + 10 * WINDOW
    guard = ReplayGuard(path, WINDOW, now)
    for i in range(5_000):  # one key writing for 5,000 s: one reservation a second
        t = now + i * RESERVE_MS + 1
        assert guard.first_use("k", t, f"s{i}", t)
    assert len(path.read_text().splitlines()) <= 2 + 1024 + 1


def test_a_directory_without_a_record_refuses_writes_signed_before_the_store_opened(tmp_path: Path):
    with KeyStore(tmp_path) as keys:
        key, secret = keys.create("alice")
        opened = keys.opened_ms
        body = b"{}"

        def write(ts: int) -> None:
            sign = sign_request(secret, ts, "DELETE", "/api/orders", body)
            h = {"FTX-KEY": key, "FTX-TS": str(ts), "FTX-SIGN": sign}
            authenticate(keys, h, "DELETE", "/api/orders", body, opened + 1_000, WINDOW)

        with pytest.raises(AuthError) as e:
            write(opened - 1)
        assert e.value.message == REPLAYED
        write(opened + 1)
        assert (tmp_path / REPLAY_FILE_NAME).exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (CI runs as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_write_whose_record_the_full_disk_refuses_is_refused_for_now_and_accepted_once_space_returns(
    tiny_disk: Path,
) -> None:
    """A write is accepted only once its record is kept (a restart must refuse it again): on a full
    disk it gets FTX's 'Please retry request' (503, ccxt's ExchangeNotAvailable) and nothing is
    remembered, so the same request is accepted once space returns."""
    with KeyStore(tiny_disk) as keys:
        key, secret = keys.create("alice")
        ts = keys.opened_ms + 1
        body = b"{}"
        sign = sign_request(secret, ts, "DELETE", "/api/orders", body)
        h = {"FTX-KEY": key, "FTX-TS": str(ts), "FTX-SIGN": sign}
        filler = tiny_disk / "filler"
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        with pytest.raises(AuthError) as e:
            authenticate(keys, h, "DELETE", "/api/orders", body, ts, WINDOW)
        assert (e.value.message, e.value.status) == (REQUEST_UNRECORDED, 503)
        filler.unlink()
        authenticate(keys, h, "DELETE", "/api/orders", body, ts, WINDOW)  # remembered now
        with pytest.raises(AuthError) as e:
            authenticate(keys, h, "DELETE", "/api/orders", body, ts, WINDOW)
        assert e.value.message == REPLAYED
