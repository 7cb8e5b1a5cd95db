"""`bench api` pins the measured server to a CPU of its own and the load elsewhere: every thread
of the process, those it already runs (the journal's disk thread) as well as its main one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from backstop.bench.api import cpu_split, pin

TWO_THREADS = (
    "import threading, time\n"
    "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "print('started', flush=True)\n"
    "time.sleep(60)\n"
)


def test_the_split_gives_the_server_one_cpu_and_the_load_the_rest() -> None:
    split = cpu_split()
    usable = os.sched_getaffinity(0)
    if len(usable) < 2:
        assert split is None
        return
    assert split is not None
    server, load = split
    assert len(server) == 1 and server | load == usable and not server & load


def test_pin_moves_every_thread_of_a_running_process() -> None:
    split = cpu_split()
    if split is None:
        pytest.skip("one CPU: nothing is pinned")
    process = subprocess.Popen([sys.executable, "-c", TWO_THREADS], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "started\n"
        tasks = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")]
        assert len(tasks) == 2
        assert all(os.sched_getaffinity(t) == os.sched_getaffinity(0) for t in tasks)
        pin(process.pid, split[0])
        assert all(os.sched_getaffinity(t) == split[0] for t in tasks)
    finally:
        process.kill()
        process.wait()
