"""Scoring speed of `recsys.evaluation` next to `implicit.evaluation.ranking_metrics_at_k` on the
same fitted ALS, split and users, in the same run; and the scoring pass next to the fit.

    .venv/bin/python -m benchmarks.bench_evaluate --events 1000000
    .venv/bin/python -m benchmarks.bench_evaluate --train-file ../shared/datasets/ml-1m-implicit/\
train.csv.gz --test-file ../shared/datasets/ml-1m-implicit/test.csv.gz
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from implicit.evaluation import ranking_metrics_at_k
from threadpoolctl import threadpool_limits

from benchmarks.common import peak_rss_mb, print_table, write_json
from recsys.config import Config
from recsys.data import Interactions, load_events, purchases_matrix
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import Split, given_test_split, temporal_split
from recsys.evaluation.stats import bootstrap_ci
from recsys.models.als import ALS
from recsys_data.generator import generate_shop

TYPES = tuple(Config().events.weights)


def make_split(args: argparse.Namespace, folder: Path) -> tuple[Split, dict[str, Any]]:
    if args.train_file:
        train = load_events(args.train_file, TYPES)
        test = load_events(args.test_file, TYPES)
        return given_test_split(train, test), {"data": str(args.train_file)}
    summary = generate_shop(folder, users=args.users, items=args.items, events=args.events, seed=1)
    events = load_events(folder / "events.parquet", TYPES)
    return temporal_split(events), {"data": "generated", **summary}


def measure(split: Split, ks: list[int], batch: int) -> dict[str, Any]:
    config = Config()
    train = Interactions.from_events(split.train, config.events)
    start = time.perf_counter()
    model = ALS().fit(train)
    fit_s = time.perf_counter() - start
    bought = purchases_matrix(split.train, train.shape[1])
    start = time.perf_counter()
    ours = evaluate_model(model, train.matrix, split.test, ks, batch=batch, exclude=bought)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    for first in range(0, len(ours.users), batch):  # the model's own share of the pass
        rows = ours.users[first : first + batch]
        model.recommend(rows, ks[-1], bought[rows])
    recommend_s = time.perf_counter() - start
    start = time.perf_counter()
    for metric in (f"ndcg@{ks[-1]}", f"recall@{ks[-1]}"):
        bootstrap_ci(ours.per_user[metric])
    ci_s = time.perf_counter() - start
    reference = model.implicit_model()
    reference.user_factors, reference.item_factors = model.user_factors, model.item_factors
    test = split.test[:, : train.shape[1]].tocsr()  # implicit needs train and test of one shape
    start = time.perf_counter()
    with threadpool_limits(1, "blas"):
        theirs = ranking_metrics_at_k(reference, bought, test, K=ks[-1], show_progress=False)
    theirs_s = time.perf_counter() - start
    users = len(ours.users)
    return {
        "users_scored": users,
        "fit_seconds": fit_s,
        "ours_seconds": ours_s,
        "implicit_seconds": theirs_s,
        "model_recommend_seconds": recommend_s,
        "metrics_overhead_seconds": max(ours_s - recommend_s, 0.0),
        "bootstrap_2_metrics_seconds": ci_s,
        "ours_users_per_s": users / ours_s,
        "implicit_users_per_s": users / theirs_s,
        "ours_over_implicit_time": ours_s / theirs_s,
        "scoring_over_fit_time": ours_s / fit_s,
        "metrics_computed": len(ours.metrics),
        "ndcg_ours": ours.metrics[f"ndcg@{ks[-1]}"],
        "ndcg_implicit": theirs["ndcg"],
        "train_shape": list(train.shape),
        "train_nnz": train.nnz,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--train-file", help="a real dataset's training events instead")
    parser.add_argument("--test-file", help="its test events")
    parser.add_argument("--k", default="10,20")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    ks = sorted(int(k) for k in args.k.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        split, data = make_split(args, Path(tmp))
        result = measure(split, ks, args.batch)
    result["peak_rss_mb"] = peak_rss_mb()
    rows = [
        {
            "scorer": "recsys.evaluation",
            "seconds": result["ours_seconds"],
            "users/s": result["ours_users_per_s"],
            "metrics": result["metrics_computed"],
            f"ndcg@{ks[-1]}": result["ndcg_ours"],
        },
        {
            "scorer": "implicit.evaluation",
            "seconds": result["implicit_seconds"],
            "users/s": result["implicit_users_per_s"],
            "metrics": 4,
            f"ndcg@{ks[-1]}": result["ndcg_implicit"],
        },
    ]
    print_table(rows)
    print(
        f"ALS fit {result['fit_seconds']:.1f}s; scoring / fit = "
        f"{result['scoring_over_fit_time']:.2f}; ours / implicit time = "
        f"{result['ours_over_implicit_time']:.2f}; {result['users_scored']:,} users; of ours, "
        f"model.recommend {result['model_recommend_seconds']:.2f}s, metrics "
        f"{result['metrics_overhead_seconds']:.2f}s"
    )
    write_json(
        "bench_evaluate",
        {"args": vars(args), "split": split.info, "data": data, **result},
        args.out_json,
    )


if __name__ == "__main__":
    main()
