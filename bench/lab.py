"""Risk lab benchmark; the same as `backstop bench lab` (code in backstop.bench.lab)."""

import sys

from backstop.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "lab"]
    main()
