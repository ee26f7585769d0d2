"""Only what pyproject.toml cannot say: data/ is installed as the package `fffusion_data`, so the demo catalog
and the situation bank are found through importlib.resources after a plain `pip install .` (core/resources.py)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["bot*", "core*", "adapters*"]), "fffusion_data"],
    package_dir={"fffusion_data": "data"},
)
