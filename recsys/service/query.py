"""What a request asks for and what the service answers, in item numbers until the last step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.service.expressions import Boosts, Expression

if TYPE_CHECKING:
    from recsys.service.promotions import Promotion

MAX_N = 100


@dataclass(frozen=True)
class Query:
    """The common parameters of every recommendation endpoint, already checked."""

    n: int = 10
    category: str | None = None
    exclude: tuple[str, ...] = ()
    in_stock: bool | None = None  # None: filter on stock when the catalogue knows it
    diversity: float = 0.0
    experiment: str | None = None
    filter: Expression | None = None  # only items it matches
    boost: Boosts | None = None  # multiplies the scores of the items each boost matches
    seen: str | None = None  # personal picks: allow | exclude | cap items the user interacted with
    seen_cap: float = 0.3  # with seen = "cap": at most this share of the list
    explore_new: float = 0.0  # known items' similar lists and personal picks: new items' share
    promotions: tuple[Promotion, ...] = ()  # each reserves its share of the slots


@dataclass
class Ranked:
    """Item numbers, their scores and reasons, best first."""

    ids: np.ndarray
    scores: np.ndarray
    given_reasons: list[str | None] | None = None

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float32)

    @property
    def reasons(self) -> list[str | None]:
        if self.given_reasons is None:
            return [None] * len(self.ids)
        return self.given_reasons

    @reasons.setter
    def reasons(self, value: list[str | None]) -> None:
        self.given_reasons = value

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: np.ndarray) -> Ranked:
        positions = np.asarray(positions, dtype=np.int64)
        given = self.given_reasons
        reasons = None if given is None else [given[p] for p in positions.tolist()]
        return Ranked(self.ids[positions], self.scores[positions], reasons)

    def valid(self) -> Ranked:
        """Without the -1 padding (and -inf scores) that models use for missing results."""
        return self.take(np.flatnonzero((self.ids >= 0) & np.isfinite(self.scores)))

    def then(self, other: Ranked, n: int) -> Ranked:
        """This list refilled with `other`'s items not already in it, up to n."""
        fresh = other.take(np.flatnonzero(~(other.ids[:, None] == self.ids[None, :]).any(axis=1)))
        ids = np.concatenate([self.ids, fresh.ids])[:n]
        scores = np.concatenate([self.scores, fresh.scores])[:n]
        if self.given_reasons is None and fresh.given_reasons is None:
            return Ranked(ids, scores)
        return Ranked(ids, scores, (self.reasons + fresh.reasons)[:n])

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.empty(0, np.int64), np.empty(0, np.float32))


@dataclass
class Picks:
    """The answer: ranked items and the model (name@version, or the fallback path taken)."""

    ranked: Ranked
    model: str
    fallback: str | None = None  # the fallback taken, for metrics ("popular", "similar_items")
    recorded: str | None = None  # the model label stored with the response, when not `model`
    rendered: tuple[list[str], Any] | None = None  # item ids, the response's items (encoded)
