"""This boot of the operating system, for files written without fsync.

A file appended to without fsync keeps everything a killed process wrote (it is in the kernel's
page cache) but may lose its tail if the operating system itself goes down. Recording the boot id
a file was opened under tells the next process which of the two happened: the same id means only
the process stopped. The SQLite history (`projections.backends`) and the replay guard's record
(`server.replays`) rely on it.
"""

from __future__ import annotations

import time
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot of the operating system (Linux), else None."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def boot_time_ms() -> int:
    """When this boot of the operating system started, ms since the epoch (rounded up)."""
    return (time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)) // 1_000_000 + 1
