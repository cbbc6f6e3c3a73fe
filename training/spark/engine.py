"""The Spark engine's half of a training run: Spark aggregates -> the driver's Training (the same
object the default engine prepares), with ALS factors fitted by Spark MLlib."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recsys.campaigns.segments import RFM, SEGMENTS, SegmentsConfig, segments_table
from recsys.config import Config
from recsys.data import Catalogue, Interactions
from recsys.errors import InputError
from recsys.membership import SegmentMembership
from recsys.models import Recommender, build_model
from recsys.models.als import ALS
from recsys.models.cooccurrence import Cooccurrence, binary
from recsys.popularity import Popularity, trending_window
from recsys_training.spark.aggregate import (
    DAY,
    Numbered,
    dense,
    groups,
    item_counts,
    last_seen,
    numbered,
    pairs_matrix,
    purchased_pairs,
    rfm_aggregates,
    weighted_pairs,
)
from recsys_training.spark.read import read_events

Say = Callable[[str], None]


def spark_prepare(
    spark: Any,
    events_path: str,
    config: Config,
    catalogue: Catalogue | None,
    on_error: str,
    thresholds: SegmentsConfig,
    say: Say,
    keep: Callable[[Any], tuple[Any, int]] = lambda frame: (frame, 0),
) -> dict[str, Any]:
    """Reads the events with Spark and returns what the trainer needs: `interactions`,
    `purchased`, `popularity`, `catalogue` (aligned), `segments`, `recent` (users active lately,
    or None), `models` (fitted), `skipped`, `events` (count), `fingerprint`, `time_range`.
    `keep` filters the checked events before anything is counted (forgotten customers out) and
    says how many customers it left out (`forgotten`)."""
    say("reading events with Spark")
    frame, skipped = read_events(spark, events_path, tuple(config.events.weights), on_error)
    kept, forgotten = keep(frame)
    events = numbered(kept)
    if events.count == 0:
        raise InputError("events", "no valid events were read")
    items = events.items
    if catalogue is not None:
        items = items.extend(catalogue.table.column("item_id"))
        catalogue = catalogue.aligned(items)
    shape = (len(events.users), len(items))
    say("aggregating pairs")
    pairs = weighted_pairs(events, config.events).cache()
    interactions = Interactions(pairs_matrix(pairs, shape), events.users, items)
    purchased = pairs_matrix(purchased_pairs(events), shape, None)
    window = trending_window(config.models)
    counts = item_counts(events, window, config.events.weights)
    popularity = Popularity.from_counts(
        *(dense(counts, "item", c, len(items)) for c in ("purchases", "touched", "trending")),
        window,
    )
    segments = spark_segments(events, thresholds, catalogue)
    models = {}
    for name in config.models:
        say(f"fitting {name}")
        models[name] = spark_fit(name, config, events, pairs, interactions)
    return {
        "interactions": interactions,
        "purchased": purchased,
        "popularity": popularity,
        "catalogue": catalogue,
        "segments": segments,
        "recent": recent_users(events, config),
        "models": models,
        "skipped": dict(skipped),
        "events": events.count,
        "forgotten": forgotten,
        "fingerprint": fingerprint(interactions),
        "time_range": [int(events.oldest), int(events.newest)],
    }


def spark_fit(
    name: str, config: Config, events: Numbered, pairs: Any, interactions: Interactions
) -> Recommender:
    """ALS by Spark MLlib; co-occurrence on baskets grouped by Spark; any other kind on the
    aggregated matrix as the default engine fits it."""
    model = build_model(name, config.models[name])
    if isinstance(model, ALS):
        users, items = spark_als(pairs, model, interactions.shape)
        model.set_factors(users, items)
        return model
    model.fit(interactions)
    if isinstance(model, Cooccurrence):
        from pyspark.sql import functions as F

        hours, shape = model.params.window_hours, interactions.shape[1]
        bought = F.col("event_type") == "purchase"
        viewed = F.col("event_type") == "view" if "view" in config.events.weights else F.lit(True)
        baskets = group_matrix(groups(events, bought, "order_id", hours), shape)
        views = group_matrix(groups(events, viewed, "session_id", hours), shape)
        model.fit_baskets(baskets, views)
    elif hasattr(model, "fit_events"):
        raise InputError(
            f"models.{name}.kind", f"{model.kind!r} needs the raw events: not in --engine spark"
        )
    return model


def group_matrix(table: pa.Table, n_items: int) -> sp.csr_matrix:
    """Binary (groups x items) of (group, item) memberships."""
    rows = np.asarray(table.column("group").to_numpy(), np.int64)
    cols = np.asarray(table.column("item").to_numpy(), np.int64)
    shape = (int(rows.max()) + 1 if len(rows) else 0, n_items)
    return binary(sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape))


def spark_als(pairs: Any, model: ALS, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors from pyspark.ml ALS with implicit preferences on the weighted pairs
    (confidence 1 + alpha * value, as implicit). Rows without a factor (no pair) are zero."""
    from pyspark.ml.recommendation import ALS as SparkALS

    p = model.params
    fitted = SparkALS(
        rank=p.factors, maxIter=p.iterations, regParam=p.regularization, alpha=p.alpha,
        implicitPrefs=True, userCol="user", itemCol="item", ratingCol="value", seed=p.seed,
    ).fit(pairs)  # fmt: skip
    return (
        factor_matrix(fitted.userFactors, shape[0], p.factors),
        factor_matrix(fitted.itemFactors, shape[1], p.factors),
    )


def factor_matrix(frame: Any, rows: int, rank: int) -> np.ndarray:
    table = frame.toArrow()
    ids = np.asarray(table.column("id").to_numpy(), np.int64)
    values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    out = np.zeros((rows, rank), np.float32)
    out[ids] = np.asarray(values, np.float32).reshape(len(ids), rank)
    return out


def spark_segments(
    events: Numbered, thresholds: SegmentsConfig, catalogue: Catalogue | None
) -> SegmentMembership:
    """The bundle's segments from per-user aggregates computed by Spark."""
    listed = None
    if catalogue is not None:
        prices = catalogue.table.column("price").to_numpy(zero_copy_only=False)[: len(events.items)]
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        rows = [(i, float(p)) for i, p in enumerate(prices.tolist()) if p == p]
        listed = spark.createDataFrame(rows, "item int, listed_price double")
    table = rfm_aggregates(events, thresholds.cart_days, listed)
    n_users = len(events.users)
    user = np.asarray(table.column("user").to_numpy(), np.int64)

    def column(name: str, fill: float) -> np.ndarray:
        values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), np.float64)
        out = np.full(n_users, fill)
        out[user] = np.where(np.isnan(values), fill, values)
        return out

    first, last = column("first", np.nan), column("last", np.nan)
    orders = column("orders", 0).astype(np.int64)
    rfm = RFM(
        recency_days=np.where(orders > 0, (events.newest - last) / DAY, np.nan),
        first_days=np.where(orders > 0, (events.newest - first) / DAY, np.nan),
        frequency=orders,
        monetary=column("revenue", 0.0),
    )
    abandoned = np.zeros(n_users, bool)
    abandoned[user] = np.asarray(table.column("abandoned").to_numpy(zero_copy_only=False), bool)
    segments = segments_table(events.users.arrow, rfm, abandoned, thresholds)
    return SegmentMembership.from_flags(segments, SEGMENTS)


def recent_users(events: Numbered, config: Config) -> np.ndarray | None:
    """Users with events in the last `server.candidates_days` (all users when 0)."""
    days = config.server.candidates_days
    if days <= 0:
        return None
    table = last_seen(events)
    last = np.asarray(table.column("last").to_numpy(), np.float64)
    users = np.asarray(table.column("user").to_numpy(), np.int64)
    return np.sort(users[last >= events.newest - days * DAY])


def fingerprint(interactions: Interactions) -> str:
    """sha256 over the vocabularies and the aggregated matrix: the same data gives the same
    value (not the default engine's value, which hashes the events themselves)."""
    digest = hashlib.sha256(b"spark\n")
    for vocab in (interactions.users, interactions.items):
        for buffer in vocab.arrow.buffers():
            if buffer is not None:
                digest.update(buffer)
    matrix = interactions.matrix
    for array in (matrix.indptr, matrix.indices, matrix.data):
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
