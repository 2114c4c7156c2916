"""Self-checks for lesson 01 (loss functions).

Every check compares with the reference implementations in
:mod:`course_utils.losses` on fixed cases (including the extreme inputs that
break naive formulas) and on seeded random cases.
"""
from __future__ import annotations

import numpy as np

from .. import losses as L
from ._core import Case, register

TIME_LIMIT = 2.0


@register("01.logsumexp", signature="logsumexp(z: np.ndarray) -> np.ndarray  # z of shape (n, K) -> (n,)",
          time_limit=TIME_LIMIT,
          hint="Reduce over the last axis (one value per row). Subtract each row's maximum before exp, "
               "add it back after the log; keep the maximum with keepdims so it broadcasts.")
def _logsumexp(rng: np.random.Generator):
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    yield Case((z,), expected=L.logsumexp(z, axis=-1), label="2 rows of 3")
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])
    yield Case((big,), expected=L.logsumexp(big, axis=-1), label="huge and tiny logits (naive exp overflows)")
    one = np.array([[5.0]])
    yield Case((one,), expected=np.array([5.0]), label="a single logit")
    for _ in range(3):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 12))
        z = rng.normal(scale=rng.choice([1.0, 50.0, 500.0]), size=(n, k))
        yield Case((z,), expected=L.logsumexp(z, axis=-1), label=f"random {n}x{k}", rtol=1e-9, atol=1e-9)


@register("01.cross_entropy", signature="cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float",
          time_limit=TIME_LIMIT,
          hint="Mean over rows of -log softmax(z_i)[y_i]. Compute log-softmax as z minus the row's "
               "log-sum-exp (never log(softmax)), then pick each row's true class with integer indexing.")
def _cross_entropy(rng: np.random.Generator):
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    y = np.array([0, 1])
    yield Case((z, y), expected=L.cross_entropy(z, y), label="2 examples, 3 classes")
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    y = np.array([1, 1])
    yield Case((z, y), expected=L.cross_entropy(z, y), label="logits of +-1000 (naive softmax gives NaN)")
    z = np.zeros((4, 5))
    y = np.array([0, 1, 2, 4])
    yield Case((z, y), expected=float(np.log(5.0)), label="all logits equal: loss is log K")
    for _ in range(3):
        n, k = int(rng.integers(2, 40)), int(rng.integers(2, 10))
        z = rng.normal(scale=rng.choice([1.0, 30.0]), size=(n, k))
        y = rng.integers(0, k, size=n)
        yield Case((z, y), expected=L.cross_entropy(z, y), label=f"random n={n}, K={k}", rtol=1e-9)


@register("01.bce_with_logits", signature="bce_with_logits(z: np.ndarray, y: np.ndarray) -> float",
          time_limit=TIME_LIMIT,
          hint="Rewrite -[y log s(z) + (1-y) log(1-s(z))] so that exp only ever sees -|z| "
               "(use np.maximum, np.abs and np.log1p); return the mean over all elements.")
def _bce(rng: np.random.Generator):
    z, y = np.array([0.0, 2.0, -1.0]), np.array([1.0, 1.0, 0.0])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="3 examples")
    z, y = np.array([800.0, -800.0, 800.0, -800.0]), np.array([1.0, 0.0, 0.0, 1.0])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="logits of +-800 (sigmoid rounds to 0 or 1)")
    z, y = np.array([1.5, -0.5]), np.array([0.3, 0.8])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="soft targets")
    for _ in range(3):
        n = int(rng.integers(1, 60))
        z, y = rng.normal(scale=rng.choice([1.0, 40.0]), size=n), rng.integers(0, 2, size=n).astype(float)
        yield Case((z, y), expected=L.bce_with_logits(z, y), label=f"random n={n}", rtol=1e-9)


def _huber_cases(rng: np.random.Generator, fn):
    yp, yt = np.array([0.5, 3.0, -2.0]), np.array([0.0, 0.0, 0.0])
    yield Case((yp, yt), expected=fn(yp, yt), label="residuals 0.5, 3, -2; delta=1")
    yield Case((yp, yt), {"delta": 2.5}, expected=fn(yp, yt, delta=2.5), label="delta=2.5")
    yp, yt = np.array([1.0, -1.0]), np.array([0.0, 0.0])
    yield Case((yp, yt), expected=fn(yp, yt), label="residuals exactly +-delta")
    for _ in range(3):
        n, delta = int(rng.integers(1, 50)), float(rng.uniform(0.2, 3.0))
        yp, yt = rng.normal(scale=3.0, size=n), rng.normal(size=n)
        yield Case((yp, yt), {"delta": delta}, expected=fn(yp, yt, delta=delta),
                   label=f"random n={n}, delta={delta:.2f}", rtol=1e-9)


@register("01.huber", signature="huber(y_pred, y_true, delta=1.0) -> float", time_limit=TIME_LIMIT,
          hint="Quadratic 0.5*r**2 where |r| <= delta, linear delta*(|r| - delta/2) elsewhere; "
               "np.where picks per element; return the mean, and honour the delta argument.")
def _huber(rng: np.random.Generator):
    yield from _huber_cases(rng, L.huber)


@register("01.huber_grad", signature="huber_grad(y_pred, y_true, delta=1.0) -> np.ndarray",
          time_limit=TIME_LIMIT,
          hint="Differentiate each branch: r inside the quadratic zone, +-delta outside. "
               "The loss is a mean, so divide by the number of elements; keep y_pred's shape.")
def _huber_grad(rng: np.random.Generator):
    yield from _huber_cases(rng, L.huber_grad)


@register("01.kl_divergence", signature="kl_divergence(p: np.ndarray, q: np.ndarray) -> float",
          time_limit=TIME_LIMIT,
          hint="Sum p*log(p/q) over each row (last axis), mean over rows; terms where p == 0 "
               "count 0 (mask them, e.g. with np.where, before taking the log).")
def _kl(rng: np.random.Generator):
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[0.5, 0.5], [0.5, 0.5]])
    yield Case((p, q), expected=L.kl_divergence(p, q), label="2 rows")
    p = np.array([[1.0, 0.0, 0.0]])
    q = np.array([[0.7, 0.2, 0.1]])
    yield Case((p, q), expected=float(-np.log(0.7)), label="one-hot p (contains zeros)")
    yield Case((q, q), expected=0.0, label="p equal to q", atol=1e-12)
    for _ in range(3):
        n, k = int(rng.integers(1, 20)), int(rng.integers(2, 8))
        p, q = L.softmax(rng.normal(size=(n, k))), L.softmax(rng.normal(size=(n, k)))
        yield Case((p, q), expected=L.kl_divergence(p, q), label=f"random {n}x{k}", rtol=1e-9)
