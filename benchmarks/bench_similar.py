"""Similar items: CPU per uncached request with the rows precomputed at training
(`server.similar_candidates`) next to the exact search over every item vector that serves bundles
without them, in the same run, on the same bundle (the bench_server shop: 100k items), and what the
rows cost at training (stage seconds) and in the bundle (bytes).

CPU is time.thread_time() of the picks logic alone (no HTTP, no memo), the minimum over repeats of a
pass over a sample of items, divided by the sample size.

    .venv/bin/python -m benchmarks.bench_similar --cache /tmp/bench-similar
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.bench_server import prepare_bundle
from benchmarks.common import print_table, shop_arguments, write_json
from recsys.bundle import Bundle
from recsys.models.vector import SIMILAR_FILE, VectorModel
from recsys.service import Query, ServedBundle
from recsys.service.picks import precomputed_similar, similar_picks
from recsys.service.rerank import pool_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shop_arguments(parser, events=1_500_000, users=60_000, items=100_000)
    parser.add_argument("--cache", default="/tmp/bench-similar", help="shop and bundle, made once")
    parser.add_argument("--sample", type=int, default=300, help="items asked for per pass")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    models = prepare_bundle(Path(args.cache), args.users, args.items, args.events)
    served = ServedBundle(Bundle.load(models))
    served.warm()
    name = served.default_model
    model = served.bundle.models[name]
    if not isinstance(model, VectorModel) or model.similar is None:
        raise SystemExit(f"bench_similar: {models} has no precomputed similar items; retrain it")
    items = np.random.default_rng(0).choice(served.n_items, args.sample, replace=False)
    with threadpool_limits(1):  # as the server's workers run: thread_time then sees all the work
        table = request_costs(served, model, items, args.repeats)
    print_table(table)
    manifest = served.bundle.manifest
    folder = served.bundle.path
    size = (folder / "models" / name / SIMILAR_FILE).stat().st_size
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    training = {
        "similar stage, s": manifest["seconds"].get(f"similar:{name}"),
        "candidates stage, s": manifest["seconds"].get(f"candidates:{name}"),
        "all stages, s": round(sum(manifest["seconds"].values()), 1),
        "similar rows, MB": round(size / 1e6, 1),
        "bundle, MB": round(total / 1e6, 1),
        "recall@10 of the rows (training sample)": manifest["models"][name].get(
            "similar_recall@10"
        ),
        "zero-vector items in the sample": int((~np.any(model.item_factors[items] != 0, 1)).sum()),
        "top-10 agreement with exact search (items with a vector)": agreement(served, model, items),
    }
    print_table([training])
    write_json(
        "bench_similar",
        {"args": vars(args), "requests": table, "training": training, "items": served.n_items},
        args.out,
    )


def request_costs(
    served: ServedBundle, model: VectorModel, items: np.ndarray, repeats: int
) -> list[dict[str, Any]]:
    """Per query shape, CPU per uncached request by exact search and with the rows."""
    name = served.default_model
    rows = model.similar
    ids = [served.bundle.items[int(i)] for i in items]
    queries = {
        "n=10": lambda item: Query(n=10),
        "n=10, the item's top category": lambda item: Query(
            n=10, category=top_category(served, item)
        ),
        "n=10, diversity=0.3": lambda item: Query(n=10, diversity=0.3),
    }
    table: list[dict[str, Any]] = []
    for label, make in queries.items():
        asked = [(item_id, make(int(item))) for item_id, item in zip(ids, items, strict=True)]
        model.similar = None
        exact = cpu_per_call(served, name, asked, repeats)
        model.similar = rows
        fast = cpu_per_call(served, name, asked, repeats)
        table.append(
            {
                "query": label,
                "exact search, ms": round(exact * 1e3, 3),
                "precomputed rows, ms": round(fast * 1e3, 3),
                "speed-up": round(exact / fast, 1),
                "exact fallbacks": f"{exact_fallbacks(served, model, asked)}/{len(asked)}",
            }
        )
    return table


def top_category(served: ServedBundle, item: int) -> str | None:
    category = served.category_of(item)
    return category.split("/")[0] if category else None


def cpu_per_call(
    served: ServedBundle, name: str, asked: list[tuple[str, Query]], repeats: int
) -> float:
    """CPU seconds of one uncached request: the cheapest of `repeats` passes over `asked`, per
    request."""
    for item_id, query in asked:  # masks, norms, unit vectors: built once, as a worker's first
        similar_picks(served, item_id, query, name)
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        for item_id, query in asked:
            similar_picks(served, item_id, query, name)
        best = min(best, time.thread_time() - start)
    return best / len(asked)


def exact_fallbacks(
    served: ServedBundle, model: VectorModel, asked: list[tuple[str, Query]]
) -> int:
    """How many of the requests the rows could not fill (answered by exact search)."""
    count = 0
    for item_id, query in asked:
        item = served.bundle.items.index(item_id)
        excluded = np.array([item], np.int64)
        wanted = pool_size(query.n, query.diversity)
        found = precomputed_similar(served, model, item, served.allowed(query), excluded, wanted)
        count += found is None
    return count


def agreement(served: ServedBundle, model: VectorModel, items: np.ndarray) -> float:
    """Share of the exact top 10 (in stock, unfiltered otherwise) that the rows' answer holds, over
    the items with a vector: for an item never interacted with (a zero vector) every item ties."""
    rows = model.similar
    placed = items[np.any(np.asarray(model.item_factors)[items] != 0, axis=1)]
    hits = 0
    for item in placed.tolist():
        item_id = served.bundle.items[item]
        model.similar = rows
        fast = set(similar_picks(served, item_id, Query(n=10), None).ranked.ids.tolist())
        model.similar = None
        exact = set(similar_picks(served, item_id, Query(n=10), None).ranked.ids.tolist())
        hits += len(fast & exact)
    model.similar = rows
    return round(hits / (10 * max(1, len(placed))), 4)


if __name__ == "__main__":
    main()
