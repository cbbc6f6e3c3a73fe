"""item-kNN over implicit's neighbours: the same similarity implicit computes (its diagonal
dropped), shorthand kinds, npz storage without pickles, and fold-in for anonymous sessions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import implicit.nearest_neighbours as knn
import numpy as np
import pytest
import scipy.sparse as sp

from recsys.config import ModelConfig
from recsys.data import Interactions, Vocabulary
from recsys.errors import ConfigError
from recsys.models import build_model
from recsys.models.base import FoldIn
from recsys.models.itemknn import ItemKNN


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    rng = np.random.default_rng(5)
    matrix = sp.random(80, 50, density=0.15, format="csr", random_state=rng, dtype=np.float32)
    matrix.data = np.ceil(matrix.data * 4)
    users = Vocabulary([f"u{i}" for i in range(80)])
    return Interactions(matrix, users, Vocabulary([f"i{i}" for i in range(50)]))


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("bm25", knn.BM25Recommender),
        ("tfidf", knn.TFIDFRecommender),
        ("cosine", knn.CosineRecommender),
    ],
)
def test_similarity_is_implicits_without_the_item_itself(
    kind: str, reference: type, interactions: Interactions
) -> None:
    model = build_model(kind, ModelConfig(kind, {"K": 10})).fit(interactions)
    bare = reference(K=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit warns about the COO it builds itself
        bare.fit(interactions.matrix, show_progress=False)
    expected = bare.similarity.toarray()
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-6)


def test_shorthands_are_itemknn_with_a_fixed_similarity() -> None:
    model = build_model("neighbours", ModelConfig("bm25", {"K1": 2.0}))
    assert isinstance(model, ItemKNN) and model.params.similarity == "bm25"
    assert build_model("x", ModelConfig("itemknn", {"similarity": "tfidf"})).params.similarity == (
        "tfidf"
    )
    with pytest.raises(ConfigError, match=r"models\.x\.similarity"):
        build_model("x", ModelConfig("bm25", {"similarity": "cosine"}))
    with pytest.raises(ConfigError, match=r"models\.x\.similarity"):
        build_model("x", ModelConfig("itemknn", {"similarity": "jaccard"}))
    with pytest.raises(ConfigError, match=r"models\.x\.K"):
        build_model("x", ModelConfig("itemknn", {"K": 0}))


def test_recommend_scores_are_the_users_row_times_the_similarity(
    interactions: Interactions,
) -> None:
    model = build_model("bm25", ModelConfig("bm25")).fit(interactions)
    users = np.array([0, 5, 9])
    ids, scores = model.recommend(users, 5, interactions.matrix[users])
    dense = (interactions.matrix[users] @ model.similarity).toarray()
    np.testing.assert_allclose(scores, np.take_along_axis(dense, ids, axis=1), atol=1e-5)
    for row, user in zip(ids, users, strict=True):
        assert not set(row) & set(interactions.matrix[user].indices)


def test_fold_in_answers_a_session_like_a_known_user(interactions: Interactions) -> None:
    model = build_model("cosine", ModelConfig("cosine")).fit(interactions)
    assert isinstance(model, FoldIn)
    rows = interactions.matrix[[3, 4]]
    folded = model.recommend_vectors(model.fold_in(rows), 7, rows)
    known = model.recommend(np.array([3, 4]), 7, rows)
    np.testing.assert_array_equal(folded[0], known[0])


def test_saved_as_npz_and_json_only(interactions: Interactions, tmp_path: Path) -> None:
    model = build_model("tfidf", ModelConfig("tfidf")).fit(interactions)
    model.save(tmp_path)
    assert {p.suffix for p in tmp_path.iterdir()} == {".npz", ".npy", ".json"}
    for npz in tmp_path.glob("*.npz"):
        with np.load(npz, allow_pickle=False) as content:
            assert "data" in content
    params = json.loads((tmp_path / "params.json").read_text())
    loaded = type(model).load(tmp_path, params)
    assert (loaded.similarity != model.similarity).nnz == 0
