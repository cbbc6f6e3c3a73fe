"""What installing recsys puts in an environment: a wheel built from this tree holds only
top-level names of ours (the folders `data/`, `training/`, `serving/` install as `recsys_data`,
`recsys_training`, `recsys_serving`, so `import data`, `training`, `serving` stay free for others),
every package of the tree, and the licence; `recsys --version` and `generate --help` say what they
should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import ROOT

from recsys_training.cli import main

SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "recsys", "training", "serving",
           "data")  # fmt: skip
INSTALLED = {"recsys", "recsys_data", "recsys_training", "recsys_serving"}
FOLDER = {"recsys_data": "data", "recsys_training": "training", "recsys_serving": "serving"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline (no index, no build isolation) from a copy of the tree."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    return next(out.glob("recsys-*.whl"))


def test_the_wheel_claims_only_our_top_level_names_and_holds_every_file(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == INSTALLED
    for package in INSTALLED:  # every file: modules, and data such as widget.js or demo.toml
        folder = ROOT / FOLDER.get(package, package)
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"{package}/{path.relative_to(folder).as_posix()}" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "joblib" not in text


def test_generic_names_stay_free_and_ours_import_from_the_wheel(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import importlib.util, recsys_data.generator as g, recsys_training.cli, recsys_serving\n"
        "for name in ('data', 'training', 'serving'):\n"
        "    assert importlib.util.find_spec(name) is None, importlib.util.find_spec(name)\n"
        "print(g.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(site)


def test_version_and_generate_help_state_what_they_should(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"recsys {version('recsys')}"
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for default in ("default 10,000", "default 2,000", "default 500,000", "default 0"):
        assert default in shown
