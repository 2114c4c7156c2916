"""Where the bundled data set lives and whether its files are intact (lesson 04).

``datasets/sentiment/MANIFEST.sha256`` lists every data file with its sha256
(the format of ``sha256sum``, so ``cd datasets/sentiment && sha256sum -c
MANIFEST.sha256`` works too). Loaders check each file lazily, when they first
read it, and :func:`verify_dataset` checks them all at once. A missing or
changed file raises an error that names the file and says how to restore it.
Only the standard library is imported here.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..config import CourseError
from ..paths import DataNotFoundError, datasets_dir

DATASET_NAME = "sentiment"
MANIFEST_NAME = "MANIFEST.sha256"
#: Files in the data set folder that are *not* data (rewritten by tools, not hashed).
UNHASHED = frozenset({MANIFEST_NAME, "README.md"})

RESTORE_HINT = (
    "Restore it with `git checkout -- datasets/sentiment` (run from the repository root), "
    "or regenerate the whole data set with `make dataset` "
    "(= `python -m course_utils.data.generate --out datasets/sentiment`)."
)


class DatasetIntegrityError(CourseError):
    """A file of the bundled data set is missing or does not match the manifest (lesson 04)."""


class MissingDataFileError(DatasetIntegrityError, DataNotFoundError):
    """A file listed in the manifest (or the manifest itself) is missing (lesson 04)."""


class CorruptDataFileError(DatasetIntegrityError, ValueError):
    """A file's sha256 differs from the manifest: it was changed or damaged (lesson 04)."""


def dataset_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The ``datasets/sentiment`` folder, or ``root`` when given (lesson 04).

    Raises :class:`course_utils.paths.DataNotFoundError` with instructions when
    the folder cannot be found.
    """
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"Data set folder {path} does not exist. {RESTORE_HINT}")
        return path
    return datasets_dir(DATASET_NAME) / DATASET_NAME


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (lesson 04)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: str | os.PathLike[str]) -> Path:
    """Hash every data file under ``root`` into ``MANIFEST.sha256`` (dataset, issue 4).

    Hidden files and folders (such as ``.cache``) and :data:`UNHASHED` are skipped.
    """
    root = Path(root)
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in UNHASHED or any(part.startswith(".") for part in rel.split("/")):
            continue
        lines.append(f"{sha256_file(path)}  {rel}\n")
    out = root / MANIFEST_NAME
    out.write_text("".join(lines), encoding="utf-8")
    _MANIFESTS.pop(str(root.resolve()), None)
    return out


_MANIFESTS: dict[str, tuple[float, dict[str, str]]] = {}
_VERIFIED: set[tuple[str, str, float]] = set()
_LOCK = threading.Lock()


def read_manifest(root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` from the manifest (cached per mtime) (lesson 04)."""
    root = dataset_root(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise MissingDataFileError(f"The manifest {path} is missing. {RESTORE_HINT}")
    key = str(root.resolve())
    mtime = path.stat().st_mtime
    cached = _MANIFESTS.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    entries: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorruptDataFileError(f"The manifest {path} is not text.", expected="lines `<sha256>  <path>` (UTF-8)",
                                   found="binary or non-UTF-8 bytes", fix=RESTORE_HINT) from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise CorruptDataFileError(f"{path}, line {n}, is not `<sha256>  <path>`. {RESTORE_HINT}")
        entries[rel.strip()] = digest
    _MANIFESTS[key] = (mtime, entries)
    return entries


def manifest_digest(root: str | os.PathLike[str] | None = None) -> str:
    """sha256 of the manifest itself: one content hash for the whole data set (lesson 04)."""
    return sha256_file(dataset_root(root) / MANIFEST_NAME)


def check_file(relpath: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of data file ``relpath`` after checking it against the manifest (lesson 04).

    Each file is hashed once per process (and again when it changes on disk).
    Raises :class:`MissingDataFileError` or :class:`CorruptDataFileError`.
    """
    root = dataset_root(root)
    manifest = read_manifest(root)
    path = root / relpath
    shown = f"datasets/{DATASET_NAME}/{relpath}"
    if relpath not in manifest:
        raise CorruptDataFileError(f"{shown} is not listed in {MANIFEST_NAME}. {RESTORE_HINT}")
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MissingDataFileError(f"{shown} is missing ({path}). {RESTORE_HINT}") from None
    key = (str(path.resolve()), manifest[relpath], stat.st_mtime)
    if key in _VERIFIED:
        return path
    digest = sha256_file(path)
    if digest != manifest[relpath]:
        raise CorruptDataFileError(
            f"{shown} is corrupted: its sha256 is {digest[:12]}..., the manifest says "
            f"{manifest[relpath][:12]}.... {RESTORE_HINT}"
        )
    with _LOCK:
        _VERIFIED.add(key)
    return path


def verify_dataset(root: str | os.PathLike[str] | None = None) -> int:
    """Check every file in the manifest; return how many were checked (lesson 04).

    Raises on the first missing or corrupted file, naming it.
    """
    root = dataset_root(root)
    manifest = read_manifest(root)
    for rel in manifest:
        check_file(rel, root)
    return len(manifest)
