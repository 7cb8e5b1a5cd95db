"""Each signed write is accepted at most once: a captured request replayed is refused.

FTX accepted a signed request any number of times while its FTX-TS was within the window (30 s
either way), so a captured withdrawal could be sent again and again. Here every state-changing
request (any method but GET and HEAD) is remembered by its signature, per API key, until its
timestamp leaves the window, when the timestamp check refuses it anyway. It is remembered as soon
as it verifies, whatever then becomes of the request (refused by the rate limit, rejected by the
engine): a client that retries signs again, with a new timestamp, as ccxt does; and FTX-SUBACCOUNT,
which is not signed, cannot send it again to another subaccount. A signature is the HMAC of
timestamp, method, target and body, so two different requests never share one; two
identical requests signed in the same millisecond do, and the second is refused (ccxt spaces
its requests by its rate limit, `rateLimit` 28 ms for FTX, so its ordinary use never sends
one twice).

Memory is bounded: entries leave when their window closes, and one key keeps at most
`MAX_PER_KEY` of them. Past that, its oldest entry is forgotten and the key's floor rises to its
timestamp: writes signed at or before a key's floor are refused. A flood of distinct signatures
from one key therefore costs that key's late, out-of-order requests and nobody else anything.

A restart: the writes a stopped process accepted must not be accepted again by the next. Each key's
floor is kept in a small file (`api_keys.replay`) as a reservation: before a write signed after
the key's reservation is accepted, a new reservation, its timestamp + `RESERVE_MS`, is appended to
the file. The next process starts each key's floor at its reservation, so every write the last
process accepted stays refused whatever the client's clock (a fast clock signs ahead of ours,
and its reservations are ahead with it); the only cost is that a key cannot write with a
timestamp less than `RESERVE_MS` after its last write, which a restart's own duration covers.
Refusing writes signed before the new process started, the alternative, would leave a client
whose clock runs ahead open to replay for as long as it runs ahead, and refuse one whose clock
runs behind for as long as it runs behind.

The appends are not fsynced (a reservation per key per `RESERVE_MS` on the request path would
wait on the disk): a killed process loses nothing, because its writes sit in the operating
system's cache. If the operating system itself went down with the file open (the boot id
changed and the file was not closed cleanly), the tail may be lost, so every write signed before
the new boot's start + the window is refused: the old boot accepted nothing signed later. A data
directory without the file (new, or from a version before it) refuses writes signed before the
process opened it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from heapq import heappop, heappush
from pathlib import Path

from backstop.journal.boot import boot_id, boot_time_ms

MAX_PER_KEY = 10_000  # live signed writes remembered per key (333 a second for 30 s)
RESERVE_MS = 100  # how far ahead of a key's latest write its persisted floor is reserved
CLEAN = "clean"  # the last line of a file closed by its process


class _KeyWrites:
    """One key's live signed writes, (timestamp, signature) oldest first: those signed in order
    in a queue (`queue`, each no older than the one before), the late ones (signed before the
    newest already seen: concurrent requests) in a heap (`late`). Writes mostly come in order, so
    keeping one costs an append and forgetting it a pop from the left, not a heap's sifting
    (which was half of the guard's cost); the oldest is whichever of the two fronts is older."""

    __slots__ = ("floor", "late", "queue", "reserved", "seen")

    def __init__(self, floor: int) -> None:
        self.floor = floor  # writes signed at or before this are refused
        self.reserved = floor  # the floor a restart would start from (persisted)
        self.queue: deque[tuple[int, str]] = deque()
        self.late: list[tuple[int, str]] = []
        self.seen: set[str] = set()

    def __len__(self) -> int:
        return len(self.queue) + len(self.late)

    def add(self, ts: int, sign: str) -> None:
        queue = self.queue
        if not queue or queue[-1][0] <= ts:
            queue.append((ts, sign))
        else:
            heappush(self.late, (ts, sign))
        self.seen.add(sign)

    def forget_before(self, horizon: int) -> None:
        """Forget the writes signed before `horizon`."""
        queue, late = self.queue, self.late
        while queue and queue[0][0] < horizon:
            self._forgot(*queue.popleft())
        while late and late[0][0] < horizon:
            self._forgot(*heappop(late))

    def forget_oldest(self) -> None:
        queue, late = self.queue, self.late
        if late and (not queue or late[0] < queue[0]):
            self._forgot(*heappop(late))
        else:
            self._forgot(*queue.popleft())

    def _forgot(self, ts: int, sign: str) -> None:
        self.seen.discard(sign)
        if ts > self.floor:
            self.floor = ts


class ReplayGuard:
    """The signed writes seen within their window, per key. `path` None keeps nothing on disk.

    Used from the server's event loop only (not thread-safe)."""

    def __init__(self, path: Path | None, window_ms: int, now_ms: int | None = None) -> None:
        self.window_ms = window_ms
        self.path = path
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        self._keys: dict[str, _KeyWrites] = {}
        self._swept = now
        self._floor = 0  # writes signed at or before this are refused, whatever their key
        self._fd = -1
        self._lines = 0
        if path is not None:
            self._open(path, now)

    # -- the check -----------------------------------------------------------------------------

    def first_use(self, key: str, ts: int, sign: str, now_ms: int) -> bool:
        """True, and remember it, if this key has not had this signed write within its window."""
        writes = self._keys.get(key)
        if writes is None:
            writes = self._keys[key] = _KeyWrites(self._floor)
        horizon = now_ms - self.window_ms  # older timestamps are refused by the timestamp check
        writes.forget_before(horizon)
        if ts <= writes.floor or sign in writes.seen:
            return False
        if len(writes) >= MAX_PER_KEY:
            writes.forget_oldest()
            if ts <= writes.floor:
                return False
        if ts > writes.reserved and self._fd >= 0:
            self._reserve(key, writes, ts + RESERVE_MS)  # OSError (a full disk): nothing remembered
        writes.add(ts, sign)
        if now_ms - self._swept > self.window_ms:
            self._sweep(horizon)
            self._swept = now_ms
        return True

    def _sweep(self, horizon: int) -> None:
        """Forget every key's expired writes, and keys with nothing left to remember."""
        for key in list(self._keys):
            writes = self._keys[key]
            writes.forget_before(horizon)
            if not writes and writes.reserved < horizon and writes.floor < horizon:
                del self._keys[key]

    # -- persistence ---------------------------------------------------------------------------

    def _open(self, path: Path, now: int) -> None:
        """Read the reservations a stopped process left: `boot <id> <floor>`, then `<key> <ms>`
        lines, and `clean` last if it closed the file."""
        boot = boot_id()
        floors: dict[str, int] = {}
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            self._floor = now - 1  # nothing kept: refuse what was signed before this process started
        else:
            header = lines[0].split() if lines else []
            trusted = boot is not None and header[:2] == ["boot", boot]
            if (lines and lines[-1] == CLEAN) or trusted:
                if len(header) == 3 and header[2].isdigit():
                    self._floor = int(header[2])
                for line in lines[1:]:
                    key, _, value = line.partition(" ")
                    if value.isdigit():
                        floors[key] = max(floors.get(key, 0), int(value))
            else:  # the system went down with the file open: its tail may be lost
                self._floor = boot_time_ms() + self.window_ms  # the old boot saw nothing signed later
        horizon = now - self.window_ms
        for key, floor in floors.items():
            if floor >= horizon and floor > self._floor:
                self._keys[key] = _KeyWrites(floor)
        self._rewrite(boot)

    def _rewrite(self, boot: str | None) -> None:
        """Replace the file with the floor and the live reservations under this boot's header,
        and append there."""
        assert self.path is not None
        lines = [f"boot {boot or '-'} {self._floor}"] + [f"{k} {w.reserved}" for k, w in self._keys.items()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(line + "\n" for line in lines).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)  # unsynced: if the system goes down, the boot id tells
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._lines = len(lines)

    def _reserve(self, key: str, writes: _KeyWrites, until: int) -> None:
        os.write(self._fd, f"{key} {until}\n".encode())
        writes.reserved = until
        self._lines += 1
        if self._lines > 2 * len(self._keys) + 1024:
            self._rewrite(boot_id())

    def close(self) -> None:
        """Mark the file closed cleanly (it then holds every reservation, on any boot)."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, f"{CLEAN}\n".encode())
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
