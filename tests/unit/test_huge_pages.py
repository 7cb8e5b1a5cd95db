"""`bench engine --huge-pages` (`bench/huge_pages.py`): which mappings it looks at, that it merges
only dense pieces, and, on a Linux that offers it, that memory in use is merged into huge pages
while memory mostly untouched is left alone."""

from __future__ import annotations

import ctypes
import mmap
import sys
from pathlib import Path

import pytest

from backstop.bench import huge_pages
from backstop.bench.huge_pages import DENSE, HUGE_PAGE, dense_runs, spans

MiB = 1 << 20


def test_spans_are_the_aligned_pieces_of_private_anonymous_read_write_mappings() -> None:
    maps = "\n".join(
        [
            # anonymous, private, read-write, unaligned: the whole 2 MiB pieces inside it
            "7f0000100000-7f0000a00000 rw-p 00000000 00:00 0 ",
            # the malloc heap counts
            "55d000000000-55d000400000 rw-p 00000000 00:00 0                          [heap]",
            # a file's pages, the stack, shared memory, read-only or no access: never
            "7f1000000000-7f1000400000 rw-p 00000000 08:01 1234                       /usr/lib/libc.so.6",
            "7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0                          [stack]",
            "7f2000000000-7f2000400000 rw-s 00000000 00:05 99                         /dev/zero (deleted)",
            "7f3000000000-7f3000400000 r--p 00000000 00:00 0 ",
            "7f4000000000-7f4000400000 ---p 00000000 00:00 0 ",
            # no whole aligned piece inside: nothing
            "7f5000100000-7f5000300000 rw-p 00000000 00:00 0 ",
            "",
        ]
    )
    assert spans(maps) == [(0x7F0000200000, 0x7F0000A00000), (0x55D000000000, 0x55D000400000)]


def test_dense_runs_keep_consecutive_pieces_nearly_all_in_use() -> None:
    base = 0x7F0000000000
    resident = {base + i * HUGE_PAGE: n for i, n in enumerate([512, DENSE, DENSE - 1, 512, 0, 512, 512])}
    runs = dense_runs([(base, base + 7 * HUGE_PAGE)], lambda start: resident[start])
    assert runs == [
        (base, base + 2 * HUGE_PAGE),
        (base + 3 * HUGE_PAGE, base + 4 * HUGE_PAGE),
        (base + 5 * HUGE_PAGE, base + 7 * HUGE_PAGE),
    ]
    assert dense_runs([(base, base + HUGE_PAGE)], lambda start: 0) == []


def _mapping_of(address: int) -> dict[str, str]:
    """The /proc/self/smaps fields of the mapping holding `address`."""
    fields: dict[str, str] = {}
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            if inside:
                break
            inside = lo <= address < hi
        elif inside:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="transparent huge pages are Linux's")
def test_memory_in_use_is_merged_into_huge_pages_and_untouched_memory_left_alone() -> None:
    if huge_pages._mode() in ("never", ""):
        pytest.skip("this system has transparent huge pages off")
    private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # as the allocators map the heap
    used = mmap.mmap(-1, 16 * MiB, flags=private)
    used.write(b"\x01" * (16 * MiB))  # every page touched
    # MAP_NORESERVE: a mapping the kernel cannot fuse with `used` (smaps reports per mapping)
    sparse = mmap.mmap(-1, 16 * MiB, flags=private | getattr(mmap, "MAP_NORESERVE", 0x4000))
    sparse[0] = 1  # one page touched: advising it would cost 2 MiB of RAM on a touch
    used_at = ctypes.addressof(ctypes.c_char.from_buffer(used))
    sparse_at = ctypes.addressof(ctypes.c_char.from_buffer(sparse))
    try:
        merged = huge_pages.collapse()
        assert merged.available and merged.dense >= 14 * MiB  # at least the used map's whole pieces
        if not merged.collapsed:
            pytest.skip("this kernel does not merge on request (MADV_COLLAPSE is Linux 6.1+)")
        assert int(_mapping_of(used_at + 8 * MiB)["AnonHugePages"].split()[0]) >= 2 * 1024
        assert _mapping_of(sparse_at)["AnonHugePages"] == "0 kB"
        assert used[:4] == b"\x01" * 4 and used[-1] == 1 and sparse[0] == 1  # the contents stay
    finally:
        del used_at, sparse_at
        used.close()
        sparse.close()
