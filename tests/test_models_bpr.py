"""BPR over implicit: the item bias rides in the factors, so plain inner products are its scores;
parameters are checked; small matrices still get enough SGD steps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.config import ModelConfig
from recsys.data import Interactions, Vocabulary
from recsys.errors import ConfigError
from recsys.models import build_model
from recsys.models.bpr import BPR, MIN_STEPS


@pytest.fixture(scope="module")
def fitted() -> BPR:
    rng = np.random.default_rng(7)
    matrix = sp.random(50, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    users = Vocabulary([f"u{i}" for i in range(50)])
    interactions = Interactions(matrix, users, Vocabulary([f"i{i}" for i in range(30)]))
    return build_model("bpr", ModelConfig("bpr", {"factors": 8})).fit(interactions)


def test_factors_carry_the_item_bias(fitted: BPR) -> None:
    assert fitted.item_factors.shape == (30, 9) and fitted.user_factors.shape == (50, 9)
    np.testing.assert_allclose(fitted.user_factors[:, -1], 1.0)
    ids, scores = fitted.recommend(np.arange(5), 4)
    full = fitted.user_factors[:5] @ fitted.item_factors.T
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(ids, np.argsort(-full, axis=1)[:, :4])


def test_small_matrices_get_more_epochs() -> None:
    model = BPR()
    assert model.implicit_model(nnz=100).iterations == MIN_STEPS // 100
    assert model.implicit_model(nnz=10**8).iterations == model.params.iterations


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"factors": 0}, "factors"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"regularization": -1.0}, "regularization"),
        ({"iterations": 0}, "iterations"),
    ],
)
def test_bad_parameters_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"models\.b\.{key}"):
        build_model("b", ModelConfig("bpr", params))
