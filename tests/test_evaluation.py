"""Splits, scoring, the cross-check against implicit.evaluation, `recsys evaluate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import dataset
from implicit.evaluation import ranking_metrics_at_k
from threadpoolctl import threadpool_limits

from recsys.config import config_from_dict
from recsys.data import Interactions, Vocabulary, load_events
from recsys.evaluation import metrics
from recsys.evaluation.compare import compare, resolve_models
from recsys.evaluation.evaluate import evaluate_model, lookup_hits
from recsys.evaluation.splits import (
    given_test_split,
    leave_last_split,
    temporal_split,
    user_split,
)
from recsys.models.als import ALS, ALSParams
from recsys.models.popular import Popular
from recsys_training.cli import main

TYPES = ("view", "add_to_cart", "purchase")
EVENTS = """user_id,item_id,event_type,timestamp
a,x,view,100
a,x,purchase,110
b,y,purchase,120
a,y,view,130
b,z,purchase,200
a,z,purchase,210
c,w,purchase,220
a,w,view,230
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def tiny(tmp_path):
    return load_events(write(tmp_path, "events.csv", EVENTS), TYPES)


def pairs(split) -> set[tuple[str, str]]:
    coo = split.test.tocoo()
    return {(split.rows[r], split.columns[c]) for r, c in zip(coo.row, coo.col, strict=True)}


def test_temporal_split_counts_unseen_users_and_items(tiny):
    split = temporal_split(tiny, cutoff=200)
    assert split.train.users.ids(range(2)) == ["a", "b"]
    assert len(split.train) == 4 and len(split.train.items) == 2
    assert pairs(split) == {("a", "z"), ("b", "z")}
    info = split.info
    assert (info["test_users"], info["test_users_scored"], info["test_users_unseen"]) == (3, 2, 1)
    assert info["test_pairs_of_unseen_users"] == 1
    assert (info["test_items"], info["test_items_unseen"]) == (2, 2)
    assert info["test_pairs_of_unseen_items"] == 2
    assert info["cutoff"].startswith("1970-01-01T00:03:20")


def test_leave_last_split_keeps_only_what_came_before(tiny):
    split = leave_last_split(tiny, n=1)
    assert pairs(split) == {("a", "z"), ("b", "z")}
    train_times = {
        (split.train.users[u], int(t))
        for u, t in zip(split.train.user, split.train.timestamp, strict=True)
    }
    assert train_times == {("a", 100), ("a", 110), ("a", 130), ("b", 120)}
    assert split.info["test_users_unseen"] == 1  # c bought once, with nothing before
    assert split.info["dropped_after_cutoff"] == 1  # a's view after the held-out purchase


def test_user_split_holds_users_out_and_folds_in_their_past(tiny):
    split = user_split(tiny, fraction=0.5, seed=3)
    held = split.rows.ids(range(len(split.rows)))
    assert len(held) == 1 and held[0] in {"a", "b"}
    assert held[0] not in split.train.users
    assert split.history is not None and split.history.users[0] == held[0]
    assert pairs(split) == {(held[0], "z")}
    assert split.info["held_out_users"] == 1


def test_given_test_split(tiny, tmp_path):
    test = load_events(
        write(
            tmp_path,
            "test.csv",
            "user_id,item_id,event_type,timestamp\n"
            "a,y,purchase,300\nq,x,purchase,300\na,new,purchase,300\n",
        ),
        TYPES,
    )
    split = given_test_split(tiny, test)
    assert len(split.train) == len(tiny)
    assert pairs(split) == {("a", "y"), ("a", "new")}
    assert split.info["test_users_unseen"] == 1 and split.info["test_items_unseen"] == 1


def test_evaluate_model_popular_by_hand():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0]], np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0]], np.float32))
    model = Popular().fit(Interactions(train, Vocabulary(list("abc")), Vocabulary(list("wxyz"))))
    result = evaluate_model(model, train, test, ks=(1, 2))
    assert result.users.tolist() == [0, 1]  # user 2 has nothing relevant
    # user 0 gets [2 (y), 3 (z)]: both relevant; user 1 gets [1 (x), 3 (z)]: x relevant
    assert result.ranked.tolist() == [[2, 3], [1, 3]]
    assert result.per_user["precision@2"].tolist() == [1.0, 0.5]
    assert result.metrics["recall@1"] == pytest.approx((0.5 + 1.0) / 2)
    assert result.metrics["coverage@2"] == pytest.approx(3 / 4)
    assert evaluate_model(model, train, test, ks=(2,), users=np.array([1, 2])).users.tolist() == [1]


def clustered(seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Users and items in 4 taste groups; 20% of pairs held out, only users with training data."""
    rng = np.random.default_rng(seed)
    users, items = 300, 120
    taste = np.where(
        rng.integers(0, 4, users)[:, None] == np.arange(items)[None, :] % 4, 0.12, 0.02
    )
    coo = sp.coo_matrix((rng.random((users, items)) < taste).astype(np.float32))
    held = rng.random(coo.nnz) < 0.2

    def part(mask):
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), coo.shape)

    train, test = part(~held), part(held)
    test = sp.csr_matrix(sp.diags((np.diff(train.indptr) > 0).astype(np.float32)) @ test)
    test.eliminate_zeros()
    return train, test


def test_cross_check_with_implicit_evaluation():
    """Where the definitions coincide, our numbers are implicit's: ndcg@k and map@k equal, and its
    'precision' is our micro-averaged recall_trunc@k."""
    train, test = clustered()
    ids = Vocabulary([str(i) for i in range(train.shape[0])])
    model = ALS(ALSParams(factors=16, iterations=5)).fit(
        Interactions(train, ids, Vocabulary([str(i) for i in range(train.shape[1])]))
    )
    reference = model.implicit_model()
    reference.user_factors, reference.item_factors = model.user_factors, model.item_factors
    for k in (5, 10):
        with threadpool_limits(1, "blas"):
            theirs = ranking_metrics_at_k(reference, train, test, K=k, show_progress=False)
        ours = evaluate_model(model, train, test, ks=(k,), batch=64)
        hits = lookup_hits(ours.ranked, ours.users, test)
        assert ours.metrics[f"ndcg@{k}"] == pytest.approx(theirs["ndcg"], rel=1e-9)
        assert ours.metrics[f"map@{k}"] == pytest.approx(theirs["map"], rel=1e-9)
        assert metrics.micro_recall_trunc(hits, ours.n_relevant, k) == pytest.approx(
            theirs["precision"], rel=1e-9
        )


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    return write(
        folder,
        "eval.toml",
        '[models.als]\nfactors = 8\niterations = 3\n\n[models.top]\nkind = "popular"\n',
    )


def test_recsys_evaluate_writes_the_report(shop, small_config, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report"
    built = []
    from_events = Interactions.from_events.__func__
    monkeypatch.setattr(
        Interactions,
        "from_events",
        classmethod(lambda cls, *args, **kw: built.append(1) or from_events(cls, *args, **kw)),
    )
    code = main(
        [
            "evaluate",
            "--events",
            str(shop / "events.parquet"),
            "--catalogue",
            str(shop / "catalogue.csv"),
            "--config",
            str(small_config),
            "--k",
            "5,10",
            "--report",
            str(out),
            "--resamples",
            "100",
            "--exclude",
            "seen",
        ]
    )
    assert code == 0
    assert len(built) == 1  # one training matrix for the item facts and every model
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"als", "top"}
    for values in report["models"].values():
        assert 0 <= values["recall@10"] <= 1 and 0 <= values["ndcg@10"] <= 1
        assert {"diversity@10", "novelty@10", "coverage@10", "revenue@10"} <= set(values)
    assert report["split"]["kind"] == "temporal" and "test_users_unseen" in report["split"]
    assert "view" in report["split"]["excluded_from_lists"]
    low, high = report["intervals"]["als"]["ndcg@10"]
    assert low <= report["models"]["als"]["ndcg@10"] <= high
    assert set(report["segments"]["als"]) == {"new", "returning", "light", "heavy"}
    assert report["fingerprint"]["events"] and report["versions"]["implicit"]
    other = "top" if report["best"] == "als" else "als"
    assert "p_value" in report["paired"][other]["ndcg@10"]
    markdown = (out / "report.md").read_text()
    assert "**" in markdown and "| als |" in markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<b>" in html
    assert "| model |" in capsys.readouterr().out


def test_users_split_skips_models_without_fold_in(shop):
    events = load_events(shop / "events.parquet", TYPES)
    config = config_from_dict({"models": {"als": {"factors": 8, "iterations": 3}, "popular": {}}})
    comparison = compare(user_split(events, 0.1), config, resolve_models(None, config), (10,))
    assert set(comparison.results) == {"als"}
    assert "fold_in" in comparison.skipped["popular"]
    assert comparison.results["als"].metrics["recall@10"] > 0


def test_only_allowed_items_are_ranked_and_lists_stay_full():
    train, test = clustered()
    model = ALS(ALSParams(factors=8, iterations=3)).fit(
        Interactions(train, Vocabulary([f"u{i}" for i in range(train.shape[0])]),
                     Vocabulary([f"i{i}" for i in range(train.shape[1])]))
    )  # fmt: skip
    allowed = np.arange(train.shape[1]) % 10 == 0  # 12 of 120 items
    result = evaluate_model(model, train, test, ks=(5,), allowed=allowed)
    ranked = result.ranked
    assert (ranked >= 0).all() and allowed[ranked].all()  # 5 allowed ones found for every user
    unfiltered = evaluate_model(model, train, test, ks=(5,))
    assert not allowed[unfiltered.ranked].all()


def test_recsys_evaluate_filter_honours_the_rule(shop, small_config, tmp_path, capsys):
    argv = ["evaluate", "--events", str(shop / "events.parquet"), "--catalogue",
            str(shop / "catalogue.csv"), "--config", str(small_config), "--resamples", "20",
            "--report", str(tmp_path)]  # fmt: skip
    assert main([*argv, "--filter", 'category = "pets"']) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    rule = report["split"]["filter"]
    assert rule["expression"] == 'category = "pets"' and 0 < rule["items_matching"] < 400
    assert 0 < rule["test_pairs_matching"] < rule["test_pairs"]
    listed = report["models"]["als"]["coverage@20"] * report["split"]["train_items"]
    assert 0 < round(listed) <= rule["items_matching"]  # only pets items were listed
    capsys.readouterr()
    for bad, message in (("price <", "position"), ("price < 0", "matches none"),
                         ("colour = 1", "unknown field")):  # fmt: skip
        assert main([*argv, "--filter", bad]) == 2
        error = capsys.readouterr().err
        assert "--filter" in error and message in error and error.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--k", "0"], "--k"),
        (["--k", "ten"], "--k"),
        (["--models", "nope"], "unknown model 'nope'"),
        (["--relevant", ","], "--relevant"),
        (["--split", "users", "--holdout", "1.5"], "--holdout"),
        (["--last", "0"], "--last"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(shop, tmp_path, capsys, arguments, message):
    argv = ["evaluate", "--events", str(shop / "events.parquet"), "--report", str(tmp_path)]
    assert main(argv + arguments) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


@pytest.mark.realdata
def test_ml_latest_small_leave_last_beats_nothing():
    events = load_events(dataset("ml-latest-small") / "events.csv.gz", TYPES)
    split = leave_last_split(events)
    assert split.info["test_users_scored"] > 500
    train = Interactions.from_events(split.train, config_from_dict({}).events)
    result = evaluate_model(Popular().fit(train), train.matrix, split.test, ks=(20,))
    assert 0.02 < result.metrics["recall@20"] < 0.5
