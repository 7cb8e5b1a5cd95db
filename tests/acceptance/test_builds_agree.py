"""The engine runs compiled (mypyc, the installed build) or as its pure-Python source; both must
reach the same state, bit for bit, on the same commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from backstop.bench.engine import build_kind
from backstop.bench.workload import build, prepare

SOURCE = Path(__file__).resolve().parents[2] / "src"
SCRIPT = """
import backstop.engine.exchange as module
assert module.__file__.endswith(".py"), f"compiled modules in src/ shadow the source: {module.__file__}"
from backstop.bench.workload import build, prepare
w = build(20_000, accounts=200, seed=5)
ex = prepare(w)
for c in w.commands:
    ex.apply(c)
print(ex.state_hash())
"""


def test_installed_build_and_pure_source_reach_the_same_state() -> None:
    workload = build(20_000, accounts=200, seed=5)
    exchange = prepare(workload)
    for command in workload.commands:
        exchange.apply(command)
    pure = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(SOURCE), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert pure.stdout.strip() == exchange.state_hash(), f"installed build: {build_kind()}"
