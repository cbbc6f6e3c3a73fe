"""Reports straight from an event store (the server's and `recsys experiment report`'s path)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recsys.experiments.attribute import ATTRIBUTED_TYPES
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.interleave import interleave_report
from recsys.experiments.report import experiment_report


def report_from_store(
    experiment: ExperimentConfig, store: Any, revenue_test: str = "welch"
) -> dict[str, Any]:
    """Reads the experiment's served responses and the events since its first response from
    `store` (recsys.eventstore.EventStore), of the types attribution counts (the interleaving
    report's clicks among them), and builds the report. Rows of forgotten customers are left
    out (a forget deletes them; any left behind are removed here) and counted in the report's
    `forgotten_rows_removed`."""
    forgotten = store.forgotten()
    served, removed = forgotten.drop(store.served_table(experiment.name))
    since = pc.min(served.column("timestamp")).as_py() if served.num_rows else None
    events = pa.table({})
    if since is not None:
        events, more = forgotten.drop(store.events_table(since, event_types=ATTRIBUTED_TYPES))
        removed += more
    report = build_report(experiment, served, events, revenue_test)
    return {**report, "forgotten_rows_removed": removed}


def build_report(
    experiment: ExperimentConfig, served: pa.Table, events: pa.Table, revenue_test: str = "welch"
) -> dict[str, Any]:
    """The A/B report of a split experiment, the preference report of an interleaving one."""
    if experiment.mode == "interleave":
        return interleave_report(experiment, served, events)
    return experiment_report(experiment, served, events, revenue_test)
