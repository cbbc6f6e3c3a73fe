"""Times `generate_shop` (simulation plus writing the files) and records peak memory.

    python benchmarks/bench_generate.py --events 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from recsys_data.generator import generate_shop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-json", type=Path, default=Path("benchmarks/results/generate.json"))
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, else KiB


def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as folder:
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = generate_shop(Path(folder), users=args.users, items=args.items,
                                events=args.events, seed=args.seed)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        parquet_mb = (Path(folder) / "events.parquet").stat().st_size / 2**20
    return {
        "events": summary["events"], "users": args.users, "items": args.items, "seed": args.seed,
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
        "events_per_second": round(args.events / seconds),
        "peak_rss_mb": round(peak_rss_mb(), 1), "events_parquet_mb": round(parquet_mb, 1),
        "summary": summary, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": np.__version__, "pyarrow": pa.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    rows = [("events", f"{result['events']:,}"), ("seconds", f"{result['seconds']:.2f}"),
            ("CPU seconds", f"{result['cpu_seconds']:.2f}"),
            ("events/s", f"{result['events_per_second']:,}"),
            ("peak RSS (MB)", f"{result['peak_rss_mb']:,.0f}"),
            ("events.parquet (MB)", f"{result['events_parquet_mb']:,.0f}")]
    for name, value in rows:
        print(f"{name:<20} {value:>14}")
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
