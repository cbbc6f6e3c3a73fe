"""Model fit times on generated events: recsys's ALS, BPR, item-kNN (BM25) and co-occurrence next
to a bare reference on the same matrix, in the same run (ratio ours / bare). The reference is the
implicit call with the same parameters; for co-occurrence (whose time is the trainer's whole fit
stage: fit() then fit_events()) it is scipy's bare product `X.T @ X` of each binary matrix the model
multiplies: interactions, baskets and view sessions, built before the clock starts.

Times are the best of --repeat runs, wall and CPU (process_time, every thread counted). Peak memory
is what Python and numpy allocate during one more run (tracemalloc: buffers a C++ extension keeps
to itself, as implicit's, are not seen).

    .venv/bin/python -m benchmarks.bench_fit                      # 10M events
    .venv/bin/python -m benchmarks.bench_fit --events 1000000     # quick
    .venv/bin/python -m benchmarks.bench_fit --events 2000000 --kinds cooccurrence --repeat 3
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import implicit.nearest_neighbours as knn
from threadpoolctl import threadpool_limits

from benchmarks.common import generated_shop, print_table, shop_arguments, write_json
from recsys.config import Config, ModelConfig
from recsys.data import Events, Interactions, load_events
from recsys.models import build_model, fit
from recsys.models.cooccurrence import baskets_and_views, binary

KINDS = ("als", "bpr", "bm25", "cooccurrence")
REFERENCE = {"cooccurrence": "scipy X.T @ X"}


def bare_calls(
    config: Config, interactions: Interactions, events: Events
) -> dict[str, Callable[[], object]]:
    """The bare call each kind is measured against, with that kind's parameters from `config`."""
    als, bpr = build_model("als", config.models["als"]), build_model("bpr", config.models["bpr"])
    bm25 = build_model("bm25", config.models["bm25"]).params
    matrix = interactions.matrix
    hours = build_model("cooccurrence", config.models["cooccurrence"]).params.window_hours
    products = [binary(matrix), *baskets_and_views(events, hours, matrix.shape[1])]
    return {  # implicit's own models, built with our parameters, fitted directly
        "als": lambda: als.implicit_model().fit(matrix, show_progress=False),
        "bpr": lambda: bpr.implicit_model(matrix.nnz).fit(matrix, show_progress=False),
        "bm25": lambda: knn.BM25Recommender(K=bm25.K, K1=bm25.K1, B=bm25.B).fit(
            matrix, show_progress=False
        ),
        "cooccurrence": lambda: [m.T @ m for m in products],
    }


def our_fit(kind: str, config: Config, interactions: Interactions, events: Events) -> object:
    """A fresh model fitted as the trainer does it (basket scores too where the kind has them)."""
    return fit(kind, config.models[kind], interactions, events)


def quietly(call: Callable[[], object]) -> None:
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's BM25 warns about its own COO input
        call()


def seconds(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        quietly(call)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def peak_mb(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        quietly(call)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(
    kind: str, ours: Callable[[], object], bare: Callable[[], object], repeat: int
) -> dict[str, Any]:
    (wall, cpu), (bare_wall, bare_cpu) = seconds(ours, repeat), seconds(bare, repeat)
    return {
        "model": kind,
        "reference": REFERENCE.get(kind, "implicit"),
        "recsys_s": round(wall, 2),
        "bare_s": round(bare_wall, 2),
        "ratio": round(wall / bare_wall, 2),
        "recsys_cpu_s": round(cpu, 2),
        "bare_cpu_s": round(bare_cpu, 2),
        "cpu_ratio": round(cpu / bare_cpu, 2),
        "recsys_peak_mb": round(peak_mb(ours)),
        "bare_peak_mb": round(peak_mb(bare)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=10_000_000, users=100_000, items=20_000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--bpr-iterations", type=int, help="override BPR's default iterations")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each call, best kept")
    parser.add_argument("--out-json")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if args.repeat < 1:
        parser.error("--repeat: must be at least 1")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"--kinds: unknown {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    models: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    if args.bpr_iterations:
        models["bpr"] = {"iterations": args.bpr_iterations}
    config = Config(models={k: ModelConfig(k, v) for k, v in models.items()})
    with generated_shop(args) as folder:
        events = load_events(folder / "events.parquet", tuple(config.events.weights))
    interactions = Interactions.from_events(events, config.events)
    bare = bare_calls(config, interactions, events)
    rows = []
    for kind in kinds:
        ours = partial(our_fit, kind, config, interactions, events)
        rows.append(measure(kind, ours, bare[kind], args.repeat))
        rows[-1]["params"] = str(config.models[kind].params or "defaults")
        print_table(rows[-1:])
    matrix = interactions.matrix
    shape = {"users": matrix.shape[0], "items": matrix.shape[1], "nnz": matrix.nnz}
    print(f"{args.events:,} events -> {shape}")
    print_table(rows)
    write_json("fit", {"args": vars(args), "matrix": shape, "rows": rows}, args.out_json)


if __name__ == "__main__":
    main()
