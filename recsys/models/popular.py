"""Popularity: the same best sellers for everyone. The baseline every model must beat, and the
fallback."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recsys.data.interactions import Interactions
from recsys.models.base import top_n


@dataclass(frozen=True)
class PopularParams:
    def check(self, key: str) -> None:
        """No parameters yet."""


class Popular:
    """Scores each item by how many users interacted with it (weighted by the matrix values)."""

    kind: ClassVar[str] = "popular"
    Params: ClassVar[type] = PopularParams

    def __init__(self, params: PopularParams | None = None) -> None:
        self.params = params or PopularParams()
        self.item_scores = np.zeros(0, np.float32)

    def fit(self, interactions: Interactions) -> Self:
        counts = np.asarray((interactions.matrix > 0).sum(axis=0)).ravel().astype(np.float32)
        self.item_scores = counts
        return self

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        ranked, _ = top_n(self.item_scores[None, :], n + max_row(exclude))
        ranked = np.repeat(ranked, len(users), axis=0)
        return top_n_of_candidates(ranked, self.item_scores, n, exclude)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(items))
        exclude = sp.csr_matrix(
            (np.ones(len(items)), (rows, np.asarray(items))),
            shape=(len(items), len(self.item_scores)),
        )
        return self.recommend(rows, n, exclude)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "item_scores.npy", self.item_scores)
        (folder / "params.json").write_text(json.dumps(asdict(self.params)))

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> Self:
        model = cls(PopularParams(**params))
        model.item_scores = np.load(folder / "item_scores.npy")
        return model


def max_row(exclude: sp.csr_matrix | None) -> int:
    return int(np.diff(exclude.indptr).max()) if exclude is not None and exclude.shape[0] else 0


def top_n_of_candidates(
    candidates: np.ndarray, item_scores: np.ndarray, n: int, exclude: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n of per-row candidate lists (-1 padded), skipping each row's excluded items."""
    scores = np.where(candidates >= 0, item_scores[np.maximum(candidates, 0)], -np.inf)
    if exclude is not None and exclude.nnz:
        from recsys.index import excluded_mask

        scores[excluded_mask(candidates, exclude)] = -np.inf
    local, best = top_n(scores, n)
    ids = np.where(local >= 0, np.take_along_axis(candidates, np.maximum(local, 0), 1), -1)
    return ids, best
