"""Both training engines side by side: `recsys train` (default) and `--engine spark` (local mode)
on the same generated events (seconds, peak memory of the Python driver, which for Spark holds only
aggregates, and of Spark's JVM, sampled every 0.2 s), and on ml-1m-implicit the Recall@20 of each
bundle's picks, scored from `recsys export` files.

    python -m benchmarks.bench_spark --events 1000000 [--master local[2]] [--skip-quality]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import peak_rss_mb, print_table, write_json

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

CONFIG = "[models.als]\nfactors = 64\niterations = 15\n[models.popular]\n"


def timed_train(events: Path, models: Path, config: Path, engine: str, master: str) -> dict:
    """One `recsys train` in a child process: its wall time, its own peak memory (the driver)
    and the peak resident memory of the JVM it starts (Spark's driver and local executors: a
    grandchild, not waited for, so sampled while the run lasts)."""
    argv = [sys.executable, "-m", "benchmarks.bench_spark", "--child", str(events), str(models),
            str(config), engine, master]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    jvm = {"peak_mb": 0.0}
    sampler = threading.Thread(target=sample_jvm, args=(process, jvm), daemon=True)
    sampler.start()
    out, _ = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, argv, out)
    found = json.loads(out.strip().splitlines()[-1])
    found["seconds"] = round(time.perf_counter() - start, 2)
    found["jvm_peak_mb"] = round(jvm["peak_mb"])
    return found


def sample_jvm(process: subprocess.Popen, jvm: dict[str, float]) -> None:
    """Until `process` ends: the largest summed RSS of the java processes below it."""
    parent = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in parent.children(recursive=True)
                      if "java" in p.name())  # fmt: skip
        except psutil.Error:  # a process ended between listing and reading it
            rss = 0
        jvm["peak_mb"] = max(jvm["peak_mb"], rss / 2**20)
        time.sleep(0.2)


def child(events: str, models: str, config: str, engine: str, master: str) -> None:
    from recsys_training.cli import main

    argv = ["train", "--events", events, "--models", models, "--config", config]
    if engine == "spark":
        argv += ["--engine", "spark", "--spark-master", master]
    code = main(argv)
    print(json.dumps({"exit": code, "driver_peak_mb": round(peak_rss_mb())}))


def recall_from_export(models: Path, test: Path, folder: Path, k: int = 20) -> float:
    """Recall@k of the bundle's picks as `recsys export` writes them, against the test pairs."""
    out = folder / f"export-{models.name}.csv"
    subprocess.run([sys.executable, "-m", "recsys_training.cli", "export", "--models", str(models),
                    "--out", str(out), "--n", str(k)], check=True, capture_output=True)  # fmt: skip
    picks: dict[str, set[str]] = {}
    with open(out, newline="") as fh:
        for row in csv.DictReader(fh):
            picks.setdefault(row["user_id"], set()).add(row["item_id"])
    held: dict[str, set[str]] = {}
    with gzip.open(test, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            held.setdefault(row["user_id"], set()).add(row["item_id"])
    recalls = [len(picks.get(u, set()) & items) / min(k, len(items)) for u, items in held.items()]
    return sum(recalls) / len(recalls)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", help="JSON file (default benchmarks/results/spark.json)")
    args = parser.parse_args()
    from recsys_data.generator import generate_shop

    folder = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    config = folder / "recsys.toml"
    config.write_text(CONFIG)
    generate_shop(folder / "shop", users=args.users, items=args.items, events=args.events, seed=3)
    rows: list[dict[str, Any]] = []
    for engine in ("default", "spark"):
        found = timed_train(folder / "shop" / "events.parquet", folder / f"m-{engine}", config,
                            engine, args.master)  # fmt: skip
        rows.append({"data": f"generated {args.events:,} events", "engine": engine, **found})
    ml1m = args.datasets / "ml-1m-implicit"
    if not args.skip_quality and ml1m.is_dir():
        for engine in ("default", "spark"):
            models = folder / f"ml1m-{engine}"
            found = timed_train(ml1m / "train.csv.gz", models, config, engine, args.master)
            found["recall@20"] = round(recall_from_export(models, ml1m / "test.csv.gz", folder), 4)
            rows.append({"data": "ml-1m-implicit", "engine": engine, **found})
    print_table(rows)
    write_json("spark", {"rows": rows, "master": args.master}, args.out)


if __name__ == "__main__":
    main()
