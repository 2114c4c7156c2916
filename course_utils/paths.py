"""Where the course's data and caches live.

Introduced in lesson 00 (setup). :func:`datasets_dir` finds ``datasets/``
whether the code runs from a clone of the repository (JupyterLab), from a Colab
clone under ``/content`` or from an installed package, and says how to get the
data when it is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import config

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_MARKERS = ("pyproject.toml", "course_utils")


class DataNotFoundError(FileNotFoundError):
    """The course's ``datasets/`` folder (or a file in it) could not be found."""


def repo_root() -> Path | None:
    """The course repository's root when this package lives inside a clone, else None (lesson 00)."""
    candidate = PACKAGE_DIR.parent
    if all((candidate / m).exists() for m in REPO_MARKERS):
        return candidate
    return None


def _candidates() -> list[Path]:
    found: list[Path] = []
    root = repo_root()
    if root is not None:
        found.append(root / "datasets")
    cwd = Path.cwd().resolve()
    for parent in (cwd, *cwd.parents):
        found.append(parent / "datasets")
    colab_root = Path(os.environ.get("COURSE_COLAB_ROOT", "/content"))
    from .colab import REPO_NAME  # light module, no side effects

    found.append(colab_root / REPO_NAME / "datasets")
    return found


def datasets_dir(required: str | None = None) -> Path:
    """The ``datasets/`` folder; with ``required``, also check that sub-path exists (lesson 00).

    ``COURSE_DATA`` overrides the search. Raises :class:`DataNotFoundError`
    with instructions when nothing is found.
    """
    config.validate()
    override = os.environ.get("COURSE_DATA")
    candidates = [Path(override).expanduser()] if override else _candidates()
    for path in candidates:
        if path.is_dir() and (required is None or (path / required).exists()):
            return path
    what = f"datasets/{required}" if required else "datasets/"
    looked = "\n  ".join(str(p) for p in dict.fromkeys(candidates))
    raise DataNotFoundError(
        f"Could not find {what}. Looked in:\n  {looked}\n"
        "How to fix: run the lesson from a clone of the course repository "
        "(`git clone` it, then `make lab`), or on Colab run the lesson's first cell, "
        "or point COURSE_DATA at a datasets/ folder (e.g. `export COURSE_DATA=/path/to/datasets`). "
        "The bundled data set can be regenerated with `make dataset`."
    )


def cache_dir() -> Path:
    """Folder for cached features (``COURSE_CACHE`` or ``<datasets>/.cache``), created on demand (lesson 00)."""
    config.validate()
    override = os.environ.get("COURSE_CACHE")
    path = Path(override).expanduser() if override else datasets_dir() / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
