"""Frequently bought together (cross-sell): item pairs that share order baskets more often than
chance, scored by lift or confidence with a minimum support and shrinkage for rare pairs.

Substitutes (two phones) are viewed together but rarely bought together, so only baskets make the
main score. An item with too few baskets falls back, at a much lower weight, to items co-viewed in
the same sessions and then to the cosine of the whole interaction matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recsys.checks import at_least, between, one_of
from recsys.data.events import Events
from recsys.data.interactions import Interactions
from recsys.models.item_similarity import ItemSimilarityModel, cosine_similarity, top_k_per_row
from recsys.ranking import MISSING_ID

HOUR = 3_600


@dataclass(frozen=True)
class CooccurrenceParams:
    measure: str = "lift"  # lift | confidence
    min_support: int = 1  # baskets a pair must share to count (shrinkage tames rare ones)
    shrinkage: float = 5.0  # a pair seen c times is weighted c / (c + shrinkage)
    min_baskets: int = 2  # items in fewer baskets also get the fallbacks
    fallback_weight: float = 0.01  # co-view scale (cosine <= 1) below basket scores
    window_hours: float = 24.0  # a user's purchases this close form a basket when no order_id
    neighbours: int = 100

    def check(self, key: str) -> None:
        one_of(f"{key}.measure", self.measure, ("lift", "confidence"))
        at_least(f"{key}.min_support", self.min_support, 1)
        at_least(f"{key}.shrinkage", self.shrinkage, 0)
        at_least(f"{key}.min_baskets", self.min_baskets, 0)
        between(f"{key}.fallback_weight", self.fallback_weight, 0, 1)
        at_least(f"{key}.window_hours", self.window_hours, 0.001)
        between(f"{key}.neighbours", self.neighbours, 1, 10_000)


class Cooccurrence(ItemSimilarityModel):
    """fit() alone gives the interaction-cosine fallback; recsys.models.fit then calls fit_events()
    (or a caller fit_baskets()) for the basket scores. recommend() scores from a user's items;
    similar_items() are the complements of one item."""

    kind: ClassVar[str] = "cooccurrence"
    Params: ClassVar[type] = CooccurrenceParams

    def __init__(self, params: CooccurrenceParams | None = None) -> None:
        super().__init__(params)
        self._interaction_similarity: sp.csr_matrix | None = None

    def fit(self, interactions: Interactions) -> Self:
        self._interaction_similarity = cosine_similarity(
            interactions.matrix, self.params.neighbours
        )
        self._keep(self._interaction_similarity, interactions.matrix)
        return self

    def fit_events(self, events: Events) -> Self:
        """Basket and co-view scores from the raw events (after fit() on their interactions)."""
        return self.fit_baskets(*baskets_and_views(events, self.params.window_hours, self.n_items))

    def fit_baskets(self, baskets: sp.csr_matrix, views: sp.csr_matrix | None = None) -> Self:
        """`baskets` (baskets x items) and `views` (sessions x items), any positive value meaning
        'in it'. Items in fewer than min_baskets baskets get the fallbacks added."""
        p = self.params
        baskets = binary(baskets)
        scores = pair_scores(baskets, p)
        in_baskets = np.bincount(baskets.indices, minlength=baskets.shape[1])
        thin = in_baskets < p.min_baskets
        fallback = sp.csr_matrix(scores.shape, dtype=np.float32)
        if views is not None:
            fallback = cosine_similarity(binary(views), p.neighbours) * p.fallback_weight
        backup = self._interaction_similarity
        if backup is not None and backup.shape == scores.shape:
            fallback = fallback + backup * p.fallback_weight**2
        if self.user_items.shape[1] != scores.shape[1]:  # fit() never ran: no users known
            self.user_items = sp.csr_matrix((0, scores.shape[1]), dtype=np.float32)
        rows_of_thin = sp.diags(thin.astype(np.float32))
        self._keep(scores + rows_of_thin @ top_k_per_row(fallback, p.neighbours), self.user_items)
        return self

    def complements(
        self, baskets: sp.csr_matrix, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores summed over each basket's items, its own items excluded; `because` names the
        basket item whose pair scored highest. Padded with -1 / -inf where nothing is known."""
        baskets = binary(baskets)
        ids = np.full((baskets.shape[0], n), MISSING_ID, np.int64)
        scores = np.full((baskets.shape[0], n), -np.inf, np.float32)
        for row in range(baskets.shape[0]):
            own = baskets.indices[baskets.indptr[row] : baskets.indptr[row + 1]]
            found, summed = self.basket_scores(own)
            keep = (summed > 0) & ~np.isin(found, own)  # no evidence: the caller's fallback
            found, summed = found[keep], summed[keep]
            best = np.argsort(-summed, kind="stable")[:n]  # ties: lower item number first
            ids[row, : len(best)], scores[row, : len(best)] = found[best], summed[best]
        return ids, scores, self.because(baskets, ids)

    def basket_scores(self, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The items suggested by any of `own` and their summed scores, from the similarity rows
        alone: a sparse sum over a few hundred entries, never an items-long array."""
        matrix = self.similarity
        spans = [slice(matrix.indptr[i], matrix.indptr[i + 1]) for i in own.tolist()]
        found = np.concatenate([matrix.indices[s] for s in spans] or [np.empty(0, np.int32)])
        values = np.concatenate([matrix.data[s] for s in spans] or [np.empty(0, np.float32)])
        items, where = np.unique(found, return_inverse=True)
        return items.astype(np.int64), np.bincount(where, values, len(items)).astype(np.float32)

    def because(self, baskets: sp.csr_matrix, ids: np.ndarray) -> np.ndarray:
        found = np.full(ids.shape, MISSING_ID, np.int64)
        for row, picked in enumerate(ids):
            own = baskets.indices[baskets.indptr[row] : baskets.indptr[row + 1]]
            valid = picked >= 0
            if len(own) == 1:  # a one-item basket: that item is every pick's reason
                found[row, valid] = own[0]
            elif len(own) and valid.any():
                pair = self.similarity[own][:, picked[valid]].toarray()
                found[row, valid] = own[pair.argmax(axis=0)]
        return found


def pair_scores(baskets: sp.csr_matrix, p: CooccurrenceParams) -> sp.csr_matrix:
    """Lift (or confidence) of every pair sharing at least min_support baskets, times the
    shrinkage c / (c + shrinkage); the `neighbours` best kept per item."""
    together = sp.coo_matrix(baskets.T @ baskets)
    per_item = together.diagonal().astype(np.float64)
    keep = (together.row != together.col) & (together.data >= p.min_support)
    row, col, count = together.row[keep], together.col[keep], together.data[keep].astype(float)
    if p.measure == "lift":
        measure = count * baskets.shape[0] / (per_item[row] * per_item[col])
    else:
        measure = count / per_item[row]
    weighted = measure * count / (count + p.shrinkage)
    scores = sp.csr_matrix((weighted.astype(np.float32), (row, col)), shape=together.shape)
    return top_k_per_row(scores, p.neighbours)


def baskets_and_views(
    events: Events, window_hours: float, n_items: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary (baskets x items) of the purchases and (sessions x items) of the views (of every
    event when the shop records no views)."""
    baskets = group_matrix(events, events.is_type("purchase"), "order_id", window_hours, n_items)
    viewed = events.is_type("view") if "view" in events.event_types else np.ones(len(events))
    views = group_matrix(events, viewed.astype(bool), "session_id", window_hours, n_items)
    return baskets, views


def group_matrix(
    events: Events, mask: np.ndarray, column: str, window_hours: float, n_items: int
) -> sp.csr_matrix:
    """Binary (groups x items) of the masked events, grouped by `column` where it is set (an
    order or session id), else by user and time window."""
    rows = np.flatnonzero(mask)
    key = column_codes(events, rows, column)
    unset = key < 0
    if unset.any():
        window = events.timestamp[rows[unset]] // max(1, int(window_hours * HOUR))
        pairs = np.stack([events.user[rows[unset]].astype(np.int64), window])
        _, by_user = np.unique(pairs, axis=1, return_inverse=True)
        key[unset] = key.max(initial=-1) + 1 + by_user.ravel()
    _, group = np.unique(key, return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    matrix = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (group, events.item[rows])), shape=(n_groups, n_items)
    )
    return binary(matrix)


def column_codes(events: Events, rows: np.ndarray, column: str) -> np.ndarray:
    """Per row of `events` in `rows`, a number for its value of the optional `column` (an order or
    session id; equal values, equal numbers), -1 where it is not set."""
    if column not in events.extra.column_names or not len(rows):
        return np.full(len(rows), -1, np.int64)
    codes = events.extra.column(column).take(rows).combine_chunks().dictionary_encode()
    return np.asarray(codes.indices.fill_null(-1), np.int64)


def binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.eliminate_zeros()
    return matrix
