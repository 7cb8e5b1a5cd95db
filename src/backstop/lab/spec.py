"""What a risk-lab replay is given and what it gives back: plain data, kept apart from the
replay driver (`lab.replay`, compiled) so that configurations and results cross process
boundaries in sweeps as ordinary pickles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from backstop.catalog import MODELS
from backstop.feeds.base import MINUTE_US, SECOND_US, utc_us
from backstop.lab.population import PopulationConfig

REGIMES = {"ftx5": 5, "ftx15": 15, "fhs": 0, "ftx": 0}
"""Margin regimes: the IMF floor percent on every perpetual (fhs: set daily by the model; ftx: no
floor, FTX's own formulas, so its 101x-era settings work: IMF 1 / leverage, MMF 3% or 0.6%)."""
POPULATIONS = ("lab", "ftx")  # --regime: the plain population, or FTX's regime (lab.regime)
IMPACTS = ("on", "book", "off")  # how the market reacts to the lab's flow (LabConfig.impact)
INTRABARS = ("model", "linear")  # the index inside a coarse candle (LabConfig.intrabar)


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
    # how the market reacts to the lab's flow (lab.impact, lab.makers): "on", the makers' sourced
    # book that thins and refills and the index moved by the square-root law; "book", the book
    # only (the index follows history); "off", the fixed ladder and the historical index as before
    impact: str = "on"
    impact_y: float = 0.7  # the square-root law's prefactor Y
    impact_half_life_h: float = 8.0  # hours for the index impact to halve once the flow stops
    impact_volume_multiple: float = 2.6  # the real spot market's volume over the candles' venue's
    population: PopulationConfig = field(default_factory=PopulationConfig)
    regime: str = "lab"  # "ftx": FTX's dated leverage cap (101x to 2021-07-24), lab.regime
    scale_to: str = ""  # "ftx" or a growth CSV: size the population to its targets (lab.scale)

    def __post_init__(self) -> None:
        if self.margin not in REGIMES:
            raise ValueError(f"margin must be one of {', '.join(REGIMES)}, not {self.margin!r}")
        if self.impact not in IMPACTS:
            raise ValueError(f"impact must be one of {', '.join(IMPACTS)}, not {self.impact!r}")
        if self.impact_y < 0 or self.impact_half_life_h <= 0 or self.impact_volume_multiple <= 0:
            raise ValueError("impact_y must be >= 0, the half-life and the volume multiple > 0")
        if self.model not in MODELS:
            raise ValueError(f"model must be ftx, bitmex or okex, not {self.model!r}")
        if self.intrabar not in INTRABARS:
            raise ValueError(f"intrabar must be one of {', '.join(INTRABARS)}, not {self.intrabar!r}")
        if self.step_s <= 0 or MINUTE_US * 60 % (self.step_s * SECOND_US):
            raise ValueError("step must divide an hour into whole seconds")
        if utc_us(iso_day(self.start)) >= utc_us(iso_day(self.end)):
            raise ValueError("start must be before end")
        if self.regime not in POPULATIONS:
            raise ValueError(f"regime must be one of {', '.join(POPULATIONS)}, not {self.regime!r}")

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
    # the engine money of each daily row exactly, in USD atoms (1e-8): fund, fund_change,
    # fund_draw, fund_in, fees, clawback; the floats in `daily` are these divided by 1e8
    daily_atoms: list[dict[str, int]] = field(default_factory=list)


def rounded(value: Any) -> Any:
    """JSON-ready: floats (the lab's are USD) rounded to the cent, NaN and infinities as None,
    recursively through dicts, lists and tuples; everything else as it is."""
    if isinstance(value, float):
        return round(value, 2) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def with_regime(config: LabConfig, regime: str) -> LabConfig:
    """The configuration under a population regime: `ftx` sets FTX's population (lab.regime:
    leverage to 101x, several markets a trader, coin collateral, volume with volatility, top-ups,
    herding), its four perpetuals (BTC, ETH, SOL, FTT) and FTX's own margin formulas (`ftx`, no
    floor: a 5% floor would forbid the 101x era); `lab` leaves it as it is."""
    if regime == "lab":
        return replace(config, regime="lab")
    from backstop.lab.regime import FTX_COINS, ftx_population

    return replace(
        config, regime=regime, population=ftx_population(config.population), coins=FTX_COINS, margin="ftx"
    )


def with_overrides(config: LabConfig, **changes: Any) -> LabConfig:
    """A copy with some fields (and population fields, by their names) changed."""
    population = {k: v for k, v in changes.items() if k in PopulationConfig.__dataclass_fields__}
    own = {k: v for k, v in changes.items() if k not in population}
    if population:
        own["population"] = replace(config.population, **population)
    return replace(config, **own)
