"""recsys experiment: A/B results from the event store, and offline replay before going live.

recsys experiment report NAME [--db URL] [--config FILE] [--html FILE] [--json FILE]
recsys experiment simulate NAME --events HELDOUT [--models DIR] [--config FILE] [--n 10]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from recsys.data import load_events
from recsys.data.events import FORGOTTEN_ROWS
from recsys.errors import ParameterError, RecsysError
from recsys.eventstore import DEFAULT_URL, EventStore, open_store
from recsys.experiments import ExperimentConfig, Experiments
from recsys.experiments.html import report_html
from recsys.experiments.load import report_from_store
from recsys.experiments.report import LABELS, MONEY, RATES, REVENUE_TESTS, effect
from recsys.experiments.simulate import folder_bundles, heldout_purchases, simulate
from recsys.experiments.stats import Comparison
from recsys.experiments.stored import definition_config
from recsys.service import Query
from recsys_training.commands.common import (
    add_db_argument,
    command_config,
    forget_key,
    forgotten_list,
    say_forgotten,
    server_store_url,
    status,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    report = actions.add_parser("report", help="live results of an experiment")
    report.add_argument("name", help="the experiment's name (in the config, or defined through "
                                     "POST /admin/experiments)")  # fmt: skip
    report.add_argument("--db", help="event store URL (default: $RECSYS_DATABASE_URL or "
                                     f"{DEFAULT_URL})")  # fmt: skip
    report.add_argument(
        "--config", help="TOML config with [[experiments]] (default $RECSYS_CONFIG)"
    )
    report.add_argument("--html", help="also write the report as HTML with plots to this file")
    report.add_argument("--json", help="also write the report as JSON to this file")
    report.add_argument("--revenue-test", choices=REVENUE_TESTS, default="welch")
    replay = actions.add_parser("simulate", help="replay held-out logs against every variant")
    replay.add_argument("name", help="the experiment's name in the config")
    replay.add_argument("--events", required=True, help="held-out events (after the bundle's data)")
    replay.add_argument("--models", default=os.environ.get("RECSYS_MODELS", "models"),
                        help="models folder (default $RECSYS_MODELS or ./models)")  # fmt: skip
    replay.add_argument(
        "--config", help="TOML config with [[experiments]] (default $RECSYS_CONFIG)"
    )
    replay.add_argument("--n", type=int, default=10, help="picks per buyer (default 10)")
    replay.add_argument("--json", help="also write the result as JSON to this file")
    replay.add_argument("--on-error", choices=("fail", "skip"), default="fail")
    add_db_argument(replay)


def run(args: argparse.Namespace) -> int:
    config = command_config(args.config)
    configured = Experiments(config.experiments)
    if args.action == "report":
        return run_report(args, configured)
    experiment = named(configured, args.name)
    if not 1 <= args.n <= 100:
        raise ParameterError("--n", f"must be from 1 to 100, got {args.n}")
    forgotten = forgotten_list(args.db)
    events = load_events(
        args.events, tuple(config.events.weights), args.on_error, status(), forgotten
    )
    say_forgotten(forgotten, events.skipped.get(FORGOTTEN_ROWS, 0), "events")
    bundles = folder_bundles(Path(args.models))
    server = config.server  # the server's own defaults, so the replay serves what it serves
    asked = Query(explore_new=server.explore_new, promotions=config.promotions,
                  seen=server.seen, seen_cap=server.seen_cap)  # fmt: skip
    heldout = heldout_purchases(events, config.events.relevant)
    result = simulate(experiment, bundles, heldout, args.n, asked)
    print_simulation(result)
    write_json(args.json, result)
    return 0


def named(experiments: Experiments, name: str) -> ExperimentConfig:
    experiment = experiments.get(name)
    if experiment is None:
        raise not_found(name, "the config", [e.name for e in experiments.experiments])
    return experiment


def not_found(name: str, where: str, known: list[str]) -> RecsysError:
    return RecsysError(f"no experiment named {name!r} in {where} (known: "
                       f"{', '.join(known) or 'none'})")  # fmt: skip


def run_report(args: argparse.Namespace, configured: Experiments) -> int:
    """The config's experiment of that name, else the one defined through the server's
    POST /admin/experiments (as the server does)."""
    url = server_store_url(args.db)
    with open_store(url, forget_key()) as store:
        experiment = configured.get(args.name) or stored_experiment(store, args.name)
        if experiment is None:
            known = [e.name for e in configured.experiments]
            known += [d.name for d in store.experiment_definitions() if d.name not in known]
            raise not_found(args.name, f"the config or the store {store.shown_url}", known)
        report = report_from_store(experiment, store, args.revenue_test)
    print_report(report)
    print(f"left out {report['forgotten_rows_removed']:,} rows of forgotten customers")
    write_json(args.json, report)
    if args.html:
        write_text(args.html, report_html(report))
    return 0


def stored_experiment(store: EventStore, name: str) -> ExperimentConfig | None:
    stored = store.experiment_definition(name)
    return definition_config(stored) if stored is not None else None


def print_report(report: dict[str, Any]) -> None:
    if report["mode"] == "interleave":
        wins = ", ".join(f"{name} {count}" for name, count in report["wins"].items())
        print(f"{report['experiment']}: {report['responses']} interleaved responses; wins {wins}; "
              f"ties {report['ties']}")  # fmt: skip
        print(report["verdict"])
        return
    metrics = (*RATES, *MONEY)
    print(
        f"{'variant':<12}{'users':>8}{'impr.':>8}"
        + "".join(f"{LABELS[m][:19]:>20}" for m in metrics)
    )
    for name, v in report["variants"].items():
        cells = "".join(f"{shown(v[m], m):>20}" for m in metrics)
        print(f"{name:<12}{v['users']:>8}{v['impressions']:>8}{cells}")
    for name, found in report["differences"].items():
        for metric in metrics:
            print(f"  {name} vs {report['control']}, {LABELS[metric]}: "
                  f"{effect(Comparison(**found[metric]))}")  # fmt: skip
    srm = report["srm"]
    print(f"sample ratio: chi2 {srm['chi2']:.2f}, p={srm['p_value']:.3g}"
          f"{'  MISMATCH' if srm['mismatch'] else ''}")  # fmt: skip
    print(report["verdict"])


def shown(estimate: dict[str, Any], metric: str) -> str:
    value = estimate["value"]
    if value is None:
        return "n/a"
    return f"{value:.2%}" if metric in RATES else f"{value:,.2f}"


def print_simulation(result: dict[str, Any]) -> None:
    print(f"replayed {result['buyers']:,} held-out buyers, top {result['n']}")
    print(f"{'variant':<12}{'model':<48}{'hit rate [95% CI]':>24}{'rec. revenue/buyer':>22}")
    for name, v in result["variants"].items():
        hit, revenue = v["hit_rate"], v["revenue_per_user"]["value"]
        model = " ".join([v["model"], *(f"{k}={x}" for k, x in v["params"].items())])
        print(f"{name:<12}{model[:47]:<48}{interval_text(hit):>24}{revenue:>22,.2f}")
    print(result["verdict"])


def interval_text(estimate: dict[str, Any]) -> str:
    return f"{estimate['value']:.2%} [{estimate['low']:.2%}, {estimate['high']:.2%}]"


def write_json(path: str | None, content: dict[str, Any]) -> None:
    if path:
        write_text(path, json.dumps(content, indent=2) + "\n")


def write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RecsysError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {path}")
