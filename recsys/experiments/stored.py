"""Experiments defined at run time (POST /admin/experiments) and kept in the event store
(recsys.eventstore.definitions). They are validated exactly like `[[experiments]]` tables, and
served after the config's experiments in creation order, so adding one never moves a visitor of a
running experiment (see assign.py)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from recsys.errors import ConfigError, ParameterError
from recsys.eventstore.definitions import StoredDefinition
from recsys.experiments.config import ExperimentConfig, read_experiment

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # usable as is in a URL path


def read_definition(table: Any, models: Collection[str] | None = None) -> ExperimentConfig:
    """A POST /admin/experiments body validated as one `[[experiments]]` table, its variants
    serving only `models` (None: any); ParameterError naming the key, e.g. `variants[1].share`."""
    with parameter_errors():
        experiment = read_experiment(table, "", models)
    if not NAME.fullmatch(experiment.name):
        raise ParameterError(
            "name", "must be 1 to 100 letters, digits, '.', '_' or '-' (first a letter or digit), "
                    f"got {experiment.name[:40]!r}",
        )  # fmt: skip
    return experiment


@contextmanager
def parameter_errors(prefix: str = "") -> Iterator[None]:
    """A ConfigError about one definition becomes a ParameterError naming the key within it
    (without `prefix`, the key under which the definition was validated)."""
    try:
        yield
    except ConfigError as exc:
        key = exc.key.removeprefix(prefix).removeprefix(".")
        raise ParameterError(key or "body", exc.reason) from None


def definition_config(stored: StoredDefinition) -> ExperimentConfig:
    """A stored definition as served: a stopped one ends when it was stopped (or at its own end,
    when earlier). ConfigError when it no longer validates (e.g. after an upgrade, or stored
    before a check existed): the server then skips it. Its models are not checked: the serving
    bundle may change under a running experiment."""
    experiment = read_experiment(stored.definition, f"stored:{stored.name}")
    if stored.stopped is not None and (experiment.end is None or stored.stopped < experiment.end):
        experiment = dataclasses.replace(experiment, end=stored.stopped)
    return experiment
