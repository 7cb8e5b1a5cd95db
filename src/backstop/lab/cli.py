"""`backstop lab ...`: the risk lab's commands."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import click

from backstop.catalog import MODELS
from backstop.cli_input import Group, decimal
from backstop.lab.cli_distribution import distribution_options
from backstop.lab.population import PopulationConfig
from backstop.lab.spec import (
    IMPACTS,
    INTRABARS,
    POPULATIONS,
    REGIMES,
    LabConfig,
    rounded,
    with_overrides,
    with_regime,
)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(rounded(value), indent=2))


@contextmanager
def progress(
    label: str, total: int, quiet: bool, unit: str = "h", console: Any = None
) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, nothing when quiet (--json) or stderr is not a terminal.
    Yields `tick(done, total)`: `done` of `total` (`unit`: "h", simulated hours, by default; the
    total the work reports replaces the estimate given here). `console`: where to draw (tests)."""
    if console is None and (quiet or not sys.stderr.isatty()):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        unit,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console if console is not None else Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, of: bar.update(task, completed=done, total=of)


def iso_date(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A UTC day (2021-05-19) or ISO time, checked when the command line is read."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    return value


def failure(exc: Exception) -> click.ClickException:
    """A run's error as one sentence: a file's trouble with its name, not Python's errno."""
    if isinstance(exc, OSError) and exc.strerror:
        return click.ClickException(f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror)
    return click.ClickException(str(exc))


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options every replaying command shares."""
    defaults = LabConfig()
    p = PopulationConfig()
    options = [
        click.option(
            "--start",
            default=defaults.start,
            show_default=True,
            callback=iso_date,
            help="First UTC day (or ISO time).",
        ),
        click.option(
            "--end",
            default=defaults.end,
            show_default=True,
            callback=iso_date,
            help="Day after the last (exclusive).",
        ),
        click.option(
            "--coins", default=",".join(defaults.coins), show_default=True, help="Perpetuals to list."
        ),
        click.option("--model", type=click.Choice(MODELS), default=defaults.model, show_default=True),
        click.option("--seed", type=int, default=defaults.seed, show_default=True),
        click.option(
            "--traders",
            type=click.IntRange(0),
            default=p.traders,
            show_default=True,
            help="Leveraged traders; with --scale-to, the synthetic accounts at the peak target.",
        ),
        click.option(
            "--leverage",
            type=click.FloatRange(0.1, 101),
            default=p.mean_leverage,
            show_default=True,
            help="Mean leverage.",
        ),
        click.option(
            "--leverage-sigma",
            type=click.FloatRange(0),
            default=p.leverage_sigma,
            show_default=True,
            help="Spread of the (lognormal) leverage: the tail.",
        ),
        click.option("--long-share", type=click.FloatRange(0, 1), default=p.long_share, show_default=True),
        click.option(
            "--max-leverage",
            type=click.IntRange(1, 101),
            default=p.max_leverage,
            show_default=True,
            help="Highest leverage setting (above 20x: 50x or this; FTX allowed 101x until 2021-07-25).",
        ),
        click.option(
            "--holding-hours",
            type=click.FloatRange(0.02),
            default=p.holding_hours,
            show_default=True,
            help="Mean hours between a trader's decisions (turnover).",
        ),
        click.option(
            "--collateral",
            type=click.FloatRange(100),
            default=p.collateral_median_usd,
            show_default=True,
            help="Median collateral, USD.",
        ),
        click.option(
            "--collateral-sigma",
            type=click.FloatRange(0),
            default=p.collateral_sigma,
            show_default=True,
            help="Spread of the (lognormal) collateral: position sizes.",
        ),
        click.option(
            "--blp-per-minute",
            type=click.IntRange(0),
            default=p.blp_per_minute_usd,
            show_default=True,
            help="Each backstop provider's USD capacity per minute (ten times that per hour).",
        ),
        click.option(
            "--fund-start",
            type=click.IntRange(0),
            default=defaults.fund_start_usd,
            show_default=True,
            help="USD.",
        ),
        click.option(
            "--step", type=int, default=defaults.step_s, show_default=True, help="Seconds per index step."
        ),
        click.option(
            "--data", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Candle files."
        ),
        click.option(
            "--impact",
            type=click.Choice(IMPACTS),
            default=defaults.impact,
            show_default=True,
            help="How the market reacts to the lab's flow: on (makers' book thins and refills, the "
            "index moves by the square-root law), book (the book only), off (fixed ladder, "
            "historical index).",
        ),
        click.option(
            "--intrabar",
            type=click.Choice(INTRABARS),
            default=defaults.intrabar,
            show_default=True,
            help="The index inside candles longer than a minute: model (jumps and gaps calibrated on "
            "real minute bars, lab.intrabar) or linear (straight lines open -> extreme -> extreme -> "
            "close, the old walk).",
        ),
        click.option(
            "--regime",
            type=click.Choice(POPULATIONS),
            default=defaults.regime,
            show_default=True,
            help="ftx: FTX's regime (101x until 2021-07-25, BTC/ETH/SOL/FTT, coin collateral, several"
            " markets a trader, volume with volatility, top-ups, herding; lab.regime). The options below"
            " given explicitly still apply.",
        ),
        click.option(
            "--scale-to",
            default=defaults.scale_to,
            metavar="ftx|CSV",
            help="Size the population to FTX's open interest and volume by date (ftx: the packaged"
            " sourced growth path; or a CSV of the same form); --traders is then the synthetic accounts"
            " at the peak, each standing for k real traders.",
        ),
        click.option(
            "--markets-per-trader",
            default=None,
            metavar="P1,P2,..",
            help="Chance a trader holds 1, 2, ... markets on its one account [1].",
        ),
        click.option(
            "--coin-collateral/--usd-collateral",
            default=None,
            help="Deposit collateral in BTC/ETH/FTT/SOL with FTX's customer-balance shares [USD only].",
        ),
        click.option(
            "--volume-elasticity",
            type=click.FloatRange(0),
            default=p.volume_elasticity,
            show_default=True,
            help="Decisions faster by (fast / slow volatility) ** this (FTX regime: 0.8).",
        ),
        click.option(
            "--herding",
            type=click.FloatRange(-0.45, 0.45),
            default=p.herding,
            show_default=True,
            help="P(long) = long share + this x tanh(24 h return / daily sigma).",
        ),
        click.option(
            "--top-up",
            type=click.FloatRange(0, 1),
            default=p.top_up_probability,
            show_default=True,
            help="Chance a trader near maintenance (MF < 2 MMF) tops up half its collateral, hourly.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _explicit(name: str) -> bool:
    """Whether an option was given on the command line (not its default)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    source = ctx.get_parameter_source(name)
    return source is not None and source != click.core.ParameterSource.DEFAULT


def build(margin: str, kw: dict[str, Any]) -> LabConfig:
    """The configuration of a command line: with `--regime ftx`, FTX's regime (`with_regime`:
    its population, four perpetuals and margin formulas) and then only the options given
    explicitly on top of it."""
    coins = tuple(c.strip().upper() for c in kw["coins"].split(",") if c.strip())
    regime = kw.get("regime", "lab")
    try:
        base = LabConfig(
            start=kw["start"],
            end=kw["end"],
            coins=coins,
            margin=margin,
            model=kw["model"],
            seed=kw["seed"],
            step_s=kw["step"],
            fund_start_usd=kw["fund_start"],
            data=tuple(kw["data"]),
            impact=kw.get("impact", LabConfig.impact),
            intrabar=kw.get("intrabar", LabConfig.intrabar),
            scale_to=kw.get("scale_to") or "",
        )
        changes: dict[str, Any] = {
            "traders": kw["traders"],
            "mean_leverage": kw["leverage"],
            "max_leverage": kw["max_leverage"],
            "holding_hours": kw["holding_hours"],
            "collateral_median_usd": kw["collateral"],
            "leverage_sigma": kw["leverage_sigma"],
            "collateral_sigma": kw["collateral_sigma"],
            "long_share": kw["long_share"],
            "blp_per_minute_usd": kw["blp_per_minute"],
            "blp_per_hour_usd": kw["blp_per_minute"] * 10,
            "volume_elasticity": kw.get("volume_elasticity", 0.0),
            "herding": kw.get("herding", 0.0),
            "top_up_probability": kw.get("top_up", 0.0),
        }
        names = {
            "mean_leverage": "leverage",
            "collateral_median_usd": "collateral",
            "blp_per_minute_usd": "blp_per_minute",
            "blp_per_hour_usd": "blp_per_minute",
            "top_up_probability": "top_up",
        }
        if kw.get("top_up"):
            changes["top_up_trigger"] = 2.0
        if kw.get("markets_per_trader"):
            changes["markets_per_trader"] = tuple(float(x) for x in kw["markets_per_trader"].split(","))
        if kw.get("coin_collateral") is not None:
            from backstop.lab.regime import COLLATERAL_MIX

            changes["collateral_mix"] = COLLATERAL_MIX if kw["coin_collateral"] else ()
        if regime != "lab":
            base = with_regime(base, regime)
            if _explicit("coins"):
                base = replace(base, coins=coins)
            if _explicit("margin"):
                base = replace(base, margin=margin)
            explicit = {"markets_per_trader", "collateral_mix", "top_up_trigger"}
            changes = {k: v for k, v in changes.items() if k in explicit or _explicit(names.get(k, k))}
        return with_overrides(base, **changes)
    except ValueError as exc:
        raise failure(exc) from None


@click.group(cls=Group)
def lab() -> None:
    """The risk lab: replay real history through the engine to size the insurance fund."""


@lab.command("replay")
@config_options
@click.option("--margin", type=click.Choice(list(REGIMES)), default="ftx5", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary.")
@click.option(
    "--report", type=click.Path(file_okay=False, path_type=Path), help="Write the HTML report here."
)
@click.option(
    "--workers", type=click.IntRange(1), default=None, help="Processes for the report's runs [all cores]."
)
@distribution_options
def replay_command(margin: str, as_json: bool, report: Path | None, workers: int | None, **kw: Any) -> None:
    """Replay price history through the engine with a seeded population."""
    from backstop.lab import cli_distribution
    from backstop.lab.replay import hours_in, replay

    config = build(margin, kw)
    if cli_distribution.wanted(kw):  # --seeds, --seed-list or --paths: a distribution of replays
        if report is not None:
            raise click.UsageError("--report draws one replay: leave out --seeds, --seed-list and --paths")
        cli_distribution.run_distribution(config, kw, workers, as_json)
        return
    try:
        if report is not None:
            from backstop.lab.report import runs, write_report

            todo = runs(config)
            label = f"report {config.start}..{config.end}, {len(todo)} runs"
            with progress(label, sum(map(hours_in, todo)), as_json) as tick:
                summary = write_report(config, report, workers=workers, progress=tick)
        else:
            with progress(f"replay {config.start}..{config.end}", hours_in(config), as_json) as tick:
                summary = replay(config, tick).summary
    except (ValueError, OSError) as exc:
        raise failure(exc) from None
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)
        if report is not None:
            click.echo(f"report: {report / 'index.html'}")


def _print_summary(s: dict[str, Any]) -> None:
    coins = ",".join(s["coins"])
    tiers = ", ".join(f"{k} {v}" for k, v in s["liquidations_by_tier"].items())
    lines = [
        f"{s['start']}..{s['end']}  {coins}  margin {s['margin']}  model {s['model']}  seed {s['seed']}"
        f"  intrabar {s.get('intrabar', 'model')}",
        f"  insurance fund: net {s['fund_net']:+,.0f} USD"
        f" (paid {s['fund_paid']:,.0f}, received {s['fund_received']:,.0f})",
        f"  largest daily draw {s['fund_max_daily_draw']:,.0f},"
        f" largest drawdown {s['fund_max_drawdown']:,.0f}",
        f"  fee revenue {s['fee_revenue']:,.0f};"
        f" days the fund paid more than that day's fees: {s['days_draw_above_fees']}",
        f"  socialized loss {s['socialized_loss']:,.0f} ({s['clawed_back_accounts']} accounts),"
        f" deleveraged {s['deleveraged_notional']:,.0f}",
        f"  accounts liquidated {s['accounts_liquidated']:,} ({s['liquidations']:,} episodes);"
        f" accounts by deepest tier: {tiers}",
        f"  equity at liquidation {s['equity_at_liquidation']:,.0f}, returned {s['equity_returned']:,.0f};"
        f" BLP PnL {s['blp_pnl']:+,.0f}",
        f"  {s['commands']:,} commands; solvency {'balanced' if s['solvent'] else 'NOT BALANCED'}",
    ]
    if "index_impact_max_bp" in s:
        lines.insert(
            -1,
            f"  market impact {s['impact']}: the index moved up to"
            f" {s['index_impact_max_bp'] / 100:+.3f}% from the historical path"
            f" ({s['index_impact_max_coin']}, {s['index_impact_max_at']})",
        )
    if "open_interest_mean" in s:  # the population's scale (lab.scale), FTX's beside it when scaled
        line = (
            f"  open interest mean {s['open_interest_mean']:,.0f}, volume mean {s['volume_mean']:,.0f} a day"
        )
        if s.get("scale_to"):
            line += (
                f" (FTX {s['ftx_open_interest_mean']:,.0f} and {s['ftx_volume_mean']:,.0f};"
                f" k = {s['scale_k']}, {s['represented_traders_end']:,} traders represented)"
            )
        lines.append(line)
    for coin, p in s.get("stress_proxies", {}).items():
        lines.append(
            f"  stress scenarios: {coin}'s move is {p['scale']:.2f} x {p['proxy']}'s where it has no"
            f" history ({p['source']}; {p['months']} month(s))"
        )
    for line in lines:
        click.echo(line)


@lab.command("compare")
@config_options
@click.option("--margin", type=click.Choice(list(REGIMES)), default="ftx5", show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes [all cores].")
@click.option("--json", "as_json", is_flag=True)
@distribution_options
def compare_command(margin: str, workers: int | None, as_json: bool, **kw: Any) -> None:
    """FTX tiered vs BitMEX vs OKEx liquidation: same history, population and seed."""
    from backstop.lab import cli_distribution, sweep
    from backstop.lab.replay import hours_in

    base = build(margin, kw)
    if cli_distribution.wanted(kw):  # the three models on the same seeds and paths
        cli_distribution.run_distribution(base, kw, workers, as_json, variants=MODELS)
        return
    configs = [with_overrides(base, model=m) for m in MODELS]
    try:
        with progress(f"{len(configs)} models", sum(map(hours_in, configs)), as_json) as tick:
            rows = sweep.run(configs, workers=workers, progress=tick)
    except (ValueError, OSError) as exc:
        raise failure(exc) from None
    table = {row["model"]: row for row in rows}
    if as_json:
        emit_json(table)
        return
    keys = (
        ("fund_net", "fund net, USD"),
        ("fund_paid", "fund paid out, USD"),
        ("fund_max_daily_draw", "largest day paid, USD"),
        ("socialized_loss", "socialized loss, USD"),
        ("clawed_back_accounts", "winners clawed back"),
        ("deleveraged_notional", "deleveraged, USD"),
        ("equity_returned", "equity returned, USD"),
        ("accounts_liquidated", "accounts liquidated"),
        ("liquidations", "liquidation episodes"),
    )
    click.echo(f"{'':28}" + "".join(f"{m:>16}" for m in MODELS))
    for key, label in keys:
        click.echo(f"{label:28}" + "".join(f"{table[m][key]:>16,.0f}" for m in MODELS))
    click.echo("accounts by deepest tier")
    for tier in table[MODELS[0]]["liquidations_by_tier"]:
        click.echo(f"  {tier:26}" + "".join(f"{table[m]['liquidations_by_tier'][tier]:>16,}" for m in MODELS))


@lab.command("sweep")
@config_options
@click.option("--margin", type=click.Choice(list(REGIMES)), default="ftx5", show_default=True)
@click.option(
    "--vary", "axes", multiple=True, required=True, metavar="NAME=V1,V2", help="An axis, e.g. seed=1,2,3."
)
@click.option("--workers", type=click.IntRange(1), default=None, help="Local processes [all cores].")
@click.option("--cluster", help="A Dask scheduler address (tcp://host:8786) to run on instead.")
@click.option("--json", "as_json", is_flag=True)
def sweep_command(
    margin: str, axes: tuple[str, ...], workers: int | None, cluster: str | None, as_json: bool, **kw: Any
) -> None:
    """Replays over a grid of parameters, in parallel; the same numbers as in series."""
    from backstop.lab import sweep
    from backstop.lab.replay import hours_in

    base = build(margin, kw)
    grid = dict(_axis(base, axis) for axis in axes)
    try:
        configs = sweep.grid(base, grid)
        with progress(f"{len(configs)} replays", sum(map(hours_in, configs)), as_json) as tick:
            rows = sweep.run(configs, workers=workers, cluster=cluster, progress=tick)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        raise failure(exc) from None
    out = [
        {"params": dict(zip(grid, values, strict=True)), **row}
        for values, row in zip(_product(grid), rows, strict=True)
    ]
    if as_json:
        emit_json(out)
        return
    for row in out:
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        click.echo(
            f"{params:32} fund net {row['fund_net']:>+14,.0f}"
            f"  max daily draw {row['fund_max_daily_draw']:>12,.0f}"
            f"  socialized {row['socialized_loss']:>10,.0f}"
        )


def _product(grid: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    import itertools

    return list(itertools.product(*grid.values()))


def _axis(base: LabConfig, axis: str) -> tuple[str, list[Any]]:
    """NAME=V1,V2: a setting of the configuration or its population, and its values, each read as
    the kind of value the setting holds (a whole number, a number, true/false, a name; coins as
    BTC+ETH)."""
    name, _, text = axis.partition("=")
    name = name.strip()
    if not text.strip():
        raise click.ClickException(f"--vary {axis!r}: expected NAME=V1,V2")
    settings = {k: getattr(base, k) for k in LabConfig.__dataclass_fields__ if k != "population"}
    settings |= {k: getattr(base.population, k) for k in PopulationConfig.__dataclass_fields__}
    if name not in settings:
        raise click.ClickException(f"--vary {name!r} is no setting; one of: {', '.join(sorted(settings))}")
    current = settings[name]
    values: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if isinstance(current, bool):
            if part.lower() not in ("true", "false"):
                raise click.ClickException(f"--vary {name}: {part!r} is not true or false")
            values.append(part.lower() == "true")
        elif isinstance(current, int | float):
            kind = "whole number" if isinstance(current, int) else "number"
            value = decimal(part, name)
            if value is None or (isinstance(current, int) and value != value.to_integral_value()):
                raise click.ClickException(f"--vary {name}: {part!r} is not a {kind}")
            values.append(type(current)(value))
        elif isinstance(current, tuple):
            names = (v.strip() for v in part.split("+") if v.strip())
            values.append(tuple(v.upper() if name == "coins" else v for v in names))
        else:
            values.append(part)
    return name, values


FHS_MODELS = ("fhs", "fhs_apc", "fhs_apc_addons", "ftx_imf", "flat_15")


def _clean_fine(value: Any) -> Any:
    """JSON-safe for the risk figures: amounts of 100 and more to the cent, smaller numbers
    (fractions of notional, p-values, moves) to six significant digits, NaN/inf as null."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 2) if abs(value) >= 100 else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _clean_fine(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_fine(v) for v in value]
    return value


def _console() -> Any:
    """A rich console on stdout, wide enough for the tables when piped (no wrapping at 80)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 220, highlight=False, soft_wrap=False)


TEXT_COLUMNS = frozenset(
    (
        "coin",
        "model",
        "side",
        "tool",
        "date",
        "direction",
        "verdict",
        "dates",
        "binding",
        "members named",
        "fund",
        "on",
    )
)


def _table(title: str, *columns: str) -> Any:
    """A rich table: words to the left, numbers to the right."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for name in columns:
        table.add_column(name, justify="left" if name in TEXT_COLUMNS else "right")
    return table


def _p(value: float | None) -> str:
    """A p-value as a reader needs it: 4 decimals, or scientific below 0.0001, never 0.000."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.1e}" if value < 1e-4 else f"{value:.4f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:.{digits}f}"


def _dates(found: list[dict[str, Any]], most: int = 4) -> str:
    days = [d["date"] for d in found]
    return ", ".join(days[:most]) + (f" +{len(days) - most}" if len(days) > most else "")


@lab.command("fhs")
@click.option(
    "--lam", "lam", type=click.FloatRange(0.5, 0.9999), default=0.97, show_default=True, help="EWMA lambda."
)
@click.option(
    "--apc",
    type=click.Choice(["a", "b", "c", "max", "none"]),
    default="c",
    show_default=True,
    help="EMIR RTS 153/2013 art. 28(1) tool: (a) 25% buffer, (b) 25% weight on stressed"
    " observations, (c) lookback floor, their max, or none.",
)
@click.option(
    "--stress-floor/--no-stress-floor",
    default=False,
    show_default=True,
    help="Also floor the margin at the stress windows' 99% VaR (Eurex's stress-period VaR; not an"
    " EMIR tool).",
)
@click.option(
    "--start", default="2019-05-01", show_default=True, callback=iso_date, help="First day of the backtest."
)
@click.option(
    "--end", default="2022-11-30", show_default=True, callback=iso_date, help="Last day of the backtest."
)
@click.option(
    "--sims", type=click.IntRange(100), default=2000, show_default=True, help="Null paths for the Z2 test."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the Z2 null simulation.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), help="Hourly candles [packaged].")
@click.option("--json", "as_json", is_flag=True)
def fhs_command(
    lam: float,
    apc: str,
    stress_floor: bool,
    start: str,
    end: str,
    sims: int,
    seed: int,
    data: str | None,
    as_json: bool,
) -> None:
    """FHS initial margin against FTX's IMF and a flat 15%: coverage of 24 h moves, breaches by side
    and date, the APC tools side by side, Kupiec and Christoffersen on the 99% VaR, Acerbi-Szekely
    Z2 on the 99% ES."""
    from backstop.lab import fhs

    try:
        tool = cast("fhs.ApcTool", apc)  # click's Choice admits only the tools
        params = fhs.FhsParams(lam=lam, apc=tool, stress_floor_conf=0.99 if stress_floor else None)
        result = fhs.summary(data, params=params, start=start, end=end, sims=sims, seed=seed)
    except (ValueError, OSError, KeyError) as exc:
        raise failure(exc) from None
    if as_json:
        click.echo(json.dumps(_clean_fine(result), indent=2))
        return
    _print_fhs(result, lam)


def _print_fhs(result: dict[str, Any], lam: float) -> None:
    console = _console()
    window = f"{result['window']['start']}..{result['window']['end']}"
    tool = result["apc"]
    floor = " + stress-period floor (99% VaR)" if tool["stress_floor"] else ", no stress-period floor"
    console.print(
        f"24 h moves {window}, lambda {lam}; fhs_apc = FHS with APC {tool['name']}{floor}. Margins in % of"
        " notional; breaches on daily 00:00 UTC windows, Kupiec against 99% (a 99% ES margin should"
        " be breached less often: 'conservative' is the expected direction)."
    )
    models = _table(
        "Margin models",
        "coin",
        "model",
        "side",
        "coverage (hourly)",
        "breaches",
        "expected",
        "Kupiec p",
        "direction",
        "average",
        "median",
        "peak",
        "peak/median",
    )
    for coin, figures in result["coins"].items():
        for model in FHS_MODELS:
            for side in ("long", "short"):
                row = figures[model][side]
                m = row["margin"]
                d = row["daily"]
                models.add_row(
                    coin,
                    model,
                    side,
                    f"{row['hourly']['coverage_pct']:.2f}%",
                    str(d["breaches"]),
                    f"{d['expected']:.1f}",
                    _p(d["kupiec_p"]),
                    d["direction"],
                    _pct(m["average"]),
                    _pct(m["median"]),
                    _pct(m["peak"]),
                    f"{m['peak_to_median']:.2f}",
                )
    console.print(models)

    tools = _table(
        "APC tools (EMIR RTS 153/2013 art. 28(1)); * the one fhs_apc uses",
        "coin",
        "tool",
        "side",
        "average",
        "median",
        "peak",
        "peak/median",
        "largest 1-day rise",
        "margin breaches",
        "VaR99 breaches",
        "VaR99 Kupiec p",
        "direction",
    )
    for coin, figures in result["coins"].items():
        for name, sides in figures["apc_tools"].items():
            for side in ("long", "short"):
                row = sides[side]
                m = row["margin"]
                v = row["var99"]
                tools.add_row(
                    coin,
                    name + (" *" if name == tool["tool"] else ""),
                    side,
                    _pct(m["average"]),
                    _pct(m["median"]),
                    _pct(m["peak"]),
                    f"{m['peak_to_median']:.2f}",
                    _pct(m["max_1d_increase"]),
                    str(row["daily"]["breaches"]),
                    f"{v['breaches']} / {v['expected']:.1f}",
                    _p(v["kupiec_p"]),
                    v["direction"],
                )
    console.print(tools)

    var = _table(
        "VaR 99% of the same FHS distribution: Kupiec (POF) at 99%, Christoffersen (independence)",
        "coin",
        "model",
        "side",
        "breaches",
        "expected",
        "Kupiec LR",
        "Kupiec p",
        "direction",
        "Christoffersen p",
        "dates",
    )
    for coin, figures in result["coins"].items():
        for model, sides in figures["var_backtest"].items():
            for side in ("long", "short"):
                v = sides[side]
                var.add_row(
                    coin,
                    model,
                    side,
                    str(v["breaches"]),
                    f"{v['expected']:.1f}",
                    f"{v['kupiec_lr']:.2f}",
                    _p(v["kupiec_p"]),
                    v["direction"],
                    _p(v["christoffersen_p"]),
                    _dates(v["dates"]),
                )
    console.print(var)

    es = _table(
        "ES 99%: Acerbi-Szekely (2014) Z2, critical values from the FHS null (seeded simulation)",
        "coin",
        "model",
        "side",
        "Z2",
        "5% critical",
        "95% of null",
        "p (lower)",
        "verdict",
        "breaches",
        "null paths",
    )
    for coin, figures in result["coins"].items():
        for side in ("long", "short"):
            z = figures["es_backtest"]["fhs"][side]
            es.add_row(
                coin,
                "fhs",
                side,
                f"{z['z2']:.3f}",
                f"{z['critical_5pct']:.3f}",
                f"{z['upper_95pct']:.3f}",
                _p(z["p_value"]),
                z["verdict"],
                str(z["breaches"]),
                f"{z['sims']} (seed {z['seed']})",
            )
            a = figures["es_backtest"]["fhs_apc"][side]
            es.add_row(
                coin, "fhs_apc", side, f"{a['z2']:.3f}", f"{a['critical_5pct']:.3f}", "", "", "", "", ""
            )
    console.print(es)

    dated = _table("fhs_apc breaches", "coin", "side", "date", "loss", "margin")
    for coin, figures in result["coins"].items():
        for side in ("long", "short"):
            for d in figures["fhs_apc"][side]["daily"]["dates"]:
                dated.add_row(coin, side, d["date"], _pct(d["loss"]), _pct(d["margin"]))
    console.print(dated)
    for coin, figures in result["coins"].items():
        years = figures["lookback_years"]
        binding = ", ".join(
            f"{side} " + " / ".join(f"{k} {v * 100:.0f}%" for k, v in figures["apc_binding"][side].items())
            for side in ("long", "short")
        )
        console.print(
            f"{coin}: (c)'s lookback floor is over the available {years['first']:.1f}-{years['last']:.1f}"
            f" years of history (EMIR asks for 10); days each part sets the margin: {binding}"
        )


def _affiliate_option(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value:
        pattern, sep, group = item.partition("=")
        if not sep or not pattern.strip() or not group.strip():
            raise click.BadParameter(f"{item!r}: expected OWNER_PATTERN=GROUP, e.g. 'maker-*=makers'")
        out[pattern.strip()] = group.strip()
    return out


@lab.command("guaranty")
@config_options
@click.option("--margin", type=click.Choice(list(REGIMES)), default="ftx5", show_default=True)
@click.option(
    "--beyond",
    type=click.Choice(["margin", "equity"]),
    default="margin",
    show_default=True,
    help="Count each member's stress loss beyond the initial margin it posted (the CCP convention) or"
    " beyond its whole equity.",
)
@click.option(
    "--affiliate",
    "affiliates",
    multiple=True,
    callback=_affiliate_option,
    metavar="PATTERN=GROUP",
    help="Owners matching PATTERN default together as GROUP, e.g. 'maker-*=makers'.",
)
@click.option(
    "--fund",
    "funds",
    multiple=True,
    type=click.FloatRange(min=0, min_open=True),
    help="More fund sizes (USD) for the reverse stress test, besides $250M and the day's own fund.",
)
@click.option("--json", "as_json", is_flag=True)
def guaranty_command(
    margin: str,
    beyond: str,
    affiliates: dict[str, str],
    funds: tuple[float, ...],
    as_json: bool,
    **kw: Any,
) -> None:
    """Guaranty fund sizing on the replay's positions, every day: Cover-1/2/3 beyond initial margin
    (or equity) under historical and hypothetical scenarios, the members named, FUSD's 10% of
    initial margin and the fund each implies, and a reverse stress test: the smallest move that
    exhausts $250M and the day's own fund."""
    from backstop.lab.replay import Replay, hours_in

    config = build(margin, kw)
    try:
        run = Replay(config)
        run.affiliates = affiliates
        run.reverse_funds = {"250m": 250_000_000.0} | {_fund_label(f): f for f in funds}
        with progress(f"replay {config.start}..{config.end}", hours_in(config), as_json) as tick:
            result = run.run(tick)
    except (ValueError, OSError) as exc:
        raise failure(exc) from None
    out = guaranty_figures(result.daily, beyond, config)
    if as_json:
        click.echo(json.dumps(_clean_fine(out), indent=2))
        return
    _print_guaranty(out)


def _fund_label(usd: float) -> str:
    return f"{usd / 1e6:g}m"


def guaranty_figures(daily: list[dict[str, Any]], beyond: str, config: Any) -> dict[str, Any]:
    """The guaranty command's figures from the replay's daily rows: peaks, the worst day, Cover-2
    beyond IM against beyond equity, who Cover-2's members are, and the reverse stress moves."""
    import statistics

    suffix = "" if beyond == "margin" else "_equity"
    keys = [k for k in (daily[0] if daily else {}) if k.startswith(("cover", "im_rule", "guaranty", "emir"))]
    keys = [k for k in keys if not k.startswith("cover2_member") and k != "cover2_maker"]
    peaks = {k: max(float(row[k]) for row in daily) for k in keys}
    funds = [max(float(row["im_rule"]), float(row[f"cover2{suffix}"])) for row in daily]
    worst = daily[funds.index(max(funds))] if daily else {}
    ratios = [row["cover2"] / row["cover2_equity"] for row in daily if row.get("cover2_equity", 0.0) > 0.0]
    moves: dict[str, dict[str, Any]] = {}
    for key in (k for k in (daily[0] if daily else {}) if k.startswith("reverse_")):
        label, _, direction = key.removeprefix("reverse_").partition("_")
        found = [(float(row[key]), row["date"]) for row in daily if row.get(key) is not None]
        smallest = min(found, default=None)
        bound = max((float(row.get(f"stress_bound_{direction}", 0.0)), row["date"]) for row in daily)
        moves.setdefault(label, {})[direction] = {
            "smallest": smallest[0] if smallest else None,
            "date": smallest[1] if smallest else None,
            "days_exhaustible": len(found),
            "bound_loss_max": bound[0],
            "bound_loss_date": bound[1],
        }
    days = [
        {
            "date": row["date"],
            "total_im": row.get("total_im", 0.0),
            "im_rule": row["im_rule"],
            "cover2": row[f"cover2{suffix}"],
            "cover2_margin": row["cover2"],
            "cover2_equity": row["cover2_equity"],
            "emir_default_fund": row.get("emir_default_fund", 0.0),
            "fund": max(row["im_rule"], row[f"cover2{suffix}"]),
            "binding": "cover2" if row[f"cover2{suffix}"] > row["im_rule"] else "im",
            "cover2_members": [
                {
                    "member": row[f"cover2_member{k}"],
                    "role": row[f"cover2_member{k}_role"],
                    "loss": row[f"cover2_member{k}_loss"],
                    "initial_margin": row[f"cover2_member{k}_im"],
                    "equity": row[f"cover2_member{k}_equity"],
                }
                for k in (1, 2)
                if row.get(f"cover2_member{k}")
            ],
            "maker_in_cover2": bool(row.get("cover2_maker")),
            "reverse": {k.removeprefix("reverse_"): v for k, v in row.items() if k.startswith("reverse_")},
        }
        for row in daily
    ]
    return {
        "config": {
            "start": config.start,
            "end": config.end,
            "coins": list(config.coins),
            "margin": config.margin,
            "seed": config.seed,
            "beyond": beyond,
        },
        "peaks": peaks,
        "worst_day": worst,
        "largest_fund": {"date": worst.get("date"), "fund": max(funds, default=0.0)},
        "fusd_fund": 250_000_000,
        "margin_vs_equity": {
            "days": len(daily),
            "days_both_positive": len(ratios),
            "ratio_min": min(ratios, default=None),
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratio_max": max(ratios, default=None),
            "cover2_margin_range": [min((r["cover2"] for r in daily), default=0.0), peaks.get("cover2", 0.0)],
            "cover2_equity_range": [
                min((r["cover2_equity"] for r in daily), default=0.0),
                peaks.get("cover2_equity", 0.0),
            ],
            "days_cover2_above_im_rule": sum(1 for r in daily if r["cover2"] > r["im_rule"]),
            "days_cover2_equity_above_im_rule": sum(1 for r in daily if r["cover2_equity"] > r["im_rule"]),
        },
        "makers": {
            "days_in_cover2": sum(1 for r in daily if r.get("cover2_maker")),
            "days": len(daily),
        },
        "reverse_stress": moves,
        "days": days,
    }


def _usd(value: float) -> str:
    return f"{value:,.0f}"


def _print_guaranty(out: dict[str, Any]) -> None:
    console = _console()
    c = out["config"]
    console.print(
        f"guaranty fund, {c['start']}..{c['end']}, margin {c['margin']}, seed {c['seed']}: Cover-2 counts"
        f" losses beyond each member's {'initial margin' if c['beyond'] == 'margin' else 'whole equity'};"
        " fund = max(10% of IM, Cover-2); USD"
    )
    daily = _table(
        "Sizing per day",
        "date",
        "binding",
        "members named",
        "total IM",
        "10% of IM",
        "Cover-2 > IM",
        "Cover-2 > equity",
        "ratio",
        "EMIR 42(3)",
        "fund",
    )
    for day in out["days"]:
        named = "; ".join(
            f"{m['member']} ({m['role']}) loss {_usd(m['loss'])} IM {_usd(m['initial_margin'])}"
            f" equity {_usd(m['equity'])}"
            for m in day["cover2_members"]
        )
        eq = day["cover2_equity"]
        daily.add_row(
            day["date"],
            day["binding"],
            named or "-",
            _usd(day["total_im"]),
            _usd(day["im_rule"]),
            _usd(day["cover2_margin"]),
            _usd(eq),
            f"{day['cover2_margin'] / eq:.1f}x" if eq > 0 else "-",
            _usd(day["emir_default_fund"]),
            _usd(day["fund"]),
        )
    console.print(daily)
    reverse = _table(
        "Reverse stress: the smallest move whose losses beyond IM, all members, exhaust the fund",
        "fund",
        "direction",
        "smallest move",
        "on",
        "days a move within -100%..+1000% does",
        "largest loss at the bound",
        "on ",
    )
    for label, directions in out["reverse_stress"].items():
        name = "the day's own fund" if label == "lab" else f"${label.removesuffix('m')}M"
        for direction, r in directions.items():
            move = r["smallest"]
            reverse.add_row(
                name,
                direction.replace("_", " "),
                "-" if move is None else f"{move * 100:.1f}%",
                r["date"] or "-",
                str(r["days_exhaustible"]),
                _usd(r["bound_loss_max"]),
                r["bound_loss_date"],
            )
    console.print(reverse)
    m = out["margin_vs_equity"]
    if m["ratio_median"] is not None:
        console.print(
            f"Cover-2 beyond IM / beyond equity: {m['ratio_min']:.2f}-{m['ratio_max']:.2f}x, median"
            f" {m['ratio_median']:.2f}x over {m['days_both_positive']} of {m['days']} days; Cover-2 above"
            f" 10% of IM on {m['days_cover2_above_im_rule']} days beyond IM,"
            f" {m['days_cover2_equity_above_im_rule']} beyond equity"
        )
    console.print(
        f"a market maker is one of Cover-2's two members on {out['makers']['days_in_cover2']} of"
        f" {out['makers']['days']} days"
    )
    largest = out["largest_fund"]
    if largest["date"]:
        console.print(
            f"the largest fund asked: {largest['date']}, {_usd(largest['fund'])} against FUSD's $250,000,000"
        )
