"""Models that score with an item-item matrix (item-kNN, bought-together): a user's row times the
matrix. One scoring, search, fold-in and storage path for all of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recsys.data.interactions import Interactions
from recsys.ranking import top_n, without_self

# Items the matrix gives no score are ordered by popularity, scaled below any real score.
TIE_BREAK = 1e-6
CHUNK_CELLS = 1 << 24  # dense scores per batch chunk (64 MB of float32)
PRODUCTS_PER_BLOCK = 1 << 22  # terms summed per block of a cosine product (bounds its memory)
SIMILARITY, USER_ITEMS, PRIOR = "similarity.npz", "user_items.npz", "prior.npy"


class ItemSimilarityModel:
    """Holds `similarity` (items x items CSR, row = the item, columns = what it suggests), the
    training rows of each user, and a popularity tie-break. Subclasses implement `fit`."""

    kind: ClassVar[str] = "item-similarity"
    Params: ClassVar[type]

    def __init__(self, params: Any = None) -> None:
        self.params = params or self.Params()
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)
        self.prior = np.zeros(0, np.float32)

    @property
    def n_items(self) -> int:
        return self.similarity.shape[0]

    def fit(self, interactions: Interactions) -> Self:
        raise NotImplementedError

    def _keep(self, similarity: sp.spmatrix, user_items: sp.csr_matrix) -> None:
        self.similarity = sp.csr_matrix(similarity, dtype=np.float32)
        self.similarity.eliminate_zeros()
        self.user_items = sp.csr_matrix(user_items, dtype=np.float32)
        users_per_item = np.bincount(self.user_items.indices, minlength=self.n_items)
        self.prior = (TIE_BREAK * users_per_item / max(1, users_per_item.max())).astype(np.float32)

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.rank(self.user_items[np.asarray(users)], n, exclude)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The items' own rows of the matrix (the item itself left out)."""
        items = np.asarray(items)
        return self.rank(self.similarity[items], n, without_self(items, self.n_items), rows=True)

    def fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        """An item-kNN 'user vector' is the user's interaction row itself."""
        return np.asarray(sp.csr_matrix(user_items, dtype=np.float32).toarray())

    def recommend_vectors(
        self, vectors: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.rank(sp.csr_matrix(np.atleast_2d(vectors), dtype=np.float32), n, exclude)

    def rank(
        self, weights: sp.csr_matrix, n: int, exclude: sp.csr_matrix | None, rows: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n of `weights @ similarity` (or of `weights` itself when they already are
        similarity rows) plus the popularity tie-break, in chunks that bound memory."""
        chunk = max(1, CHUNK_CELLS // max(1, self.n_items))
        ids, scores = [], []
        for start in range(0, weights.shape[0], chunk):
            part = weights[start : start + chunk]
            dense = (part.toarray() if rows else self.scores(part)) + self.prior
            skip = exclude[start : start + chunk] if exclude is not None else None
            found = top_n(dense, n, skip)
            ids.append(found[0])
            scores.append(found[1])
        if not ids:
            return np.empty((0, n), np.int64), np.empty((0, n), np.float32)
        return np.vstack(ids), np.vstack(scores)

    def scores(self, weights: sp.csr_matrix) -> np.ndarray:
        """Dense scores over every item for rows of user weights."""
        return (weights @ self.similarity).toarray()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        sp.save_npz(folder / SIMILARITY, self.similarity, compressed=False)
        sp.save_npz(folder / USER_ITEMS, self.user_items, compressed=False)
        np.save(folder / PRIOR, self.prior)
        (folder / "params.json").write_text(json.dumps(asdict(self.params)))

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> Self:
        model = cls(cls.Params(**params))
        model.similarity = sp.load_npz(folder / SIMILARITY).tocsr()
        model.user_items = sp.load_npz(folder / USER_ITEMS).tocsr()
        model.prior = np.load(folder / PRIOR)
        return model


def top_k_per_row(matrix: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keeps the k largest entries of each row (ties broken by column order)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    counts = np.diff(matrix.indptr)
    if len(counts) and counts.max() > k:
        rows = np.repeat(np.arange(len(counts)), counts)
        threshold = kth_largest(matrix, k)[rows]
        keep = matrix.data > threshold
        room = k - np.bincount(rows[keep], minlength=len(counts))  # for values equal to the kth
        ties = np.flatnonzero(matrix.data == threshold)
        keep[lowest_columns(ties, rows, matrix.indices, room)] = True
        indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))])
        data, indices = matrix.data[keep], matrix.indices[keep]
        matrix = sp.csr_matrix((data, indices, indptr), shape=matrix.shape)
    matrix.sum_duplicates()
    return matrix


def kth_largest(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    """The k-th largest value of each row, -inf in rows of k entries or fewer. Rows of about the
    same length are padded to a power of two and partitioned together: no sort."""
    counts = np.diff(matrix.indptr)
    kth = np.full(len(counts), -np.inf, np.float32)
    long = np.flatnonzero(counts > k)
    width = 1 << np.ceil(np.log2(counts[long])).astype(np.int64)
    for size in np.unique(width).tolist():
        rows = long[width == size]
        part = matrix[rows]
        lengths = np.diff(part.indptr)
        grid = np.full((len(rows), size), -np.inf, np.float32)
        columns = np.arange(part.nnz) - np.repeat(part.indptr[:-1], lengths)
        grid[np.repeat(np.arange(len(rows)), lengths), columns] = part.data
        kth[rows] = np.partition(grid, size - k, axis=1)[:, size - k]
    return kth


def lowest_columns(
    entries: np.ndarray, rows: np.ndarray, columns: np.ndarray, room: np.ndarray
) -> np.ndarray:
    """Of `entries` (positions in a CSR matrix whose rows and columns are given), the room[row]
    with the lowest columns in each row."""
    by_row = entries[np.argsort(rows[entries] << 32 | columns[entries])]
    row = rows[by_row]
    rank = np.arange(len(by_row)) - np.searchsorted(row, row)
    return by_row[rank < room[row]]


def cosine_similarity(rows: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Item-item cosine of the columns of `rows` (e.g. sessions x items), the diagonal dropped,
    the k best per item kept."""
    columns = sp.csc_matrix(rows, dtype=np.float32)
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
    return pruned_gram(columns @ sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32), k)


def pruned_gram(rows: sp.spmatrix, k: int, diagonal: bool = False) -> sp.csr_matrix:
    """`rows.T @ rows` (items x items for a users x items matrix), the diagonal dropped unless
    asked for, the k best per item kept. Computed a block of items at a time: the whole product,
    mostly dropped, would be far larger than the result."""
    left, right = sp.csr_matrix(rows.T, dtype=np.float32), sp.csr_matrix(rows, dtype=np.float32)
    return pruned_product(left, right, k, diagonal)


def pruned_product(
    left: sp.csr_matrix, right: sp.csr_matrix, k: int, diagonal: bool = True
) -> sp.csr_matrix:
    """`left @ right` of two square sparse matrices, the k best per row kept (the diagonal too
    unless `diagonal` is false), a block of rows at a time."""
    blocks = []
    for start, stop in row_blocks(left, right, PRODUCTS_PER_BLOCK):
        block = sp.csr_matrix(left[start:stop] @ right)
        if not diagonal:
            own_row = np.repeat(np.arange(start, stop), np.diff(block.indptr))
            block.data[block.indices == own_row] = 0  # dropped by top_k_per_row
        blocks.append(top_k_per_row(block, k))
    return sp.vstack(blocks, format="csr")


def row_blocks(left: sp.csr_matrix, right: sp.csr_matrix, products: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of `left` whose product with `right` sums about `products` terms
    each (a row needing more is a range of its own). At least one range, maybe empty."""
    per_entry = np.diff(right.indptr)[left.indices]
    before_row = np.concatenate([[0], np.cumsum(per_entry, dtype=np.int64)])[left.indptr]
    starts = np.searchsorted(before_row, np.arange(0, before_row[-1], products), "right") - 1
    bounds = np.unique(np.concatenate([[0], starts, [left.shape[0]]])).tolist()
    return list(pairwise(bounds)) or [(0, 0)]


def without_diagonal(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A copy of a square matrix with its diagonal entries removed."""
    coo = sp.coo_matrix(matrix, dtype=np.float32)
    off = coo.row != coo.col
    return sp.csr_matrix((coo.data[off], (coo.row[off], coo.col[off])), shape=coo.shape)
