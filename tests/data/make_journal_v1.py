"""Written once, run with the engine of main at d0b3857 (before the product seam), to record a
journal, a snapshot and the state hashes they reached: `tests/unit/test_legacy_journal.py` proves
that later engines replay the same journal to the same hashes and still verify the old snapshot.
Never rerun it with a later engine (that would prove nothing); it is kept to show how the fixture
was made.

    PYTHONPATH=tests/unit python tests/data/make_journal_v1.py tests/data/journal-v1
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from test_projections import Scenario  # the projections' scenario: trades, funding, liquidations

from backstop.engine.commands import HaltMarket, MassQuote, SetMarginFloor
from backstop.engine.exchange import Exchange
from backstop.journal import log, recovery, snapshot


def main(directory: Path) -> None:
    recovery.initialize(directory)  # the catalog and seed the journal is recorded with
    s = Scenario()
    d = s.d
    # the commands the scenario does not send, so every core code is in the journal
    d.ok(SetMarginFloor(d.tick(), "ETH-PERP", 60_000, 30_000))
    d.ok(HaltMarket(d.tick(), "SOL-PERP", True))
    d.ok(HaltMarket(d.tick(), "SOL-PERP", False))
    mm = d.ex.account_id("mm")
    assert mm is not None
    bids = (d.ticks("ETH-PERP", 1_900), d.lots("ETH-PERP", "0.5"), d.ticks("ETH-PERP", 1_899), 3)
    asks = (d.ticks("ETH-PERP", 2_100), d.lots("ETH-PERP", "0.5"))
    d.ok(MassQuote(d.tick(), mm, "ETH-PERP", bids, asks))
    d.second(2)
    commands = [c for c, _ in d.log]
    journal = log.Journal(directory)
    half = len(commands) // 2
    for i in range(0, len(commands), 97):
        journal.append(commands[i : i + 97])
    journal.close()
    # a snapshot at `half`, made the way the runtime makes them
    ex = Exchange()
    for c in commands[:half]:
        ex.apply(c)
    snapshot.write(directory, half, ex)
    at_half = ex.state_hash()
    for c in commands[half:]:
        ex.apply(c)
    assert ex.state_hash() == s.ex.state_hash()
    kinds = sorted({type(c).__name__ for c in commands})
    (directory / "expected.json").write_text(
        json.dumps(
            {
                "commands": len(commands),
                "snapshot_seq": half,
                "snapshot_hash": at_half,
                "final_hash": ex.state_hash(),
                "discrepancies": ex.discrepancies(),
                "kinds": kinds,
                "made_with": "main d0b3857",
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
