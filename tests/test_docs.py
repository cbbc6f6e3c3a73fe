"""README.md and docs/ stay true to the code: their configuration examples load, every command and
page is documented and linked, and the README's tour works when pasted, against a real server on a
shop generated like the demo's."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from live_server import Server, running_server

from recsys.config import config_from_dict, load_config
from recsys_training.cli import COMMANDS, main
from recsys_training.pipeline import train

README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
DEMO_URL = "http://127.0.0.1:8000"
TOUR_EVENTS = 40_000  # the demo shop's users and items (so its ids), fewer events


def text(page: Path) -> str:
    return page.read_text()


def code_lines(page: Path, language: str = "sh") -> list[str]:
    """The lines of the page's ```sh blocks."""
    blocks = re.findall(rf"```{language}\n(.*?)```", text(page), re.S)
    return [line for block in blocks for line in block.splitlines()]


def makefile_value(name: str) -> str:
    match = re.search(rf"^{name} [:?]?= (.+)$", text(ROOT / "Makefile"), re.M)
    assert match, name
    return match.group(1).strip()


def test_every_toml_example_is_a_valid_config() -> None:
    blocks = [block for page in [README, *PAGES]
              for block in re.findall(r"```toml\n(.*?)```", text(page), re.S)]  # fmt: skip
    assert len(blocks) >= 3
    for block in blocks:
        config_from_dict(tomllib.loads(block))
    load_config(ROOT / makefile_value("DEMO_CONFIG"))


def test_every_command_is_documented() -> None:
    cli = text(ROOT / "docs" / "cli.md")
    for command in COMMANDS:
        assert f"`recsys {command}" in cli, command


def test_readme_links_every_page_and_every_link_resolves() -> None:
    readme = text(README)
    for page in PAGES:
        assert f"](docs/{page.name})" in readme, page.name
    for page in [README, *PAGES]:
        for target, anchor in re.findall(r"\]\(([\w/.-]+\.md)(?:#([\w-]+))?\)", text(page)):
            linked = page.parent / target
            assert linked.is_file(), (page.name, target)
            if anchor:
                assert anchor in headings(linked), (page.name, target, anchor)


def headings(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    titles = re.findall(r"^#+ (.+)$", text(page), re.M)
    return {re.sub(r"[^\w -]", "", title.lower()).replace(" ", "-") for title in titles}


def test_readme_stays_short() -> None:
    assert len(text(README).splitlines()) < 150


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like `make run`'s demo/: shop/ generated with the Makefile's users, items
    and seed, models/ trained with its config."""
    from recsys_data.generator import generate_shop

    folder = tmp_path_factory.mktemp("demo")
    generate = re.search(r"recsys generate (.+)$", text(ROOT / "Makefile"), re.M)
    assert generate
    args = dict(re.findall(r"--(\w+) (\S+)", generate.group(1)))
    generate_shop(folder / "shop", users=int(args["users"]), items=int(args["items"]),
                  events=TOUR_EVENTS, seed=int(args["seed"]))  # fmt: skip
    config = load_config(ROOT / makefile_value("DEMO_CONFIG"))
    train(folder / "shop" / "events.parquet", folder / "models", config,
          folder / "shop" / "catalogue.csv")  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def server(demo: Path) -> Iterator[Server]:
    key = makefile_value("DEMO_KEY")
    with running_server(demo, demo / "models", ROOT / makefile_value("DEMO_CONFIG"), workers=1,
                        env={"RECSYS_API_KEYS": key}) as found:  # fmt: skip
        yield found


def curl(server: Server, line: str) -> tuple[int, Any]:
    """A README curl line as an HTTP call to `server` (only the options the README uses)."""
    words = shlex.split(line)
    assert words[0] == "curl", line
    method, headers, body, url = "GET", {}, None, None
    options = iter(words[1:])
    for word in options:
        if word == "-X":
            method = next(options)
        elif word == "-H":
            name, _, value = next(options).partition(": ")
            headers[name] = value
        elif word == "-d":
            body = next(options).encode()
        else:
            assert not word.startswith("-"), f"unsupported curl option {word}: {line}"
            url = word
    assert url and url.startswith(DEMO_URL + "/"), line
    content_type = headers.pop("Content-Type", "application/json")
    return server.call(method, url.removeprefix(DEMO_URL), headers=headers, raw=body,
                       content_type=content_type)  # fmt: skip


def test_readme_curl_lines_work_against_the_demo_shop(server: Server) -> None:
    lines = [line for line in code_lines(README) if line.startswith("curl ")]
    assert len(lines) >= 10
    for line in lines:
        status, body = curl(server, line)
        assert 200 <= status < 300, (line, status, body)
        model = body.get("model") if isinstance(body, dict) else None
        assert model is None or not model.startswith("fallback"), (line, body)  # ids are known


def test_readme_commands_work_on_the_demo_shop(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [line for line in code_lines(README) if line.startswith(".venv/bin/recsys ")]
    assert {shlex.split(line)[1] for line in lines} >= {"segments", "export", "evaluate"}
    monkeypatch.chdir(demo.parent)
    for line in lines:
        argv = [word.replace("demo/", f"{demo.name}/").replace("data/", f"{ROOT}/data/")
                for word in shlex.split(line)[1:]]  # fmt: skip
        assert main(argv) == 0, line
