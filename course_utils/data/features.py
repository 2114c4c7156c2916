"""Caching of features of the bundled data set (lesson 03; extractors: lessons 04-06).

The extractors live in :mod:`course_utils.features`; this module only stores
what they compute.

* :func:`cached`: compute a dict of arrays once, then load it. The cache file's
  name is keyed by the extractor's name, its parameters, its ``version`` (each
  ``course_utils.features`` module has a ``VERSION``), the data set's content
  hash (the manifest's sha256) and :data:`FEATURE_VERSION` (the cache format), so
  a changed data set, extractor or recipe never serves stale numbers.
* :func:`audio_features`, :func:`image_features`: one row per utterance (MFCC
  statistics, raw pixels), the baselines of the data set's datasheet.
"""
from __future__ import annotations

import io

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .integrity import manifest_digest

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Bump when the cache format changes: old cache files are then ignored. Extractors carry
#: their own version (``course_utils.features.<modality>.VERSION``), passed to :func:`cached`.
FEATURE_VERSION = 2


# --------------------------------------------------------------------------- caching
def _key(name: str, params: dict[str, Any], root: str | os.PathLike[str] | None, version: Any = None) -> str:
    blob = json.dumps({"name": name, "params": params, "data": manifest_digest(root),
                       "version": FEATURE_VERSION, "extractor_version": version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(name: str, params: dict[str, Any], root: str | os.PathLike[str] | None = None,
               version: Any = None) -> Path:
    """Where :func:`cached` keeps ``name`` computed with ``params`` by extractor ``version`` (lesson 03)."""
    from ..paths import cache_dir

    return cache_dir() / "sentiment" / f"{name}-{_key(name, params, root, version)}.npz"


def cached(name: str, params: dict[str, Any], compute: Callable[[], dict[str, "np.ndarray"]],
           root: str | os.PathLike[str] | None = None, *, use_cache: bool = True,
           version: Any = None) -> dict[str, "np.ndarray"]:
    """Return ``compute()`` (a dict of arrays), stored once per data-set hash, params and ``version`` (lesson 03).

    ``version`` is the extractor's version (e.g. ``course_utils.features.text.VERSION``):
    bump it when the extractor's output changes and the old cache file is ignored.

    The cache file is an ``.npz`` (no pickle) under ``cache_dir()/sentiment``.
    ``use_cache=False`` recomputes and does not write. A cache file that cannot
    be read (truncated, damaged) is rebuilt; one that cannot be written raises
    :class:`~course_utils.config.CacheError` naming ``COURSE_CACHE``.
    """
    import numpy as np

    if not use_cache:
        return compute()
    path = cache_path(name, params, root, version)
    if path.is_file():
        try:
            # From memory: np.load leaves its file open when a damaged archive makes it raise.
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # truncated, damaged or unreadable: rebuild it below
            pass
    result = compute()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.savez(fh, **result)
        os.replace(tmp, path)
    except OSError as exc:
        from ..config import CacheError

        try:
            tmp.unlink()
        except OSError:
            pass
        raise CacheError(
            f"The feature cache file {path} cannot be written.",
            expected="a writable cache folder (COURSE_CACHE, else datasets/.cache, else ~/.cache/multimodal-course)",
            found=f"{type(exc).__name__}: {exc}",
            fix="`export COURSE_CACHE=/a/folder/you/own` (or free disk space), then restart the kernel; "
                "or pass use_cache=False to compute without caching.",
        ) from exc
    return result


def _subset(result: dict[str, "np.ndarray"], split: str | None) -> tuple["np.ndarray", "np.ndarray"]:
    if split is None:
        return result["id"], result["X"]
    mask = result["split"] == split
    return result["id"][mask], result["X"][mask]


def audio_features(split: str | None = None, *, n_mfcc: int = 20, root: str | os.PathLike[str] | None = None,
                   use_cache: bool = True) -> tuple["np.ndarray", "np.ndarray"]:
    """``(ids, X)``: :func:`course_utils.features.audio.mfcc_stats` of each utterance (``4 * n_mfcc`` columns) (lesson 03).

    Computed for the whole data set once, then read from the cache.
    """
    import numpy as np

    from ..features import audio
    from .loaders import load_audios, load_records

    def compute() -> dict[str, np.ndarray]:
        recs = load_records(root=root)
        waves = load_audios(recs, root=root)
        X = np.stack([audio.mfcc_stats(w, n_mfcc=n_mfcc) for w in waves])
        return {"id": np.array([r["id"] for r in recs]), "split": np.array([r["split"] for r in recs]), "X": X}

    return _subset(cached("mfcc_stats", {"n_mfcc": n_mfcc}, compute, root, use_cache=use_cache,
                          version=audio.VERSION), split)


def image_features(split: str | None = None, *, size: int = 32, gray: bool = True,
                   root: str | os.PathLike[str] | None = None,
                   use_cache: bool = True) -> tuple["np.ndarray", "np.ndarray"]:
    """``(ids, X)`` with raw pixels in [0, 1], resized to ``size`` (box filter), gray or RGB (lesson 03)."""
    import numpy as np
    from PIL import Image

    from .loaders import load_images, load_records

    def compute() -> dict[str, np.ndarray]:
        recs = load_records(root=root)
        images = load_images(recs, root=root)
        rows = []
        for img in images:
            im = Image.fromarray(img)
            if gray:
                im = im.convert("L")
            if size != img.shape[0]:
                im = im.resize((size, size), Image.BOX)
            rows.append(np.asarray(im, dtype=np.float32).reshape(-1) / 255.0)
        return {"id": np.array([r["id"] for r in recs]), "split": np.array([r["split"] for r in recs]),
                "X": np.stack(rows)}

    return _subset(cached("pixels", {"size": size, "gray": gray}, compute, root, use_cache=use_cache), split)


__all__ = ["FEATURE_VERSION", "cached", "cache_path", "audio_features", "image_features"]
