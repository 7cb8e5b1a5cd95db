"""Build hook: compile the engine's hot modules (and the risk lab's replay driver and the server's
order path) with mypyc.

The same modules run unchanged as pure Python (set BACKSTOP_PURE=1 when installing, e.g. for an
editable development install); a test proves both builds reach the same state hash. If the
compiler is missing, the build falls back to pure Python rather than failing.
"""

import os
import sys

from setuptools import setup

COMPILED = [
    "src/backstop/catalog/__init__.py",
    "src/backstop/engine/amounts.py",
    "src/backstop/engine/events.py",
    "src/backstop/engine/orders.py",
    "src/backstop/engine/book.py",
    "src/backstop/engine/accounts.py",
    "src/backstop/engine/fees.py",
    "src/backstop/engine/margin.py",
    "src/backstop/engine/settlement.py",
    "src/backstop/engine/prices.py",
    "src/backstop/engine/risk.py",
    "src/backstop/engine/ledger.py",
    "src/backstop/engine/insurance.py",
    "src/backstop/engine/backstop.py",
    "src/backstop/engine/largest.py",
    "src/backstop/engine/adl.py",
    "src/backstop/engine/liquidation.py",
    "src/backstop/engine/funding.py",
    "src/backstop/engine/expiry.py",
    "src/backstop/engine/conditional.py",
    "src/backstop/engine/integrity.py",
    "src/backstop/engine/exchange.py",
    "src/backstop/engine/state.py",
    "src/backstop/engine/restore.py",
    "src/backstop/engine/volume.py",
    "src/backstop/lab/replay.py",  # the risk lab's driver: a year of minutes through the engine
    "src/backstop/lab/makers.py",  # the makers' ladders it posts every minute per market
    "src/backstop/lab/impact.py",  # and the index impact it steps as often
    "src/backstop/lab/population.py",  # the traders it heaps and decides for, a few a minute
    # the server's signed order path, around the engine: interpreted, it was most of what an
    # order cost beyond the bare HMAC+JSON endpoint (perf: libpython 56% of the server's CPU).
    # The history's writer takes events as `object`s: products' events are NamedTuples, not
    # `Event`s, and compiled code checks the types it declares
    "src/backstop/server/gateway.py",
    "src/backstop/server/order_entry.py",
    "src/backstop/server/params.py",
    "src/backstop/server/sequencer.py",
    "src/backstop/server/auth.py",
    "src/backstop/server/replays.py",
    "src/backstop/server/wire.py",
    "src/backstop/projections/writer.py",
]

ext_modules = []
if not os.environ.get("BACKSTOP_PURE"):
    try:
        from mypyc.build import mypycify

        # the build runs before the dependencies are installed: the lab driver's imports of numpy,
        # pandas and msgpack (type-checked, never compiled) are then simply of unknown type
        ext_modules = mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3", debug_level="0")
    except Exception as exc:  # no compiler or mypyc: pure Python works, only slower
        print(f"backstop: building the engine as pure Python ({exc})", file=sys.stderr)

setup(ext_modules=ext_modules)
