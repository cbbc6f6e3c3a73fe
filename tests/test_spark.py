"""`recsys train --engine spark` (Spark in local mode) builds the bundle the default engine builds:
same vocabularies, matrices, popularity, segments and cross-sell; ALS by Spark MLlib."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.errors import InputError
from recsys.privacy import ForgetKey, Forgotten
from recsys.service import Query, ServedBundle, for_user
from recsys_training.cli import main
from recsys_training.pipeline import TrainReport, train

pytest.importorskip("pyspark", reason="the Spark engine needs: pip install 'recsys[spark]'")
if shutil.which("java") is None:
    pytest.skip("the Spark engine needs Java (apt-get install default-jre-headless)",
                allow_module_level=True)  # fmt: skip

from recsys_training.spark import spark_session, spark_settings
from recsys_training.spark.train import train_spark

CONFIG = {
    "models": {"als": {"factors": 16, "iterations": 5}, "together": {"kind": "cooccurrence"},
               "popular": {}},
    "server": {"candidates": 20, "similar_candidates": 10},
}  # fmt: skip


# The JVM's just-in-time compiler at its first tier and the serial collector: this module's
# short-lived local Spark then spends about half the CPU it spends with the JVM's defaults (most
# of it was warm-up, whatever the data size). Read once, when the first session starts the JVM.
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="module", autouse=True)
def quick_jvm() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAVA_TOOL_OPTIONS", QUICK_JVM)
        yield


@pytest.fixture(scope="module")
def forgotten_user(shop: Path) -> str:
    return str(pq.read_table(shop / "events.parquet", columns=["user_id"]).column(0)[0])


@pytest.fixture(scope="module")
def trained(
    shop: Path, forgotten_user: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainReport, Path, Path]:
    """The shop trained once by each engine (Spark's report, both folders), one customer forgotten:
    Spark's own start-up and fit are the slow part of this module."""
    folder = tmp_path_factory.mktemp("engines")
    config = config_from_dict(CONFIG)
    events, catalogue = shop / "events.parquet", shop / "catalogue.csv"
    key = ForgetKey("forget-secret")
    forgotten = Forgotten(frozenset({key.digest(forgotten_user)}), key, "test store")
    train(events, folder / "default", config, catalogue, forgotten=forgotten)
    report = train_spark(events, folder / "spark", config, catalogue, forgotten=forgotten)
    return report, folder / "default", folder / "spark"


@pytest.fixture(scope="module")
def bundles(trained: tuple[TrainReport, Path, Path]) -> tuple[Bundle, Bundle]:
    return Bundle.load(trained[1]), Bundle.load(trained[2])


def reordered(default: Bundle, spark: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """Spark's user and item numbers of the default bundle's users and items."""
    users = spark.users.indices(default.users.arrow.to_pylist())
    items = spark.items.indices(default.items.arrow.to_pylist())
    assert (users >= 0).all() and (items >= 0).all()
    return users, items


def test_same_vocabularies_and_matrices(bundles: tuple[Bundle, Bundle]) -> None:
    default, spark = bundles
    assert set(default.users.arrow.to_pylist()) == set(spark.users.arrow.to_pylist())
    assert set(default.items.arrow.to_pylist()) == set(spark.items.arrow.to_pylist())
    users, items = reordered(default, spark)
    for name in ("interactions", "purchased"):
        ours = getattr(spark, name)[users][:, items].toarray()
        np.testing.assert_allclose(ours, getattr(default, name).toarray(), rtol=1e-5, atol=1e-5)


def test_same_popularity_segments_and_cross_sell(bundles: tuple[Bundle, Bundle]) -> None:
    default, spark = bundles
    users, items = reordered(default, spark)
    np.testing.assert_allclose(spark.popularity.best_sellers[items],
                               default.popularity.best_sellers, rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(spark.popularity.trending[items], default.popularity.trending)
    assert spark.segments.names == default.segments.names
    for user in range(0, len(default.users), 37):
        assert spark.segments.of(int(users[user])) == default.segments.of(user)
    ours, theirs = spark.models["together"], default.models["together"]
    for item in range(0, len(items), 41):
        expected = theirs.complements(one_hot(item, len(items)), 5)[0][0]
        found = ours.complements(one_hot(int(items[item]), len(items)), 5)[0][0]
        spark_ids = spark.items.ids(found[found >= 0])
        assert spark_ids == default.items.ids(expected[expected >= 0])


def one_hot(item: int, n: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(1, np.float32), ([0], [item])), shape=(1, n))


def test_the_spark_bundle_serves_and_says_its_engine(bundles: tuple[Bundle, Bundle]) -> None:
    _, spark = bundles
    assert spark.manifest["engine"] == "spark"
    assert spark.manifest["models"]["als"]["kind"] == "als"
    served = ServedBundle(spark)
    picks = for_user(served, spark.users[0], Query(n=5))
    assert picks.model.endswith(f"als@{spark.version}") and len(picks.ranked) == 5


def bad_events(folder: Path, shop: Path) -> Path:
    table = pcsv.read_csv(shop / "catalogue.csv")  # any CSV to borrow item ids from
    items = table.column("item_id").to_pylist()[:3]
    lines = ["user_id,item_id,event_type,timestamp,quantity"]
    lines += [f"u{i},{items[i % 3]},view,2026-11-0{1 + i % 5}T10:00:00Z," for i in range(30)]
    lines += [f"u1,{items[0]},purchase,1767225600,2", f"u2,{items[1]},teleport,1767225600,",
              f"u3,{items[2]},view,noon,", f",{items[0]},view,1767225600,",
              f"u4,{items[1]},purchase,1767225600,1.5"]  # fmt: skip
    path = folder / "events.csv.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return path


def test_bad_rows_fail_or_are_counted_like_the_default_engine(
    tmp_path: Path, shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--on-error fail` names the file and column; `recsys train --engine spark --on-error skip`
    counts the skipped rows per reason as the default engine does (one Spark run each: they are
    this module's slow part)."""
    events = bad_events(tmp_path, shop)
    config = config_from_dict({"models": {"als": {"factors": 4, "iterations": 2}}})
    bad_column = r"events\.csv\.gz: column '(event_type|timestamp|user_id|quantity)'"
    with pytest.raises(InputError, match=bad_column):
        train_spark(events, tmp_path / "m1", config)
    default = train(events, tmp_path / "m2", config, on_error="skip")
    settings = tmp_path / "recsys.toml"
    settings.write_text("[models.als]\nfactors = 4\niterations = 2\n")
    argv = ["train", "--engine", "spark", "--spark-master", "local[1]", "--events", str(events),
            "--on-error", "skip", "--config", str(settings),
            "--models", str(tmp_path / "models")]  # fmt: skip
    assert main(argv) == 0
    assert "published" in capsys.readouterr().out
    manifest = json.loads(next((tmp_path / "models").glob("*/manifest.json")).read_text())
    assert manifest["engine"] == "spark"
    assert manifest["data"]["skipped"] == default.skipped
    assert manifest["data"]["events"] == default.events == 31


def test_the_cli_refuses_spark_with_an_event_store() -> None:
    assert main(["train", "--engine", "spark", "--events-db", "sqlite:///x.db"]) == 2


def test_spark_settings_are_checked_and_reach_the_session(
    tmp_path: Path, shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--engine", "spark", "--events", str(shop / "events.parquet"),
            "--models", str(tmp_path / "models"), "--spark-conf", "driver.memory=8g"]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "recsys train: error: --spark-conf: 'driver.memory=8g': expected spark.KEY=VALUE"
    )
    assert not (tmp_path / "models").exists()
    session = spark_session("local[1]", spark_settings(["spark.sql.shuffle.partitions = 3"]))
    try:
        assert session.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        session.stop()


def test_forgotten_customers_are_left_out(
    trained: tuple[TrainReport, Path, Path], bundles: tuple[Bundle, Bundle], forgotten_user: str
) -> None:
    report, spark = trained[0], bundles[1]
    assert forgotten_user not in spark.users and len(spark.users) > 100
    assert "forgotten customers left out: 1 customers" in report.summary()
