"""Coins and markets as data: the TOML files beside this module are the default listing."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

from backstop.engine.amounts import ATOM, RATE, ceil_div, mul_div, sqrt_term_below, to_atoms, to_rate

USD: Final = "USD"
T = TypeVar("T")
MAX_LEVERAGE: Final = 20
"""The highest account leverage setting by default (FTX from 25 Jul 2021); risk.toml's
`max_leverage` may allow up to LEVERAGE_LIMIT."""
LEVERAGE_LIMIT: Final = 101
"""FTX's highest setting until 25 Jul 2021 ("up to 101x"; SBF, twitter.com/SBF_FTX/status/
1419720609383141397): the size of the leverage tables, and the most risk.toml may allow."""
HAIRCUT_NUMERATOR: Final = 110 * RATE * RATE // 100  # 1.1, scaled so that dividing by a rate gives a rate
MMF_FLOOR: Final = 3 * RATE // 100
HIGH_LEVERAGE_MMF: Final = 6 * RATE // 1000
"""The MMF floor of an account set above 20x: FTX's backstop page of the 101x era gave the
auto-close margin fraction as 1.5% at 20x or below and 0.3% at 50x or above (help.ftx.com
360024479392); ACMF = MMF / 2 there, so MMF 3% and 0.6%. Our reading: every setting above 20x
takes the 0.6% floor (FTX's choices above 20x were the 50x and 101x of its leverage menu)."""
BASE_IMF: Final[tuple[int, ...]] = (RATE, *(ceil_div(RATE, lev) for lev in range(1, LEVERAGE_LIMIT + 1)))
"""1 / leverage as a rate, rounded up, indexed by the leverage setting."""


def mmf_base(leverage: int) -> int:
    """The MMF floor of an account with this leverage setting: 3%, or 0.6% above 20x."""
    return MMF_FLOOR if leverage <= MAX_LEVERAGE else HIGH_LEVERAGE_MMF


@dataclass(frozen=True, slots=True)
class Coin:
    name: str
    weight_total: int  # rate units
    weight_initial: int
    imf_factor: int  # rate units
    price_market: str | None
    usd_alias: bool = False
    no_haircut_initial: int = 0  # largest balance (atoms) whose initial weight is not cut
    no_haircut_total: int = 0  # the same for the total weight
    adv_floor: int = 0  # USD atoms: the least average daily volume the liquidation cap assumes

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt through the constructor: the compiled, frozen class refuses setattr on unpickling
        return (Coin, tuple(getattr(self, f.name) for f in fields(self)))


@dataclass(frozen=True, slots=True)
class Market:
    name: str
    kind: str  # "perpetual" | "future" | "spot"
    base: str  # underlying coin for futures, base coin for spot
    price_increment: Decimal
    size_increment: Decimal
    min_provide_lots: int
    imf_factor: int  # rate units; 0 for spot
    expiry_us: int | None
    tick_value: int  # USD atoms for one lot at a price of one tick
    lot_atoms: int  # coin atoms in one lot
    band_percent: int  # how far through the touch an order may trade: 2 (futures), 25 (spot)
    imf_floor_lots: tuple[int, ...] = ()  # by leverage: largest open size whose IMF is 1/leverage
    mmf_floor_lots: int = 0  # largest size whose MMF is the 3% floor
    tick_atoms: int = 0  # USD atoms per whole coin in one tick (to and from index prices)
    position_limit: int = 0  # largest position plus open orders per account, in lots (0 = none)
    price_band: int = 20  # percent an order price may stray from the 5-minute mean mark
    premium_band: int = 20  # percent |premium| may exceed its 5-minute mean (futures)
    # last, so that a market pickled before it existed restores field by field (__reduce__)
    mmf_floor_lots_high: int = 0  # the largest size whose MMF is the 0.6% floor above 20x

    @property
    def is_perpetual(self) -> bool:
        return self.kind == "perpetual"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Market, tuple(getattr(self, f.name) for f in fields(self)))

    @property
    def is_spot(self) -> bool:
        return self.kind == "spot"

    def to_lots(self, size: Decimal | str) -> int:
        lots = Decimal(size) / self.size_increment
        if lots != lots.to_integral_value():
            raise ValueError(f"size {size} is not a multiple of {self.size_increment}")
        return int(lots)

    def to_ticks(self, price: Decimal | str) -> int:
        ticks = Decimal(price) / self.price_increment
        if ticks != ticks.to_integral_value():
            raise ValueError(f"price {price} is not a multiple of {self.price_increment}")
        return int(ticks)

    def size_of(self, lots: int) -> Decimal:
        return lots * self.size_increment

    def price_of(self, ticks: int) -> Decimal:
        return ticks * self.price_increment

    def coin_value(self, coin_atoms: int, ticks: int) -> int:
        """USD atoms of `coin_atoms` of the base coin at `ticks`, rounded down."""
        return mul_div(coin_atoms, ticks * self.tick_value, self.lot_atoms)


MODELS = ("ftx", "bitmex", "okex")


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Per-instance risk settings (risk.toml): the liquidation model and the backstop program's
    entry terms. FTX's own documented numbers live beside the code that uses them."""

    model: str = "ftx"  # "ftx" | "bitmex" | "okex": what happens after maintenance margin is lost
    backstop_min_collateral: int = 500_000 * ATOM  # USD atoms (FTX: $500k balance)
    backstop_min_per_minute: int = 100_000 * ATOM  # FTX: at least $0.1m per minute
    backstop_min_per_hour: int = 300_000 * ATOM  # and $0.3m per hour
    max_leverage: int = MAX_LEVERAGE  # the highest leverage setting (last: older pickles restore)

    def __reduce__(self) -> tuple[Any, ...]:
        return (RiskConfig, tuple(getattr(self, f.name) for f in fields(self)))


@dataclass(frozen=True, slots=True)
class Catalog:
    coins: dict[str, Coin]
    markets: dict[str, Market]
    risk: RiskConfig = RiskConfig()

    def __reduce__(self) -> tuple[Any, ...]:
        return (Catalog, (self.coins, self.markets, self.risk))

    def coin(self, name: str) -> Coin | None:
        return self.coins.get(name)


def _market(name: str, spec: dict[str, Any]) -> Market:
    kind = spec["kind"]
    if kind not in ("perpetual", "future", "spot"):
        raise ValueError(f"unknown kind {kind!r}")
    pinc = Decimal(spec["priceIncrement"])
    sinc = Decimal(spec["sizeIncrement"])
    tick_value = pinc * sinc * ATOM
    lot_atoms = sinc * ATOM
    if tick_value != tick_value.to_integral_value() or tick_value <= 0:
        raise ValueError("priceIncrement x sizeIncrement must be a multiple of 1e-8")
    if lot_atoms != lot_atoms.to_integral_value():
        raise ValueError("sizeIncrement must be a multiple of 1e-8")
    tick_atoms = pinc * ATOM
    if tick_atoms != tick_atoms.to_integral_value():
        raise ValueError("priceIncrement must be a multiple of 1e-8")
    min_provide = Decimal(spec.get("minProvideSize", spec["sizeIncrement"])) / sinc
    expiry = spec.get("expiry")
    expiry_us = None
    if expiry is not None:
        expiry_us = int(datetime.fromisoformat(expiry).timestamp()) * 1_000_000
    spot = kind == "spot"
    imf_factor = 0 if spot else to_rate(spec["imfFactor"])
    lot = int(lot_atoms)
    return Market(
        name=name,
        kind=kind,
        base=spec["base"] if spot else spec["underlying"],
        price_increment=pinc,
        size_increment=sinc,
        min_provide_lots=int(min_provide),
        imf_factor=imf_factor,
        expiry_us=expiry_us,
        tick_value=int(tick_value),
        lot_atoms=lot,
        band_percent=25 if spot else 2,
        **_size_thresholds(imf_factor, lot),
        tick_atoms=int(tick_atoms),
        position_limit=int(Decimal(spec.get("positionLimit", "0")) / sinc),
        price_band=int(Decimal(spec.get("priceBand", 20))),
        premium_band=int(Decimal(spec.get("premiumBand", 20))),
    )


def make_market(name: str, spec: dict[str, Any]) -> Market:
    """A market from its markets.toml table (a listing outside the packaged catalog, e.g. the
    risk lab's FTT-PERP)."""
    return _market(name, spec)


def _size_thresholds(imf_factor: int, lot: int) -> dict[str, Any]:
    """The sizes (lots) below which the square-root terms cannot bind, for a market's factor."""
    return {
        "imf_floor_lots": tuple(sqrt_term_below(imf_factor, base) // lot for base in BASE_IMF),
        "mmf_floor_lots": sqrt_term_below(imf_factor, MMF_FLOOR * 10 // 6) // lot,
        "mmf_floor_lots_high": sqrt_term_below(imf_factor, HIGH_LEVERAGE_MMF * 10 // 6) // lot,
    }


def with_imf_factor(market: Market, imf_factor: int) -> Market:
    """The market with another IMF factor (rate units), its size thresholds recomputed."""
    return replace(market, imf_factor=imf_factor, **_size_thresholds(imf_factor, market.lot_atoms))


def coin_with_imf_factor(coin: Coin, imf_factor: int) -> Coin:
    """The coin with another collateral IMF factor (rate units), its haircut thresholds recomputed."""
    if coin.usd_alias or coin.weight_initial == 0 or coin.weight_total == 0:
        return coin
    return replace(
        coin,
        imf_factor=imf_factor,
        no_haircut_initial=sqrt_term_below(imf_factor, HAIRCUT_NUMERATOR // coin.weight_initial - RATE),
        no_haircut_total=sqrt_term_below(imf_factor, HAIRCUT_NUMERATOR // coin.weight_total - RATE),
    )


def _coin(name: str, spec: dict[str, Any]) -> Coin:
    alias = bool(spec.get("usd_alias", False))
    if alias:
        return Coin(name, RATE, RATE, 0, None, True)
    weight_total = to_rate(spec["weight_total"])
    weight_initial = to_rate(spec["weight_initial"])
    imf_factor = to_rate(spec["imf_factor"])
    return Coin(
        name=name,
        weight_total=weight_total,
        weight_initial=weight_initial,
        imf_factor=imf_factor,
        price_market=spec.get("price_market"),
        # the haircut 1.1 / (1 + t) stays >= weight exactly while t <= 1.1 / weight - 1
        no_haircut_initial=sqrt_term_below(imf_factor, HAIRCUT_NUMERATOR // weight_initial - RATE),
        no_haircut_total=sqrt_term_below(imf_factor, HAIRCUT_NUMERATOR // weight_total - RATE),
        adv_floor=to_atoms(spec.get("adv_floor", "10000000")),
    )


def _risk(spec: dict[str, Any]) -> RiskConfig:
    model = spec.get("model", "ftx")
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    default = RiskConfig()

    def usd(key: str) -> int:
        value = spec.get(key)
        return int(getattr(default, key)) if value is None else to_atoms(value)

    max_leverage = int(spec.get("max_leverage", MAX_LEVERAGE))
    if not 1 <= max_leverage <= LEVERAGE_LIMIT:
        raise ValueError(f"max_leverage must be 1..{LEVERAGE_LIMIT}, not {max_leverage}")
    return RiskConfig(
        model=model,
        max_leverage=max_leverage,
        backstop_min_collateral=usd("backstop_min_collateral"),
        backstop_min_per_minute=usd("backstop_min_per_minute"),
        backstop_min_per_hour=usd("backstop_min_per_hour"),
    )


FILES = ("coins.toml", "markets.toml", "risk.toml")


def load(directory: Path | None = None, model: str | None = None) -> Catalog:
    """Load coins.toml, markets.toml and risk.toml from `directory` (default: the packaged
    listing); `model` overrides the liquidation model risk.toml names. A file that is not valid
    TOML, or an entry that is not a valid coin or market, is a ValueError naming the file (and
    the line, or the entry)."""
    texts: dict[str, str] = {}
    for name in FILES:
        if directory is None:
            texts[name] = (resources.files(__package__) / name).read_text()
        elif name != "risk.toml" or (directory / name).exists():
            texts[name] = (directory / name).read_text()
        else:
            texts[name] = ""
    where = "the packaged catalog" if directory is None else str(directory)
    risk_spec = read_toml(f"{where}/risk.toml", texts["risk.toml"])
    if model is not None:
        risk_spec["model"] = model
    coins = {
        n: _entry(f"{where}/coins.toml", n, s, _coin)
        for n, s in read_toml(f"{where}/coins.toml", texts["coins.toml"]).items()
    }
    markets = {
        n: _entry(f"{where}/markets.toml", n, s, _market)
        for n, s in read_toml(f"{where}/markets.toml", texts["markets.toml"]).items()
    }
    if USD not in coins:
        raise ValueError(f"{where}/coins.toml: the catalog must list USD")
    for m in markets.values():
        if m.base not in coins:
            raise ValueError(f"{where}/markets.toml: [{m.name}] coin {m.base} is not in coins.toml")
    for c in coins.values():
        if c.price_market is not None and c.price_market not in markets:
            raise ValueError(f"{where}/coins.toml: [{c.name}] price market {c.price_market} is not listed")
    risk = _entry(f"{where}/risk.toml", "", risk_spec, lambda _, spec: _risk(spec))
    return Catalog(coins=coins, markets=markets, risk=risk)


def read_toml(source: str, text: str) -> dict[str, Any]:
    """The tables of a TOML text; ValueError naming `source` and the line when it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _entry(source: str, name: str, spec: Any, make: Callable[[str, dict[str, Any]], T]) -> T:
    """A coin or market built from its table (`name` ""; risk.toml's settings), or a ValueError
    that says where and why."""
    where = f"{source}: [{name}]" if name else f"{source}:"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table")
    try:
        return make(name, spec)
    except KeyError as exc:
        raise ValueError(f"{where} needs {exc.args[0]}") from None
    except (ArithmeticError, TypeError):
        raise ValueError(f"{where} has a value that is not a number") from None
    except ValueError as exc:
        raise ValueError(f"{where} {exc}") from None
