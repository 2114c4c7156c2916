"""Loss functions in plain NumPy: the reference implementations of lesson 01.

Introduced in lesson 01 (loss functions), where each formula is derived; later
lessons import them from here instead of re-deriving them (lesson 02 trains
linear and logistic regression with them, lesson 03 checks backprop against
their gradients, lessons 07-08 combine several heads with
:func:`multitask_loss`).

Conventions (the same as ``torch.nn.functional``):

* argument order is **prediction first, target second** (Keras's
  ``keras.losses`` uses the opposite order ``(y_true, y_pred)``);
* every loss returns the **mean** over examples as a Python ``float``
  (regression losses average over all elements, classification losses over
  rows), and every ``*_grad`` returns the gradient of that mean with respect to
  the prediction, with the prediction's shape;
* classification losses that take *logits* (unnormalized scores) are the
  numerically stable ones; prefer them to losses on probabilities.

Only NumPy is imported here, so ``from course_utils import losses`` is cheap.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


__all__ = [
    "logsumexp", "log_softmax", "softmax", "sigmoid", "log_sigmoid", "one_hot", "smooth_labels",
    "mse", "mse_grad", "mae", "mae_grad", "huber", "huber_grad",
    "binary_cross_entropy", "bce_with_logits", "bce_with_logits_grad",
    "cross_entropy", "cross_entropy_grad", "entropy", "kl_divergence", "multitask_loss",
]


def _f(x) -> np.ndarray:
    """``x`` as a float array (float64 unless it already is a float array)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


# ----------------------------------------------------------------------------- softmax family
def logsumexp(z, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(z)))`` along ``axis`` without overflow (lesson 01).

    Uses ``m + log(sum(exp(z - m)))`` with ``m = max(z)``: every exponent is
    <= 0, so nothing overflows, and the largest term is exactly ``exp(0) = 1``,
    so the sum is never 0 (no ``log(0)``).
    """
    z = _f(z)
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # all -inf rows: keep -inf, do not make NaN
    with np.errstate(divide="ignore"):  # log(0) = -inf only for rows that are all -inf
        out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(z, axis: int = -1) -> np.ndarray:
    """``log(softmax(z))`` computed as ``z - logsumexp(z)`` (lesson 01)."""
    z = _f(z)
    return z - logsumexp(z, axis=axis, keepdims=True)


def softmax(z, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum so it never overflows (lesson 01)."""
    z = _f(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(z) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-z))`` without overflow warnings (lesson 01)."""
    z = _f(z)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(z) -> np.ndarray:
    """``log(sigmoid(z)) = -log(1 + exp(-z))``, stable for large ``|z|`` (lesson 01)."""
    z = _f(z)
    return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))


# ----------------------------------------------------------------------------- targets
def one_hot(labels, num_classes: int) -> np.ndarray:
    """Integer labels of shape ``(n,)`` -> float one-hot matrix ``(n, num_classes)`` (lesson 01)."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"one_hot needs integer class labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got min {labels.min()}, max {labels.max()}")
    return np.eye(num_classes)[labels]


def _as_distribution(target, num_classes: int) -> np.ndarray:
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer):
        return one_hot(target, num_classes)
    return _f(target)


def smooth_labels(target, smoothing: float, num_classes: int | None = None) -> np.ndarray:
    """Label smoothing: ``(1 - smoothing) * one_hot + smoothing / K`` (lesson 01).

    ``target`` is integer labels (then ``num_classes`` is required) or rows of
    class probabilities. The same formula as ``torch.nn.functional.cross_entropy(
    label_smoothing=...)`` and ``keras.losses.categorical_crossentropy(label_smoothing=...)``.
    """
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer):
        if num_classes is None:
            raise ValueError("integer labels need num_classes")
        target = one_hot(target, num_classes)
    target = _f(target)
    k = target.shape[-1]
    return (1.0 - smoothing) * target + smoothing / k


# ----------------------------------------------------------------------------- regression
def mse(y_pred, y_true) -> float:
    """Mean squared error ``mean((y_pred - y_true)**2)`` (lesson 01)."""
    r = _f(y_pred) - _f(y_true)
    return float(np.mean(r * r))


def mse_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``y_pred``: ``2 (y_pred - y_true) / n`` (lesson 01)."""
    y_pred, y_true = np.broadcast_arrays(_f(y_pred), _f(y_true))
    return 2.0 * (y_pred - y_true) / y_pred.size


def mae(y_pred, y_true) -> float:
    """Mean absolute error ``mean(|y_pred - y_true|)`` (lesson 01)."""
    return float(np.mean(np.abs(_f(y_pred) - _f(y_true))))


def mae_grad(y_pred, y_true) -> np.ndarray:
    """(Sub)gradient of :func:`mae`: ``sign(y_pred - y_true) / n``, 0 where they are equal (lesson 01)."""
    y_pred, y_true = np.broadcast_arrays(_f(y_pred), _f(y_true))
    return np.sign(y_pred - y_true) / y_pred.size


def huber(y_pred, y_true, delta: float = 1.0) -> float:
    """Huber loss: quadratic for ``|r| <= delta``, linear beyond, mean over elements (lesson 01).

    ``0.5 r**2`` if ``|r| <= delta`` else ``delta * (|r| - 0.5 * delta)``, with
    ``r = y_pred - y_true`` (``torch.nn.functional.huber_loss`` and
    ``keras.losses.huber`` use the same definition).
    """
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    a = np.abs(_f(y_pred) - _f(y_true))
    return float(np.mean(np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))))


def huber_grad(y_pred, y_true, delta: float = 1.0) -> np.ndarray:
    """Gradient of :func:`huber`: ``clip(r, -delta, delta) / n`` (lesson 01)."""
    y_pred, y_true = np.broadcast_arrays(_f(y_pred), _f(y_true))
    return np.clip(y_pred - y_true, -delta, delta) / y_pred.size


# ----------------------------------------------------------------------------- binary classification
def binary_cross_entropy(p, y, eps: float = 1e-12) -> float:
    """Binary cross-entropy on **probabilities** ``p`` (lesson 01).

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]``. Prefer :func:`bce_with_logits`: once a sigmoid has
    rounded ``p`` to exactly 0 or 1, the information is gone and clipping only
    hides it.
    """
    p = np.clip(_f(p), eps, 1.0 - eps)
    y = _f(y)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def bce_with_logits(z, y) -> float:
    """Binary cross-entropy from **logits** ``z``, stable for any ``z`` (lesson 01).

    ``-[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - z y + log(1 + exp(-|z|))``.
    ``y`` may be soft (any value in [0, 1]).
    """
    z, y = _f(z), _f(y)
    return float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def bce_with_logits_grad(z, y) -> np.ndarray:
    """Gradient of :func:`bce_with_logits` with respect to ``z``: ``(sigmoid(z) - y) / n`` (lesson 01)."""
    z, y = np.broadcast_arrays(_f(z), _f(y))
    return (sigmoid(z) - y) / z.size


# ----------------------------------------------------------------------------- multi-class
def cross_entropy(logits, target, label_smoothing: float = 0.0) -> float:
    """Categorical cross-entropy from **logits** ``(n, K)``, mean over rows (lesson 01).

    ``target`` is integer labels ``(n,)`` or target distributions ``(n, K)``
    (one-hot or soft). ``-mean_i sum_k t_ik log softmax(z_i)_k``, with the log-softmax
    computed by :func:`log_softmax` (no overflow). ``label_smoothing`` mixes the
    targets with the uniform distribution first (:func:`smooth_labels`).
    """
    logits = _f(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, K), got {logits.shape}")
    t = _as_distribution(target, logits.shape[1])
    if label_smoothing:
        t = smooth_labels(t, label_smoothing)
    if t.shape != logits.shape:
        raise ValueError(f"targets of shape {t.shape} do not match logits of shape {logits.shape}")
    return float(-np.mean(np.sum(t * log_softmax(logits, axis=1), axis=1)))


def cross_entropy_grad(logits, target, label_smoothing: float = 0.0) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits: ``(softmax(z) - t) / n`` (lesson 01).

    Valid when each target row sums to 1 (labels, one-hot, smoothed or soft targets).
    """
    logits = _f(logits)
    t = _as_distribution(target, logits.shape[1])
    if label_smoothing:
        t = smooth_labels(t, label_smoothing)
    return (softmax(logits, axis=1) - t) / logits.shape[0]


def entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``-sum p log p`` in nats along ``axis``, with ``0 log 0 = 0`` (lesson 01)."""
    p = _f(p)
    safe = np.where(p > 0, p, 1.0)
    return -np.sum(np.where(p > 0, p * np.log(safe), 0.0), axis=axis)


def kl_divergence(p, q, axis: int = -1) -> float:
    """``KL(p || q) = sum p log(p / q)`` along ``axis``, averaged over the other axes (lesson 01).

    ``p`` and ``q`` are probability distributions (rows summing to 1); terms with
    ``p = 0`` count 0. Returns ``inf`` where ``q = 0 < p``. For one-hot ``p`` this
    equals the cross-entropy, since ``H(p) = 0``:
    ``cross-entropy(p, q) = H(p) + KL(p || q)``.
    """
    p, q = np.broadcast_arrays(_f(p), _f(q))
    with np.errstate(divide="ignore"):
        ratio = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)) - np.log(q), 0.0)
    return float(np.mean(np.sum(np.where(p > 0, p * ratio, 0.0), axis=axis)))


# ----------------------------------------------------------------------------- several heads
def multitask_loss(losses: Mapping[str, float], weights: Mapping[str, float] | None = None) -> float:
    """Weighted sum ``sum_k w_k L_k`` of per-task losses (lesson 01; used again in lessons 07-08).

    ``weights`` defaults to 1 for every task. Every weight must be >= 0 and name a
    task present in ``losses`` (a typo raises instead of silently dropping a
    term). Works with floats and with framework scalars (torch / TF tensors),
    so the same function combines the heads of a PyTorch or a Keras model.
    """
    if not losses:
        raise ValueError("multitask_loss needs at least one task loss")
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(losses))
    if unknown:
        raise KeyError(f"weights for unknown task(s) {unknown}; tasks are {sorted(losses)}")
    for name, w in weights.items():
        if not w >= 0:
            raise ValueError(f"task weight {name!r} must be >= 0, got {w}")
    total = 0.0
    for name, value in losses.items():
        total = total + weights.get(name, 1.0) * value
    return total
