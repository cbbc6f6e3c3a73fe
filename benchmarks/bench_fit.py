"""Model fit times on generated events: recsys's ALS, BPR and item-kNN (BM25) next to the bare
implicit call with the same parameters on the same matrix, in the same run (ratio ours / bare).

    .venv/bin/python -m benchmarks.bench_fit                      # 10M events
    .venv/bin/python -m benchmarks.bench_fit --events 1000000     # quick
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import implicit.nearest_neighbours as knn
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from benchmarks.common import generated_shop, print_table, shop_arguments, write_json
from recsys.config import Config, ModelConfig
from recsys.data import Interactions, load_events
from recsys.models import build_model


def bare_calls(config: Config) -> dict[str, Callable[[sp.csr_matrix], object]]:
    """The implicit call each kind wraps, with that kind's parameters from `config`."""
    als, bpr, bm25 = (build_model(k, config.models[k]).params for k in ("als", "bpr", "bm25"))
    return {
        "als": lambda m: AlternatingLeastSquares(
            factors=als.factors,
            regularization=als.regularization,
            alpha=als.alpha,
            iterations=als.iterations,
            calculate_training_loss=False,
            random_state=als.seed,
        ).fit(m, show_progress=False),
        "bpr": lambda m: BayesianPersonalizedRanking(
            factors=bpr.factors,
            learning_rate=bpr.learning_rate,
            regularization=bpr.regularization,
            iterations=bpr.iterations,
            random_state=bpr.seed,
        ).fit(m, show_progress=False),
        "bm25": lambda m: knn.BM25Recommender(K=bm25.K, K1=bm25.K1, B=bm25.B).fit(
            m, show_progress=False
        ),
    }


def seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's BM25 warns about its own COO input
        call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=10_000_000, users=100_000, items=20_000)
    parser.add_argument("--kinds", default="als,bpr,bm25")
    parser.add_argument("--bpr-iterations", type=int, help="override BPR's default iterations")
    parser.add_argument("--out-json")
    args = parser.parse_args()
    models = {"als": {}, "bpr": {}, "bm25": {}}
    if args.bpr_iterations:
        models["bpr"] = {"iterations": args.bpr_iterations}
    config = Config(models={k: ModelConfig(k, v) for k, v in models.items()})
    with generated_shop(args) as folder:
        events = load_events(folder / "events.parquet", tuple(config.events.weights))
    interactions = Interactions.from_events(events, config.events)
    matrix = interactions.matrix
    bare = bare_calls(config)
    rows = []
    for kind in args.kinds.split(","):
        model = build_model(kind, config.models[kind])
        ours = seconds(lambda model=model: model.fit(interactions))
        raw = seconds(lambda kind=kind: bare[kind](matrix))
        rows.append(
            {
                "model": kind,
                "params": str(config.models[kind].params or "defaults"),
                "recsys_s": round(ours, 2),
                "bare_implicit_s": round(raw, 2),
                "ratio": round(ours / raw, 2),
            }
        )
        print_table(rows[-1:])
    shape = {"users": matrix.shape[0], "items": matrix.shape[1], "nnz": matrix.nnz}
    print(f"{args.events:,} events -> {shape}")
    print_table(rows)
    write_json("fit", {"args": vars(args), "matrix": shape, "rows": rows}, args.out_json)


if __name__ == "__main__":
    main()
