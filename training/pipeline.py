"""The offline trainer: events (+ catalogue) -> interactions -> fitted models -> a published
bundle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.bundle import BundleContents, write_bundle
from recsys.campaigns.segments import SEGMENTS as SEGMENT_NAMES
from recsys.campaigns.segments import compute_segments
from recsys.config import Config
from recsys.data import (
    Catalogue,
    Events,
    Interactions,
    load_catalogue,
    purchases_matrix,
)
from recsys.data.events import FORGOTTEN_ROWS
from recsys.errors import BundleError
from recsys.eventstore.training import (
    load_training_events,
    stored_item_changes,
    with_item_changes,
    written_at,
)
from recsys.index import VectorIndex, all_pairs_factory
from recsys.membership import SegmentMembership
from recsys.models import Recommender, fit
from recsys.models.vector import VectorModel
from recsys.popularity import Popularity, trending_window
from recsys.privacy import NOT_APPLIED, ForgetKey, Forgotten
from recsys.tuning import Budget, choose_session_share, tune_config
from recsys.versions import publish

Say = Callable[[str], None]


@dataclass
class TrainReport:
    """What a run did: counts, the published folder and seconds per stage."""

    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    users: int = 0
    items: int = 0
    nnz: int = 0
    bundle: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    index_recall: dict[str, float] = field(default_factory=dict)
    index_search: dict[str, dict[str, int]] = field(default_factory=dict)
    similar_recall: dict[str, float] = field(default_factory=dict)
    tuning: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, Any] = field(default_factory=dict)  # the session blend's chosen share
    forgotten: str = ""  # what was done about forgotten customers, one line

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        skipped = sum(self.skipped.values())
        return (
            f"read {self.events:,} events ({skipped:,} skipped), {self.users:,} users, "
            f"{self.items:,} items, {self.nnz:,} nnz; published {self.bundle}; {stages}"
            + (f"; {self.forgotten}" if self.forgotten else "")
        )


@dataclass
class Training:
    """Everything fitted in one run, ready to be written as a bundle."""

    config: Config
    interactions: Interactions
    purchased: sp.csr_matrix
    popularity: Popularity
    catalogue: Catalogue | None
    models: dict[str, Recommender]
    segments: SegmentMembership | None = None
    fingerprint: str = ""  # of the data read (the same data gives the same value)
    time_range: tuple[int, int] = (0, 0)  # oldest and newest event, Unix seconds
    engine: str = "default"  # what read the events and fitted: default | spark


def train(
    events_path: str | Path | None,
    models_dir: str | Path,
    config: Config,
    catalogue_path: str | Path | None = None,
    on_error: str = "fail",
    say: Say | None = None,
    events_db: str | None = None,
    tune: Budget | None = None,
    forgotten: Forgotten = NOT_APPLIED,
    key: ForgetKey | None = None,
    forgetting_db: str | None = None,
) -> TrainReport:
    """Reads, fits and publishes, leaving the `forgotten` customers out (the store at `events_db`
    is opened with `key`); the item changes of `events_db`, else of `forgetting_db` (the server's
    store), are merged into the catalogue. Nothing is written unless every step before
    publishing succeeds."""
    say = say or (lambda _: None)
    report = TrainReport()
    with report.stage("read"):
        weights = tuple(config.events.weights)
        events = load_training_events(
            events_path, events_db, weights, on_error, say, forgotten, key
        )
        catalogue = live_catalogue(catalogue_path, events_db or forgetting_db)
    report.events, report.skipped = len(events), dict(events.skipped)
    report.forgotten = forgotten.summary(events.skipped.get(FORGOTTEN_ROWS, 0), "events")
    for reason, count in events.skipped.items():
        say(f"skipped {count:,} rows: {reason}")
    if tune is not None:  # the search's validation split comes from these events alone
        with report.stage("tune"):
            config, report.tuning = tune_config(events, config, tune, say=say)
    # Segments are computed on a second thread while the matrix is built: both are single-threaded
    # array work that releases the GIL, so each gets a core; "segments" is the wait beyond it.
    with ThreadPoolExecutor(1) as pool:
        segments = pool.submit(compute_segments, events, config.segments, catalogue)
        with report.stage("matrix"):
            training = prepare(events, catalogue, config)
        with report.stage("segments"):  # the bundle's users are the events' users, in that order
            training.segments = SegmentMembership.from_flags(segments.result(), SEGMENT_NAMES)
    for name in config.models:
        say(f"fitting {name}")
        with report.stage(f"fit:{name}"):
            training.models[name] = fit(name, config.models[name], training.interactions, events)
    with report.stage("sessions"):
        report.sessions = choose_session_share(events, config, training.models)
    return finish(training, active_users(events, config), Path(models_dir), report, say)


def live_catalogue(catalogue_path: str | Path | None, store_url: str | None) -> Catalogue | None:
    """The catalogue file with the item changes stored through the API (in `store_url`) merged
    in; a newer file wins for the fields it sets."""
    catalogue = load_catalogue(catalogue_path) if catalogue_path else None
    changes = stored_item_changes(store_url)
    return with_item_changes(catalogue, written_at(catalogue_path), changes)


def finish(
    training: Training, recent: np.ndarray | None, models_dir: Path, report: TrainReport, say: Say
) -> TrainReport:
    """Indexes, candidates and similar rows of the fitted vector models, then publishes: the
    part every engine shares. `recent` are the users that get precomputed candidates (None:
    all)."""
    config = training.config
    report.users, report.items, report.nnz = *training.interactions.shape, training.interactions.nnz
    for name, model in training.models.items():
        if isinstance(model, VectorModel):
            say(f"indexing {name}")
            with report.stage(f"index:{name}"):
                report.index_recall[name], report.index_search[name] = index_model(
                    name, model, config
                )
            with report.stage(f"candidates:{name}"):
                model.precompute_candidates(config.server.candidates, recent)
            if config.server.similar_candidates > 0:
                with report.stage(f"similar:{name}"):
                    report.similar_recall[name] = similar_rows(name, model, config)
    with report.stage("publish"):
        report.bundle = publish(models_dir, lambda folder: write(folder, training, report))
    return report


def prepare(events: Events, catalogue: Catalogue | None, config: Config) -> Training:
    items = events.items
    if catalogue is not None:
        items = items.extend(catalogue.table.column("item_id"))
        catalogue = catalogue.aligned(items)
    interactions = Interactions.from_events(events, config.events, items)
    purchased = purchases_matrix(events, len(items))
    window = trending_window(config.models)
    popularity = Popularity.from_events(events, len(items), window, config.events.weights)
    time_range = (int(events.timestamp.min()), int(events.timestamp.max()))
    return Training(config, interactions, purchased, popularity, catalogue, {},
                    fingerprint=events.fingerprint(), time_range=time_range)  # fmt: skip


def active_users(events: Events, config: Config) -> np.ndarray | None:
    """Users with events in the last `server.candidates_days` (all users when 0): the ones likely
    to come back soon get precomputed candidates; the rest are searched per request."""
    days = config.server.candidates_days
    if days <= 0:
        return None
    recent = events.timestamp >= events.timestamp.max() - days * 86_400
    return np.unique(events.user[recent])


def index_model(name: str, model: VectorModel, config: Config) -> tuple[float, dict[str, int]]:
    """Builds the configured FAISS index, sets its search effort to the least that reaches
    index.recall_target on a sample of users, and returns (recall@10 against exact search, that
    setting); an approximate index below the recall floor stops the run."""
    index = model.build_index(config.index.factory)
    if index.exact:
        return 1.0, {}
    rng = np.random.default_rng(0)
    n_users = len(model.user_factors)
    sample = rng.choice(n_users, size=min(config.index.recall_sample, n_users), replace=False)
    recall, effort = index.tune_search(model.user_factors[sample], config.index.recall_target)
    check_recall_floor(recall, config, f"for model {name}")
    return round(recall, 4), effort


def similar_rows(name: str, model: VectorModel, config: Config) -> float:
    """Precomputes each item's most similar items (server.similar_candidates) by searching an
    index over the unit item vectors (the configured one; for "auto", recsys.index's
    all_pairs_factory; used here only, not saved), its search effort tuned to the recall target,
    and returns its recall@10 against exact search; below the recall floor the run stops."""
    unit = model.unit_item_factors
    index = VectorIndex.build(unit, all_pairs_factory(config.index.factory, len(unit)))
    # items never interacted with have zero vectors, every item a tie: no top 10 to recall
    placed = np.flatnonzero(np.any(unit != 0, axis=1))
    recall = 1.0
    if not index.exact and len(placed):
        size = min(config.index.recall_sample, len(placed))
        sample = np.random.default_rng(0).choice(placed, size=size, replace=False)
        recall, _ = index.tune_search(unit[sample], config.index.recall_target)
        check_recall_floor(recall, config, f"for similar items of {name}")
    model.precompute_similar(config.server.similar_candidates, index)
    return round(recall, 4)


def check_recall_floor(recall: float, config: Config, what: str) -> None:
    if recall < config.index.recall_floor:
        raise BundleError(
            f"index {config.index.factory!r} {what} reaches recall@10 "
            f"{recall:.3f} < floor {config.index.recall_floor}; nothing published"
        )


def write(folder: Path, training: Training, report: TrainReport) -> dict[str, Any]:
    """This run's bundle: what it fitted, and the run's own manifest entries."""
    inter = training.interactions
    contents = BundleContents(inter.users, inter.items, inter.matrix, training.purchased,
                              training.popularity, training.models, training.catalogue,
                              training.segments)  # fmt: skip
    entries = {
        "engine": training.engine,
        "fingerprint": training.fingerprint,
        "config": training.config.to_dict(),
        "data": {
            "events": report.events,
            "skipped": report.skipped,
            "users": report.users,
            "items": report.items,
            "nnz": report.nnz,
            "time_range": list(training.time_range),
        },
        "seconds": report.seconds,
        "tuning": report.tuning,
        "sessions": report.sessions,
    }
    per_model = {
        name: {
            "index_recall@10": report.index_recall.get(name),
            "index_search": report.index_search.get(name, {}),
            "similar_recall@10": report.similar_recall.get(name),
        }
        for name in training.models
    }
    return write_bundle(folder, contents, entries, per_model)
