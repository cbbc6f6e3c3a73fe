"""Deterministic assignment of visitors to variants.

A visitor's bucket is sha256(salt, visitor id) mod BUCKETS, so every worker, every restart and
every reload agree without sharing state, and each experiment's split depends on its own salt only:
adding, removing or reordering other experiments never moves a visitor between this experiment's
variants.
Variants own consecutive bucket ranges in config order; buckets past the last share are not in the
experiment. When several live experiments cover a placement, a visitor joins the first one (config
order) that takes them, so append new experiments after the running ones.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recsys.experiments.config import ExperimentConfig, VariantConfig, read_experiments

BUCKETS = 10_000
INTERLEAVED = "interleaved"


@dataclass(frozen=True)
class Assignment:
    """What a response serves: the experiment and variant names, the model and its parameters
    (e.g. {"diversity": 0.3}, or {"bundle": version} for a bundle-version variant). Shared between
    requests: read it, never change it."""

    experiment: str
    variant: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    rival: Assignment | None = None  # interleaving: the second ranker, merged with team_draft
    teams: tuple[str, str] = ("A", "B")  # interleaving: both rankers' variant names (teams label)


@dataclass(frozen=True)
class Visitor:
    """What audiences look at. `returning` None means unknown: only audience "all" applies."""

    returning: bool | None = None
    segments: frozenset[str] = frozenset()


ANYONE = Visitor()


def bucket(salt: str, visitor_id: str) -> int:
    digest = hashlib.sha256(f"{salt}\x00{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def bucket_edges(variants: tuple[VariantConfig, ...]) -> tuple[int, ...]:
    """The exclusive upper bucket of each variant's range."""
    return tuple(int(edge) for edge in np.rint(np.cumsum([v.share for v in variants]) * BUCKETS))


class Experiments:
    """The configured experiments; immutable, so threads and workers share it freely."""

    def __init__(self, experiments: Iterable[ExperimentConfig] = ()) -> None:
        self.experiments = tuple(experiments)
        self.by_name = {e.name: e for e in self.experiments}
        self._edges = {e.name: bucket_edges(e.variants) for e in self.experiments}
        self._assignments = {
            (e.name, v.name): assignment(e, v) for e in self.experiments for v in e.variants
        }

    @classmethod
    def from_config(cls, tables: Any) -> Experiments:
        """From Config.experiments (the raw [[experiments]] tables); ConfigError naming the key."""
        return cls(read_experiments(list(tables)))

    def __len__(self) -> int:
        return len(self.experiments)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def get(self, name: str) -> ExperimentConfig | None:
        return self.by_name.get(name)

    def assign(
        self,
        placement: str,
        visitor_id: str,
        requested: str | None = None,
        visitor: Visitor | None = None,
        now: float | None = None,
    ) -> Assignment | None:
        """The variant `visitor_id` sees on `placement`, or None when in no experiment.
        `requested` (the ?experiment= parameter) limits the choice to that experiment."""
        now = time.time() if now is None else now
        visitor = visitor or ANYONE
        candidates = self.experiments if requested is None else (
            (self.by_name[requested],) if requested in self.by_name else ()
        )  # fmt: skip
        for experiment in candidates:
            if (
                placement in experiment.placements
                and experiment.active(now)
                and admits(experiment, visitor)
            ):
                variant = self.variant_of(experiment, visitor_id)
                if variant is not None:
                    return self._assignments[experiment.name, variant.name]
        return None

    def variant_of(self, experiment: ExperimentConfig, visitor_id: str) -> VariantConfig | None:
        """The variant whose bucket range holds the visitor (None: outside the experiment's
        traffic). Ignores windows and audiences."""
        edges = self._edges[experiment.name]
        position = bisect.bisect_right(edges, bucket(experiment.salt, visitor_id))
        return experiment.variants[position] if position < len(edges) else None


def assignment(experiment: ExperimentConfig, variant: VariantConfig) -> Assignment:
    """A split variant's assignment; in an interleaving experiment every visitor in its traffic
    gets variant "interleaved": the first ranker, with the second as `rival`."""
    if experiment.mode != "interleave":
        return alone(experiment, variant)
    first, second = experiment.variants
    return replace(
        alone(experiment, first),
        variant=INTERLEAVED,
        rival=alone(experiment, second),
        teams=(first.name, second.name),
    )


def alone(experiment: ExperimentConfig, variant: VariantConfig) -> Assignment:
    """The variant served on its own (as a split does; offline replay of any variant)."""
    return Assignment(experiment.name, variant.name, *variant.resolved())


def admits(experiment: ExperimentConfig, visitor: Visitor) -> bool:
    if experiment.segment and experiment.segment not in visitor.segments:
        return False
    if experiment.audience == "all":
        return True
    return visitor.returning is (experiment.audience == "returning")
