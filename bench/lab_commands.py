"""The engine's share of a risk-lab replay, by command type, to compare two builds (issue 17).

`record` runs the lab (any build; the commands do not depend on it) and saves every command it
sends, with the final state hash; `replay` applies them to a fresh engine built as the lab builds
it, timing each by CPU time (the collector tuned as the lab tunes it), the hour's first Tick (the
one that pays funding) apart from the others, and checks the state hash. Run `replay` with each
build's Python in turn, alternating, on the same file:

    PYTHONPATH=src python bench/lab_commands.py record 2021-01-01 10 /tmp/cmds.pkl
    /tmp/cb/.venv/bin/python bench/lab_commands.py replay 2021-01-01 10 /tmp/cmds.pkl
"""

from __future__ import annotations

import collections
import pickle
import sys
import time
from datetime import date, timedelta
from typing import Any

from backstop.lab import replay as lab
from backstop.lab.spec import LabConfig, with_overrides
from backstop.server.runtime import tune_gc

HOUR_US = 3_600 * 1_000_000


def config(start: str, days: int, traders: int = 10_000) -> LabConfig:
    end = (date.fromisoformat(start) + timedelta(days=days)).isoformat()
    return with_overrides(LabConfig(start=start, end=end), traders=traders)


def record(start: str, days: int, path: str) -> None:
    """Run the lab, keeping each command `Replay.send` applies (needs the pure lab driver)."""
    log: list[Any] = []
    send = lab.Replay.send

    def keep(self: lab.Replay, command: Any) -> Any:
        log.append(command)
        return send(self, command)

    lab.Replay.send = keep  # type: ignore[method-assign]
    cfg = config(start, days)
    replay = lab.Replay(cfg, lab.load_bars(cfg))
    result = replay.run()
    assert result.state_hash == replay.ex.state_hash()
    with open(path, "wb") as out:
        pickle.dump((log, result.state_hash), out)
    print(f"{len(log):,} commands, state hash {result.state_hash}")


def replay(start: str, days: int, path: str) -> None:
    with open(path, "rb") as source:
        log, expected = pickle.load(source)
    cfg = config(start, days)
    ex = lab.Replay(cfg, lab.load_bars(cfg)).ex  # built, not set up: the log starts with the set-up
    assert not ex.accounts
    tune_gc()
    spent: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    clock = time.process_time
    hour = -1
    began = clock()
    for command in log:
        name = type(command).__name__
        if name == "Tick" and command.ts // HOUR_US != hour:
            if hour >= 0:
                name = "Tick(hour)"
            hour = command.ts // HOUR_US
        t0 = clock()
        ex.apply(command)
        spent[name] += clock() - t0
        count[name] += 1
    total = clock() - began
    assert ex.state_hash() == expected, "the replayed state differs from the recorded run's"
    parts = " ".join(f"{k}={v:.2f}({count[k]})" for k, v in spent.most_common())
    print(f"CPU s total {total:.2f} {parts}; state hash {expected[:16]}")


if __name__ == "__main__":
    action, start_day, span, file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    (record if action == "record" else replay)(start_day, span, file)
