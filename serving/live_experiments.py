"""The experiments a server process serves: the config's, then those defined through
POST /admin/experiments (kept in the event store), in creation order. Every process follows the
store on its own, so all workers and restarts serve the same definitions."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from recsys.errors import ConfigError
from recsys.eventstore import EventStore, StoreError
from recsys.experiments import ExperimentConfig, Experiments
from recsys.experiments.stored import definition_config
from recsys_serving.state import supervised
from recsys_serving.store_watch import store_failed

log = logging.getLogger("recsys.server")


class LiveExperiments:
    """Re-reads the stored definitions when the store's change mark has moved, checked at most
    every `seconds` by a daemon thread (one small query, never on the request path), and hands the
    new Experiments to `publish`. `check` refuses what this server cannot serve (ConfigError). A
    stored definition that no longer validates or fails `check` is logged and left out, as is one
    whose name the config file has taken since (the config's wins)."""

    def __init__(
        self,
        configured: Experiments,
        store: EventStore,
        seconds: float,
        publish: Callable[[Experiments], None],
        check: Callable[[ExperimentConfig], None],
        on_error: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.configured = configured
        self.store = store
        self.seconds = seconds
        self.check = check
        self._publish = publish
        self.on_error = on_error
        self._mark: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def source(self, name: str) -> str:
        return "config" if name in self.configured else "admin"

    def refresh(self) -> None:
        """Publishes the experiments anew when the stored definitions changed since the last
        refresh. A store that cannot be read is logged; the experiments stay as they are."""
        with self._lock:
            try:
                mark = self.store.experiments_mark()
                if mark == self._mark:
                    return
                experiments = self._read()
            except StoreError as exc:
                store_failed("experiments_refresh_failed", exc)
                return
            self._mark = mark
            self._publish(experiments)

    def _read(self) -> Experiments:
        stored = []
        for definition in self.store.experiment_definitions():
            if definition.name in self.configured:
                skipped(definition.name, "the config file defines an experiment of that name")
                continue
            try:
                experiment = definition_config(definition)
                self.check(experiment)
            except ConfigError as exc:
                skipped(definition.name, str(exc))
                continue
            stored.append(experiment)
        return Experiments((*self.configured.experiments, *stored))

    def start(self) -> None:
        """Refreshes at once (a forked worker may hold its parent's older experiments), then
        every `seconds` in a supervised daemon thread (an error is logged and counted, and the
        refreshing goes on)."""
        try:
            self.refresh()
        except Exception:  # the thread below tries again
            log.exception('{"event": "background_error", "thread": "recsys-experiments"}')
            self.on_error("recsys-experiments")
        supervised("recsys-experiments", self.seconds, self.refresh, self.on_error)


def skipped(name: str, reason: str) -> None:
    log.error('{"event": "stored_experiment_skipped", "experiment": %s, "reason": %s}',
              json.dumps(name), json.dumps(reason))  # fmt: skip
