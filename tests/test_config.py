"""The whole configuration is checked when it is loaded: every section, every model's parameters,
experiments with their strategies, segments; errors name the key (and the file). A file that is
not TOML is an error of its own. The library never reads the environment or argv."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.campaigns import SegmentsConfig
from recsys.config import Config, config_from_dict, load_config
from recsys.data import load_events
from recsys.errors import ConfigError, InputError
from recsys.experiments import ExperimentConfig
from recsys.popularity import Popularity
from recsys_training.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"als": {"factors": 8}, "top": {"kind": "popular"}}


def experiment(*variants: dict[str, Any], **changes: Any) -> dict[str, Any]:
    variants = variants or (
        {"name": "A", "model": "als", "share": 0.5},
        {"name": "B", "strategy": "als+diversity=0.3", "share": 0.5},
    )
    return {"name": "home", "variants": list(variants), **changes}


def strategy(text: str) -> dict[str, Any]:
    """A config of one experiment whose second variant serves `text`."""
    return {
        "models": MODELS,
        "experiments": [experiment({"name": "A", "model": "als", "share": 0.5},
                                   {"name": "B", "strategy": text, "share": 0.5})],
    }  # fmt: skip


def key_of(table: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        config_from_dict(table)
    return error.value.key


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"models": {"als": {"factors": 0}}}, "models.als.factors"),
        ({"models": {"als": {"alpha": 0.0}}}, "models.als.alpha"),
        ({"models": {"als": {"regularization": -1.0}}}, "models.als.regularization"),
        ({"models": {"als": {"colour": 1}}}, "models.als.colour"),
        ({"models": {"x": {"kind": "svd"}}}, "models.x.kind"),
        ({"models": {"fbt": {"kind": "cooccurrence", "measure": "pmi"}}}, "models.fbt.measure"),
        ({"models": {"a": {"kind": "popular", "window_days": 3}, "b": {"kind": "popular"}}},
         "models.a.window_days"),
        ({"events": {"half_life_days": math.nan}}, "events.half_life_days"),
        ({"index": {"recall_floor": 2.0}}, "index.recall_floor"),
        ({"server": {"candidates": -1}}, "server.candidates"),
        ({"server": {"watch_seconds": math.inf}}, "server.watch_seconds"),
        ({"segments": {"champion_score": 9}}, "segments.champion_score"),
        ({"segments": []}, "segments"),
        ({"experiments": [experiment(mode="sequential")]}, "experiments[0].mode"),
        ({"experiments": [{"variants": []}]}, "experiments[0].name"),
        ({"experiments": [experiment(start=1e20)]}, "experiments[0].start"),
        ({"experiments": [experiment({"name": "A", "share": 0.5},
                                     {"name": "B", "share": 0.5, "params": {"diversity": 2}})]},
         "experiments[0].variants[1].params.diversity"),
        ({"experiments": [experiment({"name": "A", "share": 0.5},
                                     {"name": "B", "share": 0.5, "params": {"boost": 1}})]},
         "experiments[0].variants[1].params.boost"),
    ],
)  # fmt: skip
def test_every_section_is_checked_at_load_naming_the_key(table: dict[str, Any], key: str) -> None:
    assert key_of(table) == key


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("als+diversity=high", "must be a number"),
        ("als+diversity=5", "between 0 and 1"),
        ("als+diversity=-0.1", "between 0 and 1"),
        ("als+diversity=nan", "between 0 and 1"),
        ("als+diversity=inf", "between 0 and 1"),
        ("als+boost=0.3", "unknown setting"),
        ("als+diversity", "name=value"),
        ("+diversity=0.3", "model name"),
        ("svd+diversity=0.3", "no model 'svd' in [models]"),
    ],
)
def test_strategies_are_parsed_and_range_checked_at_load(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(strategy(text))
    assert error.value.key == "experiments[0].variants[1].strategy"
    assert reason in error.value.reason


def test_a_variant_names_a_model_of_models_when_the_config_has_them() -> None:
    bpr = experiment({"name": "A", "model": "als", "share": 0.5},
                     {"name": "B", "model": "bpr", "share": 0.5})  # fmt: skip
    unknown = {"models": MODELS, "experiments": [bpr]}
    assert key_of(unknown) == "experiments[0].variants[1].model"
    pinned = experiment({"name": "A", "model": "als", "share": 0.5},
                        {"name": "B", "model": "bpr", "bundle": "v1", "share": 0.5})
    config_from_dict({"models": MODELS, "experiments": [pinned]})  # that bundle's models
    config_from_dict({"experiments": [bpr]})  # no [models]: any model (the bundle's)


def test_the_loaded_config_is_typed() -> None:
    config = config_from_dict({"models": MODELS, "experiments": [experiment()],
                               "segments": {"loyal_orders": 5}})  # fmt: skip
    assert config.experiments and isinstance(config.experiments[0], ExperimentConfig)
    assert config.experiments[0].variants[1].resolved() == ("als", {"diversity": 0.3})
    assert isinstance(config.segments, SegmentsConfig) and config.segments.loyal_orders == 5
    assert Config().segments == SegmentsConfig() and Config().experiments == ()


def test_a_file_that_is_not_toml_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "recsys.toml"
    broken.write_text("[models.als\nfactors = 8\n")
    with pytest.raises(InputError) as error:
        load_config(broken)
    assert error.value.path == str(broken) and "TOML" in error.value.reason
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text("[models.als]\nfactors = 0\n")
    with pytest.raises(ConfigError) as found:
        load_config(bad_key)
    assert found.value.key == "models.als.factors" and str(bad_key) in str(found.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [("[models.als\n", "recsys.toml"), ("[models.als]\nfactors = 0\n", "models.als.factors")],
)
def test_cli_stops_on_a_bad_config_before_reading_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    (tmp_path / "recsys.toml").write_text(text)
    argv = ["train", "--events", str(tmp_path / "absent.csv"), "--config"]
    assert main([*argv, str(tmp_path / "recsys.toml")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error and "absent.csv" not in error
    assert "'--config'" not in error


def test_the_cli_reads_recsys_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recsys.toml").write_text("[server]\ncandidates = -1\n")
    monkeypatch.setenv("RECSYS_CONFIG", str(tmp_path / "recsys.toml"))
    assert main(["train", "--events", str(tmp_path / "absent.csv")]) == 2
    assert "server.candidates" in capsys.readouterr().err


def test_trending_weighs_events_by_the_configured_weights(shop: Path) -> None:
    events = load_events(shop / "events.parquet", ("view", "add_to_cart", "purchase"))
    weights = {"view": 1.0, "add_to_cart": 0.0, "purchase": 2.0}
    trending = Popularity.from_events(events, len(events.items), 7.0, weights).trending
    recent = events.timestamp >= events.timestamp.max() - 7 * 86_400
    by_type = np.array([weights[name] for name in events.event_types])
    expected = np.bincount(events.item[recent], by_type[events.event[recent]], len(events.items))
    assert np.allclose(trending, expected)


def test_nothing_under_recsys_reads_the_environment_or_argv() -> None:
    """Flags and environment variables belong to the entry points (training/, serving/)."""
    found = []
    for path in sorted((ROOT / "recsys").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                names.append(f"{node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
                names += [f"{node.module}.{alias.name}" for alias in node.names]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name in ("os.environ", "os.getenv", "os.environb", "sys.argv")
            ]
    assert found == []
