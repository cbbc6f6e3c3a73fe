"""Co-visitation item-kNN: items visited in the same short visit, the session item-kNN of
session-based recommendation (Hidasi et al., ICLR 2016, its "Item-KNN" baseline; Ludewig and
Jannach, 2018), for personal picks.

A visit is a session (`session_id`) where the events set one, else a run of one user's events each
within `gap_minutes` of the one before. With c_ij the visits holding items i and j and n_i the
visits holding i, item i suggests j with c_ij / (n_i^alpha n_j^(1 - alpha) + shrinkage), its
`neighbours` best kept; a user's row of the interaction matrix times that matrix scores every item.
Within minutes, a visitor looks at variants and companions of one product, which whole histories
blur (item-kNN on them, ALS): on retailrocket-cml this is what the held-out purchases follow
(docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recsys.checks import at_least, between
from recsys.data.events import Events
from recsys.data.interactions import Interactions
from recsys.models.cooccurrence import binary, column_codes
from recsys.models.item_similarity import ItemSimilarityModel, top_k_per_row

MINUTE = 60


@dataclass(frozen=True)
class CovisitParams:
    gap_minutes: float = 3.0  # a user's events this close to the one before: one visit
    alpha: float = 0.7  # how much of the pair's normalisation is the suggesting item's count
    shrinkage: float = 50.0  # added to the normalisation: rare pairs count less
    neighbours: int = 200  # kept per item

    def check(self, key: str) -> None:
        at_least(f"{key}.gap_minutes", self.gap_minutes, 0.01)
        between(f"{key}.alpha", self.alpha, 0, 1)
        at_least(f"{key}.shrinkage", self.shrinkage, 0)
        between(f"{key}.neighbours", self.neighbours, 1, 10_000)


class Covisit(ItemSimilarityModel):
    """fit() alone takes each user's whole history as one visit (no times known); recsys.models.fit
    then calls fit_events() with the events, whose visits replace it. The whole-history matrix
    costs far more than the visits' (21 s against 0.05 s on retailrocket-cml), so it is only
    computed when asked for before fit_events() came."""

    kind: ClassVar[str] = "covisit"
    Params: ClassVar[type] = CovisitParams

    @property
    def similarity(self) -> sp.csr_matrix:
        rows = getattr(self, "_unvisited", None)
        if rows is not None:
            self._unvisited, self._similarity = None, self.similarity_of(rows)
        return self._similarity

    @similarity.setter
    def similarity(self, value: sp.csr_matrix) -> None:
        self._unvisited, self._similarity = None, value

    def fit(self, interactions: Interactions) -> Self:
        n_items = interactions.matrix.shape[1]
        self._keep(sp.csr_matrix((n_items, n_items), dtype=np.float32), interactions.matrix)
        self._unvisited = interactions.matrix
        return self

    def fit_events(self, events: Events) -> Self:
        """The similarity from the events' visits (same item numbers as the interactions)."""
        gap, n_items = self.params.gap_minutes * MINUTE, self.user_items.shape[1]
        self._keep(self.similarity_of(visit_matrix(events, gap, n_items)), self.user_items)
        return self

    def similarity_of(self, visits: sp.spmatrix) -> sp.csr_matrix:
        """(items x items) c_ij / (n_i^alpha n_j^(1 - alpha) + shrinkage) of binary `visits`
        (visits x items), the diagonal dropped, the best `neighbours` of each row kept."""
        p = self.params
        visits = binary(visits)
        together = sp.coo_matrix(visits.T @ visits)
        count = np.bincount(visits.indices, minlength=visits.shape[1]).astype(np.float64)
        keep = together.row != together.col
        row, col = together.row[keep], together.col[keep]
        scale = count[row] ** p.alpha * count[col] ** (1 - p.alpha) + p.shrinkage
        values = (together.data[keep] / scale).astype(np.float32)
        similarity = sp.csr_matrix((values, (row, col)), shape=together.shape)
        return top_k_per_row(similarity, p.neighbours)


def visit_matrix(events: Events, gap_seconds: float, n_items: int) -> sp.csr_matrix:
    """Binary (visits x items): by `session_id` where set, else runs of a user's events each within
    `gap_seconds` of the one before."""
    key = column_codes(events, np.arange(len(events)), "session_id")
    unset = np.flatnonzero(key < 0)
    order = unset[np.lexsort((events.timestamp[unset], events.user[unset]))]
    user, time = events.user[order], events.timestamp[order]
    starts = np.r_[True, (np.diff(user) != 0) | (np.diff(time) > gap_seconds)][: len(order)]
    key[order] = key.max(initial=-1) + np.cumsum(starts)
    _, visit = np.unique(key, return_inverse=True)
    n_visits = int(visit.max()) + 1 if len(visit) else 0
    ones = np.ones(len(visit), np.float32)
    return sp.csr_matrix((ones, (visit, events.item)), shape=(n_visits, n_items))
