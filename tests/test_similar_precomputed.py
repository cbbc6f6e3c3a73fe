"""Similar items precomputed at training (`server.similar_candidates`): rows equal to exact search,
filtered per request, exact search when a filter exhausts a row or the bundle has none."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import recsys.service.picks as picks_module
from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.index import VectorIndex
from recsys.models.als import ALS
from recsys.models.vector import SIMILAR_FILE, VectorModel
from recsys.service import Query, ServedBundle, cross_sell, similar
from recsys.service.picks import similar_picks
from recsys.versions import MANIFEST
from recsys_training.pipeline import train


@pytest.fixture(scope="module")
def served(models_dir: Path) -> ServedBundle:
    return ServedBundle(Bundle.load(models_dir))


@pytest.fixture
def exact_searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests that score the whole catalogue (the exact path)."""
    calls: list[int] = []
    score_all = picks_module.score_all

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return score_all(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(picks_module, "score_all", counted)
    return calls


def vector_model(served: ServedBundle) -> VectorModel:
    model = served.bundle.models["als"]
    assert isinstance(model, VectorModel)
    return model


def similar_row(served: ServedBundle, item: int) -> tuple[VectorModel, np.ndarray]:
    """The model and `item`'s precomputed row."""
    model = vector_model(served)
    return model, np.asarray(model.similar_for(item))


def exact_top(
    model: VectorModel,
    item: int,
    n: int,
    allowed: np.ndarray | None = None,
    excluded: Sequence[int] = (),
) -> np.ndarray:
    """Cosine scores of the exact top n for `item` (itself, `excluded` and items not allowed left
    out), by brute force."""
    unit = model.unit_item_factors
    scores = unit @ unit[item]
    scores[[item, *excluded]] = -np.inf
    if allowed is not None:
        scores[~allowed] = -np.inf
    best = np.sort(scores)[::-1][:n]
    return best[np.isfinite(best)]


def test_rows_hold_the_exact_most_similar_items(served: ServedBundle) -> None:
    model = vector_model(served)
    assert model.similar is not None and model.similar.shape == (served.n_items, 100)
    items = np.arange(0, served.n_items, 17)
    rows = np.asarray(model.similar)[items]
    assert not (rows == items[:, None]).any()
    unit = model.unit_item_factors
    scores = np.einsum("id,ikd->ik", unit[items], unit[rows])
    _, exact = model.similar_items(items, 100)
    assert np.allclose(scores, exact, atol=1e-4)  # the same items, in order (ties may swap)
    manifest = served.bundle.manifest
    assert manifest["models"]["als"]["similar_recall@10"] == 1.0  # Flat: exact
    assert "similar:als" in manifest["seconds"]
    assert f"models/als/{SIMILAR_FILE}" in manifest["files"]


def test_unfiltered_answers_equal_exact_search(
    served: ServedBundle, exact_searches: list[int]
) -> None:
    model = vector_model(served)
    for item in range(0, served.n_items, 23):
        picks = similar_picks(served, served.bundle.items[item], Query(n=10, in_stock=False), None)
        assert picks.model == served.label("als")
        assert np.allclose(picks.ranked.scores, exact_top(model, item, 10), atol=1e-4)
        assert picks.ranked.reasons == [f"similar_to:{served.bundle.items[item]}"] * 10
    assert not exact_searches


def test_filters_and_exclusions_apply_to_the_rows(
    served: ServedBundle, exact_searches: list[int]
) -> None:
    item = 7
    model, row = similar_row(served, item)
    excluded = served.bundle.items.ids(row[:3])
    query = Query(n=10, exclude=tuple(excluded))
    picks = similar(served, served.bundle.items[item], query)
    allowed = served.allowed(query)
    assert allowed is not None and not allowed.all()  # the shop's stock filter is on
    assert allowed[picks.ranked.ids].all() and not set(row[:3]) & set(picks.ranked.ids.tolist())
    expected = exact_top(model, item, 10, allowed, row[:3].tolist())
    assert np.allclose(picks.ranked.scores, expected, atol=1e-4)
    assert not exact_searches


def test_a_filter_that_exhausts_the_row_falls_back_to_exact_search(
    served: ServedBundle, exact_searches: list[int]
) -> None:
    item = 11
    model, row = similar_row(served, item)
    masks = {str(name): served.in_category(str(name)) for name in np.unique(served.categories)}
    category = next(  # rare in the item's row, not in the shop
        name for name, mask in masks.items() if mask[row].sum() < 5 and mask.sum() >= 10
    )
    query = Query(n=5, category=category, in_stock=False)
    picks = similar(served, served.bundle.items[item], query)
    assert len(exact_searches) == 1
    expected = exact_top(model, item, 5, masks[category])
    assert len(picks.ranked) == 5 and np.allclose(picks.ranked.scores, expected, atol=1e-4)
    assert masks[category][picks.ranked.ids].all()


def test_cross_sell_of_one_item_uses_the_rows(
    served: ServedBundle, exact_searches: list[int]
) -> None:
    item = served.bundle.items[3]
    basket = cross_sell(served, [item], Query(n=6))
    assert basket.model == f"fallback:similar_items:{served.label('als')}"
    assert basket.ranked.ids.tolist() == similar(served, item, Query(n=6)).ranked.ids.tolist()
    assert not exact_searches
    cross_sell(served, [item, served.bundle.items[4]], Query(n=6))
    assert len(exact_searches) == 1  # a basket of several: the mean vector, searched exactly


def test_a_bundle_without_rows_is_served_by_exact_search(
    models_dir: Path, tmp_path: Path, served: ServedBundle, exact_searches: list[int]
) -> None:
    """A bundle trained before the rows existed (no file, not in the manifest)."""
    shutil.copytree(models_dir, tmp_path / "models")
    folder = Bundle.load(tmp_path / "models").path
    (folder / "models" / "als" / SIMILAR_FILE).unlink()
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["files"][f"models/als/{SIMILAR_FILE}"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    older = ServedBundle(Bundle.load(tmp_path / "models"))
    assert vector_model(older).similar is None
    item = served.bundle.items[5]
    picks = similar(older, item, Query(n=10))
    assert len(exact_searches) == 1
    assert np.allclose(picks.ranked.scores, similar(served, item, Query(n=10)).ranked.scores)


def test_zero_turns_the_rows_off(shop: Path, tmp_path: Path) -> None:
    config = config_from_dict(
        {"models": {"als": {"factors": 8, "iterations": 1}}, "server": {"similar_candidates": 0}}
    )
    report = train(shop / "events.parquet", tmp_path / "models", config)
    assert "similar:als" not in report.seconds
    assert report.bundle is not None and not (report.bundle / "models/als" / SIMILAR_FILE).exists()


@pytest.mark.parametrize("factory", ["HNSW32", "IVF8,Flat"])
def test_rows_from_an_approximate_index_are_checked_for_recall(
    shop: Path, tmp_path: Path, factory: str
) -> None:
    config = config_from_dict(
        {
            "models": {"als": {"factors": 8, "iterations": 2}},
            "index": {"factory": factory, "recall_floor": 0.9, "recall_sample": 200},
            "server": {"similar_candidates": 30},
        }
    )
    report = train(shop / "events.parquet", tmp_path / "models", config)
    assert 0.9 <= report.similar_recall["als"] <= 1.0
    model = vector_model(ServedBundle(Bundle.load(tmp_path / "models")))
    assert model.similar is not None and model.similar.shape[1] == 30


@pytest.mark.parametrize("factory", ["HNSW32", "LSH"])
def test_rows_from_an_approximate_index_leave_the_item_out(factory: str) -> None:
    rng = np.random.default_rng(3)
    model = ALS()
    model.item_factors = rng.standard_normal((300, 16)).astype(np.float32)
    model.precompute_similar(20, VectorIndex.build(model.unit_item_factors, factory))
    rows = np.asarray(model.similar)
    assert rows.shape == (300, 20) and not (rows == np.arange(300)[:, None]).any()
    unit = model.unit_item_factors
    scores = np.einsum("id,ikd->ik", unit, unit[np.maximum(rows, 0)])
    assert np.all(np.diff(np.where(rows >= 0, scores, -2), axis=1) <= 1e-5)  # best first


def test_a_catalogue_smaller_than_the_row_gives_every_other_item() -> None:
    model = ALS()
    model.item_factors = np.random.default_rng(4).standard_normal((5, 4)).astype(np.float32)
    model.precompute_similar(100, VectorIndex.build(model.unit_item_factors, "Flat"))
    rows = np.asarray(model.similar)
    assert rows.shape == (5, 4)
    assert all(sorted(row) == sorted(set(range(5)) - {i}) for i, row in enumerate(rows.tolist()))
