"""Self-checks for lesson 01 (loss functions).

Every check compares with the reference implementations in :mod:`course_utils.losses` on fixed cases
(including the extreme inputs that break naive formulas) and on random cases drawn from the check's seeded
generator, so an instructor test (the same check with another seed) enforces exactly the same properties.
The references use the numerically stable forms (log-sum-exp, ``max(z, 0) - z y + log1p(exp(-|z|))``,
``log p - log q``), and tolerances are relative to the data's scale.

``01.two_task_loss`` is the PyTorch exercise: its cases are torch tensors (torch is imported when that
check runs, never when this module is imported), and it checks behaviour: the value against the NumPy
references and the gradients that autograd produces against the hand-derived ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import losses as L
from ._core import Case, Mistake, register

TIME_LIMIT = 2.0
SCALAR = (float, np.floating)


def _close(got: Any, value: Any, rtol: float = 1e-7, atol: float = 1e-10) -> bool:
    g, v = np.asarray(got, dtype=float), np.asarray(value, dtype=float)
    return g.shape == v.shape and bool(np.all(np.isfinite(v))) and bool(np.allclose(g, v, rtol=rtol, atol=atol))


def _not_expected(got: Any, expected: Any) -> bool:
    return not _close(got, expected, 1e-9, 1e-12)


def _args(case: Case, names: tuple[str, ...], defaults: dict) -> dict:
    """The case's arguments by name (positional args first, then keyword args, then defaults)."""
    out = dict(defaults)
    out.update(zip(names, case.args))
    out.update(case.kwargs)
    return out


# ----------------------------------------------------------------------------- 01.huber, 01.huber_grad
def _huber_cases(rng: np.random.Generator, fn):
    yp, yt = np.array([0.5, 3.0, -2.0]), np.array([0.0, 0.0, 0.0])
    yield Case((yp, yt), expected=fn(yp, yt), label="residuals 0.5, 3, -2; delta=1")
    yield Case((yp, yt), {"delta": 2.5}, expected=fn(yp, yt, delta=2.5), label="delta=2.5")
    yp, yt = np.array([1.0, -1.0, 0.25]), np.array([0.0, 0.0, 0.0])
    yield Case((yp, yt), expected=fn(yp, yt), label="residuals exactly +-delta")
    yp, yt = np.array([[0.2, -4.0, 1.5], [3.0, -0.1, 0.0]]), np.array([[0.0, 0.0, 0.5], [0.0, 0.3, 0.0]])
    yield Case((yp, yt), {"delta": 0.5}, expected=fn(yp, yt, delta=0.5), label="2-D arrays (mean over all elements)")
    for _ in range(3):
        n, delta = int(rng.integers(3, 50)), float(rng.uniform(0.2, 3.0))
        shape = (n,) if rng.random() < 0.5 else (n, int(rng.integers(2, 4)))
        yp, yt = rng.normal(scale=3.0, size=shape), rng.normal(size=shape)
        yield Case((yp, yt), {"delta": delta}, expected=fn(yp, yt, delta=delta),
                   label=f"random {'x'.join(map(str, shape))}, delta={delta:.2f}", rtol=1e-9, atol=1e-12)


def _huber_variant(kind: str):
    """A predictable wrong version of the Huber loss (``kind``), as a function of the case."""
    def value(case: Case, grad: bool):
        a = _args(case, ("y_pred", "y_true", "delta"), {"delta": 1.0})
        r = np.asarray(a["y_pred"], float) - np.asarray(a["y_true"], float)
        d = float(a["delta"])
        inside = np.abs(r) <= d
        if kind == "no_half":
            v = np.where(inside, r ** 2, d * (np.abs(r) - 0.5 * d))
            g = np.where(inside, 2 * r, d * np.sign(r))
        elif kind == "no_shift":
            v = np.where(inside, 0.5 * r ** 2, d * np.abs(r))
            g = np.clip(r, -d, d)
        elif kind == "shift_half":     # delta * (|r| - 1/2): the shift without its delta
            v = np.where(inside, 0.5 * r ** 2, d * (np.abs(r) - 0.5))
            g = None
        elif kind == "delta_ignored":
            v = np.where(np.abs(r) <= 1.0, 0.5 * r ** 2, np.abs(r) - 0.5)
            g = np.clip(r, -1.0, 1.0)
        elif kind == "sign_outside":
            v = None
            g = np.where(inside, r, np.sign(r))
        elif kind == "delta_times":
            v = None
            g = d * np.clip(r, -1.0, 1.0)
        elif kind == "sum":
            v, g = np.where(inside, 0.5 * r ** 2, d * (np.abs(r) - 0.5 * d)) * r.size, np.clip(r, -d, d) * r.size
        else:  # pragma: no cover - programming error
            raise ValueError(kind)
        if grad:
            return None if g is None else g / r.size
        return None if v is None else float(np.mean(v))
    return value


def _huber_mistake(kind: str, grad: bool, message: str) -> Mistake:
    variant = _huber_variant(kind)

    def detect(got, expected, case):
        wrong = variant(case, grad)
        return wrong is not None and _not_expected(wrong, expected) and _close(got, wrong)
    return Mistake(kind, detect, message)


_DELTA_IGNORED = ("your result matches delta = 1 although this case passes another delta: use the delta "
                  "argument everywhere (in the condition and in both branches).")
_SUM = ("your result is the number of elements times the expected one: a sum where the mean is needed "
        "(for 2-D inputs the mean runs over all elements).")


@register("01.huber", signature="huber(y_pred, y_true, delta=1.0) -> float", time_limit=TIME_LIMIT,
          returns=SCALAR, no_loops=True,
          hint="Compare your formula with the two branches of h_delta in section 2 at the failing residuals, and "
               "check that the result is a mean.",
          recipe="Take a = |y_pred - y_true| element-wise, pick per element between the quadratic branch "
                 "(|r| <= delta) and the linear branch with np.where, and average with np.mean; use the delta "
                 "argument in the condition and in both branches.",
          mistakes=[
              _huber_mistake("no_half", False, "the quadratic branch is missing its factor 1/2 (it is r**2 / 2)."),
              _huber_mistake("no_shift", False, "the linear branch is missing its shift: it is delta*(|r| - delta/2), "
                                                "which makes both branches meet at |r| = delta."),
              _huber_mistake("shift_half", False, "the linear branch's shift is delta/2, not 1/2: it is "
                                                  "delta*(|r| - delta/2), so that both branches equal delta**2/2 "
                                                  "at |r| = delta."),
              _huber_mistake("delta_ignored", False, _DELTA_IGNORED),
              _huber_mistake("sum", False, _SUM),
          ])
def _huber(rng: np.random.Generator):
    yield from _huber_cases(rng, L.huber)


@register("01.huber_grad", signature="huber_grad(y_pred, y_true, delta=1.0) -> np.ndarray  # shape of y_pred",
          time_limit=TIME_LIMIT, returns=np.ndarray, no_loops=True,
          hint="Differentiate each branch of h_delta with respect to the prediction, and remember that the loss "
               "is a mean over all elements.",
          recipe="Inside |r| <= delta the derivative of r**2/2 is r; outside, the derivative of delta*(|r| - "
                 "delta/2) is delta times the sign of r. Section 2 writes both cases as one function of r (find "
                 "the NumPy function that does it); then apply the mean's 1/N, with N the number of elements "
                 "(all of them, also for 2-D inputs), and keep y_pred's shape.",
          mistakes=[
              _huber_mistake("sign_outside", True, "outside |r| <= delta the slope is delta * sign(r), not sign(r) "
                                                   "(the derivative of delta*(|r| - delta/2))."),
              _huber_mistake("delta_times", True, "delta is in the wrong place: clip r itself to [-delta, delta]; "
                                                  "delta * clip(r, -1, 1) scales the quadratic zone's slope too."),
              _huber_mistake("no_half", True, "the slope inside is r (the derivative of r**2/2), not 2r."),
              _huber_mistake("delta_ignored", True, _DELTA_IGNORED),
              _huber_mistake("sum", True, "your gradient is the number of elements times the expected one: "
                                          "the loss is a mean, so divide by the number of elements."),
          ])
def _huber_grad(rng: np.random.Generator):
    yield from _huber_cases(rng, L.huber_grad)


# ----------------------------------------------------------------------------- 01.bce_with_logits
def _bce_sign_mistake(got, expected, case):
    z, y = (np.asarray(a, float) for a in case.args)
    wrong = float(np.mean(np.maximum(z, 0) + z * y + np.log1p(np.exp(-np.abs(z)))))
    return _not_expected(wrong, expected) and _close(got, wrong)


def _bce_no_max(got, expected, case):
    z, y = (np.asarray(a, float) for a in case.args)
    wrong = float(np.mean(-z * y + np.log1p(np.exp(-np.abs(z)))))
    return _not_expected(wrong, expected) and _close(got, wrong)


def _bce_capped(got, expected, case):
    """A finite loss far below the true one on logits of hundreds: clipped probabilities (or logits)."""
    z = np.asarray(case.args[0], float)
    g = float(np.asarray(got, float))
    return bool(np.max(np.abs(z)) > 100) and np.isfinite(g) and g < 0.5 * float(expected)


def _bce_hard_only(got, expected, case):
    """A per-label choice between the two branches: right for 0/1 labels, wrong for soft targets."""
    z, y = (np.asarray(a, float) for a in case.args)
    wrong = float(np.mean(np.where(y == 1, np.logaddexp(0, -z), np.logaddexp(0, z))))
    return bool(np.any((y > 0) & (y < 1))) and _not_expected(wrong, expected) and _close(got, wrong)


def _bce_labels_swapped(got, expected, case):
    z, y = (np.asarray(a, float) for a in case.args)
    return _close(got, L.bce_with_logits(z, 1 - y)) and _not_expected(L.bce_with_logits(z, 1 - y), expected)


@register("01.bce_with_logits", signature="bce_with_logits(z: np.ndarray, y: np.ndarray) -> float",
          time_limit=TIME_LIMIT, returns=SCALAR, no_loops=True,
          hint="Write the loss in terms of z directly (section 4), in a form whose exp never sees a large "
               "positive number, and return the mean over all elements. (Choosing between two formulas per element "
               "with a where-function still evaluates both formulas on every element.)",
          recipe="Use the boxed form of section 4: max(z, 0) - z*y + log(1 + exp(-|z|)), with np.maximum, np.abs "
                 "and np.log1p; then average with np.mean.",
          mistakes=[
              Mistake("sign_zy", _bce_sign_mistake, "the z*y term has the wrong sign: the loss is "
                                                    "max(z, 0) - z*y + log(1 + exp(-|z|))."),
              Mistake("labels_swapped", _bce_labels_swapped, "your result is the loss for the opposite labels "
                                                             "1 - y: the term with y belongs to log(sigmoid(z))."),
              Mistake("hard_only", _bce_hard_only, "your loss chooses a branch per label (y == 1 or not), which is "
                                                   "right only for 0/1 labels: with soft targets y in [0, 1] both "
                                                   "terms count, weighted by y and 1 - y."),
              Mistake("no_max", _bce_no_max, "the max(z, 0) term is missing: log(1 + exp(z)) = max(z, 0) + "
                                             "log(1 + exp(-|z|)), and the loss is that minus z*y."),
              Mistake("capped", _bce_capped, "on logits of hundreds your loss is far too small: clipping the "
                                             "probabilities (or the logits) caps the loss of a confidently wrong "
                                             "prediction, whose true loss is about |z|. Compute from the logits "
                                             "without clipping."),
          ])
def _bce(rng: np.random.Generator):
    z, y = np.array([0.0, 2.0, -1.0]), np.array([1.0, 1.0, 0.0])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="3 examples", floating="raise")
    z, y = np.array([800.0, -800.0, 800.0, -800.0]), np.array([1.0, 0.0, 0.0, 1.0])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="logits of +-800 (sigmoid rounds to 0 or 1)",
               floating="raise")
    z, y = np.array([1.5, -0.5, 3.0]), np.array([0.3, 0.8, 0.5])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="soft targets", floating="raise")
    z, y = np.array([[2.0, -3.0], [0.5, 40.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    yield Case((z, y), expected=L.bce_with_logits(z, y), label="2-D arrays (mean over all elements)",
               floating="raise")
    for _ in range(3):
        n = int(rng.integers(3, 60))
        z = rng.normal(scale=float(rng.choice([1.0, 40.0, 1000.0])), size=n)
        y = rng.integers(0, 2, size=n).astype(float) if rng.random() < 0.7 else rng.uniform(0, 1, size=n)
        yield Case((z, y), expected=L.bce_with_logits(z, y), label=f"random n={n}", rtol=1e-9, atol=1e-12,
                   floating="raise")


# ----------------------------------------------------------------------------- 01.logsumexp
def _lse_axis0(got, expected, case):
    z = np.asarray(case.args[0], float)
    return _close(got, L.logsumexp(z, axis=0)) and _not_expected(L.logsumexp(z, axis=0), expected)


def _lse_kept_axis(got, expected, case):
    g, e = np.asarray(got, float), np.asarray(expected, float)
    return g.shape == e.shape + (1,) and _close(g[..., 0], e)


def _lse_squeezed_all(got, expected, case):
    g, e = np.asarray(got, float), np.asarray(expected, float)
    return g.ndim == 0 and e.shape == (1,) and _close(g.reshape(1), e)


def _lse_no_max_back(got, expected, case):
    z = np.asarray(case.args[0], float)
    m = z.max(axis=-1)
    return _not_expected(expected - m, expected) and _close(got, expected - m)


@register("01.logsumexp", signature="logsumexp(z: np.ndarray) -> np.ndarray  # z of shape (n, K) -> (n,)",
          time_limit=TIME_LIMIT, returns=np.ndarray, no_loops=True,
          hint="exp overflows beyond about 709: use the shift-invariance of section 5 so that every exponent "
               "is <= 0, one value per row.",
          recipe="Take each row's maximum m (axis=-1, keepdims=True so it broadcasts against z), compute "
                 "m + log(sum(exp(z - m))) over the last axis, and return shape (n,), e.g. by dropping the kept "
                 "axis.",
          mistakes=[Mistake("axis0", _lse_axis0, "you reduced over the columns (axis 0): the log-sum-exp runs "
                                                 "over each row, the last axis (one value per example)."),
                    Mistake("kept_axis", _lse_kept_axis, "the numbers are right but the reduced axis is still "
                                                         "there: drop it at the end (e.g. [:, 0] or np.squeeze(..., "
                                                         "axis=-1)) so that the result has shape (n,)."),
                    Mistake("squeezed_all", _lse_squeezed_all, "with a single row (n = 1) your result lost the n "
                                                               "axis too: a squeeze without an axis drops every "
                                                               "axis of length 1. Drop only the last one (axis=-1, "
                                                               "or [:, 0]) so that the result has shape (n,)."),
                    Mistake("no_max_back", _lse_no_max_back, "each value is short by its row's maximum m: after "
                                                             "shifting by m, add m back (log-sum-exp(z) = m + "
                                                             "log-sum-exp(z - m)).")])
def _logsumexp(rng: np.random.Generator):
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    yield Case((z,), expected=L.logsumexp(z, axis=-1), label="2 rows of 3", floating="raise")
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])
    yield Case((big,), expected=L.logsumexp(big, axis=-1), label="huge and tiny logits (naive exp overflows)",
               floating="raise")
    sq = np.array([[0.0, 5.0, -1.0], [2.0, 2.0, 2.0], [-3.0, 0.5, 1.0]])
    yield Case((sq,), expected=L.logsumexp(sq, axis=-1), label="3 rows of 3 (rows, not columns)", floating="raise")
    one = np.array([[5.0]])
    yield Case((one,), expected=np.array([5.0]), label="a single logit", floating="raise")
    for _ in range(3):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 12))
        z = rng.normal(scale=float(rng.choice([1.0, 50.0, 800.0])), size=(n, k))
        yield Case((z,), expected=L.logsumexp(z, axis=-1), label=f"random {n}x{k}", rtol=1e-9, atol=1e-9,
                   floating="raise")


# ----------------------------------------------------------------------------- 01.cross_entropy
def _ce_variant(kind: str, z: np.ndarray, y: np.ndarray) -> float:
    lse = L.logsumexp(z, axis=1)
    if kind == "broadcast":            # z - lse with lse of shape (n,): subtracts along the wrong axis (n == K)
        log_p = z - lse[None, :]
        return float(-np.mean(log_p[np.arange(len(y)), y]))
    if kind == "block":                # log_p[:, labels]: an (n, n) block instead of one entry per row
        return float(-np.mean((z - lse[:, None])[:, y]))
    raise ValueError(kind)  # pragma: no cover


def _ce_mean_all(got, expected, case):
    k = np.asarray(case.args[0]).shape[-1]
    return k > 1 and _close(got, float(expected) / k)


def _ce_mistake(kind: str, message: str) -> Mistake:
    def detect(got, expected, case):
        z, y = np.asarray(case.args[0], float), np.asarray(case.args[1])
        wrong = _ce_variant(kind, z, y)
        return _not_expected(wrong, expected) and _close(got, wrong)
    return Mistake(kind, detect, message)


@register("01.cross_entropy", signature="cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float",
          time_limit=TIME_LIMIT, returns=SCALAR, no_loops=True,
          hint="Work with log-probabilities from the start (section 5: the log-softmax), and check the shapes of "
               "what you subtract and what you index.",
          recipe="The log-probabilities are the logits minus each row's log-sum-exp, the log-sum-exp kept with shape "
                 "(n, 1) so that it broadcasts along the row; then pick each row's true-class entry with integer "
                 "indexing (the exercise text shows how) and return minus the mean of those n entries.",
          mistakes=[
              _ce_mistake("broadcast", "the row-wise log-sum-exp has shape (n,), and `logits - lse` broadcast it "
                                       "along the wrong axis (here n = K, so no error was raised; otherwise NumPy "
                                       "raises 'operands could not be broadcast'). Keep the reduced axis: "
                                       "L.logsumexp(logits, axis=1, keepdims=True) has shape (n, 1)."),
              _ce_mistake("block", "indexing with [:, labels] picks an (n, n) block of log-probabilities; pick one "
                                   "entry per row with [np.arange(n), labels]."),
              Mistake("mean_all", _ce_mean_all, "your result is the expected one divided by K: you averaged over all "
                                                "n*K entries; sum over the classes of each row (only one term is "
                                                "not 0 for a one-hot target), then average over the rows."),
          ])
def _cross_entropy(rng: np.random.Generator):
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [-1.0, 0.0, 3.0]])
    y = np.array([0, 1, 1])
    yield Case((z, y), expected=L.cross_entropy(z, y), label="3 examples, 3 classes", floating="raise")
    z = np.array([[2.0, 1.0, 0.1, -0.5], [0.5, 2.5, 0.3, 0.0], [0.0, 0.0, 1.0, 1.0]])
    y = np.array([0, 3, 2])
    yield Case((z, y), expected=L.cross_entropy(z, y), label="3 examples, 4 classes", floating="raise")
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    y = np.array([1, 1, 0])
    yield Case((z, y), expected=L.cross_entropy(z, y), label="logits of +-1000 (naive softmax gives NaN)",
               floating="raise")
    z = np.zeros((4, 5))
    y = np.array([0, 1, 2, 4])
    yield Case((z, y), expected=float(np.log(5.0)), label="all logits equal: loss is log K", floating="raise")
    for _ in range(3):
        n, k = int(rng.integers(3, 40)), int(rng.integers(2, 10))
        if rng.random() < 0.3:
            k = n = min(n, 9)          # square batches: a broadcasting slip gives a wrong value, not an error
        z = rng.normal(scale=float(rng.choice([1.0, 30.0, 800.0])), size=(n, k))
        y = rng.integers(0, k, size=n)
        yield Case((z, y), expected=L.cross_entropy(z, y), label=f"random n={n}, K={k}", rtol=1e-9, atol=1e-12,
                   floating="raise")


# ----------------------------------------------------------------------------- 01.kl_divergence
def _kl_nan(got, expected, case):
    p = np.asarray(case.args[0], float)
    return bool(np.any(p == 0)) and bool(np.any(np.isnan(np.asarray(got, float))))


def _kl_swapped(got, expected, case):
    p, q = (np.asarray(a, float) for a in case.args)
    wrong = L.kl_divergence(q, p)
    return _not_expected(wrong, expected) and _close(got, wrong)


def _kl_mean_over_all(got, expected, case):
    p = np.asarray(case.args[0], float)
    return p.shape[-1] > 1 and _close(got, np.asarray(expected, float) / p.shape[-1])


@register("01.kl_divergence", signature="kl_divergence(p: np.ndarray, q: np.ndarray) -> float",
          time_limit=TIME_LIMIT, returns=SCALAR, no_loops=True,
          hint="Terms where p is 0 must count 0 (section 7), without ever evaluating 0 * log 0; the sum runs over "
               "each row, the mean over rows.",
          recipe="Mask the terms with p = 0 (np.where on a 'safe' copy of p, so the log never sees 0), sum "
                 "p*log(p/q) over the last axis, then average over the rows.",
          mistakes=[
              Mistake("nan_at_zero", _kl_nan, "0 * log(0) gave NaN: the terms with p = 0 count 0 by convention, "
                                              "so mask them (np.where) before the log ever sees a 0."),
              Mistake("swapped", _kl_swapped, "your result is KL(q || p): the arguments are swapped (KL is not "
                                              "symmetric); p weights the log-ratio log(p/q)."),
              Mistake("mean_all", _kl_mean_over_all, "your result is the expected one divided by K: you averaged "
                                                     "over the classes too; sum over each row, then average over "
                                                     "the rows."),
          ])
def _kl(rng: np.random.Generator):
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]])
    q = np.array([[0.5, 0.5], [0.5, 0.5], [0.6, 0.4]])
    yield Case((p, q), expected=L.kl_divergence(p, q), label="3 rows of 2")
    p = np.array([[1.0, 0.0, 0.0]])
    q = np.array([[0.7, 0.2, 0.1]])
    yield Case((p, q), expected=float(-np.log(0.7)), label="one-hot p (contains zeros)")
    p = np.array([[0.2, 0.8, 0.0], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    q = np.array([[0.3, 0.3, 0.4], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
    yield Case((p, q), expected=L.kl_divergence(p, q), label="3 rows, one zero in p")
    yield Case((q, q), expected=0.0, label="p equal to q", atol=1e-12)
    for _ in range(3):
        n, k = int(rng.integers(3, 20)), int(rng.integers(2, 8))
        p, q = L.softmax(rng.normal(scale=2.0, size=(n, k))), L.softmax(rng.normal(size=(n, k)))
        if rng.random() < 0.5:                          # some exact zeros in p
            p = np.where(rng.random((n, k)) < 0.3, 0.0, p)
            p[:, 0] += 1e-3
            p = p / p.sum(axis=1, keepdims=True)
        yield Case((p, q), expected=L.kl_divergence(p, q), label=f"random {n}x{k}", rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- 01.two_task_loss (PyTorch)
_TT_NAMES = ("logits", "labels", "score_pred", "score_true", "w_class", "w_score", "delta")
_TT_DEFAULTS = {"w_class": 1.0, "w_score": 1.0, "delta": 1.0}


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _tt_parts(case: Case) -> dict:
    a = _args(case, _TT_NAMES, _TT_DEFAULTS)
    z, y = _np(a["logits"]).astype(float), _np(a["labels"]).astype(int)
    sp, st = _np(a["score_pred"]).astype(float), _np(a["score_true"]).astype(float)
    return {"z": z, "y": y, "sp": sp, "st": st, "wc": float(a["w_class"]), "ws": float(a["w_score"]),
            "d": float(a["delta"])}


def _two_task_validator(case_parts: dict):
    """The verdict on the observations of ``tensor_observations`` (gradients with respect to the logits and
    the score predictions), the same inside a learner's kernel and in the grader."""
    p = case_parts
    value = p["wc"] * L.cross_entropy(p["z"], p["y"]) + p["ws"] * L.huber(p["sp"], p["st"], p["d"])
    g_logits = p["wc"] * L.cross_entropy_grad(p["z"], p["y"])
    g_score = p["ws"] * L.huber_grad(p["sp"], p["st"], p["d"])

    def validate(obs):
        if "shape" not in obs:
            return (f"returned a {obs['type']} ({obs['repr']}), expected a torch tensor: the loss must stay a "
                    "tensor so that autograd can differentiate it (no .item(), float(...), .numpy() or NumPy).")
        shape = tuple(obs["shape"])
        if int(np.prod(shape)) != 1:
            return (f"expected a 0-d tensor (a single number), got shape {shape}: both terms are means "
                    "over the batch.")
        if len(shape) != 0:
            return (f"expected a 0-d tensor (shape ()), got shape {shape}: the value is one number but "
                    "it has an extra axis; a mean over all elements (without keepdim) has shape ().")
        if obs["dtype"] != "torch.float64":
            return (f"returned a {obs['dtype']} tensor, expected torch.float64 (the dtype of the inputs): do not "
                    "convert to float32 (.float(), dtype=torch.float32), which rounds every value to about 7 digits.")
        v = float(np.asarray(obs["value"], dtype=float))
        if not np.isfinite(v):
            return (f"got {v} where a finite value was expected ({value:.6g}): overflow in exp? Use a stable "
                    "log-softmax (torch.logsumexp, F.log_softmax or F.cross_entropy).")
        if not np.isclose(v, value, rtol=1e-9, atol=1e-12):
            return f"wrong value: expected {value:.10g}, got {v:.10g} (tolerance rtol=1e-9, float64)"
        if not obs["grad_fn"]:
            return ("the value is right but the tensor is not connected to the inputs: it was detached from "
                    "autograd (.detach(), .item(), torch.tensor(...) of a result, or NumPy), so backward() cannot "
                    "train a model with it.")
        for name, g, want in (("logits", obs["grads"][0], g_logits), ("score_pred", obs["grads"][1], g_score)):
            if g is None:
                return (f"the value is right but no gradient reaches {name}: part of the loss was computed outside "
                        "autograd (.detach(), .item(), NumPy) or from a copy.")
            g = np.asarray(g, dtype=float)
            if g.shape != want.shape or not np.allclose(g, want, rtol=1e-8, atol=1e-12):
                diff = float(np.max(np.abs(g - want))) if g.shape == want.shape else float("nan")
                return (f"the value is right but autograd's gradient with respect to {name} differs from the "
                        f"hand-derived one by up to {diff:.3g}: is a part of the computation detached, or a "
                        "non-differentiable shortcut used?")
        return None

    return validate


def _tt_variant(kind: str, p: dict) -> float:
    ce, hub = L.cross_entropy(p["z"], p["y"]), L.huber(p["sp"], p["st"], p["d"])
    n_s = p["sp"].size
    if kind == "right":
        return p["wc"] * ce + p["ws"] * hub
    if kind == "sum":
        return p["wc"] * ce * len(p["y"]) + p["ws"] * hub * n_s
    if kind == "sum_huber":
        return p["wc"] * ce + p["ws"] * hub * n_s
    if kind == "weights_swapped":
        return p["ws"] * ce + p["wc"] * hub
    if kind == "smooth_l1":
        return p["wc"] * ce + p["ws"] * hub / p["d"]
    if kind == "delta_ignored":
        return p["wc"] * ce + p["ws"] * L.huber(p["sp"], p["st"], 1.0)
    if kind == "double_softmax":
        return p["wc"] * L.cross_entropy(L.softmax(p["z"]), p["y"]) + p["ws"] * hub
    if kind == "nll_raw":
        return p["wc"] * float(-np.mean(p["z"][np.arange(len(p["y"])), p["y"]])) + p["ws"] * hub
    if kind == "mse":
        return p["wc"] * ce + p["ws"] * L.mse(p["sp"], p["st"])
    raise ValueError(kind)  # pragma: no cover


def _tt_mistake(kind: str, message: str) -> Mistake:
    def detect(got, expected, case):
        p = _tt_parts(case)
        right = _tt_variant("right", p)
        wrong = _tt_variant(kind, p)
        return (not np.isclose(wrong, right, rtol=1e-9, atol=1e-12) and "value" in got
                and np.isclose(float(np.asarray(got["value"], dtype=float).ravel()[0]), wrong, rtol=1e-7, atol=1e-10))
    return Mistake(kind, detect, message)


@register("01.two_task_loss",
          signature="two_task_loss(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0) "
                    "-> torch.Tensor  # 0-d",
          time_limit=5.0,
          hint="Build the loss from torch operations only, each term a mean over the batch, and compare each term "
               "with this lesson's formulas on a small example.",
          recipe="torch.nn.functional has both terms (look up its cross-entropy and Huber losses, their delta and "
                 "reduction arguments), or write the log-softmax with torch.logsumexp and the two Huber branches "
                 "with torch.where; multiply each mean by its own weight and add.",
          mistakes=[
              _tt_mistake("sum", "both terms are summed over the batch: each must be a mean (reduction='mean')."),
              _tt_mistake("sum_huber", "the Huber term is summed over the batch: it must be a mean."),
              _tt_mistake("weights_swapped", "the weights are swapped: w_class multiplies the cross-entropy, "
                                             "w_score the Huber term."),
              _tt_mistake("smooth_l1", "F.smooth_l1_loss(beta=delta) is the Huber loss divided by delta: multiply "
                                       "by delta, or use F.huber_loss(..., delta=delta)."),
              _tt_mistake("delta_ignored", "your Huber term uses delta = 1 although this case passes another delta."),
              _tt_mistake("double_softmax", "the cross-entropy received probabilities: F.cross_entropy applies the "
                                            "log-softmax itself, so pass it the raw logits (no softmax first)."),
              _tt_mistake("nll_raw", "F.nll_loss expects log-probabilities: apply F.log_softmax to the logits "
                                     "first (or use F.cross_entropy, which does both)."),
              _tt_mistake("mse", "your second term is the mean squared error: it must be the Huber loss with "
                                 "threshold delta."),
          ])
def _two_task(rng: np.random.Generator):
    import torch

    def case(z, y, sp, st, label, **kw):
        args = (torch.tensor(z, dtype=torch.float64, requires_grad=True), torch.tensor(y, dtype=torch.int64),
                torch.tensor(sp, dtype=torch.float64, requires_grad=True), torch.tensor(st, dtype=torch.float64))
        c = Case(args, kw, label=label, probe=("torch.output", {"wrt": (0, 2)}))
        c.expected = _two_task_validator(_tt_parts(c))
        return c

    yield case([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], [0, 2], [0.5, 3.0], [0.0, 0.0],
               "2 examples, 3 classes; score residuals 0.5 and 3 (both Huber branches)")
    yield case([[2.0, -1.0], [0.0, 1.0], [1.5, 1.5]], [1, 1, 0], [[0.2], [-2.0], [1.0]], [[0.0], [0.0], [0.1]],
               "weights 0.3 and 2, delta=0.5, scores of shape (n, 1)", w_class=0.3, w_score=2.0, delta=0.5)
    yield case([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]], [1, 1], [0.1, -0.1], [0.0, 0.0],
               "logits of +-1000 (a naive softmax overflows)")
    for _ in range(3):
        n, k = int(rng.integers(2, 30)), int(rng.integers(2, 8))
        shape = (n,) if rng.random() < 0.5 else (n, 1)
        z = rng.normal(scale=float(rng.choice([1.0, 5.0, 300.0])), size=(n, k))
        y = rng.integers(0, k, size=n)
        sp, st = rng.normal(scale=2.0, size=shape), rng.normal(size=shape)
        wc, ws, d = float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.3, 2.5))
        yield case(z, y, sp, st, f"random n={n}, K={k}, delta={d:.2f}", w_class=wc, w_score=ws, delta=d)
