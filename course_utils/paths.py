"""Where the course's data, caches and your working copies of the lessons live.

Introduced in lesson 00 (setup). :func:`datasets_dir` finds ``datasets/``
whether the code runs from a clone of the repository (JupyterLab), from a Colab
clone under ``/content`` or from an installed package, and says how to get the
data when it is missing. :func:`cache_dir` picks a cache folder you can write
to, even on a shared read-only install. :func:`sync_workspace` keeps your
personal, git-ignored copies of the lessons (``my-notebooks/``, opened by
``make lab``) so that your edits never block ``git pull``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import config
from .config import CacheError, CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_MARKERS = ("pyproject.toml", "course_utils")


#: Name of the per-user cache folder (under ``$XDG_CACHE_HOME`` or ``~/.cache``).
APP_NAME = "multimodal-course"
#: Your personal copies of the lessons, made by ``make lab`` (git-ignored).
WORKSPACE_NAME = "my-notebooks"


class DataNotFoundError(CourseError, FileNotFoundError):
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


def _writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and prove it writable by writing a file in it (works as root too)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
        return True
    except OSError:
        return False


def _user_cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / APP_NAME


def cache_candidates() -> list[Path]:
    """Where :func:`cache_dir` looks, in order, when ``COURSE_CACHE`` is unset (lesson 00).

    ``<datasets>/.cache`` (when the data set is found), the per-user cache
    ``$XDG_CACHE_HOME/multimodal-course`` (default ``~/.cache/multimodal-course``),
    then a per-user folder in the system's temporary directory.
    """
    found: list[Path] = []
    try:
        found.append(datasets_dir() / ".cache")
    except DataNotFoundError:
        pass
    try:
        found.append(_user_cache_root())
    except RuntimeError:  # no home directory
        pass
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    found.append(Path(tempfile.gettempdir()) / f"{APP_NAME}-{user}")
    return found


def cache_dir() -> Path:
    """A writable folder for cached features and numba's cache, created on demand (lesson 00).

    ``COURSE_CACHE`` when set (it must be writable: else :class:`~course_utils.config.CacheError`
    names it and says how to fix it); otherwise the first writable folder of
    :func:`cache_candidates`: ``<datasets>/.cache``, then ``~/.cache/multimodal-course``
    (``$XDG_CACHE_HOME`` respected), then a temporary folder. A shared,
    read-only install therefore still gets a cache.
    """
    config.validate()
    override = os.environ.get("COURSE_CACHE")
    if override:
        path = Path(override).expanduser()
        if not _writable_dir(path):
            raise CacheError(
                f"COURSE_CACHE={override} cannot be used as the course's cache folder.",
                expected="COURSE_CACHE names a folder you can create and write to",
                found=f"creating or writing a file in {path} failed",
                fix="`export COURSE_CACHE=$HOME/.cache/multimodal-course` (any writable folder), "
                    "or `unset COURSE_CACHE` to let the course choose one; then restart the kernel.",
            )
        return path
    tried = cache_candidates()
    for path in tried:
        if _writable_dir(path):
            return path
    raise CacheError(  # pragma: no cover - even the temporary folder is unwritable
        "No writable folder for the course's cache.",
        expected="one of these folders to be writable: " + ", ".join(map(str, tried)),
        found="all of them refused a test write",
        fix="point COURSE_CACHE at a writable folder: `export COURSE_CACHE=/path/you/own`, then restart the kernel.",
    )


def workspace_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """Your personal lesson folder ``<repo>/my-notebooks`` (git-ignored) (lesson 00)."""
    base = Path(root) if root is not None else (repo_root() or Path.cwd())
    return base / WORKSPACE_NAME


def sync_workspace(src: str | os.PathLike[str] | None = None,
                   dst: str | os.PathLike[str] | None = None) -> list[Path]:
    """Copy lessons from ``notebooks/`` into your working copy, never overwriting yours (lesson 00).

    ``make lab`` calls this before it starts JupyterLab. Files that are missing
    in ``dst`` (default ``<repo>/my-notebooks``) are copied from ``src``
    (default ``<repo>/notebooks``), so new lessons appear after a ``git pull``;
    a file that already exists in ``dst`` is never touched, whatever its
    content, so your edits are kept. Hidden files and checkpoints are skipped.
    Returns the paths that were copied (empty when nothing was missing).
    Raises :class:`DataNotFoundError` when ``src`` does not exist.
    """
    root = repo_root() or Path.cwd()
    src = Path(src) if src is not None else root / "notebooks"
    dst = Path(dst) if dst is not None else workspace_dir(root)
    if not src.is_dir():
        raise DataNotFoundError(
            f"The lessons folder {src} does not exist.",
            expected="a notebooks/ folder with the student versions of the lessons",
            found=f"nothing at {src}",
            fix="run from the root of a clone of the course (`git clone ...; cd ...; make lab`).",
        )
    copied: list[Path] = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        target = dst / rel
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copy2(path, tmp)
        os.replace(tmp, target)
        copied.append(target)
    return copied


def lab_url(ip: str = "127.0.0.1", port: int | str = 8888, token: str = "",
            lesson: str = "00_setup.ipynb") -> str:
    """The JupyterLab address that opens ``lesson`` in your working copy (lesson 00; ``make lab``)."""
    host = "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{port}/lab/tree/{WORKSPACE_NAME}/{lesson}"
    return f"{url}?token={token}" if token else url


def _main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.paths sync|url|cache`` (used by ``make lab``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.paths")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("sync", help="copy missing lessons from notebooks/ to my-notebooks/")
    url = sub.add_parser("url", help="print the JupyterLab URL of lesson 00")
    url.add_argument("--ip", default="127.0.0.1")
    url.add_argument("--port", default="8888")
    url.add_argument("--token", default="")
    sub.add_parser("cache", help="print the cache folder the course uses")
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        copied = sync_workspace()
        where = workspace_dir()
        if copied:
            print(f"Copied {len(copied)} file(s) into {where} (your working copy; existing files are never overwritten).")
        else:
            print(f"Your working copy {where} is up to date (existing files are never overwritten).")
    elif args.cmd == "url":
        print(lab_url(args.ip, args.port, args.token))
    else:
        print(cache_dir())
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
