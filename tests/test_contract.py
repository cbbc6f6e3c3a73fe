"""The contract every model kind passes (after implicit's recommender_base_test): the registry is
walked, so a new kind is checked the moment it is registered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.config import ModelConfig
from recsys.data import Interactions, Vocabulary
from recsys.models import KINDS, MISSING_ID, Recommender, build_model

N_USERS, N_ITEMS = 60, 40


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    """Two taste groups: users 0-29 like items 0-19, users 30-59 like items 20-39."""
    rng = np.random.default_rng(3)
    rows, cols = [], []
    for user in range(N_USERS):
        group = 0 if user < N_USERS // 2 else 20
        liked = rng.choice(20, size=6, replace=False) + group
        rows += [user] * len(liked)
        cols += list(liked)
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), (N_USERS, N_ITEMS))
    return Interactions(matrix, Vocabulary([f"u{i}" for i in range(N_USERS)]),
                        Vocabulary([f"i{i}" for i in range(N_ITEMS)]))


@pytest.fixture(scope="module", params=sorted(KINDS))
def fitted(request: pytest.FixtureRequest, interactions: Interactions) -> Recommender:
    model = build_model(request.param, ModelConfig(request.param))
    return model.fit(interactions)


def test_follows_the_protocol(fitted: Recommender) -> None:
    assert isinstance(fitted, Recommender)


def test_recommend_shapes_and_order(fitted: Recommender) -> None:
    ids, scores = fitted.recommend(np.array([0, 1, 35]), 5)
    assert ids.shape == scores.shape == (3, 5)
    assert ids.dtype.kind == "i"
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "best first"
    assert np.all((ids >= 0) & (ids < N_ITEMS))


def test_exclusions_are_honoured(fitted: Recommender, interactions: Interactions) -> None:
    users = np.array([0, 40])
    ids, _ = fitted.recommend(users, 10, interactions.matrix[users])
    for row, user in zip(ids, users, strict=True):
        assert not set(row[row >= 0]) & set(interactions.matrix[user].indices)


def test_pads_when_the_catalogue_runs_out(fitted: Recommender, interactions: Interactions) -> None:
    ids, scores = fitted.recommend(np.array([0]), N_ITEMS + 5, interactions.matrix[[0]])
    valid = ids[0] >= 0
    assert ids.shape == (1, N_ITEMS + 5)
    assert valid.sum() <= N_ITEMS - interactions.matrix[0].nnz
    assert np.all(ids[0][~valid] == MISSING_ID) and np.all(np.isneginf(scores[0][~valid]))
    assert len(set(ids[0][valid])) == valid.sum(), "no duplicates"


def test_similar_items_leave_the_item_out(fitted: Recommender) -> None:
    items = np.array([3, 25])
    ids, scores = fitted.similar_items(items, 5)
    assert ids.shape == scores.shape == (2, 5)
    for row, item in zip(ids, items, strict=True):
        assert item not in row


def test_save_load_round_trip(fitted: Recommender, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")
    params = vars(fitted.params) if hasattr(fitted, "params") else {}
    loaded = type(fitted).load(tmp_path / "model", params)
    users = np.array([0, 31])
    before, after = fitted.recommend(users, 5), loaded.recommend(users, 5)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], rtol=1e-5)


def test_learns_tastes(fitted: Recommender, interactions: Interactions) -> None:
    """Personalised kinds recommend from the user's own group (popularity is exempt)."""
    if fitted.kind == "popular":
        pytest.skip("popularity is the same for everyone")
    users = np.arange(N_USERS)
    ids, _ = fitted.recommend(users, 3, interactions.matrix)
    same_group = (ids[:30] < 20).mean() + (ids[30:] >= 20).mean()
    assert same_group / 2 > 0.8
