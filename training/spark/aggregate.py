"""What the trainer needs from the events, computed by Spark: only aggregates reach the driver
(the vocabularies, one value per user-item pair, per-item and per-user counts, basket and session
memberships), never the raw events.

Each aggregate follows its default-engine counterpart (named in its docstring), so the bundle is
the same whichever engine read the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsys.campaigns.activity import DAY
from recsys.config import EventsConfig
from recsys.data.vocabulary import Vocabulary

HOUR = 3600


@dataclass
class Numbered:
    """The checked events with user and item numbers (columns `user`, `item`), in Spark."""

    frame: Any
    users: Vocabulary
    items: Vocabulary
    newest: float  # the newest event's time: the reference of every window
    oldest: float
    count: int


def to_arrow(frame: Any) -> pa.Table:
    """A (small, aggregated) DataFrame on the driver."""
    return frame.toArrow()


def numbered(frame: Any) -> Numbered:
    """Users and items numbered in id order: the sorted distinct ids come to the driver (they are
    the vocabularies), their numbers go back to Spark as a table to join; no Python runs on the
    executors."""
    from pyspark.sql import functions as F

    frame = frame.cache()
    stats = frame.agg(F.count("*"), F.min("ts"), F.max("ts")).collect()[0]
    vocabularies = {}
    for column, number in (("user_id", "user"), ("item_id", "item")):
        ids = to_arrow(frame.select(column).distinct().orderBy(column)).column(column)
        vocabularies[number] = Vocabulary(ids.combine_chunks())
        codes = pa.table({column: ids, number: pa.array(np.arange(len(ids), dtype=np.int32))})
        frame = frame.join(frame.sparkSession.createDataFrame(codes), column)
    return Numbered(frame.cache(), vocabularies["user"], vocabularies["item"],
                    float(stats[2]), float(stats[1]), int(stats[0]))  # fmt: skip


def weighted_pairs(events: Numbered, config: EventsConfig) -> Any:
    """(user, item, value): event weights by type, decayed by age, summed per pair, then damped,
    as recsys.data.Interactions.from_events does. Stays in Spark (ALS fits on it)."""
    from pyspark.sql import functions as F

    weight = type_weight(config.weights)
    if config.half_life_days > 0:
        age_days = F.greatest(F.lit(events.newest) - F.col("ts"), F.lit(0.0)) / DAY
        weight = weight * F.pow(F.lit(2.0), -age_days / config.half_life_days)
    pairs = events.frame.groupBy("user", "item").agg(F.sum(weight.cast("float")).alias("value"))
    if config.damping == "log1p":
        pairs = pairs.withColumn("value", F.log1p("value"))
    return pairs.where(F.col("value") != 0).withColumn("value", F.col("value").cast("float"))


def type_weight(weights: Mapping[str, float]) -> Any:
    """Each event's weight by its type, as `[events.weights]` gives it (0 for other types)."""
    from pyspark.sql import functions as F

    weight = F.lit(0.0)
    for name, value in weights.items():
        weight = F.when(F.col("event_type") == name, F.lit(float(value))).otherwise(weight)
    return weight


def pairs_matrix(pairs: Any, shape: tuple[int, int], value: str | None = "value") -> sp.csr_matrix:
    """A (row, col[, value]) DataFrame as CSR on the driver (1 where `value` is None)."""
    table = to_arrow(pairs)
    rows, cols = (np.asarray(table.column(i).to_numpy(), np.int64) for i in (0, 1))
    data = (
        np.asarray(table.column(value).to_numpy(), np.float32)
        if value
        else np.ones(len(rows), np.float32)
    )
    matrix = sp.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def purchased_pairs(events: Numbered) -> Any:
    """Distinct (user, item) of purchases: recsys.data.purchases_matrix."""
    from pyspark.sql import functions as F

    return events.frame.where(F.col("event_type") == "purchase").select("user", "item").distinct()


def item_counts(events: Numbered, window_days: float, weights: Mapping[str, float]) -> pa.Table:
    """Per item: purchases, events, and events in the trending window weighted by type: the
    counts of recsys.popularity.Popularity.from_events."""
    from pyspark.sql import functions as F

    bought = F.col("event_type") == "purchase"
    recent = F.col("ts") >= events.newest - window_days * DAY
    return to_arrow(
        events.frame.groupBy("item").agg(
            F.sum(bought.cast("double")).alias("purchases"),
            F.count("*").cast("double").alias("touched"),
            F.sum(F.when(recent, type_weight(weights)).otherwise(0.0)).alias("trending"),
        )
    )


def dense(table: pa.Table, key: str, column: str, size: int, fill: float = 0.0) -> np.ndarray:
    """A per-number column of an aggregate as a dense array (`fill` where a number is absent)."""
    out = np.full(size, fill, np.float64)
    out[np.asarray(table.column(key).to_numpy(), np.int64)] = np.asarray(
        table.column(column).to_numpy(zero_copy_only=False), np.float64
    )
    return out


def groups(events: Numbered, condition: Any, column: str, window_hours: float) -> pa.Table:
    """Distinct (group, item) of the events matching `condition`, grouped by `column` where it is
    set (an order or session id), else by user and time window: the default engine's
    recsys.models.cooccurrence.group_matrix. Spark finds the distinct memberships; the driver
    numbers their groups densely from 0."""
    from pyspark.sql import functions as F

    rows = events.frame.where(condition)
    window = F.floor(F.col("ts") / max(1, int(window_hours * HOUR))).cast("string")
    by_user = F.concat_ws("\u0000", F.lit("u"), F.col("user").cast("string"), window)
    if column in rows.columns:
        given = F.col(column).isNotNull() & (F.col(column) != "")
        key = F.when(given, F.concat_ws("\u0000", F.lit("g"), F.col(column))).otherwise(by_user)
    else:
        key = by_user
    memberships = to_arrow(rows.select(key.alias("key"), "item").distinct())
    keys = pc.dictionary_encode(memberships.column("key").combine_chunks())
    return pa.table({"group": keys.indices, "item": memberships.column("item")})


def rfm_aggregates(events: Numbered, cart_days: float, catalogue_price: Any = None) -> pa.Table:
    """Per buying or carting user: first and last purchase time, orders (distinct order_id, else
    distinct purchase time), revenue (price x quantity, 0 where unknown) and whether they
    abandoned a cart (added something in the last `cart_days` after their latest purchase): the
    inputs of recsys.campaigns.segments.compute_segments."""
    from pyspark.sql import functions as F

    frame = events.frame
    bought = F.col("event_type") == "purchase"
    if "order_id" in frame.columns:
        given = F.col("order_id").isNotNull() & (F.col("order_id") != "")
        order = F.when(given, F.concat(F.lit("o"), F.col("order_id")))
        order = order.otherwise(F.concat(F.lit("t"), F.col("ts").cast("string")))
    else:
        order = F.col("ts").cast("string")
    price = F.col("price") if "price" in frame.columns else F.lit(None).cast("double")
    if catalogue_price is not None:
        price = F.coalesce(price, F.col("listed_price"))
        frame = frame.join(F.broadcast(catalogue_price), "item", "left")
    quantity = F.coalesce(F.col("quantity"), F.lit(1.0)) if "quantity" in frame.columns else 1.0
    revenue = F.coalesce(price * quantity, F.lit(0.0))
    buyers = frame.where(bought).groupBy("user").agg(
        F.min("ts").alias("first"), F.max("ts").alias("last"),
        F.countDistinct(order).alias("orders"), F.sum(revenue).alias("revenue"),
    )  # fmt: skip
    carts = (
        frame.where(
            (F.col("event_type") == "add_to_cart")
            & (F.col("ts") >= events.newest - cart_days * DAY)
        )
        .groupBy("user")
        .agg(F.max("ts").alias("last_cart"))
    )
    joined = buyers.join(carts, "user", "full")
    abandoned = F.col("last_cart").isNotNull() & (
        F.col("last").isNull() | (F.col("last_cart") > F.col("last"))
    )
    return to_arrow(joined.withColumn("abandoned", abandoned))


def last_seen(events: Numbered) -> pa.Table:
    """Per user, the newest event's time (which users are recently active)."""
    from pyspark.sql import functions as F

    return to_arrow(events.frame.groupBy("user").agg(F.max("ts").alias("last")))
