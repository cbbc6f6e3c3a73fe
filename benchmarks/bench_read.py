"""Reading events: rows/s of recsys.load_events (validation and numbering included) from CSV and
Parquet, next to a bare pyarrow read of the same file in the same run.

    .venv/bin/python -m benchmarks.bench_read --events 10000000
"""

from __future__ import annotations

import argparse

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from benchmarks.common import generated_shop, print_table, shop_arguments, timed, write_json
from recsys.data import load_events

TYPES = ("view", "add_to_cart", "purchase")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=10_000_000, users=200_000, items=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    with generated_shop(args) as folder:
        parquet = folder / "events.parquet"
        csv = folder / "events.csv"
        table = pq.read_table(parquet)
        table = table.set_column(
            table.column_names.index("timestamp"),
            "timestamp",
            table.column("timestamp").cast("string"),
        )
        pcsv.write_csv(table, csv)
        rows = []
        for name, path, bare in (
            ("csv", csv, lambda p: pcsv.read_csv(p)),
            ("parquet", parquet, lambda p: pq.read_table(p)),
        ):
            ours, events = timed(lambda p=path: load_events(p, TYPES), args.repeat)
            reference, _ = timed(lambda p=path, b=bare: b(p), args.repeat)
            rows.append(
                {
                    "format": name,
                    "rows": len(events),
                    "MB": path.stat().st_size / 1e6,
                    "recsys s": ours,
                    "rows/s": len(events) / ours,
                    "bare pyarrow s": reference,
                    "ratio ours/bare": ours / reference,
                }
            )
    print_table(rows)
    write_json("read", {"args": vars(args), "results": rows}, args.out_json)


if __name__ == "__main__":
    main()
