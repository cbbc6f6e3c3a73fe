"""recsys generate: a realistic synthetic shop, for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="folder to write events.parquet and catalogue.csv"
    )
    parser.add_argument("--users", type=positive, default=10_000)
    parser.add_argument("--items", type=positive, default=2_000)
    parser.add_argument("--events", type=positive, default=500_000)
    parser.add_argument("--seed", type=int, default=0)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from data.generator import generate_shop

    summary = generate_shop(
        Path(args.out), users=args.users, items=args.items, events=args.events, seed=args.seed
    )
    print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0
