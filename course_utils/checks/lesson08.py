"""Self-checks for lesson 08 (fusion basics).

References are written here from the lesson's formulas in NumPy (float64). Every property is produced by the
case generators for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test is the same
check with another seed. Predictable wrong answers are named by :class:`Mistake` detectors that recompute the
wrong variant from the case's own arguments. torch is imported only by the PyTorch exercise's cases.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._core import (Case, Mistake, as_float_array, close_to, close_to_float32, compare, cotangent_gradients, describe,
                    fixed_cotangent, gradients_problem, register, register_probe, tensor_values)


def _matches(got: Any, value: Any, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    return close_to_float32(got, value, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- 08.block_normalize
def _block_ref(X: np.ndarray, train: np.ndarray, *, ddof: int = 0, rows: str = "train", power: float = 0.5,
               center: bool = True) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    ref = X[np.asarray(train, dtype=bool)] if rows == "train" else X
    total = float(ref.var(axis=0, ddof=ddof).sum())
    out = X - ref.mean(axis=0) if center else X
    return out / total ** power


def _zscore(X: np.ndarray, train: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    ref = X[np.asarray(train, dtype=bool)]
    sd = ref.std(axis=0)
    return (X - ref.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


_BLOCK_MISTAKES = (
    Mistake("per-column z-score", lambda got, e, c: _matches(got, _zscore(*c.args)),
            "every column was standardised on its own (a z-score): that gives each column variance 1, so the "
            "block's total variance is its width d again. Centre each column, then divide the WHOLE block by one "
            "number, the square root of the sum of its column variances."),
    Mistake("statistics of all rows", lambda got, e, c: _matches(got, _block_ref(*c.args, rows="all")),
            "the mean and the variances were computed on all rows; use the training rows only (X[train]), as "
            "for any statistic that is fitted."),
    Mistake("ddof=1", lambda got, e, c: _matches(got, _block_ref(*c.args, ddof=1)),
            "the variances use ddof=1; the exercise (and the lesson's formula) uses the population variance, "
            "np.var's default ddof=0."),
    Mistake("divided by the variance", lambda got, e, c: _matches(got, _block_ref(*c.args, power=1.0)),
            "the block was divided by its total variance; divide by its square root (a scale, so that the total "
            "variance of the result is 1)."),
    Mistake("not centred", lambda got, e, c: _matches(got, _block_ref(*c.args, center=False)),
            "the scale is right but the columns were not centred: subtract the training rows' column means."),
    Mistake("divided by sqrt(d)", lambda got, e, c: as_float_array(got) is not None
            and _matches(got, (np.asarray(c.args[0], float) - np.asarray(c.args[0], float)[c.args[1]].mean(0))
                         / np.sqrt(np.shape(c.args[0])[1])),
            "dividing by sqrt(d) gives unit total variance only when every column already has variance 1; use the "
            "block's own total variance (the sum of its training column variances)."),
)


def _block_case(X: np.ndarray, train: np.ndarray, label: str) -> Case:
    e = _block_ref(X, train)

    def validate(got):
        g = as_float_array(got)
        if g is None:
            return f"expected a float NumPy array of shape {e.shape}, got {type(got).__name__}: {describe(got)}"
        if isinstance(got, np.ndarray) and got.dtype != np.float64 and got.shape == e.shape:
            return (f"the result has dtype {got.dtype}; the exercise asks for float64 whatever the input dtype "
                    "(a float32 block, like the TF-IDF one, must be converted before the statistics are computed)")
        problem = compare(g, e, 1e-6, 1e-9 * max(1.0, float(np.abs(e).max())))
        if problem:
            return problem
        return None

    validate.value = e
    return Case((X, train), expected=validate, label=label)


def _block_value_mistake(m: Mistake) -> Mistake:
    # the case's expected is a validator: give the detectors the reference values
    return Mistake(m.name, lambda got, e, c: m.detect(got, getattr(e, "value", e), c), m.message)


@register("08.block_normalize", signature="block_normalize(X, train) -> np.ndarray (N, d) float64",
          returns=np.ndarray,
          hint="After your function, X_out[train].var(axis=0).sum() must be 1 and every column mean over the "
               "training rows 0, while the ratio of two columns' spreads is unchanged.",
          recipe="Take the column means of the TRAINING rows only and subtract them from every row; add up the "
                 "training columns' variances (population variance, ddof=0) into one total; divide the whole "
                 "centred block by the square root of that total.",
          mistakes=tuple(_block_value_mistake(m) for m in _BLOCK_MISTAKES))
def _block_normalize(rng: np.random.Generator):
    X = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [100.0, -7.0]])
    yield _block_case(X, np.array([True, True, True, False]), "4 rows, the last is not a training row")
    n, d = int(rng.integers(20, 60)), int(rng.integers(3, 40))
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 20.0, size=d) + rng.normal(size=d) * 5
    train = rng.random(n) < 0.6
    train[:2] = True
    yield _block_case(X, train, f"random block ({n}, {d}) with columns of very different scales")
    n, d = int(rng.integers(10, 30)), int(rng.integers(50, 120))
    X = (rng.random((n, d)) < 0.1) * rng.random((n, d))   # sparse, TF-IDF-like, constant columns included
    X[:, 0] = 0.0
    train = np.ones(n, dtype=bool)
    train[-3:] = False
    yield _block_case(X.astype(np.float32), train, f"sparse TF-IDF-like float32 block ({n}, {d}) with a "
                                                   "constant column")


# ----------------------------------------------------------------------------- 08.late_average
def _late_ref(probs, weights=None) -> np.ndarray:
    P = np.asarray([np.asarray(p, dtype=float) for p in probs])
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    return np.tensordot(w, P, axes=1)


_LATE_MISTAKES = (
    Mistake("weights not normalised", lambda got, e, c: len(c.args) > 1 and c.args[1] is not None and _matches(
        got, np.tensordot(np.asarray(c.args[1], float), np.asarray(c.args[0], float), axes=1)),
            "the weights were used as given; divide them by their sum first, so that the result is still a "
            "probability (the weights (1, 1, 2) mean (0.25, 0.25, 0.5))."),
    Mistake("averaged over the rows", lambda got, e, c: as_float_array(got) is not None
            and as_float_array(got).shape == (len(c.args[0]),) + np.shape(c.args[0][0])[1:]
            and np.shape(c.args[0][0])[0] != len(c.args[0]),
            "the result has one value per modality: you averaged over the utterances (axis 1). Average over "
            "the modalities (axis 0): one fused probability per utterance."),
    Mistake("weights ignored", lambda got, e, c: len(c.args) > 1 and c.args[1] is not None
            and _matches(got, _late_ref(c.args[0])),
            "this is the plain mean: when weights are given, use them (normalised to sum 1)."),
)


@register("08.late_average", signature="late_average(probs, weights=None) -> np.ndarray",
          returns=np.ndarray,
          hint="With probs of M modalities for N utterances, the result has the shape of ONE modality's "
               "probabilities; with weights (1, 1, 2) the third modality counts twice as much as each other one.",
          mistakes=_LATE_MISTAKES)
def _late_average(rng: np.random.Generator):
    p = [np.array([0.9, 0.2, 0.6, 0.3]), np.array([0.7, 0.4, 0.2, 0.3]), np.array([0.5, 0.0, 1.0, 0.9])]
    yield Case((p,), expected=_late_ref(p), label="3 modalities, 4 utterances, no weights", rtol=1e-9, atol=1e-12)
    yield Case((p, [1.0, 1.0, 2.0]), expected=_late_ref(p, [1.0, 1.0, 2.0]),
               label="weights (1, 1, 2): normalised to (0.25, 0.25, 0.5)", rtol=1e-9, atol=1e-12)
    M, N = int(rng.integers(2, 5)), int(rng.integers(5, 30))
    P = rng.random((M, N))
    w = rng.uniform(0.1, 3.0, size=M)
    yield Case((P, w), expected=_late_ref(P, w), label=f"an array ({M}, {N}) of probabilities, random weights",
               rtol=1e-9, atol=1e-12)
    K = int(rng.integers(3, 6))
    Q = rng.dirichlet(np.ones(K), size=(M, N))
    yield Case((list(Q),), expected=_late_ref(list(Q)), label=f"{K}-class probabilities: {M} arrays of shape "
               f"({N}, {K})", rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- 08.bilinear_fusion
def _bil_ref(x, y, W, b=None) -> np.ndarray:
    out = np.einsum("bi,kij,bj->bk", np.asarray(x, float), np.asarray(W, float), np.asarray(y, float))
    return out if b is None else out + np.asarray(b, float)


def _bil_args(c: Case):
    return tuple(as_float_array(a) for a in c.args)


_BIL_MISTAKES = (
    Mistake("W transposed", lambda got, e, c: _bil_args(c)[0].shape[1] == _bil_args(c)[1].shape[1] and _matches(
        got, _bil_ref(_bil_args(c)[0], _bil_args(c)[1], np.swapaxes(_bil_args(c)[2], 1, 2), _bil_args(c)[3])),
            "x and y are swapped against W's axes: W[k] has shape (p, q), x (p entries) multiplies its rows and "
            "y (q entries) its columns: z_k = x^T W_k y."),
    Mistake("no bias", lambda got, e, c: _matches(got, _bil_ref(*_bil_args(c)[:3])),
            "the bias b (one value per output k) is missing."),
    Mistake("(K, B)", lambda got, e, c: as_float_array(got) is not None
            and as_float_array(got).shape == np.shape(e)[::-1] and np.shape(e)[0] != np.shape(e)[1]
            and _matches(as_float_array(got).T, e),
            "the values are right but transposed: return one row per example, shape (B, K)."),
)


@register("08.bilinear_fusion", signature="bilinear_fusion(x, y, W, b) -> array (B, K)",
          hint="Check one output by hand: z[0, k] = x[0] @ W[k] @ y[0] + b[k]. np.einsum can write the whole "
               "batch in one line.",
          mistakes=_BIL_MISTAKES)
def _bilinear_fusion(rng: np.random.Generator):
    d = int(rng.integers(3, 8))
    args = (rng.normal(size=(5, d)), rng.normal(size=(5, d)), rng.normal(size=(d + 1, d, d)), rng.normal(size=d + 1))
    yield Case(args, expected=_bil_ref(*args), label=f"square W (p = q = {d}): which side does x go?",
               rtol=1e-5, atol=1e-7)
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    y = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 3.0]])
    W = np.arange(12.0).reshape(2, 2, 3)
    b = np.array([0.5, -1.0])
    yield Case((x, y, W, b), expected=_bil_ref(x, y, W, b), label="B=2, p=2, q=3, K=2 (by hand)",
               rtol=1e-6, atol=1e-9)
    B, p, q, K = (int(v) for v in rng.integers(2, 7, size=4))
    args = (rng.normal(size=(B, p)), rng.normal(size=(B, q)), rng.normal(size=(K, p, q)), rng.normal(size=K))
    yield Case(args, expected=_bil_ref(*args), label=f"random B={B}, p={p}, q={q}, K={K}", rtol=1e-5, atol=1e-7)
    args32 = tuple(a.astype(np.float32) for a in args)
    yield Case(args32, expected=_bil_ref(*args32), label="float32 inputs", rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- 08.softmax_fusion (PyTorch)
@register_probe("08.softmax_fusion")
def _fusion_observations(module, args, kwargs, *, mods: list, dims: dict, hidden: int, weights: dict,
                         biases: dict, logits, xs: dict, cotangent) -> dict:
    """Observations of the module ``SoftmaxWeightedFusion(dims, hidden)`` returned, made where the answer ran:
    the logits it starts with; then, with the given weights, biases and logits set, its output on ``xs``,
    whether the output is attached to autograd, the gradients of ``sum(output * cotangent)`` with respect to
    self.logits and every projection (values; None where no gradient reaches) and what ``module.weights()``
    returns. Problems with the module itself (a missing attribute, forward raising) are recorded as texts,
    worded as the check words them. The module never leaves."""
    import torch

    obs: dict = {"problem": None, "call_problem": None}
    if not isinstance(module, torch.nn.Module):
        obs["problem"] = f"SoftmaxWeightedFusion(dims, hidden) must build a torch.nn.Module, got {type(module).__name__}"
        return obs
    for attr in ("proj", "logits"):
        if not hasattr(module, attr):
            obs["problem"] = (f"the module has no attribute {attr!r}: name the projections self.proj (an "
                              "nn.ModuleDict of nn.Linear) and the modality logits self.logits (an nn.Parameter)")
            return obs
    if not isinstance(module.proj, torch.nn.ModuleDict) or sorted(module.proj.keys()) != sorted(mods):
        obs["problem"] = f"self.proj must be an nn.ModuleDict with one nn.Linear per modality {mods}"
        return obs
    for m in mods:
        lin = module.proj[m]
        if not isinstance(lin, torch.nn.Linear) or (lin.in_features, lin.out_features) != (dims[m], hidden):
            obs["problem"] = f"self.proj[{m!r}] must be nn.Linear({dims[m]}, {hidden}), got {lin}"
            return obs
    if not isinstance(module.logits, torch.nn.Parameter) or tuple(module.logits.shape) != (len(mods),):
        obs["problem"] = (f"self.logits must be an nn.Parameter of shape ({len(mods)},), got "
                          f"{describe(module.logits)}")
        return obs
    obs["logits0"] = module.logits.detach().cpu().double().numpy()
    try:
        with torch.no_grad():
            for m in mods:
                module.proj[m].weight.copy_(torch.from_numpy(np.asarray(weights[m])))
                module.proj[m].bias.copy_(torch.from_numpy(np.asarray(biases[m])))
            module.logits.copy_(torch.from_numpy(np.asarray(logits)))
        out = module({m: torch.from_numpy(np.asarray(xs[m])) for m in mods})
    except Exception as exc:  # noqa: BLE001 - the learner's module: reported, not raised
        B = len(np.asarray(xs[mods[0]]))
        obs["call_problem"] = (f"calling the module on a dict of {B} rows per modality raised "
                               f"{type(exc).__name__}: {str(exc)[:500]}")
        return obs
    if not isinstance(out, torch.Tensor):
        obs["call_problem"] = (f"forward must return a torch.Tensor of shape ({len(np.asarray(xs[mods[0]]))}, "
                               f"{hidden}), got {type(out).__name__}")
        return obs
    obs.update(out=tensor_values(out), requires_grad=bool(out.requires_grad), grads={}, grad_problem=None)
    names = ["logits"] + [f"proj.{m}.{part}" for m in mods for part in ("weight", "bias")]
    if out.requires_grad and out.is_floating_point() and tuple(out.shape) == np.shape(cotangent):
        obs["grads"], obs["grad_problem"] = cotangent_gradients(
            out, cotangent, lambda: list(zip(names, [module.logits] + [getattr(module.proj[m], part) for m in mods
                                                                       for part in ("weight", "bias")])),
            "backpropagating through the output")
    obs["weights_problem"] = None
    try:
        got_w = module.weights()
    except Exception as exc:  # noqa: BLE001
        obs["weights_problem"] = f"module.weights() raised {type(exc).__name__}: {str(exc)[:500]}"
        return obs
    if not isinstance(got_w, dict) or list(got_w) != mods:
        obs["weights_problem"] = (f"module.weights() must return a dict {{modality: float}} in the order {mods}, "
                                  f"got {describe(got_w)}")
        return obs
    try:
        obs["weights_values"] = np.array([float(got_w[m]) for m in mods])
    except Exception as exc:  # noqa: BLE001
        obs["weights_problem"] = (f"module.weights() must give plain Python floats (float(...)), not "
                                  f"{type(exc).__name__}: {str(exc)[:200]}")
        return obs
    obs["weights_floats"] = all(isinstance(v, float) for v in got_w.values())
    return obs


def _fusion_grads(xs: dict, weights: dict, biases: dict, logits: np.ndarray, cot: np.ndarray) -> dict:
    """The gradients of ``sum(output * cot)`` with respect to the logits and the projections, in float64."""
    mods = list(xs)
    a = np.asarray(logits, dtype=float)
    w = np.exp(a - a.max())
    w /= w.sum()
    C = np.asarray(cot, dtype=float)
    grads: dict = {}
    s = np.zeros(len(mods))
    for i, m in enumerate(mods):
        x = np.asarray(xs[m], dtype=float)
        t = np.tanh(x @ np.asarray(weights[m], dtype=float).T + np.asarray(biases[m], dtype=float))
        s[i] = float((C * t).sum())
        dp = w[i] * C * (1.0 - t ** 2)
        grads[f"proj.{m}.weight"] = dp.T @ x
        grads[f"proj.{m}.bias"] = dp.sum(axis=0)
    grads["logits"] = w * (s - float(w @ s))
    return grads


def _fusion_case(rng: np.random.Generator, dims: dict, hidden: int, B: int, label: str) -> Case:
    import torch

    seed = int(rng.integers(0, 2**31))
    mods = list(dims)
    g = torch.Generator().manual_seed(seed)   # the weights and inputs the check has always used
    weights, biases = {}, {}
    for m in mods:
        weights[m] = torch.randn((hidden, dims[m]), generator=g).numpy()
        biases[m] = torch.randn((hidden,), generator=g).numpy()
    logits = (2 * torch.randn(len(mods), generator=g)).numpy()
    xs = {m: (torch.randn(B, dims[m], generator=g) / np.sqrt(dims[m])).numpy() for m in mods}
    cot = fixed_cotangent((B, hidden))
    a = logits.astype(float)
    w = np.exp(a - a.max())
    w /= w.sum()
    proj = {m: xs[m].astype(float) @ weights[m].astype(float).T + biases[m].astype(float) for m in mods}
    expected = sum(w[i] * np.tanh(proj[m]) for i, m in enumerate(mods))
    exp_grads = _fusion_grads(xs, weights, biases, logits, cot)

    def validate(obs):
        """The verdict on the probe's observations (the same in a learner's kernel and in the grader)."""
        if obs.get("problem"):
            return obs["problem"]
        logits0 = as_float_array(obs.get("logits0"))
        if logits0 is None or not np.allclose(logits0, 0.0):
            return "self.logits must start at zeros (equal weights 1/M before training)"
        if obs.get("call_problem"):
            return obs["call_problem"]
        problem = compare(obs.get("out"), expected, 1e-4, 1e-5)
        if problem:
            o = as_float_array(obs.get("out"))
            if o is not None and o.shape == expected.shape:
                if np.allclose(o, sum(np.tanh(proj[m]) for m in mods) / len(mods), atol=1e-5):
                    return problem + ". Likely mistake: the modalities got equal weights 1/M: use softmax(self.logits)"
                if np.allclose(o, sum(a[i] * np.tanh(proj[m]) for i, m in enumerate(mods)), atol=1e-5):
                    return problem + ". Likely mistake: the raw logits were used as weights; apply a softmax first"
                if np.allclose(o, sum(w[i] * proj[m] for i, m in enumerate(mods)), atol=1e-5):
                    return problem + ". Likely mistake: tanh is missing after each projection"
                if np.allclose(o, np.tanh(sum(w[i] * proj[m] for i, m in enumerate(mods))), atol=1e-5):
                    return problem + ". Likely mistake: tanh was applied after the weighted sum, not to each projection"
            return problem
        if obs.get("requires_grad") is not True:
            return "the output is cut off from the graph: do not use torch.no_grad(), .detach() or NumPy in forward"
        if obs.get("grad_problem"):
            return obs["grad_problem"]
        grads = obs.get("grads") or {}
        g_logits = grads.get("logits")
        if g_logits is None or not np.isfinite(np.asarray(g_logits, dtype=float)).all():
            return "no gradient reaches self.logits: the weights must be computed from it inside forward"
        problem = gradients_problem(grads, exp_grads, prefix="self.")
        if problem:
            return problem
        if obs.get("weights_problem"):
            return obs["weights_problem"]
        got_w = as_float_array(obs.get("weights_values"))
        if got_w is None or got_w.shape != w.shape or not np.allclose(got_w, w, atol=1e-6):
            return f"module.weights() returned {describe(got_w)}, expected softmax(self.logits) = {describe(w)}"
        if obs.get("weights_floats") is not True:
            return "module.weights() must give plain Python floats (float(...)), not tensors"
        return None

    probe = ("08.softmax_fusion", {"mods": mods, "dims": dict(dims), "hidden": hidden, "weights": weights,
                                   "biases": biases, "logits": logits, "xs": xs, "cotangent": cot})
    return Case((dict(dims), hidden), expected=validate, label=label, probe=probe)


@register("08.softmax_fusion", signature="SoftmaxWeightedFusion(dims, hidden) -> nn.Module",
          time_limit=20.0,
          hint="forward(inputs) = sum over modalities m (in dims order) of softmax(self.logits)[i] * "
               "tanh(self.proj[m](inputs[m])); weights() returns the same softmax as a dict of floats.")
def _softmax_fusion(rng: np.random.Generator):
    yield _fusion_case(rng, {"text": 5, "audio": 3}, 4, 3, "two modalities, hidden 4")
    M = int(rng.integers(2, 5))
    dims = {f"m{i}": int(rng.integers(2, 12)) for i in range(M)}
    yield _fusion_case(rng, dims, int(rng.integers(3, 10)), int(rng.integers(2, 9)), f"{M} modalities {dims}")
    yield _fusion_case(rng, {"vision": 7, "text": 2, "audio": 6}, 5, 4,
                       "three modalities, dims not in alphabetical order")
