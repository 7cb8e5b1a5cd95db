"""`--regime ftx`: FTX's own regime as it was, date by date, each parameter with its source.

What it turns on (`ftx_population`, `PARAMETERS` for the table):

- **Leverage to 101x until 2021-07-25, then 20x** (`max_leverage_on`): FTX advertised "up to
  101x" and SBF removed it on 25 Jul 2021 ("The greatest allowable will be 20x", thread
  twitter.com/SBF_FTX/status/1419263698279944195, CoinDesk 2021-07-25, Cointelegraph 2021-07-26).
  On the day of the change the lab lowers every setting above 20x to 20x, as FTX did for all
  accounts. Settings above 20x are 50x or 101x (`leverage_setting`; FTX's menu, our reading), with
  the 0.6% maintenance floor and a position cap of about $2.5M per real account (FTX's backstop
  page of the time, help.ftx.com 360024479392: auto-close MF 1.5% at 20x or below, 0.3% at 50x
  or above, "a position cap of about $2.5m for high leverage"; the engine's `mmf_base`).
- **The leverage distribution** (`LEVERAGE_MEAN`, `LEVERAGE_SIGMA`): SBF, 25 Jul 2021: "The average
  leverage used on FTX is ~2x" and high leverage (> 20x) is "way less than 1% of our volume and
  positions". A lognormal with mean 2 and sigma 0.8 has P(L > 20) = 0.05% of traders and, with
  notional in proportion to leverage, E[L; L > 20] / E[L] = 0.66% of positions' notional and of
  volume (`share_above`): both under 1%. (The old docstring's "1% above 10x" is the count share
  above 10x, 0.8%, not SBF's statement.) SBF, 24 May 2021: the liquidations of May 19 were "mostly
  users with 3x-20x leverage": 18% of traders and 45% of notional sit there.
- **SOL and FTT perpetuals**, priced by the lab's hourly candles (Binance's FTTUSDT from 2019-12-20
  and SOLUSDT from 2020-08-11; FTX's own FTT/USD and SOL/USD before those, shipped in
  `data/ftx_spot_1h_FTT_SOL_USD_2019-07_2020-08.csv.gz`): a market lists at its first candle
  (FTT 2019-07-29, SOL 2020-07-27) and the traders who join from then trade it. FTT-PERP's contract
  (`FTT_PERP`): FTX's FTT/USD increments (0.001 price, 0.1 size) and FTT's collateral IMF factor
  0.0005 (help.ftx.com 360031149632), FTX's futures factor for FTT not having been found.
- **Coin collateral with FTX's haircuts** (`COLLATERAL_MIX`): a trader deposits its collateral in
  one coin, drawn with the shares of FTX's customer balances at the bankruptcy (claims schedules,
  June 2023: $8.85B owed, $5.37B in USD, stablecoins and fiat, $2.15B in BTC and ETH, $0.717B in
  FTT, SRM and SOL; the $0.61B in fifty other coins left out, BTC/ETH and FTT/SOL split evenly: our
  choice). The engine values them at FTX's collateral weights (catalog/coins.toml, H-COLL: BTC 0.975
  / 0.95, ETH 0.95 / 0.90, FTT 0.95 / 0.95, SOL 0.90 / 0.85, total / initial) with the size haircut
  1.1 / (1 + imfFactor sqrt(coins)); a coin not yet listed is deposited as USD.
- **Several markets on one account** (`MARKETS_PER_TRADER`, `MARKET_WEIGHTS`): 1, 2 or 3 markets
  with probabilities 0.5 / 0.3 / 0.2 (our choice: no source gives FTX's distribution), chosen by
  the weights of FTX's book (BTC 0.5 `BTC_SHARE`, ETH 0.215 = 0.43 x BTC from CryptoCompare's
  November 2021 market-wide ETH/BTC futures open interest, SOL 0.10 our choice, FTT 0.015: FTT's
  open interest on all venues was $88M before the collapse (CoinGlass via CoinDesk 2022-11-07)
  against FTX's ~$6B book), cross-margined on the one account.
- **Volume that follows volatility** (`VOLUME_ELASTICITY` = 0.8): decisions come faster by
  (sigma_fast / sigma_slow) ^ 0.8 (`activity`), the replay's 30-minute against 7-day realised
  volatility, clipped to 1/3..10. The exponent is measured on the packaged Binance hourly data
  (`measure_volume_elasticity`, 2019-07-21..2022-04-01): log daily USD volume over its 30-day mean
  on log daily realised volatility over its 30-day EWMA, slope 0.69 for BTC and 0.90 for ETH
  (correlation 0.76 / 0.79); we take 0.8. (Clark 1973 and Karpoff 1987 for the volume-volatility
  relation in general.)
- **Margin top-ups** (`TOP_UP_*`): once an hour a trader whose margin fraction is below 2x its
  maintenance fraction deposits half its first collateral again with probability 0.5, at most once
  a day. Our choice: no source measures FTX users' top-ups; users' complaints that they could not
  add margin during the 2021-05-19 outage at Binance (forkast.news) show that they try.
- **Herding** (`HERDING` = 0.1): a decision goes long with probability 0.5 + 0.1 x tanh(r / s),
  r the coin's last 24 h log return and s its daily volatility (7-day EWMA): after a 1-sigma rise,
  57.6% long. Our choice, and a contested one: Cong, Li, Tang and Yang (2023) find retail futures
  traders net-short after rises; 0 turns it off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from backstop.catalog import LEVERAGE_LIMIT, MAX_LEVERAGE, Catalog, make_market
from backstop.feeds.base import DAY_US, utc_us
from backstop.lab.population import PopulationConfig

LEVERAGE_SCHEDULE: tuple[tuple[str, int], ...] = (
    ("2019-05-01", LEVERAGE_LIMIT),
    ("2021-07-25", MAX_LEVERAGE),
)
"""(first UTC day, highest leverage setting): FTX's dated changes."""
HIGH_LEVERAGE_POSITION_USD = 2_500_000.0  # H-BLP: "a position cap of about $2.5m for high leverage"
LEVERAGE_MEAN = 2.0  # SBF 2021-07-25: "The average leverage used on FTX is ~2x"
LEVERAGE_SIGMA = 0.8  # gives 0.66% of notional above 20x: SBF's "way less than 1%" (share_above)
FTX_COINS = ("BTC", "ETH", "SOL", "FTT")
FTT_PERP: dict[str, Any] = {
    "kind": "perpetual",
    "underlying": "FTT",
    "priceIncrement": "0.001",
    "sizeIncrement": "0.1",
    "minProvideSize": "0.1",
    "imfFactor": "0.0005",
}
COLLATERAL_MIX: tuple[tuple[str, float], ...] = (
    ("USD", 5.37),
    ("BTC", 2.15 / 2),
    ("ETH", 2.15 / 2),
    ("FTT", 0.717 / 2),
    ("SOL", 0.717 / 2),
)
"""Coin, relative weight ($B of FTX customer claims; normalised when drawn)."""
MARKETS_PER_TRADER: tuple[float, ...] = (0.5, 0.3, 0.2)  # P(1 market), P(2), P(3): our choice
MARKET_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("BTC-PERP", 0.5),
    ("ETH-PERP", 0.215),
    ("SOL-PERP", 0.10),
    ("FTT-PERP", 0.015),
)
VOLUME_ELASTICITY = 0.8
TOP_UP_TRIGGER = 2.0  # margin fraction below this many times the maintenance fraction
TOP_UP_PROBABILITY = 0.5
TOP_UP_SHARE = 0.5  # of the trader's first collateral
HERDING = 0.1


def max_leverage_on(ts_us: int) -> int:
    """FTX's highest leverage setting at `ts_us`: 101 until 2021-07-25 00:00 UTC, 20 from then."""
    cap = LEVERAGE_SCHEDULE[0][1]
    for day, value in LEVERAGE_SCHEDULE:
        if ts_us >= utc_us(f"{day}T00:00:00Z"):
            cap = value
    return cap


def leverage_setting(leverage: float, cap: int) -> int:
    """The account setting a trader using `leverage` chooses under the cap: the whole number at or
    above it up to 20x; above 20x, 50x or the cap (FTX's menu above 20x, our reading)."""
    if leverage <= MAX_LEVERAGE or cap <= MAX_LEVERAGE:
        return max(1, min(cap, math.ceil(leverage)))
    return 50 if leverage <= 50 and cap >= 50 else cap


def share_above(
    threshold: float, mean: float = LEVERAGE_MEAN, sigma: float = LEVERAGE_SIGMA
) -> tuple[float, float]:
    """(share of traders, share of notional) above `threshold` for a lognormal leverage with this
    mean: P(L > t) = 1 - Phi(z), and E[L; L > t] / E[L] = 1 - Phi(z - sigma), z = (ln t - mu) / sigma."""
    mu = math.log(mean) - sigma * sigma / 2
    z = (math.log(threshold) - mu) / sigma

    def upper(x: float) -> float:
        return 0.5 * math.erfc(x / math.sqrt(2.0))

    return upper(z), upper(z - sigma)


def activity(fast_var: float, slow_var: float, elasticity: float) -> float:
    """How much faster traders decide: (sqrt(fast / slow) clipped to 1/3..10) ** elasticity; 1 with
    no history or an elasticity of 0."""
    if elasticity <= 0 or fast_var <= 0 or slow_var <= 0:
        return 1.0
    ratio = min(10.0, max(1.0 / 3.0, math.sqrt(fast_var / slow_var)))
    return float(ratio**elasticity)


def long_probability(base: float, day_return: float, day_sigma: float, herding: float) -> float:
    """P(a decision goes long): base + herding x tanh(r / s), kept within 5%..95%."""
    if herding == 0 or day_sigma <= 0:
        return base
    return min(0.95, max(0.05, base + herding * math.tanh(day_return / day_sigma)))


def wants_top_up(tav: int, requirement: int, trigger: float) -> bool:
    """Whether an account is near maintenance: 0 < TAV < trigger x requirement (USD atoms)."""
    return trigger > 0 and requirement > 0 and 0 < tav < trigger * requirement


def draw_weighted(u: float, weights: tuple[tuple[str, float], ...]) -> str:
    """The name whose cumulative weight first exceeds u x total (u uniform in [0, 1))."""
    total = sum(w for _, w in weights)
    acc = 0.0
    for name, w in weights:
        acc += w
        if u * total < acc:
            return name
    return weights[-1][0]


def ftx_population(p: PopulationConfig) -> PopulationConfig:
    """FTX's regime on a population: the sourced values above, the rest of `p` kept."""
    return replace(
        p,
        mean_leverage=LEVERAGE_MEAN,
        leverage_sigma=LEVERAGE_SIGMA,
        max_leverage=LEVERAGE_LIMIT,
        markets_per_trader=MARKETS_PER_TRADER,
        market_weights=MARKET_WEIGHTS,
        collateral_mix=COLLATERAL_MIX,
        volume_elasticity=VOLUME_ELASTICITY,
        herding=HERDING,
        top_up_trigger=TOP_UP_TRIGGER,
        top_up_probability=TOP_UP_PROBABILITY,
        top_up_share=TOP_UP_SHARE,
    )


def lab_catalog(catalog: Catalog, coins: tuple[str, ...], max_leverage: int, k: int) -> Catalog:
    """The lab's catalog: FTT-PERP added when FTT is replayed, the leverage settings allowed up to
    `max_leverage`, and every IMF factor divided by sqrt(k) for k-fold representative accounts
    (`scale.factor_for`; rate units rounded up, against the account)."""
    from backstop.catalog import coin_with_imf_factor, with_imf_factor

    markets = dict(catalog.markets)
    if "FTT" in coins and "FTT-PERP" not in markets:
        markets["FTT-PERP"] = make_market("FTT-PERP", FTT_PERP)
    coins_ = dict(catalog.coins)
    if k > 1:
        root = math.sqrt(k)
        markets = {n: with_imf_factor(m, math.ceil(m.imf_factor / root)) for n, m in markets.items()}
        coins_ = {n: coin_with_imf_factor(c, math.ceil(c.imf_factor / root)) for n, c in coins_.items()}
    risk = replace(catalog.risk, max_leverage=max(max_leverage, catalog.risk.max_leverage))
    return Catalog(coins_, markets, risk)


@dataclass(frozen=True)
class Parameter:
    """One row of the regime's parameter table."""

    name: str
    value: str
    rule: str
    source: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "max leverage",
        "101x to 2021-07-24, 20x from 2021-07-25",
        "SetLeverage cap by date",
        "SBF thread 2021-07-25 (twitter.com/SBF_FTX/status/1419263698279944195); CoinDesk 2021-07-25",
    ),
    Parameter("MMF above 20x", "0.6% (ACMF 0.3%)", "engine mmf_base", "help.ftx.com 360024479392 (BLP page)"),
    Parameter(
        "position cap above 20x", "$2.5M per real account", "orders capped", "help.ftx.com 360024479392"
    ),
    Parameter(
        "leverage",
        "lognormal mean 2, sigma 0.8",
        "0.05% of traders, 0.66% of notional > 20x",
        "SBF 2021-07-25: average ~2x; > 20x 'way less than 1% of our volume and positions'",
    ),
    Parameter(
        "markets",
        "BTC, ETH, SOL (from 2020-07-27), FTT (from 2019-07-29)",
        "listed at the first FTX candle",
        "FTX hourly candles (data/README.md)",
    ),
    Parameter(
        "collateral mix",
        "USD 65%, BTC 13%, ETH 13%, FTT 4.4%, SOL 4.4%",
        "one coin per trader",
        "FTX customer claims (June 2023): $5.37B USD, $2.15B BTC+ETH, $0.717B FTT+SRM+SOL",
    ),
    Parameter(
        "haircuts",
        "coins.toml weights and imfFactor",
        "engine collateral()",
        "help.ftx.com 360031149632 (2022 table)",
    ),
    Parameter("markets per trader", "1 / 2 / 3 at 0.5 / 0.3 / 0.2", "cross-margined account", "our choice"),
    Parameter(
        "market weights",
        "BTC 0.5, ETH 0.215, SOL 0.10, FTT 0.015",
        "choice of markets",
        "BTC_SHARE (ours); CryptoCompare Nov 2021 ETH/BTC OI 0.43; FTT OI $88M (CoinDesk 2022-11-07)",
    ),
    Parameter(
        "volume elasticity",
        "0.8",
        "decision rate x (sigma_fast / sigma_slow) ^ 0.8",
        "measured on the packaged Binance hourly data: BTC 0.69, ETH 0.90",
    ),
    Parameter(
        "top-ups", "MF < 2 MMF: p 0.5, half the first collateral, once a day", "hourly check", "our choice"
    ),
    Parameter(
        "herding",
        "0.1",
        "P(long) = 0.5 + 0.1 tanh(r_24h / sigma_day)",
        "our choice; Cong, Li, Tang & Yang (2023) find the opposite sign for retail",
    ),
)


def measure_volume_elasticity(coin: str = "BTC", start: str = "2019-07-21", end: str = "2022-04-01") -> float:
    """The slope of log(daily USD volume / its 30-day mean before) on log(daily realised volatility
    / its 30-day EWMA before) in the packaged Binance hourly candles: the `VOLUME_ELASTICITY` data."""
    from importlib.resources import files

    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]

    path = files("backstop.lab").joinpath("data", "binance_spot_1h_BTCUSDT_ETHUSDT_2017-08_2023-03.csv.gz")
    with path.open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip", parse_dates=["open_time_utc"])
    d = frame[frame.symbol == f"{coin}USDT"].set_index("open_time_utc").sort_index()[start:end]
    r = np.log(d.close).diff()
    day = pd.DataFrame(
        {"rv": (r**2).resample("1D").sum() ** 0.5, "vol": (d.volume * d.close).resample("1D").sum()}
    )
    x = np.log(day.rv / ((day.rv**2).ewm(span=30).mean().shift(1) ** 0.5))
    y = np.log(day.vol / day.vol.rolling(30).mean().shift(1))
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def day_of(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us // DAY_US * 86_400, tz=UTC).date().isoformat()
