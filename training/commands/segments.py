"""recsys segments: RFM scores and lifecycle segments per customer, and a summary table."""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.campaigns import compute_segments, summarise, write_table
from recsys.campaigns.tables import output_format, plain
from recsys.data import load_catalogue, load_events
from recsys.data.events import FORGOTTEN_ROWS
from recsys_training.commands.common import (
    add_db_argument,
    command_config,
    forgotten_list,
    say_forgotten,
    status,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", required=True, help="events file or folder")
    parser.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet")
    parser.add_argument("--catalogue", help="catalogue (prices for purchases without a price)")
    parser.add_argument("--config", help="TOML config; thresholds in [segments]")
    parser.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="bad rows stop the run (fail, default) or are skipped and counted",
    )
    add_db_argument(parser)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    output_format(out)
    config = command_config(args.config)
    thresholds = config.segments
    forgotten = forgotten_list(args.db)
    weights = tuple(config.events.weights)
    events = load_events(args.events, weights, args.on_error, status(), forgotten)
    catalogue = load_catalogue(args.catalogue) if args.catalogue else None
    segments = compute_segments(events, thresholds, catalogue)
    summary = summarise(segments)
    write_table(out, segments)
    summary_path = summary_file(out)
    write_table(summary_path, summary)
    print_summary(summary)
    print(f"wrote {segments.num_rows:,} customers to {out}, summary to {summary_path}")
    say_forgotten(forgotten, events.skipped.get(FORGOTTEN_ROWS, 0), "events")
    return 0


def summary_file(out: Path) -> Path:
    """segments.csv -> segments.summary.csv (same format)."""
    return out.with_name(f"{out.stem}.summary{out.suffix}")


def print_summary(summary: object) -> None:
    rows = plain(summary).to_pylist()  # type: ignore[arg-type]
    print(f"{'segment':<16}{'customers':>10}{'share':>8}{'revenue':>14}{'rev share':>10}")
    for row in rows:
        print(
            f"{row['segment']:<16}{row['customers']:>10,}{row['share']:>8.1%}"
            f"{row['revenue']:>14,.2f}{row['revenue_share']:>10.1%}"
        )
