"""FAISS indexes over item vectors: built from a factory string, searched with exclusions that never
starve a result (over-fetch, then exact search for the rows still short).

Scores are inner products, searched with FAISS's inner-product metric, which keeps recall high for
Flat, HNSW and IVF (measured: benchmarks/bench_faiss.py). An index that only knows L2 (FAISS
refuses the inner-product metric for it, or silently builds it with L2, e.g. "HNSW32,PQ16" or
"LSH") is built on the standard MIPS-to-L2 augmentation (Bachrach et al. 2014): each item gets one
extra coordinate sqrt(M^2 - |x|^2), queries a 0, so the nearest item in L2 is the one with the
largest inner product, whose score is then computed exactly. The factory "auto" picks the index by
catalogue size (see `resolve_factory`)."""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.ranking import drop_excluded, max_row_count, pad

MAX_OVERFETCH = 2_000
AUTO = "auto"
EXACT_UP_TO = 50_000  # items: below this, exact search is fast enough and never misses
ALL_PAIRS_EXACT_UP_TO = 20_000  # items: above this, every item against every item goes to IVF
FAISS_POINTS_PER_LIST = 39  # k-means training points per IVF list that FAISS asks for
HNSW_UP_TO = 500_000  # items: above this, HNSW's build time grows past IVF's for similar recall
HNSW_EF_SEARCH = 128  # until training tunes it (tune_search); FAISS's default 16 misses some
IVF_PROBE_SHARE = 8  # nprobe = nlist / 8 (at least 32): fewer lose recall on clustered factors
SEARCH_KNOBS = ("efSearch", "nprobe")  # tuned at training to the least that reaches the target


def resolve_factory(factory: str, n_items: int) -> str:
    """The FAISS factory string for `factory` ("auto" -> by catalogue size; others unchanged)."""
    if factory != AUTO:
        return factory
    if n_items <= EXACT_UP_TO:
        return "Flat"
    if n_items <= HNSW_UP_TO:
        return "HNSW32"
    return f"IVF{ivf_lists(n_items)},Flat"


def all_pairs_factory(factory: str, n_items: int) -> str:
    """The factory for searching every item against every item (similar-item rows at training):
    "auto" is exact up to ALL_PAIRS_EXACT_UP_TO items and IVF above, its nprobe then tuned to the
    recall target. That batch costs n^2 products where a request costs n: on bench_train's
    49,860 items the rows took 4.3 s against exact search's 11.2 s (recall@10 0.98), and HNSW's
    build alone took longer than exact search. Other factories are unchanged."""
    if factory != AUTO:
        return factory
    if n_items <= ALL_PAIRS_EXACT_UP_TO:
        return "Flat"
    lists = ivf_lists(n_items)
    while lists * FAISS_POINTS_PER_LIST > n_items:  # FAISS warns of fewer training points
        lists //= 2
    return f"IVF{lists},Flat"


def ivf_lists(n_items: int) -> int:
    """Inverted lists for IVF: about 4 sqrt(n), a power of two."""
    return 2 ** round(math.log2(4 * math.sqrt(max(1, n_items))))


class VectorIndex:
    """Maximum-inner-product search over `vectors` (items x d, float32). `index` holds either the
    vectors themselves (inner-product metric) or their L2 augmentation (one more dimension)."""

    def __init__(self, vectors: np.ndarray, index: faiss.Index) -> None:
        self.vectors = vectors
        self.index = index
        self.augmented = index.d == vectors.shape[1] + 1
        self.exact_scores = not self.augmented and stores_vectors(index)

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str = "Flat") -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        resolved = resolve_factory(factory, len(vectors))
        try:
            index, stored = inner_product_index(vectors, resolved)
            if not index.is_trained:
                index.train(stored)
        except RuntimeError as exc:
            raise ConfigError(
                "index.factory",
                f"FAISS cannot build {resolved!r} over {len(vectors):,} vectors of dimension "
                f"{vectors.shape[1]}: {str(exc).strip().splitlines()[-1]}",
            ) from None
        index.add(stored)
        set_search_defaults(index)
        return cls(vectors, index)

    @property
    def exact(self) -> bool:
        return isinstance(self.index, faiss.IndexFlat)

    def search(
        self, queries: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n items per query row, none of the row's excluded items, padded when the catalogue
        runs out. Rows that an approximate index cannot fill are answered by exact search."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        most_excluded = max_row_count(exclude)
        k = min(n + most_excluded, self.vectors.shape[0])
        if self.exact or k <= 0 or most_excluded > MAX_OVERFETCH:
            return self.exact_search(queries, n, exclude)
        scores, ids = self.ann_search(queries, k)
        ids, scores = drop_excluded(ids, scores, exclude, n)
        left = self.vectors.shape[0] - row_counts(exclude, len(ids))
        short = ((ids >= 0).sum(axis=1) < np.minimum(n, left)).nonzero()[0]
        if len(short):
            rows = exclude[short] if exclude is not None else None
            ids[short], scores[short] = self.exact_search(queries[short], n, rows)
        return ids, scores

    def ann_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The index's own top-k candidates (ids int64, -1 for none), scored by their exact inner
        products and sorted by them: quantised or hashed indexes only approximate the scores,
        augmented ones give L2 distances. No exclusions, no refill."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self.exact_scores:  # inner products of the stored vectors, already best first
            scores, ids = self.index.search(queries, k)
            return np.where(ids >= 0, scores, -np.inf).astype(np.float32), ids.astype(np.int64)
        if self.augmented:
            zeros = np.zeros((len(queries), 1), np.float32)
            _, ids = self.index.search(np.hstack([queries, zeros]), k)
        else:
            _, ids = self.index.search(queries, k)
        found = np.asarray(self.vectors)[np.maximum(ids, 0)]
        scores = np.where(ids >= 0, np.einsum("qkd,qd->qk", found, queries), -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")
        ids = np.take_along_axis(ids, order, axis=1).astype(np.int64)
        return np.take_along_axis(scores, order, axis=1).astype(np.float32), ids

    def exact_search(
        self, queries: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute force with FAISS's BLAS kernel, over-fetching by the most items any row excludes:
        the reference every approximate index is checked against."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(n + max_row_count(exclude), self.vectors.shape[0])
        if k <= 0 or len(queries) == 0:
            empty = np.empty((len(queries), 0))
            return pad(empty.astype(np.int64), empty.astype(np.float32), n)
        scores, ids = faiss.knn(queries, self.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        return drop_excluded(ids, scores, exclude, n)

    def tune_search(self, queries: np.ndarray, target: float) -> tuple[float, dict[str, int]]:
        """Sets the least search effort (HNSW efSearch, IVF nprobe) whose recall@10 on `queries`
        reaches `target` (the most tried when none does): more effort than that only slows every
        request. Returns (recall, the setting); an index without such a knob is only measured."""
        knob = search_knob(self.index)
        if knob is None:
            return self.recall(queries), {}
        space, recall, value = faiss.ParameterSpace(), 0.0, 0
        truth = self.exact_search(queries, 10)[0]
        for value in effort_ladder(self.index, knob):
            space.set_index_parameter(self.index, knob, value)
            recall = self.recall(queries, truth=truth)
            if recall >= target:
                break
        return recall, {knob: value}

    def recall(self, queries: np.ndarray, k: int = 10, truth: np.ndarray | None = None) -> float:
        """recall@k of this index against exact search on the same queries (`truth`, its ids,
        when already known)."""
        if len(queries) == 0:
            return 1.0
        _, approx = self.ann_search(queries, k)
        truth = self.exact_search(queries, k)[0] if truth is None else truth
        hits = sum(len(set(a[a >= 0]) & set(t[t >= 0])) for a, t in zip(approx, truth, strict=True))
        return hits / max(1, int((truth >= 0).sum()))

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray) -> VectorIndex:
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            index = faiss.read_index(str(path))
        return cls(vectors, index)


def inner_product_index(vectors: np.ndarray, factory: str) -> tuple[faiss.Index, np.ndarray]:
    """An empty index for `factory` searching by inner product, and the vectors to train and fill
    it with: the vectors themselves, or their L2 augmentation when the index needs L2."""
    try:
        index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        if index.metric_type == faiss.METRIC_INNER_PRODUCT:
            return index, vectors
    except RuntimeError:
        pass  # no inner-product variant: the L2 build below reports any real error
    stored = augment_items(vectors)
    return faiss.index_factory(stored.shape[1], factory, faiss.METRIC_L2), stored


def augment_items(vectors: np.ndarray) -> np.ndarray:
    """Items with the extra coordinate sqrt(M^2 - |x|^2), M the largest norm: L2 order of the
    result equals inner-product order for queries given a 0 there."""
    squared = np.einsum("id,id->i", vectors, vectors)
    extra = np.sqrt(np.maximum(squared.max(initial=0.0) - squared, 0.0))
    return np.ascontiguousarray(np.hstack([vectors, extra[:, None]]), dtype=np.float32)


def stores_vectors(index: faiss.Index) -> bool:
    """Whether `index` scores by the inner product of the full stored vectors (Flat, HNSW over
    Flat, IVF over Flat): its scores are exact and its results sorted by them."""
    found = faiss.downcast_index(index)
    return found.metric_type == faiss.METRIC_INNER_PRODUCT and isinstance(
        found, faiss.IndexFlat | faiss.IndexHNSWFlat | faiss.IndexIVFFlat
    )


def search_knob(index: faiss.Index) -> str | None:
    """The search-effort parameter of `index` ("efSearch" or "nprobe"), None when it has none."""
    space = faiss.ParameterSpace()
    space.initialize(index)
    names = {space.parameter_ranges.at(i).name for i in range(space.parameter_ranges.size())}
    return next((knob for knob in SEARCH_KNOBS if knob in names), None)


def effort_ladder(index: faiss.Index, knob: str) -> list[int]:
    """Doubling values of `knob`, cheapest first: efSearch 16..512, nprobe 1..nlist."""
    if knob == "efSearch":
        return [16 * 2**i for i in range(6)]
    lists = faiss.extract_index_ivf(index).nlist
    return sorted({min(2**i, lists) for i in range(int(math.log2(lists)) + 2)})


def set_search_defaults(index: faiss.Index) -> None:
    """Search-time settings that keep recall high (faiss.write_index saves them)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = min(ivf.nlist, max(32, ivf.nlist // IVF_PROBE_SHARE))
    inner = index.index if isinstance(index, faiss.IndexPreTransform) else index
    hnsw = faiss.downcast_index(inner)
    if isinstance(hnsw, faiss.IndexHNSW):
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH


def row_counts(exclude: sp.csr_matrix | None, rows: int) -> np.ndarray:
    return np.zeros(rows, np.int64) if exclude is None else np.diff(exclude.indptr)
