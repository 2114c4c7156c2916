"""Self-checks and reference functions for lesson 00 (setup).

Exercises: ``00.standardize`` and ``00.accuracy`` (NumPy warm-ups) and ``00.torch_loop`` (a PyTorch
training loop). Every property is produced by the case generators for any seed, so an instructor's
hidden test (the same check with another seed) tests exactly what the learner's self-check tested.
``00.standardize`` compares with rtol = atol = 1e-4, which admits float32 arithmetic. ``00.torch_loop`` checks
convergence to the least-squares line, and on a short run at an unusual learning rate it recovers plain gradient
descent's losses backwards from the trained line (:func:`_gd_losses`) and compares them with the recorded ones,
so a hard-coded learning rate, momentum, Adam, a summed loss or extra untracked steps cannot pass.

The reference functions :func:`standardize`, :func:`accuracy` and :func:`train_torch` are what lesson 00
uses downstream when the learner's own version has not passed (``use_mine``). Importing this module does
not import torch: :func:`train_torch` imports it when called, and the ``00.torch_loop`` validator only
touches torch when the learner's answer returned a torch object.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._core import Case, Mistake, register, register_probe

# ----------------------------------------------------------------------------- references


def standardize(x: np.ndarray) -> np.ndarray:
    """Column-wise z-scores of a 2-D array: ``(x - mean) / std`` per column, population std (lesson 00).

    ``x`` has shape ``(n, d)`` with no constant column; returns a new float array of the same shape and
    leaves ``x`` unchanged. Raises ``ValueError`` for a non-2-D input or a constant column.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"standardize expects a 2-D array of shape (n, d), got shape {x.shape}")
    std = x.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"standardize: column(s) {np.flatnonzero(std == 0).tolist()} are constant "
                         "(standard deviation 0); drop them before standardizing")
    return (x - x.mean(axis=0)) / std


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of positions where ``y_pred`` equals ``y_true`` (arrays, lists or tuples) (lesson 00).

    Raises ``ValueError`` when the two have different lengths or are empty.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"accuracy needs two non-empty label sequences of the same length, got shapes "
                         f"{t.shape} and {p.shape}")
    return float(np.mean(t == p))


def train_torch(x: np.ndarray, y: np.ndarray, steps: int, lr: float):
    """Fit ``y ≈ w x + b`` with ``torch.nn.Linear(1, 1)`` by full-batch gradient descent on the MSE
    (lesson 00).

    ``x`` and ``y`` are float32 arrays of shape ``(n, 1)``. Returns ``(model, losses)``: the trained
    module and the ``steps`` losses (Python floats), each computed before its step's update.
    """
    import torch

    model = torch.nn.Linear(1, 1)
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.float32))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


# ----------------------------------------------------------------------------- 00.standardize
_STD_TOL = 1e-4  # rtol and atol of every 00.standardize case and mistake detector (see _standardize)


def _first_arg(case: Case) -> np.ndarray:
    return np.asarray(case.args[0], dtype=float)


def _matches(got: Any, target: np.ndarray) -> bool:
    g = np.asarray(got, dtype=float)
    return g.shape == target.shape and bool(np.allclose(g, target, rtol=_STD_TOL, atol=_STD_TOL))


def _sample_std(got, expected, case) -> bool:
    x = _first_arg(case)
    return x.shape[0] > 1 and _matches(got, (x - x.mean(axis=0)) / x.std(axis=0, ddof=1))


def _whole_matrix(got, expected, case) -> bool:
    x = _first_arg(case)
    return x.shape[1] > 1 and _matches(got, (x - x.mean()) / x.std())


def _rows(got, expected, case) -> bool:
    x = _first_arg(case)
    return x.shape[1] > 1 and _matches(got, (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True))


def _not_divided(got, expected, case) -> bool:
    x = _first_arg(case)
    return _matches(got, x - x.mean(axis=0))


def _by_variance(got, expected, case) -> bool:
    x = _first_arg(case)
    return _matches(got, (x - x.mean(axis=0)) / x.var(axis=0))


def _global_std(got, expected, case) -> bool:
    x = _first_arg(case)
    return x.shape[1] > 1 and _matches(got, (x - x.mean(axis=0)) / x.std())


def _min_max(got, expected, case) -> bool:
    x = _first_arg(case)
    return x.shape[0] > 2 and _matches(got, (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0)))


_STANDARDIZE_MISTAKES = (
    Mistake("ddof=1", _sample_std,
            "ddof=1 (the sample standard deviation, dividing by n-1) instead of the population standard "
            "deviation of the formula (dividing by n): every value is off by the factor sqrt((n-1)/n)."),
    Mistake("whole matrix", _whole_matrix,
            "one mean and one standard deviation for the whole matrix; each column (feature) needs its own."),
    Mistake("rows", _rows,
            "you standardized each row; the features are the columns, so reduce over the rows."),
    Mistake("not divided", _not_divided,
            "the columns are centred (mean 0) but not divided by their standard deviation."),
    Mistake("variance", _by_variance,
            "you divided by the variance; the formula divides by the standard deviation (its square root)."),
    Mistake("global std", _global_std,
            "each column is centred with its own mean, but divided by one standard deviation of the whole "
            "matrix; each column needs its own standard deviation too."),
    Mistake("min-max", _min_max,
            "this is min-max scaling (to the range 0..1); standardization subtracts the mean and divides by "
            "the standard deviation."),
)


@register("00.standardize", signature="standardize(x: np.ndarray) -> np.ndarray",
          returns=np.ndarray, pure=True, no_loops=True, mistakes=_STANDARDIZE_MISTAKES,
          hint="Each column is standardized with its own mean and its own standard deviation; check which "
               "axis you reduce over and what the formula divides by.",
          recipe="Compute one mean and one standard deviation per column (a reduction over the rows, which "
                 "gives shape (d,)); broadcasting then applies them to every row. The formula's sigma divides "
                 "by n (NumPy's default), and the result must be a new array: do not subtract in place.")
def _standardize(rng: np.random.Generator):
    # The tolerances admit float32 arithmetic (the dtype models train in): an answer that casts x to float32
    # first is off by at most 6.4e-5 on these cases (measured over 500 seeds), while the closest real mistake
    # (ddof=1) is off by at least 0.019.
    tol = {"rtol": _STD_TOL, "atol": _STD_TOL}
    fixed = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    yield Case((fixed,), expected=standardize(fixed), label="3x2 example, columns on different scales", **tol)

    n, d = int(rng.integers(20, 60)), int(rng.integers(2, 6))
    x = rng.normal(loc=rng.uniform(-50, 50, d), scale=rng.uniform(0.1, 20, d), size=(n, d))
    yield Case((x,), expected=standardize(x), label=f"random {n}x{d} matrix, columns on different scales", **tol)

    n = int(rng.integers(2, 5))  # few rows: population (1/n) and sample (1/(n-1)) std differ a lot
    x = rng.normal(size=(n, 3)) * rng.uniform(1, 10, 3)
    yield Case((x,), expected=standardize(x), label=f"only {n} rows: the population std (divide by n)", **tol)

    n = int(rng.integers(5, 30))
    x = rng.normal(scale=rng.uniform(0.5, 5), size=(n, 1)) + rng.uniform(-5, 5)
    yield Case((x,), expected=standardize(x), label=f"one column, shape ({n}, 1)", **tol)

    n, d = int(rng.integers(5, 30)), int(rng.integers(2, 5))
    xi = rng.integers(-100, 100, size=(n, d))
    while np.any(xi.std(axis=0) == 0):  # a constant column is outside the exercise
        xi = rng.integers(-100, 100, size=(n, d))
    yield Case((xi,), expected=standardize(xi), label=f"integer matrix {n}x{d} (the result is float)", **tol)

    n, d = int(rng.integers(20, 50)), int(rng.integers(2, 5))
    skewed = rng.exponential(rng.uniform(0.5, 10), size=(n, d))

    def unit_stats(got):  # property: every column has mean 0 and std 1, to the value cases' precision
        g = np.asarray(got, dtype=float)
        if g.shape != (n, d):
            return f"wrong shape: expected {(n, d)}, got {g.shape}"
        means, stds = g.mean(axis=0), g.std(axis=0)
        off_mean, off_std = float(np.max(np.abs(means))), float(np.max(np.abs(stds - 1)))
        if not (off_mean <= _STD_TOL and off_std <= _STD_TOL):
            return (f"the columns of the result should have mean 0 and (population) standard deviation 1 "
                    f"(to within {_STD_TOL:g}); their means are up to {off_mean:.3g} away from 0 and their standard "
                    f"deviations up to {off_std:.3g} away from 1 (means {np.round(means, 4).tolist()}, "
                    f"standard deviations {np.round(stds, 4).tolist()})")
        return None

    yield Case((skewed,), expected=unit_stats, label="property: every column gets mean 0 and std 1", **tol)


# ----------------------------------------------------------------------------- 00.accuracy
def _n_labels(case: Case) -> int:
    return len(case.args[0])


def _matches_count(got, expected, case) -> bool:
    t, p = np.asarray(case.args[0]), np.asarray(case.args[1])
    return _n_labels(case) > 1 and np.isclose(float(got), float(np.sum(t == p)))


def _error_rate(got, expected, case) -> bool:
    t, p = np.asarray(case.args[0]), np.asarray(case.args[1])
    e = float(np.mean(t == p))
    return e != 0.5 and np.isclose(float(got), 1.0 - e)


def _percent(got, expected, case) -> bool:
    t, p = np.asarray(case.args[0]), np.asarray(case.args[1])
    e = float(np.mean(t == p))
    return e > 0 and np.isclose(float(got), 100.0 * e)


_ACCURACY_MISTAKES = (
    Mistake("percent", _percent,
            "you returned a percentage (0 to 100); accuracy here is the fraction, between 0 and 1."),
    Mistake("count", _matches_count,
            "you returned the number of correct predictions; accuracy is their fraction (divide by the "
            "number of labels)."),
    Mistake("error rate", _error_rate,
            "you returned the fraction of wrong predictions (the error rate); accuracy counts the right ones."),
)


def _mismatched_pair(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels in 0..k-1 with at least one right and one wrong prediction."""
    y = rng.integers(0, k, n)
    p = y.copy()
    wrong = rng.choice(n, size=int(rng.integers(1, n)), replace=False)  # 1..n-1 positions changed
    p[wrong] = (y[wrong] + rng.integers(1, k, wrong.size)) % k
    return y, p


@register("00.accuracy", signature="accuracy(y_true, y_pred) -> float", returns=float, pure=True,
          mistakes=_ACCURACY_MISTAKES,
          hint="Compare the labels position by position, then turn the matches into a fraction; make sure the "
               "comparison is element-wise for lists and tuples too.",
          recipe="Convert both inputs to NumPy arrays first: == on two arrays gives one True/False per "
                 "position, while == on two lists compares the whole lists. The mean of the booleans is the "
                 "fraction of matches, and the answer is that fraction as a float.")
def _accuracy(rng: np.random.Generator):
    yield Case((np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])), expected=0.5, label="two of four right (arrays)")
    yield Case((np.array([2, 2, 0]), np.array([0, 1, 2])), expected=0.0, label="none right: accuracy 0")

    n = int(rng.integers(3, 12))
    y, p = _mismatched_pair(rng, n, 4)
    yield Case((y.tolist(), p.tolist()), expected=float(np.mean(y == p)), label="plain lists with a mismatch")

    n = int(rng.integers(3, 12))
    y, p = _mismatched_pair(rng, n, 3)
    yield Case((tuple(y.tolist()), tuple(p.tolist())), expected=float(np.mean(y == p)),
               label="tuples with a mismatch")

    n = int(rng.integers(3, 12))
    y, p = _mismatched_pair(rng, n, 5)
    yield Case((y.tolist(), p), expected=float(np.mean(y == p)), label="a list against an array")

    dtypes = [np.int8, np.int16, np.int32, np.int64, np.uint8]
    a, b = rng.choice(len(dtypes), size=2, replace=False)
    n = int(rng.integers(20, 200))
    y, p = _mismatched_pair(rng, n, 3)
    yield Case((y.astype(dtypes[a]), p.astype(dtypes[b])), expected=float(np.mean(y == p)),
               label=f"arrays of different integer dtypes ({np.dtype(dtypes[a]).name} vs {np.dtype(dtypes[b]).name})")

    n = int(rng.integers(2, 8))
    y = rng.integers(0, 10, n).tolist()
    yield Case((y, list(y)), expected=1.0, label="plain lists, all right: accuracy 1")


# ----------------------------------------------------------------------------- 00.torch_loop
def _line_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # |slope| >= 1.5 keeps the line far from torch's initial weights (uniform in [-1, 1]), so a loop that
    # ignores `lr` or `steps` cannot land near the least-squares line by chance
    slope = rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 4)
    intercept, noise = rng.uniform(-3, 3), rng.uniform(0.05, 0.5)
    x = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    y = (slope * x + intercept + noise * rng.normal(size=(n, 1))).astype(np.float32)
    return x, y


def _torch_module(model: Any) -> str | None:
    """Problem text unless ``model`` is a torch.nn.Module (torch is imported only if it already is)."""
    if not type(model).__module__.split(".")[0] == "torch":
        return f"the first item should be the trained torch.nn.Module, got {type(model).__name__}"
    import torch

    if not isinstance(model, torch.nn.Module):
        return f"the first item should be the trained torch.nn.Module, got {type(model).__name__}"
    return None


def _losses_problem(obs: dict, steps: int) -> str | None:
    if obs["losses_type"] is not None:
        return f"the second item should be the list of losses, got {obs['losses_type']}"
    losses = obs["losses"]
    if obs["n_losses"] != steps:
        return f"expected one loss per step, {steps} in all, got {obs['n_losses']}"
    kinds = obs["loss_kinds"]
    if kinds:
        why = (" (a tensor kept in the list also keeps its whole computation graph in memory)"
               if any(k.startswith("torch.") for k in kinds) else "")
        return (f"the losses should be Python floats, got {', '.join(sorted(kinds))}: store each loss as a "
                f"number{why}")
    if not all(np.isfinite(losses)):
        return "some losses are NaN or infinite: the training diverged (is the learning rate the one given?)"
    if not losses[-1] < losses[0]:
        return f"the loss did not go down: first {losses[0]:.6g}, last {losses[-1]:.6g}"
    return None


def _line_of(model: Any, x: np.ndarray) -> tuple[float, float, str | None]:
    """Slope and intercept of the trained model, read off its outputs at the data and at 0 and 1."""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(x.copy()))
        probe = model(torch.tensor([[0.0], [1.0]], dtype=torch.float32))
    if tuple(out.shape) != x.shape:
        return 0.0, 0.0, f"the model maps inputs of shape {x.shape} to shape {tuple(out.shape)}, expected {x.shape}"
    b = float(probe[0, 0])
    return float(probe[1, 0]) - b, b, None


@register_probe("00.trained_line")
def _trained_line(got: Any, args: tuple, kwargs: dict) -> dict:
    """Observations of the pair ``(model, losses)`` of ``00.torch_loop``, made where the answer ran: whether it
    is a pair, the losses (Python floats only; the types of the others), and the trained line (slope and
    intercept read off the model's outputs at the data ``args[0]``). The model itself never leaves."""
    obs: dict = {"pair": isinstance(got, (tuple, list)) and len(got) == 2, "type": type(got).__name__}
    if not obs["pair"]:
        return obs
    model, losses = got
    obs["model_problem"] = _torch_module(model)
    is_list = isinstance(losses, (list, tuple))
    obs["losses_type"] = None if is_list else type(losses).__name__
    obs["n_losses"] = len(losses) if is_list else 0
    kept = list(losses[:100_000]) if is_list else []
    obs["loss_kinds"] = sorted({type(v).__module__.split(".")[0] + "." + type(v).__name__ for v in kept
                                if not isinstance(v, float)})
    obs["losses"] = [float(v) for v in kept] if not obs["loss_kinds"] else []
    obs["w"] = obs["b"] = 0.0
    obs["line_problem"] = None
    if obs["model_problem"] is None:
        try:
            obs["w"], obs["b"], obs["line_problem"] = _line_of(model, np.asarray(args[0]))
        except Exception as exc:  # noqa: BLE001 - the learner's model: reported, not raised
            obs["line_problem"] = (f"calling the trained model on the data raised {type(exc).__name__}: "
                                   f"{str(exc)[:300]}")
    return obs


def _gd_losses(x: np.ndarray, y: np.ndarray, lr: float, w: float, b: float, steps: int) -> np.ndarray:
    """The MSE losses of ``steps + 1`` points of plain full-batch gradient descent on ``y ≈ w x + b`` at
    learning rate ``lr`` that *ends* at ``(w, b)``: ``losses[t]`` is the loss before step ``t`` and
    ``losses[steps]`` the loss of the final line.

    On this quadratic loss one step maps ``θ - θ*`` to ``(I - lr H)(θ - θ*)`` (``H = 2 XᵀX / n``, ``θ*`` the
    least-squares line), so the trajectory is recovered from its end by applying ``(I - lr H)⁻¹``.
    """
    X = np.column_stack([x.ravel().astype(float), np.ones(x.shape[0])])
    t = y.ravel().astype(float)
    theta_ls = np.linalg.lstsq(X, t, rcond=None)[0]
    H = 2.0 * X.T @ X / X.shape[0]
    back = np.linalg.inv(np.eye(2) - lr * H)
    mse_ls = float(np.mean((X @ theta_ls - t) ** 2))
    d = np.array([w, b]) - theta_ls
    out = [mse_ls + 0.5 * d @ H @ d]
    for _ in range(steps):
        d = back @ d
        out.append(mse_ls + 0.5 * d @ H @ d)
    return np.array(out[::-1])


def _gd_start(x: np.ndarray, y: np.ndarray, lr: float, w: float, b: float, steps: int) -> tuple[float, float]:
    """The line ``steps`` plain gradient-descent steps at ``lr`` before ``(w, b)`` (see :func:`_gd_losses`)."""
    X = np.column_stack([x.ravel().astype(float), np.ones(x.shape[0])])
    t = y.ravel().astype(float)
    theta_ls = np.linalg.lstsq(X, t, rcond=None)[0]
    back = np.linalg.inv(np.eye(2) - lr * 2.0 * X.T @ X / X.shape[0])
    d = np.array([w, b]) - theta_ls
    for _ in range(steps):
        d = back @ d
    w0, b0 = theta_ls + d
    return float(w0), float(b0)


def _trajectory_problem(x, y, lr: float, w: float, b: float, losses: list) -> str | None:
    """None when ``losses`` are those of plain gradient descent at ``lr`` ending at ``(w, b)``: one loss per
    step, recorded before its update (or, equally accepted, right after it)."""
    steps = len(losses)
    gd = _gd_losses(x, y, lr, w, b, steps)
    got = np.asarray(losses, dtype=float)
    for want in (gd[:-1], gd[1:]):
        if np.allclose(got, want, rtol=1e-3, atol=1e-6):
            # ... and the run starts where a fresh torch.nn.Linear(1, 1) starts (weight and bias in [-1, 1]);
            # the data's line has |slope| >= 1.5, so a run that sits at the minimum from its first step (e.g.
            # the tail of a longer or converged run) starts outside that square
            w0, b0 = _gd_start(x, y, lr, w, b, steps)  # gd[0]: the loss at that start
            if max(abs(w0), abs(b0)) > 1.05:
                return (f"the recorded losses fit gradient descent at lr={lr:g} only from the start w = {w0:.3g}, "
                        f"b = {b0:.3g}, which no freshly made torch.nn.Linear(1, 1) has (its weight and bias start "
                        f"in [-1, 1]): record the losses of the {steps} steps of this call, from the untrained "
                        "model, and train only for those steps")
            return None
    show = lambda v: "[" + ", ".join(f"{u:.4g}" for u in v) + "]"  # noqa: E731
    return (f"the recorded losses {show(got)} are not those of plain gradient descent on the MSE with the "
            f"given learning rate lr={lr:g}: gradient descent that ends at the trained line would have "
            f"recorded {show(gd[:-1])}. Each of the {steps} steps must take one plain gradient step of size "
            "lr (no fixed learning rate, no momentum or Adam, no extra steps) on the mean squared error")


def _train_validator(x: np.ndarray, y: np.ndarray, steps: int, converge: bool, trajectory_lr: float | None = None):
    w_ls, b_ls = (float(v) for v in np.polyfit(x.ravel().astype(float), y.ravel().astype(float), deg=1))

    def validate(got):
        if not got.get("pair"):
            return f"expected the pair (model, losses), got {got.get('type')}"
        problem = got["model_problem"] or _losses_problem(got, steps)
        if problem:
            return problem
        w, b, problem, losses = got["w"], got["b"], got["line_problem"], got["losses"]
        if problem:
            return problem
        if not (np.isfinite(w) and np.isfinite(b)):
            return (f"after training the line is w = {w}, b = {b}: the parameters are not finite numbers, so the "
                    "training diverged (is the learning rate the one given?)")
        if trajectory_lr is not None:
            problem = _trajectory_problem(x, y, trajectory_lr, w, b, losses)
            if problem:
                return problem
        if not converge:
            return None
        if abs(w - w_ls) > 0.01 or abs(b - b_ls) > 0.01:
            return (f"after training the line is w = {w:.4f}, b = {b:.4f}, but the least-squares line is "
                    f"w = {w_ls:.4f}, b = {b_ls:.4f} (allowed difference 0.01 each): the loop did not reach "
                    "the minimum of the loss")
        mse = float(np.mean((w * x.astype(float) + b - y.astype(float)) ** 2))
        if abs(losses[-1] - mse) > 0.01 * mse + 1e-6:
            return (f"the last recorded loss is {losses[-1]:.6g}, but the trained model's MSE on the data is "
                    f"{mse:.6g}: record the mean squared error of each step")
        return None

    return validate


def _max_initial_mse(case: Case) -> float:
    """The largest MSE any initial torch.nn.Linear(1, 1) can have on the case's data: its weight and bias
    start in [-1, 1], and the MSE is convex in them, so the maximum is at a corner of that square."""
    x, y = (np.asarray(a, dtype=float).ravel() for a in case.args[:2])
    return max(float(np.mean((w * x + b - y) ** 2)) for w in (-1.0, 1.0) for b in (-1.0, 1.0))


def _float_losses(got) -> list[float] | None:
    """The recorded losses when they are all Python floats (the detectors below judge nothing else)."""
    if not (got.get("pair") and got.get("losses_type") is None and not got.get("loss_kinds")):
        return None
    losses = list(got["losses"])
    return losses if losses else None


def _summed_loss(got, expected, case) -> bool:
    losses = _float_losses(got)
    if losses is None:
        return False
    first, n = losses[0], len(case.args[0])
    bound = _max_initial_mse(case) * 1.001
    return first > bound and first / n <= bound


def _half_mse(got, expected, case) -> bool:
    x, y = (np.asarray(a, dtype=np.float32) for a in case.args[:2])
    losses = _float_losses(got)
    if losses is None or got["model_problem"] or got["line_problem"]:
        return False
    w, b = got["w"], got["b"]
    mse = float(np.mean((w * x.astype(float) + b - y.astype(float)) ** 2))
    return bool(np.isclose(losses[-1], 0.5 * mse, rtol=0.02)) and not np.isclose(losses[-1], mse, rtol=0.02)


def _loss_went_up(got, expected, case) -> bool:
    losses = _float_losses(got)
    return losses is not None and any(b > a * (1 + 1e-6) + 1e-12 for a, b in zip(losses, losses[1:]))


def _loss_constant(got, expected, case) -> bool:
    losses = _float_losses(got)
    return losses is not None and len(losses) > 1 and max(losses) - min(losses) <= 1e-9 * max(1.0, abs(losses[0]))


_TORCH_MISTAKES = (
    Mistake("summed loss", _summed_loss,
            "the first loss is about n times larger than any initial line's mean squared error: you summed the "
            "squared errors; the MSE is their mean (and a sum also makes every gradient n times larger)."),
    Mistake("half MSE", _half_mse,
            "the recorded losses are half the mean squared error: the exercise's loss is the MSE itself, "
            "without a factor 1/2."),
    Mistake("no step", _loss_constant,
            "the loss never changes, so the parameters are never updated: does every step end with an "
            "update of the parameters, and are the gradients cleared before backward() (not between "
            "backward() and the update)?"),
    Mistake("gradients accumulate", _loss_went_up,
            "the loss went up during training, which plain gradient descent at this learning rate does not "
            "do: are the gradients reset before each backward() (backward() adds to .grad), and is the "
            "update plain gradient descent (no momentum, no Adam)?"),
)


_LINE = ("00.trained_line", {})


@register("00.torch_loop", signature="train_torch(x, y, steps: int, lr: float) -> (model, losses)",
          returns=(tuple, list), pure=True, time_limit=30.0, mistakes=_TORCH_MISTAKES,
          hint="Each step needs four things in order: a fresh loss on the whole batch, the gradients reset, "
               "backward(), and an update with the given learning rate; and the loss stored as a number.",
          recipe="Make one plain gradient-descent optimizer over the model's parameters, with the learning rate "
                 "you were given (torch.optim has one). Then, once per step: clear the gradients left by the "
                 "previous step, compute this step's mean squared error on all the data, keep its value as a "
                 "Python number, backpropagate it, and let the optimizer update the parameters.")
def _torch_loop(rng: np.random.Generator):
    n = int(rng.integers(100, 300))
    x, y = _line_data(rng, n)
    yield Case((x, y, 300, 0.1), expected=_train_validator(x, y, 300, True), probe=_LINE,
               label=f"a random line, {n} points, 300 steps at lr 0.1: reaches the least-squares line")

    n = int(rng.integers(50, 150))
    x, y = _line_data(rng, n)
    yield Case((x, y, 40, 0.5), expected=_train_validator(x, y, 40, True), probe=_LINE,
               label=f"a random line, {n} points, only 40 steps at lr 0.5: the given (large) learning rate "
                     "reaches the line in few steps")

    # a short run at a random learning rate: the recorded losses must be exactly those of plain gradient
    # descent at that rate (recovered backwards from the trained line), which no fixed learning rate, momentum,
    # Adam, summed loss or extra untracked steps reproduce; lr <= 0.2 keeps the backward map well conditioned
    # (its amplification of float32 rounding stays below 100x over 7 steps)
    n = int(rng.integers(20, 60))
    x, y = _line_data(rng, n)
    steps = int(rng.integers(3, 8))
    lr = round(round(float(rng.uniform(0.05, 0.2)), 3) + 0.0007, 4)  # never a round number a loop could hard-code
    yield Case((x, y, steps, lr), expected=_train_validator(x, y, steps, False, trajectory_lr=lr),
               probe=_LINE,
               label=f"a short run of {steps} steps at lr {lr}: one loss per step, as Python floats, going down, "
                     "exactly those of gradient descent with the given learning rate")
