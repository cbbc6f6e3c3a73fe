"""Ranking arrays: top-n with exclusions, padding, and exclusion matrices. Pure numpy/scipy, so the
index, the models and the service all share it without importing each other."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

MISSING_ID = -1  # pads a row of results when fewer than n items are left


def top_n(
    scores: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-n of each row of a dense (batch x items) score matrix, skipping excluded items."""
    scores = np.array(scores, dtype=np.float32, copy=True, ndmin=2)
    if exclude is not None and exclude.nnz:
        rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf
    n_items = scores.shape[1]
    k = min(n, n_items)
    if k <= 0:
        return pad(np.empty((len(scores), 0), np.int64), np.empty((len(scores), 0), np.float32), n)
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < n_items
        else np.tile(np.arange(n_items), (len(scores), 1))
    )
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    best = np.take_along_axis(part_scores, order, axis=1)
    ids[~np.isfinite(best)] = MISSING_ID
    return pad(ids, best, n)


def pad(ids: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Widens results to n columns with -1 / -inf."""
    short = n - ids.shape[1]
    if short <= 0:
        return ids[:, :n], scores[:, :n]
    ids = np.hstack([ids, np.full((len(ids), short), MISSING_ID, np.int64)])
    scores = np.hstack([scores, np.full((len(scores), short), -np.inf, np.float32)])
    return ids, scores


def row_of(items: np.ndarray, n_items: int, values: np.ndarray | None = None) -> sp.csr_matrix:
    """One CSR row holding `items` (repeats summed), built from its parts: a request's row costs
    microseconds, not scipy's format conversions."""
    items = np.asarray(items, np.int64)
    values = np.ones(len(items), np.float32) if values is None else np.asarray(values, np.float32)
    unique, inverse = np.unique(items, return_inverse=True)
    summed = np.bincount(inverse, weights=values, minlength=len(unique)).astype(np.float32)
    indptr = np.array([0, len(unique)], np.int32)
    return sp.csr_matrix((summed, unique.astype(np.int32), indptr), shape=(1, n_items))


def rows_summed(
    matrix: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """The (weighted) sum of some rows of a CSR matrix, dense: their entries gathered at once,
    without scipy's row indexing (which costs more than the sum for a request's few rows)."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[np.asarray(rows) + 1] - starts
    taken = np.arange(int(lengths.sum())) + np.repeat(starts - np.cumsum(lengths) + lengths,
                                                      lengths)  # fmt: skip
    values = matrix.data[taken].astype(np.float64)
    if weights is not None:
        values *= np.repeat(weights, lengths)
    return np.bincount(matrix.indices[taken], values, matrix.shape[1])


def without_self(items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """An exclusion matrix whose row r holds only items[r] (for similar-item queries)."""
    rows = np.arange(len(items))
    return sp.csr_matrix(
        (np.ones(len(items), np.float32), (rows, items)), shape=(len(items), n_items)
    )


def drop_excluded(
    ids: np.ndarray, scores: np.ndarray, exclude: sp.csr_matrix | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Removes excluded ids (and FAISS's -1) from each row, keeps order, pads to n."""
    valid = ids >= 0
    if exclude is not None and exclude.nnz:
        valid &= ~excluded_mask(ids, exclude)
    order = np.argsort(~valid, axis=1, kind="stable")
    ids = np.where(
        np.take_along_axis(valid, order, axis=1), np.take_along_axis(ids, order, 1), MISSING_ID
    )
    scores = np.where(ids >= 0, np.take_along_axis(scores, order, axis=1), -np.inf)
    return pad(ids, scores.astype(np.float32), n)


def excluded_mask(ids: np.ndarray, exclude: sp.csr_matrix) -> np.ndarray:
    """mask[r, j] is True when ids[r, j] is in row r of `exclude`."""
    n_items = exclude.shape[1]
    keys = np.repeat(np.arange(exclude.shape[0], dtype=np.int64), np.diff(exclude.indptr))
    excluded = keys * n_items + exclude.indices
    asked = np.arange(len(ids), dtype=np.int64)[:, None] * n_items + np.maximum(ids, 0)
    return np.isin(asked, excluded)


def max_row_count(exclude: sp.csr_matrix | None) -> int:
    return int(np.diff(exclude.indptr).max()) if exclude is not None and exclude.shape[0] else 0
