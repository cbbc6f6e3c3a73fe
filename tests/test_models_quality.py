"""The new kinds learn something: on a generated shop, split by time, they find more of the
held-out purchases than popularity does (the same check as tests/test_learning.py for ALS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.config import Config, ModelConfig
from recsys.data import Interactions, load_events
from recsys.data.interactions import event_weights, pair_sums
from recsys.models import build_model


@pytest.fixture(scope="module")
def split(shop: Path) -> tuple[Interactions, sp.csr_matrix, np.ndarray]:
    """Interactions of the first 80% of the time, purchases of the rest, and the users in both."""
    config = Config()
    events = load_events(shop / "events.parquet", tuple(config.events.weights))
    train = events.timestamp < np.quantile(events.timestamp, 0.8)
    shape = (len(events.users), len(events.items))
    weights = event_weights(events, config.events) * train
    matrix = pair_sums(events.user, events.item, weights, shape)
    np.log1p(matrix.data, out=matrix.data)
    matrix.eliminate_zeros()
    bought = events.is_type("purchase") & ~train
    ones = np.ones(int(bought.sum()), np.float32)
    test = pair_sums(events.user[bought], events.item[bought], ones, shape)
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(matrix.indptr) > 0))
    return Interactions(matrix, events.users, events.items), test, users


def recall_at_20(kind: str, split: tuple[Interactions, sp.csr_matrix, np.ndarray]) -> float:
    interactions, test, users = split
    model = build_model(kind, ModelConfig(kind)).fit(interactions)
    ids, _ = model.recommend(users, 20, interactions.matrix[users])
    found = [
        len(set(row) & set(test[user].indices)) / min(20, test[user].nnz)
        for row, user in zip(ids, users, strict=True)
    ]
    return float(np.mean(found))


@pytest.mark.parametrize("kind", ["bpr", "bm25", "tfidf", "cosine", "cooccurrence"])
def test_beats_popularity_on_held_out_purchases(
    kind: str, split: tuple[Interactions, sp.csr_matrix, np.ndarray]
) -> None:
    assert len(split[2]) > 100
    assert recall_at_20(kind, split) > recall_at_20("popular", split)
