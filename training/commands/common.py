"""Small helpers shared by the commands: the config file they read, progress output that only
decorates a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from recsys.config import Config, load_config
from recsys.eventstore import DEFAULT_URL

T = TypeVar("T")
CONFIG_ENV, DATABASE_ENV = "RECSYS_CONFIG", "RECSYS_DATABASE_URL"


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
