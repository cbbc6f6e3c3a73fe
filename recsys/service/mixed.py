"""Team-draft interleaving of two rankers' picks into one list (issue 5, mode = "interleave")."""

from __future__ import annotations

import numpy as np

from recsys.experiments.interleave import team_draft, teams_label
from recsys.service.query import Picks, Ranked
from recsys.service.served import ServedBundle

INTERLEAVED_PREFIX = "interleave:"


def interleaved(first: Picks, second: Picks, n: int, seed: str, names: tuple[str, str]) -> Picks:
    """The two rankings merged by team draft (deterministic for a `seed`: the request id). Each
    item keeps its own ranker's score and reason; `recorded` holds the teams label
    ("teams:A,B,B,A") that the interleaving report credits clicks with."""
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
