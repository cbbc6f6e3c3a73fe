"""Co-visitation item-kNN against a hand-computed reference: visits by session id or by time gap,
the normalised pair counts, the scores of a user's row, and its config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.config import Config, ModelConfig, config_from_dict
from recsys.data import Interactions, load_events
from recsys.errors import ConfigError
from recsys.models import fit
from recsys.models.covisit import Covisit, visit_matrix

# user, item, seconds, session: u1 visits {a, b} then, two hours on, {c}; u2's session s9 holds
# {a, c} although an hour apart; u2's other events {b, c} are 90 s apart: one visit at 3 minutes
EVENTS = """user_id,item_id,event_type,timestamp,session_id
u1,a,view,1000,
u1,b,view,1100,
u1,c,view,8300,
u2,a,view,5000,s9
u2,c,add_to_cart,8600,s9
u2,b,view,20000,
u2,c,purchase,20090,
"""


@pytest.fixture()
def events_path(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    return path


def test_visits_follow_session_ids_else_the_time_gap(events_path: Path) -> None:
    events = load_events(events_path, ("view", "add_to_cart", "purchase"))
    visits = visit_matrix(events, 180, len(events.items)).toarray()
    names = np.array([events.items[i] for i in range(len(events.items))])
    found = sorted("".join(sorted(names[row > 0])) for row in visits)
    assert found == ["ab", "ac", "bc", "c"]
    apart = visit_matrix(events, 60, len(events.items))  # 100 s and 90 s are now too far
    assert apart.shape[0] == 6 and apart.sum() == 7


def test_similarity_and_scores_equal_the_hand_computed_ones(events_path: Path) -> None:
    """Visits ab, ac, bc, c: n = (2, 2, 3), every pair once; item i suggests j with
    1 / (n_i^0.7 n_j^0.3 + 1)."""
    config = Config().events
    events = load_events(events_path, tuple(config.weights))
    interactions = Interactions.from_events(events, config)
    table = ModelConfig("covisit", {"alpha": 0.7, "shrinkage": 1.0})
    model = fit("covisit", table, interactions, events)
    assert isinstance(model, Covisit)
    a, b, c = (events.items.index(name) for name in "abc")
    n = {a: 2.0, b: 2.0, c: 3.0}
    expected = np.zeros((3, 3))
    for i in (a, b, c):
        for j in (a, b, c):
            if i != j:
                expected[i, j] = 1 / (n[i] ** 0.7 * n[j] ** 0.3 + 1)
    assert np.allclose(model.similarity.toarray(), expected, atol=1e-6)
    user = interactions.users.index("u1")
    row = interactions.matrix[user]
    scores = model.scores(row)[0]
    assert np.allclose(scores, row.toarray()[0] @ expected, atol=1e-6)
    ids, _ = model.recommend(np.array([user]), 3)
    assert ids[0].tolist() == np.argsort(-(scores + model.prior), kind="stable").tolist()
    alone = Covisit(model.params).fit(interactions)  # no events: each user's row is one visit
    whole = np.full((3, 3), 2 / (2.0**0.7 * 2.0**0.3 + 1))  # both users hold a, b and c
    np.fill_diagonal(whole, 0)
    assert np.allclose(alone.similarity.toarray(), whole, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"gap_minutes": 0}, "models.covisit.gap_minutes"),
        ({"alpha": 1.5}, "models.covisit.alpha"),
        ({"shrinkage": -1}, "models.covisit.shrinkage"),
        ({"neighbours": 0}, "models.covisit.neighbours"),
    ],
)
def test_bad_parameters_name_their_key(params: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"models": {"covisit": params}})
    assert caught.value.key == key
