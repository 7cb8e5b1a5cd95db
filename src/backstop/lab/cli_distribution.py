"""The options of `backstop lab replay` and `compare` that turn one replay into a distribution
(`--seeds`, `--paths`, ...; `lab.distribution`), and the command's run and printout."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from backstop.lab.paths import DEFAULT_BLOCK_HOURS, PATH_MODELS
from backstop.lab.spec import LabConfig, with_overrides
from backstop.lab.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES

_KEYS = (
    "seeds",
    "seed_list",
    "paths",
    "path_model",
    "block_hours",
    "calibrate_from",
    "calibrate_to",
    "fund_size",
    "ftx_open_interest",
    "level",
    "cluster",
    "history",
)


def _seed_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        seeds = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of whole numbers (1,5,9)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise click.BadParameter("give distinct seeds, none negative")
    return seeds


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from datetime import datetime

    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    return value


def _fund_sizes(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    from backstop.lab.distribution import parse_fund_sizes

    try:
        return parse_fund_sizes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def distribution_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--seeds`, `--seed-list`, `--paths`, `--path-model` and their settings."""
    options = [
        click.option(
            "--seeds",
            type=click.IntRange(1),
            default=None,
            help="Run seeds 1..N (in parallel: --workers, --cluster) and report each figure's mean,"
            " median and confidence interval.",
        ),
        click.option(
            "--seed-list", callback=_seed_list, metavar="S1,S2", help="Run these seeds instead of 1..N."
        ),
        click.option(
            "--paths",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Monte Carlo price paths per seed, built from the real data (0: the real history only).",
        ),
        click.option(
            "--path-model",
            type=click.Choice(PATH_MODELS),
            default="bootstrap",
            show_default=True,
            help="Stationary bootstrap of joint hours, or GARCH(1,1)-filtered historical simulation.",
        ),
        click.option(
            "--block-hours",
            type=click.FloatRange(1),
            default=DEFAULT_BLOCK_HOURS,
            show_default=True,
            help="Mean block length of the stationary bootstrap, hours.",
        ),
        click.option(
            "--calibrate-from",
            callback=_date,
            help="First day of the real data the paths are built from"
            " [bootstrap: --start; garch: a year before it].",
        ),
        click.option("--calibrate-to", callback=_date, help="Day after the last of that data [--end]."),
        click.option(
            "--fund-size",
            default="lab,ftx",
            show_default=True,
            callback=_fund_sizes,
            help="Fund sizes whose probability of exhaustion to report: lab (--fund-start), ftx"
            " (FTX's $9.5M scaled by open interest), or USD (250M, 9.5M).",
        ),
        click.option(
            "--ftx-open-interest",
            type=click.FloatRange(min=1, min_open=False),
            default=None,
            help="FTX's open interest, USD, that the ftx fund size is scaled by [FTX's mean over"
            " 2019-07-21..2022-04-01 on the sourced growth path, lab/data/ftx_growth.csv: $2.4B].",
        ),
        click.option(
            "--level",
            type=click.FloatRange(0.5, 0.999),
            default=DEFAULT_LEVEL,
            show_default=True,
            help="Confidence level of the intervals.",
        ),
        click.option("--cluster", help="A Dask scheduler address (tcp://host:8786) to run the runs on."),
        click.option(
            "--history/--no-history",
            default=True,
            show_default=True,
            help="With --paths, replay the real history too (path 0) to set beside the paths.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def wanted(kw: dict[str, Any]) -> bool:
    """Whether the command line asks for a distribution rather than one replay."""
    return bool(kw.get("seeds") or kw.get("seed_list") or kw.get("paths"))


def seeds_of(config: LabConfig, kw: dict[str, Any]) -> list[int]:
    if kw.get("seed_list"):
        return list(kw["seed_list"])
    if kw.get("seeds"):
        return list(range(1, kw["seeds"] + 1))
    return [config.seed]


def run_distribution(
    base: LabConfig,
    kw: dict[str, Any],
    workers: int | None,
    as_json: bool,
    variants: Sequence[str] = (),
) -> None:
    """Run the distribution the options ask for and print it (`variants`: liquidation models to
    run side by side, as `compare` does, on the same seeds and paths)."""
    from backstop.lab import distribution as dist
    from backstop.lab.cli import failure, progress
    from backstop.lab.spec import rounded

    seeds = seeds_of(base, kw)
    configs = {m: with_overrides(base, model=m) for m in variants} if variants else {base.model: base}
    model = None
    try:
        if kw["paths"]:
            from backstop.lab.paths import build_model

            model = build_model(
                base, kw["path_model"], kw["block_hours"], kw["calibrate_from"], kw["calibrate_to"]
            )
        jobs = [job for c in configs.values() for job in dist.plan(c, seeds, kw["paths"], kw["history"])]
        with progress("replays", len(jobs), as_json) as tick:
            count = [0]

            def done(n: int) -> None:
                count[0] += n
                tick(count[0], len(jobs))

            outcomes = dist.execute(jobs, model, workers=workers, cluster=kw["cluster"], done=done)
        summaries = {
            name: dist.summarise(
                [o for o in outcomes if o["model"] == name],
                c,
                kw["fund_size"],
                kw["level"],
                ftx_open_interest_usd=kw["ftx_open_interest"],
            )
            for name, c in configs.items()
        }
    except (ValueError, OSError, RuntimeError) as exc:
        raise failure(exc) from None
    method = dist.method(kw["level"], DEFAULT_RESAMPLES, 0, model)
    per_run = [{k: o[k] for k in ("model", "seed", "path", "figures", "state_hash")} for o in outcomes]
    if as_json:
        body: dict[str, Any] = {"seeds": seeds, "paths": kw["paths"]}
        if variants:
            body["models"] = summaries
        else:
            body |= summaries[base.model]
        # figures to the cent, as every lab command prints them; the method (the GARCH's
        # parameters among it) at full precision
        click.echo(json.dumps({"method": method} | rounded(body | {"per_run": per_run}), indent=2))
        return
    if variants:
        _print_compare(configs, seeds, kw, summaries, method)
        return
    _print(base, seeds, kw, summaries[base.model], method)


def _number(key: str, value: float) -> str:
    from backstop.lab.distribution import COUNTS

    return f"{value:,.1f}" if key in COUNTS else f"{value:,.0f}"


def _heading(c: LabConfig, seeds: list[int], kw: dict[str, Any], runs: int) -> str:
    ordered = seeds == list(range(seeds[0], seeds[-1] + 1))
    seeds_text = f"seeds {seeds[0]}..{seeds[-1]}" if ordered else "seeds " + ",".join(map(str, seeds))
    what = f"{runs} runs ({seeds_text}"
    what += f", {kw['paths']} {kw['path_model']} paths each)" if kw["paths"] else ")"
    return (
        f"{c.start}..{c.end}  {','.join(c.coins)}  margin {c.margin}"
        f"  {c.population.traders:,} traders: {what}"
    )


def _exhaust_lines(s: dict[str, Any]) -> list[str]:
    out = []
    for e in s["exhaust"]:
        name = {"lab": "the lab's fund", "ftx": "FTX's $9.5M scaled"}.get(e["fund"], e["fund"])
        out.append(
            f"P(exhausting {name}, ${e['usd']:,.0f}): {e['exhausted']}/{e['runs']} ="
            f" {e['percent']:.1f}% [{e['ci_lo_pct']:.1f}%, {e['ci_hi_pct']:.1f}%]"
        )
    for seed, figures in s.get("history", {}).items():
        parts = [
            f"{key} {v['value']:,.0f} (paths as bad: {v['paths_as_bad_pct']:.0f}%)"
            for key, v in figures.items()
        ]
        out.append(f"the real history, seed {seed}: " + "; ".join(parts))
    return out


def _print(
    c: LabConfig, seeds: list[int], kw: dict[str, Any], s: dict[str, Any], method: dict[str, Any]
) -> None:
    from backstop.lab.distribution import HEADLINE

    level = kw["level"]
    click.echo(_heading(c, seeds, kw, s["runs"]) + f"  model {c.model}")
    click.echo(
        f"  {'':34}{'mean':>13}{'median':>13}{f'{level:.0%} CI of the mean':>28}{'runs: min .. max':>28}"
    )
    labels = dict(HEADLINE)
    for key, st in s["figures"].items():
        ci = f"{_number(key, st['ci_lo'])} .. {_number(key, st['ci_hi'])}"
        spread = f"{_number(key, st['min'])} .. {_number(key, st['max'])}"
        click.echo(
            f"  {labels.get(key, key):34}{_number(key, st['mean']):>13}{_number(key, st['median']):>13}"
            f"{ci:>28}{spread:>28}"
        )
    for line in _exhaust_lines(s):
        click.echo(f"  {line}")
    click.echo(f"  CI: {method['ci']}; P(exhausting): {method['exhaust']}")


def _print_compare(
    configs: dict[str, LabConfig],
    seeds: list[int],
    kw: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    method: dict[str, Any],
) -> None:
    """The models side by side: each figure's mean and its interval."""
    from backstop.lab.distribution import HEADLINE

    first = next(iter(configs.values()))
    runs = next(iter(summaries.values()))["runs"]
    click.echo(_heading(first, seeds, kw, runs) + f"; mean [{kw['level']:.0%} CI of the mean]")
    click.echo(f"  {'':34}" + "".join(f"{name:>34}" for name in summaries))
    labels = dict(HEADLINE)
    keys = [
        k
        for k in next(iter(summaries.values()))["figures"]
        if all(k in s["figures"] for s in summaries.values())
    ]
    for key in keys:
        cells = []
        for s in summaries.values():
            st = s["figures"][key]
            cells.append(
                f"{_number(key, st['mean'])} [{_number(key, st['ci_lo'])}, {_number(key, st['ci_hi'])}]"
            )
        click.echo(f"  {labels.get(key, key):34}" + "".join(f"{cell:>34}" for cell in cells))
    for name, s in summaries.items():
        for line in _exhaust_lines(s):
            click.echo(f"  {name}: {line}")
    click.echo(f"  CI: {method['ci']}; P(exhausting): {method['exhaust']}")
