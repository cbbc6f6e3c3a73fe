"""`recsys worker`: scheduled retraining in child processes, pruning, status, failures, SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from recsys.data.incoming import IncomingEvent
from recsys.eventstore import open_store
from recsys.versions import (
    CURRENT,
    WORKER_STATUS,
    current_version,
    list_versions,
    prune_versions,
    read_worker_status,
)
from recsys_training.cli import main
from recsys_training.worker import Schedule, Worker, parse_period

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "[models.als]\nfactors = 8\niterations = 2\n[models.popular]\n[server]\ncandidates = 10\n"


def worker_argv(tmp_path: Path, shop: Path, *more: str) -> list[str]:
    config = tmp_path / "recsys.toml"
    config.write_text(CONFIG)
    events = tmp_path / "events.parquet"
    if not events.exists():
        shutil.copy(shop / "events.parquet", events)
    return ["worker", "--models", str(tmp_path / "models"), "--events", str(events),
            "--config", str(config), *more]  # fmt: skip


def wait_for(condition: Callable[[], bool], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21_600), ("1d", 86_400), ("2.5", 2.5)]
)
def test_periods(text: str, seconds: float) -> None:
    assert parse_period(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1h", "6 hours", "h"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_period(text)


def test_bad_period_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--events", "x", "--every", "often"])
    assert exit_info.value.code == 2
    assert "often" in capsys.readouterr().err


def fake_versions(models: Path, names: list[str], current: str) -> None:
    for name in names:
        (models / name).mkdir(parents=True)
        (models / name / "manifest.json").write_text("{}")
    (models / CURRENT).write_text(current + "\n")


def test_prune_keeps_newest_current_and_pinned(tmp_path: Path) -> None:
    names = [f"2026010{i}T000000Z" for i in range(1, 8)]
    fake_versions(tmp_path, names, current=names[1])
    removed = prune_versions(tmp_path, 2, {names[1], names[3]})
    assert removed == [names[0], names[2], names[4]]
    assert [v["version"] for v in list_versions(tmp_path)] == [names[1], names[3], *names[5:]]


def test_once_publishes_prunes_and_writes_status(tmp_path: Path, shop: Path) -> None:
    argv = worker_argv(tmp_path, shop, "--every", "1h", "--once", "--keep", "1")
    assert main(argv) == 0
    models = tmp_path / "models"
    first = current_version(models)
    assert main(argv) == 0
    assert [v["version"] for v in list_versions(models)] == [current_version(models)] != [first]
    status = read_worker_status(models)
    assert status["last_run"]["ok"] and status["last_run"]["published"]
    assert status["last_run"]["removed"] == [first]
    assert "published" in status["last_run"]["summary"]


def test_failed_run_keeps_current_and_is_reported(tmp_path: Path, shop: Path) -> None:
    argv = worker_argv(tmp_path, shop, "--every", "1h", "--once")
    assert main(argv) == 0
    models = tmp_path / "models"
    good = current_version(models)
    (tmp_path / "events.parquet").write_text("not parquet")
    assert main(argv) == 1
    assert current_version(models) == good
    assert [v["version"] for v in list_versions(models)] == [good]
    status = read_worker_status(models)
    assert not status["last_run"]["ok"]
    assert "events.parquet" in status["last_run"]["error"]


def test_min_new_events_triggers_a_run(tmp_path: Path) -> None:
    newest = iter([0, 0, 3, 10, 10, 10])
    worker = Worker(
        tmp_path / "models", [sys.executable, "-c", "pass"], Schedule(3600, 1, 5, poll=0.01),
        pinned=set, new_events=lambda: next(newest), status_path=tmp_path / WORKER_STATUS,
    )  # fmt: skip
    (tmp_path / "models").mkdir()
    worker.run_once()
    worker.next_run = time.time() + 3600
    worker.wait_for_next()  # returns once 10 - 0 >= 5 new events are seen, long before the hour
    assert worker.next_run > time.time() + 3000


def test_each_run_purges_rows_past_the_retention_limit(tmp_path: Path) -> None:
    from recsys.config import config_from_dict
    from recsys_training.commands.worker import retention_purge

    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store:
        store.append([IncomingEvent("u1", "old", "view", 1.0),
                      IncomingEvent("u1", "new", "view", time.time())])  # fmt: skip
    config = config_from_dict({"server": {"retention_days": 30}})
    worker = Worker(
        tmp_path / "models", [sys.executable, "-c", "pass"], Schedule(3600, 1), pinned=set,
        status_path=tmp_path / WORKER_STATUS, purge=retention_purge(config, url),
    )  # fmt: skip
    (tmp_path / "models").mkdir()
    worker.run_once()
    with open_store(url) as store:
        assert [e.item_id for e in store.recent_events("u1")] == ["new"]


def test_store_counts_new_events(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        assert store.latest_event_id() == 0
        store.append([IncomingEvent("u1", "i1", "view", 1.0), IncomingEvent("u1", "i2", "view", 2)])
        first = store.latest_event_id()
        store.append([IncomingEvent("u2", "i1", "view", 3.0)])
        assert store.latest_event_id() - first == 1


def test_sigterm_stops_the_loop_cleanly(tmp_path: Path, shop: Path) -> None:
    argv = worker_argv(tmp_path, shop, "--every", "1h")
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys_training.cli", *argv], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    models = tmp_path / "models"
    try:
        wait_for(lambda: (read_worker_status(models) or {}).get("next_run") is not None)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["worker_run"]
    assert lines[0]["ok"] and lines[0]["version"] == current_version(models)
    assert read_worker_status(models)["next_run"] is None
    assert not list(models.glob(".tmp-*"))


def test_sigterm_during_a_run_leaves_nothing_half_written(tmp_path: Path, shop: Path) -> None:
    argv = worker_argv(tmp_path, shop, "--every", "1h")
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys_training.cli", *argv], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    parent = psutil.Process(process.pid)
    wait_for(lambda: bool(parent.children()))  # the training child is running
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    models = tmp_path / "models"
    assert not list(models.glob(".tmp-*"))
    version = current_version(models)
    assert version is None or (models / version / "manifest.json").is_file()


def test_server_metrics_show_the_worker_status(tmp_path: Path, models_dir: Path) -> None:
    from recsys_serving import create_app

    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    app = create_app({"models_dir": models, "watch": False,
                      "database_url": f"sqlite:///{tmp_path / 'events.db'}"})  # fmt: skip
    client = app.test_client()
    assert b"recsys_worker_" not in client.get("/metrics").data
    status = {"runs": 3, "failures": 1, "next_run": 1.9e9,
              "last_run": {"finished": 1.8e9, "ok": True, "seconds": 4.5}}  # fmt: skip
    (models / WORKER_STATUS).write_text(json.dumps(status))
    text = client.get("/metrics").get_data(as_text=True)
    assert "recsys_worker_last_run_ok 1.0" in text
    assert "recsys_worker_failures 1.0" in text
    assert "recsys_worker_next_run_timestamp_seconds 1.9e+09" in text
