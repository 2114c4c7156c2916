"""Self-checks for lesson 02 (gradient descent and optimizers).

References come from :mod:`course_utils.optim` and :mod:`course_utils.losses`;
the fixed cases are chosen so that the usual slips (Keras's momentum form
instead of PyTorch's, a missing bias correction, epsilon inside the square
root, an off-by-one in the warm-up) give a visibly wrong value.
"""
from __future__ import annotations

import math

import numpy as np

from .. import losses as L
from .. import optim as O
from ._core import Case, register

TIME_LIMIT = 2.0


def _logreg_grad(w, X, y):
    return X.T @ (L.sigmoid(X @ w) - y) / len(y)


@register("02.logreg_grad", signature="logreg_grad(w, X, y) -> np.ndarray  # gradient of the mean BCE",
          time_limit=TIME_LIMIT,
          hint="The loss is the mean binary cross-entropy of the logits X @ w. Chain rule: the derivative "
               "with respect to each logit is (sigmoid - target) / n; then map it back through X.")
def _logreg(rng: np.random.Generator):
    X = np.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]])
    w, y = np.array([0.1, -0.3]), np.array([1.0, 0.0, 1.0])
    yield Case((w, X, y), expected=_logreg_grad(w, X, y), label="3 examples, 2 features")
    w0 = np.zeros(2)
    yield Case((w0, X, y), expected=_logreg_grad(w0, X, y), label="w = 0 (all probabilities 0.5)")
    Xb = np.array([[1.0, 40.0], [1.0, -40.0]])
    wb, yb = np.array([0.0, 20.0]), np.array([1.0, 0.0])
    yield Case((wb, Xb, yb), expected=_logreg_grad(wb, Xb, yb), label="logits of +-800", atol=1e-12)
    for _ in range(3):
        n, d = int(rng.integers(5, 80)), int(rng.integers(1, 6))
        X, w = rng.normal(size=(n, d)), rng.normal(size=d)
        y = rng.integers(0, 2, size=n).astype(float)
        yield Case((w, X, y), expected=_logreg_grad(w, X, y), label=f"random n={n}, d={d}", rtol=1e-9)


@register("02.momentum_step",
          signature="momentum_step(p, g, buf, lr, momentum) -> (new_p, new_buf)  # PyTorch convention",
          time_limit=TIME_LIMIT,
          hint="PyTorch's form: the buffer decays by the momentum factor and accumulates raw gradients (no "
               "learning rate inside it); the parameter then moves against the new buffer, scaled by the "
               "learning rate. Return both, as a tuple.")
def _momentum(rng: np.random.Generator):
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    yield Case((p, g, np.zeros(2), 0.1, 0.9), expected=O.momentum_step(p, g, np.zeros(2), 0.1, 0.9),
               label="first step (buffer of zeros)")
    buf = np.array([1.0, -1.0])
    yield Case((p, g, buf, 0.1, 0.9), expected=O.momentum_step(p, g, buf, 0.1, 0.9),
               label="buffer from earlier steps")
    yield Case((p, g, buf, 0.5, 0.0), expected=O.momentum_step(p, g, buf, 0.5, 0.0),
               label="momentum=0 is plain SGD")
    for _ in range(3):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        p, g, buf = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
        lr, mu = float(rng.uniform(0.001, 0.5)), float(rng.uniform(0.5, 0.99))
        yield Case((p, g, buf, lr, mu), expected=O.momentum_step(p, g, buf, lr, mu),
                   label=f"random shape {shape}", rtol=1e-9)


@register("02.adam_step",
          signature="adam_step(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> (p, m, v)",
          time_limit=TIME_LIMIT,
          hint="Update both moments first, then bias-correct them with the step number t (t=1 on the "
               "first step), and add eps to the square root of the corrected second moment. "
               "Return the new p, m and v.")
def _adam(rng: np.random.Generator):
    def ref(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        return O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps)

    p, g = np.array([1.0, -1.0, 0.5]), np.array([0.2, -0.1, 3.0])
    z = np.zeros(3)
    yield Case((p, g, z, z, 1), expected=ref(p, g, z, z, 1), label="first step, t=1")
    m, v = np.array([0.1, -0.05, 0.4]), np.array([0.01, 0.02, 0.5])
    yield Case((p, g, m, v, 3), {"lr": 0.01}, expected=ref(p, g, m, v, 3, lr=0.01), label="t=3, lr=0.01")
    yield Case((p, g, m, v, 2), {"eps": 0.1}, expected=ref(p, g, m, v, 2, eps=0.1),
               label="large eps=0.1 (where eps goes matters)")
    yield Case((p, g, m, v, 4), {"beta1": 0.5, "beta2": 0.9}, expected=ref(p, g, m, v, 4, beta1=0.5, beta2=0.9),
               label="beta1=0.5, beta2=0.9")
    for _ in range(3):
        shape = (int(rng.integers(1, 8)),)
        p, g = rng.normal(size=shape), rng.normal(size=shape)
        m, v = 0.1 * rng.normal(size=shape), rng.uniform(0.0, 0.1, size=shape)
        t, lr = int(rng.integers(1, 50)), float(rng.uniform(1e-4, 0.1))
        yield Case((p, g, m, v, t), {"lr": lr}, expected=ref(p, g, m, v, t, lr=lr),
                   label=f"random, t={t}", rtol=1e-9)


def _warmup_cosine(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    return O.warmup_cosine_lr(lr0, warmup_steps, total_steps, lr_min)(step)


@register("02.warmup_cosine",
          signature="warmup_cosine(step, lr0, warmup_steps, total_steps, lr_min=0.0) -> float",
          time_limit=TIME_LIMIT,
          hint="Steps 0..warmup_steps-1 ramp linearly from 0 towards lr0 (step 0 gives 0); from "
               "warmup_steps on, a half cosine goes from lr0 to lr_min over total_steps - warmup_steps "
               "steps; after total_steps the rate stays at lr_min.")
def _warmup(rng: np.random.Generator):
    for step in (0, 5, 10, 55, 100, 150):
        yield Case((step, 0.1, 10, 100), expected=_warmup_cosine(step, 0.1, 10, 100), label=f"step {step}",
                   atol=1e-12)
    yield Case((60, 1.0, 20, 100), {"lr_min": 0.1}, expected=_warmup_cosine(60, 1.0, 20, 100, 0.1),
               label="lr_min=0.1", atol=1e-12)
    yield Case((3, 0.5, 0, 10), expected=_warmup_cosine(3, 0.5, 0, 10), label="no warm-up", atol=1e-12)
    for _ in range(3):
        total = int(rng.integers(20, 500))
        warm = int(rng.integers(1, total // 2))
        step = int(rng.integers(0, total + 10))
        lr0 = float(rng.uniform(1e-4, 1.0))
        yield Case((step, lr0, warm, total), expected=_warmup_cosine(step, lr0, warm, total),
                   label=f"random step={step}, warm-up={warm}, total={total}", atol=1e-12)

    def is_float(got):
        if isinstance(got, (np.ndarray, list, tuple)) and np.ndim(got) != 0:
            return f"expected a single number, got {type(got).__name__} of shape {np.shape(got)}"
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        return None if math.isfinite(value) else "expected a finite number"

    yield Case((7, 0.1, 10, 100), expected=is_float, label="returns one number")
