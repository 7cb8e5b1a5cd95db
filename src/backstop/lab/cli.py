"""`backstop lab ...`: the risk lab's commands."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from backstop.catalog import MODELS
from backstop.cli_input import Group, decimal
from backstop.lab.cli_distribution import distribution_options
from backstop.lab.population import PopulationConfig
from backstop.lab.spec import REGIMES, LabConfig, with_overrides


def _clean(value: Any) -> Any:
    """JSON-safe: floats rounded to cents (and NaN/inf as null), recursively."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 2)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(_clean(value), indent=2))


@contextmanager
def progress(label: str, total: int, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (nothing when quiet or not a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task, completed=done)


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
        click.option("--traders", type=click.IntRange(0), default=p.traders, show_default=True),
        click.option(
            "--leverage",
            type=click.FloatRange(0.1, 20),
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
        click.option("--max-leverage", type=click.IntRange(1, 20), default=p.max_leverage, show_default=True),
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
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build(margin: str, kw: dict[str, Any]) -> LabConfig:
    coins = tuple(c.strip().upper() for c in kw["coins"].split(",") if c.strip())
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
        )
        return with_overrides(
            base,
            traders=kw["traders"],
            mean_leverage=kw["leverage"],
            max_leverage=kw["max_leverage"],
            holding_hours=kw["holding_hours"],
            collateral_median_usd=kw["collateral"],
            leverage_sigma=kw["leverage_sigma"],
            collateral_sigma=kw["collateral_sigma"],
            long_share=kw["long_share"],
            blp_per_minute_usd=kw["blp_per_minute"],
            blp_per_hour_usd=kw["blp_per_minute"] * 10,
        )
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
    from backstop.lab.replay import replay

    config = build(margin, kw)
    if cli_distribution.wanted(kw):  # --seeds, --seed-list or --paths: a distribution of replays
        if report is not None:
            raise click.UsageError("--report draws one replay: leave out --seeds, --seed-list and --paths")
        cli_distribution.run_distribution(config, kw, workers, as_json)
        return
    try:
        if report is not None:
            from backstop.lab.report import write_report

            summary = write_report(config, report, workers=workers, quiet=as_json)
        else:
            with progress(f"replay {config.start}..{config.end}", 1, as_json) as tick:
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
        f"{s['start']}..{s['end']}  {coins}  margin {s['margin']}  model {s['model']}  seed {s['seed']}",
        f"  insurance fund: net {s['fund_net']:+,.0f} USD"
        f" (paid {s['fund_paid']:,.0f}, received {s['fund_received']:,.0f})",
        f"  largest daily draw {s['fund_max_daily_draw']:,.0f},"
        f" largest drawdown {s['fund_max_drawdown']:,.0f}",
        f"  fee revenue {s['fee_revenue']:,.0f};"
        f" days the fund paid more than that day's fees: {s['days_draw_above_fees']}",
        f"  socialized loss {s['socialized_loss']:,.0f} ({s['clawed_back_accounts']} accounts),"
        f" deleveraged {s['deleveraged_notional']:,.0f}",
        f"  accounts liquidated {s['accounts_liquidated']} ({s['liquidations']} episodes): {tiers}",
        f"  equity at liquidation {s['equity_at_liquidation']:,.0f}, returned {s['equity_returned']:,.0f};"
        f" BLP PnL {s['blp_pnl']:+,.0f}",
        f"  {s['commands']:,} commands; solvency {'balanced' if s['solvent'] else 'NOT BALANCED'}",
    ]
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

    base = build(margin, kw)
    if cli_distribution.wanted(kw):  # the three models on the same seeds and paths
        cli_distribution.run_distribution(base, kw, workers, as_json, variants=MODELS)
        return
    configs = [with_overrides(base, model=m) for m in MODELS]
    try:
        with progress("models", len(configs), as_json) as tick:
            count = [0]

            def done(n: int) -> None:
                count[0] += n
                tick(count[0], len(configs))

            rows = sweep.run(configs, workers=workers, done=done)
    except (ValueError, OSError) as exc:
        raise failure(exc) from None
    table = {row["model"]: row for row in rows}
    if as_json:
        emit_json(table)
        return
    keys = (
        "fund_net",
        "fund_max_daily_draw",
        "socialized_loss",
        "clawed_back_accounts",
        "deleveraged_notional",
        "equity_returned",
        "liquidations",
    )
    click.echo(f"{'':24}" + "".join(f"{m:>16}" for m in MODELS))
    for key in keys:
        click.echo(f"{key:24}" + "".join(f"{table[m][key]:>16,.0f}" for m in MODELS))


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

    base = build(margin, kw)
    grid = dict(_axis(base, axis) for axis in axes)
    try:
        configs = sweep.grid(base, grid)
        with progress("replays", len(configs), as_json) as tick:
            count = [0]

            def done(n: int) -> None:
                count[0] += n
                tick(count[0], len(configs))

            rows = sweep.run(configs, workers=workers, cluster=cluster, done=done)
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


@lab.command("fhs")
@click.option(
    "--lam", "lam", type=click.FloatRange(0.5, 0.9999), default=0.97, show_default=True, help="EWMA lambda."
)
@click.option(
    "--start", default="2019-05-01", show_default=True, callback=iso_date, help="First day of the backtest."
)
@click.option(
    "--end", default="2022-11-30", show_default=True, callback=iso_date, help="Last day of the backtest."
)
@click.option("--data", type=click.Path(exists=True, dir_okay=False), help="Hourly candles [packaged].")
@click.option("--json", "as_json", is_flag=True)
def fhs_command(lam: float, start: str, end: str, data: str | None, as_json: bool) -> None:
    """FHS initial margin against FTX's IMF and a flat 15%: coverage of 24 h moves, Kupiec, cost."""
    from backstop.lab import fhs

    try:
        result = fhs.summary(data, params=fhs.FhsParams(lam=lam), start=start, end=end)
    except (ValueError, OSError, KeyError) as exc:
        raise failure(exc) from None
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"24 h moves {start}..{end}, lambda {lam}: coverage (hourly windows), daily Kupiec p, margin %"
    )
    click.echo(
        f"{'':20}{'side':>6}{'coverage':>10}{'Kupiec p':>10}"
        f"{'average':>9}{'median':>8}{'peak':>7}{'pk/med':>8}"
    )
    for coin, models in result["coins"].items():
        for model in FHS_MODELS:
            for side in ("long", "short"):
                row = models[model][side]
                m = row["margin"]
                click.echo(
                    f"{coin + ' ' + model:20}{side:>6}{row['hourly']['coverage_pct']:>9.2f}%"
                    f"{row['daily']['kupiec_p']:>10.3f}{m['average'] * 100:>9.1f}{m['median'] * 100:>8.1f}"
                    f"{m['peak'] * 100:>7.1f}{m['peak_to_median']:>8.2f}"
                )


@lab.command("guaranty")
@config_options
@click.option("--margin", type=click.Choice(list(REGIMES)), default="ftx5", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def guaranty_command(margin: str, as_json: bool, **kw: Any) -> None:
    """Guaranty fund sizing on the replay's positions, every day: Cover-1/2/3 under historical and
    hypothetical scenarios beside FUSD's 10% of initial margin, and the fund each implies."""
    from backstop.lab.replay import replay

    config = build(margin, kw)
    try:
        with progress("replay", 1, as_json) as tick:
            result = replay(config, tick)
    except (ValueError, OSError) as exc:
        raise failure(exc) from None
    keys = (
        [k for k in result.daily[0] if k.startswith(("cover", "im_rule", "guaranty"))] if result.daily else []
    )
    peaks = {k: max(float(row[k]) for row in result.daily) for k in keys}
    worst = max(result.daily, key=lambda row: float(row.get("guaranty_fund", 0.0))) if result.daily else {}
    out = {"peaks": peaks, "worst_day": worst, "fusd_fund": 250_000_000}
    if as_json:
        emit_json(out)
        return
    click.echo(
        f"guaranty fund asked, {config.start}..{config.end}, margin {config.margin} (USD, peak over the days)"
    )
    for key, value in peaks.items():
        click.echo(f"  {key:24}{value:>16,.0f}")
    if worst:
        click.echo(
            f"  the largest on {worst['date']}: {float(worst['guaranty_fund']):,.0f}"
            " against FUSD's $250,000,000"
        )
