"""Self-checks for lesson 02 (gradient descent and optimizers).

References come from :mod:`course_utils.optim` and :mod:`course_utils.losses`.
Every property is produced by the case generators for any seed (fixed cases
do not depend on it, random cases draw their data from ``rng``), so an
instructor test ``check(..., seed=<other>)`` tests the same properties on
other data. The predictable slips get named feedback (:class:`Mistake`):
PyTorch's vs Keras's momentum convention, an exponential-average buffer, the
sign of the update, the learning rate applied twice, a missing or partial bias
correction, epsilon inside the square root or in Keras's position, the step
counter off by one, and the usual off-by-ones of a warm-up + cosine schedule.
``02.train_steps`` (a ``torch.optim`` training loop) imports torch only when it
is checked.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from .. import losses as L
from .. import optim as O
from ._core import Build, Case, Mistake, compare, materialize, register, register_builder, register_probe

TIME_LIMIT = 2.0


def _same(got: Any, alternative: Any, case: Case) -> bool:
    """True when ``got`` equals ``alternative`` within the case's tolerances."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(got, alternative, max(case.rtol, 1e-9), case.atol) is None


def _alt(formula: Callable[..., Any]) -> Callable[[Any, Any, Case], bool]:
    """A detector: the result equals ``formula(*case.args, **case.kwargs)`` (a known wrong formula)."""
    def detect(got, expected, case):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alternative = formula(*case.args, **case.kwargs)
        return _same(got, alternative, case)
    return detect


def _arrays(n_items: int) -> Callable[[Any], str | None]:
    def validator(got):
        if not isinstance(got, tuple) or len(got) != n_items:
            return None  # the value cases say what is wrong with the shape of the result
        for i, item in enumerate(got):
            if not isinstance(item, np.ndarray):
                return (f"item {i} of the result is a {type(item).__name__}, expected a NumPy array "
                        "(build it with NumPy operations on the input arrays)")
        return None
    return validator


# ----------------------------------------------------------------------------- 02.logreg_grad
def _logreg_grad(w, X, y):
    return X.T @ (L.sigmoid(X @ w) - y) / len(y)


@register("02.logreg_grad", signature="logreg_grad(w, X, y) -> np.ndarray  # gradient of the mean BCE",
          time_limit=TIME_LIMIT, returns=np.ndarray, no_loops=True,
          hint="Start from lesson 01: the derivative of the mean binary cross-entropy with respect to each "
               "logit. Then apply the chain rule through the logits X @ w.",
          recipe="Per example, the derivative with respect to the logit is the predicted probability minus "
                 "the target, divided by the number of examples; collecting these into a vector, the "
                 "gradient with respect to w is X transposed times that vector. Compute the probabilities "
                 "with the stable sigmoid of lesson 01.",
          mistakes=(
              Mistake("sum", _alt(lambda w, X, y: X.T @ (L.sigmoid(X @ w) - y)),
                      "your gradient is n = len(y) times too large: the loss is the *mean* over the examples, "
                      "so divide by their number."),
              Mistake("no sigmoid", _alt(lambda w, X, y: X.T @ (X @ w - y) / len(y)),
                      "you used the logits X @ w where the predicted probabilities sigmoid(X @ w) belong."),
              Mistake("y minus p", _alt(lambda w, X, y: X.T @ (y - L.sigmoid(X @ w)) / len(y)),
                      "the sign is flipped: the gradient of the loss uses (probability − target), not "
                      "(target − probability)."),
          ))
def _logreg(rng: np.random.Generator):
    X = np.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]])
    w, y = np.array([0.1, -0.3]), np.array([1.0, 0.0, 1.0])
    yield Case((w, X, y), expected=_logreg_grad(w, X, y), label="3 examples, 2 features")
    w0 = np.zeros(2)
    yield Case((w0, X, y), expected=_logreg_grad(w0, X, y), label="w = 0 (all probabilities 0.5)")
    Xb = np.array([[1.0, 40.0], [1.0, -40.0], [1.0, 20.0]])
    wb, yb = np.array([0.0, 20.0]), np.array([1.0, 0.0, 0.0])
    yield Case((wb, Xb, yb), expected=_logreg_grad(wb, Xb, yb), label="logits of +-800 (a naive sigmoid overflows: use L.sigmoid)",
               atol=1e-12, floating="raise")
    for _ in range(3):
        n, d = int(rng.integers(5, 80)), int(rng.integers(1, 6))
        X, w = rng.normal(size=(n, d)), rng.normal(size=d)
        y = rng.integers(0, 2, size=n).astype(float)
        yield Case((w, X, y), expected=_logreg_grad(w, X, y), label=f"random n={n}, d={d}", rtol=1e-9)


# ----------------------------------------------------------------------------- 02.momentum_step
def _momentum_ref(p, g, buf, lr, momentum):
    return O.momentum_step(p, g, buf, lr, momentum)


@register("02.momentum_step",
          signature="momentum_step(p, g, buf, lr, momentum) -> (new_p, new_buf)  # PyTorch convention",
          time_limit=TIME_LIMIT, returns=tuple, pure=True,
          hint="Two updates in order: first the buffer (from the old buffer and the new gradient), then the "
               "parameters (from the new buffer). Check which of them the learning rate belongs to in "
               "PyTorch's convention.",
          recipe="PyTorch keeps the buffer in gradient units: it decays by the momentum factor and adds the raw "
                 "gradient (no learning rate, no (1 - momentum) factor). The parameters then move against the "
                 "new buffer, scaled by the learning rate. Return both as a tuple of new arrays, leaving the "
                 "inputs unchanged.",
          mistakes=(
              Mistake("keras", _alt(lambda p, g, buf, lr, mu: O.momentum_step(p, g, buf, lr, mu, convention="keras")),
                      "this is Keras's convention (the learning rate inside the buffer, m = mu m - lr g, p + m). "
                      "The exercise asks for PyTorch's: the buffer accumulates raw gradients, and the learning "
                      "rate scales the parameter step."),
              Mistake("ema", _alt(lambda p, g, buf, lr, mu: (p - lr * (mu * buf + (1 - mu) * g),
                                                              mu * buf + (1 - mu) * g)),
                      "your buffer is an exponential moving average, mu buf + (1 - mu) g (Adam's first moment). "
                      "The heavy-ball buffer adds the raw gradient, without the factor (1 - mu)."),
              Mistake("lr twice", _alt(lambda p, g, buf, lr, mu: (p - lr * (mu * buf + lr * g), mu * buf + lr * g)),
                      "the learning rate is applied twice (inside the buffer and again in the parameter step); "
                      "in PyTorch's convention it appears only in the parameter step."),
              Mistake("sign", _alt(lambda p, g, buf, lr, mu: (p + lr * (mu * buf + g), mu * buf + g)),
                      "the parameters move *along* the buffer: gradient descent steps against it (minus sign)."),
              Mistake("minus buffer", _alt(lambda p, g, buf, lr, mu: (p - lr * (mu * buf + g), -(mu * buf + g))),
                      "your parameters are right but the buffer you return has the opposite sign: PyTorch's "
                      "buffer accumulates +gradient (mu buf + g), and the step subtracts lr times it."),
              Mistake("old buffer", _alt(lambda p, g, buf, lr, mu: (p - lr * buf, mu * buf + g)),
                      "the parameter step uses the old buffer; update the buffer first and step with the new one."),
          ))
def _momentum(rng: np.random.Generator):
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    # lr != 1 - momentum, so that an EMA buffer and a doubled learning rate give different wrong values
    yield Case((p, g, np.zeros(2), 0.05, 0.9), expected=_momentum_ref(p, g, np.zeros(2), 0.05, 0.9),
               label="first step (buffer of zeros)")
    buf = np.array([1.0, -1.0])
    yield Case((p, g, buf, 0.05, 0.9), expected=_momentum_ref(p, g, buf, 0.05, 0.9),
               label="buffer from earlier steps")
    yield Case((p, g, buf, 0.5, 0.0), expected=_momentum_ref(p, g, buf, 0.5, 0.0),
               label="momentum=0 is plain SGD")
    yield Case((p, g, buf, 0.05, 0.9), expected=_arrays(2), label="returns NumPy arrays")
    for _ in range(3):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        p, g, buf = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
        lr, mu = float(rng.uniform(0.001, 0.5)), float(rng.uniform(0.5, 0.99))
        yield Case((p, g, buf, lr, mu), expected=_momentum_ref(p, g, buf, lr, mu),
                   label=f"random shape {shape}", rtol=1e-9)


# ----------------------------------------------------------------------------- 02.adam_step
def _adam_ref(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps)


def _adam_variant(kind: str) -> Callable[..., tuple]:
    def f(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        tt = {"t-1": t - 1, "t+1": t + 1}.get(kind, t)
        m2 = beta1 * m + (1 - beta1) * g
        v2 = beta2 * v + (1 - beta2) * g * g
        c1, c2 = 1 - beta1 ** tt, 1 - beta2 ** tt
        if kind == "none":
            return p - lr * m2 / (np.sqrt(v2) + eps), m2, v2
        if kind == "only m":
            return p - lr * (m2 / c1) / (np.sqrt(v2) + eps), m2, v2
        if kind == "inside":
            return p - lr * (m2 / c1) / np.sqrt(v2 / c2 + eps), m2, v2
        if kind == "no sqrt":
            return p - lr * (m2 / c1) / (v2 / c2 + eps), m2, v2
        if kind == "keras eps":
            return p - lr * math.sqrt(c2) / c1 * m2 / (np.sqrt(v2) + eps), m2, v2
        if kind == "hat state":
            return p - lr * (m2 / c1) / (np.sqrt(v2 / c2) + eps), m2 / c1, v2 / c2
        if kind == "sign":
            return p + lr * (m2 / c1) / (np.sqrt(v2 / c2) + eps), m2, v2
        if kind == "lr twice":
            return p - lr * lr * (m2 / c1) / (np.sqrt(v2 / c2) + eps), m2, v2
        return p - lr * (m2 / c1) / (np.sqrt(v2 / c2) + eps), m2, v2  # "t-1", "t+1"
    return f


@register("02.adam_step",
          signature="adam_step(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> (p, m, v)",
          time_limit=TIME_LIMIT, returns=tuple, pure=True,
          hint="Compare your code line by line with the boxed formulas of section 5: the two moving "
               "averages, their bias corrections (which use the step number t), and where epsilon goes.",
          recipe="Order matters: first update m and v from the new gradient; then make bias-corrected "
                 "copies of them, using the step number t (which is already 1 on the first step); the step uses "
                 "the corrected copies, with eps added after the square root. The state you return is the "
                 "uncorrected m and v.",
          mistakes=(
              Mistake("no correction", _alt(_adam_variant("none")),
                      "no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t) before the step."),
              Mistake("only m", _alt(_adam_variant("only m")),
                      "only m is bias-corrected; v needs its correction (1 - beta2**t) too, or the first steps "
                      "are up to ~30 times too large."),
              Mistake("eps inside", _alt(_adam_variant("inside")),
                      "epsilon is inside the square root; PyTorch's form adds it *after* the root: "
                      "sqrt(v_hat) + eps."),
              Mistake("keras eps", _alt(_adam_variant("keras eps")),
                      "you folded the corrections into the learning rate and added eps to sqrt(v) (Keras's "
                      "'epsilon hat' form). That is a different epsilon; PyTorch's form adds eps to sqrt(v_hat)."),
              Mistake("no sqrt", _alt(_adam_variant("no sqrt")),
                      "you divide by v_hat itself; Adam divides by its square root (the RMS of the gradients)."),
              Mistake("hat state", _alt(_adam_variant("hat state")),
                      "you return the bias-corrected m_hat and v_hat as the new state; return the uncorrected "
                      "moving averages (the correction is recomputed from t at every step)."),
              Mistake("t-1", _alt(_adam_variant("t-1")),
                      "the step counter is off by one: t is already 1 on the first step (use beta**t, not "
                      "beta**(t - 1))."),
              Mistake("t+1", _alt(_adam_variant("t+1")),
                      "the step counter is off by one: t is already 1 on the first step (use beta**t, not "
                      "beta**(t + 1))."),
              Mistake("sign", _alt(_adam_variant("sign")),
                      "the parameters move along the gradient: the update subtracts the step."),
              Mistake("lr twice", _alt(_adam_variant("lr twice")),
                      "the learning rate is applied twice."),
          ))
def _adam(rng: np.random.Generator):
    p, g = np.array([1.0, -1.0, 0.5]), np.array([0.2, -0.1, 3.0])
    z = np.zeros(3)
    yield Case((p, g, z, z, 1), expected=_adam_ref(p, g, z, z, 1), label="first step, t=1")
    m, v = np.array([0.1, -0.05, 0.4]), np.array([0.01, 0.02, 0.5])
    yield Case((p, g, m, v, 3), {"lr": 0.01}, expected=_adam_ref(p, g, m, v, 3, lr=0.01), label="t=3, lr=0.01")
    yield Case((p, g, m, v, 2), {"eps": 0.1}, expected=_adam_ref(p, g, m, v, 2, eps=0.1),
               label="large eps=0.1 (where eps goes matters)")
    gs, ms, vs = np.array([2e-3, -1e-3, 5e-4]), np.array([1e-3, -1e-3, 2e-4]), np.array([1e-6, 2e-6, 1e-7])
    yield Case((p, gs, ms, vs, 5), {"eps": 1e-3}, expected=_adam_ref(p, gs, ms, vs, 5, eps=1e-3),
               label="gradients as small as eps (where eps goes matters)", rtol=1e-9)
    yield Case((p, g, m, v, 4), {"beta1": 0.5, "beta2": 0.9}, expected=_adam_ref(p, g, m, v, 4, beta1=0.5, beta2=0.9),
               label="beta1=0.5, beta2=0.9")
    yield Case((p, g, z, z, 1), expected=_arrays(3), label="returns NumPy arrays")
    for _ in range(3):
        shape = (int(rng.integers(1, 8)),)
        p, g = rng.normal(size=shape), rng.normal(size=shape)
        m, v = 0.1 * rng.normal(size=shape), rng.uniform(0.0, 0.1, size=shape)
        t, lr = int(rng.integers(1, 50)), float(rng.uniform(1e-4, 0.1))
        yield Case((p, g, m, v, t), {"lr": lr}, expected=_adam_ref(p, g, m, v, t, lr=lr),
                   label=f"random, t={t}", rtol=1e-9)


# ----------------------------------------------------------------------------- 02.warmup_cosine
def _wc_variant(kind: str) -> Callable[..., float]:
    """A known wrong warm-up + cosine schedule (see the messages in the spec below)."""
    def f(step, lr0, warmup_steps, total_steps, lr_min=0.0):
        W, T = warmup_steps, total_steps
        if step < W:
            if kind == "ramp from lr_min":
                return lr_min + (lr0 - lr_min) * step / W
            if kind == "ramp+1":
                return lr0 * (step + 1) / W
            if kind == "ramp W-1":
                return lr0 * step / (W - 1) if W > 1 else lr0
            return lr0 * step / W
        num = step if kind in ("from 0", "step/T") else step - W
        if kind == "cos+1":
            num += 1
        den = T if kind in ("over T", "step/T") else T - W
        s = num if kind == "no clamp" else min(num, den)
        floor = 0.0 if kind == "no lr_min" else lr_min
        return floor + 0.5 * (lr0 - floor) * (1 + math.cos(math.pi * s / den))
    return f


def _is_float(got):
    return None if math.isfinite(got) else "expected a finite number"


@register("02.warmup_cosine",
          signature="warmup_cosine(step, lr0, warmup_steps, total_steps, lr_min=0.0) -> float",
          time_limit=TIME_LIMIT, returns=float, pure=True,
          hint="Check the three regimes separately at their boundaries: step 0, the last warm-up step, the "
               "first cosine step, total_steps, and beyond.",
          recipe="Warm-up: step 0 gives 0 and the ramp would reach lr0 at step warmup_steps (it is linear in "
                 "step / warmup_steps). From warmup_steps on, measure progress from warmup_steps, as a fraction "
                 "of total_steps - warmup_steps, clipped at 1; the half cosine maps progress 0 to lr0 and 1 to "
                 "lr_min. Return a Python float.",
          mistakes=(
              Mistake("ramp+1", _alt(_wc_variant("ramp+1")),
                      "the warm-up is one step ahead: step 0 must give 0 (the ramp is step / warmup_steps)."),
              Mistake("ramp from lr_min", _alt(_wc_variant("ramp from lr_min")),
                      "your warm-up starts at lr_min; the ramp starts at 0 (lr0 * step / warmup_steps), and "
                      "lr_min is only the end point of the cosine."),
              Mistake("ramp W-1", _alt(_wc_variant("ramp W-1")),
                      "the ramp reaches lr0 one step early: divide by warmup_steps, not warmup_steps - 1."),
              Mistake("step/T", _alt(_wc_variant("step/T")),
                      "your cosine uses step / total_steps; measure its progress from warmup_steps, as a "
                      "fraction of the remaining total_steps - warmup_steps steps."),
              Mistake("over T", _alt(_wc_variant("over T")),
                      "the cosine runs over total_steps; it must run over the remaining total_steps - warmup_steps "
                      "steps (it reaches lr_min exactly at total_steps)."),
              Mistake("from 0", _alt(_wc_variant("from 0")),
                      "the cosine's progress starts counting at step 0; it must start at warmup_steps "
                      "(so the first cosine step gives exactly lr0)."),
              Mistake("cos+1", _alt(_wc_variant("cos+1")),
                      "the cosine is one step ahead: at step == warmup_steps the rate must be exactly lr0."),
              Mistake("no clamp", _alt(_wc_variant("no clamp")),
                      "after total_steps the rate must stay at lr_min; your cosine comes back up (clip the "
                      "progress at 1)."),
              Mistake("no lr_min", _alt(_wc_variant("no lr_min")),
                      "lr_min is ignored: the cosine must end at lr_min, not at 0."),
          ))
def _warmup(rng: np.random.Generator):
    for step in (0, 5, 9, 10, 55, 100, 150):
        yield Case((step, 0.1, 10, 100), expected=O.warmup_cosine(step, 0.1, 10, 100), label=f"step {step}",
                   atol=1e-12)
    yield Case((60, 1.0, 20, 100), {"lr_min": 0.1}, expected=O.warmup_cosine(60, 1.0, 20, 100, 0.1),
               label="lr_min=0.1", atol=1e-12)
    yield Case((10, 1.0, 20, 100), {"lr_min": 0.1}, expected=O.warmup_cosine(10, 1.0, 20, 100, 0.1),
               label="lr_min=0.1 during the warm-up (the ramp starts at 0)", atol=1e-12)
    yield Case((130, 1.0, 20, 100), {"lr_min": 0.1}, expected=O.warmup_cosine(130, 1.0, 20, 100, 0.1),
               label="lr_min=0.1 after total_steps", atol=1e-12)
    yield Case((3, 0.5, 0, 10), expected=O.warmup_cosine(3, 0.5, 0, 10), label="no warm-up", atol=1e-12)
    yield Case((7, 0.1, 10, 100), expected=_is_float, label="returns one number")
    for _ in range(3):
        total = int(rng.integers(20, 500))
        warm = int(rng.integers(1, total // 2))
        step = int(rng.integers(0, total + 10))
        lr0 = float(rng.uniform(1e-4, 1.0))
        yield Case((step, lr0, warm, total), expected=O.warmup_cosine(step, lr0, warm, total),
                   label=f"random step={step}, warm-up={warm}, total={total}", atol=1e-12)
    # drawn after the cases above, so that their data stay the same for a given seed
    for _ in range(2):
        total = int(rng.integers(20, 500))
        warm = int(rng.integers(1, total // 2))
        step = int(rng.integers(0, total + 10))
        lr0 = float(rng.uniform(0.1, 1.0))
        lr_min = float(rng.uniform(0.01, 0.5)) * lr0
        yield Case((step, lr0, warm, total), {"lr_min": lr_min},
                   expected=O.warmup_cosine(step, lr0, warm, total, lr_min),
                   label=f"random with lr_min: step={step}, warm-up={warm}, total={total}", atol=1e-12)


# ----------------------------------------------------------------------------- 02.train_steps (torch)
_TORCH_OPTIMIZERS = ("SGD", "SGD with momentum", "Adam", "AdamW")


def _bce_mean(z: np.ndarray, y: np.ndarray, reduce: str = "mean") -> float:
    per = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(per.sum() if reduce == "sum" else per.mean())


def _simulate(kind: str, hp: dict, W0: np.ndarray, b0: np.ndarray, X: np.ndarray, y: np.ndarray,
              batches: list, mode: str = "ok", final: dict | None = None) -> list[float]:
    """Losses of the reference training loop (NumPy, ``course_utils.optim`` in torch's convention).

    ``mode`` simulates a predictable mistake: ``"accumulate"`` (no zero_grad), ``"nostep"`` (the
    parameters never change), ``"sum"`` (reduction="sum"), ``"full"`` (the loss on all of X, not the batch).
    ``final``, when given, receives the parameters after the last update (``"weight"``, ``"bias"``).
    """
    W, b = W0.astype(float).copy(), b0.astype(float).copy()
    if kind == "SGD":
        opt = O.SGD(hp["lr"])
    elif kind == "SGD with momentum":
        opt = O.SGD(hp["lr"], momentum=hp["momentum"])
    elif kind == "Adam":
        opt = O.Adam(hp["lr"])
    else:
        opt = O.AdamW(hp["lr"], weight_decay=hp["weight_decay"])
    acc_W, acc_b = np.zeros_like(W), np.zeros_like(b)
    losses = []
    for idx in batches:
        Xb, yb = (X, y) if mode == "full" else (X[idx], y[idx])
        z = Xb @ W[0] + b[0]
        losses.append(_bce_mean(z, yb, "sum" if mode == "sum" else "mean"))
        dz = L.sigmoid(z) - yb
        if mode != "sum":
            dz = dz / len(yb)
        gW, gb = dz[None, :] @ Xb, np.array([dz.sum()])
        if mode == "accumulate":
            acc_W, acc_b = acc_W + gW, acc_b + gb
            gW, gb = acc_W.copy(), acc_b.copy()
        if mode != "nostep":
            opt.step([W, b], [gW, gb])
    if final is not None:
        final.update(weight=W.copy(), bias=b.copy())
    return losses


@register_builder("02.linear")
def _build_linear(W0, b0):
    """The case's ``torch.nn.Linear(d, 1)`` in float64 with the given weights."""
    import torch

    model = torch.nn.Linear(W0.shape[1], 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(np.asarray(W0, dtype=np.float64)))
        model.bias.copy_(torch.from_numpy(np.asarray(b0, dtype=np.float64)))
    return model


@register_builder("02.optimizer", previous=True)
def _build_optimizer(kind, hp, previous=()):
    """The case's ``torch.optim`` optimizer over the parameters of the model made as the argument before it."""
    import torch

    model = previous[-1] if previous else None
    if not isinstance(model, torch.nn.Module):
        raise RuntimeError("the optimizer of 02.train_steps is made right after its model argument")
    params = model.parameters()
    if kind == "SGD":
        return torch.optim.SGD(params, lr=hp["lr"])
    if kind == "SGD with momentum":
        return torch.optim.SGD(params, lr=hp["lr"], momentum=hp["momentum"])
    if kind == "Adam":
        return torch.optim.Adam(params, lr=hp["lr"])
    return torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])


#: Losses observed at most (a longer list is only counted: its length is already wrong).
_MAX_LOSSES = 10_000


@register_probe("02.trained_linear")
def _trained_linear(got: Any, args: tuple, kwargs: dict) -> dict:
    """Observations of ``02.train_steps``, made where the answer ran: the list it returned (its length, each
    item's value when it is a float, else its type as ``module.Name``) and the model's parameters after the
    call (``args[0]`` was trained in place). The model and the optimizer never leave."""
    items = list(got[:_MAX_LOSSES])
    kinds = [None if isinstance(v, (float, np.floating)) else f"{type(v).__module__}.{type(v).__name__}"
             for v in items]
    obs: dict = {"n": len(got), "kinds": kinds,
                 "losses": [float(v) if k is None else None for v, k in zip(items, kinds)],
                 "params": None, "params_problem": None}
    try:
        model = args[0]
        obs["params"] = {"weight": model.weight.detach().cpu().double().numpy().copy(),
                         "bias": model.bias.detach().cpu().double().numpy().copy()}
    except Exception as exc:  # noqa: BLE001 - the learner's model: reported, not raised
        obs["params_problem"] = (f"the model's parameters could not be read after the call "
                                 f"({type(exc).__name__}: {str(exc)[:200]})")
    return obs


def _observed_losses(obs: Any) -> list:
    """The observed losses when every item was a float (the detectors judge nothing else), else []."""
    if not isinstance(obs, dict) or any(k is not None for k in obs.get("kinds", [None])):
        return []
    return list(obs.get("losses") or [])


def _train_case(rng: np.random.Generator, kind: str):
    import torch

    n, d = int(rng.integers(20, 60)), int(rng.integers(2, 6))
    steps, bs = int(rng.integers(5, 9)), int(rng.integers(4, 12))
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(float)
    W0, b0 = 0.3 * rng.normal(size=(1, d)), 0.3 * rng.normal(size=1)
    batches = [np.sort(rng.choice(n, bs, replace=False)) for _ in range(steps)]
    hp = {"SGD": {"lr": float(rng.uniform(0.2, 1.0))},
          "SGD with momentum": {"lr": float(rng.uniform(0.05, 0.5)), "momentum": 0.9},
          "Adam": {"lr": float(rng.uniform(0.01, 0.1))},
          "AdamW": {"lr": float(rng.uniform(0.01, 0.1)), "weight_decay": float(rng.uniform(0.05, 0.5))}}[kind]

    model = Build("02.linear", {"W0": W0, "b0": b0})
    optimizer = Build("02.optimizer", {"kind": kind, "hp": dict(hp)})
    # feedback shows them as before, as the objects themselves print
    made = materialize((model, optimizer))
    model, optimizer = (Build(b.name, b.data, repr(obj)) for b, obj in zip((model, optimizer), made))
    args = (model, optimizer, torch.from_numpy(X), torch.from_numpy(y), [torch.from_numpy(i) for i in batches])
    final: dict = {}
    expected = _simulate(kind, hp, W0, b0, X, y, batches, final=final)
    alternatives = {mode: _simulate(kind, hp, W0, b0, X, y, batches, mode)
                    for mode in ("accumulate", "nostep", "sum", "full")}

    def validator(obs):
        """The verdict on the observations of ``02.trained_linear``, the same in a learner's kernel and in
        the grader: the losses, then the model's parameters after the call."""
        if obs["n"] != len(expected):
            return f"expected {len(expected)} losses (one per batch), got {obs['n']}"
        for i, kind_of in enumerate(obs["kinds"]):
            if kind_of is not None:
                return (f"item {i} of the list is a {kind_of}, expected a Python float (use loss.item())")
        got = obs["losses"]
        if not _close(got, expected):
            first = int(np.argmax(~np.isclose(got, expected, rtol=1e-8, atol=1e-10)))
            return (f"the losses differ from the reference optimizer's from step {first + 1} on: expected "
                    f"{np.round(expected, 6).tolist()}, got {np.round(np.asarray(got, dtype=float), 6).tolist()}")
        if obs["params_problem"]:
            return obs["params_problem"]
        if not isinstance(obs["params"], dict):
            return "the model's parameters after the call were not observed"
        for name in ("weight", "bias"):
            g = np.asarray(obs["params"][name], dtype=float)
            want = final[name]
            if g.shape != want.shape or not np.allclose(g, want, rtol=1e-7, atol=1e-9):
                diff = float(np.max(np.abs(g - want))) if g.shape == want.shape else float("nan")
                return (f"the losses are right but the model's {name} after the call differs from the reference "
                        f"optimizer's after the last update (by up to {diff:.3g}): every batch's update, the last "
                        "one included, must be applied to the model that was passed in")
        return None

    # read by the spec's Mistake detectors (named feedback in place of the generic hint)
    validator.reference, validator.alternatives = expected, alternatives

    label = {"SGD": "torch.optim.SGD", "SGD with momentum": "torch.optim.SGD with momentum 0.9",
             "Adam": "torch.optim.Adam", "AdamW": "torch.optim.AdamW (decoupled weight decay)"}[kind]
    return Case(args, expected=validator, label=f"{label}, {steps} steps on batches of {bs}", probe=_TRAINED)


_TRAINED = ("02.trained_linear", {})


def _close(got, values) -> bool:
    """True when ``got`` is a list of numbers equal to ``values`` (the train_steps tolerances)."""
    return (len(got) == len(values) and all(isinstance(v, (float, np.floating)) for v in got)
            and bool(np.allclose(got, values, rtol=1e-8, atol=1e-10)))


def _train_alt(mode: str) -> Callable[[Any, Any, Case], bool]:
    """A detector: the losses equal the reference loop's with the mistake ``mode`` (see :func:`_simulate`)."""
    def detect(got, expected, case):
        return _close(_observed_losses(got), expected.alternatives[mode])
    return detect


def _late(got, expected, case) -> bool:
    """A detector: every loss is the one of the step before (recorded after the update)."""
    ref = expected.reference
    got = _observed_losses(got)
    return (len(got) == len(ref) and not _close(got[:1], ref[:1]) and _close(got[1:], ref[:-1]))


_TRAIN_MISTAKES = (
    Mistake("late", _late, "each loss is recorded one step late (compute it before the update)."),
    Mistake("accumulate", _train_alt("accumulate"),
            "the gradients accumulate from step to step: clear them before each backward() "
            "(optimizer.zero_grad() or model.zero_grad())."),
    Mistake("nostep", _train_alt("nostep"),
            "the parameters never change: optimizer.step() is missing, or the gradients are cleared "
            "between backward() and step()."),
    Mistake("sum", _train_alt("sum"), "your losses are sums over the batch: the loss is the *mean* binary "
                                      "cross-entropy."),
    Mistake("full", _train_alt("full"),
            "your losses are computed on all of X and y; each step uses only the batch X[idx], y[idx]."),
)


@register("02.train_steps",
          signature="train_steps(model, optimizer, X, y, batches) -> list[float]  # losses before each update",
          time_limit=10.0, returns=list, pure=False, mistakes=_TRAIN_MISTAKES,
          hint="One iteration per batch: clear the gradients, compute the mean BCE of the batch's logits, "
               "back-propagate, update. Check the shapes: model(X[idx]) has a trailing axis of size 1.",
          recipe="The four moves of section 9, in order, once per batch: clear the gradients, compute the "
                 "loss, back-propagate it, let the optimizer update. torch.nn.functional has a binary "
                 "cross-entropy that takes logits (its default reduction is the mean); the logits must have "
                 "the targets' shape. Record the loss's value as a Python float before moving on.")
def _train(rng: np.random.Generator):
    for kind in _TORCH_OPTIMIZERS:
        yield _train_case(rng, kind)
