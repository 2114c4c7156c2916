"""Audio features: mel scale, MFCCs and utterance statistics (lesson 06).

Plain NumPy/SciPy implementations of the recipes ``librosa`` uses, so learners
can read every step and no numba compilation is needed; the tests compare them
with librosa. Heavy imports stay inside the functions.

Every extractor expects a mono ``float32`` waveform in [-1, 1] sampled at
:data:`SAMPLE_RATE` Hz unless it takes ``sr``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Bump when an extractor's output changes: cached features keyed by it are then recomputed.
VERSION = 1
#: The bundled data set's sample rate (Hz).
SAMPLE_RATE = 16_000


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
    """Slaney-style mel filters ``(n_mels, n_fft // 2 + 1)``, as ``librosa.filters.mel`` (lesson 06)."""
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
    """MFCCs ``(n_mfcc, frames)`` of a mono waveform, in NumPy (lesson 06).

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
    """Utterance vector: mean and std of MFCCs and of their deltas (``4 * n_mfcc``) (lesson 06)."""
    import numpy as np

    m = mfcc(y, sr=sr, n_mfcc=n_mfcc)
    d = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros_like(m)
    return np.concatenate([m.mean(1), m.std(1), d.mean(1), d.std(1)]).astype(np.float32)


__all__ = ["VERSION", "SAMPLE_RATE", "mel_filterbank", "mfcc", "mfcc_stats"]
