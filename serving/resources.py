"""The per-app resources every view uses: bundle holder, event store, experiments and metrics (who
may call what: serving/access.py)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Flask, current_app, g

from recsys.errors import BundleError, ConfigError
from recsys.eventstore import EventStore, StoreUnavailable
from recsys.experiments import Assignment, Experiments
from recsys.service import Picks, ServedBundle
from recsys.service.promotions import unusable
from recsys_serving.activity import ActivityMap
from recsys_serving.live_catalogue import LiveCatalogue
from recsys_serving.observe import Metrics
from recsys_serving.settings import Settings
from recsys_serving.state import BundleHolder, ProcessLocal, ServedLog
from recsys_serving.store_watch import StoreWatch

log = logging.getLogger("recsys.server")
DEGRADED_STORE = "store_unavailable"  # picks from the bundle alone: no fresh events


@dataclass
class Resources:
    settings: Settings
    holder: BundleHolder
    store: EventStore
    experiments: Experiments
    metrics: Metrics
    served_log: ServedLog
    threads: ProcessLocal
    watch: StoreWatch
    activity: ActivityMap | None = None
    catalogue: LiveCatalogue | None = None


def check_experiments(experiments: Experiments, holder: BundleHolder) -> None:
    """Loads every bundle version a variant pins (kept for the process's life). One that is
    missing or damaged is refused with a ConfigError naming the variant's key: the server never
    serves another bundle in its place. Segments unknown to the serving bundle are logged (before
    the first bundle loads, its swap logs them)."""
    for i, experiment in enumerate(experiments.experiments):
        for j, variant in enumerate(experiment.variants):
            if variant.bundle:
                try:
                    holder.pin(variant.bundle)
                except BundleError as exc:
                    raise ConfigError(
                        f"experiments[{i}].variants[{j}].bundle",
                        f"cannot serve bundle version {variant.bundle!r}: {exc}",
                    ) from None
    if holder.ready:
        warn_unknown_segments(experiments, holder.served)


def warn_unknown_segments(experiments: Experiments, served: ServedBundle) -> None:
    """Logs every experiment whose `segment` the serving bundle does not know: it admits nobody
    while that bundle serves."""
    segments = served.bundle.segments
    known = list(segments.names) if segments is not None else []
    for experiment in experiments.experiments:
        if experiment.segment and experiment.segment not in known:
            reason = (
                f"not a segment of bundle {served.version}: nobody is admitted"
                if segments is not None
                else f"bundle {served.version} holds no segments (trained before they were "
                "stored; retrain it): nobody is admitted"
            )
            log.warning(
                '{"event": "experiment_segment_unknown", "experiment": %s, "segment": %s, '
                '"known": %s, "reason": %s}',
                json.dumps(experiment.name), json.dumps(experiment.segment), json.dumps(known),
                json.dumps(reason),
            )  # fmt: skip


def bundle_swapped(app: Flask, previous: str | None, served: ServedBundle) -> None:
    """After a bundle starts serving: the version metric, the segment check, and a line for each
    promotion it cannot apply (skipped while it serves)."""
    found: Resources = app.extensions["recsys"]
    found.metrics.set_version(previous, served)
    warn_unknown_segments(found.experiments, served)
    for name, reason in unusable(served, found.settings.config.promotions):
        log.warning('{"event": "promotion_skipped", "promotion": %s, "bundle": %s, "reason": %s}',
                    json.dumps(name), json.dumps(served.version), json.dumps(reason))  # fmt: skip


def resources() -> Resources:
    found: Resources = current_app.extensions["recsys"]
    found.threads.ensure()
    return found


def is_forgotten(user_id: str) -> bool:
    """Whether the customer was forgotten (the activity map rules most users out at once); while
    the store is down, from the last forgotten list read (serving/store_watch.py)."""
    found = resources()
    if found.activity is not None and not found.activity.maybe_active(user_id):
        return False
    try:
        return found.store.is_forgotten(user_id)
    except StoreUnavailable:
        gone = found.watch.is_forgotten(user_id)
        return gone is None or gone  # unknown: answered as a new visitor, using nothing of theirs


def picks_body(
    placement: str,
    picks: Picks,
    served: ServedBundle,
    assignment: Assignment | None,
    user_id: str | None,
    degraded: str | None = None,
) -> dict[str, Any]:
    """The response body, the picks rendered with the ids of `served` (the bundle whose item
    numbers they hold); records it for attribution (responses in an experiment, or every one
    with server.record_served = "all") and counts fallbacks. `degraded` says why the answer
    lacks something (DEGRADED_STORE: the store's fresh events)."""
    found = resources()
    item_ids, items = rendered_once(picks, served)
    experiment = assignment.experiment if assignment else None
    variant = assignment.variant if assignment else None
    if experiment is not None or found.settings.record_all_served:
        found.served_log.put(
            g.request_id, user_id, placement, experiment, variant, picks.recorded or picks.model,
            item_ids, time.time(),
        )  # fmt: skip
    if picks.fallback:
        found.metrics.fallbacks.labels(placement, picks.fallback).inc()
    g.model = picks.model
    body = {
        "request_id": g.request_id,
        "model": picks.model,
        "experiment": experiment,
        "variant": variant,
        "items": items,
    }
    if degraded is not None:
        body["degraded"] = degraded
        found.metrics.degraded.labels(placement).inc()
    return body


def rendered_once(picks: Picks, served: ServedBundle) -> tuple[list[str], Any]:
    """The picks' item ids and response items, rendered with the ids of `served` (the bundle
    whose item numbers they hold) the first time and kept: remembered picks are shared."""
    if picks.rendered is None:
        picks.rendered = rendered(picks, served)
    return picks.rendered


def rendered(picks: Picks, served: ServedBundle) -> tuple[list[str], orjson.Fragment]:
    """The picks' item ids and the response's items (id, score, reason when known), the items
    already encoded as JSON: a remembered answer is then one bytes object, which the garbage
    collector never walks and the response copies as it is."""
    ranked = picks.ranked
    names = served.item_names
    item_ids = [names[i] for i in ranked.ids.tolist()]
    items = []
    for item_id, score, reason in zip(
        item_ids, ranked.scores.tolist(), ranked.reasons, strict=True
    ):
        entry: dict[str, Any] = {"item_id": item_id, "score": round(score, 6)}
        if reason is not None:
            entry["reason"] = reason
        items.append(entry)
    return item_ids, orjson.Fragment(orjson.dumps(items))
