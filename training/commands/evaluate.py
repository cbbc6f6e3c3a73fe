"""recsys evaluate: offline comparison of models on held-out events (or a given test file)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from recsys.config import Config
from recsys.data import Catalogue, Events, Interactions, load_catalogue, load_events
from recsys.data.events import FORGOTTEN_ROWS
from recsys.errors import ParameterError
from recsys.evaluation.compare import compare, item_facts, resolve_models
from recsys.evaluation.report import build_report, main_table, write_report
from recsys.evaluation.splits import (
    Split,
    given_test_split,
    leave_last_split,
    temporal_split,
    user_split,
)
from recsys.eventstore.schema import redacted_url
from recsys.eventstore.training import stored_item_changes
from recsys.service.item_columns import matching
from recsys.service.live import ItemOverlay
from recsys.tuning import tune_config
from recsys_training.commands.common import (
    add_db_argument,
    command_config,
    forgotten_list,
    progress,
    say_forgotten,
    status,
    store_url,
)
from recsys_training.commands.train import add_tune_arguments, tune_budget

SPLITS = ("temporal", "leave-last", "users")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", required=True, help="events file or folder (training data)")
    parser.add_argument("--test", help="a given test events file: all of --events then trains")
    parser.add_argument("--catalogue", help="catalogue file (categories for diversity, prices)")
    parser.add_argument("--config", help="TOML config file (default: $RECSYS_CONFIG or defaults)")
    parser.add_argument(
        "--models",
        help="comma-separated [models.NAME] tables of the config or kinds (als,bpr,bm25,popular); "
        "default: every model of the config",
    )
    parser.add_argument("--split", choices=SPLITS, default="temporal", help="default: temporal")
    parser.add_argument("--k", default="10,20", help="cut-offs, comma-separated (default 10,20)")
    parser.add_argument(
        "--relevant", help="event types that count as relevant in the test part (default purchase)"
    )
    add_tune_arguments(parser)
    parser.add_argument("--report", default="report", help="report folder (default ./report)")
    parser.add_argument(
        "--exclude",
        choices=("relevant", "seen"),
        default="relevant",
        help="never recommend items of the user's earlier relevant events (default: what they "
        "bought) or of all their earlier events (seen: e.g. films already rated)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.2, help="temporal: newest share")
    parser.add_argument("--last", type=int, default=1, help="leave-last/users: purchases per user")
    parser.add_argument("--holdout", type=float, default=0.1, help="users: share held out")
    parser.add_argument("--seed", type=int, default=0, help="users split and bootstrap seed")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--on-error", choices=("fail", "skip"), default="fail")
    parser.add_argument(
        "--filter",
        metavar="EXPR",
        help="only items matching the expression are recommended, as the server's filter= "
        "(over --catalogue and the store's item changes), e.g. 'price < 50'",
    )
    add_db_argument(parser)


def run(args: argparse.Namespace) -> int:
    config = with_relevant(command_config(args.config), args.relevant)
    ks = parse_ks(args.k)
    check_numbers(args)
    models = resolve_models(split_names(args.models), config)
    say = status()
    known = tuple(dict.fromkeys([*config.events.weights, *config.events.relevant]))
    forgotten = forgotten_list(args.db)
    events = load_events(args.events, known, args.on_error, say, forgotten)
    test = load_events(args.test, known, args.on_error, say, forgotten) if args.test else None
    removed = sum(e.skipped.get(FORGOTTEN_ROWS, 0) for e in (events, test) if e is not None)
    split = make_split(args, events, test, config.events.relevant)
    catalogue = load_catalogue(args.catalogue) if args.catalogue else None
    allowed = filtered_items(args, split, catalogue)
    config = dataclasses.replace(config, models=models)
    tuning = None
    budget = tune_budget(args)
    if budget is not None:
        config, tuning = tune_config(split.train, config, budget, ks[-1], args.seed, say)
    train = Interactions.from_events(split.train, config.events)
    facts = item_facts(split.train, train.matrix, catalogue)
    comparison = compare(
        split, config, config.models, ks, facts, say, bar, args.exclude, train, allowed
    )
    context: dict[str, Any] = {
        "tuning": tuning,
        "arguments": {
            k: redacted_url(v) if k == "db" and v else v
            for k, v in vars(args).items()
            if k not in ("run", "command")
        },
        "forgotten": {"applied": forgotten.applied, "events_removed": removed},
        "fingerprint": {"events": events.fingerprint(), "test": test and test.fingerprint()},
        "inputs": {"events": str(args.events), "test": args.test, "catalogue": args.catalogue},
        "config": config.to_dict(),
    }
    report = build_report(comparison, context, args.resamples)
    paths = write_report(report, args.report)
    print(main_table(report))
    for name, reason in comparison.skipped.items():
        print(f"skipped {name}: {reason}")
    say_forgotten(forgotten, removed, "events")
    print(f"report: {', '.join(str(p) for p in paths)}")
    return 0


def filtered_items(
    args: argparse.Namespace, split: Split, catalogue: Catalogue | None
) -> np.ndarray | None:
    """The training items `--filter` lets through (None: no filter), the server's rule over the
    catalogue and the store's item changes; noted in the split's info. Exit 2 naming `--filter`
    for a bad expression or one no item matches."""
    if args.filter is None:
        return None
    items = split.train.items
    aligned = catalogue.aligned(items) if catalogue is not None else None
    overlay = ItemOverlay().updated(stored_item_changes(store_url(args.db)))
    allowed = matching(args.filter, aligned, items, overlay, "--filter")
    if not allowed.any():
        raise ParameterError("--filter", f"matches none of the {len(items):,} items")
    test = split.test[:, : len(items)]
    split.info["filter"] = {
        "expression": args.filter,
        "items_matching": int(allowed.sum()),
        "test_pairs_matching": int(test[:, allowed].nnz),
        "test_pairs": int(split.test.nnz),
    }
    return allowed


def bar(items: Iterable[Any], total: int, description: str) -> Iterable[Any]:
    return progress(items, description, total)


def with_relevant(config: Config, relevant: str | None) -> Config:
    if relevant is None:
        return config
    names = tuple(split_names(relevant) or ())
    if not names:
        raise ParameterError("--relevant", "needs at least one event type")
    return dataclasses.replace(config, events=dataclasses.replace(config.events, relevant=names))


def split_names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in split_names(text) or []]
    except ValueError:
        raise ParameterError("--k", f"expected integers like 10,20, got {text!r}") from None
    if not ks or min(ks) < 1 or max(ks) > 1000:
        raise ParameterError("--k", f"expected integers between 1 and 1000, got {text!r}")
    return sorted(set(ks))


def check_numbers(args: argparse.Namespace) -> None:
    """Range checks named by the flag a user typed."""
    shares = {"--test-fraction": args.test_fraction, "--holdout": args.holdout}
    for flag, value in shares.items():
        if not 0 < value < 1:
            raise ParameterError(flag, f"must be between 0 and 1 (exclusive), got {value}")
    for flag, value in {"--last": args.last, "--resamples": args.resamples}.items():
        if value < 1:
            raise ParameterError(flag, f"must be >= 1, got {value}")


def make_split(
    args: argparse.Namespace, events: Events, test: Events | None, relevant: tuple[str, ...]
) -> Split:
    if test is not None:
        return given_test_split(events, test, relevant)
    if args.split == "leave-last":
        return leave_last_split(events, args.last, relevant)
    if args.split == "users":
        return user_split(events, args.holdout, args.last, args.seed, relevant)
    return temporal_split(events, args.test_fraction, relevant=relevant)
