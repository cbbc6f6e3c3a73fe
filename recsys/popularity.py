"""Popularity tables: best sellers and trending items, overall or within a category (path
prefix)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.ranking import top_n

DAY = 86_400


@dataclass
class Popularity:
    """Per item number: `best_sellers` (purchases, ties broken by interactions) and `trending`
    (events in the last `window_days`, weighted towards purchases)."""

    best_sellers: np.ndarray
    trending: np.ndarray
    window_days: float = 7.0

    @classmethod
    def from_events(cls, events: Events, n_items: int, window_days: float = 7.0) -> Popularity:
        bought = events.is_type("purchase")
        purchases = np.bincount(events.item[bought], minlength=n_items).astype(np.float32)
        touched = np.bincount(events.item, minlength=n_items).astype(np.float32)
        best = purchases + touched / (touched.max() + 1.0)
        recent = events.timestamp >= events.timestamp.max() - window_days * DAY
        weight = np.where(bought, 5.0, 1.0)[recent]
        trending = np.bincount(events.item[recent], weights=weight, minlength=n_items)
        return cls(best.astype(np.float32), trending.astype(np.float32), window_days)

    def top(
        self,
        n: int,
        allowed: np.ndarray | None = None,
        exclude: sp.csr_matrix | None = None,
        trending: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The n most popular items (one row), only `allowed` ones (a boolean mask) if given."""
        scores = (self.trending if trending else self.best_sellers).astype(np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        ids, best = top_n(scores[None, :], n, exclude)
        return ids[0], best[0]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "best_sellers.npy", self.best_sellers)
        np.save(folder / "trending.npy", self.trending)

    @classmethod
    def load(cls, folder: Path, window_days: float = 7.0) -> Popularity:
        return cls(
            np.load(folder / "best_sellers.npy"), np.load(folder / "trending.npy"), window_days
        )


def category_mask(categories: np.ndarray, category: str) -> np.ndarray:
    """Items in `category` or below it: 'shoes' matches 'shoes' and 'shoes/running', not
    'shoestring'."""
    return np.fromiter(
        (c == category or c.startswith(category + "/") for c in categories),
        dtype=bool,
        count=len(categories),
    )
