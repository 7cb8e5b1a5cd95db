"""What a risk-lab replay is given and what it gives back: plain data, kept apart from the
replay driver (`lab.replay`, compiled) so that configurations and results cross process
boundaries in sweeps as ordinary pickles."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from backstop.catalog import MODELS
from backstop.feeds.base import MINUTE_US, SECOND_US, utc_us
from backstop.lab.population import PopulationConfig

REGIMES = {"ftx5": 5, "ftx15": 15, "fhs": 0}  # IMF floor percent (fhs: set daily by the model)


@dataclass(frozen=True)
class LabConfig:
    start: str = "2019-07-21"
    end: str = "2022-04-01"  # about the span FTX's guaranty-fund post backtested
    coins: tuple[str, ...] = ("BTC", "ETH")
    margin: str = "ftx5"
    model: str = "ftx"
    seed: int = 1
    step_s: int = 60  # index step and tick in calm, seconds (60: minute resolution)
    fund_start_usd: int = 250_000_000  # FUSD's guaranty fund: draws are measured, not capped
    data: tuple[str, ...] = ()  # candle files; empty: the history in the package (lab/data)
    intrabar: str = "model"  # inside coarse candles: "model" (lab.intrabar) or "linear" (the old walk)
    guaranty: bool = True  # size the guaranty fund (Cover-1/2/3, 10% of IM) at every day's end
    population: PopulationConfig = field(default_factory=PopulationConfig)

    def __post_init__(self) -> None:
        if self.margin not in REGIMES:
            raise ValueError(f"margin must be one of {', '.join(REGIMES)}, not {self.margin!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be ftx, bitmex or okex, not {self.model!r}")
        if self.intrabar not in ("model", "linear"):
            raise ValueError(f"intrabar must be model or linear, not {self.intrabar!r}")
        if self.step_s <= 0 or MINUTE_US * 60 % (self.step_s * SECOND_US):
            raise ValueError("step must divide an hour into whole seconds")
        if utc_us(iso_day(self.start)) >= utc_us(iso_day(self.end)):
            raise ValueError("start must be before end")

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(f"{coin}-PERP" for coin in self.coins)


def iso_day(day: str) -> str:
    """A date as the start of its UTC day; a full timestamp as it is."""
    return day if "T" in day else f"{day}T00:00:00Z"


@dataclass
class Result:
    config: LabConfig
    summary: dict[str, Any]
    daily: list[dict[str, Any]]  # one row per simulated UTC day
    fund_path: list[tuple[int, float]]  # (hour start us, fund balance USD)
    state_hash: str


def with_overrides(config: LabConfig, **changes: Any) -> LabConfig:
    """A copy with some fields (and population fields, by their names) changed."""
    population = {k: v for k, v in changes.items() if k in PopulationConfig.__dataclass_fields__}
    own = {k: v for k, v in changes.items() if k not in population}
    if population:
        own["population"] = replace(config.population, **population)
    return replace(config, **own)
