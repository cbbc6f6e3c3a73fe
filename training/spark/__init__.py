"""`recsys train --engine spark`: events read, checked, weighted and aggregated by Apache Spark,
ALS fitted by Spark MLlib (`implicitPrefs=True`); the driver builds the same bundle as the default
engine from the aggregates (vocabularies, one value per user-item pair, per-item and per-user
counts, basket memberships, factors) and never holds the raw events.

Optional: `pip install 'recsys[spark]'` and Java (Debian's default-jre-headless).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from recsys.errors import InputError

DEFAULT_MASTER = "local[2]"
LOCAL_MEMORY_SHARE = 0.5  # of the machine's memory for a local Spark (its executors share the JVM)


def spark_session(master: str, settings: Mapping[str, str] | None = None) -> Any:
    """A Spark session for one training run: no UI, UTC, bound to loopback in local mode, with
    the `settings` given (`--spark-conf`; they win over recsys's own). In local mode the driver's
    JVM also runs every task, so unless a setting or spark-defaults.conf says otherwise it gets
    half of the machine's memory (Spark's own default, 1 GB, runs out of heap at a few million
    events)."""
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
        if not os.environ.get("SPARK_CONF_DIR") and not os.environ.get("SPARK_HOME"):
            builder = builder.config("spark.driver.memory", local_memory())
    for key, value in (settings or {}).items():
        builder = builder.config(key, value)
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


def local_memory() -> str:
    """LOCAL_MEMORY_SHARE of this machine's physical memory, in Spark's notation (at least 1g)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, int(total * LOCAL_MEMORY_SHARE / 2**30))}g"


def spark_settings(given: list[str]) -> dict[str, str]:
    """`--spark-conf KEY=VALUE` arguments as Spark settings (keys start with `spark.`)."""
    settings = {}
    for text in given:
        key, equals, value = text.partition("=")
        key = key.strip()
        if not equals or not key.startswith("spark.") or not value.strip():
            raise InputError("--spark-conf", f"{text!r}: expected spark.KEY=VALUE")
        settings[key] = value.strip()
    return settings
