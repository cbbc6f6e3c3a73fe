"""The one model API: every model fits on Interactions and answers in item numbers and scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.data.interactions import Interactions


@dataclass(frozen=True)
class ModelConfig:
    """One `[models.<name>]` table: the model kind and its parameters (checked against the kind's
    Params by recsys.models.model_params, when the config is loaded and when the model is built)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Recommender(Protocol):
    """Models work on item and user numbers. Results are (ids, scores) arrays of shape (len(x), n),
    best first, padded with -1 / -inf where fewer than n items qualify."""

    kind: ClassVar[str]

    def fit(self, interactions: Interactions) -> Self: ...

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items for each user number; `exclude` has one row per user (items never
        returned)."""
        ...

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items like each item number (the item itself left out)."""
        ...

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> Self: ...


@runtime_checkable
class FoldIn(Protocol):
    """Models that can place users they never saw (fresh events, anonymous sessions) on the fly."""

    def fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        """One vector per row of `user_items` (rows over the model's items)."""
        ...

    def recommend_vectors(
        self, vectors: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Complements(Protocol):
    """Models that know what is bought together (cross-sell)."""

    def complements(
        self, baskets: sp.csr_matrix, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-n complements per basket row (a basket's own items excluded): (ids, scores, because),
        `because[r, j]` being the basket item that contributed most to ids[r, j] (-1 if none)."""
        ...


@runtime_checkable
class FitsEvents(Protocol):
    """Models that also learn from the raw events, after fit() on their interactions (e.g.
    cooccurrence's order baskets). recsys.models.fit calls it: never call fit() alone."""

    def fit_events(self, events: Events) -> Self: ...
