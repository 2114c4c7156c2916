"""Self-checks for lesson 03 (backprop and autograd).

References come from :mod:`course_utils.mlp`. Every property is produced by the case generators for any
seed (fixed cases plus cases drawn from ``rng``), so an instructor test is the same check with another
seed. Tolerances follow the data's scale: an absolute tolerance of about ``1e-15 * max|dout|`` where a
correct result can be as small as 1e-18, a relative one elsewhere. Predictable wrong answers are named
by :class:`Mistake` detectors that recompute the wrong variant from the case's own arguments.

No framework is imported here: results that are torch/TensorFlow tensors are converted with their own
``.detach()``/``.numpy()`` methods.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import mlp
from ._core import (Build, Case, as_float_array, close_to, Mistake, _to_numpy_if_tensor, compare, describe,
                    register, register_builder)


# ----------------------------------------------------------------------------- helpers
_arr = as_float_array  # ``x`` as a float array (tensors converted), or None when not numeric


def _matches(got: Any, value: Any, rtol: float = 1e-7, atol: float = 1e-12) -> bool:
    """Does ``got`` equal ``value`` (same shape, close)? False for anything that is not numeric."""
    return close_to(got, value, rtol=rtol, atol=atol)


def _item(got: Any, i: int) -> Any:
    return got[i] if isinstance(got, (tuple, list)) and len(got) > i else None


def _kind_problem(name: str, got: Any, kind: str) -> str | None:
    """None when ``got`` is of ``kind`` ("array": a NumPy array; "number": a Python/NumPy number), else why
    not. The lesson's NumPy network uses these results downstream, where a tensor or a list breaks."""
    what = f"{type(got).__module__.split('.')[0]}.{type(got).__name__}".replace("builtins.", "")
    fix = (" (convert it with .detach().numpy(), or compute with NumPy)" if hasattr(got, "detach")
           else " (np.asarray(...) makes one)")
    if kind == "array" and not isinstance(got, np.ndarray):
        return f"{name} is a {what}; expected a NumPy array{fix}"
    if kind == "number" and (isinstance(got, bool) or not (
            isinstance(got, (int, float, np.number)) or (isinstance(got, np.ndarray) and got.ndim == 0))):
        number_fix = " (use .item())" if hasattr(got, "item") and np.size(_arr(got)) == 1 else ""
        return f"{name} is a {what}; expected a number (a float){number_fix}"
    return None


def _wrong_kind(kinds: tuple[str, ...]) -> Mistake:
    """Named feedback when the values are right but an item is a tensor/list, not a NumPy array/number."""
    def detect(got, expected, case):
        return (isinstance(got, (tuple, list)) and len(got) == len(kinds)
                and all(_matches(g, np.asarray(r, dtype=float), rtol=1e-6, atol=1e-9)
                        for g, r in zip(got, expected.reference))
                and any(_kind_problem("", g, k) for g, k in zip(got, kinds)))
    return Mistake("not NumPy", detect,
                   "the numbers are right but not NumPy: §3's network runs on these results with NumPy "
                   "operations (params -= lr * grad), so return NumPy arrays (and the loss as a float).")


def _tuple_of_arrays(expected: tuple, names: tuple[str, ...], rtol: float, atol: float,
                     kinds: tuple[str, ...] | None = None) -> Callable:
    """Validator: a tuple of len(names) arrays matching ``expected`` item by item, with named feedback;
    once the values match, each item must be of its ``kinds`` entry ("array" or "number")."""

    def validate(got):
        if not isinstance(got, (tuple, list)):
            return (f"expected a tuple {tuple(names)} of {len(names)} items, got {type(got).__name__}: "
                    f"{describe(got)}")
        if len(got) != len(names):
            return f"expected {len(names)} items {tuple(names)}, got {len(got)}"
        for name, g, e in zip(names, got, expected):
            problem = compare(g, e, rtol, atol, where=name)
            if problem:
                return problem
        for name, g, kind in zip(names, got, kinds or ()):
            problem = _kind_problem(name, g, kind)
            if problem:
                return problem
        return None

    validate.reference = expected  # for the mistake detectors
    return validate


# ----------------------------------------------------------------------------- 03.linear_backward
def _lin(case: Case):
    dout, x, W = (np.asarray(a, dtype=float) for a in case.args)
    return dout, x, W


_LINEAR_MISTAKES = (
    _wrong_kind(("array",) * 3),
    Mistake("db is a mean",
            lambda got, e, c: _matches(_item(got, 2), _lin(c)[0].mean(axis=0)) and _lin(c)[0].shape[0] > 1,
            "db is the mean over the batch, but the bias was broadcast (added) to every one of the n rows, so "
            "its gradient is the sum of the row gradients: broadcast in the forward pass = sum in the backward "
            "pass."),
    Mistake("db over the wrong axis",
            lambda got, e, c: _matches(_item(got, 2), _lin(c)[0].sum(axis=1)),
            "db was summed over the wrong axis: it needs one number per output unit (the shape of b, "
            "(d_out,)), obtained by summing over the examples."),
    Mistake("items in the wrong order",
            lambda got, e, c: isinstance(got, (tuple, list)) and len(got) == 3
            and sorted(np.shape(_arr(g)) for g in got) == sorted(np.shape(v) for v in e.reference)
            and any(np.shape(_arr(got[i])) != np.shape(e.reference[i]) for i in range(3)),
            "the three arrays are there but in the wrong order: return (dx, dW, db), in that order."),
    Mistake("dW transposed",
            lambda got, e, c: _matches(_item(got, 1), (_lin(c)[0].T @ _lin(c)[1])),
            "dW is transposed: a gradient has the shape of the thing it differentiates, so dW must have W's "
            "shape (d_in, d_out). Check the order of the factors of the matrix product."),
    Mistake("dx without the transpose",
            lambda got, e, c: _lin(c)[2].shape[0] == _lin(c)[2].shape[1]
            and _matches(_item(got, 0), _lin(c)[0] @ _lin(c)[2]),
            "dx uses W where its transpose is needed: dx must have x's shape (n, d_in), and each x entry "
            "reaches the outputs through a row of W."),
)


@register("03.linear_backward", signature="linear_backward(dout, x, W) -> (dx, dW, db)",
          hint="Each gradient has the shape of the thing it differentiates: dx like x, dW like W, db like b. "
               "Write the shapes next to each product before you code it.",
          recipe="Start from the element form: dL/dW[k, j] = sum over examples i of dout[i, j] * x[i, k]; "
                 "dL/dx[i, k] = sum over j of dout[i, j] * W[k, j]; dL/db[j] = sum over i of dout[i, j]. "
                 "Then find the matrix product (or sum) that computes each one.",
          mistakes=_LINEAR_MISTAKES)
def _linear_backward(rng: np.random.Generator):
    names = ("dx", "dW", "db")

    def case(dout, x, W, label, rtol=1e-9, atol=1e-12):
        return Case((dout, x, W), expected=_tuple_of_arrays(mlp.linear_backward(dout, x, W), names, rtol, atol,
                                                            kinds=("array",) * 3), label=label)

    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    W = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    dout = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    yield case(dout, x, W, "2 examples, 2 -> 3 units")
    yield case(np.array([[0.5]]), np.array([[2.0, -3.0, 1.0]]), np.array([[1.0], [2.0], [3.0]]),
               "a single example and a single output")
    n, d = int(rng.integers(3, 9)), int(rng.integers(2, 6))
    yield case(rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(d, d)),
               f"square W ({d} -> {d} units), {n} examples")
    for _ in range(3):
        n, d_in, d_out = (int(v) for v in rng.integers(2, 12, size=3))
        yield case(rng.normal(size=(n, d_out)), rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out)),
                   f"random n={n}, {d_in} -> {d_out} units", rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------- 03.relu_backward
def _dz(case: Case):
    return np.asarray(case.args[0], dtype=float), np.asarray(case.args[1], dtype=float)


_RELU_MISTAKES = (
    Mistake("mask z >= 0",
            lambda got, e, c: _matches(got, _dz(c)[0] * (_dz(c)[1] >= 0)),
            "the gradient leaks through at exactly z = 0: the convention here (as in PyTorch and TensorFlow) "
            "is that the derivative at z = 0 is 0, so only strictly positive z let the gradient through."),
    Mistake("forgot dout",
            lambda got, e, c: _matches(got, (_dz(c)[1] > 0).astype(float)),
            "you returned the derivative of ReLU only (the 0/1 mask): the backward pass multiplies it by the "
            "incoming gradient dout (chain rule)."),
    Mistake("mask from dout",
            lambda got, e, c: _matches(got, _dz(c)[0] * (_dz(c)[0] > 0)),
            "the mask must come from z, the layer's input (was the unit active?), not from dout."),
)


@register("03.relu_backward", signature="relu_backward(dout, z) -> dz", returns=np.ndarray,
          hint="Which entries of z let the gradient through, and what happens exactly at z = 0? "
               "The result has the shape of z.",
          mistakes=_RELU_MISTAKES)
def _relu_backward(rng: np.random.Generator):
    z = np.array([[-2.0, 0.0, 3.0], [1e-9, -1e-9, 7.0]])
    dout = np.array([[5.0, 5.0, 5.0], [-1.0, 2.0, 0.5]])
    yield Case((dout, z), expected=mlp.relu_backward(dout, z), label="signs, tiny values and z = 0")
    k = int(rng.integers(2, 7))
    z = rng.choice([-1.0, 0.0, 1.0], size=(k, 4)) * rng.integers(0, 3, size=(k, 4))
    dout = rng.normal(size=(k, 4))
    yield Case((dout, z), expected=mlp.relu_backward(dout, z), label="many exact zeros in z")
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 4))))
        z, dout = rng.normal(size=shape), rng.normal(size=shape)
        yield Case((dout, z), expected=mlp.relu_backward(dout, z), label=f"random shape {shape}")


# ----------------------------------------------------------------------------- 03.sigmoid_backward
_SIGMOID_MISTAKES = (
    Mistake("forgot dout",
            lambda got, e, c: _matches(got, mlp.sigmoid_backward(1.0, c.args[1]), atol=1e-15)
            and not np.allclose(c.args[0], 1.0),
            "you returned sigma'(z) alone: the backward pass multiplies it by the incoming gradient dout "
            "(chain rule)."),
    Mistake("s * (1 + s)",
            lambda got, e, c: _matches(got, np.asarray(c.args[0]) * mlp.sigmoid(c.args[1])
                                       * (1 + mlp.sigmoid(c.args[1]))),
            "check the sign inside the derivative: sigma'(z) = sigma(z) * (1 - sigma(z)), which is at most "
            "1/4 (at z = 0)."),
    Mistake("forward value",
            lambda got, e, c: _matches(got, np.asarray(c.args[0]) * mlp.sigmoid(c.args[1])),
            "you multiplied dout by sigma(z), the forward value; the backward pass needs the derivative "
            "sigma'(z)."),
)


def _sigmoid_case(dout, z, label, rtol=1e-7, **kw):
    # a correct sigma' can be as small as 1e-300; s*(1-s) rounds the tails z > 37 to 0, an error
    # below 1e-16 * |dout|: an absolute tolerance of 1e-15 * max|dout| accepts every sound formula.
    scale = float(np.max(np.abs(dout))) if np.size(dout) else 1.0
    return Case((dout, z), expected=mlp.sigmoid_backward(dout, z), label=label, rtol=rtol,
                atol=1e-15 * max(scale, 1e-300), **kw)


@register("03.sigmoid_backward", signature="sigmoid_backward(dout, z) -> dz", returns=np.ndarray,
          hint="Check your formula at z = 0 (sigma'(0) = 1/4), its symmetry sigma'(-z) = sigma'(z), and that "
               "no exponential you evaluate can overflow for z = +-800.",
          recipe="Differentiate 1 / (1 + e^(-z)) with the chain rule, then rewrite the result so that the only "
                 "exponential ever evaluated is e^(-|z|), which lies in (0, 1] for every z.",
          mistakes=_SIGMOID_MISTAKES)
def _sigmoid_backward(rng: np.random.Generator):
    yield _sigmoid_case(np.ones(4), np.array([0.0, 1.0, -1.0, 4.0]), "dout = 1 (the plain derivative)")
    yield _sigmoid_case(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[-800.0, -40.0], [40.0, 800.0]]),
                        "saturated units, |z| up to 800, no overflow", floating="raise")
    t = rng.uniform(15.0, 60.0, size=4)
    yield _sigmoid_case(rng.normal(size=8), np.concatenate([t, -t]),
                        "tails: the same |z| with both signs, no overflow", floating="raise")
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(1, 9, size=2))
        z, dout = rng.normal(scale=3.0, size=shape), rng.normal(size=shape)
        yield _sigmoid_case(dout, z, f"random shape {shape}", floating="raise")


# ----------------------------------------------------------------------------- 03.softmax_ce_backward
def _ce_args(case: Case):
    logits = np.asarray(case.args[0], dtype=float)
    y = np.asarray(case.args[1]).astype(np.int64)
    return logits, y


def _ce_variant(case: Case, kind: str) -> tuple[float, np.ndarray]:
    logits, y = _ce_args(case)
    n = logits.shape[0]
    loss, grad = mlp.softmax_cross_entropy(logits, y)
    if kind == "no 1/n":
        return loss, grad * n
    if kind == "no one-hot":
        return loss, mlp.softmax(logits) / n
    if kind == "sign":
        return loss, -grad
    if kind == "sum loss":
        return loss * n, grad
    raise ValueError(kind)


def _ce_mistake(kind: str, what: str) -> Callable:
    def detect(got, expected, case):
        want = _ce_variant(case, kind)
        if _ce_args(case)[0].shape[0] < 2 and kind in ("no 1/n", "sum loss"):
            return False  # n = 1: the variant equals the right answer
        item = 1 if what == "grad" else 0
        return _matches(_item(got, item), np.asarray(want[item]))
    return detect


_CE_MISTAKES = (
    _wrong_kind(("number", "array")),
    Mistake("gradient without 1/n", _ce_mistake("no 1/n", "grad"),
            "dlogits is n times too large: the loss is the mean over the n examples, so each row of the "
            "gradient carries a factor 1/n."),
    Mistake("forgot the one-hot", _ce_mistake("no one-hot", "grad"),
            "dlogits is the softmax probabilities (scaled) without subtracting the one-hot target: the "
            "derivative of -s_y contributes -1 in the true class."),
    Mistake("sign of the gradient", _ce_mistake("sign", "grad"),
            "dlogits has the wrong sign: it is probabilities minus one-hot targets (so the true class's logit "
            "goes up when you step against the gradient)."),
    Mistake("loss is a sum", _ce_mistake("sum loss", "loss"),
            "the loss is the sum over the batch; it should be the mean (divide by n)."),
)


@register("03.softmax_ce_backward", signature="softmax_ce_backward(logits, y) -> (loss, dlogits)",
          hint="Return the mean loss over the batch and its gradient; check each row of dlogits sums to 0, and "
               "make sure logits of +-1000 give finite numbers without overflow.",
          recipe="Compute log-probabilities with the log-sum-exp shift of lesson 01 (subtract each row's "
                 "maximum first); the loss is minus the mean of the true classes' log-probabilities; the "
                 "gradient of the mean loss is (probabilities - one-hot targets) / n.",
          mistakes=_CE_MISTAKES)
def _softmax_ce_backward(rng: np.random.Generator):
    def case(logits, y, label, rtol=1e-7, atol=1e-10, **kw):
        loss, grad = mlp.softmax_cross_entropy(logits, y)
        return Case((logits, y), expected=_tuple_of_arrays((loss, grad), ("loss", "dlogits"), rtol, atol,
                                                           kinds=("number", "array")), label=label, **kw)

    yield case(np.array([[2.0, 1.0, 0.1]]), np.array([0]), "one example, 3 classes")
    yield case(np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 3.0], [-2.0, 5.0]]), np.array([0, 1, 1, 1]),
               "4 examples, 2 classes (mean over the batch)")
    yield case(np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 499.0]]), np.array([0, 2]),
               "huge logits: no overflow", floating="raise")
    for _ in range(3):
        n, k = int(rng.integers(2, 20)), int(rng.integers(2, 8))
        logits = rng.normal(scale=4.0, size=(n, k))
        yield case(logits, rng.integers(0, k, size=n), f"random n={n}, {k} classes")

    def rows_sum_to_zero(got):  # property: each row of dlogits sums to 0 (probabilities sum to 1)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return "expected a tuple (loss, dlogits)"
        g = _arr(got[1])
        if g is None or g.shape != (6, 4):
            return f"wrong shape of dlogits: expected (6, 4), got {None if g is None else g.shape}"
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


class _ReadsOwnArray:
    """A scalar function that ignores its argument and reads the array it was built on, as the loss in
    ``gradient_check`` reads the parameter dictionary: only perturbing ``x`` itself changes its value.
    A case passes it and its ``x`` as two :class:`Build` arguments made together (``03.reads_own_array``,
    then ``03.own_array``), so the ``x`` the answer receives is the very array this object reads."""

    def __init__(self, x: np.ndarray):
        self.x = x

    def __call__(self, _ignored) -> float:
        return float(np.sum(np.sin(self.x)) + np.sum(self.x ** 2))

    def gradient(self) -> np.ndarray:
        return np.cos(self.x) + 2.0 * self.x

    def __repr__(self) -> str:
        return "f (reads x itself, like gradient_check's loss)"


# The function f of each case is made where the answer runs, by name (a Build: the grader sends only plain data
# into its sandbox). The f that reads x itself is made together with that x: the builder of the second argument
# hands over the very array the first one reads, so perturbing x in place is what changes f's value.
_TEST_FUNCTIONS = {"square": (_f_square, "sum(x**2)"), "cubic": (_f_cubic, "sum(x**3 + 2x)"),
                   "sin_prod": (_f_sin_prod, "sum(sin x) + x_first * x_last"),
                   "logsumexp": (_f_logsumexp, "log(sum(exp x))")}


@register_builder("03.test_function")
def _build_test_function(name):
    return _TEST_FUNCTIONS[name][0]


@register_builder("03.reads_own_array")
def _build_reads_own_array(x):
    return _ReadsOwnArray(np.array(x, dtype=float))


@register_builder("03.own_array", previous=True)
def _build_own_array(previous=()):
    f = previous[-1] if previous else None
    if not isinstance(f, _ReadsOwnArray):
        raise RuntimeError("the x of 03.numerical_gradient's last case is made right after its f")
    return f.x


def _test_function(name: str) -> Build:
    return Build("03.test_function", {"name": name}, f"<function f(x) = {_TEST_FUNCTIONS[name][1]}>")


def _reads_own_array_args(x: np.ndarray) -> tuple[Build, Build]:
    """(f, x) for the case whose f reads x itself; they show as the objects themselves print."""
    return (Build("03.reads_own_array", {"x": x}, repr(_ReadsOwnArray(x))),
            Build("03.own_array", {}, describe(x, 10_000)))


def _reads_own(case: Case) -> bool:
    return isinstance(case.args[0], Build) and case.args[0].name == "03.reads_own_array"


def _case_x(case: Case) -> np.ndarray:
    """The case's x (for the f that reads x itself, the array its builder starts from)."""
    return np.asarray(case.args[0].data["x"] if _reads_own(case) else case.args[1])


def _perturbed_a_copy(got, expected, case) -> bool:
    g = _arr(got)
    return (_reads_own(case) and g is not None and g.shape == np.shape(_case_x(case))
            and bool(np.all(np.abs(g) < 1e-6)))


def _difference(case: Case, kind: str) -> np.ndarray:
    """The gradient a one-sided or a 1/eps central difference would return on this case."""
    x = np.array(_case_x(case), dtype=float)
    # the f that reads x itself must read the copy that is perturbed here
    f = _ReadsOwnArray(x) if _reads_own(case) else case.args[0].make()
    eps = case.kwargs.get("eps", 1e-6)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        g[i] = (up - f(x)) / eps if kind == "forward" else (up - down) / eps
    return g


_NUMGRAD_MISTAKES = (
    Mistake("perturbed a copy", _perturbed_a_copy,
            "your gradient is 0: you evaluated f on perturbed copies of x, but this f reads the array x itself "
            "(as gradient_check's loss reads the parameter dictionary), so it never saw a change. Perturb the "
            "entries of x in place, one at a time, and put each one back."),
    Mistake("one-sided difference",
            lambda got, e, c: np.size(_case_x(c)) <= 64 and _matches(got, _difference(c, "forward"), rtol=1e-9,
                                                                      atol=1e-11),
            "that is a one-sided (forward) difference, (f(x + eps) - f(x)) / eps: its error is O(eps), about "
            "1e-6 here. Use the central difference (f(x + eps) - f(x - eps)) / (2 eps), error O(eps^2)."),
    Mistake("divided by eps",
            lambda got, e, c: np.size(_case_x(c)) <= 64 and _matches(got, _difference(c, "central/eps"),
                                                                      rtol=1e-7, atol=1e-8),
            "the central difference spans from x - eps to x + eps, a distance of 2 eps: divide by 2 * eps."),
)


@register("03.numerical_gradient", signature="numerical_gradient(f, x, eps=1e-6) -> np.ndarray",
          time_limit=10.0, returns=np.ndarray,
          hint="Perturb one entry at a time in both directions (np.ndindex(x.shape) visits every index of an "
               "array of any shape), and put it back exactly afterwards; the result has the shape of x.",
          mistakes=_NUMGRAD_MISTAKES)
def _numerical_gradient(rng: np.random.Generator):
    tol = {"rtol": 1e-8, "atol": 1e-8}  # central differences reach ~1e-9 here; one-sided ones ~1e-6
    x = np.array([1.0, -2.0, 0.5])
    yield Case((_test_function("square"), x), expected=2 * x, label="f(x) = sum(x**2)", **tol)
    x = np.array([[1.0, 2.0], [-1.5, 3.0]])
    yield Case((_test_function("cubic"), x), expected=3 * x ** 2 + 2.0, label="f(x) = sum(x**3 + 2x), 2-D x", **tol)
    x = rng.normal(size=(3, 4))
    yield Case((_test_function("sin_prod"), x), expected=_g_sin_prod(x), label="f(x) = sum(sin x) + x_first * "
               "x_last, x unchanged afterwards", **tol)
    x = rng.normal(size=7)
    p = np.exp(x - x.max())
    yield Case((_test_function("logsumexp"), x), kwargs={"eps": 1e-5}, expected=p / p.sum(),
               label="log-sum-exp, eps=1e-5", **tol)
    x = rng.normal(size=(2, 3))
    yield Case(_reads_own_array_args(x), expected=_ReadsOwnArray(x).gradient(),
               label="f reads x itself (perturb x in place)", **tol)
    x = rng.normal(size=(40, 50))
    yield Case((_test_function("square"), x), expected=2 * x, label="2,000 entries (speed)", rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- 03.torch_loss_and_grads
_NAMES = ("W1", "b1", "W2", "b2")


def _loss_and_grads(got: Any):
    """(loss as float, {name: array}) from the learner's result, or None when it has the wrong form."""
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[1], dict):
        return None
    loss = _arr(got[0])
    grads = {k: _arr(v) for k, v in got[1].items()}
    if loss is None or loss.size != 1 or any(v is None for v in grads.values()):
        return None
    return float(loss.reshape(())), grads


def _torch_validator(params: dict, X: np.ndarray, y: np.ndarray) -> Callable:
    loss, grads = mlp.mlp_loss_and_grads(params, X, y)

    def validate(got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (loss, grads) of 2 items, got {type(got).__name__}: {describe(got)}"
        if not isinstance(got[1], dict):
            return f"expected grads as a dict with keys {list(_NAMES)}, got {type(got[1]).__name__}"
        problem = compare(got[0], loss, 1e-9, 1e-12, where="loss")
        if problem:
            return problem
        missing = [k for k in _NAMES if k not in got[1]]
        if missing:
            return f"grads is missing the key(s) {missing} (expected the keys {list(_NAMES)})"
        for k in _NAMES:
            problem = compare(got[1][k], grads[k], 1e-9, 1e-12, where=f"grads[{k!r}]")
            if problem:
                return problem
        return None

    validate.reference = (loss, grads)  # for the mistake detectors
    return validate


def _torch_mistake(kind: str) -> Callable:
    def detect(got, expected, case):
        ref_loss, ref_grads = expected.reference
        pair = _loss_and_grads(got)
        if pair is None:
            return False
        loss, grads = pair
        if set(grads) != set(_NAMES):
            return False
        n = np.shape(case.args[1])[0]
        if kind == "float32":
            return (abs(loss - ref_loss) <= 1e-4 * abs(ref_loss) + 1e-6
                    and all(grads[k].shape == ref_grads[k].shape
                            and np.allclose(grads[k], ref_grads[k], rtol=1e-3, atol=1e-5) for k in _NAMES))
        if kind == "transposed":
            return any(grads[k].shape == ref_grads[k].T.shape and grads[k].shape != ref_grads[k].shape
                       and np.allclose(grads[k], ref_grads[k].T, rtol=1e-6, atol=1e-9) for k in ("W1", "W2"))
        if kind == "sum":
            return n > 1 and abs(loss - n * ref_loss) <= 1e-6 * n * abs(ref_loss)
        raise ValueError(kind)
    return detect


_TORCH_MISTAKES = (
    Mistake("transposed weight gradient", _torch_mistake("transposed"),
            "a weight gradient is transposed: torch.nn.Linear stores weight as (out, in), the transpose of "
            "this lesson's (in, out) layout; return the gradients with the shapes of params."),
    Mistake("float32", _torch_mistake("float32"),
            "the numbers agree only to about 1e-7: the computation ran in float32. Keep float64 end to end "
            "(torch.from_numpy keeps the array's float64; torch.tensor(..., dtype=torch.float64); a "
            "torch.nn layer needs .double())."),
    Mistake("loss summed", _torch_mistake("sum"),
            "the loss is n times too large: use the mean cross-entropy over the batch (F.cross_entropy's "
            "default reduction='mean')."),
)


@register("03.torch_loss_and_grads", signature="torch_loss_and_grads(params, X, y) -> (loss, grads)",
          time_limit=30.0,
          hint="Make the four parameter arrays float64 tensors that require gradients, run the forward pass "
               "with torch operations only, and ask autograd for the gradients of the mean cross-entropy.",
          recipe="Three steps: (1) turn each NumPy array into a float64 tensor that requires gradients (a copy, "
                 "so params stays untouched); (2) compute the logits with torch operations (matrix products, "
                 "ReLU) and the mean cross-entropy with F.cross_entropy and integer labels; (3) pass the loss "
                 "and the list of your four tensors to torch.autograd.grad, and map its results back to the "
                 "keys W1, b1, W2, b2.",
          mistakes=_TORCH_MISTAKES)
def _torch_loss_and_grads(rng: np.random.Generator):
    def case(d, h, k, n, label):
        params = mlp.init_mlp(d, h, k, rng=int(rng.integers(0, 2**31)))
        params["b1"] = rng.normal(scale=0.1, size=h)       # non-zero biases: their gradients are tested too
        params["b2"] = rng.normal(scale=0.1, size=k)
        X = rng.normal(size=(n, d))
        y = rng.integers(0, k, size=n)
        return Case((params, X, y), expected=_torch_validator(params, X, y), label=label)

    yield case(2, 8, 3, 10, "2 inputs, 8 hidden units, 3 classes, 10 examples")
    d, h, k, n = (int(v) for v in (rng.integers(2, 9), rng.integers(3, 17), rng.integers(2, 6),
                                   rng.integers(3, 33)))
    yield case(d, h, k, n, f"random sizes d={d}, h={h}, K={k}, n={n}")
    yield case(5, 7, 4, 1, "a single example")
