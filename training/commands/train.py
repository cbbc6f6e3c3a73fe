"""recsys train: fit every model named in the config and publish a new bundle."""

from __future__ import annotations

import argparse

from recsys.config import load_config
from training.commands.common import status
from training.pipeline import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", required=True, help="events file or folder (csv, jsonl, parquet)"
    )
    parser.add_argument("--catalogue", help="catalogue file (item_id, title, category, price, ...)")
    parser.add_argument("--config", help="TOML config file (default: $RECSYS_CONFIG or defaults)")
    parser.add_argument("--models", default="models", help="models folder (default: ./models)")
    parser.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="bad rows stop the run (fail, default) or are skipped and counted",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report = train(args.events, args.models, config, args.catalogue, args.on_error, status())
    for reason, count in report.skipped.items():
        print(f"skipped {count:,} rows: {reason}")
    print(report.summary())
    return 0
