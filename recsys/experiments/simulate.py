"""Offline replay: before going live, replay a held-out period of logs against every variant.

Each buyer of the held-out period gets, from each variant, the picks the server would have given
them (`recsys.service.picks.for_user` on the variant's bundle, model and diversity); a hit is a
recommended item the buyer really bought in that period. All variants see the same buyers, so the
differences to the control use paired tests, far tighter than an online split of the same size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.data import Events
from recsys.experiments import stats
from recsys.experiments.config import ExperimentConfig, VariantConfig
from recsys.experiments.report import verdict
from recsys.service.picks import for_user
from recsys.service.query import Query
from recsys.service.served import ServedBundle

METRICS = ("hit_rate", "revenue_per_user")
LABELS = {"hit_rate": "hit rate", "revenue_per_user": "recommended revenue per buyer"}
Bundles = Callable[[str | None], ServedBundle]  # bundle version (None: current) -> bundle


@dataclass(frozen=True)
class Heldout:
    """What each buyer bought in the held-out period: item -> revenue (price x quantity, 0 when
    unknown)."""

    users: list[str]
    bought: list[dict[str, float]]


def heldout_purchases(events: Events, relevant: Sequence[str] = ("purchase",)) -> Heldout:
    rows = np.flatnonzero(events.is_type(*relevant))
    users = events.users.ids(events.user[rows])
    items = events.items.ids(events.item[rows])
    revenue = purchase_revenue(events, rows)
    bought: dict[str, dict[str, float]] = {}
    for user, item, amount in zip(users, items, revenue.tolist(), strict=True):
        basket = bought.setdefault(user, {})
        basket[item] = basket.get(item, 0.0) + amount
    return Heldout(list(bought), list(bought.values()))


def purchase_revenue(events: Events, rows: np.ndarray) -> np.ndarray:
    names = events.extra.column_names
    if "price" not in names:
        return np.zeros(len(rows))
    price = events.extra.column("price").to_numpy(zero_copy_only=False).astype(np.float64)[rows]
    quantity = (
        events.extra.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)[rows]
        if "quantity" in names
        else np.ones(len(rows))
    )
    return np.nan_to_num(price) * np.nan_to_num(quantity, nan=1.0)


def replay_variant(
    variant: VariantConfig, bundles: Bundles, heldout: Heldout, n: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Per buyer: 1.0 for a hit, and the revenue of the recommended items bought; the label of
    the model that answered most often."""
    model, params = variant.resolved()
    served = bundles(params.get("bundle"))
    query = Query(n=n, diversity=float(params.get("diversity", 0.0)))
    hits, revenue, labels = np.zeros(len(heldout.users)), np.zeros(len(heldout.users)), {}
    for row, (user, bought) in enumerate(zip(heldout.users, heldout.bought, strict=True)):
        picks = for_user(served, user, query, model or None)
        shown = served.bundle.items.ids(picks.ranked.ids) if len(picks.ranked) else []
        found = [bought[item] for item in shown if item in bought]
        hits[row], revenue[row] = float(bool(found)), sum(found)
        labels[picks.model] = labels.get(picks.model, 0) + 1
    return hits, revenue, max(labels, key=labels.get) if labels else ""


def simulate(
    experiment: ExperimentConfig, bundles: Bundles, heldout: Heldout, n: int = 10
) -> dict[str, Any]:
    """The replay report: per variant hit rate and recommended revenue per buyer with intervals,
    paired differences to the control, and a verdict."""
    results = {v.name: replay_variant(v, bundles, heldout, n) for v in experiment.variants}
    control_hits, control_revenue, _ = results[experiment.control]
    variants = {
        name: {
            "model": label,
            "params": experiment.variant(name).resolved()[1],
            "hits": int(hits.sum()),
            "hit_rate": stats.wilson(int(hits.sum()), len(hits)).to_dict(),
            "revenue_per_user": stats.mean_interval(revenue).to_dict(),
        }
        for name, (hits, revenue, label) in results.items()
    }
    differences = {
        name: {
            "hit_rate": stats.paired(control_hits, hits).to_dict(),
            "revenue_per_user": stats.paired(control_revenue, revenue).to_dict(),
        }
        for name, (hits, revenue, _) in results.items()
        if name != experiment.control
    }
    priced = any(revenue.any() for _, revenue, _ in results.values())
    metrics = METRICS if priced else ("hit_rate",)  # logs without prices say nothing on revenue
    return {
        "experiment": experiment.name,
        "control": experiment.control,
        "buyers": len(heldout.users),
        "n": n,
        "variants": variants,
        "differences": differences,
        "verdict": verdict(experiment.control, differences, None, metrics, LABELS),
    }


def bundle_cache(load: Callable[[str | None], ServedBundle]) -> Bundles:
    """Loads each bundle version once."""
    loaded: dict[str | None, ServedBundle] = {}

    def get(version: str | None) -> ServedBundle:
        if version not in loaded:
            loaded[version] = load(version)
        return loaded[version]

    return get
