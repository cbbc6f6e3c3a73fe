"""Shared fixtures: one small generated shop and one bundle trained on it, for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_FORGET_SECRET = "test-forget-secret"
# Servers and commands started by tests key forgotten lists with it (tests of an unset or wrong
# secret change it with monkeypatch).
os.environ["RECSYS_FORGET_SECRET"] = TEST_FORGET_SECRET
DATASETS = Path(os.environ.get("RECSYS_DATASETS", ROOT.parent / "shared" / "datasets"))


POSTGRES_ENV = "RECSYS_TEST_POSTGRES_URL"


@contextmanager
def postgres_schema(prefix: str = "recsys_test") -> Iterator[str]:
    """A store URL whose tables live in a fresh PostgreSQL schema, dropped afterwards (a skip when
    no test server is configured)."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set (run .ci/postgres.sh for a local server)")
    import psycopg

    from recsys.eventstore.postgres import schema_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(server, schema)
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or a skip saying it is absent."""
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"real dataset {folder} is absent")
    return folder


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated shop (events.parquet, catalogue.csv, complements.csv, ...). Read-only."""
    from recsys_data.generator import generate_shop

    folder = tmp_path_factory.mktemp("shop")
    generate_shop(folder, users=1_500, items=400, events=80_000, seed=1)
    return folder


@pytest.fixture(scope="session")
def models_dir(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one bundle trained on `shop` with the default config. Read-only: copy it
    (shutil.copytree) before publishing into it or damaging it."""
    from recsys.config import config_from_dict
    from recsys_training.pipeline import train

    folder = tmp_path_factory.mktemp("models")
    config = config_from_dict({"models": {"als": {"factors": 32, "iterations": 10},
                                          "popular": {}}})
    train(shop / "events.parquet", folder, config, shop / "catalogue.csv")
    return folder
