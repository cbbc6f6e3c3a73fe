"""Shared by the benchmark scripts: timing, peak memory, a printed table and a JSON result file."""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"


def shop_arguments(parser: argparse.ArgumentParser, events: int, users: int, items: int) -> None:
    """The size of the generated shop a benchmark runs on."""
    parser.add_argument("--events", type=int, default=events)
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--items", type=int, default=items)


@contextmanager
def generated_shop(args: argparse.Namespace) -> Iterator[Path]:
    """A temporary folder holding a shop of the size in `args` (seed 1), removed afterwards."""
    from recsys_data.generator import generate_shop

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate_shop(folder, users=args.users, items=args.items, events=args.events, seed=1)
        yield folder


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """Best wall time of `repeat` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result  # type: ignore[return-value]


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    lap: dict[str, float] = {}
    start = time.perf_counter()
    yield lap
    lap["seconds"] = time.perf_counter() - start


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory (MB) of this process, or of its waited-for children. Our own is
    Linux's VmHWM where there is one: ru_maxrss also counts the parent's pages that a child
    process held until its exec (a benchmark's own gigabytes in every child it starts)."""
    if not children:
        peak = hwm_mb(Path("/proc/self/status"))
        if peak is not None:
            return peak
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def hwm_mb(status: Path) -> float | None:
    """VmHWM (MB) from a /proc/<pid>/status file; None where it cannot be read."""
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def run_with_peak(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a child process: its VmHWM, read every
    0.1 s until it exits (peaks only grow; ru_maxrss would count the parent's pages it held
    before exec), or its ru_maxrss where /proc has none."""
    start, peak = time.perf_counter(), 0.0
    process = subprocess.Popen(argv)
    while process.poll() is None:
        peak = max(peak, hwm_mb(Path(f"/proc/{process.pid}/status")) or 0.0)
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return seconds, peak or peak_rss_mb(children=True)


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def write_json(name: str, payload: dict[str, Any], out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
