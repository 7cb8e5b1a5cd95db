"""API benchmark; the same as `backstop bench api` (code in backstop.bench.api)."""

import sys

from backstop.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "api"]
    main()
