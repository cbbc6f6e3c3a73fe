"""The `recsys` command: one parser, a module per command (training/commands/<name>.py), each with
`add_arguments(parser)` and `run(args) -> int`. Expected errors end in one line and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from importlib.metadata import version
from typing import NoReturn

from recsys.errors import RecsysError

COMMANDS = {
    "generate": "write a realistic synthetic shop (events.parquet, catalogue.csv)",
    "train": "fit the configured models and publish a new bundle",
    "evaluate": "offline comparison of models on held-out events; report.md/json/html",
    "models": "list bundles, or roll back to an earlier one",
    "serve": "run the HTTP server (development; --production: gunicorn behind nginx)",
    "export": "batch picks for email campaigns (CSV / JSONL / Parquet)",
    "segments": "RFM scores and lifecycle segments per customer",
    "experiment": "A/B experiment results (report) and offline replay (simulate)",
    "worker": "retrain on a schedule, publish, prune old bundles",
    "token": "the user token a storefront sends for one customer's own picks",
    "forget": "forget customers: their events, picks and assignments (as DELETE /v1/users/{id})",
}


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser(argv: list[str]) -> Parser:
    """Only the command being run is imported (start-up stays quick); `--help` lists them all."""
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = Parser(prog="recsys", description="Recommendations for online shops.")
    parser.add_argument("--version", action="version", version=f"recsys {version('recsys')}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, summary in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(f"recsys_training.commands.{name}")
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    return parser


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a command as Ctrl-C does: cleanly (a half-written bundle is removed)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except RecsysError as exc:
        sys.stderr.write(f"recsys {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"recsys {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
