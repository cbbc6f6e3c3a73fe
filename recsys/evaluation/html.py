"""report.html: the report's tables and plots (PNG embedded as base64) in one self-contained file.

Plots are drawn on matplotlib `Figure` objects with the Agg canvas: no pyplot global state, no
display needed.
"""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recsys.evaluation import report as text

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%}"""


def render_html(report: dict) -> str:
    ks = report["ks"]
    primary = report["primary"]
    sections = [
        f"<h1>Offline evaluation</h1><p>Created {esc(report['created'])}; best by {esc(primary)}:"
        f" <b>{esc(str(report['best']))}</b>.</p>",
        "<h2>Split</h2><ul>"
        + "".join(f"<li>{esc(line[2:])}</li>" for line in text.split_lines(report))
        + "</ul>",
        "<h2>Metrics</h2><p>Best of each column in bold; all: higher is better.</p>",
        *(metric_table(report, names) for names in (text.ACCURACY_COLUMNS, text.OTHER_COLUMNS)),
        image(metric_vs_k(report)),
        image(coverage_vs_accuracy(report)),
        f"<h2>{esc(primary)} and recall@{ks[-1]}, 95% bootstrap intervals</h2>",
        html_table(["model", primary, f"recall@{ks[-1]}"], text.interval_rows(report)),
        f"<h2>Segments ({esc(primary)})</h2>",
        image(segment_bars(report)),
        html_table(["model", "segment", "users", primary], text.segment_rows(report)),
        "<h2>Paired tests against the best model</h2>",
        html_table(
            ["comparison", "metric", "difference", "95% CI", "p (paired t)", "significant"],
            text.paired_rows(report),
        ),
        "<h2>Definitions</h2><ul>"
        + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in report["definitions"].items())
        + "</ul>",
    ]
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>recsys evaluation</title>'
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def esc(value: str) -> str:
    return html.escape(str(value))


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{bold(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def metric_table(report: dict, names: tuple[str, ...]) -> str:
    columns = text.metric_columns(report, names)
    return html_table(["model", *columns], text.table_rows(report, columns))


def bold(cell: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", esc(cell))


def image(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<p><img alt="plot" src="data:image/png;base64,{data}"></p>'


def metric_vs_k(report: dict) -> Figure:
    names = ("ndcg", "recall", "precision", "hit_rate")
    figure = Figure(figsize=(12, 3.2), layout="constrained")
    for axes, metric in zip(figure.subplots(1, len(names)), names, strict=True):
        for model, values in report["models"].items():
            ks = [k for k in report["ks"] if values.get(f"{metric}@{k}") is not None]
            axes.plot(ks, [values[f"{metric}@{k}"] for k in ks], marker="o", label=model)
        axes.set_title(f"{metric} vs k")
        axes.set_xlabel("k")
    figure.axes[0].legend(fontsize=8)
    return figure


def coverage_vs_accuracy(report: dict) -> Figure:
    k = report["ks"][-1]
    figure = Figure(figsize=(5, 3.6), layout="constrained")
    axes = figure.subplots()
    for model, values in report["models"].items():
        x, y = values.get(f"coverage@{k}"), values.get(report["primary"])
        if x is not None and y is not None:
            axes.scatter([x], [y])
            axes.annotate(model, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.margins(0.2)  # room for the labels of the outermost points
    axes.set_xlabel(f"catalogue coverage@{k}")
    axes.set_ylabel(report["primary"])
    axes.set_title("coverage vs accuracy")
    return figure


def segment_bars(report: dict) -> Figure:
    primary = report["primary"]
    models = list(report["segments"])
    segments = list(next(iter(report["segments"].values()), {}))
    figure = Figure(figsize=(7, 3.4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(len(models), 1)
    positions = np.arange(len(segments))
    for i, model in enumerate(models):
        values = [report["segments"][model][s].get(primary) or 0.0 for s in segments]
        axes.bar(positions + i * width, values, width, label=model)
    axes.set_xticks(positions + width * (len(models) - 1) / 2, segments)
    axes.set_ylabel(primary)
    axes.set_title(f"{primary} by customer segment")
    if models:
        axes.legend(fontsize=8)
    return figure
