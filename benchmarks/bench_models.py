"""Fit time and peak memory of the item-item kinds (spectral, ease) next to ALS on the same
generated shop, in the same run (ratio kind / ALS). EASE inverts an items x items matrix, so above
its `max_items` it is refused, and the row says so instead of a time.

Times are the best of --repeat runs, wall and CPU (process_time, every thread counted). Peak memory
is what Python and numpy allocate during one more run (tracemalloc: implicit's own C++ buffers and
LAPACK's workspace are not seen), and the process's peak RSS at the end.

    .venv/bin/python -m benchmarks.bench_models                                  # 100k items
    .venv/bin/python -m benchmarks.bench_models --items 10000 --events 1000000   # EASE fits too
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.bench_fit import peak_mb, seconds
from benchmarks.common import generated_shop, peak_rss_mb, print_table, shop_arguments, write_json
from recsys.config import Config, ModelConfig
from recsys.data import Interactions, load_events
from recsys.errors import ConfigError
from recsys.models import build_model

KINDS = ("als", "spectral", "ease")


def measure(kind: str, interactions: Interactions, repeat: int) -> dict[str, Any]:
    model = build_model(kind, ModelConfig(kind))

    def fit() -> object:
        return model.fit(interactions)

    row: dict[str, Any] = {"model": kind, "params": str(model.params)}
    try:
        wall, cpu = seconds(fit, repeat)
    except ConfigError as exc:
        return {**row, "fit_s": None, "cpu_s": None, "peak_mb": None, "note": exc.reason}
    return {**row, "fit_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_mb": round(peak_mb(fit))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=3_000_000, users=200_000, items=100_000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each fit, best kept")
    parser.add_argument("--out-json")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"--kinds: unknown {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    with generated_shop(args) as folder:
        events = load_events(folder / "events.parquet", tuple(Config().events.weights))
    interactions = Interactions.from_events(events, Config().events)
    rows = [measure(kind, interactions, args.repeat) for kind in kinds]
    als = next((row["fit_s"] for row in rows if row["model"] == "als"), None)
    for row in rows:
        row["vs_als"] = round(row["fit_s"] / als, 2) if als and row["fit_s"] else None
    matrix = interactions.matrix
    shape = {"users": matrix.shape[0], "items": matrix.shape[1], "nnz": matrix.nnz}
    print(f"{args.events:,} events -> {shape}")
    print_table(rows)
    print(f"peak RSS of the process: {peak_rss_mb():,.0f} MB")
    result = {"args": vars(args), "matrix": shape, "rows": rows, "peak_rss_mb": peak_rss_mb()}
    write_json("models", result, args.out_json)


if __name__ == "__main__":
    main()
