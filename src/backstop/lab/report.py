"""`backstop lab replay --report DIR`: an HTML page with PNG charts, and the same figures as CSV/JSON.

The runs: the configured replay with only the margin regime changed (FTX's 5% minimum, FUSD's 15%,
and the configured regime if it is neither), and with only the liquidation model changed (FTX,
BitMEX, OKEx), in parallel, with one progress report over all their simulated hours.

The charts (`fund.png`, `draws.png`, `tiers.png`), each readable at a glance: money in $k/$M on
every axis, no scientific offsets; the fund's cumulative net, its drawdown against the $250M
guaranty fund on a log axis (a $70k drawdown and $250M on one linear axis is a flat line), and
cumulative fee revenue, each on its own panel; daily payouts against daily fee revenue on a log
axis with the largest days annotated; liquidated accounts by the deepest tier each reached.

The data: `daily-*.csv` (one row per UTC day) with the engine's money written exactly from its
integer atoms (USD with 8 decimals, as the ledger holds it) and the guaranty-fund sizing (float
arithmetic on stress scenarios) to the cent; `summary.json` with USD to the cent.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backstop.catalog import MODELS
from backstop.engine.amounts import ATOM
from backstop.lab import sweep
from backstop.lab.replay import DAY_MONEY, TIERS
from backstop.lab.spec import LabConfig, Result, rounded, with_overrides

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FUSD_FUND = 250_000_000
FTX_PUBLISHED = {  # FTX's 2022-04 guaranty-fund post, as quoted in research/risk-model.md (unverified)
    "fund_net_5pct": -9_500_000,
    "worst_day_5pct": -4_700_000,
    "fund_net_15pct": "+45M to +51M",
    "worst_drawdown_15pct": -260_000,
}
_PUBLISHED_ROWS = (  # (FTX's key, what it is, our summary key and regime for the same quantity)
    ("fund_net_5pct", "Insurance fund net, 5% minimum margin", "fund_net", "ftx5"),
    ("worst_day_5pct", "Worst day for the fund, 5% minimum margin", "fund_max_daily_net_draw", "ftx5"),
    ("fund_net_15pct", "Insurance fund net, 15% minimum margin", "fund_net", "ftx15"),
    ("worst_drawdown_15pct", "Worst drawdown, 15% minimum margin", "fund_max_drawdown", "ftx15"),
)
_LOSSES = ("fund_max_daily_net_draw", "fund_max_drawdown")  # positive in the summary, losses to FTX

ATOM_COLUMNS = DAY_MONEY
"""Daily columns of engine money: written exactly from the integer atoms (USD, 8 decimals)."""
CENT_PREFIXES = ("cover", "im_rule", "guaranty")
"""Daily columns of guaranty-fund sizing (float USD from scenario arithmetic): to the cent."""
FLOAT_DIGITS = 10
"""Significant digits of any other float column."""

Progress = Callable[[int, int], None]


def _regimes_and_models(config: LabConfig) -> tuple[list[str], list[str]]:
    regimes = ["ftx5", "ftx15"]
    if config.margin not in regimes:
        regimes.append(config.margin)
    return regimes, [m for m in MODELS if m != config.model]


def runs(config: LabConfig) -> list[LabConfig]:
    """The report's replays: each margin regime, then each other liquidation model."""
    regimes, models = _regimes_and_models(config)
    return [with_overrides(config, margin=m) for m in regimes] + [
        with_overrides(config, model=m) for m in models
    ]


def write_report(
    config: LabConfig, out: Path, workers: int | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the replays, write `out/index.html`, charts, CSV and JSON; the configured run's summary.
    `progress(hours, total)`: simulated hours done over all the runs."""
    regimes, models = _regimes_and_models(config)
    results: list[Result] = sweep.run(runs(config), workers=workers, whole=True, progress=progress)
    by_regime = dict(zip(regimes, results[: len(regimes)], strict=True))
    by_model = {config.model: by_regime[config.margin]} | dict(
        zip(models, results[len(regimes) :], strict=True)
    )
    out.mkdir(parents=True, exist_ok=True)
    for regime, result in by_regime.items():
        write_csv(out / f"daily-{regime}.csv", result)
    for model in models:
        write_csv(out / f"daily-{config.margin}-{model}.csv", by_model[model])
    summaries = {regime: r.summary for regime, r in by_regime.items()}
    model_summaries = {model: r.summary for model, r in by_model.items()}
    document = {"runs": summaries, "models": model_summaries, "ftx_published": FTX_PUBLISHED}
    (out / "summary.json").write_text(json.dumps(rounded(document), indent=2))
    charts(by_regime, by_model, config, out)
    (out / "index.html").write_text(_page(config, summaries, model_summaries))
    return by_regime[config.margin].summary


# ---------------------------------------------------------------------------------------------- CSV


def exact_usd(atoms: int) -> str:
    """USD atoms as the exact decimal amount, always 8 decimals: 25000000000005880 ->
    '250000000.00005880'."""
    return f"{Decimal(atoms) / ATOM:.8f}"


def csv_value(column: str, value: Any) -> str:
    """A daily cell at its stated precision (the module's docstring): USD to the cent for the
    guaranty sizing, `FLOAT_DIGITS` significant digits for any other float, others as they are."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value != value:
        return ""
    if column.startswith(CENT_PREFIXES):
        return f"{value:.2f}"
    return f"{value:.{FLOAT_DIGITS}g}"


def write_csv(path: Path, result: Result) -> None:
    """The run's daily rows, the date first; engine money exact from `Result.daily_atoms`."""
    rows = result.daily
    columns = list(rows[0]) if rows else ["date"]
    if "date" in columns:
        columns.remove("date")
        columns.insert(0, "date")
    exact = len(result.daily_atoms) == len(rows)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for i, row in enumerate(rows):
            cells = []
            for column in columns:
                if exact and column in ATOM_COLUMNS:
                    cells.append(exact_usd(result.daily_atoms[i][column]))
                else:
                    cells.append(csv_value(column, row.get(column, "")))
            writer.writerow(cells)


# ------------------------------------------------------------------------------------------- charts


def usd(value: float, _pos: object = None) -> str:
    """Compact dollars for axes and labels: $950, $12.5k, $3.2M, $1.1B; a minus sign for losses."""
    sign = "\u2212" if value < 0 else ""
    a = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            return f"{sign}${a / size:.3g}{suffix}"
    return f"{sign}${a:.3g}" if a else "$0"


def signed(value: float) -> str:
    """`usd` with a plus sign for gains: a net figure."""
    return f"+{usd(value)}" if value > 0 else usd(value)


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n:,} days"


def _frames(results: Mapping[str, Result]) -> dict[str, Any]:
    import pandas as pd  # type: ignore[import-untyped]

    frames = {}
    for name, r in results.items():
        frame = pd.DataFrame(r.daily)
        frame["date"] = pd.to_datetime(frame["date"])
        frames[name] = frame
    return frames


def _dates(ax: Axes, frames: Mapping[str, Any]) -> None:
    """Whole UTC days on the date axis, labelled concisely (no overlapping labels): the span runs
    from the first day's start to the last day's end, and ticks are never finer than a day (the
    rows are days)."""
    import matplotlib.dates as mdates

    first = min(frame["date"].iloc[0] for frame in frames.values())
    last = max(frame["date"].iloc[-1] for frame in frames.values()) + timedelta(days=1)
    ax.set_xlim(first, last)
    locator: Any
    if (last - first).days <= 12:
        locator = mdates.DayLocator()  # type: ignore[no-untyped-call]
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _money_axis(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(usd))


def fund_figure(results: Mapping[str, Result], fund_start: float = FUSD_FUND) -> Figure:
    """Three panels sharing the dates: the fund's cumulative net (income minus payouts), its
    drawdown from its peak (the seed at first, as in the summary) against `fund_start`, the whole
    fund (log axis), and cumulative fee revenue."""
    import matplotlib.pyplot as plt
    import numpy as np

    frames = _frames(results)
    fig, (net_ax, draw_ax, fee_ax) = plt.subplots(
        3, 1, figsize=(11, 10), sharex=True, height_ratios=(1.3, 1, 0.8), layout="constrained"
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lowest = np.inf
    for k, (name, frame) in enumerate(frames.items()):
        color = colors[k % len(colors)]
        ends = frame["date"] + timedelta(days=1)  # each row is the fund at the day's end
        start = frame["date"].iloc[0]
        net = frame["fund_change"].cumsum()
        net_ax.plot(
            [start, *ends],
            [0.0, *net],
            color=color,
            marker="." if len(frame) < 60 else None,
            label=f"{name}: {signed(float(net.iloc[-1]))} at the end",
        )
        worst = int(net.to_numpy().argmin())
        if net.iloc[worst] < 0:
            net_ax.annotate(
                f"lowest {usd(float(net.iloc[worst]))}\n(end of {frame['date'].iloc[worst]:%Y-%m-%d})",
                (ends.iloc[worst], net.iloc[worst]),
                textcoords="offset points",
                xytext=(14, -26),
                va="top",
                fontsize=8,
                color=color,
                arrowprops={"arrowstyle": "-", "color": color},
            )
        fund = frame["fund"].to_numpy()
        peak = np.maximum.accumulate(np.maximum(fund, float(results[name].config.fund_start_usd)))
        drawdown = peak - fund
        shown = np.where(drawdown >= 1.0, drawdown, np.nan)  # a log axis has no zero: gaps
        deepest = float(np.nanmax(drawdown)) if len(drawdown) else 0.0
        share = deepest / fund_start * 100 if fund_start else 0.0
        label = (
            f"{name}: deepest {usd(deepest)} ({share:.2g}% of the fund)" if deepest >= 1 else f"{name}: none"
        )
        draw_ax.plot(
            ends, shown, color=color, marker="." if len(frame) < 60 else None, markersize=4, label=label
        )
        if deepest >= 1:
            lowest = min(lowest, float(np.nanmin(shown)))
        fee_ax.plot([start, *ends], [0.0, *frame["fees"].cumsum()], color=color, label=f"fees, {name}")
    net_ax.axhline(0, color="black", linewidth=0.8)
    net_ax.margins(y=0.3)  # room for the annotation under the lowest point
    net_ax.set_title(
        f"Insurance fund: cumulative net (income \u2212 payouts), against its {usd(fund_start)} seed"
    )
    net_ax.set_ylabel("USD, cumulative since the start")
    net_ax.legend(loc="best", fontsize=8, title="margin regime", title_fontsize=8)
    draw_ax.set_yscale("log")
    draw_ax.axhline(fund_start, color="black", linewidth=1.2)
    draw_ax.text(
        0.01,
        fund_start * 1.15,
        f"the whole fund, {usd(fund_start)}: a drawdown reaching this line exhausts it",
        transform=draw_ax.get_yaxis_transform(),
        va="bottom",
        fontsize=8,
    )
    floor = 10 ** np.floor(np.log10(lowest)) if np.isfinite(lowest) else 1e3
    draw_ax.set_ylim(max(floor, 1.0), fund_start * 3)
    draw_ax.set_title("Fund drawdown from its peak, against the whole fund (log scale; gaps: no drawdown)")
    draw_ax.set_ylabel("USD below the peak (log)")
    draw_ax.legend(loc="best", fontsize=8)
    fee_ax.set_title("Exchange fee revenue, cumulative")
    fee_ax.set_ylabel("USD, cumulative")
    fee_ax.legend(loc="upper left", fontsize=8)
    for ax in (net_ax, draw_ax, fee_ax):
        _money_axis(ax)
        ax.grid(alpha=0.3)
    _dates(fee_ax, frames)
    fee_ax.set_xlabel("date (UTC)")
    return fig


def draws_figure(results: Mapping[str, Result], annotate: int = 3) -> Figure:
    """Daily payouts of the fund (stems) against daily fee revenue (lines) on a log axis, the
    `annotate` largest days of each run labelled with date and amount (a day within a 25th of the
    span of a larger labelled one is not: its label would overlap)."""
    import matplotlib.pyplot as plt
    import numpy as np

    frames = _frames(results)
    fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    count = len(frames)
    peak = 1.0
    floor = np.inf
    for k, (name, frame) in enumerate(frames.items()):
        color = colors[k % len(colors)]
        noon = frame["date"] + timedelta(hours=12)
        offset = timedelta(hours=(k - (count - 1) / 2) * 18 / max(count, 1))  # runs side by side
        fees = frame["fees"].to_numpy(dtype=float)
        ax.plot(
            noon,
            np.where(fees > 0, fees, np.nan),
            color=color,
            linestyle="--",
            linewidth=1,
            alpha=0.7,
            label=f"daily fee revenue, {name}",
        )
        paid = frame["fund_draw"].to_numpy(dtype=float)
        days = paid > 0
        if days.any():
            floor = min(floor, float(paid[days].min()))
            peak = max(peak, float(paid[days].max()))
            x = noon[days] + offset
            ax.vlines(x, 1.0, paid[days], color=color, linewidth=2)
            ax.plot(
                x,
                paid[days],
                "o",
                color=color,
                markersize=4,
                label=f"fund paid out, {name} ({_days(int(days.sum()))})",
            )
            labelled: list[int] = []
            apart = max(2, len(frame) // 25)  # labels of days closer than this would overlap
            for i in np.argsort(-paid, kind="stable"):
                if paid[i] <= 0 or len(labelled) == annotate:
                    break
                if any(abs(int(i) - j) < apart for j in labelled):
                    continue  # the larger day next to it carries the label
                labelled.append(int(i))
                ax.annotate(
                    f"{frame['date'].iloc[i]:%Y-%m-%d}: {usd(float(paid[i]))}",
                    (noon.iloc[i] + offset, paid[i]),
                    textcoords="offset points",
                    xytext=(6, 6 + 10 * k),
                    fontsize=8,
                    color=color,
                )
        else:
            ax.plot([], [], "o", color=color, label=f"fund paid out, {name}: nothing")
        if (fees > 0).any():
            floor = min(floor, float(fees[fees > 0].min()))
            peak = max(peak, float(fees.max()))
    ax.set_yscale("log")
    low = 10 ** np.floor(np.log10(floor)) if np.isfinite(floor) else 1.0
    ax.set_ylim(max(low, 1.0), peak * 4)
    ax.set_title("Insurance fund payouts per day (stems) against fee revenue per day (dashed), log scale")
    ax.set_ylabel("USD per UTC day (log)")
    ax.set_xlabel("date (UTC)")
    _money_axis(ax)
    ax.grid(alpha=0.3, which="major")
    fig.legend(loc="outside lower center", fontsize=8, ncols=max(2, count))
    _dates(ax, frames)
    return fig


def tiers_figure(summaries: Mapping[str, Mapping[str, Any]]) -> Figure:
    """One bar per run: its liquidated accounts, split by the deepest tier each reached."""
    import matplotlib.pyplot as plt

    names = list(summaries)
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.6 * len(names)), layout="constrained")
    left = [0] * len(names)
    colors = ("#4c72b0", "#55a868", "#dd8452", "#c44e52", "#8172b2")
    for tier, color in zip(TIERS, colors, strict=True):
        counts = [int(summaries[n]["liquidations_by_tier"][tier]) for n in names]
        ax.barh(names, counts, left=left, color=color, label=_TIER_LABELS[tier])
        left = [a + b for a, b in zip(left, counts, strict=True)]
    for y, n in enumerate(names):
        s = summaries[n]
        ax.text(
            left[y],
            y,
            f"  {s['accounts_liquidated']:,} accounts, {s['liquidations']:,} episodes",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max([*left, 1]) * 1.35)
    ax.invert_yaxis()
    ax.set_title("Liquidated accounts by the deepest tier each reached")
    ax.set_xlabel("accounts (each counted once, at its deepest tier)")
    fig.legend(loc="outside lower center", fontsize=8, ncols=len(TIERS))
    return fig


def charts(
    by_regime: Mapping[str, Result], by_model: Mapping[str, Result], config: LabConfig, out: Path
) -> list[Path]:
    """Write fund.png, draws.png and tiers.png into `out`; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {f"margin {k}, model {config.model}": r.summary for k, r in by_regime.items()}
    runs |= {
        f"margin {config.margin}, model {k}": r.summary for k, r in by_model.items() if k != config.model
    }
    written = []
    for name, fig in (
        ("fund.png", fund_figure(by_regime, config.fund_start_usd or FUSD_FUND)),
        ("draws.png", draws_figure(by_regime)),
        ("tiers.png", tiers_figure(runs)),
    ):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)
    return written


# --------------------------------------------------------------------------------------------- page

_TIER_LABELS = {
    "orderly": "book orders only",
    "backstop": "backstop providers",
    "top10": "largest opposing positions",
    "fund": "insurance fund paid",
    "clawback": "beyond the fund: clawback",
}

_ROWS: tuple[tuple[str, str], ...] = (
    ("fund_net", "Insurance fund net: income \u2212 payouts (USD)"),
    ("fund_paid", "Insurance fund paid out (USD)"),
    ("fund_received", "Insurance fund received (USD)"),
    ("fund_max_daily_draw", "Largest day's payouts (USD)"),
    ("fund_max_daily_net_draw", "Largest day's net loss of the fund (USD)"),
    ("fund_max_drawdown", "Largest drawdown from the fund's peak (USD)"),
    ("days_draw_above_fees", "Days the fund paid out more than that day's fees"),
    ("fee_revenue", "Fee revenue (USD)"),
    ("socialized_loss", "Socialized loss, clawed back from winners (USD)"),
    ("clawed_back_accounts", "Winners clawed back (accounts)"),
    ("deleveraged_notional", "Notional closed against opposing positions (USD)"),
    ("accounts_liquidated", "Accounts liquidated (distinct)"),
    ("liquidations", "Liquidation episodes (an account may have several)"),
    ("liquidations_by_tier", "Accounts by the deepest tier each reached"),
    ("episodes_by_tier", "Episodes by the deepest tier each reached"),
    ("equity_at_liquidation", "Equity of liquidated accounts when liquidation began (USD)"),
    ("equity_returned", "Equity they kept when it ended (USD)"),
    ("blp_pnl", "Backstop providers' PnL (USD)"),
    ("guaranty_fund_max", "Largest guaranty fund the daily sizing asked for (USD)"),
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}".replace("-", "\u2212")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "<br>".join(
            f"{html.escape(_TIER_LABELS.get(k, str(k)))}: {_cell(v)}" for k, v in value.items()
        )
    return html.escape(str(value))


def _table(columns: Mapping[str, Mapping[str, Any]], rows: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{_cell(s[key])}</td>" for s in columns.values())
        + "</tr>"
        for key, label in rows
        if all(key in s for s in columns.values())
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _published(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for key, label, ours, regime in _PUBLISHED_ROWS:
        claimed = FTX_PUBLISHED[key]
        theirs = usd(claimed) if isinstance(claimed, int) else str(claimed).replace("+", "+$")
        mine = "not run"
        if regime in summaries and ours in summaries[regime]:
            value = float(summaries[regime][ours])
            mine = usd(-value) if ours in _LOSSES else signed(value)
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(theirs)}</td><td>{mine}</td></tr>")
    return "<table><tr><th></th><th>FTX (claimed)</th><th>this replay</th></tr>" + "".join(rows) + "</table>"


def _headline(config: LabConfig, s: Mapping[str, Any], daily_days: int) -> str:
    paid = float(s["fund_paid"])
    share = float(s["fund_max_drawdown"]) / config.fund_start_usd * 100 if config.fund_start_usd else 0.0
    return (
        f"Under margin <b>{html.escape(config.margin)}</b> and liquidation model <b>"
        f"{html.escape(config.model)}</b>, over {daily_days:,} days, the insurance fund paid out "
        f"<b>{usd(paid)}</b> and received {usd(float(s['fund_received']))} "
        f"(net {signed(float(s['fund_net']))}); "
        f"its largest day's payouts were {usd(float(s['fund_max_daily_draw']))} and its deepest drawdown "
        f"{usd(float(s['fund_max_drawdown']))}, {share:.2g}% of the {usd(config.fund_start_usd)} fund. "
        f"{s['accounts_liquidated']:,} accounts were liquidated ({s['liquidations']:,} episodes); "
        f"socialized loss {usd(float(s['socialized_loss']))}."
    )


def _page(config: LabConfig, summaries: dict[str, dict[str, Any]], models: dict[str, dict[str, Any]]) -> str:
    p = config.population
    main = summaries[config.margin]
    proxies = main.get("stress_proxies", {})
    proxy_note = (
        "<p>Stress scenarios: "
        + "; ".join(
            f"{html.escape(c)}'s move is {v['scale']:.2f} x {html.escape(v['proxy'])}'s"
            " where it has no price "
            f"({html.escape(v['source'])}; {v['months']} month(s), {v['first_month']} to {v['last_month']})"
            for c, v in proxies.items()
        )
        + " (see <code>backstop.lab.scenarios</code>).</p>"
        if proxies
        else ""
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Backstop risk lab: {config.start}..{config.end}</title>
<style>
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}} td:first-child{{text-align:left}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}} td+td{{white-space:nowrap}}
.note{{color:#555;font-size:90%}}
</style></head>
<body>
<h1>Risk lab replay, {config.start} to {config.end} (end exclusive)</h1>
<p>{_headline(config, main, int(main.get("days", 0)))}</p>
<p class="note">One seed ({config.seed}): one draw of the synthetic population, no confidence interval.
{", ".join(config.coins)} perpetuals; {p.traders:,} traders (mean leverage {p.mean_leverage}x,
cap {p.max_leverage}x, median collateral ${p.collateral_median_usd:,.0f},
a decision every {p.holding_hours:g} h on average); the insurance fund seeded with
${config.fund_start_usd:,}, so draws are measured, not capped.
The population is far smaller than FTX's: compare shapes, not dollar levels.</p>
{proxy_note}
<h2>The insurance fund</h2>
<img src="fund.png" alt="insurance fund: cumulative net, drawdown against the fund, fee revenue" width="100%">
<img src="draws.png" alt="daily fund payouts against daily fee revenue" width="100%">
<h2>Margin regimes (model {html.escape(config.model)}, same history, population and seed)</h2>
{_table(summaries, _ROWS)}
<h2>Liquidation models (margin {html.escape(config.margin)}, same history, population and seed)</h2>
<img src="tiers.png" alt="liquidated accounts by deepest tier" width="100%">
{_table(models, _ROWS)}
<p class="note">Tiers, the same five under every model: <i>book orders only</i> (FTX's step-1 orders;
BitMEX's takeover order and OKEx's dump go to the book too); <i>backstop providers</i> (FTX only);
<i>largest opposing positions</i> (FTX's top-10 auto-close, BitMEX's auto-deleveraging); <i>insurance
fund paid</i> part of the account's loss (read from the fund's ledger, whatever the model);
<i>beyond the fund</i>: the fund paid past its balance and winners were clawed back. An account is
counted once, at the deepest tier any of its episodes reached.</p>
<h2>FTX's published figures (unverified claims, for comparison)</h2>
{_published(summaries)}
<p class="note">FTX's figures cover its whole book over its own span; this replay's are one seed of a
far smaller synthetic population: the comparison is of signs and shapes, not of levels.</p>
<h2>Data</h2>
<p class="note"><code>daily-&lt;regime&gt;.csv</code> and
<code>daily-{html.escape(config.margin)}-&lt;model&gt;.csv</code>:
one row per UTC day. Engine money ({", ".join(ATOM_COLUMNS)}) is exact, from the ledger's integer
atoms (USD with 8 decimals); the guaranty-fund sizing columns (cover*, im_rule, guaranty_fund) are
float arithmetic on stress scenarios, written to the cent. <code>summary.json</code>: every run's
summary, USD to the cent.</p>
</body></html>
"""
