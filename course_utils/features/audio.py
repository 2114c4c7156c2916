"""Audio features: STFT, mel scale, log-mel, MFCCs, deltas, prosody, eGeMAPS (lesson 06).

Plain NumPy/SciPy implementations of the recipes ``librosa`` uses, so learners
can read every step and no numba compilation is needed; the tests compare them
with librosa (:func:`stft` to 1e-5, :func:`mel_filterbank` to 1e-6,
:func:`mfcc` to 1e-4, :func:`deltas` to 1e-5). Heavy imports stay inside the
functions. Pitch uses ``librosa.pyin`` (or ``librosa.yin``, the cheap path);
eGeMAPS uses the optional ``opensmile`` package (audEERING's research and
education licence, not for commercial use), imported only by :func:`egemaps`.

Every extractor expects a mono floating-point waveform in [-1, 1] sampled at
``sr`` Hz (default :data:`SAMPLE_RATE`) and raises :class:`AudioInputError`
(a :class:`~course_utils.config.CourseError`) for anything else: a stereo
array, integer PCM, another sample rate where 16 kHz is required, an empty or
too short clip.

Data-set helpers (:func:`dataset_rows`, :func:`dataset_sequences`,
:func:`egemaps_features`, :func:`prosody_features`, :func:`noisy_features`)
compute one row (or one frame sequence) per utterance once and then read them
from the course cache (:func:`course_utils.data.cached`, keyed by
:data:`VERSION`).
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..config import CourseError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Bump when an extractor's output changes: cached features keyed by it are then recomputed.
#: 2: the STFT is computed in float64 and rounded to complex64, exactly as librosa does.
VERSION = 2
#: The bundled data set's sample rate (Hz).
SAMPLE_RATE = 16_000
#: Names of the :func:`prosody` vector's entries.
PROSODY_NAMES: tuple[str, ...] = (
    "f0_mean_st", "f0_std_st", "f0_range_st", "voiced_fraction", "energy_mean_db", "energy_std_db",
    "pause_fraction", "pauses_per_s", "voiced_onsets_per_s")
#: Licence of the optional ``opensmile`` package used by :func:`egemaps`.
OPENSMILE_LICENCE = ("opensmile (audEERING GmbH) is free for private, research and educational use only; "
                     "commercial use needs a licence from audEERING. The course's own code does not depend on it.")


class AudioInputError(CourseError, ValueError):
    """A waveform is not what an audio extractor expects (lesson 06)."""


# ----------------------------------------------------------------------------- validation
def check_waveform(y: Any, sr: int | None = SAMPLE_RATE, *, expected_sr: int | None = SAMPLE_RATE,
                   min_samples: int = 1, name: str = "y") -> "np.ndarray":
    """``y`` as a 1-D ``float32`` array after checking it is a mono clip in [-1, 1] (lesson 06).

    ``sr`` is the clip's sample rate; when ``expected_sr`` is set they must agree
    (the 16 kHz extractors' filters and frame sizes assume it). Raises
    :class:`AudioInputError` naming what was expected and how to fix it for:
    a 2-D (stereo) array, integer PCM samples, values outside [-1, 1], NaN/inf,
    fewer than ``min_samples`` samples, another sample rate.
    """
    import numpy as np

    if hasattr(y, "detach"):  # a torch tensor
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AudioInputError(f"{name} is not a numeric waveform.", expected="a 1-D float array of samples",
                              found=f"{type(y).__name__} of dtype {arr.dtype}",
                              fix="load the clip with course_utils.data.load_audio(id) or soundfile.read(path)")
    if arr.ndim != 1:
        channels = "" if arr.ndim != 2 else (
            f" (it looks like {min(arr.shape)} channels: stereo or multi-channel audio)")
        raise AudioInputError(
            f"{name} has shape {arr.shape}: the extractors take one mono channel{channels}.",
            expected="a 1-D array (samples,)", found=f"a {arr.ndim}-D array of shape {arr.shape}",
            fix="mix down to mono first, e.g. y.mean(axis=1) for soundfile's (samples, channels) layout, "
                "y.mean(axis=0) for librosa's (channels, samples), or librosa.to_mono(y)")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        bits = 8 * arr.dtype.itemsize
        raise AudioInputError(
            f"{name} holds integer samples ({arr.dtype}): the extractors expect floats in [-1, 1].",
            expected="a float32/float64 waveform in [-1, 1]", found=f"dtype {arr.dtype}",
            fix=f"divide by 2**{bits - 1} (y.astype(np.float32) / {2 ** (bits - 1)}), or read the file with "
                "soundfile.read(path, dtype='float32')")
    if arr.size < max(min_samples, 1):
        raise AudioInputError(
            f"{name} is {'empty' if arr.size == 0 else 'too short'} ({arr.size} samples).",
            expected=f"at least {max(min_samples, 1)} samples"
                     + (f" ({max(min_samples, 1) / sr * 1000:.0f} ms at {sr} Hz)" if sr else ""),
            found=f"{arr.size} samples", fix="check the file (a failed load or a wrong crop), or pad the clip "
                                             "with zeros: np.pad(y, (0, n))")
    if not np.isfinite(arr).all():
        raise AudioInputError(f"{name} contains NaN or inf.", expected="finite samples in [-1, 1]",
                              found=f"{int((~np.isfinite(arr)).sum())} non-finite samples",
                              fix="find where they come from (a division by zero during normalization?)")
    peak = float(np.abs(arr).max())
    if peak > 1.0 + 1e-6:
        hint = " (it looks like 16-bit PCM stored as floats)" if peak > 2.0 else ""
        raise AudioInputError(
            f"{name} has samples outside [-1, 1] (peak {peak:.4g}){hint}.",
            expected="a float waveform in [-1, 1]", found=f"peak absolute value {peak:.4g}",
            fix="divide by 32768 if these are 16-bit integer values, else scale by 1 / peak (y / np.abs(y).max())")
    if expected_sr is not None:
        if sr is None or int(sr) != int(expected_sr):
            raise AudioInputError(
                f"{name} is sampled at {sr} Hz; this extractor works at {expected_sr} Hz.",
                expected=f"sr = {expected_sr}", found=f"sr = {sr}",
                fix=f"resample first: librosa.resample(y, orig_sr={sr}, target_sr={expected_sr})")
    return arr.astype(np.float32, copy=False)


def _to_numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise AudioInputError(f"{name} must be a positive integer.", expected="an int > 0",
                              found=f"{type(value).__name__} {value!r}", fix=f"pass {name} as a whole number, e.g. 512")
    v = int(value)
    if v <= 0:
        raise AudioInputError(f"{name} must be a positive integer.", expected="an int > 0", found=repr(value))
    return v


def _float_array(x: Any, name: str, *, nonneg: bool = False, allow_empty: bool = True) -> "np.ndarray":
    """``x`` as a float64 array, or :class:`AudioInputError` for text, objects, complex values, NaN/inf, an empty
    array (``allow_empty=False``) or negative entries (``nonneg=True``)."""
    import numpy as np

    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise AudioInputError(f"{name} is complex.", expected="real numbers", found=f"dtype {arr.dtype}",
                              fix="an STFT is complex: take the power np.abs(S) ** 2 (or the magnitude np.abs(S)) first")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AudioInputError(f"{name} is not numeric.", expected="a float array",
                              found=f"{type(x).__name__} of dtype {arr.dtype}", fix="pass a NumPy array of numbers")
    arr = arr.astype(np.float64)
    if not allow_empty and arr.size == 0:
        raise AudioInputError(f"{name} is empty.", expected="at least one value", found=f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise AudioInputError(f"{name} contains NaN or inf.", expected="finite values",
                              found=f"{int((~np.isfinite(arr)).sum())} non-finite values",
                              fix="find where they come from (a log of 0? a division by zero?)")
    if nonneg and arr.size and arr.min() < 0:
        raise AudioInputError(f"{name} has negative values.", expected="values >= 0",
                              found=f"minimum {arr.min():.4g}",
                              fix="frequencies and powers are never negative: did you pass dB values or a raw signal?")
    return arr


# ----------------------------------------------------------------------------- mel scale
def hz_to_mel(f: Any, htk: bool = False) -> "np.ndarray":
    """Frequencies in Hz -> mels (lesson 06), as ``librosa.hz_to_mel``.

    ``htk=True``: ``2595 log10(1 + f / 700)``. ``htk=False`` (Slaney): linear
    below 1 kHz (``3 f / 200``), logarithmic above (27 mels per factor 6.4).
    """
    import numpy as np

    f = _float_array(f, "f (frequencies in Hz)", nonneg=True)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m: Any, htk: bool = False) -> "np.ndarray":
    """Mels -> Hz (lesson 06), the inverse of :func:`hz_to_mel`."""
    import numpy as np

    m = _float_array(m, "m (mels)", nonneg=True)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


# kept for older imports
_hz_to_mel = hz_to_mel
_mel_to_hz = mel_to_hz


def mel_filterbank(sr: int = 16_000, n_fft: int = 512, n_mels: int = 40, fmin: float = 0.0,
                   fmax: float | None = None, *, htk: bool = False, norm: str | None = "slaney") -> "np.ndarray":
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` float32, as ``librosa.filters.mel`` (lesson 06).

    ``n_mels + 2`` points equally spaced on the mel scale (Slaney or ``htk``)
    between ``fmin`` and ``fmax`` (Hz, default ``sr / 2``) are the feet and peaks
    of the triangles; each FFT bin's weight is the triangle's height at its
    frequency. ``norm="slaney"`` divides each filter by half its width in Hz
    (equal area: wide high filters do not dominate); ``None`` keeps peaks at 1.
    """
    import numpy as np

    sr = _check_positive_int(sr, "sr")
    n_fft = _check_positive_int(n_fft, "n_fft")
    n_mels = _check_positive_int(n_mels, "n_mels")
    fmax = sr / 2 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= sr / 2 + 1e-9:
        raise AudioInputError("mel_filterbank needs 0 <= fmin < fmax <= sr / 2.",
                              found=f"fmin={fmin}, fmax={fmax}, sr={sr}")
    if norm not in ("slaney", None):
        raise AudioInputError("mel_filterbank's norm must be 'slaney' or None.", found=repr(norm))
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


# ----------------------------------------------------------------------------- framing and STFT
def hann_window(n: int, periodic: bool = True) -> "np.ndarray":
    """The Hann window ``0.5 - 0.5 cos(2 pi k / N)``, float64 ``(n,)`` (lesson 06).

    ``periodic=True`` uses ``N = n`` (the FFT convention, ``scipy.signal.get_window('hann', n)``);
    ``False`` uses ``N = n - 1`` (symmetric, ``np.hanning``).
    """
    import numpy as np

    n = _check_positive_int(n, "n")
    if n == 1:
        return np.ones(1)
    denom = n if periodic else n - 1
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / denom)


def frame_signal(y: Any, frame_length: int = 512, hop_length: int = 160, *, center: bool = True) -> "np.ndarray":
    """Overlapping frames ``(n_frames, frame_length)`` of a 1-D signal (lesson 06).

    With ``center=True`` the signal is padded with ``frame_length // 2`` zeros on
    both sides, so frame ``t`` is centred on sample ``t * hop_length`` and
    ``n_frames = 1 + len(y) // hop_length``. A read-only strided view: copy before writing.
    """
    import numpy as np

    frame_length = _check_positive_int(frame_length, "frame_length")
    hop_length = _check_positive_int(hop_length, "hop_length")
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioInputError("frame_signal takes a 1-D signal.", found=f"shape {y.shape}",
                              fix="mix stereo down to mono first (y.mean(axis=1))")
    if center:
        y = np.pad(y, frame_length // 2, mode="constant")
    if y.size < frame_length:
        raise AudioInputError("The signal is shorter than one frame.", expected=f">= {frame_length} samples",
                              found=f"{y.size} samples", fix="use center=True or a shorter frame")
    n_frames = 1 + (y.size - frame_length) // hop_length
    return np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, frame_length), strides=(y.strides[0] * hop_length, y.strides[0]), writeable=False)


def stft(y: Any, n_fft: int = 512, hop_length: int = 160, *, sr: int | None = None,
         center: bool = True) -> "np.ndarray":
    """Short-time Fourier transform ``(n_fft // 2 + 1, n_frames)`` complex64 (lesson 06).

    Frames of ``n_fft`` samples every ``hop_length`` (centred, zero padding),
    times a periodic Hann window, then the real FFT of each frame: bin ``k`` is
    frequency ``k * sr / n_fft`` Hz. Computed in float64 and rounded to
    complex64, the recipe of ``librosa.stft(y, n_fft=n_fft, hop_length=hop_length)``
    (window ``'hann'``, ``center=True``, ``pad_mode='constant'``). ``sr`` is only
    checked when given (the STFT itself does not depend on it).
    """
    import numpy as np

    y = check_waveform(y, sr, expected_sr=None, min_samples=1)
    n_fft = _check_positive_int(n_fft, "n_fft")
    if not center and y.size < n_fft:
        raise AudioInputError("The clip is shorter than one STFT frame.", expected=f">= n_fft = {n_fft} samples",
                              found=f"{y.size} samples", fix="use center=True (the default) or pad the clip")
    frames = frame_signal(y, n_fft, hop_length, center=center)            # (T, n_fft) float32
    spec = np.fft.rfft(hann_window(n_fft) * frames, axis=1)              # float64 product, complex128
    return spec.T.astype(np.complex64)


def power_to_db(S: Any, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> "np.ndarray":
    """``10 log10(max(S, amin) / ref)``, floored ``top_db`` below the peak (lesson 06), as ``librosa.power_to_db``."""
    import numpy as np

    S0 = np.asarray(_to_numpy(S))
    S = _float_array(S0, "S (a power spectrogram)", nonneg=True, allow_empty=False)
    if np.issubdtype(S0.dtype, np.floating):
        S = S0            # keep float32 input in float32, as librosa does (the MFCC parity depends on it)
    if not (np.isscalar(ref) and float(ref) > 0):
        raise AudioInputError("power_to_db's ref must be a positive number.", found=repr(ref),
                              fix="ref=1.0 (absolute dB) or ref=S.max() (dB below the peak)")
    if top_db is not None and not float(top_db) >= 0:
        raise AudioInputError("power_to_db's top_db must be >= 0 or None.", found=repr(top_db), fix="top_db=80.0")
    db = 10.0 * np.log10(np.maximum(amin, S)) - 10.0 * np.log10(np.maximum(amin, ref))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


def melspectrogram(y: Any, sr: int = SAMPLE_RATE, n_fft: int = 512, hop_length: int = 160, n_mels: int = 40, *,
                   htk: bool = False, norm: str | None = "slaney") -> "np.ndarray":
    """Mel power spectrogram ``(n_mels, n_frames)`` float32 (lesson 06): mel filters times ``|STFT|^2``."""
    import numpy as np

    y = check_waveform(y, sr, expected_sr=None)
    S = np.abs(stft(y, n_fft, hop_length)) ** 2
    return (mel_filterbank(sr, n_fft, n_mels, htk=htk, norm=norm) @ S).astype(np.float32)


def log_mel(y: Any, sr: int = SAMPLE_RATE, n_fft: int = 512, hop_length: int = 160, n_mels: int = 40, *,
            top_db: float | None = 80.0) -> "np.ndarray":
    """Log-mel spectrogram in dB ``(n_mels, n_frames)`` float32 (lesson 06).

    ``10 log10`` of :func:`melspectrogram` with a ``1e-10`` floor, clipped
    ``top_db`` below the clip's peak (``librosa.power_to_db(..., top_db=80)``).
    """
    import numpy as np

    return power_to_db(melspectrogram(y, sr, n_fft, hop_length, n_mels), top_db=top_db).astype(np.float32)


def dct_matrix(n_out: int, n_in: int) -> "np.ndarray":
    """Orthonormal DCT-II matrix ``(n_out, n_in)`` (lesson 06): ``D @ x == scipy.fft.dct(x, norm='ortho')[:n_out]``."""
    import numpy as np

    n_out, n_in = _check_positive_int(n_out, "n_out"), _check_positive_int(n_in, "n_in")
    if n_out > n_in:
        raise AudioInputError("dct_matrix keeps at most n_in coefficients.", expected="n_out <= n_in",
                              found=f"n_out={n_out}, n_in={n_in}", fix="ask for fewer coefficients (n_mfcc <= n_mels)")
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    D = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    D[0] /= np.sqrt(2.0)
    return D


def mfcc(y: Any, sr: int = 16_000, n_mfcc: int = 20, n_fft: int = 512,
         hop_length: int = 160, n_mels: int = 40) -> "np.ndarray":
    """MFCCs ``(n_mfcc, n_frames)`` float32 of a mono waveform (lesson 06).

    :func:`log_mel` (centred Hann frames, power spectrum, Slaney mel filters,
    ``10 log10`` with an 80 dB floor below the peak), then the orthonormal
    DCT-II along the mel axis, first ``n_mfcc`` coefficients: the recipe of
    ``librosa.feature.mfcc`` (equal to 1e-4). ``sr`` must be 16 kHz for the
    default frame sizes to mean 32 ms windows every 10 ms; other rates are accepted
    when passed explicitly (the filters follow ``sr``).
    """
    import numpy as np
    from scipy.fft import dct

    y = check_waveform(y, sr, expected_sr=None)
    n_mfcc, n_mels = _check_positive_int(n_mfcc, "n_mfcc"), _check_positive_int(n_mels, "n_mels")
    if n_mfcc > n_mels:
        raise AudioInputError("n_mfcc cannot exceed n_mels.", found=f"n_mfcc={n_mfcc}, n_mels={n_mels}")
    db = log_mel(y, sr, n_fft, hop_length, n_mels)                 # (n_mels, T) float32
    return dct(db, type=2, axis=0, norm="ortho")[:n_mfcc].astype(np.float32)


def mfcc_stats(y: Any, sr: int = 16_000, n_mfcc: int = 20) -> "np.ndarray":
    """Utterance vector ``(4 * n_mfcc,)``: mean and std of MFCCs and of their frame-to-frame differences (lesson 06).

    The data set's baseline (``course_utils.data.audio_features``). Expects a
    16 kHz clip (``sr`` other than 16 000 raises :class:`AudioInputError`).
    """
    import numpy as np

    y = check_waveform(y, sr, expected_sr=SAMPLE_RATE)
    m = mfcc(y, sr=sr, n_mfcc=n_mfcc)
    d = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros_like(m)
    return np.concatenate([m.mean(1), m.std(1), d.mean(1), d.std(1)]).astype(np.float32)


def _savgol_coeffs(width: int, order: int) -> tuple["np.ndarray", "np.ndarray"]:
    """Least-squares polynomial fit of degree ``order`` over ``width`` points: the ``order``-th derivative
    as weights, (centre weights (width,), edge weights (width, width) for positions 0..width-1)."""
    import math

    import numpy as np

    half = width // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    V = np.vander(x, order + 1, increasing=True)              # (width, order + 1): 1, x, x^2, ...
    P = np.linalg.pinv(V)                                     # coefficients = P @ window
    centre = math.factorial(order) * P[order]                 # d^order/dx^order at x = 0
    # edges: fit on the first `width` samples (positions 0..width-1) and evaluate the derivative there
    xe = np.arange(width, dtype=np.float64)
    Pe = np.linalg.pinv(np.vander(xe, order + 1, increasing=True))
    deriv_rows = []
    for pos in xe:
        row = np.zeros(order + 1)
        for p in range(order, order + 1):       # only the top power survives: degree == order
            row[p] = math.factorial(p) / math.factorial(p - order) * pos ** (p - order)
        deriv_rows.append(row @ Pe)
    return centre, np.array(deriv_rows)


def deltas(X: Any, width: int = 9, order: int = 1, axis: int = -1) -> "np.ndarray":
    """Delta features: the local slope (``order=1``) or curvature (``order=2``) of ``X`` over time (lesson 06).

    Interior frames: ``d_t = sum_{n=1}^{N} n (x_{t+n} - x_{t-n}) / (2 sum_{n=1}^{N} n^2)``
    with ``N = width // 2`` for ``order=1`` (the least-squares slope over
    ``width`` frames; ``order=2`` fits a parabola). The first and last ``N``
    frames use the fit over the first/last ``width`` frames. Equals
    ``librosa.feature.delta(X, width=width, order=order, axis=axis)``. ``X`` is
    ``(..., n_frames)`` along ``axis``; needs ``n_frames >= width``.
    """
    import numpy as np

    X0 = np.asarray(_to_numpy(X))
    X = _float_array(X0, "X (features over time)")
    if np.issubdtype(X0.dtype, np.floating):
        X = X.astype(X0.dtype)
    if not isinstance(axis, (int,)) or isinstance(axis, bool) or not -max(X.ndim, 1) <= axis < max(X.ndim, 1):
        raise AudioInputError("deltas' axis is not an axis of X.", expected=f"an int in [-{X.ndim}, {X.ndim - 1}]",
                              found=f"axis={axis!r} for X of shape {X.shape}", fix="time is usually the last axis: axis=-1")
    if isinstance(width, bool) or int(width) != width or width < 3 or width % 2 != 1:
        raise AudioInputError("deltas needs an odd width >= 3.", found=f"width={width!r}")
    if order not in (1, 2):
        raise AudioInputError("deltas supports order 1 (delta) and 2 (delta-delta).", found=f"order={order!r}")
    if X.ndim == 0 or X.shape[axis] < width:
        raise AudioInputError("deltas needs at least `width` frames along the time axis.",
                              expected=f">= {width} frames on axis {axis}",
                              found=f"shape {X.shape}", fix="use a smaller width (an odd number >= 3)")
    width = int(width)
    half = width // 2
    centre, edge = _savgol_coeffs(width, order)
    Xm = np.moveaxis(X, axis, -1).astype(np.float64)
    T = Xm.shape[-1]
    out = np.empty_like(Xm)
    windows = np.lib.stride_tricks.sliding_window_view(Xm, width, axis=-1)   # (..., T - width + 1, width)
    out[..., half:T - half] = windows @ centre
    out[..., :half] = Xm[..., :width] @ edge[:half].T
    out[..., T - half:] = Xm[..., T - width:] @ edge[width - half:].T
    return np.moveaxis(out, -1, axis).astype(X.dtype)


# ----------------------------------------------------------------------------- prosody
def rms_energy(y: Any, frame_length: int = 512, hop_length: int = 160) -> "np.ndarray":
    """Root-mean-square energy per centred frame ``(n_frames,)`` (lesson 06), as ``librosa.feature.rms``."""
    import numpy as np

    y = check_waveform(y, None, expected_sr=None)
    frames = frame_signal(y, frame_length, hop_length, center=True).astype(np.float64)
    return np.sqrt(np.mean(frames ** 2, axis=1))


def pitch_autocorr(y: Any, sr: int = SAMPLE_RATE, *, frame_length: int = 1024, hop_length: int = 160,
                   fmin: float = 60.0, fmax: float = 400.0) -> "np.ndarray":
    """Naive autocorrelation pitch ``(n_frames,)`` in Hz, one value per frame, never "unvoiced" (lesson 06).

    For each Hann-windowed frame, the lag ``tau`` in ``[sr / fmax, sr / fmin]``
    with the largest autocorrelation gives ``f0 = sr / tau``. Fine on a clean
    vowel, but it answers for every frame, so on noise or silence it returns
    random lags: the failure :func:`pitch` (pYIN, with a voicing decision) avoids.
    """
    import numpy as np

    y = check_waveform(y, sr, expected_sr=None, min_samples=1)
    sr = _check_positive_int(sr, "sr")
    if not 0 < fmin < fmax <= sr / 2:
        raise AudioInputError("pitch_autocorr needs 0 < fmin < fmax <= sr / 2.", expected="e.g. fmin=60, fmax=400 Hz",
                              found=f"fmin={fmin}, fmax={fmax}, sr={sr}")
    if sr / fmin > frame_length:
        raise AudioInputError("The frame is shorter than the longest period searched.",
                              expected=f"frame_length >= sr / fmin = {sr / fmin:.0f} samples",
                              found=f"frame_length={frame_length}", fix="raise fmin or frame_length")
    frames = frame_signal(y, frame_length, hop_length, center=True).astype(np.float64)
    frames = frames * hann_window(frame_length)
    spec = np.fft.rfft(frames, n=2 * frame_length, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :frame_length]
    lo, hi = int(np.floor(sr / fmax)), int(np.ceil(sr / fmin))
    tau = lo + np.argmax(ac[:, lo:hi + 1], axis=1)
    return sr / tau


def pitch(y: Any, sr: int = SAMPLE_RATE, *, fmin: float = 60.0, fmax: float = 400.0, frame_length: int = 1024,
          hop_length: int = 320, method: str = "pyin") -> tuple["np.ndarray", "np.ndarray"]:
    """Fundamental frequency ``f0`` (Hz, NaN where unvoiced) and a voiced flag, both ``(n_frames,)`` (lesson 06).

    ``method="pyin"``: ``librosa.pyin`` (probabilistic YIN: candidate periods
    from the cumulative-mean-normalized difference function, then an HMM over
    pitch and voicing; about 0.1 s per second of audio). ``method="yin"``:
    ``librosa.yin`` (no voicing decision: 20x faster) with frames counted as
    voiced where the RMS energy is within 25 dB of the clip's loudest frame, a
    cheap stand-in used in fast mode. 16 kHz clips only.
    """
    import numpy as np

    y = check_waveform(y, sr, expected_sr=SAMPLE_RATE, min_samples=frame_length // 2 + 1)
    import librosa

    if method == "pyin":
        f0, voiced, _ = librosa.pyin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
                                     hop_length=hop_length)
        voiced = np.asarray(voiced, dtype=bool)
    elif method == "yin":
        f0 = librosa.yin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length, hop_length=hop_length)
        e = rms_energy(y, frame_length, hop_length)[: f0.size]
        db = 20 * np.log10(np.maximum(e, 1e-10))
        voiced = db > db.max() - 25.0
        f0 = np.where(voiced, f0, np.nan)
    else:
        raise AudioInputError("pitch's method must be 'pyin' or 'yin'.", found=repr(method))
    return f0.astype(np.float64), voiced


def prosody(y: Any, sr: int = SAMPLE_RATE, *, method: str = "pyin", hop_length: int = 320) -> "np.ndarray":
    """Utterance prosody vector ``(9,)`` float32, entries named by :data:`PROSODY_NAMES` (lesson 06).

    Pitch in semitones re 100 Hz over voiced frames (mean, std, 5-95 % range),
    the voiced fraction, frame energy in dB (mean, std over frames within 40 dB
    of the peak), pauses (runs of >= 150 ms of low-energy frames, 30 dB below the
    peak, between the first and last loud frame: the fraction of that span and
    pauses per second) and a speaking-rate proxy: voiced-segment onsets per
    second (roughly syllable nuclei). ``method`` as in :func:`pitch`.
    """
    import numpy as np

    y = check_waveform(y, sr, expected_sr=SAMPLE_RATE, min_samples=1024)
    f0, voiced = pitch(y, sr, method=method, hop_length=hop_length)
    e = rms_energy(y, 1024, hop_length)[: f0.size]
    db = 20 * np.log10(np.maximum(e, 1e-10))
    frame_s = hop_length / sr
    f = f0[voiced & np.isfinite(f0)]
    st = 12 * np.log2(f / 100.0) if f.size else np.zeros(1)
    loud = db > db.max() - 30.0
    idx = np.flatnonzero(loud)
    span = loud[idx[0]: idx[-1] + 1] if idx.size else loud
    quiet = ~span
    # runs of quiet frames inside the speech span
    edges = np.diff(np.concatenate([[0], quiet.astype(int), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    min_run = int(np.ceil(0.15 / frame_s))
    pauses = runs[runs >= min_run]
    dur = max(span.size * frame_s, frame_s)
    onsets = int(np.sum(np.diff(np.concatenate([[0], voiced.astype(int)])) == 1))
    active = db[db > db.max() - 40.0]
    return np.array([
        st.mean(), st.std(), np.percentile(st, 95) - np.percentile(st, 5), voiced.mean(),
        active.mean(), active.std(), pauses.sum() / max(span.size, 1), pauses.size / dur, onsets / dur,
    ], dtype=np.float32)


# ----------------------------------------------------------------------------- eGeMAPS (optional opensmile)
_SMILE: Any = None  # the opensmile.Smile object, inside the worker process only
_SMILE_POOL: Any = None  # the worker process (a one-process multiprocessing pool), started on first use


def _smile_in_worker(task: str, y: Any = None, sr: int = SAMPLE_RATE) -> tuple[str, Any]:
    """Runs in the eGeMAPS worker process: ("ok", result) or ("missing", message)."""
    global _SMILE
    import numpy as np

    if _SMILE is None:
        try:
            import opensmile
        except ImportError as exc:
            return "missing", f"{type(exc).__name__}: {exc}"
        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    if task == "names":
        return "ok", list(_SMILE.feature_names)
    return "ok", np.asarray(_SMILE.process_signal(y, sr).to_numpy(), dtype=np.float32).reshape(-1)


def _smile(task: str, y: Any = None, sr: int = SAMPLE_RATE) -> Any:
    """Run ``task`` in the eGeMAPS worker process (started once, with ``spawn``).

    openSMILE's native library and TensorFlow's corrupt each other's heap when they are
    loaded in the same process (measured: ``malloc(): invalid size`` after ``import
    tensorflow``), so opensmile never enters the lesson's (or the test's) process.
    """
    global _SMILE_POOL
    import atexit
    import multiprocessing

    if _SMILE_POOL is None:
        _SMILE_POOL = multiprocessing.get_context("spawn").Pool(1)
        atexit.register(_close_smile_worker)
    status, value = _SMILE_POOL.apply(_smile_in_worker, (task, y, sr))
    if status == "missing":
        raise AudioInputError(
            "egemaps needs the optional package opensmile, which is not installed.",
            expected="import opensmile to work", found=value,
            fix="pip install opensmile (free for research and education only, see "
                "course_utils.features.audio.OPENSMILE_LICENCE), then restart the kernel")
    return value


def _close_smile_worker() -> None:
    """Stop the eGeMAPS worker (at exit; a pool left to the garbage collector prints an error then)."""
    global _SMILE_POOL
    pool, _SMILE_POOL = _SMILE_POOL, None
    if pool is not None and hasattr(pool, "terminate"):
        pool.terminate()
        pool.join()


def egemaps(y: Any, sr: int = SAMPLE_RATE) -> "np.ndarray":
    """The 88 eGeMAPS v02 functionals of one clip ``(88,)`` float32, via ``opensmile`` (lesson 06).

    The extended Geneva Minimalistic Acoustic Parameter Set (Eyben et al.,
    2016): statistics of pitch, jitter, shimmer, loudness, formants, spectral
    slope, MFCC 1-4, voiced/unvoiced segment lengths and more. Needs the
    optional package ``opensmile`` (see :data:`OPENSMILE_LICENCE`: research and
    education only); raises :class:`AudioInputError` naming the install command
    when it is missing. 16 kHz clips.

    openSMILE runs in a separate worker process (started on the first call, about
    a second): its native library and TensorFlow's corrupt each other's memory
    when both are loaded in one process, which would crash the kernel.
    """
    y = check_waveform(y, sr, expected_sr=SAMPLE_RATE, min_samples=sr // 10)
    return _smile("features", y, sr)


def egemaps_names() -> list[str]:
    """The names of the 88 eGeMAPS functionals (needs ``opensmile``) (lesson 06)."""
    return list(_smile("names"))


# ----------------------------------------------------------------------------- noise
def add_noise(y: Any, snr_db: float, rng: Any = 0, *, kind: str = "white") -> "np.ndarray":
    """``y`` plus Gaussian noise at ``snr_db`` dB below the clip's mean power, float32 (lesson 06).

    ``10 log10(P_clip / P_noise) = snr_db``; ``kind="white"`` is flat, ``"pink"``
    falls 3 dB per octave (shaped in the frequency domain). If the sum leaves
    [-1, 1], both are scaled down together (the SNR is unchanged). ``rng``: a
    seed or a ``numpy.random.Generator``.
    """
    import numpy as np

    y = check_waveform(y, None, expected_sr=None).astype(np.float64)
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.number)) or not np.isfinite(snr_db):
        raise AudioInputError("add_noise's snr_db must be a finite number of decibels.", expected="e.g. 5.0",
                              found=repr(snr_db))
    rng = np.random.default_rng(rng)
    n = rng.standard_normal(y.size)
    if kind == "pink":
        spec = np.fft.rfft(n)
        f = np.arange(spec.size)
        spec[1:] /= np.sqrt(f[1:])
        n = np.fft.irfft(spec, n=y.size)
    elif kind != "white":
        raise AudioInputError("add_noise's kind must be 'white' or 'pink'.", found=repr(kind))
    p_y = float(np.mean(y ** 2))
    if p_y == 0.0:
        raise AudioInputError("The clip is silent: an SNR relative to its power is undefined.",
                              found="mean power 0", fix="pick a clip with signal")
    n *= np.sqrt(p_y / 10.0 ** (snr_db / 10.0) / np.mean(n ** 2))
    out = y + n
    peak = np.abs(out).max()
    if peak > 1.0:
        out /= peak
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- data-set helpers (cached)
def _records(records: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    if records is None:
        from ..data import load_records

        return list(load_records())
    recs = list(records)
    if not recs:
        raise AudioInputError("No records were given.", expected="a non-empty list of data-set records",
                              found="an empty list", fix="course_utils.data.load_records(split) returns them")
    bad = [r for r in recs if not isinstance(r, Mapping) or "id" not in r]
    if bad:
        raise AudioInputError("A record has no 'id'.", expected="records from course_utils.data.load_records()",
                              found=f"{type(bad[0]).__name__}: {str(bad[0])[:80]}",
                              fix="pass the dicts load_records() returns (each has 'id', 'split', 'speaker', ...)")
    return recs


def _ids_digest(records: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256("|".join(str(r["id"]) for r in records).encode()).hexdigest()[:16]


def dataset_rows(name: str, fn: Callable[..., "np.ndarray"], records: Sequence[Mapping[str, Any]] | None = None,
                 params: Mapping[str, Any] | None = None, *, use_cache: bool = True,
                 with_record: bool = False) -> "np.ndarray":
    """``fn(waveform)`` for every utterance of ``records`` (default: all 1000), stacked ``(N, d)`` (lesson 06).

    Cached under ``name`` and ``params`` (which must describe ``fn`` completely:
    change a setting, change ``params``), the utterance ids and :data:`VERSION`.
    ``with_record=True`` calls ``fn(waveform, record)``.
    """
    import numpy as np

    from ..data import cached, load_audio

    recs = _records(records)

    def compute() -> dict[str, np.ndarray]:
        rows = [fn(load_audio(r), r) if with_record else fn(load_audio(r)) for r in recs]
        return {"X": np.stack([np.asarray(v, dtype=np.float32) for v in rows])}

    key = {**dict(params or {}), "ids": _ids_digest(recs), "n": len(recs)}
    return cached(f"audio-{name}", key, compute, use_cache=use_cache, version=VERSION)["X"]


def dataset_sequences(name: str, fn: Callable[["np.ndarray"], "np.ndarray"],
                      records: Sequence[Mapping[str, Any]] | None = None, params: Mapping[str, Any] | None = None,
                      *, use_cache: bool = True) -> list["np.ndarray"]:
    """``fn(waveform)`` ``(T_i, d)`` for every utterance, as a list of float32 arrays of varying length (lesson 06).

    Cached like :func:`dataset_rows` (frames concatenated, with the lengths).
    """
    import numpy as np

    from ..data import cached, load_audio

    recs = _records(records)

    def compute() -> dict[str, np.ndarray]:
        seqs = [np.asarray(fn(load_audio(r)), dtype=np.float32) for r in recs]
        return {"X": np.concatenate(seqs, axis=0), "lengths": np.array([s.shape[0] for s in seqs])}

    key = {**dict(params or {}), "ids": _ids_digest(recs), "n": len(recs)}
    out = cached(f"audio-seq-{name}", key, compute, use_cache=use_cache, version=VERSION)
    bounds = np.concatenate([[0], np.cumsum(out["lengths"])])
    return [out["X"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def egemaps_features(records: Sequence[Mapping[str, Any]] | None = None, *, use_cache: bool = True) -> "np.ndarray":
    """eGeMAPS functionals ``(N, 88)`` of ``records`` (default: all 1000 utterances), cached (lesson 06)."""
    return dataset_rows("egemaps", egemaps, records, {"set": "eGeMAPSv02"}, use_cache=use_cache)


def prosody_features(records: Sequence[Mapping[str, Any]] | None = None, *, method: str = "pyin",
                     use_cache: bool = True) -> "np.ndarray":
    """:func:`prosody` ``(N, 9)`` of ``records``, cached (lesson 06). ``method``: ``"pyin"`` or ``"yin"``."""
    return dataset_rows(f"prosody-{method}", lambda y: prosody(y, method=method), records,
                        {"method": method, "hop": 320}, use_cache=use_cache)


def noisy_features(kind: str, records: Sequence[Mapping[str, Any]], snr_db: float, *, seed: int = 0,
                   noise: str = "white", use_cache: bool = True) -> "np.ndarray":
    """Features of ``records`` after :func:`add_noise` (``noise`` kind, ``snr_db``, seeded per clip), cached (lesson 06).

    ``kind``: ``"mfcc_stats"`` (80), ``"egemaps"`` (88) or ``"logmel_stats"``
    (mean and std of each of 40 log-mel bands, 80).
    """
    extractors = {"mfcc_stats": mfcc_stats, "egemaps": egemaps, "logmel_stats": logmel_stats}
    if kind not in extractors:
        raise AudioInputError(f"Unknown feature kind {kind!r}.", expected=f"one of {sorted(extractors)}")
    def fn(y: "np.ndarray", rec: Mapping[str, Any]) -> "np.ndarray":
        clip_seed = int(hashlib.sha256(f"{seed}:{rec['id']}".encode()).hexdigest()[:8], 16)
        return extractors[kind](add_noise(y, snr_db, rng=clip_seed, kind=noise))

    if noise not in ("white", "pink"):
        raise AudioInputError("noisy_features' noise must be 'white' or 'pink'.", found=repr(noise))
    return dataset_rows(f"noisy-{kind}", fn, _records(records), {"snr_db": float(snr_db), "seed": seed,
                                                              "noise": noise},
                        use_cache=use_cache, with_record=True)


def logmel_stats(y: Any, sr: int = SAMPLE_RATE, n_mels: int = 40) -> "np.ndarray":
    """Mean and std over frames of each log-mel band ``(2 * n_mels,)`` float32 (lesson 06)."""
    import numpy as np

    y = check_waveform(y, sr, expected_sr=SAMPLE_RATE)
    L = log_mel(y, sr, n_mels=n_mels)
    return np.concatenate([L.mean(1), L.std(1)]).astype(np.float32)


__all__ = ["VERSION", "SAMPLE_RATE", "PROSODY_NAMES", "OPENSMILE_LICENCE", "AudioInputError", "check_waveform",
           "hz_to_mel", "mel_to_hz", "mel_filterbank", "hann_window", "frame_signal", "stft", "power_to_db",
           "melspectrogram", "log_mel", "dct_matrix", "mfcc", "mfcc_stats", "deltas", "rms_energy",
           "pitch_autocorr", "pitch", "prosody", "egemaps", "egemaps_names", "add_noise", "logmel_stats",
           "dataset_rows", "dataset_sequences", "egemaps_features", "prosody_features", "noisy_features"]
