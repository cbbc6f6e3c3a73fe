"""Forgetting: the keyed forgotten list, writes that never bring a forgotten customer back (also
racing a forget, on SQLite and PostgreSQL), the retention purge, secrets kept out of messages."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import TEST_FORGET_SECRET
from test_eventstore import event, store_url  # noqa: F401 (the two-backend fixture)

from recsys.config import config_from_dict
from recsys.eventstore import EventStore, open_store
from recsys.eventstore.schema import redacted_url
from recsys.privacy import NOT_APPLIED, ForgetKey, ForgetSecretError, Forgotten

KEY = ForgetKey(TEST_FORGET_SECRET)


def test_the_forgotten_list_holds_keyed_digests_only(store_url: str) -> None:  # noqa: F811
    with open_store(store_url, KEY) as store:
        store.forget_user("alice")
        digests = store.forgotten_users()
        assert digests == {KEY.digest("alice")}
        assert KEY.digest("alice") != ForgetKey("another secret").digest("alice")
        forgotten = store.forgotten()
    assert "alice" in forgotten and "bob" not in forgotten and forgotten.applied
    ids = pa.array(["alice", "bob", None, "alice"])
    assert forgotten.mask(ids).tolist() == [True, False, False, True]
    assert forgotten.keep(ids)[1] == 2
    assert not NOT_APPLIED.applied and "alice" not in NOT_APPLIED


def test_a_wrong_or_missing_secret_is_refused_never_ignored(store_url: str) -> None:  # noqa: F811
    with open_store(store_url, KEY) as store:
        store.forget_user("alice")
    with pytest.raises(ForgetSecretError, match="another forget secret"):
        open_store(store_url, ForgetKey("not the server's"))
    with open_store(store_url) as keyless:  # readable, but nothing that needs the list works
        for use in (
            keyless.forgotten,
            lambda: keyless.append([event("alice", "i1", 1)]),
            lambda: keyless.is_forgotten("alice"),
            lambda: keyless.forget_user("bob"),
        ):
            with pytest.raises(ForgetSecretError, match="RECSYS_FORGET_SECRET"):
                use()


def test_served_rows_of_a_forgotten_customer_are_never_written(store_url: str) -> None:  # noqa: F811
    with open_store(store_url, KEY) as store:
        queued = [("r1", "alice", "recommendations", None, None, "als@v", ["i1"], 1.0),
                  ("r2", "bob", "recommendations", None, None, "als@v", ["i2"], 2.0)]  # fmt: skip
        store.forget_user("alice")  # after the responses were queued, before they are written
        assert store.record_served_many(queued) == 1
        assert store.served_table().column("user_id").to_pylist() == ["bob"]


def test_the_purge_deletes_rows_older_than_the_limit(store_url: str) -> None:  # noqa: F811
    with open_store(store_url, KEY) as store:
        store.append([event("u", "old", 100.0), event("u", "new", 300.0)])
        store.record_served("r", "u", "recommendations", None, None, "m", ["old"], 100.0)
        assert store.purge(200.0) == 2
        assert [e.item_id for e in store.recent_events("u")] == ["new"]
        assert store.served_table().num_rows == 0


def race(store: EventStore, user: str, rounds: int) -> None:
    """Appends events and served rows of `user` from two threads while another forgets them."""
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            store.append([event(user, f"i{n}", float(n))])
            store.record_served(f"r{n}", user, "recommendations", None, None, "m", ["i"], n)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.01)
        store.forget_user(user)
    finally:
        stop.set()
        for writer in writers:
            writer.join(10)


def test_appends_racing_a_forget_never_survive_it(store_url: str) -> None:  # noqa: F811
    """Many rounds of writers against a forget: afterwards nothing of the customer is stored."""
    deadline = time.monotonic() + 20
    rounds = 0
    with open_store(store_url, KEY) as store:
        while rounds < 30 and time.monotonic() < deadline:
            user = f"racer-{rounds}"
            race(store, user, rounds)
            assert store.recent_events(user) == []
            assert user not in store.served_table().column("user_id").to_pylist()
            rounds += 1
    assert rounds >= 5


def test_secrets_are_masked_in_config_tables_and_urls() -> None:
    config = config_from_dict({"server": {"api_keys": ["k-secret-1"]}})
    assert "k-secret-1" not in str(config.to_dict())
    assert config.to_dict()["server"]["api_keys"] == "***"
    for url in (
        "postgresql://me:pw-secret@db/x",
        "postgresql://me@db/x?password=pw-secret&sslmode=require",
        "postgresql://db/x?sslmode=require&password=pw-secret",
    ):
        assert "pw-secret" not in redacted_url(url)
    assert redacted_url("postgresql://db/x?sslmode=require") == "postgresql://db/x?sslmode=require"


def test_no_list_says_so() -> None:
    assert "no forgotten list applied" in Forgotten().summary(0)
    line = Forgotten(frozenset(), KEY, "sqlite:///x.db").summary(3, "events")
    assert line == "forgotten customers left out: 3 events (list of sqlite:///x.db)"


def test_forget_cli_forgets_and_needs_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsys_training.cli import main

    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, KEY) as store:
        store.append([event("alice", "i1", 1.0), event("bob", "i1", 2.0)])
    assert main(["forget", "alice", "carol", "--db", url]) == 0
    assert "forgot 2 customers" in capsys.readouterr().out
    with open_store(url, KEY) as store:
        assert store.is_forgotten("alice") and store.is_forgotten("carol")
        assert store.user_ids() == ["bob"]
    monkeypatch.delenv("RECSYS_FORGET_SECRET")
    assert main(["forget", "bob", "--db", url]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "RECSYS_FORGET_SECRET" in error


def test_the_server_without_a_secret_refuses_to_forget_and_purges_old_rows(
    models_dir: Path, tmp_path: Path
) -> None:
    from recsys_serving import create_app

    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store:
        store.append([event("u", "old", 1_000.0), event("u", "new", time.time())])
    settings = {"models_dir": models_dir, "database_url": url, "watch": False,
                "api_keys": ["k"], "config": {"server": {"retention_days": 30}}}  # fmt: skip
    client = create_app({**settings, "forget_secret": ""}).test_client()
    with open_store(url) as store:
        assert [e.item_id for e in store.recent_events("u")] == ["new"]  # purged at start-up
    answer = client.delete("/v1/users/u", headers={"X-API-Key": "k"})
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "forget_secret_missing"
    with open_store(url, KEY) as store:
        store.forget_user("u")
    with pytest.raises(ForgetSecretError, match="RECSYS_FORGET_SECRET"):
        create_app({**settings, "forget_secret": ""})  # never serving as if none were forgotten


def test_a_store_error_reaches_clients_without_its_url(models_dir: Path, tmp_path: Path) -> None:
    from recsys_serving import create_app

    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = create_app({"models_dir": models_dir, "database_url": url, "watch": False,
                      "api_keys": ["k"]})  # fmt: skip
    app.extensions["recsys"].store.close()  # every later use raises StoreError naming the URL
    answer = app.test_client().post("/v1/events", headers={"X-API-Key": "k"}, json={"events": [
        {"user_id": "u", "item_id": "i", "event_type": "view"}]})  # fmt: skip
    assert answer.status_code == 503 and str(tmp_path) not in answer.get_data(as_text=True)
