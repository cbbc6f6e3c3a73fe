"""Spectral (GF-CF / BSPM) and EASE against their formulas computed densely with numpy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.config import ModelConfig, config_from_dict
from recsys.data import Interactions, Vocabulary
from recsys.errors import ConfigError
from recsys.models import build_model, fit
from recsys.ranking import row_of
from recsys.service import Query, ServedBundle, for_user, session
from recsys.session import SessionSettings, session_picks
from recsys_training.pipeline import train

N_USERS, N_ITEMS = 80, 30


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    rng = np.random.default_rng(5)
    dense = (rng.random((N_USERS, N_ITEMS)) < 0.2) * rng.integers(1, 4, (N_USERS, N_ITEMS))
    dense[:, 7] = 0  # an item nobody touched
    matrix = sp.csr_matrix(dense.astype(np.float32))
    return Interactions(
        matrix,
        Vocabulary([f"u{i}" for i in range(N_USERS)]),
        Vocabulary([f"i{i}" for i in range(N_ITEMS)]),
    )


def dense_scores(model: object, interactions: Interactions) -> np.ndarray:
    return model.scores(sp.csr_matrix(interactions.matrix))  # type: ignore[attr-defined]


def spectral_reference(
    matrix: np.ndarray, factors: int, low_pass: float, sharpen: float
) -> np.ndarray:
    """x (P + low_pass D^-1/2 V V^T D^1/2)(I - sharpen P) for every user row x, all dense."""
    user, item = matrix.sum(axis=1), matrix.sum(axis=0)
    inv = np.where(item > 0, 1 / np.sqrt(np.where(item > 0, item, 1)), 0)
    normalised = matrix / np.sqrt(np.maximum(user, 1e-12))[:, None] * inv[None, :]
    gram = normalised.T @ normalised
    vectors = np.linalg.svd(normalised, full_matrices=False)[2][:factors].T
    ideal = (inv[:, None] * vectors) @ (vectors.T * np.sqrt(item)[None, :])
    return matrix @ (gram + low_pass * ideal) @ (np.eye(len(gram)) - sharpen * gram)


@pytest.mark.parametrize("sharpen", [0.0, 0.7])
def test_spectral_equals_the_dense_filter(interactions: Interactions, sharpen: float) -> None:
    factors = N_ITEMS - 1  # the randomised SVD is exact when it spans (nearly) every dimension
    params = {"neighbours": N_ITEMS, "factors": factors, "low_pass": 0.5, "sharpen": sharpen}
    model = build_model("spectral", ModelConfig("spectral", params)).fit(interactions)
    expected = spectral_reference(interactions.matrix.toarray(), factors, 0.5, sharpen)
    np.testing.assert_allclose(dense_scores(model, interactions), expected, atol=2e-4)


def test_spectral_keeps_its_neighbours_per_item(interactions: Interactions) -> None:
    model = build_model("spectral", ModelConfig("spectral", {"neighbours": 5})).fit(interactions)
    assert np.diff(model.similarity.indptr).max() <= 5
    assert model.user_side.shape == model.item_side.shape == (N_ITEMS, N_ITEMS - 1)


def test_spectral_folds_in_a_new_row_as_a_known_user(interactions: Interactions) -> None:
    model = build_model("spectral", ModelConfig("spectral")).fit(interactions)
    row = interactions.matrix[[4]]
    folded = model.recommend_vectors(model.fold_in(row), 10, row)
    known = model.recommend(np.array([4]), 10, row)
    np.testing.assert_array_equal(folded[0], known[0])


PLAIN_EASE = {
    "regularization": 3.0,
    "low_pass": 0.0,
    "user_weight": 0.0,
    "popularity": 0.0,
    "low_pass_exponent": 0.5,
}


def ease_reference(x: np.ndarray, regularization: float, user_weight: float) -> np.ndarray:
    """EASE's B on the Gram matrix of rows weighted by (n_u / mean n_u)^-user_weight."""
    counts = (x > 0).sum(axis=1).astype(np.float64)
    rows = x * ((counts / counts[counts > 0].mean()) ** -user_weight)[:, None]
    inverse = np.linalg.inv(rows.T @ rows + regularization * np.eye(x.shape[1]))
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0)
    return weights


def test_ease_equals_the_closed_form(interactions: Interactions) -> None:
    model = build_model("ease", ModelConfig("ease", PLAIN_EASE)).fit(interactions)
    x = interactions.matrix.toarray().astype(np.float64)
    np.testing.assert_allclose(model.similarity.toarray(), ease_reference(x, 3.0, 0.0), atol=1e-4)


def test_ease_with_low_pass_adds_spectrals_low_pass_term(interactions: Interactions) -> None:
    factors = N_ITEMS - 1
    params = {**PLAIN_EASE, "low_pass": 0.5, "factors": factors}
    model = build_model("ease", ModelConfig("ease", params)).fit(interactions)
    plain = build_model("ease", ModelConfig("ease", PLAIN_EASE)).fit(interactions)
    expected = dense_scores(plain, interactions) + 0.5 * low_pass_reference(
        interactions.matrix.toarray(), factors
    )
    np.testing.assert_allclose(dense_scores(model, interactions), expected, atol=2e-4)


def test_ease_low_pass_is_the_exact_top_subspace_well_below_full_rank(
    interactions: Interactions,
) -> None:
    """EASE's accurate randomised SVD gives the exact eigenvectors' filter at a rank where
    spectral's quick one (4 iterations, a sketch of rank + 10) need not."""
    factors = 12  # of 29 singular values above 0; spectral's quick SVD is 30x further off here
    params = {**PLAIN_EASE, "low_pass": 1.0, "factors": factors}
    model = build_model("ease", ModelConfig("ease", params)).fit(interactions)
    plain = build_model("ease", ModelConfig("ease", PLAIN_EASE)).fit(interactions)
    term = dense_scores(model, interactions) - dense_scores(plain, interactions)
    expected = low_pass_reference(interactions.matrix.toarray(), factors)
    np.testing.assert_allclose(term, expected, atol=1e-3 * np.abs(expected).max())


def low_pass_reference(x: np.ndarray, factors: int, exponent: float = 0.5) -> np.ndarray:
    """x D^-e V V^T D^e for every user row x (GF-CF's e = 1/2), V from the normalised matrix."""
    user, item = x.sum(axis=1), x.sum(axis=0)
    safe = np.where(item > 0, item, 1)
    normalised = x / np.sqrt(user)[:, None] * np.where(item > 0, safe**-0.5, 0)[None, :]
    vectors = np.linalg.svd(normalised, full_matrices=False)[2][:factors].T
    down, up = np.where(item > 0, safe**-exponent, 0), np.where(item > 0, safe**exponent, 0)
    return x @ (down[:, None] * vectors) @ (vectors.T * up[None, :])


def test_ease_defaults_weigh_users_and_popularity_as_the_dense_formula(
    interactions: Interactions,
) -> None:
    """The default corrections: x (B_a + low_pass L_e) D_i^c with a = user_weight 0.25, B_a EASE
    on the user-weighted rows, L_e the low-pass filter with exponent e = 0.3, c = popularity
    -0.1 and D_i the items' user counts."""
    factors = N_ITEMS - 1
    params = {"factors": factors, "regularization": 3.0}
    model = build_model("ease", ModelConfig("ease", params)).fit(interactions)
    p = model.params
    assert (p.user_weight, p.popularity, p.low_pass_exponent) == (0.25, -0.1, 0.3)
    x = interactions.matrix.toarray().astype(np.float64)
    regularization, low_pass = 3.0, model.params.low_pass
    scale = np.maximum((x > 0).sum(axis=0), 1) ** -0.1
    expected = (
        x @ ease_reference(x, regularization, 0.25) + low_pass * low_pass_reference(x, factors, 0.3)
    ) * scale[None, :]
    got = dense_scores(model, interactions)
    np.testing.assert_allclose(
        got / np.abs(expected).max(), expected / np.abs(expected).max(), atol=2e-4
    )


def test_ease_refuses_a_large_catalogue_naming_spectral(interactions: Interactions) -> None:
    model = build_model("ease", ModelConfig("ease", {"max_items": N_ITEMS - 1}))
    with pytest.raises(ConfigError, match=r'max_items.*use kind "spectral"'):
        model.fit(interactions)
    with pytest.raises(ConfigError) as caught:  # through the one fit call: the table is named
        fit("shop", ModelConfig("ease", {"max_items": 10}), interactions, None)  # type: ignore[arg-type]
    assert caught.value.key == "models.shop.max_items"


@pytest.mark.parametrize(
    ("kind", "params", "key"),
    [
        ("spectral", {"neighbours": 0}, "models.spectral.neighbours"),
        ("spectral", {"low_pass": -1.0}, "models.spectral.low_pass"),
        ("ease", {"regularization": 0.0}, "models.ease.regularization"),
        ("ease", {"lambda": 1.0}, "models.ease.lambda"),
        ("ease", {"user_weight": -0.5}, "models.ease.user_weight"),
        ("ease", {"popularity": 3.0}, "models.ease.popularity"),
        ("ease", {"low_pass_exponent": 1.5}, "models.ease.low_pass_exponent"),
    ],
)
def test_bad_params_name_their_key(kind: str, params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_model(kind, ModelConfig(kind, params))
    assert caught.value.key == key


@pytest.fixture(scope="module")
def item_item_bundle(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> ServedBundle:
    folder = tmp_path_factory.mktemp("item-item")
    models = {"spectral": {"factors": 32}, "ease": {}, "popular": {}}
    train(shop / "events.parquet", folder, config_from_dict({"models": models}))
    return ServedBundle(Bundle.load(folder))


@pytest.mark.parametrize("name", ["spectral", "ease"])
def test_served_picks_fold_in_fresh_events(item_item_bundle: ServedBundle, name: str) -> None:
    """Known users, users with fresh events and newcomers with fresh events are all answered by
    the model (not the popular fallback); what was just bought is never suggested."""
    served = item_item_bundle
    user = int(np.argmax(np.diff(served.bundle.interactions.indptr)))
    user_id = served.bundle.users[user]
    before = for_user(served, user_id, Query(n=10), name)
    assert before.model == served.label(name) and len(before.ranked) == 10
    bought = served.bundle.items[int(before.ranked.ids[0])]
    fresh = [(bought, "purchase")] + [(served.bundle.items[i], "view") for i in range(100, 130)]
    after = for_user(served, user_id, Query(n=10), name, fresh=fresh)
    assert after.model == served.label(name)
    assert int(before.ranked.ids[0]) not in after.ranked.ids.tolist()
    newcomer = for_user(served, "newcomer", Query(n=10), name, fresh=fresh[1:])
    assert newcomer.model == served.label(name) and newcomer.fallback is None
    session_picks = session(served, [served.bundle.items[i] for i in (3, 9, 27)], Query(n=5))
    assert len(session_picks.ranked) == 5


def test_sessions_are_scored_by_the_best_item_based_model(item_item_bundle: ServedBundle) -> None:
    """ease before spectral (before item-kNN): the session's row scored by the model itself, its
    low-pass term included for spectral; the session's items never come back."""
    bundle, seen = item_item_bundle.bundle, np.array([3, 9, 27])
    equal = SessionSettings(half_life=1e9)  # every click weighs 1
    for name, kept in (("ease", ("spectral", "ease")), ("spectral", ("spectral",))):
        only = dataclasses.replace(bundle, models={k: bundle.models[k] for k in kept})
        ids, _, path = session_picks(only, seen, 10, settings=equal)
        assert path == f"session:{name}"
        scores = bundle.models[name].scores(row_of(seen, len(bundle.items)))[0]
        scores[seen] = -np.inf
        assert ids.tolist() == np.argsort(-scores, kind="stable")[:10].tolist()
