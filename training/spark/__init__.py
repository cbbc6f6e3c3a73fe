"""`recsys train --engine spark`: events read, checked, weighted and aggregated by Apache Spark,
ALS fitted by Spark MLlib (`implicitPrefs=True`); the driver builds the same bundle as the default
engine from the aggregates (vocabularies, one value per user-item pair, per-item and per-user
counts, basket memberships, factors) and never holds the raw events.

Optional: `pip install 'recsys[spark]'` and Java (Debian's default-jre-headless).
"""

from __future__ import annotations

from typing import Any

from recsys.errors import InputError

DEFAULT_MASTER = "local[2]"


def spark_session(master: str) -> Any:
    """A Spark session for one training run: no UI, UTC, bound to loopback in local mode."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "--engine", "spark needs the optional extra: pip install 'recsys[spark]'"
        ) from None
    builder = (
        SparkSession.builder.master(master)
        .appName("recsys train")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "16")
        .config("spark.sql.ansi.enabled", "false")  # a bad value is a null to count, not a crash
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark's errors for a missing Java or a bad master vary
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            "--engine", f"cannot start Spark at {master!r} ({reason}); it needs Java "
            "(apt-get install default-jre-headless) and a reachable --spark-master",
        ) from None  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    return spark
