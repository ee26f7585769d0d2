"""Files that ship with the project (data/, installed as the package `fffusion_data`), found the same way in a
checkout, an editable install and a wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled(*parts: str) -> Path:
    """The path of a bundled file or folder. Installs are plain folders, never zip files, so a path exists."""
    return Path(str(resources.files("fffusion_data").joinpath(*parts)))


def sample_face() -> bytes:
    """A face that ships inside an installed package: scikit-image's astronaut (NASA, public domain)."""
    return resources.files("skimage").joinpath("data/astronaut.png").read_bytes()
