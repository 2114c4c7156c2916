"""Self-checks for lesson 03 (backprop and autograd).

References come from :mod:`course_utils.mlp`; cases mix fixed inputs, seeded
random shapes, extreme values (overflow traps) and property validators.
"""
from __future__ import annotations

import numpy as np

from .. import mlp
from ._core import Case, describe, register


def _tuple_of_arrays(expected: tuple, names: tuple[str, ...], rtol: float, atol: float):
    """Validator: a tuple of len(names) arrays matching ``expected`` item by item, with named feedback."""
    from ._core import compare

    def validate(got):
        if not isinstance(got, (tuple, list)):
            return (f"expected a tuple {tuple(names)} of {len(names)} arrays, got {type(got).__name__}: "
                    f"{describe(got)}")
        if len(got) != len(names):
            return f"expected {len(names)} items {tuple(names)}, got {len(got)}"
        for name, g, e in zip(names, got, expected):
            problem = compare(g, e, rtol, atol, where=name)
            if problem:
                return problem
        return None

    return validate


# ----------------------------------------------------------------------------- 03.linear_backward
@register("03.linear_backward", signature="linear_backward(dout, x, W) -> (dx, dW, db)",
          hint="Each gradient has the shape of the thing it differentiates: dx like x, dW like W, db like b "
               "(one number per output unit). The batch dimension must be summed over for dW and db.")
def _linear_backward(rng: np.random.Generator):
    names = ("dx", "dW", "db")
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    W = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    dout = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    yield Case((dout, x, W), expected=_tuple_of_arrays(mlp.linear_backward(dout, x, W), names, 1e-9, 1e-12),
               label="2 examples, 2 -> 3 units")
    one_x, one_W = np.array([[2.0, -3.0, 1.0]]), np.array([[1.0], [2.0], [3.0]])
    one_d = np.array([[0.5]])
    yield Case((one_d, one_x, one_W),
               expected=_tuple_of_arrays(mlp.linear_backward(one_d, one_x, one_W), names, 1e-9, 1e-12),
               label="a single example and a single output")
    for _ in range(4):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 12, size=3))
        x, W = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out))
        dout = rng.normal(size=(n, d_out))
        yield Case((dout, x, W), expected=_tuple_of_arrays(mlp.linear_backward(dout, x, W), names, 1e-8, 1e-10),
                   label=f"random n={n}, {d_in} -> {d_out}")


# ----------------------------------------------------------------------------- 03.relu_backward
@register("03.relu_backward", signature="relu_backward(dout, z) -> dz",
          hint="The gradient passes through where the unit was active (z > 0) and is blocked elsewhere; "
               "use the convention that the derivative at exactly z = 0 is 0. dz has the shape of z.")
def _relu_backward(rng: np.random.Generator):
    z = np.array([[-2.0, 0.0, 3.0], [1e-9, -1e-9, 7.0]])
    dout = np.array([[5.0, 5.0, 5.0], [-1.0, 2.0, 0.5]])
    yield Case((dout, z), expected=mlp.relu_backward(dout, z), label="signs, tiny values and z = 0")
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 4))))
        z, dout = rng.normal(size=shape), rng.normal(size=shape)
        yield Case((dout, z), expected=mlp.relu_backward(dout, z), label=f"random shape {shape}")


# ----------------------------------------------------------------------------- 03.sigmoid_backward
@register("03.sigmoid_backward", signature="sigmoid_backward(dout, z) -> dz",
          hint="Write the derivative of the sigmoid in terms of the sigmoid itself, multiply by the incoming "
               "gradient, and make sure that large |z| gives finite numbers (no NaN, no inf).")
def _sigmoid_backward(rng: np.random.Generator):
    z = np.array([0.0, 1.0, -1.0, 4.0])
    dout = np.ones(4)
    yield Case((dout, z), expected=mlp.sigmoid_backward(dout, z), rtol=1e-7, atol=1e-12,
               label="dout = 1 (the plain derivative)")
    z = np.array([[-800.0, -40.0], [40.0, 800.0]])
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])
    yield Case((dout, z), expected=mlp.sigmoid_backward(dout, z), rtol=1e-7, atol=1e-300,
               label="saturated units, |z| up to 800")
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(1, 9, size=2))
        z, dout = rng.normal(scale=3.0, size=shape), rng.normal(size=shape)
        yield Case((dout, z), expected=mlp.sigmoid_backward(dout, z), rtol=1e-7, atol=1e-12,
                   label=f"random shape {shape}")


# ----------------------------------------------------------------------------- 03.softmax_ce_backward
@register("03.softmax_ce_backward", signature="softmax_ce_backward(logits, y) -> (loss, dlogits)",
          hint="The loss is the mean over the batch, so the gradient carries a 1/n; dlogits is the softmax "
               "probabilities minus the one-hot labels (scaled). Shift each row by its maximum before "
               "exponentiating, or large logits give inf/NaN.")
def _softmax_ce_backward(rng: np.random.Generator):
    def case(logits, y, label, rtol=1e-7, atol=1e-10):
        loss, grad = mlp.softmax_cross_entropy(logits, y)
        return Case((logits, y), expected=_tuple_of_arrays((loss, grad), ("loss", "dlogits"), rtol, atol),
                    label=label)

    yield case(np.array([[2.0, 1.0, 0.1]]), np.array([0]), "one example, 3 classes")
    yield case(np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 3.0], [-2.0, 5.0]]), np.array([0, 1, 1, 1]),
               "4 examples, 2 classes (mean over the batch)")
    yield case(np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 499.0]]), np.array([0, 2]),
               "huge logits: a naive exp overflows")
    for _ in range(3):
        n, k = int(rng.integers(1, 20)), int(rng.integers(2, 8))
        logits = rng.normal(scale=4.0, size=(n, k))
        yield case(logits, rng.integers(0, k, size=n), f"random n={n}, {k} classes")

    def rows_sum_to_zero(got):  # property: each row of dlogits sums to 0 (probabilities sum to 1)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return "expected a tuple (loss, dlogits)"
        g = np.asarray(got[1], dtype=float)
        if g.shape != (6, 4):
            return f"wrong shape of dlogits: expected (6, 4), got {g.shape}"
        if not np.allclose(g.sum(axis=1), 0.0, atol=1e-12):
            return "each row of dlogits should sum to 0 (the softmax probabilities sum to 1)"
        return None

    yield Case((rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)), expected=rows_sum_to_zero,
               label="property: rows of dlogits sum to 0")


# ----------------------------------------------------------------------------- 03.numerical_gradient
def _f_square(x):
    return float(np.sum(x ** 2))


def _f_cubic(x):
    return float(np.sum(x ** 3) + 2.0 * np.sum(x))


def _f_sin_prod(x):
    return float(np.sum(np.sin(x)) + x.ravel()[0] * x.ravel()[-1])


def _g_sin_prod(x):
    g = np.cos(x).ravel()
    g[0] += x.ravel()[-1]
    g[-1] += x.ravel()[0]
    return g.reshape(x.shape)


def _f_logsumexp(x):
    m = np.max(x)
    return float(m + np.log(np.sum(np.exp(x - m))))


@register("03.numerical_gradient", signature="numerical_gradient(f, x, eps=1e-6) -> np.ndarray",
          hint="Perturb one entry at a time by +eps and by -eps (central differences: error O(eps^2); "
               "the one-sided version is far less accurate), put the entry back afterwards, and return an "
               "array of the same shape as x (x may be 2-D).",
          time_limit=10.0)
def _numerical_gradient(rng: np.random.Generator):
    tol = {"rtol": 1e-8, "atol": 1e-8}  # central differences reach ~1e-9 here; one-sided ones ~1e-6
    x = np.array([1.0, -2.0, 0.5])
    yield Case((_f_square, x), expected=2 * x, label="f(x) = sum(x**2)", **tol)
    x = np.array([[1.0, 2.0], [-1.5, 3.0]])
    yield Case((_f_cubic, x), expected=3 * x ** 2 + 2.0, label="f(x) = sum(x**3 + 2x), 2-D x", **tol)
    x = rng.normal(size=(3, 4))
    yield Case((_f_sin_prod, x), expected=_g_sin_prod(x), label="f(x) = sum(sin x) + x_first * x_last", **tol)
    x = rng.normal(size=7)
    p = np.exp(x - x.max())
    yield Case((_f_logsumexp, x), kwargs={"eps": 1e-5}, expected=p / p.sum(), label="log-sum-exp, eps=1e-5",
               **tol)
    x = rng.normal(size=(40, 50))
    yield Case((_f_square, x), expected=2 * x, label="2,000 entries (speed)",
               rtol=1e-5, atol=1e-5)
