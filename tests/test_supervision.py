"""Background threads never die silently: an error is logged, counted in /metrics, and the loop
goes on; the served log is written at exit and counts what the store refused; a bad bundle at
start falls back to an older version, never a newer one."""

from __future__ import annotations

import json
import runpy
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from recsys.errors import BundleError
from recsys.eventstore import open_store
from recsys.experiments import Experiments
from recsys.versions import MANIFEST, set_current
from recsys_serving import create_app
from recsys_serving.live_experiments import LiveExperiments
from recsys_serving.state import BundleHolder, ServedLog, Watcher, supervised

ROOT = Path(__file__).resolve().parents[1]


def eventually(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_a_supervised_loop_counts_errors_and_goes_on() -> None:
    calls: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def step() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("boom")

    thread = supervised("t", 0.01, step, errors.append, stop)
    eventually(lambda: len(calls) >= 5)
    stop.set()
    thread.join(5)
    assert errors == ["t", "t"] and not thread.is_alive()


def test_the_watcher_survives_an_error_that_is_not_a_bundle_error(tmp_path: Path) -> None:
    errors: list[str] = []
    holder = SimpleNamespace(models_dir=tmp_path, reloads=0)

    def reload() -> None:
        holder.reloads += 1
        raise (MemoryError if holder.reloads == 1 else BundleError)("no")

    holder.reload = reload
    watcher = Watcher(holder, 0.01, errors.append)  # type: ignore[arg-type]
    watcher.start()
    for version in ("a", "b"):  # two changes of CURRENT: two reloads, the first one crashing
        (tmp_path / "CURRENT").write_text(version)
        eventually(lambda v=version: holder.reloads >= ord(v) - ord("a") + 1)
        time.sleep(0.05)
    watcher.stop()
    assert errors == ["recsys-watch"] and holder.reloads == 2


def test_refused_rows_of_the_served_log_are_counted_and_pending_rows_written_at_exit(
    tmp_path: Path,
) -> None:
    dropped: list[int] = []
    with open_store(f"sqlite:///{tmp_path / 'served.db'}") as store:
        served = ServedLog(store, capacity=100, on_drop=dropped.append, batch=2)
        record = ("r", "u", "recommendations", None, None, "als@v", ["a"], 1.0)
        served.put(*record)
        served.put(*record[:-1], "not a number")  # the store refuses this batch of two
        served.put("r3", *record[1:])
        assert served.drain() == 1 and dropped == [2]
        assert store.served_table().column("request_id").to_pylist() == ["r3"]


def test_gunicorns_worker_exit_writes_what_is_pending(models_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = create_app({"models_dir": models_dir, "database_url": url, "watch": False,
                      "config": {"server": {"record_served": "all"}}})  # fmt: skip
    found = app.extensions["recsys"]
    found.served_log.put("r-exit", "u", "recommendations", None, None, "als@v", ["a"], 1.0)
    hooks = runpy.run_path(str(ROOT / "serving" / "gunicorn.conf.py"))
    hooks["worker_exit"](None, SimpleNamespace(wsgi=app))
    assert "r-exit" in found.store.served_table().column("request_id").to_pylist()


def test_the_experiments_refresh_survives_any_error(tmp_path: Path) -> None:
    errors: list[str] = []
    marks = iter([RuntimeError("first"), (1, 1), (1, 1)])

    class Store:
        def experiments_mark(self) -> tuple[int, int]:
            found = next(marks, (1, 1))
            if isinstance(found, Exception):
                raise found
            return found

        def experiment_definitions(self) -> list[Any]:
            return []

    published: list[Experiments] = []
    live = LiveExperiments(Experiments([]), Store(), 0.01, published.append,  # type: ignore[arg-type]
                           lambda _: None, errors.append)  # fmt: skip
    live.start()
    eventually(lambda: len(published) == 1)
    assert errors == ["recsys-experiments"]


def copy_version(models: Path, source: Path, version: str) -> None:
    shutil.copytree(source, models / version)
    manifest = json.loads((models / version / MANIFEST).read_text())
    (models / version / MANIFEST).write_text(json.dumps({**manifest, "version": version}))


@pytest.mark.parametrize("refused", ["20260102T000000Z", "20260103T000000Z"])
def test_a_refused_bundle_at_start_falls_back_to_an_older_one_only(
    models_dir: Path, tmp_path: Path, refused: str
) -> None:
    source = models_dir / (models_dir / "CURRENT").read_text().strip()
    models = tmp_path / "models"
    models.mkdir()
    for version in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        copy_version(models, source, version)
    damaged = models / refused / "items.arrow"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    set_current(models, refused)  # e.g. rolled back from the newest to a damaged one
    holder = BundleHolder(models, lambda *_: None)
    _, serving = holder.reload()
    older = "20260101T000000Z" if refused == "20260102T000000Z" else "20260102T000000Z"
    assert serving == older
