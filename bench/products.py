"""Products benchmark; the same as `backstop bench products` (code in backstop.bench.products)."""

import sys

from backstop.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench", "products"]
    main()
