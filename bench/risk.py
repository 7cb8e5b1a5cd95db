"""Risk benchmark; the same as `backstop bench risk` (code in backstop.bench.risk)."""

import sys

from backstop.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "risk"]
    main()
