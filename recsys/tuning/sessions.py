"""The session blend's ALS share, chosen when a bundle is trained, on a validation split carved
from the training events alone.

Anonymous sessions come from visitors the models never saw, so the split leaves them out: of the
users with held-out pairs in the tuner's split (recsys.tuning.split: each user's newest relevant
events held out), a seeded sample is kept out of fitting altogether, and each sampled user's
newest SESSION_CLICKS events before the held-out ones, oldest first, make a session. ALS and the
best item-based model (recsys.session.session_models) are fitted once on everyone else's
training events; each candidate share blends their scores of the sessions as recsys.session does
and scores HR@K: the share of sessions with a held-out item in their top K, the session's own
items excluded. The best share (ties: the first in `[sessions] als_shares`) goes into the
manifest, and the server uses it for sessions and fresh events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.config import Config
from recsys.data.events import Events
from recsys.data.interactions import Interactions
from recsys.models import Recommender, fit
from recsys.ranking import top_n
from recsys.session import SessionSettings, item_label, session_models, source_scores
from recsys.tuning.split import event_rows, validation_split

K = 20
SESSION_USERS = 2_000  # sessions at most, and at most a fifth of the users (the rest train)
MIN_SESSIONS = 20  # fewer: too few to choose, the first configured share is kept
SESSION_CLICKS = 50  # a session's newest clicks kept
BLOCK_CELLS = 1 << 22  # dense scores per source per block of sessions (16 MB of float32)


def choose_session_share(
    events: Events, config: Config, models: Mapping[str, Recommender], seed: int = 0
) -> dict[str, Any]:
    """The manifest's "sessions" record for a bundle of `models` fitted on `events` with
    `config`: the chosen "als_share" (absent when the bundle lacks ALS or an item-based model:
    one source has no share), every candidate's score and why."""
    shares = config.sessions.als_shares
    als, item = session_models(models)
    if als is None or item is None:
        return {"why": "the bundle has no ALS and item-based pair to blend"}
    if len(shares) == 1:
        return {"als_share": shares[0], "why": "the only share configured"}
    started = time.perf_counter()
    split = validation_split(events, config.events.relevant, seed=seed)
    users = split.users
    size = min(SESSION_USERS, len(users) // 5)
    if size < MIN_SESSIONS:
        why = f"{len(users):,} users with held-out events, too few to choose: the first share"
        return {"als_share": shares[0], "why": why}
    sample = np.sort(np.random.default_rng(seed).choice(users, size, replace=False))
    in_sample = np.zeros(len(events.users), bool)
    in_sample[sample] = True
    fitting = event_rows(events, split.train & ~in_sample[events.user])
    interactions = Interactions.from_events(fitting, config.events, events.items)
    names = {id(model): name for name, model in models.items()}
    als_name, item_name = names[id(als)], names[id(item)]
    fitted = [fit(n, config.models[n], interactions, fitting) for n in (als_name, item_name)]
    sessions = session_rows(event_rows(events, split.train & in_sample[events.user]), sample)
    scores = hit_rates(fitted[0], fitted[1], sessions, split.valid[sample], shares)
    best = max(shares, key=lambda share: scores[share])  # ties: the first configured
    listed = ", ".join(f"{share:g} {score:.4f}" for share, score in scores.items())
    return {
        "als_share": best,
        "models": [als_name, item_name],
        "metric": f"hr@{K}",
        "scores": {f"{share:g}": round(score, 5) for share, score in scores.items()},
        "split": {"method": split.method, "sessions": int(size), "fit_events": len(fitting)},
        "seconds": round(time.perf_counter() - started, 2),
        "why": f"best hr@{K} of {size:,} held-out sessions by ALS share: {listed}",
    }


def session_rows(events: Events, users: np.ndarray) -> sp.csr_matrix:
    """(len(users) x items) rows of each user's newest SESSION_CLICKS events, weighted by recency
    as recsys.session weighs a session's clicks (repeats summed)."""
    order = np.lexsort((events.timestamp, events.user))
    owner = events.user[order]
    last = np.r_[np.flatnonzero(np.diff(owner)), len(owner) - 1]  # each user's newest event
    age = np.repeat(last, np.diff(np.r_[-1, last])) - np.arange(len(owner))
    keep = age < SESSION_CLICKS
    half_life = max(SessionSettings().half_life, 1e-6)
    weights = np.exp2(-age[keep] / half_life).astype(np.float32)
    rows = np.searchsorted(users, owner[keep])
    shape = (len(users), len(events.items))
    return sp.csr_matrix((weights, (rows, events.item[order][keep])), shape=shape)


def hit_rates(
    als: Recommender,
    item: Any,
    sessions: sp.csr_matrix,
    held_out: sp.csr_matrix,
    shares: tuple[float, ...],
) -> dict[float, float]:
    """HR@K of each ALS share: the share of sessions with a held-out item in their top K."""
    hits = dict.fromkeys(shares, 0)
    label, n_items = item_label(item), sessions.shape[1]
    block = max(1, BLOCK_CELLS // n_items)
    for start in range(0, sessions.shape[0], block):
        rows, wanted = sessions[start : start + block], held_out[start : start + block].tocoo()
        wanted_keys = wanted.row.astype(np.int64) * n_items + wanted.col
        parts = source_scores(als, item, rows, 0.5)  # both sources
        for share in shares:
            blended = share * parts["als"] + (1 - share) * parts[label]
            ids, _ = top_n(blended, K, rows)
            keys = np.arange(len(ids))[:, None] * n_items + ids
            found = np.isin(keys, wanted_keys) & (ids >= 0)
            hits[share] += int(found.any(axis=1).sum())
    return {share: hits[share] / max(1, sessions.shape[0]) for share in shares}
