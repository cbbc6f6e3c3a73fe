"""ALS fold-in: one row (a request's) solved by recsys.models.als.fold_in_row equals implicit's
recalculate_user, the path every batch still takes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.als import ALS, ALSParams
from recsys.ranking import row_of, rows_summed


def fitted() -> ALS:
    rng = np.random.default_rng(3)
    matrix = sp.random(300, 120, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    model = ALS(ALSParams(factors=8, iterations=3))
    return model.set_factors(*model._fit_factors(matrix))


def test_one_row_equals_implicits_recalculate_user() -> None:
    model = fitted()
    implicit_model, _ = model.fold_in_model()
    rows = [([3, 7, 50], [1.0, 2.5, 0.3]), ([9], [4.0]), ([2, 5, 6, 8], [1.0, -1.0, 3.0, 0.5])]
    for items, values in rows:
        row = row_of(np.array(items), 120, np.array(values, np.float32))
        expected = implicit_model.recalculate_user(np.arange(1), row)
        np.testing.assert_allclose(model.fold_in(row), expected, rtol=1e-4, atol=1e-5)
    empty = row_of(np.zeros(0, np.int64), 120)
    assert np.array_equal(model.fold_in(empty), np.zeros((1, 8), np.float32))


def test_many_rows_take_implicits_path() -> None:
    model = fitted()
    rows = sp.random(5, 120, density=0.1, format="csr", dtype=np.float32, random_state=1)
    vectors = model.fold_in(rows)
    assert vectors.shape == (5, 8)
    for index in range(5):
        np.testing.assert_allclose(model.fold_in(rows[index]), vectors[index : index + 1],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip


def test_rows_summed_equals_scipys_row_sum() -> None:
    rng = np.random.default_rng(3)
    keep = np.ones(40, np.float32)
    keep[7] = 0  # an empty row
    matrix = sp.random(40, 30, density=0.2, format="csr", random_state=4, dtype=np.float32)
    matrix = sp.csr_matrix(sp.diags(keep) @ matrix)
    matrix.eliminate_zeros()
    rows = np.array([7, 3, 3, 12, 39])  # repeats count twice
    weights = rng.random(len(rows)).astype(np.float32)
    expected = (matrix[rows].toarray() * weights[:, None]).sum(axis=0)
    np.testing.assert_allclose(rows_summed(matrix, rows, weights), expected, rtol=1e-6)
    np.testing.assert_allclose(rows_summed(matrix, rows), matrix[rows].toarray().sum(axis=0))
    assert rows_summed(matrix, np.empty(0, np.int64)).tolist() == [0.0] * 30
