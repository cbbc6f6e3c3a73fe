"""Variant routing: which bundle, model and parameters a visitor's variant is served from, and the
picks it gets (in an interleaving experiment, both rankers merged by team draft). The one step
the server and `recsys experiment simulate` share, so the two cannot disagree.

The caller hands in the serving bundle, a `bundles` lookup for pinned versions (the server's
holder, the replay's cache) and a `rank` function (bundle, model, query) -> Picks: the endpoint's
own call into recsys.service. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from recsys.errors import BundleError, NoModelError
from recsys.experiments.assign import Assignment, Experiments, Visitor
from recsys.experiments.interleave import team_draft, teams_label
from recsys.service.picks import for_user
from recsys.service.query import Picks, Query, Ranked
from recsys.service.served import ServedBundle

INTERLEAVED_PREFIX = "interleave:"
Bundles = Callable[[str], ServedBundle]  # a pinned bundle version -> that bundle (BundleError)
Rank = Callable[[ServedBundle, str | None, Query], Picks]  # bundle, model (None: default), query


@dataclass(frozen=True)
class Source:
    """Where one ranker's picks come from."""

    served: ServedBundle  # the bundle ranking (and whose item numbers the picks hold)
    model: str | None  # None: that bundle's default model
    query: Query  # the request with the variant's parameters applied


@dataclass(frozen=True)
class Routed:
    """The picks a request gets and the bundle whose item numbers they hold (render its ids)."""

    picks: Picks
    served: ServedBundle


def visitor_of(served: ServedBundle, visitor_id: str, forgotten: bool = False) -> Visitor:
    """What audiences see of a visitor: returning when the serving bundle knows them, and the
    bundle's segments they are in; a forgotten customer is a new visitor in none."""
    bundle = served.bundle
    user = None if forgotten else bundle.users.index(visitor_id)
    segments = bundle.segments.of(user) if bundle.segments is not None else frozenset()
    return Visitor(returning=user is not None, segments=segments)


def assigned(
    experiments: Experiments,
    placement: str,
    visitor_id: str,
    query: Query,
    served: ServedBundle,
    forgotten: bool = False,
) -> Assignment | None:
    """The visitor's variant for this placement (None outside experiments); `query.experiment`
    (?experiment=) limits the choice to that experiment."""
    if not len(experiments):
        return None
    visitor = visitor_of(served, visitor_id, forgotten)
    return experiments.assign(placement, visitor_id, query.experiment, visitor)


def source(
    assignment: Assignment | None, served: ServedBundle, query: Query, bundles: Bundles
) -> Source:
    """A variant's bundle (its pinned version, else the serving one), model (None: that bundle's
    default, also when the bundle lacks the variant's model) and query (the variant's diversity
    applies unless the request set its own)."""
    if assignment is None:
        return Source(served, None, query)
    params = assignment.params
    if "bundle" in params:
        served = pinned(assignment, str(params["bundle"]), bundles)
    model = assignment.model if assignment.model in served.bundle.models else None
    if "diversity" in params and not query.diversity:
        query = replace(query, diversity=float(params["diversity"]))
    return Source(served, model, query)


def pinned(assignment: Assignment, version: str, bundles: Bundles) -> ServedBundle:
    try:
        return bundles(version)
    except BundleError as exc:
        raise NoModelError(
            f"experiment {assignment.experiment!r} variant {assignment.variant!r}: {exc}"
        ) from None


def routed(
    assignment: Assignment | None,
    served: ServedBundle,
    query: Query,
    rank: Rank,
    bundles: Bundles,
    seed: str,
) -> Routed:
    """rank() for the assigned variant (see `source`); in an interleaving experiment both rankers'
    picks merged by team draft, seeded with `seed` (the request id), the rival's items renumbered
    when it ranks another bundle version."""
    first = source(assignment, served, query, bundles)
    picks = rank(first.served, first.model, first.query)
    if assignment is None or assignment.rival is None:
        return Routed(picks, first.served)
    second = source(assignment.rival, served, query, bundles)
    other = rank(second.served, second.model, second.query)
    if second.served is not first.served:
        other = renumbered(other, second.served, first.served)
    return Routed(interleaved(picks, other, query.n, seed, assignment.teams), first.served)


def user_ranker(
    user_id: str, fresh: Sequence[tuple[str, str]] = (), forgotten: bool = False
) -> Rank:
    """The ranker of personalised picks for one user (see recsys.service.for_user)."""

    def rank(served: ServedBundle, model: str | None, query: Query) -> Picks:
        return for_user(served, user_id, query, model, fresh, forgotten)

    return rank


def interleaved(first: Picks, second: Picks, n: int, seed: str, names: tuple[str, str]) -> Picks:
    """The two rankings merged by team draft (deterministic for a `seed`). Each item keeps its own
    ranker's score and reason; `recorded` holds the teams label ("teams:A,B,B,A") that the
    interleaving report credits clicks with."""
    sources = (first.ranked, second.ranked)
    ids, teams = team_draft(sources[0].ids.tolist(), sources[1].ids.tolist(), n, seed)
    where = [{item: p for p, item in enumerate(s.ids.tolist())} for s in sources]
    positions = [where[team][item] for item, team in zip(ids, teams, strict=True)]
    scores = [float(sources[t].scores[p]) for t, p in zip(teams, positions, strict=True)]
    reasons = [sources[t].reasons[p] for t, p in zip(teams, positions, strict=True)]
    return Picks(
        Ranked(ids, scores, reasons),
        f"{INTERLEAVED_PREFIX}{first.model}|{second.model}",
        first.fallback or second.fallback,
        recorded=teams_label(teams, names),
    )


def renumbered(picks: Picks, source: ServedBundle, target: ServedBundle) -> Picks:
    """`picks` ranked in `source` (another bundle version) in `target`'s item numbers, so that
    they can be merged with `target`'s picks; items `target` does not know are left out."""
    ranked = picks.ranked
    numbers = target.bundle.items.indices(source.item_names[i] for i in ranked.ids.tolist())
    known = np.flatnonzero(numbers >= 0)
    moved = ranked.take(known)
    moved.ids = numbers[known]
    return Picks(moved, picks.model, picks.fallback, picks.recorded)
