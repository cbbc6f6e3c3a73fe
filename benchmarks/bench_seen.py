"""seen=allow|exclude|cap for personal picks, evaluated: each user's last purchase held out, every
earlier event (views, carts, purchases) trains ALS; the picks (purchases excluded, as the server
does) are cut to 10 / 20 under each rule (recsys.service.seen.seen_capped for cap, as the server
applies it; exclude and cap rank the model's items without seen ones, as the server does) and
scored on the held-out purchase. On the real RetailRocket subset (views and carts -> next
purchase) and on a generated shop, in the same run.

    .venv/bin/python -m benchmarks.bench_seen
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import print_table, write_json
from recsys.config import EventsConfig, ModelConfig
from recsys.data import load_events
from recsys.data.interactions import Interactions, purchases_matrix
from recsys.evaluation import metrics
from recsys.evaluation.splits import leave_last_split
from recsys.models import fit
from recsys.service.query import Ranked
from recsys.service.seen import SEEN_MODES, seen_capped

DATASETS = Path(os.environ.get("RECSYS_DATASETS", Path(__file__).resolve().parents[2] / "shared"
                               / "datasets"))  # fmt: skip
K = 20  # the longest list scored
TYPES = ("view", "add_to_cart", "purchase")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--retailrocket", default=str(DATASETS / "retailrocket-cml" / "events.csv.gz")
    )
    parser.add_argument("--cap", type=float, default=0.3, help="server.seen_cap evaluated")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from data.generator import generate_shop

        generate_shop(Path(tmp), users=5_000, items=2_000, events=300_000, seed=7)
        for name, path in (("retailrocket-cml", Path(args.retailrocket)),
                           ("generated shop", Path(tmp) / "events.parquet")):  # fmt: skip
            rows += evaluate(name, path, args.cap, args.factors)
    print_table(rows)
    write_json("bench_seen", {"cap": args.cap, "rows": rows}, args.out)


def evaluate(name: str, path: Path, cap: float, factors: int) -> list[dict[str, Any]]:
    events = load_events(path, TYPES, "skip")
    split = leave_last_split(events)
    interactions = Interactions.from_events(split.train, EventsConfig())
    model = fit("als", ModelConfig("als", {"factors": factors}), interactions, split.train)
    users = interactions.users.indices(split.rows.ids(range(len(split.rows))))
    known = users >= 0
    test = split.test[np.flatnonzero(known)]
    users = users[known]
    bought = purchases_matrix(split.train, len(interactions.items))[users]
    seen = interactions.matrix[users]
    lists = {"allow": model.recommend(users, K, exclude=bought)}
    lists["exclude"] = model.recommend(users, K, exclude=((bought + seen) > 0).astype(np.float32))
    relevant = [test.indices[test.indptr[r] : test.indptr[r + 1]] for r in range(test.shape[0])]
    seen_rows = [seen.indices[seen.indptr[r] : seen.indptr[r + 1]] for r in range(len(users))]
    target_seen = np.mean([np.isin(relevant[r], seen_rows[r]).any() for r in range(len(users))])
    rows = []
    for mode in SEEN_MODES:
        for k in (10, 20):
            found = capped(lists["allow"], lists["exclude"], seen, cap, k) if mode == "cap" else (
                lists[mode]
            )
            ranked = found[0][:, :k]
            hits = metrics.hit_matrix(ranked, relevant)
            n_rel = np.array([len(r) for r in relevant])
            share = np.mean([np.isin(ranked[r], seen_rows[r]).mean() for r in range(len(users))])
            rows.append({
                "data": name, "seen": mode if mode != "cap" else f"cap {cap:g}", "k": k,
                "users": len(users),
                "hit rate": float(metrics.batch_hit_rate(hits, n_rel, k).mean()),
                "ndcg": float(metrics.batch_ndcg(hits, n_rel, k).mean()),
                "seen share of list": float(share),
                "target seen before": float(target_seen),
            })  # fmt: skip
    return rows


def capped(
    allow: tuple[np.ndarray, np.ndarray], unseen: tuple[np.ndarray, np.ndarray], seen: Any,
    cap: float, n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's `n` picks under seen=cap (recsys.service.seen.seen_capped, as the server
    does)."""
    ids, scores = np.full(allow[0].shape, -1), np.zeros(allow[0].shape, np.float32)
    for r in range(len(ids)):
        mine = seen.indices[seen.indptr[r] : seen.indptr[r + 1]]
        first = Ranked(allow[0][r], allow[1][r]).valid()
        found = seen_capped(first, np.isin(first.ids, mine), Ranked(unseen[0][r], unseen[1][r])
                            .valid(), n, cap)  # fmt: skip
        ids[r, : len(found)], scores[r, : len(found)] = found.ids, found.scores
    return ids, scores


if __name__ == "__main__":
    main()
