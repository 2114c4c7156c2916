"""Loading the bundled sentiment data set: records, DataFrame, arrays (lesson 04).

::

    from course_utils import data
    rows = data.load_records("train")          # list of dicts, no pandas needed
    df = data.load_metadata()                  # pandas DataFrame, all splits
    arrays = data.load_arrays("test")          # texts, audio list, images (N,64,64,3), labels
    wave = data.load_audio("u0001")            # float32, 16 kHz
    face = data.load_image("u0001")            # uint8 (64, 64, 3)

Every file is checked against ``MANIFEST.sha256`` the first time it is read
(``verify=True``, the default; it costs a few milliseconds in all); a missing or
changed file raises an error that names it and says how to restore it.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..config import SystemLibraryError
from .integrity import CorruptDataFileError, RESTORE_HINT, check_file, dataset_root

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

SPLITS: tuple[str, ...] = ("train", "valid", "test")
SAMPLE_RATE = 16_000
IMAGE_SIZE = 64
#: Columns converted from text when reading ``metadata.csv``.
INT_COLUMNS = ("label_binary", "label_7", "ironic", "contrast", "negation", "neutral", "skin_tone")
FLOAT_COLUMNS = ("score", "snr_db", "duration_s")
FLAGS: tuple[str, ...] = ("ironic", "contrast", "negation", "neutral")


def _resolve(relpath: str, root: str | os.PathLike[str] | None, verify: bool) -> Path:
    if verify:
        return check_file(relpath, root)
    path = dataset_root(root) / relpath
    if not path.is_file():
        from .integrity import MissingDataFileError

        raise MissingDataFileError(f"datasets/sentiment/{relpath} is missing ({path}). {RESTORE_HINT}")
    return path


class MetadataError(CorruptDataFileError):
    """``metadata.csv`` cannot be parsed: a missing column or a value of the wrong type (lesson 04)."""


#: Columns every row of ``metadata.csv`` must have.
REQUIRED_COLUMNS = ("id", "split", "speaker", "text", "audio_path", "image_path", *INT_COLUMNS, *FLOAT_COLUMNS)


def _soundfile() -> Any:
    """Import ``soundfile``; a missing package or libsndfile becomes a :class:`SystemLibraryError`."""
    try:
        import soundfile
    except (OSError, ImportError) as exc:
        raise SystemLibraryError(
            "Audio files cannot be decoded: the soundfile package or its libsndfile library is missing.",
            expected="`import soundfile` to load the libsndfile C library (audio decoding)",
            found=f"{type(exc).__name__}: {exc}",
            fix="`pip install --force-reinstall soundfile` (its wheels bundle libsndfile on Linux, macOS and "
                "Windows); on other platforms install the system library: `sudo apt-get install libsndfile1` "
                "(Debian/Ubuntu), `brew install libsndfile` (macOS), `conda install -c conda-forge libsndfile`. "
                "Then restart the kernel.",
        ) from exc
    return soundfile


def _parse_row(row: dict[str, Any], n: int, path: Path) -> dict[str, Any]:
    rec: dict[str, Any] = dict(row)
    col = ""
    try:
        for col in INT_COLUMNS:
            rec[col] = int(rec[col])
        for col in FLOAT_COLUMNS:
            rec[col] = float(rec[col]) if rec[col] != "" else float("nan")
    except (TypeError, ValueError):
        raise MetadataError(
            f"{path.name}, data row {n}: column {col!r} cannot be read.",
            expected=f"{'an integer' if col in INT_COLUMNS else 'a number (or empty)'} in column {col!r}",
            found=repr(row.get(col)),
            fix=RESTORE_HINT,
        ) from None
    return rec


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS} (or None for all).")


def load_records(split: str | None = None, *, root: str | os.PathLike[str] | None = None,
                 verify: bool = True) -> list[dict[str, Any]]:
    """Rows of ``metadata.csv`` as dicts with typed values, optionally one split (lesson 04).

    Numbers come back as ``int``/``float``; ``audio_path``/``image_path`` stay
    relative to the data set folder (see :func:`dataset_root`).
    Raises :class:`MetadataError` (a :class:`CorruptDataFileError`) when the
    file lacks a column or holds a value of the wrong type.
    """
    _check_split(split)
    path = _resolve("metadata.csv", root, verify)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise MetadataError(
                    f"{path.name} lacks the columns {missing}.",
                    expected="the header " + ",".join(REQUIRED_COLUMNS[:6]) + ",...",
                    found="header " + (",".join(reader.fieldnames) if reader.fieldnames else "(empty file)"),
                    fix=RESTORE_HINT,
                )
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MetadataError(f"{path.name} is not a readable UTF-8 CSV file.", expected="UTF-8 CSV text",
                            found=f"{type(exc).__name__}: {exc}", fix=RESTORE_HINT) from None
    out = []
    for n, row in enumerate(rows, 1):
        if split is not None and row["split"] != split:
            continue
        out.append(_parse_row(row, n, path))
    return out


def load_metadata(split: str | None = None, *, root: str | os.PathLike[str] | None = None,
                  verify: bool = True) -> "pd.DataFrame":
    """``metadata.csv`` as a pandas DataFrame (index = ``id``), optionally one split (lesson 04)."""
    import pandas as pd

    records = load_records(split, root=root, verify=verify)
    df = pd.DataFrame.from_records(records)
    return df.set_index("id", drop=False).rename_axis(None)


def _relpath(item: str | dict[str, Any], kind: str) -> str:
    if isinstance(item, dict):
        return str(item[f"{kind}_path"])
    if "/" in item:
        return item
    return f"audio/{item}.ogg" if kind == "audio" else f"images/{item}.png"


def load_audio(item: str | dict[str, Any], *, root: str | os.PathLike[str] | None = None,
               verify: bool = True) -> "np.ndarray":
    """One utterance's waveform: float32 mono at 16 kHz (lesson 04).

    ``item`` is an id (``"u0001"``), a record from :func:`load_records` or a
    path relative to the data set folder. Raises :class:`MissingDataFileError` /
    :class:`CorruptDataFileError` for a missing or undecodable file and
    :class:`~course_utils.config.SystemLibraryError` when libsndfile is missing.
    """
    import numpy as np

    sf = _soundfile()
    rel = _relpath(item, "audio")
    path = _resolve(rel, root, verify)
    try:
        wave, sr = sf.read(path, dtype="float32", always_2d=False)
    except Exception as exc:  # damaged file and verify=False
        raise CorruptDataFileError(f"datasets/sentiment/{rel} cannot be decoded.", expected="an Ogg/Vorbis audio file",
                                   found=f"{type(exc).__name__}: {exc}", fix=RESTORE_HINT) from exc
    if sr != SAMPLE_RATE:
        raise CorruptDataFileError(f"datasets/sentiment/{rel} has sample rate {sr}, expected {SAMPLE_RATE}. {RESTORE_HINT}")
    return np.ascontiguousarray(wave, dtype=np.float32)


def load_image(item: str | dict[str, Any], *, root: str | os.PathLike[str] | None = None,
               verify: bool = True) -> "np.ndarray":
    """One utterance's face: uint8 array of shape (64, 64, 3) (lesson 04)."""
    import numpy as np
    from PIL import Image

    rel = _relpath(item, "image")
    path = _resolve(rel, root, verify)
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise CorruptDataFileError(f"datasets/sentiment/{rel} cannot be decoded.", expected="a PNG image",
                                   found=f"{type(exc).__name__}: {exc}", fix=RESTORE_HINT) from exc


def _map(fn: Any, items: Sequence[Any], workers: int | None) -> list[Any]:
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if workers <= 1 or len(items) < 32:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def load_images(records: Iterable[dict[str, Any]], *, root: str | os.PathLike[str] | None = None,
                verify: bool = True, workers: int | None = None) -> "np.ndarray":
    """Faces of ``records`` stacked as uint8 ``(N, 64, 64, 3)`` (lesson 04)."""
    import numpy as np

    recs = list(records)
    images = _map(lambda r: load_image(r, root=root, verify=verify), recs, workers)
    if not images:
        return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    return np.stack(images)


def load_audios(records: Iterable[dict[str, Any]], *, root: str | os.PathLike[str] | None = None,
                verify: bool = True, workers: int | None = None) -> list["np.ndarray"]:
    """Waveforms of ``records`` (a list: lengths differ), decoded in parallel threads (lesson 04)."""
    recs = list(records)
    return _map(lambda r: load_audio(r, root=root, verify=verify), recs, workers)


def load_arrays(split: str | None = None, *, modalities: Sequence[str] = ("text", "audio", "image"),
                root: str | os.PathLike[str] | None = None, verify: bool = True) -> dict[str, Any]:
    """One split as NumPy arrays (lesson 04).

    Keys: ``id`` (str array), ``speaker``, ``text`` (list of str), ``audio``
    (list of float32 arrays, when asked), ``image`` (uint8 ``(N,64,64,3)``, when
    asked), ``score`` (float32), ``label`` (binary int64), ``label_7`` (int64,
    -3..3) and the flag columns as bool arrays.
    """
    import numpy as np

    bad = set(modalities) - {"text", "audio", "image"}
    if bad:
        raise ValueError(f"unknown modalities {sorted(bad)}; use text, audio and/or image.")
    recs = load_records(split, root=root, verify=verify)
    out: dict[str, Any] = {
        "id": np.array([r["id"] for r in recs]),
        "speaker": np.array([r["speaker"] for r in recs]),
        "score": np.array([r["score"] for r in recs], dtype=np.float32),
        "label": np.array([r["label_binary"] for r in recs], dtype=np.int64),
        "label_7": np.array([r["label_7"] for r in recs], dtype=np.int64),
    }
    for flag in FLAGS:
        out[flag] = np.array([bool(r[flag]) for r in recs])
    if "text" in modalities:
        out["text"] = [r["text"] for r in recs]
    if "audio" in modalities:
        out["audio"] = load_audios(recs, root=root, verify=verify)
    if "image" in modalities:
        out["image"] = load_images(recs, root=root, verify=verify)
    return out

