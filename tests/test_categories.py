"""The catalogue owns categories: numbered paths, prefix masks, known names and close matches; an
unknown category is a 400 (server) or one line and exit 2 (`recsys export --category`) naming the
parameter and the close matches, never an empty list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest
from flask.testing import FlaskClient

from recsys.bundle import Bundle
from recsys.data.catalogue import Categories
from recsys.errors import ParameterError
from recsys_serving import create_app
from recsys_training.cli import main

PATHS = np.array(["shoes/running", "shoes", "shoestring", "", "pets/cat_food", "shoes/running"],
                 object)  # fmt: skip


def test_paths_are_numbered_once_and_prefixes_match_whole_segments() -> None:
    categories = Categories.from_paths(PATHS)
    assert categories.paths.tolist() == PATHS.tolist()
    assert categories.path(0) == "shoes/running" and categories.path(3) == ""
    assert categories.codes[0] == categories.codes[5] != categories.codes[1]
    assert categories.known_codes[3] == -1 and (np.delete(categories.known_codes, 3) >= 0).all()
    assert categories.mask("shoes").tolist() == [True, True, False, False, False, True]
    assert categories.mask("shoes/running").tolist() == [True, False, False, False, False, True]
    assert categories.known == {"shoes", "shoes/running", "shoestring", "pets", "pets/cat_food"}


def test_an_unknown_category_names_the_parameter_and_its_close_matches() -> None:
    categories = Categories.from_paths(PATHS)
    categories.check("pets")
    with pytest.raises(ParameterError) as caught:
        categories.check("shoes/runing", "--category")
    assert caught.value.parameter == "--category"
    assert "'shoes/runing'" in str(caught.value) and "shoes/running" in str(caught.value)
    with pytest.raises(ParameterError, match="known: pets, shoes, shoestring"):
        categories.check("xyzzy")
    with pytest.raises(ParameterError, match="the catalogue has none"):
        Categories.from_paths(np.array(["", ""], object)).check("pets")


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    folder = tmp_path_factory.mktemp("categories-app")
    app = create_app({"models_dir": models_dir, "database_url": f"sqlite:///{folder / 'e.db'}",
                      "api_keys": ["k"], "watch": False,
                      "config": {"server": {"open": True}}})  # fmt: skip
    return app.test_client()


@pytest.mark.parametrize(
    "path",
    ["/v1/users/{user}/recommendations?category=petz",
     "/v1/users/nobody/recommendations?category=petz",
     "/v1/items/{item}/similar?category=petz", "/v1/popular?category=petz"],
)  # fmt: skip
def test_the_server_answers_400_for_an_unknown_category(
    client: FlaskClient, models_dir: Path, path: str
) -> None:
    bundle = Bundle.load(models_dir)
    response = client.get(path.format(user=bundle.users[0], item=bundle.items[0]))
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["parameter"] == "category" and "close matches: pets" in error["message"]
    posted = client.post("/v1/cross-sell?category=petz", json={"items": [bundle.items[0]]})
    assert posted.status_code == 400 and posted.json["error"]["parameter"] == "category"


def test_a_known_prefix_still_filters(client: FlaskClient, models_dir: Path) -> None:
    bundle = Bundle.load(models_dir)
    response = client.get(f"/v1/users/{bundle.users[0]}/recommendations?n=5&category=pets")
    assert response.status_code == 200 and len(response.json["items"]) == 5
    paths = dict(zip(bundle.items, bundle.categories.paths, strict=True))
    assert all(paths[item["item_id"]].startswith("pets/") for item in response.json["items"])


def test_export_keeps_to_a_category_and_refuses_an_unknown_one(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pets.csv"
    assert main(["export", "--models", str(models_dir), "--out", str(out), "--n", "3",
                 "--category", "pets"]) == 0  # fmt: skip
    bundle = Bundle.load(models_dir)
    paths = dict(zip(bundle.items, bundle.categories.paths, strict=True))
    picked = pcsv.read_csv(out, convert_options=pcsv.ConvertOptions(
        column_types={"item_id": "string"})).column("item_id").to_pylist()  # fmt: skip
    assert picked and all(paths[item].startswith("pets/") for item in picked)
    capsys.readouterr()
    assert main(["export", "--models", str(models_dir), "--out", str(out), "--category",
                 "petz"]) == 2  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "'--category'" in error and "close matches: pets" in error
