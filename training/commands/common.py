"""Small helpers shared by the commands: the config file they read, progress output that only
decorates a terminal, and the event store and forgotten list a command honours."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from recsys.config import Config, load_config
from recsys.errors import InputError
from recsys.eventstore import DEFAULT_URL, open_store, sqlite_path
from recsys.privacy import NOT_APPLIED, ForgetKey, Forgotten

T = TypeVar("T")
CONFIG_ENV, DATABASE_ENV = "RECSYS_CONFIG", "RECSYS_DATABASE_URL"
FORGET_SECRET_ENV = "RECSYS_FORGET_SECRET"


def command_config(path: str | None) -> Config:
    """The checked config of `--config`, else of $RECSYS_CONFIG, else the defaults."""
    return load_config(path or os.environ.get(CONFIG_ENV) or None)


def server_store_url(url: str | None = None) -> str:
    """`url`, else the server's event store: $RECSYS_DATABASE_URL, else its default."""
    return url or os.environ.get(DATABASE_ENV) or DEFAULT_URL


def interactive() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """A progress bar on a terminal; the items unchanged otherwise."""
    return iter(
        tqdm(items, desc=description, total=total, disable=not interactive(), file=sys.stderr)
    )


def status() -> Callable[[str], None]:
    """Prints status lines to stderr on a terminal (quiet in pipes and CI logs)."""
    if not interactive():
        return lambda _: None
    return lambda message: print(f"  {message}", file=sys.stderr)


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="event store whose forgotten customers are left out (default: $RECSYS_DATABASE_URL, "
        "else ./recsys.db when it exists)",
    )


def forget_key() -> ForgetKey | None:
    """The forget secret's key (RECSYS_FORGET_SECRET), None when unset."""
    secret = os.environ.get(FORGET_SECRET_ENV, "")
    return ForgetKey(secret) if secret else None


def store_url(given: str | None) -> str | None:
    """The event store a command reads: `given` (--db, --events-db), else RECSYS_DATABASE_URL,
    else the server's default ./recsys.db when that file exists; None when there is none."""
    url = given or os.environ.get(DATABASE_ENV)
    if url is None:
        return DEFAULT_URL if sqlite_path(DEFAULT_URL).is_file() else None
    return url


def forgotten_list(given: str | None, flag: str = "--db") -> Forgotten:
    """The forgotten customers a command leaves out (store_url's list; `given` came as `flag`). A
    store that is named but cannot be read stops the command (exit 2): never a silent run with
    them back in. With no store at all nothing can be left out: NOT_APPLIED, which commands
    report."""
    url = store_url(given)
    if url is None:
        return NOT_APPLIED
    if url.startswith("sqlite:") and not sqlite_path(url).is_file():
        raise InputError(
            flag if given else DATABASE_ENV,
            f"no such event store file: {url} (its forgotten customers cannot be left out)",
        )
    with open_store(url, forget_key()) as store:
        return store.forgotten()


def say_forgotten(forgotten: Forgotten, removed: int, what: str = "rows") -> None:
    """The line every command prints about forgotten customers."""
    print(forgotten.summary(removed, what))
