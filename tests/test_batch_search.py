"""recsys.batch_search: the exact top-k of every query, equal to brute force and to FAISS's flat
index, whatever the norms, block and chunk boundaries."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from recsys import batch_search
from recsys.models.als import ALS


def skewed(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    """Vectors whose norms spread over three orders of magnitude, as ALS gives popular and rare
    items: the case the norm bound prunes."""
    scale = rng.pareto(1.2, size=(n, 1)) + 0.01
    return (rng.standard_normal((n, d)) * scale).astype(np.float32)


def brute_force(queries: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ items.T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


@pytest.mark.parametrize(("n_queries", "n_items", "k"), [(50, 30, 10), (700, 5000, 40),
                                                        (300, 2100, 200), (5, 7, 20)])  # fmt: skip
def test_equals_brute_force(
    monkeypatch: pytest.MonkeyPatch, n_queries: int, n_items: int, k: int
) -> None:
    """Small blocks and chunks, so that every boundary (first chunk, pruning, merges, the last
    partial chunk, k above the catalogue) is crossed."""
    monkeypatch.setattr(batch_search, "QUERY_BLOCK", 64)
    monkeypatch.setattr(batch_search, "ITEM_CHUNK", 256)
    rng = np.random.default_rng(n_items)
    queries, items = skewed(rng, n_queries), skewed(rng, n_items)
    scores, ids = batch_search.top_k(queries, items, k, threads=2)
    expected_scores, expected_ids = brute_force(queries, items, k)
    assert ids.shape == (n_queries, min(k, n_items)) and ids.dtype == np.int64
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert np.array_equal(ids, expected_ids)  # continuous random scores: no ties


def test_same_as_faiss_flat_index_on_unit_and_zero_vectors() -> None:
    """Unit items (nothing to prune), a zero query and zero items: the flat index's answer."""
    rng = np.random.default_rng(1)
    items = rng.standard_normal((3000, 8)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    items[::7] = 0
    queries = rng.standard_normal((100, 8)).astype(np.float32)
    queries[3] = 0
    index = faiss.IndexFlatIP(8)
    index.add(items)
    expected_scores, expected_ids = index.search(queries, 50)
    scores, ids = batch_search.top_k(queries, items, 50)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    others = np.arange(len(queries)) != 3  # all zeros tie: any 50 items are right
    assert np.array_equal(ids[others], expected_ids[others])
    assert np.all(scores[3] == 0) and len(set(ids[3])) == 50


def test_no_queries_or_no_k() -> None:
    items = np.ones((5, 4), np.float32)
    assert batch_search.top_k(np.zeros((0, 4), np.float32), items, 3)[1].shape == (0, 0)
    assert batch_search.top_k(np.ones((2, 4), np.float32), items, 0)[1].shape == (2, 0)


def test_precomputed_candidates_of_a_flat_index_are_brute_forces() -> None:
    rng = np.random.default_rng(2)
    model = ALS().set_factors(skewed(rng, 400), skewed(rng, 3000))
    model.build_index("Flat")
    model.precompute_candidates(25)
    assert model.candidates is not None and model.candidates.dtype == np.int32
    expected = brute_force(model.user_factors, model.item_factors, 25)[1]
    assert np.array_equal(model.candidates, expected)
