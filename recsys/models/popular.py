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
from recsys.errors import ConfigError
from recsys.ranking import drop_excluded, max_row_count, top_n, without_self


@dataclass(frozen=True)
class PopularParams:
    window_days: float = 7.0  # trending: the bundle's popularity tables count this many days

    def check(self, key: str) -> None:
        if not self.window_days > 0:
            raise ConfigError(f"{key}.window_days", f"must be > 0, got {self.window_days}")


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
        ranked, scores = top_n(self.item_scores[None, :], n + max_row_count(exclude))
        rows = len(users)
        return drop_excluded(np.repeat(ranked, rows, 0), np.repeat(scores, rows, 0), exclude, n)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        items = np.asarray(items)
        return self.recommend(items, n, without_self(items, len(self.item_scores)))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "item_scores.npy", self.item_scores)
        (folder / "params.json").write_text(json.dumps(asdict(self.params)))

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> Self:
        model = cls(PopularParams(**params))
        model.item_scores = np.load(folder / "item_scores.npy")
        return model
