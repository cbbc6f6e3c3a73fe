"""Session picks for anonymous visitors on YooChoose (RecSys Challenge 2015 sample): next-click
HR@20 and MRR@20 of `recsys.session.session_picks` (ALS fold-in, an item-based model, the blend of
both) for each item-based model (item-kNN, ease, spectral), next to the best sellers and plain
item-kNN (neighbours of the last click), in the same run, on one bundle holding every model (each
method sees only the models it names, as a bundle configured with just those would). Each blend is
replayed at ALS share 0.5 and at the share `recsys train` chooses for that pair on a validation
split of `train_full` (recsys.tuning.sessions; never the test sessions).

A bundle is trained on `train_full` (sessions as users) with `recsys train`'s pipeline; each test
session is replayed click by click: after clicks 1..t, the picks must hold click t+1. Items already
seen in the session are never picked (as the endpoint does), so a next click that repeats one cannot
be hit: results are given over all next clicks and over next clicks on new items.

    .venv/bin/python -m benchmarks.bench_sessions
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import print_table, write_json
from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.data import load_events
from recsys.evaluation import metrics
from recsys.session import SessionSettings, row_of, session_picks
from recsys.tuning import choose_session_share
from recsys_training.pipeline import train

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECSYS_DATASETS", ROOT.parent / "shared" / "datasets"))
K = 20
LAST_CLICK = SessionSettings(als_share=0.0, half_life=1e-3)
ITEM_ONLY, ALS_ONLY = SessionSettings(als_share=0.0), SessionSettings(als_share=1.0)
ITEM_MODELS = ("itemknn", "ease", "spectral")
Method = tuple[str, tuple[str, ...], SessionSettings | None]
METHODS: list[Method] = [
    ("popular", (), None),
    ("item-kNN, last click", ("itemknn",), LAST_CLICK),
    ("session:als", ("als",), ALS_ONLY),
]
TRAIN = DATA / "yoochoose-sample" / "train_full.csv.gz"


def trained_bundle(folder: Path, factors: int, knn: str) -> tuple[Bundle, list[Method]]:
    """One bundle with every model, and the methods to replay: each item-based model alone and
    blended with ALS at share 0.5 and at the share chosen on validation for that pair."""
    models = {"als": {"factors": factors}, "itemknn": {"kind": knn}, "popular": {}}
    config = config_from_dict({"models": {**models, "ease": {}, "spectral": {}}})
    train(TRAIN, folder, config)
    bundle = Bundle.load(folder)
    events = load_events(TRAIN, tuple(config.events.weights))
    methods = list(METHODS)
    for item in ITEM_MODELS:
        pair = {name: bundle.models[name] for name in ("als", item)}
        share = choose_session_share(events, config, pair)["als_share"]
        methods += [
            (f"session:{item}", (item,), ITEM_ONLY),
            (f"session:als+{item}, share 0.5", ("als", item), SessionSettings()),
            (f"session:als+{item}, chosen share {share:g}", ("als", item),
             SessionSettings(als_share=share)),
        ]  # fmt: skip
    return bundle, methods


def only(bundle: Bundle, names: tuple[str, ...]) -> Bundle:
    """The bundle as if it held only the models `names` (and its popularity tables)."""
    return dataclasses.replace(bundle, models={name: bundle.models[name] for name in names})


def test_sessions(bundle: Bundle, limit: int | None) -> list[np.ndarray]:
    """Each test session's clicks as item numbers, in order (unknown items -1)."""
    events = load_events(DATA / "yoochoose-sample" / "test.csv.gz", ("view",))
    items = bundle.items.encode(events.items.arrow)[events.item]
    order = np.lexsort((events.timestamp, events.user))
    starts = np.flatnonzero(np.r_[True, np.diff(events.user[order]) != 0])
    sessions = [s for s in np.split(items[order], starts[1:]) if len(s) >= 2]
    return sessions[:limit] if limit else sessions


def picks(bundle: Bundle, seen: np.ndarray, settings: SessionSettings | None) -> np.ndarray:
    if settings is None:
        return bundle.popularity.top(K, exclude=row_of(seen[seen >= 0], len(bundle.items)))[0]
    return session_picks(bundle, seen, K, settings=settings)[0]


def replay(bundle: Bundle, sessions: list[np.ndarray], settings: SessionSettings | None) -> dict:
    ranked, targets, repeats, seconds = [], [], [], []
    for clicks in sessions:
        for t in range(1, len(clicks)):
            start = time.perf_counter()
            ids = picks(bundle, clicks[:t], settings)
            seconds.append(time.perf_counter() - start)
            ranked.append(np.pad(ids, (0, K - len(ids)), constant_values=-1))
            targets.append(clicks[t])
            repeats.append(clicks[t] in clicks[:t])
    ranked_m, target = np.array(ranked), np.array(targets)
    hits = (ranked_m == target[:, None]) & (target[:, None] >= 0)
    new = ~np.array(repeats)
    ones = np.ones(len(target), np.int64)
    return {
        f"HR@{K}": metrics.batch_hit_rate(hits, ones, K).mean(),
        f"MRR@{K}": metrics.batch_mrr(hits, ones, K).mean(),
        f"HR@{K} new items": metrics.batch_hit_rate(hits[new], ones[new], K).mean(),
        f"MRR@{K} new items": metrics.batch_mrr(hits[new], ones[new], K).mean(),
        "ms per call (median)": 1000 * float(np.median(seconds)),
        "predictions": len(target),
        "repeat share": 1 - float(new.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=None, help="test sessions (default all)")
    parser.add_argument("--factors", type=int, default=64, help="ALS factors")
    parser.add_argument("--knn", default="cosine", choices=("cosine", "bm25", "tfidf"))
    parser.add_argument("--out", help="JSON path (default benchmarks/results/sessions.json)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bundle, methods = trained_bundle(Path(folder), args.factors, args.knn)
        sessions = test_sessions(bundle, args.sessions)
        rows: list[dict[str, Any]] = []
        for name, models, settings in methods:
            rows.append({"method": name, **replay(only(bundle, models), sessions, settings)})
    popular = rows[0][f"HR@{K}"]
    for row in rows:
        row[f"HR@{K} vs popular"] = row[f"HR@{K}"] / popular if popular else float("nan")
    print_table(rows)
    write_json("sessions", {"k": K, "args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
