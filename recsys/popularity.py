"""Popularity tables: best sellers and trending items (per item; a category's are these masked by
`Catalogue.categories`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.checks import section
from recsys.data.events import Events
from recsys.data.interactions import DEFAULT_WEIGHTS, type_weights
from recsys.errors import ConfigError
from recsys.models.base import ModelConfig
from recsys.models.popular import Popular, PopularParams
from recsys.ranking import top_n

DAY = 86_400
DEFAULT_WINDOW_DAYS = PopularParams.window_days
PARAMS = "params.json"


@dataclass
class Popularity:
    """Per item number: `best_sellers` (purchases, ties broken by interactions) and `trending`
    (events in the last `window_days`, each weighted as `[events.weights]` weighs its type)."""

    best_sellers: np.ndarray
    trending: np.ndarray
    window_days: float = DEFAULT_WINDOW_DAYS

    @classmethod
    def from_events(
        cls,
        events: Events,
        n_items: int,
        window_days: float = DEFAULT_WINDOW_DAYS,
        weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    ) -> Popularity:
        bought = events.is_type("purchase")
        purchases = np.bincount(events.item[bought], minlength=n_items).astype(np.float32)
        touched = np.bincount(events.item, minlength=n_items).astype(np.float32)
        recent = events.timestamp >= events.timestamp.max() - window_days * DAY
        weight = type_weights(events, weights)[recent]
        trending = np.bincount(events.item[recent], weights=weight, minlength=n_items)
        return cls.from_counts(purchases, touched, trending, window_days)

    @classmethod
    def from_counts(
        cls, purchases: np.ndarray, touched: np.ndarray, trending: np.ndarray, window_days: float
    ) -> Popularity:
        """From per-item purchases, events, and weighted events in the trending window (the
        Spark engine counts them itself)."""
        best = purchases + touched / (touched.max(initial=0.0) + 1.0)
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
        (folder / PARAMS).write_text(json.dumps({"window_days": self.window_days}))

    @classmethod
    def load(cls, folder: Path) -> Popularity:
        """The tables saved in `folder`; bundles from before the window was stored counted 7
        days."""
        params = json.loads((folder / PARAMS).read_text()) if (folder / PARAMS).is_file() else {}
        return cls(
            np.load(folder / "best_sellers.npy"),
            np.load(folder / "trending.npy"),
            float(params.get("window_days", DEFAULT_WINDOW_DAYS)),
        )


def trending_window(models: Mapping[str, ModelConfig]) -> float:
    """The trending window in days: `window_days` of the `popular` models of the config (they
    must agree: a bundle has one trending table), else the default."""
    windows = {
        name: section(PopularParams, config.params, f"models.{name}").window_days
        for name, config in models.items()
        if config.kind == Popular.kind
    }
    if len(set(windows.values())) > 1:
        shown = ", ".join(f"models.{name}.window_days = {days:g}" for name, days in windows.items())
        raise ConfigError(f"models.{next(iter(windows))}.window_days", f"must agree: {shown}")
    return next(iter(windows.values()), DEFAULT_WINDOW_DAYS)

