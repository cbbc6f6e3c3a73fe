"""Small helpers shared by the commands: progress output that only decorates a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


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
