"""Events read and checked by Spark: the same formats, rules and messages as recsys.data.events.

Every row gets the reason of its first failing check (or none), in the order the default engine
checks them; `--on-error fail` raises for one bad row naming its file, column and value,
`--on-error skip` counts the bad rows per reason exactly as the default engine words them. Spark
has no line numbers, so messages name the file, not the line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from recsys.data.events import OPTIONAL_NUMBERS, OPTIONAL_TEXT, REQUIRED
from recsys.data.readers import file_format, input_files
from recsys.errors import InputError

NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
INTEGER = r"^\s*\+?\d+\s*$"
FILE, REASON = "_file", "_reason"


def spark_paths(path: str) -> dict[str, list[str]]:
    """The files to read, by format. A local file or folder is listed as the default engine lists
    it; a URI Spark reads (s3a://, hdfs://, ...) names its format by its ending (globs allowed)."""
    if "://" in path and not path.startswith("file://"):
        fmt = file_format(Path(path.rstrip("/").rsplit("/", 1)[-1]))
        if fmt is None:
            raise InputError(path, "a Spark URI must end in .parquet, .csv(.gz) or .jsonl(.gz)")
        return {fmt: [path]}
    found: dict[str, list[str]] = {}
    for file in input_files(path.removeprefix("file://")):
        found.setdefault(str(file_format(file)), []).append(str(file.resolve()))
    return found


def read_events(
    spark: Any, path: str, known: tuple[str, ...], on_error: str
) -> tuple[Any, Counter[str]]:
    """The checked events as a DataFrame (user_id, item_id, event_type, ts (Unix seconds, double),
    and the optional columns present), and the skipped rows per reason."""
    from pyspark.sql import functions as F

    frames = []
    for fmt, files in spark_paths(path).items():
        reader = spark.read
        if fmt == "csv":
            frame = reader.option("header", True).option("inferSchema", False).csv(files)
        elif fmt == "jsonl":
            frame = reader.json(files)
        else:
            frame = reader.parquet(*files)
        frames.append(frame.withColumn(FILE, F.input_file_name()))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    for name in REQUIRED:
        if name not in frame.columns:
            raise InputError(path, f"missing required column '{name}'")
    checked = with_reasons(frame, known)
    bad = checked.where(F.col(REASON).isNotNull())
    skipped: Counter[str] = Counter()
    if on_error == "fail":
        first = bad.select(FILE, REASON, "_column", "_value").limit(1).collect()
        if first:
            file, reason, column, value = first[0]
            shown = f"{reason}: {value!r}" if value not in (None, "") else reason
            raise InputError(file.removeprefix("file://"), shown, column=column)
    else:
        for row in bad.groupBy("_column", REASON).count().collect():
            skipped[f"{row['_column']}: {row[REASON].split(' (')[0]}"] += int(row["count"])
    keep = ["user_id", "item_id", "event_type", "ts"]
    keep += [c for c in (*OPTIONAL_TEXT, *OPTIONAL_NUMBERS) if c in frame.columns]
    return checked.where(F.col(REASON).isNull()).select(*keep), skipped


def with_reasons(frame: Any, known: tuple[str, ...]) -> Any:
    """Typed columns, plus the first failing check of each row: _reason, _column, _value."""
    from pyspark.sql import functions as F

    checks = []  # (column, reason, bad condition, shown value)
    for name in ("user_id", "item_id"):
        frame = frame.withColumn(name, F.col(name).cast("string"))
        checks.append((name, "empty id", F.col(name).isNull() | (F.trim(F.col(name)) == ""), name))
    frame = frame.withColumn("event_type", F.col("event_type").cast("string"))
    unknown = f"unknown event type (known: {', '.join(known)})"
    checks.append(("event_type", unknown, ~F.coalesce(F.col("event_type").isin(*known),
                                                      F.lit(False)), "event_type"))  # fmt: skip
    frame = frame.withColumn("ts", seconds(frame, "timestamp"))
    checks.append(("timestamp", "unparsable timestamp", F.col("ts").isNull(), "timestamp"))
    for name in OPTIONAL_TEXT:
        if name in frame.columns:
            frame = frame.withColumn(name, F.col(name).cast("string"))
    for name, integer in OPTIONAL_NUMBERS.items():
        if name in frame.columns:
            frame, bad = number(frame, name, integer)
            reason = "not a whole number >= 0" if integer else "not a number >= 0"
            checks.append((name, reason, bad, f"_raw_{name}"))
    reason = column = value = F.lit(None).cast("string")
    for name, text, bad, shown in reversed(checks):  # the first failing check wins
        reason = F.when(bad, F.lit(text)).otherwise(reason)
        column = F.when(bad, F.lit(name)).otherwise(column)
        value = F.when(bad, F.col(shown).cast("string")).otherwise(value)
    frame = frame.withColumn(REASON, reason).withColumn("_column", column)
    return frame.withColumn("_value", value)


def seconds(frame: Any, name: str) -> Any:
    """Unix seconds (double; null where unparsable) from a timestamp, number or text column:
    ISO-8601 (UTC unless it names a zone) or Unix seconds, as the default engine reads them."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    kind = frame.schema[name].dataType
    column = F.col(name)
    if isinstance(kind, T.TimestampType | T.TimestampNTZType | T.DateType):
        return F.floor(F.unix_timestamp(column.cast("timestamp"))).cast("double")
    if isinstance(kind, T.NumericType):
        return F.floor(column.cast("double"))
    text = F.trim(column.cast("string"))
    numeric = F.when(text.rlike(NUMBER), F.floor(text.cast("double")))
    parsed = F.unix_timestamp(F.to_timestamp(text)).cast("double")
    return F.coalesce(numeric, parsed)


def number(frame: Any, name: str, integer: bool) -> tuple[Any, Any]:
    """An optional numeric column as double (null where empty) and its bad-row condition."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    raw = f"_raw_{name}"
    frame = frame.withColumn(raw, F.col(name))
    if isinstance(frame.schema[name].dataType, T.NumericType):
        value = F.col(raw).cast("double")
        bad = F.lit(False)
    else:
        text = F.trim(F.col(raw).cast("string"))
        blank = F.col(raw).isNull() | (text == "")
        ok = text.rlike(INTEGER if integer else NUMBER)
        value = F.when(ok, text.cast("double"))
        bad = ~blank & ~F.coalesce(ok, F.lit(False))
    frame = frame.withColumn(name, value)
    bad = bad | F.coalesce(F.col(name) < 0, F.lit(False))
    if integer:
        bad = bad | F.coalesce(F.col(name) != F.floor(F.col(name)), F.lit(False))
    return frame, bad
