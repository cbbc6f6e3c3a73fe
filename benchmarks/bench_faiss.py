"""FAISS at scale: Flat vs HNSW vs IVF over 20k, 200k and 1M item vectors (d=64), single-query
latency and batch throughput through recsys's VectorIndex next to the raw FAISS call, recall@10
against exact search beside each, and where the factory "auto" lands on the recall/speed frontier.
The `tuned` columns: the same index after `recsys train`'s search-effort tuning (the least efSearch
or nprobe reaching index.recall_target), its recall and single-query time.

    .venv/bin/python -m benchmarks.bench_faiss                  # 20k, 200k, 1M
    .venv/bin/python -m benchmarks.bench_faiss --sizes 20000    # quick

Vectors are clustered gaussians with log-normal norms (popular items have long vectors, as ALS and
BPR factors do); queries come from the same clusters, like user factors. Exact search at 1M runs on
the query sample only.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from benchmarks.common import print_table, write_json
from recsys.config import IndexConfig
from recsys.index import VectorIndex, ivf_lists, resolve_factory

DIM, CLUSTERS, K = 64, 1_000, 10
TUNE_TARGET = IndexConfig.recall_target  # the search effort `recsys train` sets by default


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float) -> np.ndarray:
    picked = centres[rng.integers(0, len(centres), n)]
    return (picked + spread * rng.normal(size=(n, centres.shape[1]))).astype(np.float32)


def make_data(n_items: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM)) / np.sqrt(DIM)
    items = clustered(rng, n_items, centres, 0.6 / np.sqrt(DIM))
    items *= rng.lognormal(0.0, 0.4, (n_items, 1)).astype(np.float32)
    return items, clustered(rng, n_queries, centres, 1.0 / np.sqrt(DIM))


def per_query_ms(search: object, queries: np.ndarray) -> float:
    """Median milliseconds of one-query calls."""
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query[None, :])  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def measure(
    items: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    factory: str,
    singles: int,
    threads: int,
) -> dict[str, object]:
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    index = VectorIndex.build(items, factory)
    build_s = time.perf_counter() - start
    faiss.omp_set_num_threads(1)  # one request, one thread: OpenMP only adds latency here
    ours_ms = per_query_ms(lambda q: index.search(q, K), queries[:singles])
    raw = index.index
    raw_ms = per_query_ms(lambda q: raw.search(q, K), queries[:singles])
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    _, found = index.ann_search(queries, K)
    batch_s = time.perf_counter() - start
    row = {
        "build_s": round(build_s, 2),
        "recall@10": recall(found, truth),
        "query_ms": round(ours_ms, 3),
        "raw_faiss_ms": round(raw_ms, 3),
        "ratio": round(ours_ms / raw_ms, 2),
        "batch_qps": round(len(queries) / batch_s),
    }
    return {**row, **tuned(index, queries, truth, singles)}


def tuned(
    index: VectorIndex, queries: np.ndarray, truth: np.ndarray, singles: int
) -> dict[str, object]:
    """The same index with the search effort `recsys train` sets (VectorIndex.tune_search, tuned on
    queries other than the timed and scored ones): its recall and single-query time."""
    faiss.omp_set_num_threads(1)
    _, effort = index.tune_search(queries[singles:], TUNE_TARGET)
    tuned_ms = per_query_ms(lambda q: index.search(q, K), queries[:singles])
    _, found = index.ann_search(queries[:singles], K)
    return {"tuned": effort or "-", "tuned_recall@10": recall(found, truth[:singles]),
            "tuned_ms": round(tuned_ms, 3)}  # fmt: skip


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return round(hits / truth.size, 4)


def frontier(rows: list[dict[str, object]]) -> None:
    """Marks rows no other row beats on both recall and single-query latency."""
    for row in rows:
        row["frontier"] = not any(
            other is not row
            and other["recall@10"] >= row["recall@10"]  # type: ignore[operator]
            and other["query_ms"] < row["query_ms"]  # type: ignore[operator]
            and (other["recall@10"], other["query_ms"]) != (row["recall@10"], row["query_ms"])
            for other in rows
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000,1000000")
    parser.add_argument("--queries", type=int, default=1_000, help="batch size, recall sample")
    parser.add_argument("--singles", type=int, default=200, help="one-query calls timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="for builds and batches")
    parser.add_argument("--out-json")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for n_items in (int(s) for s in args.sizes.split(",")):
        items, queries = make_data(n_items, args.queries, args.seed)
        _, truth = faiss.knn(queries, items, K, metric=faiss.METRIC_INNER_PRODUCT)
        auto = resolve_factory("auto", n_items)
        size_rows = []
        for factory in ("Flat", f"IVF{ivf_lists(n_items)},Flat", "HNSW32"):
            print(f"{n_items:,} items: {factory} ...", flush=True)
            row = {
                "items": n_items,
                "factory": factory,
                "auto": factory == auto,
                **measure(items, queries, truth, factory, args.singles, args.threads),
            }
            size_rows.append(row)
            print_table([row])
        frontier(size_rows)
        rows += size_rows
        payload = {"dim": DIM, "k": K, "queries": args.queries, "threads": args.threads}
        write_json("faiss", {**payload, "rows": rows}, args.out_json)  # each size as it ends
    print_table(rows)


if __name__ == "__main__":
    main()
