"""Team-draft interleaving (Radlinski, Kurup & Joachims 2008): two rankers, one merged list.

Each round, the ranker that has contributed fewer items (a fair coin on a tie) adds its best item
not already shown; every item remembers its team. A response's clicks credit the teams; the ranker
with more clicks wins that response. Far more sensitive than an A/B split: every visitor compares
both rankers on the same request.

The server merges with `team_draft(ids_a, ids_b, n, seed=request_id)` and records the teams with
the response as the model label `teams_label(teams)` ("teams:A,B,B,A"), so the report needs only
the served table and the events (see attribute.py for their columns).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from recsys.experiments.attribute import column
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.stats import sign_test, wilson

TEAMS_PREFIX = "teams:"


def team_draft(
    ranking_a: Sequence[Any], ranking_b: Sequence[Any], n: int, seed: str | int = 0
) -> tuple[list[Any], list[int]]:
    """The interleaved list of up to `n` items and each item's team (0: ranker A, 1: ranker B).
    Deterministic for a given seed (use the request id)."""
    coin = random.Random(hashlib.sha256(str(seed).encode()).digest())
    rankings = (list(ranking_a), list(ranking_b))
    cursors, counts = [0, 0], [0, 0]
    picked: list[Any] = []
    teams: list[int] = []
    seen: set[Any] = set()
    while len(picked) < n:
        left = [next_fresh(rankings[t], cursors[t], seen) for t in (0, 1)]
        if left[0] is None and left[1] is None:
            break
        team = 0 if counts[0] < counts[1] else 1 if counts[1] < counts[0] else coin.randrange(2)
        if left[team] is None:
            team = 1 - team
        cursors[team] = left[team] + 1
        item = rankings[team][left[team]]
        picked.append(item)
        teams.append(team)
        seen.add(item)
        counts[team] += 1
    return picked, teams


def next_fresh(ranking: list[Any], start: int, seen: set[Any]) -> int | None:
    """Position of the first item at or after `start` not yet shown."""
    for position in range(start, len(ranking)):
        if ranking[position] not in seen:
            return position
    return None


def teams_label(teams: Sequence[int], names: tuple[str, str] = ("A", "B")) -> str:
    return TEAMS_PREFIX + ",".join(names[t] for t in teams)


def teams_of(label: str | None) -> list[str] | None:
    if not label or not label.startswith(TEAMS_PREFIX):
        return None
    return label[len(TEAMS_PREFIX) :].split(",")


def credit(items: Sequence[str], teams: Sequence[str], clicked: set[str]) -> dict[str, int]:
    """Clicked items per team for one response."""
    counts: dict[str, int] = {}
    for item, team in zip(items, teams, strict=False):
        if item in clicked:
            counts[team] = counts.get(team, 0) + 1
    return counts


def interleave_report(
    experiment: ExperimentConfig, served: pa.Table, events: pa.Table, action: str = "click"
) -> dict[str, Any]:
    """Wins, losses and ties of ranker B over ranker A across responses with at least one
    credited `action`, the preference share with its Wilson interval and a sign test."""
    a, b = (v.name for v in experiment.variants)
    acted: dict[str, set[str]] = {}
    for kind, request_id, item in zip(column(events, "event_type"), column(events, "request_id"),
                                      column(events, "item_id"), strict=True):  # fmt: skip
        if kind == action and request_id:
            acted.setdefault(request_id, set()).add(item)
    wins = {a: 0, b: 0}
    ties = responses = 0
    for name, request_id, items, label in zip(
        column(served, "experiment"), column(served, "request_id"), column(served, "item_ids"),
        column(served, "model"), strict=True,
    ):  # fmt: skip
        teams = teams_of(label)
        if name != experiment.name or teams is None:
            continue
        responses += 1
        counts = credit(items or [], teams, acted.get(request_id, set()))
        if not counts:
            continue
        if counts.get(a, 0) == counts.get(b, 0):
            ties += 1
        else:
            wins[a if counts.get(a, 0) > counts.get(b, 0) else b] += 1
    return preference(experiment.name, a, b, wins, ties, responses, action)


def preference(
    name: str, a: str, b: str, wins: dict[str, int], ties: int, responses: int, action: str
) -> dict[str, Any]:
    decided = wins[a] + wins[b]
    share = wilson(wins[b], decided)
    p_value = sign_test(wins[b], wins[a])
    if p_value < 0.05:
        better, worse = (b, a) if wins[b] > wins[a] else (a, b)
        verdict = (
            f"{better} beats {worse} in interleaving: preferred in {max(wins.values())} of "
            f"{decided} decided responses, p={p_value:.2g}."
        )
    else:
        verdict = (
            f"{b} vs {a} in interleaving: no significant preference yet ({wins[b]} wins, "
            f"{wins[a]} losses, {ties} ties; p={p_value:.2g})."
        )
    return {
        "experiment": name,
        "mode": "interleave",
        "credited": action,
        "responses": responses,
        "wins": wins,
        "ties": ties,
        "preference": share.to_dict(),  # share of decided responses won by the second ranker
        "delta": (wins[b] - wins[a]) / (decided + ties) if decided + ties else None,
        "p_value": p_value,
        "verdict": verdict,
    }
