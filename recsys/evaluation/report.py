"""The evaluation report: report.json (every number), report.md (tables a person reads, the best
value of each column in bold) and report.html (the same with plots, one self-contained file)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from recsys.evaluation.compare import Comparison

PACKAGES = ("recsys", "implicit", "faiss-cpu", "numpy", "scipy", "pyarrow", "matplotlib")
ACCURACY_COLUMNS = ("precision", "recall", "recall_trunc", "ndcg", "map", "mrr", "hit_rate")
OTHER_COLUMNS = ("coverage", "novelty", "diversity", "popularity_rank", "revenue")
DEFINITIONS = {
    "precision@k": "hits in the top k / k",
    "recall@k": "hits / |relevant| (classic)",
    "recall_trunc@k": "hits / min(k, |relevant|) (truncated, as in many papers)",
    "ndcg@k": "binary gains, 1/log2(rank+1), ideal over min(k, |relevant|) hits",
    "map@k": "sum of precision at hit ranks / min(k, |relevant|) (as implicit)",
    "mrr@k": "1 / rank of the first hit",
    "hit_rate@k": "share of users with at least one hit",
    "coverage@k": "share of training items recommended to anyone",
    "novelty@k": "mean self-information -log2((users of item + 1) / (users + 1)), bits",
    "diversity@k": "share of pairs in a list from different catalogue categories",
    "popularity_rank@k": "mean popularity rank of recommended items (1 = best seller; higher = "
    "less popularity bias)",
    "revenue@k": "mean summed price of relevant items found in the top k",
}


def build_report(comparison: Comparison, context: dict[str, Any], resamples: int = 1000) -> dict:
    """All numbers of a comparison plus `context` (fingerprint, config, command, ...)."""
    return clean(
        {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **context,
            "split": comparison.split.info,
            "ks": comparison.ks,
            "primary": comparison.primary,
            "best": comparison.best(),
            "models": {name: r.metrics for name, r in comparison.results.items()},
            "intervals": comparison.intervals(resamples),
            "segments": comparison.segment_metrics(),
            "paired": comparison.paired(),
            "skipped": comparison.skipped,
            "model_configs": {
                name: {"kind": c.kind, "params": c.params} for name, c in comparison.configs.items()
            },
            "seconds": comparison.seconds,
            "definitions": DEFINITIONS,
            "versions": versions(),
        }
    )


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = package_version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(report: dict, folder: str | Path) -> list[Path]:
    from recsys.evaluation.html import render_html  # matplotlib is loaded only when writing

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json", folder / "report.md", folder / "report.html"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown(report))
    paths[2].write_text(render_html(report))
    return paths


def metric_columns(report: dict, names: tuple[str, ...]) -> list[str]:
    """`names@k` columns present in the report, in k order."""
    present = {key for values in report["models"].values() for key in values}
    return [f"{n}@{k}" for n in names for k in report["ks"] if f"{n}@{k}" in present]


def table_rows(report: dict, columns: list[str]) -> list[list[str]]:
    """Formatted cells, model per row; the best of each column (highest) in **bold**."""
    models = report["models"]
    best = {
        c: max((v[c] for v in models.values() if v.get(c) is not None), default=None)
        for c in columns
    }
    rows = []
    for name, values in models.items():
        cells = [name]
        for column in columns:
            value = values.get(column)
            text = "" if value is None else cell(value)
            cells.append(f"**{text}**" if value is not None and value == best[column] else text)
        rows.append(cells)
    return rows


def cell(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(report: dict) -> str:
    """The accuracy table, then the beyond-accuracy one."""
    tables = []
    for names in (ACCURACY_COLUMNS, OTHER_COLUMNS):
        columns = metric_columns(report, names)
        tables.append(md_table(["model", *columns], table_rows(report, columns)))
    return "\n\n".join(tables)


def interval_rows(report: dict) -> list[list[str]]:
    primary, recall = report["primary"], f"recall@{report['ks'][-1]}"
    rows = []
    for name, values in report["models"].items():
        spans = report["intervals"].get(name, {})
        rows.append([name] + [span_text(values.get(m), spans.get(m)) for m in (primary, recall)])
    return rows


def span_text(value: float | None, span: list | None) -> str:
    if value is None:
        return ""
    if not span or span[0] is None:
        return cell(value)
    return f"{cell(value)} [{cell(span[0])}, {cell(span[1])}]"


def segment_rows(report: dict) -> list[list[str]]:
    primary = report["primary"]
    rows = []
    for name, by_segment in report["segments"].items():
        for segment, values in by_segment.items():
            value = values.get(primary)
            rows.append([name, segment, str(values["users"]), "" if value is None else cell(value)])
    return rows


def paired_rows(report: dict) -> list[list[str]]:
    rows = []
    for name, tests in report["paired"].items():
        for metric, test in tests.items():
            low, high = test["ci"]
            rows.append(
                [
                    f"{name} - {report['best']}",
                    metric,
                    f"{test['difference']:+.4f}" if test["difference"] is not None else "",
                    f"[{low:+.4f}, {high:+.4f}]" if low is not None else "",
                    f"{test['p_value']:.3g}" if test["p_value"] is not None else "",
                    "yes" if test["significant"] else "no",
                ]
            )
    return rows


def split_lines(report: dict) -> list[str]:
    info = report["split"]
    lines = [f"- {key}: {value}" for key, value in info.items()]
    lines += [f"- skipped {name}: {reason}" for name, reason in report["skipped"].items()]
    return lines


def markdown(report: dict) -> str:
    ks = report["ks"]
    parts = [
        "# Offline evaluation",
        f"Created {report['created']}; best by {report['primary']}: **{report['best']}**.",
        "## Split",
        "\n".join(split_lines(report)),
        "## Metrics (best of each column in bold; all: higher is better)",
        main_table(report),
        f"## {report['primary']} and recall@{ks[-1]} with 95% bootstrap intervals over users",
        md_table(["model", report["primary"], f"recall@{ks[-1]}"], interval_rows(report)),
        f"## Segments ({report['primary']})",
        md_table(["model", "segment", "users", report["primary"]], segment_rows(report)),
        "## Paired tests against the best model (same users)",
        md_table(
            ["comparison", "metric", "difference", "95% CI", "p (paired t)", "significant"],
            paired_rows(report),
        ),
        "## Definitions",
        "\n".join(f"- {name}: {text}" for name, text in report["definitions"].items()),
    ]
    return "\n\n".join(parts) + "\n"
