"""The experiment report as one self-contained HTML page: tables, the verdict, and the metrics of
each variant day by day (cumulative), drawn with matplotlib and embedded as PNG."""

from __future__ import annotations

import datetime as dt
from typing import Any

from matplotlib.figure import Figure

from recsys.evaluation.html import STYLE, esc, html_table, image
from recsys.experiments.report import LABELS, MONEY, RATES

CURVES = ("users", "conversion", "revenue_per_user")


def report_html(report: dict[str, Any]) -> str:
    """The page for a split (A/B) report or an interleaving one."""
    title = f"Experiment {report['experiment']}"
    body = split_sections(report) if report.get("mode") != "interleave" else interleave_sections(
        report
    )  # fmt: skip
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"
        f"<p><b>{esc(report['verdict'])}</b></p>{''.join(body)}</body></html>\n"
    )


def split_sections(report: dict[str, Any]) -> list[str]:
    srm = report["srm"]
    return [
        "<h2>Variants</h2>",
        html_table(
            ["variant", "users", "impressions", *(LABELS[m] for m in (*RATES, *MONEY))],
            variant_rows(report),
        ),
        f"<h2>Difference to the control ({esc(report['control'])})</h2>",
        html_table(
            ["variant", "metric", "difference", "relative [95% CI]", "p-value"],
            difference_rows(report),
        ),
        "<h2>Sample ratio</h2>",
        f"<p>users {esc(srm['observed'])}, expected {esc(rounded(srm['expected']))}: chi-square "
        f"{srm['chi2']:.2f}, p={srm['p_value']:.3g}"
        f"{' <b>MISMATCH: the split is broken</b>' if srm['mismatch'] else ' (fine)'}.</p>",
        "<h2>Over time (cumulative)</h2>",
        image(curves(report)) if report["daily"] else "<p>No traffic yet.</p>",
    ]


def interleave_sections(report: dict[str, Any]) -> list[str]:
    share = report["preference"]
    rows = [[name, str(wins)] for name, wins in report["wins"].items()]
    return [
        f"<h2>Interleaving ({esc(report['credited'])}s credited)</h2>",
        html_table(["ranker", "responses won"], [*rows, ["ties", str(report["ties"])]]),
        f"<p>{report['responses']} interleaved responses; second ranker preferred in "
        f"{interval(share)} of decided ones; sign test p={report['p_value']:.3g}.</p>",
    ]


def variant_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        [name, str(v["users"]), str(v["impressions"]), *(interval(v[m]) for m in (*RATES, *MONEY))]
        for name, v in report["variants"].items()
    ]


def difference_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, metrics in report["differences"].items():
        for metric, found in metrics.items():
            relative = (
                f"{found['relative']:+.1%} [{found['relative_low']:+.1%}, "
                f"{found['relative_high']:+.1%}]" if found["relative"] is not None else "n/a"
            )  # fmt: skip
            p = f"{found['p_value']:.3g}" if found["p_value"] is not None else "n/a"
            difference = f"{found['difference']:+.4g}" if found["difference"] is not None else "n/a"
            rows.append([name, LABELS[metric], difference, relative, p])
    return rows


def interval(estimate: dict[str, Any]) -> str:
    if estimate["value"] is None:
        return "n/a"
    if estimate["low"] is None:
        return f"{estimate['value']:.4g}"
    return f"{estimate['value']:.4g} [{estimate['low']:.4g}, {estimate['high']:.4g}]"


def rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 1) for name, value in values.items()}


def curves(report: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(12, 3.4), layout="constrained")
    for axes, metric in zip(figure.subplots(1, len(CURVES)), CURVES, strict=True):
        for variant in report["variants"]:
            rows = [r for r in report["daily"] if r["variant"] == variant and r[metric] is not None]
            days = [dt.datetime.fromtimestamp(r["day"], dt.UTC) for r in rows]
            axes.plot(days, [r[metric] for r in rows], marker="o", label=variant)
        axes.set_title(LABELS.get(metric, metric))
        axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.axes[0].legend(fontsize=8)
    return figure
