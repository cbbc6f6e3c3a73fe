"""Models that score by inner product of user and item vectors (ALS, BPR): one search path for
all."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recsys import batch_search
from recsys.data.interactions import Interactions
from recsys.index import VectorIndex
from recsys.ranking import drop_excluded, without_self

INDEX_FILE = "index.faiss"
CANDIDATES_FILE = "candidates.npy"
CANDIDATE_ROWS_FILE = "candidate_rows.npy"
SIMILAR_FILE = "similar.npy"


class VectorModel:
    """Holds user and item factors and a FAISS index of the item factors. Subclasses implement
    `_fit_factors` (and may override `fold_in`)."""

    kind: ClassVar[str] = "vector"
    Params: ClassVar[type]

    def __init__(self, params: Any = None) -> None:
        self.params = params or self.Params()
        self.user_factors = np.zeros((0, 0), np.float32)
        self.item_factors = np.zeros((0, 0), np.float32)
        self._index: VectorIndex | None = None
        self._unit_items: np.ndarray | None = None
        self.candidates: np.ndarray | None = None  # rows x C item numbers, best first (serving)
        self.candidate_rows: np.ndarray | None = None  # per user, its row of candidates or -1
        self.similar: np.ndarray | None = None  # items x S most similar item numbers, best first

    def fit(self, interactions: Interactions) -> Self:
        return self.set_factors(*self._fit_factors(interactions.matrix))

    def set_factors(self, users: np.ndarray, items: np.ndarray) -> Self:
        """Takes factors fitted elsewhere (e.g. by Spark), one row per user and item number."""
        self.user_factors = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(items, dtype=np.float32)
        self._index, self._unit_items = None, None
        return self

    def _fit_factors(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = VectorIndex.build(self.item_factors, "Flat")
        return self._index

    def build_index(self, factory: str) -> VectorIndex:
        self._index = VectorIndex.build(self.item_factors, factory)
        return self._index

    def precompute_candidates(
        self, count: int, users: np.ndarray | None = None, batch: int = 2048
    ) -> None:
        """The top-`count` items of each of `users` (default: every known user), saved with the
        model: the server filters and re-ranks these instead of searching the index per request."""
        count = min(count, len(self.item_factors))
        users = np.arange(len(self.user_factors)) if users is None else np.asarray(users)
        self.candidates, self.candidate_rows = None, None
        if count <= 0 or not len(users):
            return
        queries = np.ascontiguousarray(self.user_factors[users], dtype=np.float32)
        self.candidates = self.best_items(queries, count, batch).astype(np.int32)
        self.candidate_rows = np.full(len(self.user_factors), -1, np.int32)
        self.candidate_rows[users] = np.arange(len(users), dtype=np.int32)

    def best_items(self, queries: np.ndarray, count: int, batch: int) -> np.ndarray:
        """Each query's `count` best item numbers, best first: brute force by blocks when the
        index is exact (recsys.batch_search: the flat index's answer, several times faster), else
        the approximate index's own search, exactly re-scored and ordered."""
        if self.index.exact:
            return batch_search.top_k(queries, self.item_factors, count)[1]
        found = batch_search.in_blocks(
            lambda _, block: self.index.ann_search(block, count)[1], queries, batch
        )
        return np.vstack(found)

    def candidates_for(self, user: int) -> np.ndarray | None:
        """The user's precomputed best-first items, or None when none were precomputed."""
        if self.candidates is None or self.candidate_rows is None:
            return None
        row = int(self.candidate_rows[user])
        return self.candidates[row] if row >= 0 else None

    def precompute_similar(self, count: int, index: VectorIndex, batch: int = 2048) -> None:
        """Each item's `count` most similar items by cosine, best first (the item itself left out,
        -1 padding), searched in `index`, a VectorIndex over `unit_item_factors`, a block of items
        per core (batch_search.in_blocks). Saved with the model: the server filters these rows
        instead of scoring every item per request."""
        n_items = len(self.item_factors)
        count = min(count, n_items - 1)
        self.similar = None
        if count <= 0:
            return

        def most_similar(start: int, queries: np.ndarray) -> np.ndarray:
            scores, ids = index.ann_search(queries, count + 1)
            items = np.arange(start, start + len(ids))
            return drop_excluded(ids, scores, without_self(items, n_items), count)[0]

        queries = np.ascontiguousarray(self.unit_item_factors, dtype=np.float32)
        rows = batch_search.in_blocks(most_similar, queries, batch)
        self.similar = np.vstack(rows).astype(np.int32)

    def similar_for(self, item: int) -> np.ndarray | None:
        """The item's precomputed most similar items, best first, or None when none were saved."""
        return None if self.similar is None else self.similar[item]

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(self.user_factors[np.asarray(users)], n, exclude)

    def recommend_vectors(
        self, vectors: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n for user vectors made on the fly (fold-in of fresh or anonymous activity)."""
        return self.index.search(vectors, n, exclude)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity of item factors (unit vectors, exact search)."""
        items = np.asarray(items)
        unit = VectorIndex(self.unit_item_factors, self.index.index)
        return unit.exact_search(
            self.unit_item_factors[items], n, without_self(items, len(self.unit_item_factors))
        )

    @property
    def unit_item_factors(self) -> np.ndarray:
        """Item factors scaled to unit length (cosine similarity), computed once."""
        if self._unit_items is None:
            norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
            self._unit_items = self.item_factors / np.maximum(norms, 1e-12)
        return self._unit_items

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "user_factors.npy", self.user_factors)
        np.save(folder / "item_factors.npy", self.item_factors)
        (folder / "params.json").write_text(json.dumps(asdict(self.params)))
        self.index.save(folder / INDEX_FILE)
        if self.candidates is not None and self.candidate_rows is not None:
            np.save(folder / CANDIDATES_FILE, self.candidates)
            np.save(folder / CANDIDATE_ROWS_FILE, self.candidate_rows)
        if self.similar is not None:
            np.save(folder / SIMILAR_FILE, self.similar)

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> Self:
        model = cls(cls.Params(**params))
        model.user_factors = np.load(folder / "user_factors.npy", mmap_mode="r")
        model.item_factors = np.load(folder / "item_factors.npy", mmap_mode="r")
        model._index = VectorIndex.load(folder / INDEX_FILE, model.item_factors)
        if (folder / CANDIDATES_FILE).is_file():
            model.candidates = np.load(folder / CANDIDATES_FILE, mmap_mode="r")
            model.candidate_rows = np.load(folder / CANDIDATE_ROWS_FILE, mmap_mode="r")
        if (folder / SIMILAR_FILE).is_file():  # bundles trained before it was precomputed lack it
            model.similar = np.load(folder / SIMILAR_FILE, mmap_mode="r")
        return model
