"""`recsys train --engine spark`: the Spark half (training/spark/engine.py), then the trainer's
shared indexing and publishing (recsys_training.pipeline.finish)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from recsys.config import Config
from recsys.privacy import NOT_APPLIED, Forgotten
from recsys_training.pipeline import Say, Training, TrainReport, finish, live_catalogue
from recsys_training.spark import DEFAULT_MASTER, spark_session
from recsys_training.spark.engine import spark_prepare


def train_spark(
    events_path: str | Path,
    models_dir: str | Path,
    config: Config,
    catalogue_path: str | Path | None = None,
    on_error: str = "fail",
    say: Say | None = None,
    master: str = DEFAULT_MASTER,
    forgotten: Forgotten = NOT_APPLIED,
    forgetting_db: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> TrainReport:
    """Reads and fits with Spark at `master`, publishes like `recsys_training.pipeline.train`: the
    `forgotten` customers are left out, the item changes of `forgetting_db` merged into the
    catalogue; `settings` are Spark's own (spark.driver.memory, ...)."""
    say = say or (lambda _: None)
    report = TrainReport()
    catalogue = live_catalogue(catalogue_path, forgetting_db)
    spark = spark_session(master, settings)
    try:
        with report.stage("spark"):
            found = spark_prepare(
                spark, str(events_path), config, catalogue, on_error, config.segments, say,
                lambda frame: without_forgotten(spark, frame, forgotten),
            )  # fmt: skip
    finally:
        spark.stop()
    report.events, report.skipped = found["events"], found["skipped"]
    report.forgotten = forgotten.summary(found["forgotten"], "customers")
    training = Training(
        config, found["interactions"], found["purchased"], found["popularity"],
        found["catalogue"], found["models"], found["segments"], found["fingerprint"],
        found["time_range"], engine="spark",
    )  # fmt: skip
    return finish(training, found["recent"], Path(models_dir), report, say)


def without_forgotten(spark: Any, frame: Any, forgotten: Forgotten) -> tuple[Any, int]:
    """The events of customers not forgotten, and how many customers were left out: the distinct
    user ids are checked on the driver (with the store's own keyed digest), the forgotten ones
    removed in Spark."""
    if not len(forgotten):
        return frame, 0
    from pyspark.sql import functions as F

    users = frame.select("user_id").distinct().toArrow().column("user_id").combine_chunks()
    gone = users.filter(pa.array(forgotten.mask(users))).to_pylist()
    if not gone:
        return frame, 0
    drop = spark.createDataFrame([(u,) for u in gone], "user_id string")
    return frame.join(F.broadcast(drop), "user_id", "left_anti"), len(gone)
