"""The command line as a user meets it: help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recsys_training.cli import COMMANDS, main


def recsys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys_training.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert "usage:" in capsys.readouterr().out


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_bad_rows_exit_2_and_write_nothing(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event_type,timestamp\nu,i,view,1\nu,i,view,noon\n")
    line = one_line_error(recsys("train", "--events", str(events), "--models",
                                 str(tmp_path / "models")))
    assert "events.csv:line 3: column 'timestamp': unparsable timestamp" in line
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_skip_reports_what_was_skipped(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    rows = "".join(f"u{i % 7},i{i % 5},view,{i}\n" for i in range(50))
    events.write_text(f"user_id,item_id,event_type,timestamp\n{rows}u,i,click,1\n")
    result = recsys("train", "--events", str(events), "--models", str(tmp_path / "m"),
                    "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert "skipped 1 rows: event_type: unknown event type" in result.stdout
    assert "50 events (1 skipped)" in result.stdout


@pytest.mark.parametrize(("toml", "key"), [
    ("[models.als]\nfactorz = 3\n", "models.als.factorz"),
    ("[models.als]\nfactors = 0\n", "models.als.factors"),
    ("[index]\nrecall_floor = 2\n", "index.recall_floor"),
    ("[events.weights]\nview = -1\n", "events.weights.view"),
    ("[modles]\n", "modles"),
])
def test_config_errors_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(toml)
    events = tmp_path / "e.csv"
    events.write_text("user_id,item_id,event_type,timestamp\nu,i,view,1\n")
    line = one_line_error(recsys("train", "--events", str(events), "--config", str(config),
                                 "--models", str(tmp_path / "m")))
    assert f"'{key}'" in line


def test_bad_arguments_exit_2() -> None:
    one_line_error(recsys("train"))
    one_line_error(recsys("nope"))
    one_line_error(recsys("generate", "--out", "x", "--users", "-5"))


def test_missing_events_file(tmp_path: Path) -> None:
    line = one_line_error(recsys("train", "--events", str(tmp_path / "none.csv")))
    assert "no such file" in line
