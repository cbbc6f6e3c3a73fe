"""Which packages the distribution installs, and under which names (the rest is in pyproject.toml).

The folders keep their short names in the repository, but what is installed is named after us:
a top-level `data`, `training` or `serving` would be taken from every other project.
`data/` installs as `recsys_data`, `training/` (the `recsys` command) as `recsys_training` and
`serving/` (the Flask app) as `recsys_serving`."""

from setuptools import find_packages, setup

FOLDERS = {"recsys_data": "data", "recsys_training": "training", "recsys_serving": "serving"}


def installed(folder: str, name: str) -> list[str]:
    """The folder's package and its subpackages under their installed names."""
    return [name, *(f"{name}.{sub}" for sub in find_packages(folder))]


setup(
    packages=[*find_packages(include=["recsys", "recsys.*"]),
              *(p for name, folder in FOLDERS.items() for p in installed(folder, name))],
    package_dir=FOLDERS,
    package_data={"recsys_serving": ["static/*", "templates/*", "nginx.conf"],
                  "recsys_data": ["*.toml"]},
)
