"""recsys train: fit every model named in the config and publish a new bundle."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from recsys.config import Config
from recsys.errors import InputError
from recsys.privacy import Forgotten
from recsys.tuning import DEFAULT_MINUTES, Budget
from recsys_training.commands.common import (
    command_config,
    forget_key,
    forgotten_list,
    server_store_url,
    status,
)
from recsys_training.pipeline import TrainReport, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", help="events file or folder (csv, jsonl, parquet); optional with --events-db"
    )
    parser.add_argument(
        "--events-db",
        metavar="URL",
        help="also train on the event store's events (sqlite:///path.db or postgresql://...). "
        "The forgotten customers of this store (else of $RECSYS_DATABASE_URL, else of "
        "./recsys.db) are left out of every input",
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
    parser.add_argument(
        "--engine", choices=("default", "spark"), default="default",
        help="spark: events read and aggregated, ALS fitted by Apache Spark (recsys[spark], Java)",
    )  # fmt: skip
    parser.add_argument(
        "--spark-master", default="local[2]", metavar="URL",
        help="with --engine spark: the Spark master (default local[2])",
    )  # fmt: skip
    parser.add_argument(
        "--spark-conf", action="append", default=[], metavar="KEY=VALUE",
        help="with --engine spark: a Spark setting, e.g. spark.driver.memory=8g (repeatable)",
    )  # fmt: skip
    add_tune_arguments(parser)


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    """--tune and its budget (shared with `recsys evaluate`)."""
    parser.add_argument(
        "--tune",
        action="store_true",
        help="choose the first tunable model's kind ([tuning] kinds) and search every model's "
        "hyperparameters and the event weights on a validation split carved from the training "
        "events; the best by NDCG@20 is refitted on all data",
    )
    parser.add_argument(
        "--tune-trials",
        type=positive(int),
        default=20,
        metavar="N",
        help="trials per model (default 20)",
    )
    parser.add_argument(
        "--tune-minutes",
        type=positive(float),
        default=DEFAULT_MINUTES,
        metavar="M",
        help=f"wall-time budget of each model's search (default {DEFAULT_MINUTES:g})",
    )


def tune_budget(args: argparse.Namespace) -> Budget | None:
    """The search budget asked for, or None without --tune."""
    return Budget(args.tune_trials, args.tune_minutes * 60) if args.tune else None


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a number of `kind` above zero."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    if args.events is None and args.events_db is None:
        raise InputError("--events", "required unless --events-db is given")
    config = command_config(args.config)
    forgotten = forgotten_list(args.events_db, "--events-db")  # an unreachable store stops here
    if args.engine == "spark":
        report = train_with_spark(args, config, forgotten)
    else:
        report = train(
            args.events, args.models, config, args.catalogue, args.on_error, status(),
            args.events_db, tune_budget(args), forgotten, forget_key(),
            forgetting_db=server_store_url(),  # its item changes are merged into the catalogue
        )  # fmt: skip
    for reason, count in report.skipped.items():
        print(f"skipped {count:,} rows: {reason}")
    print(report.summary())
    return 0


def train_with_spark(args: argparse.Namespace, config: Config, forgotten: Forgotten) -> TrainReport:
    """The Spark engine reads event files (any path Spark reads); the store gives only its
    forgotten customers and item changes."""
    if args.events is None:
        raise InputError("--events", "--engine spark reads event files: give --events")
    if args.tune:
        raise InputError("--tune", "tuning runs on the default engine (drop --engine spark)")
    from recsys_training.spark import spark_settings
    from recsys_training.spark.train import train_spark

    settings = spark_settings(args.spark_conf)
    return train_spark(
        args.events, args.models, config, args.catalogue, args.on_error, status(),
        args.spark_master, forgotten, forgetting_db=args.events_db or server_store_url(),
        settings=settings,
    )  # fmt: skip
