"""recsys models list | rollback VERSION."""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.versions import list_versions, rollback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="models", help="models folder (default: ./models)")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    actions.add_parser("list", help="bundles, oldest first; * marks the one serving")
    back = actions.add_parser("rollback", help="serve an earlier bundle")
    back.add_argument("version")
    for action in actions.choices.values():
        action.add_argument("--models", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    models_dir = Path(args.models)
    if args.action == "rollback":
        rollback(models_dir, args.version)
        print(f"CURRENT -> {args.version}")
        return 0
    versions = list_versions(models_dir)
    if not versions:
        print(f"no bundles in {models_dir}")
    for entry in versions:
        mark = "*" if entry["current"] else " "
        print(f"{mark} {entry['version']}  {entry['created'] or '?'}  {','.join(entry['models'])}")
    return 0
