"""Our metrics against trec_eval (pytrec_eval, the TREC reference implementation) on real data:
the same ranked lists scored by both must give the same means. Skipped where ../shared/datasets is
absent."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dataset

from recsys.config import EventsConfig, ModelConfig
from recsys.data import Interactions, load_events
from recsys.evaluation.evaluate import EvalResult, evaluate_model
from recsys.evaluation.splits import given_test_split
from recsys.models import build_model

pytrec_eval = pytest.importorskip("pytrec_eval")
pytestmark = pytest.mark.realdata
TYPES = tuple(EventsConfig().weights)
K = 20
TREC = {  # our name -> trec_eval's measure (ours are means over users, as trec_eval's)
    "recall": f"recall_{K}",
    "ndcg": f"ndcg_cut_{K}",
    "precision": f"P_{K}",
    "hit_rate": f"success_{K}",
    "mrr": "recip_rank",  # the run holds the top K only, so this is MRR@K
}


def trec_means(result: EvalResult, test: object) -> dict[str, float]:
    """trec_eval's measures (and map_cut) for our ranked lists, averaged over the users; scores
    K, K-1, ... keep our order (trec_eval sorts by score)."""
    qrels, run = {}, {}
    for row, user in enumerate(result.users.tolist()):
        relevant = test.indices[test.indptr[user] : test.indptr[user + 1]]  # type: ignore[attr-defined]
        qrels[f"u{user}"] = {f"i{item}": 1 for item in relevant.tolist()}
        ranked = [item for item in result.ranked[row, :K].tolist() if item >= 0]
        run[f"u{user}"] = {f"i{item}": float(K - rank) for rank, item in enumerate(ranked)}
    measures = {*TREC.values(), f"map_cut_{K}"}  # asked for as "recall.20", answered "recall_20"
    asked = {m.replace(f"_{K}", f".{K}") for m in measures}
    scores = pytrec_eval.RelevanceEvaluator(qrels, asked).evaluate(run)
    return {m: float(np.mean([scores[u][m] for u in qrels])) for m in measures}


@pytest.mark.parametrize(
    ("name", "files", "kind"),
    [
        ("ml-1m-implicit", ("train.csv.gz", "test.csv.gz"), "popular"),
        ("retailrocket-cml", ("events.csv.gz", "test_purchases.csv.gz"), "bm25"),
    ],
)
def test_metrics_equal_trec_eval(name: str, files: tuple[str, str], kind: str) -> None:
    folder = dataset(name)
    events = load_events(folder / files[0], TYPES)
    split = given_test_split(events, load_events(folder / files[1], TYPES))
    train = Interactions.from_events(split.train, EventsConfig())
    model = build_model(kind, ModelConfig(kind)).fit(train)
    result = evaluate_model(model, train.matrix, split.test, ks=(K,), exclude_train=True)
    theirs = trec_means(result, split.test)
    for ours, measure in TREC.items():
        assert result.metrics[f"{ours}@{K}"] == pytest.approx(theirs[measure], abs=1e-6), ours
    # trec_eval's average precision divides by |relevant|, ours (implicit's) by min(K, |relevant|)
    rescaled = result.per_user[f"map@{K}"] * np.minimum(result.n_relevant, K) / result.n_relevant
    assert rescaled.mean() == pytest.approx(theirs[f"map_cut_{K}"], abs=1e-6)
    assert result.metrics[f"hit_rate@{K}"] > 0.05  # real lists, not empty ones
