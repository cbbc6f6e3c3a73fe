"""`recsys train` end to end (read, matrix, fit, index, publish) next to the same ALS fit called
directly on the same matrix in the same run: the ratio of their times, and peak memory of each.

    .venv/bin/python -m benchmarks.bench_train --events 10000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from benchmarks.common import generated_shop, peak_rss_mb, print_table, shop_arguments, write_json
from recsys.config import Config
from recsys.data import Interactions, load_events
from recsys.models.als import ALS


def run_train_cli(events: Path, models: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a real `recsys train` process."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "recsys_training.cli",
            "train",
            "--events",
            str(events),
            "--models",
            str(models),
        ],
        check=True,
    )
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=10_000_000, users=200_000, items=50_000)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    with generated_shop(args) as folder:
        events = folder / "events.parquet"
        train_s, train_mb = run_train_cli(events, folder / "models")
        fit_s, shape = bare_fit(events)
    rows = [
        {"what": "recsys train (CLI, end to end)", "seconds": train_s, "peak MB": train_mb},
        {"what": "implicit ALS fit only (same matrix)", "seconds": fit_s, "peak MB": peak_rss_mb()},
    ]
    print_table(rows)
    ratio = train_s / fit_s
    print(f"{args.events:,} events, {shape}: train / bare fit = {ratio:.2f} (target <= 1.5)")
    write_json(
        "train",
        {"args": vars(args), "matrix": shape, "results": rows, "ratio_train_over_fit": ratio},
        args.out_json,
    )


if __name__ == "__main__":
    main()
