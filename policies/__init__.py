"""The telecom policy library, shipped inside the package so that `pol demo`
works from any folder after `pip install .`: `pol.policies.path("telecom/retention.pol")`."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """A file of the library, as a path on disk."""
    return Path(str(files(__name__).joinpath(name)))
