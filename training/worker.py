"""`recsys worker`: retrains on a schedule (or once enough new events arrived in the store),
publishes, and prunes old bundle versions.

Each run is `recsys train` in a child process: a crash, a leak or an out-of-memory kill of one run
never takes the worker down, and publishing is the trainer's own (written aside, one atomic
rename, CURRENT last), so a failed or killed run leaves CURRENT and every bundle untouched. The
worker's state (last run, next run, counts) is a JSON status file beside the bundles, which the
server's /metrics reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recsys.errors import RecsysError
from recsys.files import write_durably
from recsys.versions import WORKER_STATUS, current_version, prune_versions

PERIOD = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
STOP_GRACE_SECONDS = 60.0  # a run asked to stop gets this long to clean up before it is killed
OUTPUT_TAIL = 4_000  # characters of a run's output kept for its log line

log = logging.getLogger("recsys.worker")


def parse_period(text: str) -> float:
    """Seconds from "90s", "15m", "6h", "1d" (a bare number is seconds); ValueError otherwise."""
    found = PERIOD.fullmatch(text.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"expected a duration such as 30m, 6h or 1d, got {text!r}")
    return float(found.group(1)) * UNITS[found.group(2)]


@dataclass
class Schedule:
    every: float  # seconds between runs
    keep: int = 5  # newest versions kept besides CURRENT and the pinned ones
    min_new_events: int = 0  # > 0: also run as soon as this many events arrived in the store
    poll: float = 60.0  # how often the store is asked for new events


@dataclass
class RunResult:
    started: float
    finished: float
    ok: bool
    version: str | None = None  # CURRENT after the run
    published: bool = False
    error: str | None = None
    removed: list[str] = field(default_factory=list)
    summary: str = ""

    def line(self, next_run: float | None) -> str:
        """The one log line of a run (JSON)."""
        body = {"event": "worker_run", **asdict(self), "seconds": round(self.seconds, 3)}
        body["next_run"] = next_run
        return json.dumps(body)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class Worker:
    """The retraining loop. `train_command` is the argv of one training run; `pinned()` the bundle
    versions experiments pin (never pruned); `new_events()` the store's newest event id (None
    without a store)."""

    def __init__(
        self,
        models_dir: Path,
        train_command: Sequence[str],
        schedule: Schedule,
        pinned: Callable[[], set[str]],
        new_events: Callable[[], int | None] = lambda: None,
        status_path: Path | None = None,
        purge: Callable[[], int] = lambda: 0,
    ) -> None:
        self.models_dir = models_dir
        self.train_command = list(train_command)
        self.schedule = schedule
        self.pinned = pinned
        self.new_events = new_events
        self.purge = purge  # the store's retention limit ([server] retention_days), each run
        self.status_path = status_path or models_dir / WORKER_STATUS
        self.stopping = threading.Event()
        self._child: subprocess.Popen[str] | None = None
        self.runs = self.failures = 0
        self.last: RunResult | None = None
        self.next_run: float | None = None
        self._mark: int | None = None  # the store's newest event id when the last run started

    def stop(self, *_: object) -> None:
        """Asks the loop to end; a run in progress is asked to stop too (SIGTERM)."""
        self.stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            killer = threading.Timer(STOP_GRACE_SECONDS, child.kill)
            killer.daemon = True
            killer.start()

    def run_forever(self, once: bool = False) -> int:
        """Runs now, then every period (or earlier on new events) until stopped. Returns the exit
        code: 0, or 1 when `once` and the run failed."""
        while not self.stopping.is_set():
            result = self.run_once()
            if once:
                return 0 if result.ok else 1
            self.next_run = result.started + self.schedule.every
            self.write_status()
            self.wait_for_next()
        self.next_run = None
        self.write_status()
        return 0

    def wait_for_next(self) -> None:
        """Sleeps until the next run is due, the store has enough new events, or a stop."""
        while not self.stopping.is_set():
            left = (self.next_run or 0) - time.time()
            if left <= 0 or self.enough_new_events():
                return
            step = min(left, self.schedule.poll) if self.schedule.min_new_events else left
            self.stopping.wait(step)

    def enough_new_events(self) -> bool:
        if self.schedule.min_new_events <= 0 or self._mark is None:
            return False
        try:
            latest = self.new_events()
        except RecsysError as exc:  # the store is down: the schedule still holds
            log.warning(json.dumps({"event": "worker_store_unavailable", "reason": str(exc)}))
            return False
        return latest is not None and latest - self._mark >= self.schedule.min_new_events

    def run_once(self) -> RunResult:
        """One training run in a child process, then pruning after a publish."""
        started = time.time()
        before = current_version(self.models_dir)
        try:
            self._mark = self.new_events()
            purged = self.purge()
            if purged:
                log.info(json.dumps({"event": "worker_retention_purge", "rows": purged}))
        except RecsysError:
            self._mark = None
        code, output = self.train()
        result = RunResult(started, time.time(), code == 0, current_version(self.models_dir))
        result.published = result.ok and result.version != before
        tail = output.strip().splitlines()
        if result.ok:
            result.summary = tail[-1] if tail else ""
            result.removed = self.prune()
        else:
            result.error = (tail[-1] if tail else "") or f"training exited with code {code}"
        self.runs += 1
        self.failures += not result.ok
        self.last = result
        next_run = None if self.stopping.is_set() else started + self.schedule.every
        (log.info if result.ok else log.error)(result.line(next_run))
        self.write_status()
        return result

    def train(self) -> tuple[int, str]:
        """Runs the training command; returns its exit code and (the end of) its output."""
        self._child = subprocess.Popen(
            self.train_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            output, _ = self._child.communicate()
        except BaseException:
            self._child.kill()
            raise
        finally:
            code = self._child.wait()
            self._child = None
        return code, output[-OUTPUT_TAIL:]

    def prune(self) -> list[str]:
        """Old versions removed; none when the pinned ones cannot be known (store down)."""
        try:
            pinned = self.pinned()
        except RecsysError as exc:
            log.warning(json.dumps({"event": "worker_prune_skipped", "reason": str(exc)}))
            return []
        keep = {v for v in (current_version(self.models_dir),) if v} | pinned
        return prune_versions(self.models_dir, self.schedule.keep, keep)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "every_seconds": self.schedule.every,
            "min_new_events": self.schedule.min_new_events,
            "keep": self.schedule.keep,
            "runs": self.runs,
            "failures": self.failures,
            "last_run": asdict(self.last) if self.last else None,
            "next_run": self.next_run,
            "updated": time.time(),
        }

    def write_status(self) -> None:
        """The status file, replaced atomically (readers never see half of it)."""
        tmp = self.status_path.with_name(f".tmp-{self.status_path.name}-{os.getpid()}")
        write_durably(tmp, json.dumps(self.status(), indent=2).encode())
        os.replace(tmp, self.status_path)


def stop_on_signals(worker: Worker) -> None:
    """SIGTERM and SIGINT end the loop cleanly (the main thread only can set handlers)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, worker.stop)


def train_argv(options: dict[str, str | None]) -> list[str]:
    """`recsys train` with the given options (None values left out), as a child process of this
    interpreter."""
    argv = [sys.executable, "-m", "recsys_training.cli", "train"]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name}", value]
    return argv
