"""The README stays true to the code: its configuration examples load, its commands exist."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

from recsys.config import config_from_dict
from training.cli import COMMANDS

README = (ROOT / "README.md").read_text()


def test_every_toml_example_is_a_valid_config() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        config_from_dict(tomllib.loads(block))
    config_from_dict(tomllib.loads((ROOT / "data" / "demo.toml").read_text()))


def test_every_command_is_documented() -> None:
    for command in COMMANDS:
        assert f"`recsys {command}" in README, command
