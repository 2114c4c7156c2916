"""Self-checks for lesson 06 (audio features).

References are written here from the formulas in NumPy, in float64 (the same recipes as
:mod:`course_utils.features.audio`, which is not imported: a check module may only need NumPy, so that lessons
using the check engine do not inherit this lesson's requirements; ``tests/test_checks_06.py`` compares the two).
Every property is produced by the case generators for any seed (fixed cases plus cases drawn from
``rng``), so an instructor test is the same check with another seed. Predictable wrong answers are named by
:class:`Mistake` detectors that recompute the wrong variant from the case's own arguments. torch is imported
only by the PyTorch exercise's cases.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._core import (Build, Case, Mistake, _to_numpy_if_tensor, as_float_array, close_to_float32, compare,
                    describe, register, register_builder, register_probe)


_arr = as_float_array
_matches = close_to_float32


# ----------------------------------------------------------------------------- NumPy references
def _htk(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def _slaney(f: np.ndarray) -> np.ndarray:
    """The Slaney mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=float)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, 3.0 * f / 200.0)


def _frames(y: np.ndarray, n_fft: int, hop: int, center: bool = True) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if center:
        y = np.pad(y, n_fft // 2)
    n = 1 + (len(y) - n_fft) // hop
    return y[np.arange(n_fft)[None, :] + hop * np.arange(max(n, 0))[:, None]]


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)     # periodic


def _dct_matrix(n_in: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (n_in, n_in); its transpose is the orthonormal DCT-III (the inverse)."""
    k, m = np.arange(n_in)[:, None], np.arange(n_in)[None, :]
    D = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_in))
    D[0] /= np.sqrt(2.0)
    return D


# ----------------------------------------------------------------------------- 06.hz_to_mel

_MEL_MISTAKES = (
    Mistake("natural log", lambda got, e, c: _matches(got, 2595.0 * np.log(1.0 + np.asarray(c.args[0]) / 700.0)),
            "the formula uses the base-10 logarithm (np.log10); np.log is the natural one (with natural log "
            "the constant would be 1127, not 2595)."),
    Mistake("constants swapped", lambda got, e, c: _matches(got, 700.0 * np.log10(1.0 + np.asarray(c.args[0])
                                                                                  / 2595.0)),
            "the two constants are swapped: 2595 multiplies the logarithm and 700 Hz divides the frequency "
            "(the corner where the scale turns from linear to logarithmic)."),
    Mistake("Slaney scale", lambda got, e, c: _matches(got, _slaney(c.args[0])),
            "that is the Slaney mel scale (linear below 1 kHz, 15 mels at 1 kHz); this exercise asks for the "
            "HTK formula, about 1000 mels at 1 kHz."),
    Mistake("missing 1 +", lambda got, e, c: _arr(got) is not None and _arr(got).shape == np.shape(c.args[0])
            and _matches(_arr(got)[np.asarray(c.args[0]) > 0],
                         2595.0 * np.log10(np.asarray(c.args[0], float)[np.asarray(c.args[0]) > 0] / 700.0)),
            "0 Hz must map to 0 mel: the logarithm is of 1 + f / 700, not of f / 700."),
    Mistake("log base 2", lambda got, e, c: _matches(got, 2595.0 * np.log2(1.0 + np.asarray(c.args[0]) / 700.0)),
            "the formula uses the base-10 logarithm (np.log10), not log2."),
)


@register("06.hz_to_mel", signature="hz_to_mel(f) -> np.ndarray", returns=np.ndarray,
          hint="Check two values by hand: 0 Hz is 0 mel and 1000 Hz is about 1000 mels (HTK). Which logarithm "
               "does the formula use?",
          mistakes=_MEL_MISTAKES)
def _hz_to_mel(rng: np.random.Generator):
    f = np.array([0.0, 700.0, 1000.0, 4000.0, 8000.0])
    yield Case((f,), expected=_htk(f), label="0, 700, 1000, 4000 and 8000 Hz", rtol=1e-5, atol=1e-4)
    f = rng.uniform(0.0, 8000.0, size=(int(rng.integers(2, 5)), int(rng.integers(2, 6))))
    yield Case((f,), expected=_htk(f), label=f"a 2-D array of frequencies {f.shape}", rtol=1e-5, atol=1e-4)
    f = np.sort(rng.uniform(20.0, 22050.0, size=int(rng.integers(5, 30))))
    yield Case((f,), expected=_htk(f), label="random frequencies up to 22 kHz", rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- 06.power_spectrogram
def _power_variant(y: np.ndarray, n_fft: int, hop: int, *, window: str = "periodic", center: bool = True,
                   square: bool = True, pad: str = "constant") -> np.ndarray:
    if pad != "constant" and center:
        y = np.pad(np.asarray(y, dtype=float), n_fft // 2, mode=pad)
        center = False
    frames = _frames(y, n_fft, hop, center=center)
    if window == "periodic":
        frames = frames * _hann(n_fft)
    elif window == "symmetric":
        frames = frames * np.hanning(n_fft)
    spec = np.abs(np.fft.rfft(frames, axis=1))
    return (spec ** 2 if square else spec).T


def _pow_args(c: Case) -> tuple[np.ndarray, int, int]:
    y = c.args[0]
    n_fft = c.kwargs.get("n_fft", c.args[1] if len(c.args) > 1 else 512)
    hop = c.kwargs.get("hop_length", c.args[2] if len(c.args) > 2 else 160)
    return np.asarray(y, dtype=float), int(n_fft), int(hop)


def _pow_mistake(**variant: Any) -> Callable:
    def detect(got, expected, case):
        y, n_fft, hop = _pow_args(case)
        return _matches(got, _power_variant(y, n_fft, hop, **variant), rtol=1e-4, atol=1e-9)
    return detect


_POWER_MISTAKES = (
    Mistake("complex", lambda got, e, c: np.iscomplexobj(_to_numpy_if_tensor(got)),
            "the result is complex: that is the STFT X itself (or X**2). The power spectrum is the real, "
            "non-negative |X|^2 = np.abs(X) ** 2."),
    Mistake("magnitude, not power", _pow_mistake(square=False),
            "that is the magnitude |X|; the power spectrum is its square |X|^2."),
    Mistake("no window", _pow_mistake(window="none"),
            "the frames were not multiplied by the Hann window (a rectangular window leaks energy into "
            "far-away bins)."),
    Mistake("symmetric window", _pow_mistake(window="symmetric"),
            "np.hanning(n) is the symmetric Hann window (denominator n - 1); the STFT uses the periodic one, "
            "0.5 - 0.5 cos(2 pi k / n) for k = 0..n-1 (scipy.signal.get_window('hann', n))."),
    Mistake("not centred", lambda got, e, c: _arr(got) is not None and _arr(got).ndim == 2
            and _matches(got, _power_variant(*_pow_args(c), center=False), rtol=1e-4, atol=1e-9),
            "the frames are not centred: pad n_fft // 2 zeros on both sides first, so that frame t is centred "
            "on sample t * hop_length and there are 1 + len(y) // hop_length frames."),
    Mistake("frames on the rows", lambda got, e, c: _arr(got) is not None and _arr(got).ndim == 2
            and _matches(_arr(got).T, _power_variant(*_pow_args(c)), rtol=1e-4, atol=1e-9),
            "the result is transposed: put the n_fft // 2 + 1 frequencies on the rows and the frames on the "
            "columns (librosa's layout), i.e. shape (n_fft // 2 + 1, n_frames)."),
    Mistake("reflect padding", lambda got, e, c: len(c.args[0]) > _pow_args(c)[1] // 2
            and _matches(got, _power_variant(*_pow_args(c), pad="reflect"), rtol=1e-4, atol=1e-9),
            "the inner frames are right but the first and last ones are not: the padding mirrors the signal "
            "(torch.stft's default pad_mode='reflect', older librosa's default); pad with zeros "
            "(pad_mode='constant'), as the exercise and librosa.stft do."),
    Mistake("normalized", lambda got, e, c: any(_matches(got, _power_variant(*_pow_args(c)) / d, rtol=1e-4, atol=1e-9)
                                                for d in (_pow_args(c)[1], _pow_args(c)[1] ** 2,
                                                          float(np.sum(_hann(_pow_args(c)[1]) ** 2)),
                                                          float(np.sum(_hann(_pow_args(c)[1]))) ** 2)),
            "the result is divided by a constant (n_fft, or the window's energy): the exercise asks for the plain "
            "|X|^2 of the DFT, with no normalization."),
    Mistake("in decibels", lambda got, e, c: _arr(got) is not None and np.shape(_arr(got)) == np.shape(e)
            and float(np.nanmin(_arr(got))) < 0.0,
            "the result has negative values: a power spectrum |X|^2 is never negative. Return the power itself, "
            "not its logarithm (dB comes later, in §3)."),
    Mistake("full FFT", lambda got, e, c: _arr(got) is not None and _arr(got).ndim == 2
            and _arr(got).shape[0] == _pow_args(c)[1],
            "the result has n_fft rows: for a real signal the upper half of the FFT mirrors the lower half, so "
            "keep the n_fft // 2 + 1 non-negative frequencies (np.fft.rfft)."),
)


@register("06.power_spectrogram", signature="power_spectrogram(y, n_fft=512, hop_length=160) -> np.ndarray",
          returns=np.ndarray, time_limit=10.0,
          hint="Check the shape first: (n_fft // 2 + 1 frequencies, 1 + len(y) // hop_length frames). Then the "
               "three steps: centred frames, a window, the squared magnitude of a real FFT.",
          recipe="Pad n_fft // 2 zeros on both sides; frame t starts at t * hop_length of the padded signal; "
                 "multiply each frame by the periodic Hann window; take np.fft.rfft of each frame and its "
                 "squared absolute value; put frequencies on the rows.",
          mistakes=_POWER_MISTAKES)
def _power_spectrogram(rng: np.random.Generator):
    def case(y, label, **kw):
        n_fft, hop = kw.get("n_fft", 512), kw.get("hop_length", 160)
        exp = _power_variant(y, n_fft, hop)
        return Case((y,), kwargs=kw, expected=exp, label=label, rtol=1e-4, atol=1e-7 * max(float(exp.max()), 1e-12))

    sr = 16000
    t = np.arange(sr // 4) / sr
    yield case(0.5 * np.sin(2 * np.pi * 1000.0 * t), "a 1 kHz sine, 0.25 s, default sizes")
    yield case(rng.uniform(-1, 1, size=int(rng.integers(800, 3000))), "white noise, n_fft=256, hop_length=64",
               n_fft=256, hop_length=64)
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t[: int(rng.integers(1000, 4000))])
    yield case(y, "a random sine, n_fft=400, hop_length=100", n_fft=400, hop_length=100)
    yield case(rng.uniform(-1, 1, size=50), "a clip shorter than one frame (50 samples)", n_fft=128,
               hop_length=32)


# ----------------------------------------------------------------------------- 06.mfcc_from_log_mel
def _dct(x: np.ndarray, axis: int, norm: str | None = "ortho", type_: int = 2) -> np.ndarray:
    """DCT-II (``type_=2``) or its inverse DCT-III (``type_=3``) along ``axis``; ``norm=None`` is scipy's
    unnormalized DCT-II (2 * sum x_m cos(...)), the wrong answer a missing norm='ortho' gives."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    n = x.shape[0]
    D = _dct_matrix(n)
    if norm is None:
        k, m = np.arange(n)[:, None], np.arange(n)[None, :]
        D = 2.0 * np.cos(np.pi * k * (2 * m + 1) / (2 * n))
    out = (D if type_ == 2 else D.T) @ x.reshape(n, -1)
    return np.moveaxis(out.reshape(x.shape), 0, axis)


_MFCC_MISTAKES = (
    Mistake("not orthonormal", lambda got, e, c: _matches(got, _dct(c.args[0], 0, None)[: c.args[1]],
                                                          rtol=1e-6, atol=1e-6),
            "the DCT is not the orthonormal one: scipy's default (norm=None) scales every coefficient by 2 and "
            "the first one differently; use norm='ortho' (librosa's and the lesson's convention)."),
    Mistake("DCT over time", lambda got, e, c: _matches(got, _dct(c.args[0], 1)[: c.args[1]], rtol=1e-6, atol=1e-6)
            or _matches(got, _dct(c.args[0], 1)[:, : c.args[1]], rtol=1e-6, atol=1e-6),
            "the DCT ran along the time axis; it decorrelates the mel bands of each frame, so it runs along "
            "axis 0 (the n_mels rows)."),
    Mistake("not truncated", lambda got, e, c: _matches(got, _dct(c.args[0], 0), rtol=1e-6, atol=1e-6)
            and c.args[1] < np.shape(c.args[0])[0],
            "all n_mels coefficients were returned: keep only the first n_mfcc rows."),
    Mistake("inverse DCT", lambda got, e, c: _matches(got, _dct(c.args[0], 0, "ortho", 3)[: c.args[1]],
                                                      rtol=1e-6, atol=1e-6),
            "that is the inverse transform (DCT-III, scipy.fft.idct); MFCCs use the DCT-II (scipy.fft.dct)."),
    Mistake("c0 scaled like the others", lambda got, e, c: _matches(
        got, _dct(c.args[0], 0)[: c.args[1]] * np.r_[np.sqrt(2.0), np.ones(max(c.args[1] - 1, 0))][:, None]),
            "coefficients 1, 2, ... are right but c0 is too large by sqrt(2): in the orthonormal DCT the first "
            "row has the factor sqrt(1/M), the others sqrt(2/M)."),
    Mistake("c0 dropped", lambda got, e, c: _matches(got, _dct(c.args[0], 0)[1: c.args[1] + 1])
            and c.args[1] < np.shape(c.args[0])[0],
            "the result starts at c1: MFCCs keep c0 (the frame's mean log energy) as the first row; return rows "
            "0 .. n_mfcc - 1."),
)


@register("06.mfcc_from_log_mel", signature="mfcc_from_log_mel(S_db, n_mfcc) -> np.ndarray", returns=np.ndarray,
          hint="The DCT runs along the mel axis (axis 0) of each frame, with the orthonormal scaling; the "
               "result has shape (n_mfcc, n_frames).",
          mistakes=_MFCC_MISTAKES)
def _mfcc_from_log_mel(rng: np.random.Generator):
    def case(S, n, label):   # tolerance: float32 rounding of a sum of n_mels terms of size max|S|
        atol = 1e-6 * np.sqrt(S.shape[0]) * float(np.abs(S).max())
        return Case((S, n), expected=_dct(S, 0)[:n], label=label, rtol=1e-5, atol=atol)

    yield case(np.full((8, 3), -20.0), 4, "a constant log-mel (only c0 is non-zero)")
    S = -60.0 + 10.0 * rng.normal(size=(40, int(rng.integers(5, 30))))
    yield case(S, 20, f"40 mel bands, {S.shape[1]} frames, 20 coefficients")
    S = -40.0 + 5.0 * rng.normal(size=(int(rng.integers(10, 64)), 7))
    yield case(S, int(rng.integers(2, S.shape[0])), f"{S.shape[0]} mel bands")
    bands = np.arange(26)[:, None]
    envelope = np.maximum(-80.0, -10.0 - 0.05 * (bands - 8.0) ** 2)             # (26, 1)
    S = np.repeat(envelope, 9, axis=1) + rng.normal(size=(26, 9))
    yield case(S, 13, "a smooth, peaked log-mel envelope (26 bands), 13 coefficients")


# ----------------------------------------------------------------------------- 06.delta
def _delta_ref(X: np.ndarray, N: int, pad: str = "edge", sign: float = 1.0) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    T = X.shape[-1]
    Xp = np.pad(X, [(0, 0)] * (X.ndim - 1) + [(N, N)], mode=pad)
    num = sum(n * (Xp[..., N + n: N + n + T] - Xp[..., N - n: N - n + T]) for n in range(1, N + 1))
    return sign * num / (2 * sum(n * n for n in range(1, N + 1)))


def _delta_args(c: Case) -> tuple[np.ndarray, int]:
    N = c.kwargs.get("N", c.args[1] if len(c.args) > 1 else 2)
    return np.asarray(c.args[0], dtype=float), int(N)


_DELTA_MISTAKES = (
    Mistake("zero padding", lambda got, e, c: _matches(got, _delta_ref(*_delta_args(c), pad="constant")),
            "the edges are padded with zeros; repeat the first and last frames instead (np.pad(..., "
            "mode='edge')), otherwise the first and last deltas see a jump to 0."),
    Mistake("no padding", lambda got, e, c: _arr(got) is not None and _arr(got).shape[-1]
            == _delta_args(c)[0].shape[-1] - 2 * _delta_args(c)[1],
            "the result lost 2 N frames: pad N copies of the first and last frames so that every frame gets a "
            "delta (same shape as X)."),
    Mistake("N in the denominator", lambda got, e, c: any(
        _matches(got, _delta_ref(*_delta_args(c)) * 2 * sum(n * n for n in range(1, _delta_args(c)[1] + 1))
                 / d) for d in (2 * _delta_args(c)[1], _delta_args(c)[1], sum(n * n for n in range(1, _delta_args(c)[1] + 1)))),
            "the denominator is 2 * sum of n^2 for n = 1..N (it makes the delta of a ramp equal its slope)."),
    Mistake("wrong axis", lambda got, e, c: _delta_args(c)[0].ndim == 2
            and _matches(got, _delta_ref(_delta_args(c)[0].T, _delta_args(c)[1]).T),
            "the differences were taken along the feature axis; deltas are along time, the last axis."),
    Mistake("N ignored", lambda got, e, c: _delta_args(c)[1] != 2 and _matches(got, _delta_ref(_delta_args(c)[0], 2)),
            "this is the delta for N = 2 although the call passed another N: use the N argument in the sum, the "
            "denominator and the edge padding."),
    Mistake("edge frames", lambda got, e, c: _arr(got) is not None and _arr(got).shape == np.shape(e)
            and _delta_args(c)[0].shape[-1] > 2 * _delta_args(c)[1]
            and _matches(_arr(got)[..., _delta_args(c)[1]: -_delta_args(c)[1]],
                         np.asarray(e)[..., _delta_args(c)[1]: -_delta_args(c)[1]]),
            "the frames away from the edges are right, the first and last N are not: the exercise pads with N "
            "copies of the first and last frames (np.pad(..., mode='edge')); not reflection, not wrap-around, "
            "not a line fitted to the edge window (librosa.feature.delta's default, mode='interp')."),
)


@register("06.delta", signature="delta(X, N=2) -> np.ndarray", returns=np.ndarray,
          hint="Test it on a ramp x_t = 3 t: away from the first and last N frames the delta must be exactly 3 "
               "(the slope); at the edges the repeated frames flatten it. The result has the shape of X.",
          recipe="Pad N copies of the first and last frames along the last axis, then add up "
                 "n * (x[t + n] - x[t - n]) for n = 1..N with array slices, and divide by 2 * (1^2 + ... + N^2).",
          mistakes=_DELTA_MISTAKES)
def _delta(rng: np.random.Generator):
    ramp = np.vstack([3.0 * np.arange(10.0), -np.arange(10.0)])
    yield Case((ramp,), expected=_delta_ref(ramp, 2), rtol=1e-5, atol=1e-6 * 27.0, label="ramps (slope 3 and -1): the delta is the slope "
               "except where the edge copies flatten it")
    X = rng.normal(size=(int(rng.integers(3, 14)), int(rng.integers(12, 40))))
    yield Case((X,), expected=_delta_ref(X, 2), rtol=1e-5, atol=1e-6 * float(np.abs(X).max()),
               label=f"random MFCC-like {X.shape}, N=2")
    X = rng.normal(size=(4, int(rng.integers(8, 20))))
    N = int(rng.integers(1, 4))
    yield Case((X, N), expected=_delta_ref(X, N), rtol=1e-5, atol=1e-6 * float(np.abs(X).max()), label=f"N={N}")
    x = rng.normal(size=int(rng.integers(9, 25)))
    yield Case((x,), kwargs={"N": 3}, expected=_delta_ref(x, 3), rtol=1e-5, atol=1e-6 * float(np.abs(x).max()),
               label="a 1-D sequence, N=3")


# ----------------------------------------------------------------------------- 06.gru_last_state (PyTorch)
@register_builder("06.gru")
def _build_gru(input_size: int, hidden_size: int, state: dict) -> Any:
    """A ``torch.nn.GRU(input_size, hidden_size, batch_first=True)`` with the given weights (``state``: its
    parameters by name, as arrays), made where the answer runs."""
    import torch

    gru = torch.nn.GRU(input_size, hidden_size, batch_first=True)
    with torch.no_grad():
        for name, p in gru.named_parameters():
            p.copy_(torch.from_numpy(np.asarray(state[name], dtype=np.float32)))
    return gru


_VALUE_LIMIT = 1_000_000  # numbers of a returned array sent back at most (the right one has B * H)


@register_probe("06.gru_state")
def _gru_state_observations(got: Any, args: tuple, kwargs: dict, *, cotangent) -> dict:
    """Observations of the state ``got`` that ``gru_last_state`` returned, made where the answer ran: its type
    and rendering, its values (``value``: any numeric result, as an array), for a tensor its shape,
    ``requires_grad``, and ``grads``: the gradient of ``sum(got * cotangent)`` with respect to each parameter of
    the GRU the answer was given (``args[0]``), by name, None where none reaches it. The gradient values, not the
    flag, show that the result is the GRU's own computation, attached to autograd."""
    import torch

    obs: dict = {"type": type(got).__name__, "text": "", "tensor": isinstance(got, torch.Tensor),
                 "value": None, "requires_grad": False, "grads": None, "grad_problem": None}
    if not obs["tensor"]:
        try:
            obs["text"] = describe(got)
        except Exception:  # noqa: BLE001 - a learner's object whose repr fails
            obs["text"] = f"a {type(got).__name__}"
    try:
        raw = _to_numpy_if_tensor(got)
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "biuf":
            value = raw
        else:
            value = as_float_array(raw)
        obs["value"] = value if value is not None and value.size <= _VALUE_LIMIT else None
    except Exception:  # noqa: BLE001 - e.g. a bfloat16 tensor
        obs["value"] = as_float_array(getattr(got, "float", lambda: got)()) if obs["tensor"] else None
    if not obs["tensor"]:
        return obs
    obs["requires_grad"] = bool(got.requires_grad)
    c = np.asarray(cotangent)
    if got.grad_fn is None or not got.is_floating_point() or tuple(got.shape) != c.shape:
        return obs
    try:
        named = [(n, p) for n, p in args[0].named_parameters() if p.requires_grad]
        out = (got * torch.as_tensor(c, dtype=got.dtype, device=got.device)).sum()
        found = torch.autograd.grad(out, [p for _, p in named], retain_graph=True, allow_unused=True)
        obs["grads"] = {n: None if g is None else g.detach().cpu().double().numpy() for (n, _), g in zip(named, found)}
    except Exception as exc:  # noqa: BLE001 - the learner's graph: reported, not raised
        obs["grad_problem"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return obs


def _gru_case(rng: np.random.Generator, B: int, T: int, d: int, H: int, lengths: list[int], label: str) -> Case:
    import torch

    seed = int(rng.integers(0, 2**31))
    torch.manual_seed(seed)
    gru = torch.nn.GRU(d, H, batch_first=True)
    x = torch.zeros(B, T, d)
    for b, L in enumerate(lengths):
        x[b, :L] = torch.from_numpy(rng.normal(size=(L, d)).astype(np.float32))
    lens = torch.tensor(lengths, dtype=torch.int64)
    # the direction in which the probe differentiates the result (an input, drawn apart from ``rng``)
    cotangent = np.random.default_rng(seed).normal(size=(B, H)).astype(np.float32)
    with torch.no_grad():
        padded_h = gru(x)[1][0].numpy()
        out = gru(x)[0]
        one_late = torch.stack([out[b, min(L, T - 1)] for b, L in enumerate(lengths)]).numpy()
    named = list(gru.named_parameters())
    state = torch.stack([gru(x[b: b + 1, :L])[1][0, 0] for b, L in enumerate(lengths)])
    grads = torch.autograd.grad((state * torch.from_numpy(cotangent)).sum(), [p for _, p in named])
    expected = state.detach().numpy()
    want_grads = {n: g.double().numpy() for (n, _), g in zip(named, grads)}

    def validate(got):
        if not got["tensor"]:
            return (f"expected a torch.Tensor of shape ({B}, {H}), got {got['type']}: {got['text']}; the "
                    "model trains on this result, so keep it a tensor")
        problem = compare(got["value"], expected, 1e-4, 1e-5)
        if problem:
            return problem
        if not got["requires_grad"]:
            return ("the values are right but the result is cut off from the graph (requires_grad is False): "
                    "no gradient could reach the GRU's weights. Do not use torch.no_grad(), .detach() or NumPy "
                    "inside the function")
        grads = got["grads"] or {}
        for name, want in want_grads.items():
            g = grads.get(name)
            g = None if g is None else np.asarray(g, dtype=float)
            if g is None or g.shape != want.shape or not np.allclose(
                    g, want, rtol=1e-3, atol=1e-5 * max(1.0, float(np.abs(want).max()))):
                how = "no gradient reaches" if g is None else "the gradient differs for"
                return (f"the values are right but {how} the GRU's {name}: the result must be computed by the "
                        "GRU it was given, attached to autograd (no torch.no_grad(), .detach(), NumPy or copies "
                        "of the GRU inside the function)")
        return None

    validate.padded = padded_h  # for the mistake detectors
    validate.expected = expected
    validate.one_late = one_late
    validate.short = np.array([L < T for L in lengths])
    built = Build("06.gru", {"input_size": d, "hidden_size": H,
                             "state": {n: p.detach().numpy().copy() for n, p in named}}, text=repr(gru))
    return Case((built, x, lens), expected=validate, label=label,
                probe=("06.gru_state", {"cotangent": cotangent}))


def _ran_over_padding(got, e, case) -> bool:
    g = _arr(got["value"])
    return g is not None and g.reshape(-1).shape == e.padded.reshape(-1).shape and np.allclose(
        g.reshape(e.padded.shape), e.padded, rtol=1e-4, atol=1e-5) and not np.allclose(e.padded, e.expected,
                                                                                         atol=1e-5)


_GRU_MISTAKES = (
    Mistake("ran over the padding", _ran_over_padding,
            "this is the state after the padded zeros too: the GRU kept updating its state on the padding of the "
            "shorter sequences. Stop each sequence at its own length (pack_padded_sequence, or pick the output "
            "at step lengths[b] - 1)."),
    Mistake("one step late", lambda got, e, c: _arr(got["value"]) is not None
            and _arr(got["value"]).shape == e.one_late.shape
            and np.allclose(_arr(got["value"]), e.one_late, rtol=1e-4, atol=1e-5)
            and not np.allclose(e.one_late, e.expected, atol=1e-5),
            "off by one: the output at index lengths[b] is the state after the first padded step; the last real "
            "step of a sequence of length L has index L - 1."),
    Mistake("zeros for short sequences", lambda got, e, c: _arr(got["value"]) is not None
            and _arr(got["value"]).shape == e.expected.shape and e.short.any()
            and np.allclose(_arr(got["value"])[e.short], 0.0) and not np.allclose(_arr(got["value"])[~e.short], 0.0),
            "the shorter sequences get all-zero states: pad_packed_sequence fills the steps after a sequence's "
            "end with zeros, so its last time step is 0 there. Take the packed GRU's h_n[-1], or the output at "
            "lengths[b] - 1."),
    Mistake("(1, B, H)", lambda got, e, c: _arr(got["value"]) is not None and _arr(got["value"]).ndim == 3
            and _arr(got["value"]).shape[0] == 1,
            "h_n has shape (num_layers, B, H) = (1, B, H): return the last layer's state, shape (B, H)."),
)


@register("06.gru_last_state", signature="gru_last_state(gru, x, lengths) -> torch.Tensor (B, H)",
          time_limit=20.0,
          hint="A padded step must not change a sequence's state: the answer for sequence b is the state after "
               "its own step lengths[b] - 1, not after step T - 1.",
          recipe="Either pack the batch with torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, "
                 "enforce_sorted=False), run the GRU on it and take h_n[-1]; or run it on the padded x and pick, "
                 "for every b, the output at time lengths[b] - 1 (torch.gather or indexing with "
                 "torch.arange(B)).",
          mistakes=_GRU_MISTAKES)
def _gru_last_state(rng: np.random.Generator):
    yield _gru_case(rng, 3, 6, 2, 4, [6, 3, 1], "3 sequences of lengths 6, 3, 1 (sorted)")
    B = int(rng.integers(3, 7))
    T = int(rng.integers(5, 15))
    lengths = [int(v) for v in rng.integers(1, T + 1, size=B)]
    lengths[int(rng.integers(0, B))] = T
    yield _gru_case(rng, B, T, int(rng.integers(2, 6)), int(rng.integers(3, 9)), lengths,
                    f"{B} sequences, unsorted lengths {lengths}")
    yield _gru_case(rng, 2, 5, 3, 5, [5, 5], "no padding at all")
