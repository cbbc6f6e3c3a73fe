"""FAISS indexes over item vectors: built from a factory string, searched with exclusions that never
starve a result (over-fetch, then exact search for the rows still short)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.models.base import MISSING_ID, pad, top_n

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
        runs out. Rows that the index cannot fill are answered by exact search."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_items = self.vectors.shape[0]
        most_excluded = (
            int(np.diff(exclude.indptr).max()) if exclude is not None and len(queries) else 0
        )
        k = min(n + most_excluded, n_items)
        if k <= 0 or most_excluded > MAX_OVERFETCH or (self.exact and len(queries) > 64):
            return self.exact_search(queries, n, exclude)
        scores, ids = self.index.search(queries, k)
        ids, scores = drop_excluded(ids.astype(np.int64), scores, exclude, n)
        short = (ids == MISSING_ID).any(axis=1) & (n_items - row_counts(exclude, len(ids)) > 0)
        if short.any():
            fill_ids, fill_scores = self.exact_search(
                queries[short], n, exclude[np.flatnonzero(short)] if exclude is not None else None
            )
            ids[short], scores[short] = fill_ids, fill_scores
        return ids, scores

    def exact_search(
        self, queries: np.ndarray, n: int, exclude: sp.csr_matrix | None = None, batch: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-n in batches (numpy BLAS): the reference every index is checked
        against."""
        ids, scores = [], []
        for start in range(0, len(queries), batch):
            chunk = exclude[start : start + batch] if exclude is not None else None
            found = top_n(queries[start : start + batch] @ self.vectors.T, n, chunk)
            ids.append(found[0])
            scores.append(found[1])
        if not ids:
            return pad(np.empty((0, 0), np.int64), np.empty((0, 0), np.float32), n)
        return np.vstack(ids), np.vstack(scores)

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


def row_counts(exclude: sp.csr_matrix | None, rows: int) -> np.ndarray:
    return np.zeros(rows, np.int64) if exclude is None else np.diff(exclude.indptr)
