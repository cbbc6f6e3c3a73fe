"""Exact top-k by inner product for a large batch of queries: training's job of precomputing every
user's candidates. Blocked float32 matrix products; each block's best are kept by a per-query
score floor (the k-th best so far) instead of a heap update per scored item; and items are visited
in decreasing norm, so a query stops as soon as |query| x |item|, the most any item left can score
(Cauchy-Schwarz), cannot beat its floor. ALS gives the few popular items long vectors and most
items short ones, so most queries stop after a small share of the catalogue. The result is brute
force's (FAISS's IndexFlatIP, ties aside); benchmarks/bench_train.py times both on the same
vectors.

`in_blocks` runs any such batch (this search, an index's own) as one job per block of queries on
the process's cores, every BLAS and OpenMP pool inside limited to one thread: FAISS's OpenMP
threads wait for each other at every block, spinning, which on a busy machine cost it several
times the work itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

QUERY_BLOCK = 1024  # queries scored together: one thread's unit of work
ITEM_CHUNK = 2048  # items per matrix product; after each, the queries that cannot gain stop
SLACK = 1e-4  # float32 products can exceed the exact bound by rounding: stop a hair later
T = TypeVar("T")


class NormOrdered:
    """Items sorted by decreasing norm, with each one's norm: the bound of what it can score."""

    def __init__(self, items: np.ndarray) -> None:
        norms = np.linalg.norm(np.asarray(items, np.float32), axis=1)
        self.order = np.argsort(-norms, kind="stable")
        self.items = np.ascontiguousarray(np.asarray(items)[self.order], dtype=np.float32)
        self.bounds = norms[self.order] * (1 + SLACK)


def top_k(
    queries: np.ndarray, items: np.ndarray, k: int, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `k` best items by inner product, best first: (scores float32, item numbers
    int64), one row per query and min(k, items) columns, on `threads` threads (`in_blocks`)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(items))
    if k <= 0 or not len(queries):
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    ordered = NormOrdered(items)
    blocks = in_blocks(lambda _, block: block_top_k(block, ordered, k), queries, threads=threads)
    scores = np.vstack([found[0] for found in blocks])
    return scores, ordered.order[np.vstack([found[1] for found in blocks])]


def in_blocks(
    work: Callable[[int, np.ndarray], T],
    queries: np.ndarray,
    block: int = QUERY_BLOCK,
    threads: int | None = None,
) -> list[T]:
    """work(start, queries[start : start + block]) for every block, in order, on `threads`
    threads (default: the cores this process may use), with BLAS and OpenMP single-threaded."""
    starts = range(0, len(queries), block)
    workers = max(1, threads or usable_cores())
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda start: work(start, queries[start : start + block]), starts))


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def block_top_k(queries: np.ndarray, ordered: NormOrdered, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One block's top-k (scores, positions in `ordered`), best first."""
    n_items = len(ordered.items)
    first = min(n_items, max(ITEM_CHUNK, k))
    scores = queries @ ordered.items[:first].T
    best_ids = np.argpartition(scores, first - k, axis=1)[:, first - k :].astype(np.int64)
    best = np.take_along_axis(scores, best_ids, axis=1)
    floor = best.min(axis=1)
    reach = np.linalg.norm(queries, axis=1)
    for start in range(first, n_items, ITEM_CHUNK):
        live = np.flatnonzero(reach * ordered.bounds[start] > floor)
        if not len(live):
            break
        scores = queries[live] @ ordered.items[start : start + ITEM_CHUNK].T
        rows, columns = np.nonzero(scores > floor[live, None])
        if len(rows):
            merge(best, best_ids, live[rows], columns + start, scores[rows, columns])
            floor[live] = best[live].min(axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(best_ids, order, axis=1)


def merge(
    best: np.ndarray, best_ids: np.ndarray, rows: np.ndarray, ids: np.ndarray, values: np.ndarray
) -> None:
    """Folds new entries (rows ascending) into each row's k best, in place: the rows hit are laid
    out with their new entries after their current best, and partitioned once."""
    k = best.shape[1]
    hit, first, counts = np.unique(rows, return_index=True, return_counts=True)
    width = k + int(counts.max())
    scores = np.full((len(hit), width), -np.inf, np.float32)
    found = np.zeros((len(hit), width), np.int64)
    scores[:, :k], found[:, :k] = best[hit], best_ids[hit]
    slot = np.repeat(np.arange(len(hit)), counts)
    column = k + np.arange(len(rows)) - np.repeat(first, counts)
    scores[slot, column], found[slot, column] = values, ids
    keep = np.argpartition(scores, width - k, axis=1)[:, width - k :]
    best[hit] = np.take_along_axis(scores, keep, axis=1)
    best_ids[hit] = np.take_along_axis(found, keep, axis=1)
