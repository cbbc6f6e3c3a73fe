"""Session picks for anonymous visitors: fold-in, kNN blend, exclusions and the popular fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.bundle import Bundle
from recsys.session import SessionSettings, recency_weights, session_picks


@pytest.fixture(scope="module")
def bundle(models_dir: Path) -> Bundle:
    return Bundle.load(models_dir)


def test_a_couple_of_clicks_give_personal_picks_without_the_seen_items(bundle: Bundle) -> None:
    seen = np.array([3, 17, 42])
    ids, scores, path = session_picks(bundle, seen, 10)
    assert path.startswith("session:") and "als" in path
    assert len(ids) == 10 and len(set(ids.tolist())) == 10
    assert not set(seen.tolist()) & set(ids.tolist())
    assert np.all(np.diff(scores) <= 0)


def test_picks_follow_the_session_not_the_best_sellers(bundle: Bundle) -> None:
    popular, _ = bundle.popularity.top(10)
    first, _, _ = session_picks(bundle, np.array([5, 6]), 10)
    other, _, _ = session_picks(bundle, np.array([300, 301]), 10)
    assert set(first.tolist()) != set(other.tolist())
    assert set(first.tolist()) != set(popular.tolist())


def test_exclude_list_is_honoured(bundle: Bundle) -> None:
    ids, _, _ = session_picks(bundle, np.array([1, 2]), 10)
    again, _, _ = session_picks(bundle, np.array([1, 2]), 10, exclude=ids[:5])
    assert not set(ids[:5].tolist()) & set(again.tolist())
    assert len(again) == 10


@pytest.mark.parametrize("items", [np.array([], np.int64), np.array([-1, 10**9])])
def test_no_known_items_fall_back_to_popular(bundle: Bundle, items: np.ndarray) -> None:
    ids, _, path = session_picks(bundle, items, 5)
    assert path == "fallback:popular"
    assert ids.tolist() == bundle.popularity.top(5)[0].tolist()


def test_a_small_catalogue_never_pads_with_missing_ids(bundle: Bundle) -> None:
    n_items = len(bundle.items)
    ids, scores, _ = session_picks(bundle, np.arange(n_items - 3), 10)
    assert len(ids) == 3 and (ids >= 0).all() and np.isfinite(scores).all()


def test_latest_click_weighs_most() -> None:
    weights = recency_weights(3, half_life=1.0)
    assert weights.tolist() == [0.25, 0.5, 1.0]


def test_a_share_for_a_missing_model_goes_to_the_one_there(bundle: Bundle) -> None:
    assert not any(model.kind in ("itemknn", "bm25") for model in bundle.models.values())
    _, _, path = session_picks(bundle, np.array([3, 4]), 5, settings=SessionSettings(0.0))
    assert path == "session:als"
