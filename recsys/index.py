"""FAISS indexes over item vectors: built from a factory string, searched with exclusions that never
starve a result (over-fetch, then exact search for the rows still short)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.models.base import MISSING_ID, pad

MAX_OVERFETCH = 2_000


class VectorIndex:
    """Maximum-inner-product search over `vectors` (items x d, float32)."""

    def __init__(self, vectors: np.ndarray, index: faiss.Index) -> None:
        self.vectors = vectors
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str = "Flat") -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(
                "index.factory",
                f"FAISS cannot build {factory!r}: {str(exc).strip().splitlines()[-1]}",
            ) from None
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        return cls(vectors, index)

    @property
    def exact(self) -> bool:
        return isinstance(self.index, faiss.IndexFlat)

    def search(
        self, queries: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items per query row, none of the row's excluded items, padded when the catalogue
        runs out. Rows that an approximate index cannot fill are answered by exact search."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        most_excluded = max_row_count(exclude)
        k = min(n + most_excluded, self.vectors.shape[0])
        if self.exact or k <= 0 or most_excluded > MAX_OVERFETCH:
            return self.exact_search(queries, n, exclude)
        scores, ids = self.index.search(queries, k)
        ids, scores = drop_excluded(ids, scores, exclude, n)
        left = self.vectors.shape[0] - row_counts(exclude, len(ids))
        short = ((ids >= 0).sum(axis=1) < np.minimum(n, left)).nonzero()[0]
        if len(short):
            rows = exclude[short] if exclude is not None else None
            ids[short], scores[short] = self.exact_search(queries[short], n, rows)
        return ids, scores

    def exact_search(
        self, queries: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute force with FAISS's BLAS kernel, over-fetching by the most items any row excludes:
        the reference every approximate index is checked against."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(n + max_row_count(exclude), self.vectors.shape[0])
        if k <= 0 or len(queries) == 0:
            empty = np.empty((len(queries), 0))
            return pad(empty.astype(np.int64), empty.astype(np.float32), n)
        scores, ids = faiss.knn(queries, self.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        return drop_excluded(ids, scores, exclude, n)

    def recall(self, queries: np.ndarray, k: int = 10) -> float:
        """recall@k of this index against exact search on the same queries."""
        if len(queries) == 0:
            return 1.0
        _, approx = self.index.search(np.ascontiguousarray(queries, np.float32), k)
        truth, _ = self.exact_search(queries, k)
        hits = sum(len(set(a[a >= 0]) & set(t[t >= 0])) for a, t in zip(approx, truth, strict=True))
        return hits / max(1, int((truth >= 0).sum()))

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray) -> VectorIndex:
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            index = faiss.read_index(str(path))
        return cls(vectors, index)


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


def row_counts(exclude: sp.csr_matrix | None, rows: int) -> np.ndarray:
    return np.zeros(rows, np.int64) if exclude is None else np.diff(exclude.indptr)
