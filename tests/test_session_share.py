"""The session blend's ALS share chosen on a validation split when the bundle is trained, recorded
in the manifest and used by the server; a known user's fresh events scored through the best
item-based model at that share (in process and through a real gunicorn server)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import Server, served_copy

from recsys.bundle import Bundle
from recsys.config import ConfigError, config_from_dict
from recsys.ranking import row_of
from recsys.service import Query, ServedBundle, for_user
from recsys.service.user import merged_history
from recsys.session import bundle_settings, session_picks, unit_max
from recsys.tuning.sessions import K, hit_rates
from recsys_training.pipeline import train

MODELS = {"als": {"factors": 16, "iterations": 5}, "ease": {}, "popular": {}}


@pytest.fixture(scope="module")
def blend_dir(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder whose bundle holds ALS and EASE (trained on `shop`). Read-only."""
    folder = tmp_path_factory.mktemp("als-ease")
    train(shop / "events.parquet", folder, config_from_dict({"models": MODELS}))
    return folder


@pytest.fixture(scope="module")
def bundle(blend_dir: Path) -> Bundle:
    return Bundle.load(blend_dir)


def with_share(bundle: Bundle, share: float) -> Bundle:
    manifest = {**bundle.manifest, "sessions": {"als_share": share}}
    return dataclasses.replace(bundle, manifest=manifest)


def test_the_share_is_chosen_on_held_out_sessions_and_recorded(bundle: Bundle) -> None:
    record = bundle.manifest["sessions"]
    assert record["models"] == ["als", "ease"] and record["metric"] == f"hr@{K}"
    scores = record["scores"]
    assert list(scores) == ["0", "0.25", "0.5", "0.75", "1"]
    best = max(scores.values())
    assert record["als_share"] == float(next(s for s, v in scores.items() if v == best))
    assert 0 < record["split"]["fit_events"] < bundle.manifest["data"]["events"]
    assert bundle_settings(bundle).als_share == record["als_share"]


def test_session_picks_use_the_recorded_share(bundle: Bundle) -> None:
    seen = np.array([3, 9, 27])
    assert session_picks(with_share(bundle, 0.0), seen, 10)[2] == "session:ease"
    assert session_picks(with_share(bundle, 1.0), seen, 10)[2] == "session:als"
    mixed, _, path = session_picks(with_share(bundle, 0.25), seen, 10)
    assert path == "session:als+ease"
    recorded = bundle_settings(with_share(bundle, 0.25))
    assert mixed.tolist() == session_picks(bundle, seen, 10, settings=recorded)[0].tolist()
    unrecorded = {k: v for k, v in bundle.manifest.items() if k != "sessions"}
    assert bundle_settings(dataclasses.replace(bundle, manifest=unrecorded)).als_share == 0.5


def test_hit_rates_against_a_hand_count(bundle: Bundle) -> None:
    """HR@K of each share equals a per-session count of held-out items in the blend's top K."""
    als, ease = bundle.models["als"], bundle.models["ease"]
    rows = bundle.interactions[:40]
    held = bundle.purchased[40:80]
    rates = hit_rates(als, ease, rows, held, (0.0, 0.5, 1.0))
    for share, rate in rates.items():
        found = 0
        for r in range(rows.shape[0]):
            row = rows[r]
            vector = als.fold_in(row)  # type: ignore[attr-defined]
            blend = share * unit_max(vector @ als.item_factors.T)  # type: ignore[attr-defined]
            blend = blend + (1 - share) * unit_max(ease.scores(row))
            blend[0, row.indices] = -np.inf
            top = np.argsort(-blend[0], kind="stable")[:K]
            found += bool(set(top.tolist()) & set(held[r].indices.tolist()))
        assert rate == pytest.approx(found / rows.shape[0])


def test_a_single_share_is_kept_and_a_bad_one_names_its_key(shop: Path, tmp_path: Path) -> None:
    table = {"models": {"als": MODELS["als"], "ease": {}}, "sessions": {"als_shares": [0.3]}}
    train(shop / "events.parquet", tmp_path, config_from_dict(table))
    record = Bundle.load(tmp_path).manifest["sessions"]
    assert record["als_share"] == 0.3 and "scores" not in record
    for shares, key in (([], "sessions.als_shares"), ([0.5, 1.5], "sessions.als_shares[1]")):
        with pytest.raises(ConfigError) as caught:
            config_from_dict({"sessions": {"als_shares": shares}})
        assert caught.value.key == key


def test_fresh_events_go_through_the_item_model_at_the_share(bundle: Bundle) -> None:
    """A known user's fresh events: scored as a session of their whole row (ease alone at share
    0, labelled fresh:ease); without fresh events the precomputed ALS picks answer."""
    served = ServedBundle(with_share(bundle, 0.0))
    user = int(np.argmax(np.diff(bundle.interactions.indptr)))
    user_id = bundle.users[user]
    before = for_user(served, user_id, Query(n=10))
    assert before.model == served.label("als")
    fresh = [(bundle.items[i], "view") for i in range(100, 110)]
    after = for_user(served, user_id, Query(n=10), fresh=fresh)
    assert after.model == served.label("fresh:ease")
    weight = served.event_weights["view"]
    items, weights = merged_history(served, user, (np.arange(100, 110), np.full(10, weight)))
    assert set(range(100, 110)) <= set(items.tolist())
    scores = bundle.models["ease"].scores(row_of(items, len(bundle.items), weights))[0]
    scores[served.purchased(user)] = -np.inf  # never what they bought
    expected = np.argsort(-scores, kind="stable")[:10]
    assert after.ranked.ids.tolist() == expected.tolist()
    named = for_user(served, user_id, Query(n=10), "als", fresh=fresh)
    assert named.model == served.label("als")  # a model asked for by name folds in itself


@pytest.fixture(scope="module")
def server(blend_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("blend-server")
    with served_copy(folder, blend_dir, "[server]\nopen = true\n") as found:
        yield found


def test_the_server_scores_sessions_and_fresh_events_by_the_chosen_blend(server: Server) -> None:
    manifest_path = next(server.models.glob("*/manifest.json"))
    share = json.loads(manifest_path.read_text())["sessions"]["als_share"]
    sources = {0.0: "ease", 1.0: "als"}.get(share, "als+ease")
    status, body = server.call("POST", "/v1/sessions/recommendations?n=5", {"items": [server.item]})
    assert status == 200 and body["model"] == f"session:{sources}"
    status, before = server.call("GET", f"/v1/users/{server.user}/recommendations?n=5")
    assert status == 200 and "fresh:" not in before["model"]
    events = [{"user_id": server.user, "item_id": server.item, "event_type": "view"}]
    assert server.call("POST", "/v1/events", {"events": events})[0] == 202
    status, after = server.call("GET", f"/v1/users/{server.user}/recommendations?n=5")
    assert status == 200 and f"fresh:{sources}@" in after["model"]
    assert after["items"] != before["items"]
