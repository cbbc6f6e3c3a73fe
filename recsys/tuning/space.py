"""What the tuner searches: each model kind's main hyperparameters, and the event weighting of the
matrix. A draw is a plain dict of config values (ints, floats, strings, ready for TOML)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.data.interactions import EventsConfig


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def near(self, value: Any, rng: np.random.Generator) -> Any:
        """The value or a neighbour of it in the list."""
        if value not in self.values:
            return self.draw(rng)
        at = self.values.index(value) + int(rng.integers(-1, 2))
        return self.values[min(max(at, 0), len(self.values) - 1)]


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        return self.rounded(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))

    def near(self, value: Any, rng: np.random.Generator) -> float | int:
        """Within a factor of about 1.5 of `value`, inside the range."""
        if not isinstance(value, int | float) or value <= 0:
            return self.draw(rng)
        return self.rounded(np.clip(value * np.exp(rng.normal(0, 0.4)), self.low, self.high))

    def rounded(self, value: float) -> float | int:
        return round(float(value)) if self.integer else float(f"{value:.4g}")


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        return float(f"{rng.uniform(self.low, self.high):.3g}")

    def near(self, value: Any, rng: np.random.Generator) -> float:
        if not isinstance(value, int | float):
            return self.draw(rng)
        step = rng.normal(0, 0.15 * (self.high - self.low))
        return float(f"{np.clip(value + step, self.low, self.high):.3g}")


Dimension = Choice | LogUniform | Uniform

# Keys a model's Params does not have are ignored, so one table serves every variant of a kind.
SPACES: dict[str, dict[str, Dimension]] = {
    "als": {
        "factors": Choice((32, 64, 128, 192, 256, 384)),
        "regularization": LogUniform(0.001, 50.0),
        "alpha": LogUniform(0.3, 40.0),
        "iterations": Choice((10, 15, 20, 30, 50)),
    },
    "bpr": {
        "factors": Choice((32, 64, 128, 192)),
        "learning_rate": LogUniform(0.003, 0.1),
        "regularization": LogUniform(0.0001, 0.05),
        "iterations": Choice((50, 100, 200, 300)),
    },
    "bm25": {
        "K": LogUniform(10, 1000, integer=True),
        "K1": LogUniform(0.3, 300.0),
        "B": Uniform(0.0, 1.0),
    },
    "cosine": {"K": LogUniform(10, 1000, integer=True)},
    "spectral": {
        "neighbours": Choice((100, 200, 400, 800, 1600)),
        "factors": Choice((0, 32, 64, 128, 256, 448)),
        "low_pass": LogUniform(0.03, 3.0),
    },
    "covisit": {
        "gap_minutes": LogUniform(0.5, 120.0),
        "alpha": Uniform(0.0, 1.0),
        "shrinkage": LogUniform(1.0, 200.0),
        "neighbours": Choice((50, 100, 200, 400, 800)),
    },
    "ease": {
        "regularization": LogUniform(50.0, 20_000.0),
        "low_pass": Choice((0.0, 0.1, 0.3, 0.6)),
        "user_weight": Choice((0.0, 0.25, 0.5)),
        "popularity": Choice((0.0, -0.1, -0.2)),
    },
}
SPACES["tfidf"] = SPACES["cosine"]
SPACES["itemknn"] = SPACES["bm25"]  # K1 and B only matter when its similarity is bm25

EVENT_SHARE = LogUniform(0.005, 2.0)  # of the relevant events' weight
DAMPING = Choice(("log1p", "none"))


def model_space(kind: str, params_class: type) -> dict[str, Dimension]:
    """The searchable hyperparameters of a model kind that its Params dataclass really has."""
    fields = {f.name for f in dataclasses.fields(params_class)}
    return {name: dim for name, dim in SPACES.get(kind, {}).items() if name in fields}


def draw_params(space: dict[str, Dimension], rng: np.random.Generator) -> dict[str, Any]:
    return {name: dim.draw(rng) for name, dim in space.items()}


def draw_near(
    space: dict[str, Dimension], params: dict[str, Any], rng: np.random.Generator
) -> dict[str, Any]:
    """A draw around `params` (fresh draws for parameters it does not set)."""
    return {name: dim.near(params.get(name), rng) for name, dim in space.items()}


def draw_events(base: EventsConfig, rng: np.random.Generator) -> EventsConfig:
    """Weights of the other event types as shares of the relevant types' weight (kept as it is)
    and a damping."""
    relevant = max((base.weights.get(name, 0.0) for name in base.relevant), default=0.0) or 1.0
    weights = {
        name: weight if name in base.relevant else float(f"{EVENT_SHARE.draw(rng) * relevant:.4g}")
        for name, weight in base.weights.items()
    }
    return dataclasses.replace(base, weights=weights, damping=DAMPING.draw(rng))


def searches_events(base: EventsConfig, present: set[str]) -> bool:
    """Worth searching only when the data holds an event type other than the relevant ones."""
    return bool(present - set(base.relevant))
