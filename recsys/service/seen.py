"""Items the user has already interacted with ("seen"), in personal picks: allowed, excluded, or
capped to a share of the list (`seen=allow|exclude|cap`, default `server.seen`). The same rule
serves requests and is what benchmarks/bench_seen.py evaluates."""

from __future__ import annotations

import math

import numpy as np

from recsys.service.query import Ranked

SEEN_MODES = ("allow", "exclude", "cap")


def seen_capped(ranked: Ranked, is_seen: np.ndarray, unseen: Ranked, n: int, cap: float) -> Ranked:
    """The best `n` of: the first floor(cap * n) seen items of `ranked` (`is_seen` per position)
    and the items of `unseen` (a ranking of the same model without seen items), by score; the
    other seen ones of `ranked` fill in when too few unseen are left, so the list is never short."""
    allowed = math.floor(cap * n + 1e-9)
    seen_positions = np.flatnonzero(is_seen)
    kept = ranked.take(seen_positions[:allowed])
    pool = Ranked.empty().then(kept, len(kept)).then(unseen, len(kept) + len(unseen))
    best = pool.take(np.argsort(-pool.scores, kind="stable")[:n])
    if len(best) < n:
        best = best.then(ranked.take(seen_positions[allowed:]), n)
    return best
