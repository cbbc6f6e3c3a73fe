"""Campaign export: customers/s of recsys export (rules + Parquet) next to a bare FAISS batch search
of the same user vectors in the same process, and the export's memory at two audience sizes.

The model is not trained (1M users would take long): clustered random factors (items around
category centres, users a mix of five categories) are put into an ALS model with the configured
FAISS index and an in-memory Bundle (catalogue with titles, categories, prices, 5% out of stock;
one purchase per user, excluded as 'recently bought'). Each audience size runs in its own process;
memory is the resident set sampled every 20 ms during the export, minus the resident set just
before it (the model and bundle, which are the same whatever the audience).

    .venv/bin/python -m benchmarks.bench_export --users 1000000 --items 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from benchmarks.common import print_table, write_json
from recsys.bundle import Bundle
from recsys.campaigns import ExportRules, build_audience, export_picks
from recsys.data import Catalogue, Vocabulary
from recsys.index import VectorIndex
from recsys.models.als import ALS
from recsys.popularity import Popularity

TASTES = 5  # categories mixed into each user's taste


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--small-users", type=int, default=100_000, help="memory comparison size")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--categories", type=int, default=200)
    parser.add_argument("--factory", default="HNSW32", help="FAISS index factory string")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--per-category", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    rows = []
    for users in (args.users, args.small_users):  # the full size first: it is the speed figure
        rows.append(child(args, users))
        print_table(rows)
        write_json("export", {"args": vars(args), "results": rows}, args.out_json)


def child(args: argparse.Namespace, users: int) -> dict[str, object]:
    """One audience size in a fresh process (so that memory figures do not mix)."""
    argv = [sys.executable, "-m", "benchmarks.bench_export", "--child", "--users", str(users)]
    for name in ("items", "factors", "categories", "factory", "n", "per_category", "chunk"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict[str, object]:
    bundle = synthetic_bundle(args.users, args.items, args.factors, args.categories, args.factory)
    model = bundle.models["als"]
    bare = bare_search(model.index, np.asarray(model.user_factors), args.n, args.chunk)
    rules = ExportRules(n=args.n, per_category=args.per_category, chunk=args.chunk)
    with tempfile.TemporaryDirectory() as tmp, Sampler() as memory:
        out = Path(tmp) / "picks.parquet"
        start = time.perf_counter()
        audience = build_audience(bundle, bundle.users.arrow, rules.recent_days, 7.0)
        report = export_picks(bundle, audience, out, rules)
        ours = time.perf_counter() - start
        written = pq.ParquetFile(out).metadata.num_rows
    return {
        "users": args.users,
        "items": args.items,
        "index": args.factory,
        "per_category": args.per_category,
        "bare faiss users/s": args.users / bare,
        "export users/s": args.users / ours,
        "ratio export/bare": bare / ours,
        "rows written": written,
        "short rows": report.short,
        "RSS before MB": memory.before / 1e6,
        "export extra MB": (memory.peak - memory.before) / 1e6,
    }


def bare_search(index: VectorIndex, queries: np.ndarray, n: int, chunk: int) -> float:
    """Seconds for FAISS's own top-n of every query, in chunks, nothing else (an index built on
    the MIPS-to-L2 augmentation gets the query's extra 0 coordinate, as FAISS needs it)."""
    start = time.perf_counter()
    for first in range(0, len(queries), chunk):
        batch = queries[first : first + chunk]
        if getattr(index, "augmented", False):
            batch = np.hstack([batch, np.zeros((len(batch), 1), np.float32)])
        index.index.search(np.ascontiguousarray(batch, np.float32), n)
    return time.perf_counter() - start


class Sampler:
    """Peak resident set of this process while the block runs (sampled)."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.process = every, psutil.Process()
        self.before = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> Sampler:
        self.before = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def synthetic_bundle(
    users: int, items: int, factors: int, categories: int, factory: str, seed: int = 0
) -> Bundle:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(categories, factors)).astype(np.float32)
    item_category = rng.integers(0, categories, items)
    item_factors = 0.5 * centres[item_category] + rng.normal(size=(items, factors))
    model = ALS()
    model.item_factors = np.ascontiguousarray(item_factors, np.float32) / np.sqrt(factors)
    model.user_factors = user_mixes(rng, centres, users, factors)
    model.build_index(factory)
    bought = rng.integers(0, items, users)
    matrix = sp.csr_matrix(
        (np.ones(users, np.float32), (np.arange(users), bought)), shape=(users, items)
    )
    popularity = Popularity(*(rng.random(items, dtype=np.float32) for _ in range(2)))
    return Bundle(
        Path("."),
        {"version": "synthetic"},
        Vocabulary(numbered("u", users)),
        Vocabulary(numbered("i", items)),
        matrix,
        matrix,
        popularity,
        {"als": model},
        synthetic_catalogue(rng, items, item_category),
    )


def user_mixes(
    rng: np.random.Generator, centres: np.ndarray, users: int, factors: int, block: int = 100_000
) -> np.ndarray:
    out = np.empty((users, factors), np.float32)
    for start in range(0, users, block):
        size = min(block, users - start)
        picks = rng.integers(0, len(centres), (size, TASTES))
        shares = rng.dirichlet(np.ones(TASTES), size)[:, :, None]
        mix = (centres[picks] * shares).sum(axis=1) + rng.normal(scale=0.3, size=(size, factors))
        out[start : start + size] = mix / np.sqrt(factors)
    return out


def numbered(prefix: str, count: int) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(np.arange(count)).cast(pa.string()), "")


def synthetic_catalogue(rng: np.random.Generator, items: int, category: np.ndarray) -> Catalogue:
    table = pa.table(
        {
            "item_id": numbered("i", items),
            "title": numbered("Product ", items),
            "category": numbered("dept/c", int(category.max()) + 1).take(pa.array(category)),
            "price": np.round(rng.gamma(2.0, 20.0, items), 2),
            "in_stock": rng.random(items) > 0.05,
        }
    )
    return Catalogue(table, frozenset(table.column_names))


if __name__ == "__main__":
    main()
