"""Model quality on real data: Recall@20 and NDCG@20 of every model, untuned and tuned, next to
implicit's AlternatingLeastSquares and BM25Recommender called directly with their library defaults
on the same matrix, in the same run, scored by the same metric code (recsys.evaluation).

Full ranking over all training items, each user's training items excluded. Tuning sees the training
file only (its validation split is carved from it); the test file is read for scoring alone.

    .venv/bin/python -m benchmarks.bench_quality
    .venv/bin/python -m benchmarks.bench_quality --datasets ml-1m-implicit --tune-minutes 4
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender
from threadpoolctl import threadpool_limits

from benchmarks.common import print_table, write_json
from recsys.config import Config, config_from_dict
from recsys.data import Interactions, load_events
from recsys.evaluation.evaluate import EvalResult, evaluate_model, evaluate_ranker
from recsys.evaluation.splits import Split, given_test_split
from recsys.models import fit
from recsys.tuning import DEFAULT_MINUTES, Budget, tune_config

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("RECSYS_DATASETS", ROOT.parent / "shared" / "datasets"))
FILES = {  # dataset -> (training file, test file)
    "retailrocket-cml": ("events.csv.gz", "test_purchases.csv.gz"),
    "ml-1m-implicit": ("train.csv.gz", "test.csv.gz"),
}
MODELS = {
    "als": {"kind": "als"},
    "bpr": {"kind": "bpr"},
    "bm25": {"kind": "bm25"},
    "cosine": {"kind": "cosine"},
    "popular": {"kind": "popular"},
}
K = 20


def load_split(name: str) -> Split:
    train_file, test_file = (DATASETS / name / file for file in FILES[name])
    types = tuple(Config().events.weights)
    return given_test_split(load_events(train_file, types), load_events(test_file, types))


def scored(result: EvalResult) -> dict[str, float]:
    return {f"recall@{K}": result.metrics[f"recall@{K}"], f"ndcg@{K}": result.metrics[f"ndcg@{K}"]}


def direct_implicit(base: Interactions, split: Split) -> list[dict[str, Any]]:
    """implicit's own models, library defaults, on the untuned matrix; implicit filters what each
    user had (filter_already_liked_items), which is the same exclusion."""
    rows = []
    for label, make in (
        ("implicit AlternatingLeastSquares()", lambda: AlternatingLeastSquares(random_state=0)),
        ("implicit BM25Recommender()", BM25Recommender),
    ):
        start = time.perf_counter()
        with threadpool_limits(1, "blas"):  # as implicit asks; ours fit the same way
            model = make()
            model.fit(base.matrix, show_progress=False)
        fit_s = time.perf_counter() - start
        result = evaluate_ranker(ranker(model, base.matrix), base.matrix, split.test, (K,))
        rows.append(
            {
                "model": label,
                "variant": "implicit defaults",
                **scored(result),
                "fit_s": fit_s,
                "params": "library defaults",
            }
        )
    return rows


def ranker(model: Any, matrix: sp.csr_matrix) -> Callable[[np.ndarray, int], Any]:
    def rank(users: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(1, "blas"):
            return model.recommend(users, matrix[users], N=n, filter_already_liked_items=True)

    return rank


def ours(
    config: Config, split: Split, exclude: sp.csr_matrix, variant: str
) -> list[dict[str, Any]]:
    """Every model of `config` fitted on the whole training file, scored on the test file."""
    train = Interactions.from_events(split.train, config.events)
    rows = []
    for name, model_config in config.models.items():
        start = time.perf_counter()
        model = fit(name, model_config, train, split.train)
        fit_s = time.perf_counter() - start
        result = evaluate_model(model, train.matrix, split.test, (K,), exclude=exclude)
        params = ", ".join(f"{k}={v}" for k, v in model_config.params.items()) or "defaults"
        rows.append(
            {"model": name, "variant": variant, **scored(result), "fit_s": fit_s, "params": params}
        )
    return rows


def run_dataset(name: str, budget: Budget) -> dict[str, Any]:
    split = load_split(name)
    config = config_from_dict({"models": MODELS})
    base = Interactions.from_events(split.train, config.events)
    exclude = (base.matrix > 0).astype(np.float32).tocsr()  # every training item of the user
    rows = direct_implicit(base, split) + ours(config, split, exclude, "untuned")
    start = time.perf_counter()
    tuned, record = tune_config(split.train, config, budget, K, say=print)
    tune_s = time.perf_counter() - start
    rows += ours(tuned, split, exclude, "tuned")
    for row in rows:
        row["dataset"] = name
    best_direct = max(r[f"ndcg@{K}"] for r in rows if r["variant"] == "implicit defaults")
    best_tuned = max((r for r in rows if r["variant"] == "tuned"), key=lambda r: r[f"ndcg@{K}"])
    return {
        "rows": rows,
        "split": split.info,
        "tuning": record,
        "tune_seconds": tune_s,
        "events": {"weights": tuned.events.weights, "damping": tuned.events.damping},
        "best_tuned": best_tuned["model"],
        "best_tuned_vs_best_implicit_ndcg": best_tuned[f"ndcg@{K}"] / best_direct,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| dataset | model | variant | Recall@{K} | NDCG@{K} | fit s | params |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['dataset']} | {r['model']} | {r['variant']} | {r[f'recall@{K}']:.4f} | "
        f"{r[f'ndcg@{K}']:.4f} | {r['fit_s']:.1f} | {r['params']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(FILES), help="comma-separated")
    parser.add_argument("--tune-trials", type=int, default=20, help="trials per model")
    parser.add_argument(
        "--tune-minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help="search budget per model (default: recsys train --tune's)",
    )
    parser.add_argument("--out", help="JSON path (default benchmarks/results/quality.json)")
    args = parser.parse_args()
    budget = Budget(args.tune_trials, args.tune_minutes * 60)
    results = {}
    for name in args.datasets.split(","):
        if not (DATASETS / name).is_dir():
            print(f"skipping {name}: {DATASETS / name} is absent")
            continue
        print(f"== {name}")
        results[name] = run_dataset(name, budget)
    rows = [row for result in results.values() for row in result["rows"]]
    print_table([{k: v for k, v in row.items() if k != "params"} for row in rows])
    print()
    print(markdown(rows))
    for name, result in results.items():
        print(
            f"{name}: best tuned {result['best_tuned']} reaches "
            f"{result['best_tuned_vs_best_implicit_ndcg']:.2f}x the NDCG@{K} of the better "
            f"direct implicit default; tuning took {result['tune_seconds']:.0f} s"
        )
    write_json("quality", {"k": K, "budget": vars(args), "datasets": results}, args.out)


if __name__ == "__main__":
    main()
