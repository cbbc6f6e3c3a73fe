"""Which packages the distribution installs, and under which names (the rest is in pyproject.toml).

The generator's folder `data/` installs as `recsys_data`: a top-level `data` would be taken from
every other project in the environment. `training` and `serving` keep their names for now (see
docs/operations.md, "Installed names")."""

from setuptools import find_packages, setup

OURS = ["recsys", "recsys.*", "training", "training.*", "serving", "serving.*"]

setup(
    packages=[*find_packages(include=OURS), "recsys_data"],
    package_dir={"recsys_data": "data"},
    package_data={"serving": ["static/*", "templates/*", "nginx.conf"], "recsys_data": ["*.toml"]},
)
