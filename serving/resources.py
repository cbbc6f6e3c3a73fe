"""The per-app resources every view uses: bundle holder, event store, experiments, metrics, and
the API key check."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from recsys.errors import ConfigError
from recsys.eventstore import EventStore
from recsys.experiments import Assignment, Experiments, Visitor
from recsys.service import Picks, Query, ServedBundle
from recsys.service.mixed import interleaved
from serving.activity import ActivityMap
from serving.observe import Metrics
from serving.settings import Settings
from serving.state import BundleHolder, ProcessLocal, ServedLog

log = logging.getLogger("recsys.server")


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


def check_experiments(experiments: Experiments) -> None:
    """What the server cannot serve is refused at start-up, never silently replaced: a variant
    naming a bundle version (the server serves one bundle: compare versions offline with
    `recsys experiment simulate`, or put both models in one bundle). A `segment` audience is
    accepted but admits nobody here: lifecycle segments are not known at serve time (logged)."""
    for i, experiment in enumerate(experiments.experiments):
        for j, variant in enumerate(experiment.variants):
            if variant.bundle:
                raise ConfigError(
                    f"experiments[{i}].variants[{j}].bundle",
                    f"the server serves one bundle and cannot serve version {variant.bundle!r} "
                    "for one variant; train both models into one bundle and name them with "
                    "`model`, or compare versions offline with `recsys experiment simulate`",
                )
        if experiment.segment:
            log.warning(
                '{"event": "experiment_segment_unknown", "experiment": %s, "segment": %s, '
                '"reason": "segments are not known at serve time: nobody is admitted"}',
                json.dumps(experiment.name), json.dumps(experiment.segment),
            )  # fmt: skip


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


def ranked_picks(
    assignment: Assignment | None,
    served: ServedBundle,
    query: Query,
    rank: Callable[[str | None, Query], Picks],
) -> Picks:
    """rank(model, query) for the assigned variant; in an interleaving experiment both rankers'
    picks merged by team draft, seeded with the request id."""
    picks = rank(model_for(assignment, served), tuned(query, assignment))
    rival = assignment.rival if assignment is not None else None
    if rival is None:
        return picks
    other = rank(model_for(rival, served), tuned(query, rival))
    experiment = resources().experiments.get(rival.experiment)
    first = experiment.variants[0].name if experiment is not None else "A"
    return interleaved(picks, other, query.n, g.request_id, (first, rival.variant))


def picks_body(
    placement: str,
    picks: Picks,
    served: ServedBundle,
    assignment: Assignment | None,
    user_id: str | None,
) -> dict[str, Any]:
    """The response body; records it for attribution and counts fallbacks."""
    found = resources()
    if picks.rendered is None:  # remembered picks are shared: rendered once
        picks.rendered = rendered(picks, served)
    item_ids, items = picks.rendered
    experiment = assignment.experiment if assignment else None
    variant = assignment.variant if assignment else None
    found.served_log.put(
        g.request_id, user_id, placement, experiment, variant, picks.recorded or picks.model,
        item_ids, time.time(),
    )  # fmt: skip
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


def rendered(picks: Picks, served: ServedBundle) -> tuple[list[str], list[dict[str, Any]]]:
    """The picks' item ids and the response's items (id, score, reason when known)."""
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
    return item_ids, items
