"""Cross-sell quality on generated shops of two sizes: for every item the generator gave true
complements, the top 5 of `POST /v1/cross-sell` with that one item, through the served path
(recsys.service.cross_sell on a bundle trained with the demo's config, fallbacks included).

Printed per shop: the share of items whose top 5 holds a true complement, the share of the top-5
slots that are substitutes of the item (compared, rarely bought together), the share of answers
that fell back (similar items or popular), and the same two rates for BM25 similar items on the
same bundle (what a shop gets from "also viewed" instead).

    .venv/bin/python -m benchmarks.bench_crosssell
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from benchmarks.common import print_table, write_json
from recsys.bundle import Bundle
from recsys.config import load_config
from recsys.service import Query, ServedBundle, cross_sell, similar
from recsys_data.generator import generate_shop
from recsys_training.pipeline import train

ROOT = Path(__file__).resolve().parents[1]
N = 5
SHOPS = "5000x2000x300000,20000x10000x1000000"  # users x items x events; the first is `make run`'s


def truth(folder: Path, name: str, column: str) -> dict[str, set[str]]:
    types = {"item_id": pa.string(), column: pa.string()}
    table = pcsv.read_csv(folder / name, convert_options=pcsv.ConvertOptions(column_types=types))
    pairs: dict[str, set[str]] = {}
    for item, other in zip(
        table.column("item_id").to_pylist(), table.column(column).to_pylist(), strict=True
    ):
        pairs.setdefault(item, set()).add(other)
    return pairs


def rates(
    answers: dict[str, list[str]],
    complements: dict[str, set[str]],
    substitutes: dict[str, set[str]],
) -> tuple[float, float]:
    """Share of items with a true complement in their list; share of slots that are substitutes."""
    hit = [bool(set(ids) & complements[item]) for item, ids in answers.items()]
    subs = [len(set(ids) & substitutes.get(item, set())) / N for item, ids in answers.items()]
    return float(np.mean(hit)), float(np.mean(subs))


def measure(users: int, items: int, events: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        shop, models = Path(tmp) / "shop", Path(tmp) / "models"
        generate_shop(shop, users=users, items=items, events=events, seed=seed)
        config = load_config(ROOT / "data" / "demo.toml")
        train(shop / "events.parquet", models, config, shop / "catalogue.csv")
        served = ServedBundle(Bundle.load(models))
        complements = truth(shop, "complements.csv", "complement_id")
        substitutes = truth(shop, "substitutes.csv", "substitute_id")
        asked = [item for item in complements if served.bundle.items.index(item) is not None]
        query = Query(n=N)
        crossed, neighbours, fell_back = {}, {}, 0
        for item in asked:
            picks = cross_sell(served, [item], query)
            crossed[item] = served.bundle.items.ids(picks.ranked.ids.tolist())
            fell_back += picks.fallback is not None
            neighbours[item] = served.bundle.items.ids(
                similar(served, item, query, "bm25").ranked.ids.tolist()
            )
    hit, substitute_share = rates(crossed, complements, substitutes)
    knn_hit, knn_substitutes = rates(neighbours, complements, substitutes)
    return {
        "shop": f"{users:,} users x {items:,} items x {events:,} events",
        "items asked": len(asked),
        f"complement in top {N}": hit,
        "substitute slots": substitute_share,
        "fallback answers": fell_back / max(len(asked), 1),
        f"bm25 similar: complement in top {N}": knn_hit,
        "bm25 similar: substitute slots": knn_substitutes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", default=SHOPS, help=f"users x items x events (default {SHOPS})")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (make run's: 7)")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/crosssell.json)")
    args = parser.parse_args()
    rows = []
    for size in args.shops.split(","):
        users, items, events = (int(part) for part in size.split("x"))
        rows.append(measure(users, items, events, args.seed))
    print_table(rows)
    write_json("crosssell", {"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
