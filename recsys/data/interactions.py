"""Interactions: the weighted user-item matrix that models are fitted on, with its vocabularies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recsys.checks import at_least, between, one_of
from recsys.data.events import Events
from recsys.data.vocabulary import Vocabulary
from recsys.errors import ConfigError

DAY = 86_400.0
DEFAULT_WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}


@dataclass(frozen=True)
class EventsConfig:
    """The `[events]` table: how events become the interactions models learn from."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    damping: str = "log1p"
    half_life_days: float = 0.0
    relevant: tuple[str, ...] = ("purchase",)
    max_price: float = 1_000_000.0  # a unit price above this is refused (POST /v1/events)

    def check(self, key: str) -> None:
        if not self.weights:
            raise ConfigError(f"{key}.weights", "needs at least one event type")
        for name, weight in self.weights.items():
            if not name or weight < 0:
                raise ConfigError(f"{key}.weights.{name}", "must be a weight >= 0")
        one_of(f"{key}.damping", self.damping, ("log1p", "none"))
        at_least(f"{key}.half_life_days", self.half_life_days, 0)
        between(f"{key}.max_price", self.max_price, 0, 1e15)


@dataclass
class Interactions:
    """`matrix[u, i]` is user u's (damped, decayed) weighted interest in item i; CSR, float32."""

    matrix: sp.csr_matrix
    users: Vocabulary
    items: Vocabulary

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    @classmethod
    def from_events(
        cls,
        events: Events,
        config: EventsConfig,
        items: Vocabulary | None = None,
        now: int | None = None,
    ) -> Interactions:
        """Weights each event by its type, decays old ones (half-life), sums per pair, then damps.

        `items` may extend the item vocabulary (e.g. with catalogue items that have no events yet);
        `now` is the reference time for decay, by default the newest event.
        """
        items = items or events.items
        weights = event_weights(events, config, now)
        matrix = pair_sums(events.user, events.item, weights, (len(events.users), len(items)))
        if config.damping == "log1p":
            np.log1p(matrix.data, out=matrix.data)
        matrix.eliminate_zeros()
        return cls(matrix, events.users, items)

    def subset(self, matrix: sp.csr_matrix) -> Interactions:
        """The same vocabularies over another matrix of the same shape (e.g. a training split)."""
        return Interactions(matrix.tocsr(), self.users, self.items)


def type_weights(events: Events, weights: Mapping[str, float]) -> np.ndarray:
    """Each event's weight by its type (0 for types `weights` does not name)."""
    by_type = np.array([weights.get(name, 0.0) for name in events.event_types], np.float32)
    return by_type[events.event]


def event_weights(events: Events, config: EventsConfig, now: int | None = None) -> np.ndarray:
    weights = type_weights(events, config.weights)
    if config.half_life_days > 0 and len(events):
        reference = events.timestamp.max() if now is None else now
        age_days = (reference - events.timestamp).clip(min=0) / DAY
        weights = weights * np.exp2(-age_days / config.half_life_days).astype(np.float32)
    return weights


def pair_sums(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix of `values` summed per (row, col)."""
    matrix = sp.csr_matrix(
        (values.astype(np.float32, copy=False), (rows, cols)), shape=shape, dtype=np.float32
    )
    matrix.sum_duplicates()
    return matrix


def events_matrix(events: Events, rows: np.ndarray, n_items: int | None = None) -> sp.csr_matrix:
    """Binary users x items CSR (float32): 1 where the user has one of the events `rows` (a mask or
    row numbers). `n_items` may widen the events' item vocabulary (e.g. with catalogue items)."""
    users, items = events.user[rows], events.item[rows]
    shape = (len(events.users), len(events.items) if n_items is None else n_items)
    matrix = pair_sums(users, items, np.ones(len(users), np.float32), shape)
    matrix.data[:] = 1.0
    return matrix


def purchases_matrix(events: Events, n_items: int) -> sp.csr_matrix:
    """Binary CSR of what each user bought: the default exclusions of personalised picks."""
    return events_matrix(events, events.is_type("purchase"), n_items)
