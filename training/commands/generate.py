"""recsys generate: a realistic synthetic shop, for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

USERS, ITEMS, EVENTS, SEED = 10_000, 2_000, 500_000, 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="folder to write events.parquet and catalogue.csv"
    )
    parser.add_argument("--users", type=positive, default=USERS,
                        help=f"customers (default {USERS:,})")  # fmt: skip
    parser.add_argument("--items", type=positive, default=ITEMS,
                        help=f"catalogue items (default {ITEMS:,})")  # fmt: skip
    parser.add_argument("--events", type=positive, default=EVENTS,
                        help=f"events written, exactly (default {EVENTS:,})")  # fmt: skip
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"the same arguments give the same shop (default {SEED})")  # fmt: skip


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from recsys_data.generator import generate_shop

    summary = generate_shop(
        Path(args.out), users=args.users, items=args.items, events=args.events, seed=args.seed
    )
    print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0
