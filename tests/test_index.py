"""FAISS indexes: "auto" by catalogue size, inner product kept right (natively or by the MIPS-to-L2
augmentation), exclusions that never starve a result, search settings that survive a save, and the
trainer refusing an index below the recall floor."""

from __future__ import annotations

import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.errors import BundleError, ConfigError
from recsys.index import (
    ALL_PAIRS_EXACT_UP_TO,
    EXACT_UP_TO,
    HNSW_EF_SEARCH,
    HNSW_UP_TO,
    VectorIndex,
    all_pairs_factory,
    augment_items,
    resolve_factory,
)
from recsys.models.als import ALS
from recsys.versions import list_versions


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """Clustered items with uneven norms, like ALS factors of popular and rare items."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    items = centres[rng.integers(0, 40, 3_000)] + 0.5 * rng.normal(size=(3_000, 16))
    return (items * rng.lognormal(0, 0.5, (3_000, 1))).astype(np.float32)


@pytest.fixture(scope="module")
def queries(vectors: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (vectors[rng.integers(0, len(vectors), 60)] + rng.normal(size=(60, 16))).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def hnsw(vectors: np.ndarray) -> VectorIndex:
    return VectorIndex.build(vectors, "HNSW32")


def test_auto_picks_by_catalogue_size() -> None:
    assert resolve_factory("auto", 1_000) == "Flat"
    assert resolve_factory("auto", EXACT_UP_TO) == "Flat"
    assert resolve_factory("auto", EXACT_UP_TO + 1) == "HNSW32"
    assert resolve_factory("auto", HNSW_UP_TO + 1) == "IVF2048,Flat"
    assert resolve_factory("auto", 1_000_000) == "IVF4096,Flat"
    assert resolve_factory("HNSW16", 10) == "HNSW16"
    assert config_from_dict({}).index.factory == "auto"


def test_every_item_against_every_item_is_exact_only_for_small_catalogues() -> None:
    assert all_pairs_factory("auto", ALL_PAIRS_EXACT_UP_TO) == "Flat"
    assert all_pairs_factory("auto", ALL_PAIRS_EXACT_UP_TO + 1) == "IVF512,Flat"
    assert all_pairs_factory("auto", 35_000) == "IVF512,Flat"  # not 1024: FAISS wants 39 per list
    assert all_pairs_factory("auto", 49_860) == "IVF1024,Flat"
    assert all_pairs_factory("auto", 1_000_000) == "IVF4096,Flat"
    assert all_pairs_factory("HNSW16", 1_000_000) == "HNSW16"


def test_hnsw_searches_inner_products_with_high_recall(
    hnsw: VectorIndex, vectors: np.ndarray, queries: np.ndarray
) -> None:
    assert not hnsw.augmented and hnsw.index.metric_type == faiss.METRIC_INNER_PRODUCT
    assert hnsw.recall(queries, 10) >= 0.95
    ids, scores = hnsw.search(queries, 10)
    expected = np.take_along_axis(queries @ vectors.T, ids, axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_augmentation_turns_l2_order_into_inner_product_order(
    vectors: np.ndarray, queries: np.ndarray
) -> None:
    items = augment_items(vectors)
    padded = np.hstack([queries, np.zeros((len(queries), 1), np.float32)])
    distances = ((padded[:, None, :] - items[None, :, :]) ** 2).sum(axis=2)
    by_l2 = np.argsort(distances, axis=1)[:, :10]
    by_ip = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (by_l2 == by_ip).mean() > 0.99  # float rounding may swap near-ties


def test_an_index_that_needs_l2_gets_the_augmentation(
    vectors: np.ndarray, queries: np.ndarray
) -> None:
    index = VectorIndex.build(vectors, "LSH")  # FAISS has no inner-product LSH
    assert index.augmented and index.index.d == vectors.shape[1] + 1
    ids, scores = index.search(queries, 5)
    assert np.all(ids >= 0)
    np.testing.assert_allclose(
        scores, np.take_along_axis(queries @ vectors.T, ids, axis=1), rtol=1e-4, atol=1e-4
    )
    assert np.all(np.diff(scores, axis=1) <= 1e-5)


def test_candidates_come_from_any_index_in_exact_order(vectors: np.ndarray) -> None:
    """An L2-only (augmented) index must serve precomputed candidates too, best first."""
    rng = np.random.default_rng(5)
    model = ALS()
    model.item_factors = vectors
    model.user_factors = rng.standard_normal((30, vectors.shape[1])).astype(np.float32)
    model.build_index("LSH")
    model.precompute_candidates(10)
    assert model.candidates is not None and model.candidates.shape == (30, 10)
    scores = np.take_along_axis(model.user_factors @ vectors.T, model.candidates, axis=1)
    assert np.all(np.diff(scores, axis=1) <= 1e-5)


@pytest.mark.parametrize(
    ("factory", "exact_scores"),
    [("Flat", True), ("HNSW32", True), ("IVF16,Flat", True), ("IVF16,PQ4", False), ("LSH", False)],
)
def test_ann_search_scores_are_exact_inner_products_best_first(
    vectors: np.ndarray, queries: np.ndarray, factory: str, exact_scores: bool
) -> None:
    """Indexes holding the full vectors answer with FAISS's own scores (no re-scoring); the others
    are re-scored. Either way the scores are exact inner products, best first."""
    index = VectorIndex.build(vectors, factory)
    assert index.exact_scores is exact_scores
    scores, ids = index.ann_search(queries[:20], 15)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    expected = np.einsum("qkd,qd->qk", vectors[ids], queries[:20])
    assert np.allclose(scores, expected, atol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 1e-5)


def test_search_effort_is_the_least_that_reaches_the_recall_target(
    vectors: np.ndarray, queries: np.ndarray
) -> None:
    hnsw = VectorIndex.build(vectors, "HNSW32")
    assert hnsw.tune_search(queries, 0.0) == (hnsw.recall(queries), {"efSearch": 16})
    recall, effort = hnsw.tune_search(queries, 0.99)
    assert recall >= 0.99 and effort["efSearch"] <= 512
    if effort["efSearch"] > 16:  # one step less misses the target
        faiss.ParameterSpace().set_index_parameter(hnsw.index, "efSearch", effort["efSearch"] // 2)
        assert hnsw.recall(queries) < 0.99
    ivf = VectorIndex.build(vectors, "IVF16,Flat")
    recall, effort = ivf.tune_search(queries, 1.01)  # unreachable: the most effort, every list
    assert effort == {"nprobe": 16} and recall == pytest.approx(1.0)
    assert VectorIndex.build(vectors, "Flat").tune_search(queries, 0.99) == (1.0, {})


def test_heavy_exclusions_never_starve_an_hnsw_result(
    hnsw: VectorIndex, vectors: np.ndarray, queries: np.ndarray
) -> None:
    """Each query excludes its own 90% best items: the rest must still fill n slots, right."""
    order = np.argsort(-(queries @ vectors.T), axis=1)
    banned = order[:, : int(0.9 * len(vectors))]
    rows = np.repeat(np.arange(len(queries)), banned.shape[1])
    exclude = sp.csr_matrix(
        (np.ones(banned.size, np.float32), (rows, banned.ravel())),
        shape=(len(queries), len(vectors)),
    )
    ids, _ = hnsw.search(queries, 20, exclude)
    exact, _ = hnsw.exact_search(queries, 20, exclude)
    assert np.all(ids >= 0)
    for row, found in enumerate(ids):
        assert not set(found) & set(banned[row])
    assert np.mean([len(set(a) & set(b)) / 20 for a, b in zip(ids, exact, strict=True)]) > 0.95


def test_moderate_exclusions_use_the_index_and_refill(
    hnsw: VectorIndex, queries: np.ndarray, vectors: np.ndarray
) -> None:
    rng = np.random.default_rng(2)
    banned = rng.choice(len(vectors), size=(len(queries), 300))
    rows = np.repeat(np.arange(len(queries)), 300)
    exclude = sp.csr_matrix(
        (np.ones(banned.size), (rows, banned.ravel())), shape=(len(queries), len(vectors))
    )
    ids, scores = hnsw.search(queries, 50, exclude)
    assert np.all(ids >= 0) and np.all(np.isfinite(scores))
    assert all(not set(r) & set(b) for r, b in zip(ids, banned, strict=True))
    assert all(len(set(r)) == 50 for r in ids)


def test_search_settings_and_augmentation_survive_save_and_load(
    hnsw: VectorIndex, vectors: np.ndarray, queries: np.ndarray, tmp_path: Path
) -> None:
    hnsw.save(tmp_path / "hnsw.faiss")
    loaded = VectorIndex.load(tmp_path / "hnsw.faiss", vectors)
    assert faiss.downcast_index(loaded.index).hnsw.efSearch == HNSW_EF_SEARCH
    np.testing.assert_array_equal(loaded.search(queries, 10)[0], hnsw.search(queries, 10)[0])
    ivf = VectorIndex.build(vectors, "IVF64,Flat")
    ivf.save(tmp_path / "ivf.faiss")
    reloaded = VectorIndex.load(tmp_path / "ivf.faiss", vectors)
    assert faiss.extract_index_ivf(reloaded.index).nprobe == 32
    lsh = VectorIndex.build(vectors, "LSH")
    lsh.save(tmp_path / "lsh.faiss")
    assert VectorIndex.load(tmp_path / "lsh.faiss", vectors).augmented


def test_a_factory_faiss_cannot_build_names_the_key(vectors: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=r"index\.factory.*NoSuchIndex"):
        VectorIndex.build(vectors, "NoSuchIndex")


def test_trainer_refuses_to_publish_below_the_recall_floor(shop: Path, tmp_path: Path) -> None:
    """PCA to 2 dimensions cannot find the true top 10: nothing may be published."""
    from recsys_training.pipeline import train

    config = config_from_dict(
        {
            "models": {"als": {"factors": 16, "iterations": 2}},
            "index": {"factory": "PCA2,Flat", "recall_floor": 0.9, "recall_sample": 200},
        }
    )
    models = tmp_path / "models"
    with pytest.raises(BundleError, match=r"recall@10 .* < floor 0\.9; nothing published"):
        train(shop / "events.parquet", models, config)
    assert not models.exists() or not list_versions(models)


def test_trainer_records_recall_of_an_approximate_index(shop: Path, tmp_path: Path) -> None:
    from recsys_training.pipeline import train

    config = config_from_dict(
        {
            "models": {"als": {"factors": 16, "iterations": 2}},
            "index": {"factory": "HNSW32", "recall_floor": 0.9, "recall_sample": 200},
        }
    )
    report = train(shop / "events.parquet", tmp_path / "models", config)
    assert 0.9 <= report.index_recall["als"] <= 1.0
    assert set(report.index_search["als"]) == {"efSearch"}
    manifest = Bundle.load(tmp_path / "models").manifest["models"]["als"]
    assert manifest["index_search"] == report.index_search["als"]
    shutil.rmtree(tmp_path / "models")
