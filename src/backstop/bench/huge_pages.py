"""Huge pages for the heap, as `bench engine --huge-pages` measures them: would 2 MiB pages make a
million scattered accounts cheaper to reach?

The question (issue 17): a million accounts are about a gigabyte of Python objects, and most
commands touch an account not touched for a while, out of the cache and, with 4 KiB pages, out of
the TLB too: each such object may cost a walk of the page tables as well as the miss, dearer in a
virtual machine (two levels of tables). 2 MiB pages would cover the whole heap.

How: CPython's small-object allocator maps its arenas itself, so a malloc setting
(`glibc.malloc.hugetlb`) does not reach them. Instead the process's private anonymous memory
(`/proc/self/maps`: no file behind it, read-write; the arenas, the malloc heap, large arrays) is
merged into huge pages in whole 2 MiB-aligned pieces (`MADV_COLLAPSE`, Linux 6.1+; the kernel
copies each piece into one huge page, about 1.5 s a gigabyte), before a run is timed. Only pieces
nearly all in use (`DENSE`: 7/8 of their 4 KiB pages resident, by `mincore`) are merged: a huge
page is a whole 2 MiB, and merging memory mostly untouched (a thread's stack, a reserved buffer)
would spend RAM for nothing.

The answer, on the 2-core VM (README, `bench engine`): no. With repeats alternating small and huge
pages in one process, 300,000 commands after 2 per account of warm-up gave a million accounts
+18% (0.218 -> 0.257 of the baseline book, 3 repeats each), but the bench's own measurement
(1,000,000 commands after 5 per account) gave 0.302 on small pages against 0.276 on huge ones,
and first trades 0.281 against 0.284; 1,000 accounts unchanged. Advising `MADV_HUGEPAGE` as well
(new memory taking huge pages as it is touched, khugepaged merging the rest) did no better. Where
they do help is a million accounts held with few trading (the bench's `held` row, 1,000 trading,
spread through the ids): 0.68 of the 1,000-account ratio on small pages, 0.89 on huge ones (4
repeats alternating), the trading accounts' objects scattered over a million accounts' pages. The
server does not do it (a pass over a gigabyte takes about 1.5 s); the bench keeps the switch.

Nothing is done where the system has transparent huge pages set to `never`, or off Linux; a piece
the kernel refuses to merge (an old kernel, a piece it cannot merge now) stays on small pages,
never an error. Placement only: no state, no result, changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HUGE_PAGE: Final = 2 << 20
"""Bytes in an x86-64 / arm64 transparent huge page (PMD size)."""
MADV_COLLAPSE: Final = 25
SMALL_PAGE: Final = 4096
DENSE: Final = HUGE_PAGE // SMALL_PAGE * 7 // 8
"""Resident 4 KiB pages a 2 MiB piece needs to be merged (module docstring)."""

MAPS: Final = Path("/proc/self/maps")
THP_MODE: Final = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@dataclass(frozen=True)
class Collapsed:
    """What one pass did: bytes of dense pieces found, and bytes merged (the rest the kernel
    refused: an old kernel, a piece it cannot merge now)."""

    dense: int
    collapsed: int
    available: bool  # False: off Linux, no madvise, or huge pages set to `never`


NOT_AVAILABLE: Final = Collapsed(0, 0, False)


def spans(maps: str) -> list[tuple[int, int]]:
    """The whole 2 MiB-aligned spans [start, end) of the private anonymous read-write mappings in
    `maps` (the text of /proc/PID/maps): no file behind them, or the malloc heap (`[heap]`); not
    the stack, shared memory or a file's pages. A mapping holding no whole aligned span gives
    none."""
    found: list[tuple[int, int]] = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        perms = fields[1]
        path = fields[5].strip() if len(fields) == 6 else ""
        if not perms.startswith("rw") or perms[3:4] != "p" or (path and path != "[heap]"):
            continue
        lo_text, _, hi_text = fields[0].partition("-")
        lo, hi = int(lo_text, 16), int(hi_text, 16)
        start = -(-lo // HUGE_PAGE) * HUGE_PAGE
        end = hi // HUGE_PAGE * HUGE_PAGE
        if end > start:
            found.append((start, end))
    return found


class _Calls:
    """libc's `madvise` and `mincore`."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.madvise = libc.madvise
        self.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.madvise.restype = ctypes.c_int
        self.mincore = libc.mincore
        self.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
        self.mincore.restype = ctypes.c_int
        self.vector = ctypes.create_string_buffer(HUGE_PAGE // SMALL_PAGE)

    def resident(self, start: int) -> int:
        """The resident 4 KiB pages of the 2 MiB piece at `start` (0 if the kernel says nothing)."""
        vector = self.vector
        if self.mincore(start, HUGE_PAGE, vector) != 0:
            return 0
        return HUGE_PAGE // SMALL_PAGE - vector.raw.count(0)


def _calls() -> _Calls | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return _Calls(ctypes.CDLL(ctypes.util.find_library("c") or None))
    except (OSError, AttributeError):
        return None


def dense_runs(found: list[tuple[int, int]], resident: Callable[[int], int]) -> list[tuple[int, int]]:
    """Within `found`, the runs of consecutive 2 MiB pieces each with at least `DENSE` resident
    pages (`resident(start)`), as [start, end) ranges."""
    runs: list[tuple[int, int]] = []
    for start, end in found:
        run = -1
        for piece in range(start, end, HUGE_PAGE):
            if resident(piece) >= DENSE:
                if run < 0:
                    run = piece
            elif run >= 0:
                runs.append((run, piece))
                run = -1
        if run >= 0:
            runs.append((run, end))
    return runs


def _mode() -> str:
    """The system's transparent huge page mode (`always`, `madvise`, `never`); "" if unknown."""
    try:
        text = THP_MODE.read_text()
    except OSError:
        return ""
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return ""


def collapse() -> Collapsed:
    """Merge this process's dense anonymous memory into huge pages now (module docstring)."""
    calls = _calls()
    if calls is None or _mode() in ("never", ""):
        return NOT_AVAILABLE
    try:
        found = spans(MAPS.read_text())
    except OSError:
        return NOT_AVAILABLE
    madvise = calls.madvise
    dense = collapsed = 0
    for start, end in dense_runs(found, calls.resident):
        dense += end - start
        if madvise(start, end - start, MADV_COLLAPSE) == 0:
            collapsed += end - start
    return Collapsed(dense, collapsed, True)
