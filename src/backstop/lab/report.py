"""`backstop lab replay --report DIR`: an HTML page with PNG charts, and the same figures as CSV/JSON.

The seed's chart: the insurance fund's cumulative net under FTX's 5% minimum margin and under 15%
(FUSD's proposal), against the $250M guaranty-fund line, with cumulative fee revenue. The runs
are the configured replay with only the margin regime changed (and the configured regime itself
if it is neither), in parallel.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

from backstop.catalog import MODELS
from backstop.lab import sweep
from backstop.lab.spec import LabConfig, Result, with_overrides

FUSD_FUND = 250_000_000
FTX_PUBLISHED = {  # FTX's 2022-04 guaranty-fund post, as quoted in research/risk-model.md (unverified)
    "fund_net_5pct": -9_500_000,
    "worst_day_5pct": -4_700_000,
    "fund_net_15pct": "+45M to +51M",
    "worst_drawdown_15pct": -260_000,
}


def write_report(
    config: LabConfig, out: Path, workers: int | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Run the replays, write `out/index.html`, charts, CSV and JSON; the configured run's summary.

    The runs: the configured one with only the margin regime changed (5%, 15%, and the configured
    regime), and with only the liquidation model changed (the side-by-side of FTX, BitMEX, OKEx)."""
    regimes = ["ftx5", "ftx15"]
    if config.margin not in regimes:
        regimes.append(config.margin)
    models = [m for m in MODELS if m != config.model]
    configs = [with_overrides(config, margin=m) for m in regimes]
    configs += [with_overrides(config, model=m) for m in models]
    results: list[Result] = sweep.run(configs, workers=workers, whole=True)
    by_regime = dict(zip(regimes, results[: len(regimes)], strict=True))
    by_model = {config.model: by_regime[config.margin]} | dict(
        zip(models, results[len(regimes) :], strict=True)
    )
    out.mkdir(parents=True, exist_ok=True)
    for regime, result in by_regime.items():
        _write_csv(out / f"daily-{regime}.csv", result.daily)
    for model in models:
        _write_csv(out / f"daily-{config.margin}-{model}.csv", by_model[model].daily)
    summaries = {regime: r.summary for regime, r in by_regime.items()}
    model_summaries = {model: r.summary for model, r in by_model.items()}
    (out / "summary.json").write_text(
        json.dumps({"runs": summaries, "models": model_summaries, "ftx_published": FTX_PUBLISHED}, indent=2)
    )
    _charts(by_regime, out)
    (out / "index.html").write_text(_page(config, summaries, model_summaries))
    return by_regime[config.margin].summary


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["date"])
        writer.writeheader()
        writer.writerows(rows)


def _charts(by_regime: dict[str, Result], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd  # type: ignore[import-untyped]

    frames = {
        regime: pd.DataFrame(r.daily).assign(date=lambda d: pd.to_datetime(d["date"]))
        for regime, r in by_regime.items()
    }
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True, height_ratios=(1, 1.4))
    fees_axis = bottom.twinx()
    for regime, frame in frames.items():
        net = frame["fund_change"].cumsum()
        top.plot(frame["date"], net, label=f"insurance fund, cumulative net ({regime})")
        top.plot(
            frame["date"], frame["fees"].cumsum(), linestyle="--", label=f"cumulative fee revenue ({regime})"
        )
        bottom.plot(frame["date"], net, label=f"fund net ({regime})")
        fees_axis.plot(
            frame["date"], frame["fees"].cumsum(), linestyle="--", alpha=0.5, label=f"fees ({regime})"
        )
    top.axhline(FUSD_FUND, color="black", linewidth=1, label="$250M guaranty fund (FUSD)")
    top.set_ylabel("USD")
    top.set_title("Insurance fund under 5% vs 15% minimum margin, against the $250M line")
    top.legend(loc="center left", fontsize=8)
    bottom.set_ylabel("fund net, USD (its own scale)")
    fees_axis.set_ylabel("cumulative fees, USD (dashed)")
    bottom.legend(loc="upper left", fontsize=8)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    fig.tight_layout()
    fig.savefig(out / "fund.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4))
    for regime, frame in frames.items():
        ax.bar(frame["date"], -frame["fund_draw"], width=1.0, alpha=0.6, label=f"daily draw ({regime})")
    ax.set_ylabel("USD paid out by the fund per day")
    ax.set_title("Daily insurance fund draws")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "draws.png", dpi=110)
    plt.close(fig)


_ROWS = (
    ("fund_net", "Insurance fund net (USD)"),
    ("fund_max_daily_draw", "Largest daily draw"),
    ("fund_max_drawdown", "Largest drawdown"),
    ("days_draw_above_fees", "Days the fund paid more than that day's fees"),
    ("fee_revenue", "Fee revenue"),
    ("socialized_loss", "Socialized loss (clawback)"),
    ("deleveraged_notional", "Auto-deleveraged notional"),
    ("liquidations", "Accounts liquidated"),
    ("equity_returned", "Equity returned to liquidated users"),
    ("blp_pnl", "Backstop providers' PnL"),
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return html.escape(str(value))


def _table(columns: dict[str, dict[str, Any]], rows: tuple[tuple[str, str], ...]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{_cell(s[key])}</td>" for s in columns.values()) + "</tr>"
        for key, label in rows
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


_MODEL_ROWS = (
    ("fund_paid", "Insurance fund paid out"),
    ("fund_max_daily_draw", "Largest daily draw"),
    ("socialized_loss", "Socialized loss (clawback)"),
    ("clawed_back_accounts", "Winners hit"),
    ("deleveraged_notional", "Auto-deleveraged notional"),
    ("equity_returned", "Residual equity returned"),
    ("accounts_liquidated", "Accounts liquidated"),
    ("liquidations_by_tier", "By tier"),
)


def _page(config: LabConfig, summaries: dict[str, dict[str, Any]], models: dict[str, dict[str, Any]]) -> str:
    regimes = _table(summaries, (*_ROWS, ("liquidations_by_tier", "By tier")))
    compared = _table(models, _MODEL_ROWS)
    published = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>" for k, v in FTX_PUBLISHED.items()
    )
    p = config.population
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Backstop risk lab: {config.start}..{config.end}</title>
<style>
body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}
</style></head>
<body>
<h1>Risk lab replay, {config.start} to {config.end}</h1>
<p>{", ".join(config.coins)} perpetuals, liquidation model <b>{config.model}</b>, seed {config.seed};
{p.traders:,} traders (mean leverage {p.mean_leverage}x, cap {p.max_leverage}x,
median collateral ${p.collateral_median_usd:,.0f},
a decision every {p.holding_hours:g} h on average), insurance fund seeded with ${config.fund_start_usd:,}.</p>
<img src="fund.png" alt="insurance fund path" width="100%">
<img src="draws.png" alt="daily draws" width="100%">
<h2>Margin regimes</h2>
{regimes}
<h2>Liquidation models (margin {config.margin}, same history, population and seed)</h2>
{compared}
<h2>FTX's published figures (unverified claims, for comparison)</h2>
<table>{published}</table>
<p>Data: daily-*.csv and summary.json beside this page.</p>
</body></html>
"""
