"""Offline replay: before going live, replay a held-out period of logs against every variant.

Each buyer of the held-out period gets, from each variant, the picks the server would have given
them (routed by `recsys.experiments.routing`, as the server routes); a hit is a recommended item
the buyer really bought in that period. All variants see the same buyers, so the differences to
the control use paired tests, far tighter than an online split of the same size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.bundle import Bundle
from recsys.data import Events
from recsys.experiments import stats
from recsys.experiments.assign import alone
from recsys.experiments.config import ExperimentConfig, VariantConfig
from recsys.experiments.report import verdict
from recsys.experiments.routing import routed, user_ranker
from recsys.service.query import Query
from recsys.service.served import ServedBundle
from recsys.versions import version_folder

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
    experiment: ExperimentConfig,
    variant: VariantConfig,
    bundles: Bundles,
    heldout: Heldout,
    n: int,
    asked: Query | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Per buyer: 1.0 for a hit, and the revenue of the recommended items bought; the label of
    the model that answered most often. The variant is routed as the server routes it, with
    `asked`'s server-wide rules (explore_new, promotions) when given."""
    query = dataclasses.replace(asked, n=n) if asked is not None else Query(n=n)
    assignment, current = alone(experiment, variant), bundles(None)
    hits, revenue, labels = np.zeros(len(heldout.users)), np.zeros(len(heldout.users)), {}
    for row, (user, bought) in enumerate(zip(heldout.users, heldout.bought, strict=True)):
        found = routed(assignment, current, query, user_ranker(user), bundles, seed=user)
        picks = found.picks
        shown = found.served.bundle.items.ids(picks.ranked.ids) if len(picks.ranked) else []
        amounts = [bought[item] for item in shown if item in bought]
        hits[row], revenue[row] = float(bool(amounts)), sum(amounts)
        labels[picks.model] = labels.get(picks.model, 0) + 1
    return hits, revenue, max(labels, key=labels.get) if labels else ""


def simulate(
    experiment: ExperimentConfig,
    bundles: Bundles,
    heldout: Heldout,
    n: int = 10,
    asked: Query | None = None,
) -> dict[str, Any]:
    """The replay report: per variant hit rate and recommended revenue per buyer with intervals,
    paired differences to the control, and a verdict. `asked`: the server's request defaults."""
    results = {
        v.name: replay_variant(experiment, v, bundles, heldout, n, asked)
        for v in experiment.variants
    }
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


def folder_bundles(models: Path) -> Bundles:
    """The bundles of a models folder, each loaded once: None is CURRENT's, a version its own
    (BundleError when the folder holds none of that name, as in the server)."""
    loaded: dict[str | None, ServedBundle] = {}

    def get(version: str | None) -> ServedBundle:
        if version not in loaded:
            folder = version_folder(models, version) if version else models
            loaded[version] = ServedBundle(Bundle.load(folder))
        return loaded[version]

    return get
