"""Engine benchmark; the same as `backstop bench engine` (code in backstop.bench.engine)."""

import sys

from backstop.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "engine"]
    main()
