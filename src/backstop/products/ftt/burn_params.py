"""The buy-and-burn's and the shared insurance-fund gains' parameters (burn.toml), as one value.

Units: FTT in atoms, times in microseconds, shares in ppm. The slicing's parameters (child size from
depth and recent volume, the pause between children) are the leveraged tokens' own
(leveraged_tokens/params.py), reused with their functions (burn_buying.py).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any, NamedTuple

from backstop.engine.amounts import PPM
from backstop.products.ftt.tiers import atoms, percent_ppm

MINUTE_US = 60 * 1_000_000


class BurnParams(NamedTuple):
    market: str  # where FTT is bought
    total_supply: int  # FTT atoms FTX created (the published supply is this less the burned)
    earliest_us: int  # a day's burn starts no earlier than this after 00:00 UTC...
    window_us: int  # ...plus a microsecond drawn from this window
    max_us: int  # a burn ends this long after its start, finished or not
    fund_burn_ppm: int  # of a period's net insurance-fund gain, to the burn pool
    fund_staker_ppm: int  # of a period's net insurance-fund gain, to stakers


def parse(data: dict[str, Any]) -> BurnParams:
    buying, insurance = data["buying"], data["insurance"]
    params = BurnParams(
        str(buying["market"]),
        atoms(str(buying["total_supply"])),
        int(buying["start_after_minutes"]) * MINUTE_US,
        int(buying["window_minutes"]) * MINUTE_US,
        int(buying["max_hours"]) * 60 * MINUTE_US,
        percent_ppm(insurance["burn_share"]),
        percent_ppm(insurance["staker_share"]),
    )
    if params.window_us <= 0 or params.max_us <= 0:
        raise ValueError("the burn's window and its longest run must be positive")
    if params.earliest_us + params.window_us + params.max_us > 24 * 60 * MINUTE_US:
        raise ValueError("a day's burn must be able to end within its day")
    shares = (params.fund_burn_ppm, params.fund_staker_ppm)
    if min(shares) < 0 or sum(shares) > PPM:
        raise ValueError("the insurance fund's shares must be >= 0 and at most 100% together")
    return params


def load() -> BurnParams:
    """The packaged parameters (burn.toml)."""
    text = resources.files(__package__).joinpath("burn.toml").read_text()
    return parse(tomllib.loads(text))
