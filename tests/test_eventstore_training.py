"""Training from the event store: `recsys train --events-db URL`, alone or with files, and
forgotten customers left out of every input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import TEST_FORGET_SECRET

from recsys.data.incoming import IncomingEvent
from recsys.errors import InputError
from recsys.eventstore import open_store
from recsys.privacy import ForgetKey

ROOT = Path(__file__).resolve().parents[1]


KEY = ForgetKey(TEST_FORGET_SECRET)
SMALL_MODELS = "[models.als]\nfactors = 8\niterations = 2\n\n[models.popular]\n"


def as_incoming(rows: list[dict]) -> list[IncomingEvent]:
    fields = ("user_id", "item_id", "event_type", "session_id", "quantity", "price", "order_id")
    return [
        IncomingEvent(**{f: row.get(f) for f in fields}, timestamp=row["timestamp"].timestamp())
        for row in rows
    ]


@pytest.fixture
def split_shop(shop: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """The shop's events split between a file and an SQLite store; one user who appears in both
    is forgotten. Returns the file, the store URL and the forgotten user id."""
    table = pq.read_table(shop / "events.parquet")
    pq.write_table(table.slice(0, 20_000), tmp_path / "file.parquet")
    stored = as_incoming(table.slice(20_000, 10_000).to_pylist())
    file_users = set(table.slice(0, 20_000).column("user_id").to_pylist())
    gone = next(e.user_id for e in stored if e.user_id in file_users)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, KEY) as store:
        store.append(stored)
        store.append(
            [
                IncomingEvent("store-only", "i-new", "purchase", 1_790_000_000),
                IncomingEvent("store-only", "i-new", "impression", 1_790_000_001),
            ]
        )
        store.forget_user(gone)
    (tmp_path / "small.toml").write_text(SMALL_MODELS)
    return tmp_path / "file.parquet", url, gone


def test_train_cli_reads_files_and_store_without_forgotten_users(
    split_shop: tuple[Path, str, str], tmp_path: Path
) -> None:
    from recsys.bundle import Bundle

    file, url, gone = split_shop
    command = [
        sys.executable,
        "-m",
        "recsys_training.cli",
        "train",
        "--events",
        str(file),
        "--events-db",
        url,
        "--models",
        str(tmp_path / "models"),
        "--config",
        str(tmp_path / "small.toml"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    bundle = Bundle.load(tmp_path / "models")
    assert gone not in bundle.users
    assert "store-only" in bundle.users and "i-new" in bundle.items
    with open_store(url, KEY) as store:
        expected = pq.read_table(file).num_rows + store.count() - 1  # the impression
        expected -= pq.read_table(file).column("user_id").to_pylist().count(gone)
    assert f"read {expected:,} events" in result.stdout


def test_file_only_training_honours_the_servers_forgotten_users(
    split_shop: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.config import load_config
    from recsys.eventstore.training import load_training_events
    from recsys_training.commands.common import forgotten_list

    file, url, gone = split_shop
    weights = tuple(load_config(tmp_path / "small.toml").events.weights)
    monkeypatch.setenv("RECSYS_DATABASE_URL", url)
    forgotten = forgotten_list(None)
    assert gone not in load_training_events(file, None, weights, forgotten=forgotten).users
    monkeypatch.setenv("RECSYS_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(InputError, match="RECSYS_DATABASE_URL: no such event store file"):
        forgotten_list(None)  # a store named but not there: never a silent run
    assert not (tmp_path / "absent.db").exists()


def test_train_cli_honours_the_forgotten_users_of_recsys_database_url(
    split_shop: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.bundle import Bundle
    from recsys_training.cli import main

    file, url, gone = split_shop
    monkeypatch.setenv("RECSYS_DATABASE_URL", url)  # the entry point reads it, not the library
    models = tmp_path / "models"
    argv = ["train", "--events", str(file), "--config", str(tmp_path / "small.toml")]
    assert main([*argv, "--models", str(models)]) == 0
    assert gone not in Bundle.load(models).users


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "--events: required unless --events-db is given"),
        (["--events-db", "sqlite:///absent.db"], "no such event store file"),
        (["--events-db", "mysql://db"], "must start with sqlite:/// or postgresql://"),
    ],
)
def test_train_cli_store_errors_are_one_line(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recsys_training.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--models", str(tmp_path), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
