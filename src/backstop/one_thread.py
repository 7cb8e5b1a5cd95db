"""The command line's numerics on one thread per process; imported before anything loads numpy.

The risk lab's replay is one thread by design, and its sweep and Monte Carlo paths run one process
per core: BLAS threads beside them have no work to share and only spin after each call (the daily
guaranty fund's matrix products). Measured on a 30-day replay at 10,000 traders (compiled, 2
cores): the same 28.0 s of wall time either way, 31.6 CPU s with OpenBLAS's threads against 28.0
with one, so every CPU-time figure of `backstop bench lab` carried 12% of spinning. Our choice: one
thread unless the user set their own (a setting in the environment wins).
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")
