"""Candidate matrices and the vectorised email rules applied to a whole chunk of customers at once.

A `Candidates` holds one row per customer and, column by column, item numbers in order of
preference (-1 = none) with their scores and reason codes. Sources are laid side by side
(`hstack`), then `apply_rules` drops what a row may not receive and keeps its first n items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsys.data.vocabulary import Vocabulary
from recsys.ranking import MISSING_ID, excluded_mask

BECAUSE = ("bought_with:", "similar_to:")  # reasons that name an item


@dataclass
class Candidates:
    ids: np.ndarray  # rows x width, int64 item numbers, -1 for none
    scores: np.ndarray  # float32
    reasons: np.ndarray  # int32 codes of Reasons

    @classmethod
    def empty(cls, rows: int, width: int = 0) -> Candidates:
        return cls(
            np.full((rows, width), MISSING_ID, np.int64),
            np.full((rows, width), -np.inf, np.float32),
            np.zeros((rows, width), np.int32),
        )

    @classmethod
    def hstack(cls, parts: list[Candidates]) -> Candidates:
        return cls(
            np.hstack([p.ids for p in parts]),
            np.hstack([p.scores for p in parts]).astype(np.float32, copy=False),
            np.hstack([p.reasons for p in parts]),
        )

    def take(self, rows: np.ndarray) -> Candidates:
        return Candidates(self.ids[rows], self.scores[rows], self.reasons[rows])

    def put(self, rows: np.ndarray, part: Candidates) -> Candidates:
        """A copy widened to `part`'s width if needed, with `rows` replaced by `part`."""
        width = max(self.ids.shape[1], part.ids.shape[1])
        out = Candidates.hstack([self, Candidates.empty(len(self.ids), width - self.ids.shape[1])])
        out.ids[rows] = MISSING_ID
        out.ids[rows, : part.ids.shape[1]] = part.ids
        out.scores[rows, : part.ids.shape[1]] = part.scores
        out.reasons[rows, : part.ids.shape[1]] = part.reasons
        return out

    @property
    def filled(self) -> np.ndarray:
        """Per row, how many items it holds."""
        return (self.ids >= 0).sum(axis=1)


class Reasons:
    """Reason strings as int32 codes: the fixed names first, then one code per (BECAUSE prefix,
    item)."""

    def __init__(self, fixed: tuple[str, ...], items: Vocabulary) -> None:
        self.fixed = fixed
        self.items = items
        self._dictionary: pa.Array | None = None

    def code(self, name: str) -> int:
        return self.fixed.index(name)

    def because(self, prefix: str, items: np.ndarray) -> np.ndarray:
        base = len(self.fixed) + BECAUSE.index(prefix) * len(self.items)
        return (base + np.maximum(items, 0)).astype(np.int32)

    def strings(self, codes: np.ndarray) -> pa.Array:
        if self._dictionary is None:
            named = [pc.binary_join_element_wise(p, self.items.arrow, "") for p in BECAUSE]
            self._dictionary = pa.concat_arrays([pa.array(self.fixed, pa.string()), *named])
        return self._dictionary.take(pa.array(codes))


@dataclass(frozen=True)
class ItemRules:
    """What every row is filtered by: items allowed at all (in stock), and a category code per
    item (-1 = none) with at most `per_category` items of one category per row (0 = no cap)."""

    allowed: np.ndarray
    category: np.ndarray
    per_category: int


def apply_rules(
    cands: Candidates, n: int, exclude: sp.csr_matrix | None, rules: ItemRules
) -> Candidates:
    """The first n items of each row that are allowed, not excluded for that row, not repeated in
    the row and within the category cap; padded with -1."""
    ids = cands.ids
    valid = ids >= 0
    valid &= rules.allowed[np.maximum(ids, 0)]
    if exclude is not None and exclude.nnz:
        valid &= ~excluded_mask(ids, exclude)
    valid &= ~repeated(ids, valid)
    if rules.per_category > 0:
        codes = rules.category[np.maximum(ids, 0)]
        valid &= (codes < 0) | (occurrence(codes, valid & (codes >= 0)) < rules.per_category)
    order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
    kept = np.take_along_axis(valid, order, axis=1)
    out = Candidates(
        np.where(kept, np.take_along_axis(ids, order, axis=1), MISSING_ID),
        np.where(kept, np.take_along_axis(cands.scores, order, axis=1), -np.inf),
        np.take_along_axis(cands.reasons, order, axis=1),
    )
    short = n - out.ids.shape[1]
    return Candidates.hstack([out, Candidates.empty(len(ids), short)]) if short > 0 else out


def occurrence(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each cell in `mask`, how many earlier cells of its row in `mask` hold the same value
    (0 for the first); a large number outside `mask`."""
    rows, width = values.shape
    span = int(values.max()) + 1 if values.size else 1
    flat = np.arange(rows, dtype=np.int64)[:, None] * span + values
    keys = np.where(mask, flat, -1 - np.arange(values.size).reshape(values.shape)).ravel()
    order = np.argsort(keys, kind="stable")  # row-major order keeps the column order in a group
    ordered = keys[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    seen = np.empty(values.size, np.int64)
    seen[order] = np.arange(len(order)) - group_start
    return np.where(mask, seen.reshape(rows, width), np.iinfo(np.int64).max)


def repeated(ids: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """True where an item already appeared (validly) earlier in its row."""
    return valid & (occurrence(np.maximum(ids, 0), valid) > 0)


def from_sparse_rows(matrix: sp.csr_matrix, width: int, reason: int) -> Candidates:
    """Each row's stored items, largest value first, as candidates (score 1.0)."""
    rows = matrix.shape[0]
    counts = np.diff(matrix.indptr)
    width = min(width, int(counts.max()) if rows else 0)
    out = Candidates.empty(rows, width)
    if width == 0:
        return out
    row_of = np.repeat(np.arange(rows), counts)
    order = np.lexsort((-matrix.data, row_of))
    rank = np.arange(len(order)) - matrix.indptr[row_of[order]]
    keep = rank < width
    r, c = row_of[order][keep], rank[keep]
    out.ids[r, c] = matrix.indices[order][keep]
    out.scores[r, c] = 1.0
    out.reasons[r, c] = reason
    return out
