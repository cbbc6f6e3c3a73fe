"""The experiment report: per-variant metrics with intervals, differences to the control with
p-values, the sample-ratio-mismatch check, a plain verdict and the metrics day by day.

`experiment_report(experiment, served, events)` takes plain pyarrow tables (see attribute.py), so a
test can feed it a hand-made log and the server and CLI feed it the event store's tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from recsys.experiments import stats
from recsys.experiments.attribute import Attribution, attribute
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.stats import Comparison, Estimate

RATES = ("ctr", "add_to_cart_rate", "conversion")
MONEY = ("revenue_per_user", "aov")
LABELS = {
    "ctr": "CTR",
    "add_to_cart_rate": "add-to-cart rate",
    "conversion": "conversion",
    "revenue_per_user": "revenue per user",
    "aov": "average order value",
}
VERDICT_METRICS = ("conversion", "revenue_per_user")
REVENUE_TESTS = ("welch", "bootstrap")
DAY = 86_400.0


class VariantData:
    """What the statistics need from one variant: counts and per-visitor / per-order arrays."""

    def __init__(self, attribution: Attribution, variant: str) -> None:
        units = attribution.units_of(variant)
        self.users = len(units)
        self.responses = int(attribution.responses.get(variant, 0))
        seen = attribution.events_of(variant, "impression", "click")
        self.impressions = distinct(seen, "request_id", "item_id")
        self.clicks = distinct(attribution.events_of(variant, "click"), "request_id", "item_id")
        self.carted = distinct(attribution.events_of(variant, "add_to_cart"), "unit")
        purchases = attribution.events_of(variant, "purchase")
        self.buyers = distinct(purchases, "unit")
        buyer, spent = purchases.column("unit").to_numpy(), purchases.column("revenue").to_numpy()
        revenue = np.bincount(buyer, weights=spent, minlength=len(attribution.unit_ids))
        self.revenue = revenue[units].astype(np.float64)
        by_order = purchases.group_by("order").aggregate([("revenue", "sum")])
        self.order_values = by_order.column("revenue_sum").to_numpy().astype(np.float64)

    def trials(self, metric: str) -> tuple[int, int]:
        """(successes, trials) of a rate metric."""
        return {
            "ctr": (self.clicks, self.impressions),
            "add_to_cart_rate": (self.carted, self.users),
            "conversion": (self.buyers, self.users),
        }[metric]

    def values(self, metric: str) -> np.ndarray:
        return self.revenue if metric == "revenue_per_user" else self.order_values

    def estimate(self, metric: str) -> Estimate:
        if metric in RATES:
            return stats.wilson(*self.trials(metric))
        return stats.mean_interval(self.values(metric))

    def summary(self) -> dict[str, Any]:
        counts = {
            "users": self.users,
            "responses": self.responses,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "add_to_cart_users": self.carted,
            "buyers": self.buyers,
            "orders": len(self.order_values),
            "revenue": float(self.revenue.sum()),
        }
        return {**counts, **{m: self.estimate(m).to_dict() for m in (*RATES, *MONEY)}}


def distinct(table: pa.Table, *columns: str) -> int:
    if table.num_rows == 0:
        return 0
    return table.group_by(list(columns)).aggregate([]).num_rows


def compare(control: VariantData, treatment: VariantData, metric: str, revenue_test: str
            ) -> Comparison:  # fmt: skip
    if metric in RATES:
        return stats.two_proportions(control.trials(metric), treatment.trials(metric))
    if revenue_test == "bootstrap":
        return stats.bootstrap(control.values(metric), treatment.values(metric))
    return stats.welch(control.values(metric), treatment.values(metric))


def experiment_report(
    experiment: ExperimentConfig,
    served: pa.Table,
    events: pa.Table,
    revenue_test: str = "welch",
) -> dict[str, Any]:
    """The JSON-ready report of `experiment` from the served responses and the events."""
    attribution = attribute(served, events, experiment.attribution_hours, experiment.name)
    data = {v.name: VariantData(attribution, v.name) for v in experiment.variants}
    control = data[experiment.control]
    differences = {
        name: {m: compare(control, variant, m, revenue_test).to_dict() for m in (*RATES, *MONEY)}
        for name, variant in data.items()
        if name != experiment.control
    }
    srm = stats.sample_ratio({n: d.users for n, d in data.items()},
                             {v.name: v.share for v in experiment.variants})  # fmt: skip
    return {
        "experiment": experiment.name,
        "mode": experiment.mode,
        "control": experiment.control,
        "revenue_test": revenue_test,
        "attribution_hours": experiment.attribution_hours,
        "variants": {name: variant.summary() for name, variant in data.items()},
        "differences": differences,
        "srm": srm.to_dict(),
        "crossover_users": attribution.crossovers,
        "verdict": verdict(experiment.control, differences, srm),
        "daily": daily(attribution, [v.name for v in experiment.variants]),
    }


def verdict(
    control: str,
    differences: dict[str, dict[str, dict]],
    srm: stats.SampleRatio | None = None,
    metrics: tuple[str, ...] = VERDICT_METRICS,
    labels: dict[str, str] = LABELS,
) -> str:
    """One plain sentence per treatment, e.g. "B beats A on conversion, +4.1% [1.2%, 7.0%],
    p=0.004; not yet significant on revenue per user"."""
    lines = []
    if srm is not None and srm.mismatch:
        counts = ", ".join(f"{name} {count}" for name, count in srm.observed.items())
        lines.append(f"Sample ratio mismatch (users {counts}; p={srm.p_value:.2g}): the split is "
                     "broken, do not trust these results.")  # fmt: skip
    for name, found_by_metric in differences.items():
        wins, losses, unsure = [], [], []
        for metric in metrics:
            found = Comparison(**found_by_metric[metric])
            text = f"{labels[metric]}, {effect(found)}"
            if not found.significant():
                unsure.append(labels[metric])
            elif (found.difference or 0) > 0:
                wins.append(text)
            else:
                losses.append(text)
        parts = [f"{name} beats {control} on {'; '.join(wins)}"] if wins else []
        parts += [f"{name} loses to {control} on {'; '.join(losses)}"] if losses else []
        if unsure:
            lead = "not yet significant on" if parts else f"{name} vs {control}: no significant " \
                                                           "difference yet on"  # fmt: skip
            parts.append(f"{lead} {' or '.join(unsure)}")
        lines.append("; ".join(parts) + ".")
    return " ".join(lines)


def effect(found: Comparison) -> str:
    """ "+4.1% [1.2%, 7.0%], p=0.004" (relative), or the absolute difference when the control is
    zero."""
    p = f"p={found.p_value:.2g}" if found.p_value is not None else "p=n/a"
    if found.relative is not None:
        return (f"{found.relative:+.1%} [{found.relative_low:+.1%}, {found.relative_high:+.1%}], "
                f"{p}")  # fmt: skip
    if found.difference is None:
        return "no data"
    return f"{found.difference:+.4g} [{found.low:+.4g}, {found.high:+.4g}], {p}"


def daily(attribution: Attribution, variants: list[str]) -> list[dict[str, Any]]:
    """Cumulative users, conversion and revenue per user of each variant at the end of every day
    (UTC) since the first exposure: the curves of the HTML report."""
    if not len(attribution.unit_ids):
        return []
    times = attribution.events.column("timestamp").to_numpy()
    start = np.floor(attribution.first_seen.min() / DAY) * DAY
    last = max(attribution.first_seen.max(), times.max() if len(times) else 0.0)
    ends = start + DAY * np.arange(1, int((last - start) // DAY) + 2)
    rows = []
    for variant in variants:
        seen = np.sort(attribution.first_seen[attribution.units_of(variant)])
        purchases = attribution.events_of(variant, "purchase")
        sale_times = purchases.column("timestamp").to_numpy()
        amounts = purchases.column("revenue").to_numpy()
        bought = first_purchases(purchases)
        for end in ends:
            users = int(np.searchsorted(seen, end, side="left"))
            buyers = int(np.searchsorted(bought, end, side="left"))
            revenue = float(amounts[sale_times < end].sum())
            rows.append({
                "day": float(end - DAY), "variant": variant, "users": users,
                "conversion": buyers / users if users else None,
                "revenue_per_user": revenue / users if users else None,
            })  # fmt: skip
    return rows


def first_purchases(purchases: pa.Table) -> np.ndarray:
    """Each buyer's first purchase time, sorted."""
    if purchases.num_rows == 0:
        return np.empty(0)
    first = purchases.group_by("unit").aggregate([("timestamp", "min")])
    return np.sort(first.column("timestamp_min").to_numpy())
