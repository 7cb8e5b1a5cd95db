"""Index-price feeds: where the exchange's index prices come from.

Three kinds share one interface (`Feed`): a replay of real exchange history (`ReplayFeed`), a
seeded jump-diffusion (`SyntheticFeed`) and the operator's hand-set prices (`ManualFeed`). Each
turns a time into `IndexUpdate` commands for the engine, which takes the median of the
constituents itself. `make_feed` builds one by name for the CLI and server.
"""

from backstop.feeds.base import Feed, atoms_to_price, iso_utc, price_to_atoms, utc_us
from backstop.feeds.factory import FEED_KINDS, make_feed
from backstop.feeds.manual import ManualFeed
from backstop.feeds.replay import (
    Bars,
    Constituent,
    History,
    Rebase,
    ReplayFeed,
    intrabar_price,
    load_history,
    parse_speed,
    read_bars,
    sample_paths,
)
from backstop.feeds.synthetic import (
    DEFAULT_PROCESSES,
    CoinProcess,
    DoubleExponentialJumps,
    NormalJumps,
    SyntheticFeed,
)

__all__ = [
    "DEFAULT_PROCESSES",
    "FEED_KINDS",
    "Bars",
    "CoinProcess",
    "Constituent",
    "DoubleExponentialJumps",
    "Feed",
    "History",
    "ManualFeed",
    "NormalJumps",
    "Rebase",
    "ReplayFeed",
    "SyntheticFeed",
    "atoms_to_price",
    "intrabar_price",
    "iso_utc",
    "load_history",
    "make_feed",
    "parse_speed",
    "price_to_atoms",
    "read_bars",
    "sample_paths",
    "utc_us",
]
