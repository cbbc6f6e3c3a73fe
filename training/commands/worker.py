"""recsys worker: retrain on a schedule, publish, prune old bundles (training/worker.py)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from recsys.config import Config, load_config
from recsys.errors import ConfigError, InputError
from recsys.eventstore import open_store
from recsys.experiments import Experiments
from recsys.experiments.stored import definition_config
from recsys.versions import WORKER_STATUS
from recsys_training.commands.common import forget_key
from recsys_training.worker import Schedule, Worker, parse_period, stop_on_signals, train_argv

BUNDLE = re.compile(r'"bundle": "([^"]+)"')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="models", help="models folder (default: ./models)")
    parser.add_argument("--events", help="events file or folder, read afresh by every run")
    parser.add_argument(
        "--events-db", metavar="URL", help="event store to train on (and to count new events in)"
    )
    parser.add_argument("--catalogue", help="catalogue file or folder")
    parser.add_argument("--config", help="TOML config file (default: $RECSYS_CONFIG or defaults)")
    parser.add_argument(
        "--every", type=period, required=True, help="time between runs, e.g. 30m, 6h, 1d"
    )
    parser.add_argument(
        "--min-new-events", type=int, default=0, metavar="N",
        help="also retrain as soon as N new events arrived in --events-db (default: off)",
    )  # fmt: skip
    parser.add_argument(
        "--poll", type=period, default=60.0, help="how often --events-db is checked (default 60s)"
    )
    parser.add_argument(
        "--keep", type=int, default=5,
        help="newest versions kept besides CURRENT and pinned ones (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--on-error", choices=("fail", "skip"), default="skip",
        help="bad rows fail a run, or are skipped and counted (default: skip)",
    )  # fmt: skip
    parser.add_argument("--once", action="store_true", help="one run, then exit (for cron)")
    parser.add_argument("--status", help=f"status file (default: MODELS/{WORKER_STATUS})")


def period(text: str) -> float:
    try:
        return parse_period(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    if args.events is None and args.events_db is None:
        raise InputError("--events", "give an events file or folder, or --events-db")
    if args.keep < 1:
        raise InputError("--keep", f"must be at least 1, got {args.keep}")
    if args.min_new_events and args.events_db is None:
        raise InputError("--min-new-events", "counts new events in --events-db: give it too")
    config = load_config(args.config)  # a bad config stops the worker before its first run
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models_dir = Path(args.models)
    models_dir.mkdir(parents=True, exist_ok=True)
    command = train_argv(
        {
            "events": args.events,
            "events-db": args.events_db,
            "catalogue": args.catalogue,
            "config": args.config,
            "models": str(models_dir),
            "on-error": args.on_error,
        }
    )
    schedule = Schedule(args.every, args.keep, args.min_new_events, args.poll)
    worker = Worker(
        models_dir, command, schedule, pinned_versions(config, args.events_db),
        newest_event(args.events_db), Path(args.status) if args.status else None,
        retention_purge(config, args.events_db),
    )  # fmt: skip
    stop_on_signals(worker)
    return worker.run_forever(once=args.once)


def pinned_versions(config: Config, store_url: str | None) -> Callable[[], set[str]]:
    """The bundle versions experiment variants pin, from the config and (asked anew at every
    prune) the experiments stored in the event store."""
    from_config = variant_bundles(Experiments.from_config(config.experiments))

    def pinned() -> set[str]:
        if store_url is None:
            return from_config
        with open_store(store_url) as store:
            definitions = store.experiment_definitions()
        pinned = set(from_config)
        for definition in definitions:
            try:
                pinned |= variant_bundles(Experiments([definition_config(definition)]))
            except ConfigError:  # no longer valid: what it pinned is kept by the raw text
                pinned |= set(BUNDLE.findall(json.dumps(definition.definition)))
        return pinned

    return pinned


def variant_bundles(experiments: Experiments) -> set[str]:
    return {v.bundle for e in experiments.experiments for v in e.variants if v.bundle}


def retention_purge(config: Config, store_url: str | None) -> Callable[[], int]:
    """Deletes the store's events and served responses older than [server] retention_days."""
    days = config.server.retention_days

    def purge() -> int:
        if store_url is None or days <= 0:
            return 0
        with open_store(store_url, forget_key()) as store:
            return store.purge(time.time() - days * 86_400)

    return purge


def newest_event(store_url: str | None) -> Callable[[], int | None]:
    def latest() -> int | None:
        if store_url is None:
            return None
        with open_store(store_url) as store:
            return store.latest_event_id()

    return latest
