"""The per-app resources every view uses: bundle holder, event store, experiments, metrics, and
the API key check."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from recsys.eventstore import EventStore
from recsys.experiments import Assignment, Experiments, Visitor
from recsys.service import Picks, Query, ServedBundle
from serving.activity import ActivityMap
from serving.observe import Metrics
from serving.settings import Settings
from serving.state import BundleHolder, ProcessLocal, ServedLog


class MissingKey(HTTPException):
    code = 401
    description = "this endpoint needs an API key (X-API-Key or Authorization: Bearer)"


class WrongKey(HTTPException):
    code = 403
    description = "the API key is not valid"


@dataclass
class Resources:
    settings: Settings
    holder: BundleHolder
    store: EventStore
    experiments: Experiments
    metrics: Metrics
    served_log: ServedLog
    threads: ProcessLocal
    activity: ActivityMap | None = None


def resources() -> Resources:
    found: Resources = current_app.extensions["recsys"]
    found.threads.ensure()
    return found


def require_api_key() -> None:
    """401 without a key, 403 with a wrong one (or when no keys are configured); constant-time."""
    given = given_key()
    if not given:
        raise MissingKey()
    keys = resources().settings.api_keys
    matched = False
    for key in keys:  # every key compared, so timing tells nothing about which one is close
        matched |= hmac.compare_digest(given.encode(), key.encode())
    if not matched:
        raise WrongKey()


def given_key() -> str:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def assign(
    placement: str, visitor_id: str, query: Query, served: ServedBundle
) -> Assignment | None:
    """The visitor's experiment variant for this placement (None outside experiments)."""
    experiments = resources().experiments
    if not len(experiments):
        return None
    visitor = Visitor(returning=visitor_id in served.bundle.users)
    return experiments.assign(placement, visitor_id, query.experiment, visitor)


def model_for(assignment: Assignment | None, served: ServedBundle) -> str | None:
    """The variant's model when this bundle has it; None means the default model."""
    if assignment is not None and assignment.model in served.bundle.models:
        return assignment.model
    return None


def tuned(query: Query, assignment: Assignment | None) -> Query:
    """A variant's diversity applies unless the request set its own."""
    if assignment is None or "diversity" not in assignment.params or query.diversity:
        return query
    return replace(query, diversity=float(assignment.params["diversity"]))


def picks_body(
    placement: str,
    picks: Picks,
    served: ServedBundle,
    assignment: Assignment | None,
    user_id: str | None,
) -> dict[str, Any]:
    """The response body; records it for attribution and counts fallbacks."""
    found = resources()
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
    experiment = assignment.experiment if assignment else None
    variant = assignment.variant if assignment else None
    found.served_log.put(
        g.request_id, user_id, placement, experiment, variant, picks.model, item_ids, time.time()
    )
    if picks.fallback:
        found.metrics.fallbacks.labels(placement, picks.fallback).inc()
    g.model = picks.model
    return {
        "request_id": g.request_id,
        "model": picks.model,
        "experiment": experiment,
        "variant": variant,
        "items": items,
    }
