"""recsys export: batch picks for an email campaign, one row per customer and rank."""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.bundle import Bundle
from recsys.campaigns import (
    ExportRules,
    build_audience,
    choose_ids,
    compute_segments,
    export_picks,
    read_history,
    read_segments_file,
    read_user_ids,
)
from recsys.campaigns.tables import output_format
from recsys.data import load_events
from recsys.errors import InputError
from recsys.eventstore.training import exists, stored_item_changes
from recsys.service.item_columns import matching
from recsys.service.live import ItemOverlay, both, live_state
from recsys_training.commands.common import (
    command_config,
    forgotten_list,
    progress,
    say_forgotten,
    server_store_url,
    status,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="models", help="models folder or bundle version")
    parser.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--users", help="customers: one id per line, or a CSV with user_id")
    who.add_argument("--segment", help="customers of one segment (needs --segments or --events)")
    parser.add_argument("--n", type=int, default=10, help="items per customer (default 10)")
    parser.add_argument("--events", help="events: recent purchases, abandoned carts, segments")
    parser.add_argument("--segments", help="a file written by recsys segments")
    parser.add_argument("--history", help="folder of earlier exports (any format)")
    parser.add_argument(
        "--campaigns",
        type=int,
        default=3,
        help="how many of the newest earlier exports to honour (default 3)",
    )
    parser.add_argument(
        "--recent-days",
        type=float,
        default=30.0,
        help="exclude items bought in this many days (default 30)",
    )
    parser.add_argument(
        "--per-category",
        type=int,
        default=3,
        help="at most this many items of one category (0: no cap; default 3)",
    )
    parser.add_argument("--category", help="only items in this category or below it (e.g. pets)")
    parser.add_argument("--model", help="model of the bundle (default: its first personal one)")
    parser.add_argument("--chunk", type=int, default=4096, help="customers per batch")
    parser.add_argument("--config", help="TOML config ([events.weights], [segments])")
    parser.add_argument(
        "--filter",
        metavar="EXPR",
        help='only items matching the expression, as the server\'s filter= '
        '(e.g. \'price < 50 and brand = "acme"\')',
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="event store whose forgotten customers are left out and whose item changes "
        "(POST /v1/items: stock, hidden, ...) apply"
        " (default: $RECSYS_DATABASE_URL, else ./recsys.db when it exists)",
    )


def run(args: argparse.Namespace) -> int:
    output_format(Path(args.out))
    rules = ExportRules(
        n=args.n,
        recent_days=args.recent_days,
        per_category=args.per_category,
        campaigns=args.campaigns,
        chunk=args.chunk,
        category=args.category,
    )
    rules.check()
    config = command_config(args.config)
    thresholds = config.segments
    say = status()
    forgotten = forgotten_list(args.db)
    bundle = Bundle.load(args.models)
    weights = tuple(config.events.weights)
    events = load_events(args.events, weights, "skip", say, forgotten) if args.events else None
    if args.segments:
        segments, _ = forgotten.drop(read_segments_file(args.segments))
    elif events is not None:
        say("computing segments")
        segments = compute_segments(events, thresholds, bundle.catalogue)
    else:
        segments = None
    if args.segment and segments is None:
        raise InputError("--segment", "needs --segments FILE or --events PATH")
    users = read_user_ids(args.users) if args.users else None
    ids, removed = forgotten.keep(choose_ids(bundle, users, args.segment, segments, events))
    history = read_history(args.history, rules.campaigns) if args.history else None
    audience = build_audience(
        bundle, ids, rules.recent_days, thresholds.cart_days, events, segments, history
    )
    if args.db is not None and not exists(args.db):
        raise InputError("--db", f"no such event store file: {args.db}")
    changes = stored_item_changes(server_store_url(args.db))
    overlay = ItemOverlay().updated(changes)
    available = live_state(bundle.catalogue, bundle.items, overlay).available
    if args.filter is not None:  # the rule of the server's filter=, over the same item columns
        matched = matching(args.filter, bundle.catalogue, bundle.items, overlay, "--filter")
        available = both(available, matched)
    report = export_picks(bundle, audience, args.out, rules, args.model, progress, available)
    print(
        f"wrote {report.rows:,} picks for {report.customers:,} customers to {args.out} "
        f"in {report.seconds:.1f}s ({report.short:,} got fewer than {rules.n})"
    )
    say_forgotten(forgotten, removed, "customers")
    return 0
