"""`recsys train` end to end (read, matrix, fit, index, publish) next to the same ALS fit called
directly on the same matrix in the same run, once before and once after it (the machine's load
drifts: the ratio is to their mean), and peak memory of each. Then the trainer's candidate search
(recsys.batch_search: every user's `server.candidates` best items) next to FAISS's own batch search
(IndexFlatIP, all cores) of the same published vectors.

    .venv/bin/python -m benchmarks.bench_train --events 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import (
    generated_shop,
    peak_rss_mb,
    print_table,
    run_with_peak,
    shop_arguments,
    timed,
    write_json,
)
from recsys import batch_search
from recsys.config import Config
from recsys.data import Interactions, load_events
from recsys.models.als import ALS


def run_train_cli(events: Path, models: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a real `recsys train` process."""
    cli = [sys.executable, "-m", "recsys_training.cli"]
    return run_with_peak([*cli, "train", "--events", str(events), "--models", str(models)])


def bare_fit(events_path: Path) -> tuple[float, dict]:
    """implicit's ALS with the default recsys params, on the matrix recsys builds (not timed)."""
    config = Config()
    events = load_events(events_path, tuple(config.events.weights))
    matrix = Interactions.from_events(events, config.events).matrix
    model = ALS().implicit_model()
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        seconds = time.perf_counter() - start
    return seconds, {"users": matrix.shape[0], "items": matrix.shape[1], "nnz": matrix.nnz}


def candidate_search(models: Path, k: int) -> list[dict[str, Any]]:
    """Seconds of every user's top-k over the published ALS vectors: ours, then FAISS's."""
    folder = models / (models / "CURRENT").read_text().strip() / "models" / "als"
    users = np.load(folder / "user_factors.npy")
    items = np.load(folder / "item_factors.npy")
    ours_s, (_, ours) = timed(lambda: batch_search.top_k(users, items, k))
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    faiss_s, (_, reference) = timed(lambda: index.search(users, k))
    same = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(ours, reference, strict=True)])
    what = f"top-{k} of {len(users):,} users x {len(items):,} items"
    return [
        {"what": f"{what}: recsys.batch_search", "seconds": ours_s, "same as FAISS": same},
        {"what": f"{what}: FAISS IndexFlatIP.search", "seconds": faiss_s, "same as FAISS": 1.0},
    ]


def stages(models: Path) -> dict[str, float]:
    """Seconds per stage, as the published manifest records them."""
    version = (models / "CURRENT").read_text().strip()
    return json.loads((models / version / "manifest.json").read_text())["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=10_000_000, users=200_000, items=50_000)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    with generated_shop(args) as folder:
        events = folder / "events.parquet"
        fit_before, shape = bare_fit(events)
        train_s, train_mb = run_train_cli(events, folder / "models")
        stage_s = stages(folder / "models")
        fit_after, _ = bare_fit(events)
        fit_s = (fit_before + fit_after) / 2
        search = candidate_search(folder / "models", Config().server.candidates)
    rows = [
        {"what": "recsys train (CLI, end to end)", "seconds": train_s, "peak MB": train_mb},
        {
            "what": "implicit ALS fit only (same matrix), before",
            "seconds": fit_before,
            "peak MB": peak_rss_mb(),
        },
        {
            "what": "implicit ALS fit only (same matrix), after",
            "seconds": fit_after,
            "peak MB": peak_rss_mb(),
        },
    ]
    print_table(rows)
    print("stages: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in stage_s.items()))
    ratio = train_s / fit_s
    print(f"{args.events:,} events, {shape}: train / mean bare fit = {ratio:.2f} (target <= 1.5)")
    print_table(search)
    search_ratio = search[0]["seconds"] / search[1]["seconds"]
    print(f"candidate search / FAISS batch search = {search_ratio:.2f} (target <= 1)")
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1, 5, 15 min) after the run: {load}")
    write_json(
        "train",
        {"args": vars(args), "matrix": shape, "results": rows, "stages": stage_s,
         "ratio_train_over_fit": ratio, "candidate_search": search,
         "ratio_search_over_faiss": search_ratio, "load_average": load},
        args.out_json,
    )  # fmt: skip


if __name__ == "__main__":
    main()
