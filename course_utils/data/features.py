"""Cached baseline features of the bundled data set (lesson 04).

* :func:`mfcc` / :func:`mfcc_stats`: MFCCs in plain NumPy (the same recipe as
  ``librosa.feature.mfcc`` with its defaults for the mel filters, dB scale and
  DCT), so no numba compilation is needed; a test compares the two.
* :func:`audio_features`, :func:`image_features`: one row per utterance, computed
  once and cached under :func:`course_utils.paths.cache_dir` in a file whose name
  is keyed by the data set's content hash (the manifest's sha256), the parameters
  and :data:`FEATURE_VERSION`, so lessons never recompute them and a changed data
  set or recipe never reuses stale numbers.
* :func:`cached`: the same caching for any feature function of your own.
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

#: Bump when a feature recipe changes: old cache files are then ignored.
FEATURE_VERSION = 2


def _hz_to_mel(f: "np.ndarray") -> "np.ndarray":
    import numpy as np

    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: "np.ndarray") -> "np.ndarray":
    import numpy as np

    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int = 16_000, n_fft: int = 512, n_mels: int = 40,
                   fmin: float = 0.0, fmax: float | None = None) -> "np.ndarray":
    """Slaney-style mel filters ``(n_mels, n_fft // 2 + 1)``, as ``librosa.filters.mel`` (lesson 04)."""
    import numpy as np

    fmax = sr / 2 if fmax is None else fmax
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def mfcc(y: "np.ndarray", sr: int = 16_000, n_mfcc: int = 20, n_fft: int = 512,
         hop_length: int = 160, n_mels: int = 40) -> "np.ndarray":
    """MFCCs ``(n_mfcc, frames)`` of a mono waveform, in NumPy (lesson 04).

    Centered Hann-windowed frames (zero padding), power spectrum, Slaney mel
    filters, ``10*log10`` with an 80 dB floor below the peak, orthonormal DCT-II:
    the recipe of ``librosa.feature.mfcc``.
    """
    import numpy as np
    from scipy.fft import dct

    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    if y.size <= pad:
        y = np.pad(y, (0, pad + 1 - y.size))
    yp = np.pad(y, pad, mode="constant")
    n_frames = 1 + (yp.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop_length, yp.strides[0]), writeable=False)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = power @ mel_filterbank(sr, n_fft, n_mels).T  # (frames, n_mels)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return dct(db, type=2, axis=1, norm="ortho")[:, :n_mfcc].T.astype(np.float32)


def mfcc_stats(y: "np.ndarray", sr: int = 16_000, n_mfcc: int = 20) -> "np.ndarray":
    """Utterance vector: mean and std of MFCCs and of their deltas (``4 * n_mfcc``) (lesson 04)."""
    import numpy as np

    m = mfcc(y, sr=sr, n_mfcc=n_mfcc)
    d = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros_like(m)
    return np.concatenate([m.mean(1), m.std(1), d.mean(1), d.std(1)]).astype(np.float32)


# --------------------------------------------------------------------------- caching
def _key(name: str, params: dict[str, Any], root: str | os.PathLike[str] | None) -> str:
    blob = json.dumps({"name": name, "params": params, "data": manifest_digest(root),
                       "version": FEATURE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(name: str, params: dict[str, Any], root: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`cached` keeps ``name`` computed with ``params`` (lesson 04)."""
    from ..paths import cache_dir

    return cache_dir() / "sentiment" / f"{name}-{_key(name, params, root)}.npz"


def cached(name: str, params: dict[str, Any], compute: Callable[[], dict[str, "np.ndarray"]],
           root: str | os.PathLike[str] | None = None, *, use_cache: bool = True) -> dict[str, "np.ndarray"]:
    """Return ``compute()`` (a dict of arrays), stored once per data-set hash and params (lesson 04).

    The cache file is an ``.npz`` (no pickle) under ``cache_dir()/sentiment``.
    ``use_cache=False`` recomputes and does not write. A cache file that cannot
    be read (truncated, damaged) is rebuilt; one that cannot be written raises
    :class:`~course_utils.config.CacheError` naming ``COURSE_CACHE``.
    """
    import numpy as np

    if not use_cache:
        return compute()
    path = cache_path(name, params, root)
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
    """``(ids, X)`` with ``X`` = :func:`mfcc_stats` of each utterance (``4 * n_mfcc`` columns) (lesson 04).

    Computed for the whole data set once, then read from the cache.
    """
    import numpy as np

    from .loaders import load_audios, load_records

    def compute() -> dict[str, np.ndarray]:
        recs = load_records(root=root)
        waves = load_audios(recs, root=root)
        X = np.stack([mfcc_stats(w, n_mfcc=n_mfcc) for w in waves])
        return {"id": np.array([r["id"] for r in recs]), "split": np.array([r["split"] for r in recs]), "X": X}

    return _subset(cached("mfcc_stats", {"n_mfcc": n_mfcc}, compute, root, use_cache=use_cache), split)


def image_features(split: str | None = None, *, size: int = 32, gray: bool = True,
                   root: str | os.PathLike[str] | None = None,
                   use_cache: bool = True) -> tuple["np.ndarray", "np.ndarray"]:
    """``(ids, X)`` with raw pixels in [0, 1], resized to ``size`` (box filter), gray or RGB (lesson 04)."""
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


__all__ = ["FEATURE_VERSION", "mel_filterbank", "mfcc", "mfcc_stats", "cached", "cache_path",
           "audio_features", "image_features"]
