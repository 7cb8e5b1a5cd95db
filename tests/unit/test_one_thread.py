"""The command line loads numpy with BLAS on one thread (`backstop.one_thread`), unless the user set
their own thread count, which wins."""

from __future__ import annotations

import os
import subprocess
import sys

from backstop.one_thread import THREAD_VARIABLES

PROBE = (
    "import backstop.cli, os, sys; "
    "assert 'numpy' in sys.modules; "  # the command line has loaded numpy by now
    f"print(' '.join(os.environ[name] for name in {THREAD_VARIABLES!r}))"
)


def _probe(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_command_line_runs_blas_on_one_thread() -> None:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    assert _probe(env) == ["1"] * len(THREAD_VARIABLES)


def test_a_users_own_thread_count_wins() -> None:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["OPENBLAS_NUM_THREADS"] = "4"
    assert _probe(env)[0] == "4"
