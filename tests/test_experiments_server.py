"""End to end: a real gunicorn server with an experiment; picks carry the variant, events posted
with their request_ids are attributed, and the report (HTTP and `recsys experiment report`) shows
them. Also `recsys experiment simulate` on a bundle and held-out logs."""

from __future__ import annotations

import json
import shutil
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from live_server import Server, running_server

from recsys.bundle import Bundle
from recsys.experiments import Experiments
from recsys.experiments.simulate import Heldout, folder_bundles, replay_variant
from recsys_training.cli import main

CONFIG = """
[server]
open = true
[[experiments]]
name = "home"
placements = ["recommendations"]
salt = "e2e"
variants = [ { name = "A", model = "als", share = 0.5 },
             { name = "B", model = "popular", share = 0.5 } ]

[[experiments]]                      # after "home", so only ?experiment=mix reaches it
name = "mix"
mode = "interleave"
placements = ["recommendations"]
variants = [ { name = "als", model = "als", share = 1.0 },
             { name = "pop", model = "popular", share = 0.0 } ]

[[experiments]]                      # reached only with ?experiment=replay
name = "replay"
placements = ["recommendations"]
salt = "replay"
variants = [ { name = "A", strategy = "als+diversity=0.3", share = 0.5 },
             { name = "B", model = "retired", share = 0.5 } ]  # a model the bundle lacks
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("experiment-config") / "recsys.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def server(models_dir: Path, config_file: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:  # fmt: skip
    """One gunicorn worker serving a copy of `models_dir` with the experiment configured."""
    folder = tmp_path_factory.mktemp("experiment-server")
    shutil.copytree(models_dir, folder / "models")
    with running_server(folder, folder / "models", config_file, workers=1) as found:
        yield found


def report_when_served(server: Server, users: int) -> dict:
    """The report once the server's background writer has recorded every response."""
    deadline = time.monotonic() + 30
    while True:
        status, report = server.call("GET", "/v1/experiments/home/report")
        assert status == 200, report
        seen = sum(v["users"] for v in report["variants"].values())
        if seen >= users or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def test_events_with_request_ids_reach_the_report(
    server: Server, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, listed = server.call("GET", "/v1/experiments")
    assert status == 200 and listed["experiments"][0]["name"] == "home"
    bundle = Bundle.load(server.models)
    users = [bundle.users[i] for i in range(40)]
    responses = {}
    for user in users:
        status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=3")
        assert status == 200 and body["experiment"] == "home" and body["variant"] in ("A", "B")
        responses[user] = body
    events = []
    for i, (user, body) in enumerate(responses.items()):
        first = body["items"][0]["item_id"]
        events.append({"user_id": user, "item_id": first, "event_type": "impression",
                       "request_id": body["request_id"]})  # fmt: skip
        if i % 2 == 0:
            events.append({"user_id": user, "item_id": first, "event_type": "click",
                           "request_id": body["request_id"]})  # fmt: skip
        if i % 4 == 0:
            events.append(
                {
                    "user_id": user,
                    "item_id": first,
                    "event_type": "purchase",
                    "price": 10.0,
                    "quantity": 2,
                }
            )  # no request_id: attributed by item
    status, _ = server.call("POST", "/v1/events", {"events": events})
    assert status == 202

    report = report_when_served(server, len(users))
    by_variant = {v: [u for u, b in responses.items() if b["variant"] == v] for v in ("A", "B")}
    for name, members in by_variant.items():
        variant = report["variants"][name]
        buyers = [u for i, u in enumerate(responses) if i % 4 == 0 and u in members]
        assert (variant["users"], variant["impressions"]) == (len(members), len(members))
        assert variant["buyers"] == len(buyers) and variant["revenue"] == 20.0 * len(buyers)
    assert sum(v["clicks"] for v in report["variants"].values()) == 20
    assert report["verdict"]

    status, error = server.call("GET", "/v1/experiments/nope/report")
    assert status == 404 and "nope" in error["error"]["message"]
    status, error = server.call("GET", "/v1/experiments/home/report?revenue_test=magic")
    assert status == 400 and error["error"]["parameter"] == "revenue_test"

    out = config_file.parent / "report.html"
    code = main(["experiment", "report", "home", "--db", server.database_url, "--config",
                 str(config_file), "--html", str(out)])  # fmt: skip
    assert code == 0 and "<img" in out.read_text()
    printed = capsys.readouterr().out
    assert report["verdict"] in printed, (report["verdict"], printed)


def test_simulate_replays_held_out_purchases(
    shop: Path, config_file: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = pq.read_table(shop / "events.parquet")
    newest = events.take(pc.sort_indices(events, [("timestamp", "descending")])[:4000])
    heldout = config_file.parent / "heldout.parquet"
    pq.write_table(newest, heldout)
    out = config_file.parent / "simulate.json"
    code = main(["experiment", "simulate", "home", "--events", str(heldout), "--models",
                 str(models_dir), "--config", str(config_file), "--json", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["buyers"] > 0 and set(result["variants"]) == {"A", "B"}
    assert result["variants"]["A"]["model"].startswith("als@")
    assert result["variants"]["B"]["model"].startswith("popular@")
    assert result["differences"]["B"]["hit_rate"]["p_value"] is not None
    assert result["verdict"] in capsys.readouterr().out


def test_simulate_replays_each_variant_as_the_server_serves_it(
    server: Server, config_file: Path
) -> None:
    """Buyers who bought exactly what the server showed them: the replay of their variant finds
    all n of its picks bought, so it picked the same items (with the variant's diversity, and
    the bundle's default model for a model the bundle lacks)."""
    experiment = Experiments.from_config(tomllib.loads(CONFIG)["experiments"]).get("replay")
    assert experiment is not None
    users = Bundle.load(server.models).users.arrow.to_pylist()[60:100]  # no store events
    shown: dict[str, dict[str, list[str]]] = {"A": {}, "B": {}}
    for user in users:
        status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=5&experiment=replay")
        assert status == 200 and body["experiment"] == "replay", body
        shown[body["variant"]][user] = [item["item_id"] for item in body["items"]]
    bundles = folder_bundles(server.models)
    for name, seen in shown.items():
        assert seen, f"no visitor in variant {name}"
        heldout = Heldout(list(seen), [dict.fromkeys(items, 1.0) for items in seen.values()])
        _, revenue, _ = replay_variant(experiment, experiment.variant(name), bundles, heldout, 5)
        assert revenue.tolist() == [5.0] * len(seen), name


def test_command_errors_are_one_line(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "report", "nope", "--config", str(config_file)]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err
    bad = config_file.parent / "bad.toml"
    bad.write_text('[[experiments]]\nname = "x"\nvariants = [ { name = "A", share = 2.0 } ]\n')
    assert main(["experiment", "report", "x", "--config", str(bad)]) == 2
    assert "experiments[0].variants[0].share" in capsys.readouterr().err


def test_interleaving_merges_both_rankers_and_reports_the_preference(server: Server) -> None:
    bundle = Bundle.load(server.models)
    users = [bundle.users[i] for i in range(40, 60)]
    clicks = []
    for user in users:
        status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=6&experiment=mix")
        assert status == 200 and (body["experiment"], body["variant"]) == ("mix", "interleaved")
        assert body["model"].startswith("interleave:") and "popular@" in body["model"]
        ids = [item["item_id"] for item in body["items"]]
        assert len(ids) == 6 == len(set(ids))
        clicks.append({"user_id": user, "item_id": ids[0], "event_type": "click",
                       "request_id": body["request_id"]})  # fmt: skip
    status, _ = server.call("POST", "/v1/events", {"events": clicks})
    assert status == 202
    deadline = time.monotonic() + 30
    while True:
        status, report = server.call("GET", "/v1/experiments/mix/report")
        assert status == 200, report
        if report["responses"] >= len(users) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert report["mode"] == "interleave" and report["responses"] == len(users)
    # every response had one click, on its first item: each is decided, for one ranker
    assert report["wins"]["als"] + report["wins"]["pop"] == len(users) and report["ties"] == 0
