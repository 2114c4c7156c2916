"""Self-checks for lesson 10 (the capstone: evaluation, calibration, seed system 004, ablation).

References are written here from the formulas, in NumPy and float64 (the same definitions as
:mod:`course_utils.capstone`, which is not imported: a check module only needs NumPy at import;
``tests/test_checks_10.py`` compares the two). Every property is produced by the case generators for any seed
(fixed cases plus cases drawn from ``rng``), so an instructor test is the same check with another seed.
Predictable wrong answers are named by :class:`Mistake` detectors that recompute the wrong variant from the
case's own arguments. torch is imported only inside the cases of the PyTorch exercise (``10.multitask_loss``).
"""
from __future__ import annotations

import numpy as np

from ._core import (Build, Case, Mistake, as_float_array, close_to_float32, compare, describe, register,
                    register_builder, register_probe)
from ._losses import loss_probe, observed_loss_problem, observed_scalar

_arr = as_float_array


def _interval_validator(expected, args):
    """A case's ``expected``: the answer must be a tuple of two floats equal to ``expected`` (lo, hi)."""
    def validate(got):
        if not isinstance(got, tuple) or len(got) != 2:
            return f"expected a tuple (lo, hi) of two floats, got {type(got).__name__}: {describe(got)}"
        if not all(isinstance(v, (float, np.floating)) for v in got):
            return f"lo and hi must be floats, got {describe(got)} (use float(...))"
        return compare(np.array(got, dtype=float), np.array(expected), 1e-9, 1e-12, where="(lo, hi)")

    validate.args = args
    validate.value = expected
    return validate
_matches = close_to_float32


# ----------------------------------------------------------------------------- 10.bootstrap_ci
def _members(groups, order: str = "sorted") -> list[np.ndarray]:
    groups = np.asarray(groups)
    if order == "sorted":
        names = np.unique(groups)
    else:  # order of first appearance
        _, first = np.unique(groups, return_index=True)
        names = groups[np.sort(first)]
    return [np.flatnonzero(groups == g) for g in names]


def _boot(y_true, y_pred, groups, draws, metric, *, mode: str = "groups", order: str = "sorted",
          q=(2.5, 97.5), normal: bool = False):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    members = _members(groups, order)
    stats = []
    for d in np.asarray(draws):
        if mode == "rows":
            rows = np.asarray(d)
            stats.append(metric(y_true[rows], y_pred[rows]))
        elif mode == "set":    # each drawn group once, whatever its multiplicity (np.isin)
            rows = np.flatnonzero(np.isin(np.asarray(groups), np.unique(groups)[np.asarray(d)]))
            stats.append(metric(y_true[rows], y_pred[rows]))
        elif mode == "group_means":
            stats.append(np.mean([metric(y_true[members[g]], y_pred[members[g]]) for g in d]))
        else:
            rows = np.concatenate([members[g] for g in d])
            stats.append(metric(y_true[rows], y_pred[rows]))
    stats = np.asarray(stats, dtype=float)
    if normal:
        m, s = float(metric(y_true, y_pred)), float(stats.std())
        return m - 1.96 * s, m + 1.96 * s
    lo, hi = np.percentile(stats, list(q))
    return float(lo), float(hi)


def _acc(t, p):
    return float(np.mean(np.asarray(t) == np.asarray(p)))


def _mae(t, p):
    return float(np.mean(np.abs(np.asarray(t, float) - np.asarray(p, float))))


def _acc2_stacked(t, yp):
    return float(np.mean((np.asarray(t) >= 0) == (np.asarray(yp)[:, 1] > 0.5)))


def _share_positive(t, p):
    return float(np.mean(np.asarray(p) > 0))


#: The metrics a case passes, by name: the answer receives the function itself, made where it runs from
#: ``Build("10.metric", {"name": ...})`` (a function is not plain data; its name is).
_METRICS = {"accuracy": _acc, "mean absolute error": _mae, "Acc-2 of the class column": _acc2_stacked,
            "share of positive predictions": _share_positive}


@register_builder("10.metric")
def _metric(name: str):
    return _METRICS[name]


@register_builder("10.groups")
def _groups(names: list, dtype: str):
    """The group names of a case as the NumPy string array the answer receives (a string array is not plain
    data for the grader's wire; its items and dtype are)."""
    return np.array(names, dtype=dtype)


@register_probe("10.bootstrap")
def _bootstrap_observations(got, args: tuple, kwargs: dict, groups: list, dtype: str):
    """What the answer returned, as it is (a pair of floats is plain data), or, when it changed its argument
    ``groups`` (made by a Build, so not compared by the check itself), the in-place problem the check reports
    for the other arguments."""
    from ._core import _purity_problem

    problem = _purity_problem(None, (None, None, args[2]), {}, (None, None, np.array(groups, dtype=dtype)), {},
                              names=["y_true", "y_pred", "groups"])
    if problem:
        return {"__returns__": problem, "none": False}
    return got


def _boot_args(y_true, y_pred, groups, draws, metric) -> tuple:
    """The case's arguments and probe: the group names and the metric made where the answer runs."""
    groups = np.asarray(groups)
    name = next(k for k, v in _METRICS.items() if v is metric)
    data = {"names": [str(g) for g in groups], "dtype": groups.dtype.str}
    built = Build("10.groups", data, text=describe(groups, 80))
    return ((y_true, y_pred, built, draws, Build("10.metric", {"name": name}, text=f"<metric: {name}>")),
            ("10.bootstrap", {"groups": data["names"], "dtype": data["dtype"]}))


def _boot_case(rng: np.random.Generator, n_groups: int, sizes, n_boot: int, metric, kind: str, label: str,
               names=None) -> Case:
    sizes = list(sizes)
    names = list(names) if names is not None else [f"spk{int(v):02d}" for v in rng.permutation(90)[:n_groups] + 10]
    groups = np.concatenate([[names[g]] * sizes[g] for g in range(n_groups)])
    order = rng.permutation(groups.size)         # groups interleaved, not in sorted order
    groups = groups[order]
    n = groups.size
    if kind == "labels":
        y_true = rng.integers(0, 2, size=n)
        y_pred = np.where(rng.random(n) < 0.75, y_true, 1 - y_true)
    elif kind == "stacked":   # y_pred (N, 2): a score and a class per item, as the lesson's evaluate passes it
        y_true = rng.uniform(-3, 3, size=n)
        score = y_true + rng.normal(scale=1.5, size=n)
        y_pred = np.stack([score, (score >= 0).astype(float)], axis=1)
    else:
        y_true = rng.uniform(-3, 3, size=n)
        y_pred = y_true + rng.normal(scale=0.8, size=n) + np.repeat(rng.normal(scale=0.5, size=n_groups), 1)[
            np.searchsorted(np.unique(groups), groups)]
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    expected = _boot(y_true, y_pred, groups, draws, metric)

    validate = _interval_validator(expected, (y_true, y_pred, groups, draws, metric))
    args, probe = _boot_args(y_true, y_pred, groups, draws, metric)
    return Case(args, expected=validate, label=label, probe=probe)


def _boot_variant(**kw):
    def detect(got, e, c):
        if not isinstance(got, tuple) or len(got) != 2:
            return False
        wrong = _boot(*e.args, **kw)
        return (np.allclose(np.array(got, dtype=float), wrong, rtol=1e-9, atol=1e-12)
                and not np.allclose(wrong, e.value, rtol=1e-9, atol=1e-12))
    return detect


def _rows_variant(got, e, c):
    draws = np.asarray(e.args[3])
    if not isinstance(got, tuple) or len(got) != 2 or draws.max() >= len(e.args[0]):
        return False
    return _boot_variant(mode="rows")(got, e, c)


_BOOT_MISTAKES = (
    Mistake("rows instead of groups", _rows_variant,
            "draws[b] was used as a list of ROWS: its entries index the groups (np.unique(groups)); replicate b is "
            "made of all the rows of each drawn group, stacked together."),
    Mistake("mean of group metrics", _boot_variant(mode="group_means"),
            "the metric was computed per group and the group values averaged: compute the metric ONCE per "
            "replicate, on all the rows of its drawn groups together (groups of different sizes then weigh by "
            "their number of rows, and F1 or a correlation is not an average of per-group values)."),
    Mistake("repeated groups counted once", _boot_variant(mode="set"),
            "a group drawn several times in draws[b] contributed its rows only once (a mask such as np.isin "
            "keeps no multiplicity): drawing with replacement means a group drawn twice enters the replicate "
            "twice."),
    Mistake("first-appearance order", _boot_variant(order="first"),
            "the group indices were mapped to the groups in order of first appearance: index g means "
            "np.unique(groups)[g], the g-th group in SORTED order."),
    Mistake("90 % interval", _boot_variant(q=(5.0, 95.0)),
            "this is a 90 % interval (5th and 95th percentiles): a 95 % interval cuts 2.5 % on each side."),
    Mistake("normal interval", _boot_variant(normal=True),
            "this is value +- 1.96 standard deviations of the replicates: the percentile interval takes the 2.5th "
            "and 97.5th percentiles of the replicates themselves (no normality assumed)."),
)


@register("10.bootstrap_ci", signature="bootstrap_ci(y_true, y_pred, groups, draws, metric) -> (lo, hi)",
          time_limit=10.0,
          hint="Replicate b is made of whole groups: for each index in draws[b], take every row of that group of "
               "np.unique(groups), stack the rows, and evaluate the metric once on them. The interval is given by "
               "two percentiles of the replicate values.",
          recipe="List the groups with np.unique (sorted). For each row of draws, collect the row positions of the "
                 "drawn groups in the order drawn (a group drawn twice contributes its rows twice), evaluate "
                 "metric on y_true and y_pred restricted to those positions, and keep the value. Return the 2.5th "
                 "and 97.5th percentiles of the kept values (np.percentile's default interpolation) as two Python "
                 "floats.",
          mistakes=_BOOT_MISTAKES)
def _bootstrap_ci(rng: np.random.Generator):
    groups = np.array(["b", "a", "b", "c", "a", "c", "c"])
    y_true = np.array([1, 1, 0, 0, 1, 1, 0])
    y_pred = np.array([1, 0, 0, 1, 1, 1, 0])
    draws = np.array([[0, 1, 2], [0, 0, 0], [2, 2, 1], [1, 0, 0], [2, 1, 1]])
    expected = _boot(y_true, y_pred, groups, draws, _acc)

    validate_fixed = _interval_validator(expected, (y_true, y_pred, groups, draws, _acc))
    args, probe = _boot_args(y_true, y_pred, groups, draws, _acc)
    yield Case(args, expected=validate_fixed, probe=probe,
               label="3 groups a, b, c of 2, 2 and 3 rows, 5 replicates, accuracy")
    g = int(rng.integers(4, 8))
    yield _boot_case(rng, g, rng.integers(2, 9, size=g), int(rng.integers(40, 120)), _acc, "labels",
                     f"{g} speakers of unequal sizes, interleaved rows, accuracy")
    g = int(rng.integers(5, 9))
    yield _boot_case(rng, g, rng.integers(3, 7, size=g), 80, _mae, "scores",
                     f"{g} speakers, scores, metric = mean absolute error")
    g = int(rng.integers(4, 7))
    yield _boot_case(rng, g, rng.integers(3, 8, size=g), 50, _acc2_stacked, "stacked",
                     f"{g} speakers, y_pred of shape (N, 2) (score, class), metric = Acc-2 of the class column")
    yield _boot_case(rng, 3, [1, 6, 2], 60, _share_positive, "labels",
                     "3 speakers of 1, 6 and 2 rows; a metric of the predictions only", names=["z", "m", "a"])


# ----------------------------------------------------------------------------- 10.ece
def _ece(prob, y, n_bins, *, weighted: bool = True, confidence: bool = False, right: bool = False,
         drop_one: bool = False, max_gap: bool = False) -> float:
    p, t = np.asarray(prob, dtype=float), np.asarray(y, dtype=float)
    if confidence:   # top-label calibration: confidence of the predicted class vs its accuracy
        pred = (p >= 0.5).astype(float)
        t = (pred == t).astype(float)
        p = np.maximum(p, 1 - p)
    if right:
        idx = np.clip(np.ceil(p * n_bins).astype(int) - 1, 0, n_bins - 1)
    else:
        idx = np.minimum(np.floor(p * n_bins).astype(int), n_bins - 1)
    keep = np.ones(p.size, bool)
    if drop_one:
        keep = p < 1.0
    gaps, weights = [], []
    for b in range(n_bins):
        m = (idx == b) & keep
        if m.any():
            gaps.append(abs(t[m].mean() - p[m].mean()))
            weights.append(m.sum() / p.size)
    gaps, weights = np.array(gaps), np.array(weights)
    if max_gap:
        return float(gaps.max())
    return float(np.sum(weights * gaps)) if weighted else float(gaps.mean())


def _ece_case(prob, y, n_bins, label) -> Case:
    return Case((np.asarray(prob, dtype=float), np.asarray(y), int(n_bins)), expected=_ece(prob, y, n_bins),
                label=label, rtol=1e-9, atol=1e-12)


def _ece_variant(**kw):
    def detect(got, e, c):
        g = _arr(got)
        wrong = _ece(*c.args, **kw)
        return g is not None and g.shape == () and abs(float(g) - wrong) < 1e-9 and abs(wrong - float(e)) > 1e-9
    return detect


_ECE_MISTAKES = (
    Mistake("unweighted bins", _ece_variant(weighted=False),
            "the bins' gaps were averaged with equal weights: weight each bin's |fraction positive - mean "
            "probability| by its share of the examples, n_b / N."),
    Mistake("confidence of the predicted class", _ece_variant(confidence=True),
            "this is the top-label ECE (confidence max(p, 1 - p) against the accuracy of the predicted class): "
            "this exercise bins p = P(y = 1) itself and compares each bin's mean p with its fraction of y = 1."),
    Mistake("right-closed bins", _ece_variant(right=True),
            "a probability on a bin edge went to the lower bin: bins are [k/n, (k+1)/n), so p = 0.5 with 10 bins "
            "belongs to bin 5 (only p = 1 is put in the last bin)."),
    Mistake("p = 1 dropped", _ece_variant(drop_one=True),
            "examples with p = 1.0 were left out: they belong to the last bin (clip the bin index to n_bins - 1)."),
    Mistake("maximum gap", _ece_variant(max_gap=True),
            "this is the maximum calibration error (the largest gap of a bin): the ECE is the weighted average "
            "of the gaps."),
)


@register("10.ece", signature="ece(prob, y, n_bins) -> float", returns=(float, np.floating),
          hint="Put each probability in its equal-width bin [k/n, (k+1)/n) (p = 1 in the last bin); for every "
               "non-empty bin compare the mean probability with the fraction of positives; weight those gaps by "
               "the bins' shares of the examples and add them.",
          recipe="The bin of p is the integer part of p times n_bins, clipped to n_bins - 1. For each bin that holds "
                 "examples: the absolute difference between the mean of y and the mean of prob in that bin, times the "
                 "number of examples in the bin divided by N. Return the sum of these terms as a Python float.",
          mistakes=_ECE_MISTAKES)
def _ece_cases(rng: np.random.Generator):
    yield _ece_case([0.05, 0.15, 0.95, 0.85, 0.9], [0, 1, 1, 1, 0], 10,
                    "5 examples, 10 bins: three bins are used")
    # edges exactly representable in binary (multiples of 1/4, 1/8): every correct binning agrees on them
    yield _ece_case([0.0, 0.25, 0.5, 0.5, 1.0, 1.0, 0.75, 0.6], [0, 0, 1, 0, 1, 1, 0, 1], 4,
                    "4 bins, probabilities on the edges 0.25, 0.5, 0.75 and p = 0 and 1")
    n = int(rng.integers(50, 200))
    p = rng.beta(0.7, 0.7, size=n)
    yield _ece_case(p, (rng.random(n) < p ** 1.5).astype(int), 10, f"{n} random, mis-calibrated probabilities")
    k = int(rng.choice([2, 4, 8]))
    p = rng.integers(0, 2 * k + 1, size=40) / (2 * k)     # half of them exactly on bin edges (exact in binary)
    yield _ece_case(p, (rng.random(40) < 0.5).astype(int), k, f"{k} bins, probabilities on and between the edges")


# ----------------------------------------------------------------------------- 10.multitask_loss (PyTorch)
def _mt_ref(logits, s_pred, y, s_true, a1, a2, *, swap=False, mae=False, rmse=False, bcast=False,
            summed=False, softmax_twice=False):
    z = np.asarray(logits, dtype=float)
    if softmax_twice:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        z = e / e.sum(axis=1, keepdims=True)
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(y)), np.asarray(y)]
    sp, st = np.asarray(s_pred, dtype=float), np.asarray(s_true, dtype=float)
    diff = (sp.reshape(-1, 1) - st.reshape(1, -1)) if bcast else (sp.reshape(-1) - st.reshape(-1))
    err = np.abs(diff) if mae else diff ** 2
    ce = nll.sum() if summed else nll.mean()
    reg = err.sum() if summed else err.mean()
    if rmse:
        reg = np.sqrt(reg)
    if swap:
        a1, a2 = a2, a1
    return float(a1 * ce + a2 * reg)


def _mt_grads(logits, s_pred, y, s_true, a1, a2):
    """The hand-derived gradients of the multitask loss with respect to the logits and to score_pred (its shape)."""
    z = np.asarray(logits, dtype=float)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    B = len(z)
    p[np.arange(B), np.asarray(y)] -= 1.0
    sp = np.asarray(s_pred, dtype=float)
    g_score = 2.0 * (sp.reshape(-1) - np.asarray(s_true, dtype=float).reshape(-1)) / B
    return a1 * p / B, (a2 * g_score).reshape(sp.shape)


def _mt_case(rng: np.random.Generator, B: int, K: int, a1: float, a2: float, column: bool, label: str) -> Case:
    import torch

    logits = torch.tensor(rng.normal(scale=1.5, size=(B, K)), dtype=torch.float32, requires_grad=True)
    shape = (B, 1) if column else (B,)
    s_pred = torch.tensor(rng.uniform(-3, 3, size=shape), dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rng.integers(0, K, size=B), dtype=torch.int64)
    s_true = torch.tensor(rng.uniform(-3, 3, size=B), dtype=torch.float32)
    args64 = (logits.detach().double().numpy(), s_pred.detach().double().numpy(), y.numpy(),
              s_true.double().numpy(), a1, a2)
    expected = _mt_ref(*args64)
    g_logits, g_score = _mt_grads(*args64)

    def validate(got):  # got: the observations of the probe "torch.loss" (gradients w.r.t. logits, score_pred)
        return observed_loss_problem(got, expected, 1e-4, 1e-5, reaches="the model",
                                     avoid="torch.no_grad(), .detach(), .item() or NumPy inside",
                                     grads=(("logits", g_logits), ("score_pred", g_score)))

    validate.args64 = args64
    validate.value = expected
    return Case((logits, s_pred, y, s_true, a1, a2), expected=validate, label=label, probe=loss_probe(0, 1))


def _mt_variant(**kw):
    def detect(got, e, c):
        g = observed_scalar(got)
        if g is None:
            return False
        wrong = _mt_ref(*e.args64, **kw)
        return bool(np.isclose(float(g), wrong, rtol=1e-4, atol=1e-5)) and not np.isclose(wrong, e.value, rtol=1e-4)
    return detect


_MT_MISTAKES = (
    Mistake("broadcast (B, 1) against (B,)", _mt_variant(bcast=True),
            "score_pred of shape (B, 1) minus score_true of shape (B,) broadcasts to a (B, B) matrix: every "
            "prediction is compared with every target. Flatten score_pred to (B,) first (e.g. reshape(-1))."),
    Mistake("alphas swapped", _mt_variant(swap=True),
            "the weights are swapped: alpha1 multiplies the cross-entropy, alpha2 the squared error."),
    Mistake("absolute error", _mt_variant(mae=True),
            "the score term is a mean ABSOLUTE error: seed 004's regression term is the mean SQUARED error."),
    Mistake("root of the MSE", _mt_variant(rmse=True),
            "the score term is the root of the mean squared error: use the MSE itself (no square root)."),
    Mistake("sums", _mt_variant(summed=True),
            "the two terms are sums over the batch: both are batch MEANS, so the loss does not grow with B."),
    Mistake("softmax before cross-entropy", _mt_variant(softmax_twice=True),
            "a softmax was applied before the cross-entropy: F.cross_entropy takes the raw logits (it applies "
            "log-softmax itself)."),
)


@register("10.multitask_loss",
          signature="multitask_loss(logits, score_pred, y, score_true, alpha1, alpha2) -> scalar torch.Tensor",
          time_limit=10.0,
          hint="Two batch means: the cross-entropy of the class logits against the integer labels, and the squared "
               "error of the predicted scores (as a flat (B,) vector) against the true scores; weight them by "
               "alpha1 and alpha2 and add them, staying in torch.",
          recipe="Cross-entropy of the raw logits (B, K) with the labels (mean over the batch). Flatten the "
                 "predicted scores to one value per example, then the mean of the squared differences with the "
                 "true scores. Return alpha1 times the first plus alpha2 times the second, as a torch scalar.",
          mistakes=_MT_MISTAKES)
def _multitask_loss(rng: np.random.Generator):
    yield _mt_case(rng, 4, 2, 1.0, 0.5, False, "batch 4, two classes, score_pred (B,), alpha = (1, 0.5)")
    B = int(rng.integers(5, 12))
    yield _mt_case(rng, B, 2, float(rng.uniform(0.2, 2)), float(rng.uniform(0.2, 2)), True,
                   f"batch {B}, score_pred of shape (B, 1) as Keras's Dense(1) gives, random alphas")
    yield _mt_case(rng, int(rng.integers(3, 9)), 7, 0.3, 1.7, False, "seven classes, alpha = (0.3, 1.7)")
    yield _mt_case(rng, 6, 3, 0.0, 1.0, True, "alpha1 = 0: the squared error alone")


# ----------------------------------------------------------------------------- 10.ablation
def _fake_train_eval(weights: dict, bonus: float, calls: list):
    def train_eval(mods):
        calls.append(mods)
        base = 0.5 + sum(weights[m] for m in mods)
        return base + (bonus if len(mods) == len(weights) else 0.0)
    return train_eval


@register_builder("10.train_eval")
def _train_eval(weights: dict, bonus: float):
    """The fake ``train_eval`` an ablation case passes, made where the answer runs: its score is 0.5 plus the
    weights of the modalities it gets, plus ``bonus`` with all of them; it keeps every call in ``.calls``."""
    calls: list = []
    fn = _fake_train_eval(dict(weights), float(bonus), calls)
    fn.calls = calls
    return fn


def _plain_number(v):
    """``v`` (one value of the answer's dict) as plain data that :func:`compare` treats as it treats ``v``: a
    tensor as its array, numbers, strings, None and numeric arrays as they are, anything else as its float
    array, or, when it has none, a stand-in naming its type (compare then says "expected a number")."""
    from ._core import _to_numpy_if_tensor

    try:
        v = _to_numpy_if_tensor(v)
    except Exception:  # noqa: BLE001 - the learner's object: no numbers
        pass
    if v is None or isinstance(v, (bool, int, float, complex, str)):
        return v
    if isinstance(v, (np.generic, np.ndarray)) and v.dtype.kind in "biufc":
        return v
    try:
        a = np.asarray(v)
        if a.dtype.kind in "biufc":
            return a
        return np.asarray(v, dtype=float)
    except Exception:  # noqa: BLE001
        return {"__not_numeric__": type(v).__name__, "text": describe(v)}


@register_probe("10.ablation")
def _ablation_observations(got, args: tuple, kwargs: dict) -> dict:
    """What an ablation answer returned (its dict: keys and values as plain data) and every call it made to
    the fake train_eval (``args[0].calls``: whether each was a tuple, its modality names and its text)."""
    obs: dict = {"is_dict": isinstance(got, dict), "type": type(got).__name__, "text": describe(got)}
    if obs["is_dict"]:
        keys = list(got)
        obs["keys_text"] = str(keys)[:3000]
        obs["keys"] = [str(k) for k in keys] if all(isinstance(k, str) for k in keys) else None
        obs["values"] = {str(k): _plain_number(v) for k, v in got.items()} if obs["keys"] is not None else {}
    calls = list(getattr(args[0], "calls", []))
    obs["n_calls"] = len(calls)
    obs["calls"] = [{"tuple": isinstance(c, tuple), "text": describe(c), "str": str(c)[:500],
                     "names": ([str(x) for x in c] if isinstance(c, (tuple, list)) and all(isinstance(x, str) for x in c)
                               else None)}
                    for c in calls[:200]]
    return obs


def _abl_expected(weights, bonus, mods):
    fn = _fake_train_eval(weights, bonus, [])
    full = fn(tuple(mods))
    return {m: full - fn(tuple(k for k in mods if k != m)) for m in mods}


def _abl_case(rng: np.random.Generator, mods, label) -> Case:
    weights = {m: float(rng.uniform(0.01, 0.15)) for m in mods}
    bonus = float(rng.uniform(0.02, 0.08))
    expected = _abl_expected(weights, bonus, mods)
    M = len(mods)

    def validate(got):  # got: the observations of _ablation_observations
        if not got["is_dict"]:
            return f"expected a dict {{modality: drop}}, got {got['type']}: {got['text']}"
        if got["keys"] is None or set(got["keys"]) != set(mods):
            return f"expected the keys {list(mods)} (one per removed modality), got {got['keys_text']}"
        for m in mods:
            v = got["values"][m]
            if type(v) is dict and "__not_numeric__" in v:
                return f"expected a number or array in [{m!r}], got {v['__not_numeric__']}: {v['text']}"
            problem = compare(v, expected[m], 1e-9, 1e-12, where=f"[{m!r}]")
            if problem:
                return problem
        calls = got["calls"]
        bad = [c for c in calls if not c["tuple"]]
        if bad:
            return f"train_eval must be called with tuples of modality names, got {bad[0]['text']}"
        for c in calls:
            if c["names"] is None or c["names"] != [m for m in mods if m in c["names"]]:
                return f"train_eval was called with {c['str']}: keep the modalities in their original order"
        if got["n_calls"] != M + 1:
            return (f"train_eval was called {got['n_calls']} times; each call trains a model, so call it exactly "
                    f"{M + 1} times: once with all modalities, once per removed modality")
        return None

    validate.setup = (weights, bonus, tuple(mods))
    fn = Build("10.train_eval", {"weights": weights, "bonus": bonus}, text="train_eval")
    return Case((fn, list(mods)), expected=validate, label=label, probe=("10.ablation", {}))


def _abl_variant(kind):
    def detect(got, e, c):
        if not got.get("is_dict") or got.get("keys") is None:
            return False
        weights, bonus, mods = e.setup
        fn = _fake_train_eval(weights, bonus, [])
        full = fn(mods)
        if kind == "sign":
            wrong = {m: fn(tuple(k for k in mods if k != m)) - full for m in mods}
        elif kind == "raw":
            wrong = {m: fn(tuple(k for k in mods if k != m)) for m in mods}
        else:   # unimodal
            wrong = {m: full - fn((m,)) for m in mods}
        values = got["values"]
        return set(values) == set(mods) and all(abs(float(values[m]) - wrong[m]) < 1e-9 for m in mods)
    return detect


_ABL_MISTAKES = (
    Mistake("sign", _abl_variant("sign"),
            "the differences have the wrong sign: report score(all) - score(without m), so a modality the system "
            "needs gets a POSITIVE value."),
    Mistake("raw scores", _abl_variant("raw"),
            "these are the scores without each modality: the ablation reports the DROP, score(all) minus "
            "score(without m)."),
    Mistake("one modality kept", _abl_variant("unimodal"),
            "train_eval was given the single modality m: removing m means training on all the OTHER modalities."),
)


@register("10.ablation", signature="ablation(train_eval, modalities) -> dict", time_limit=10.0,
          hint="Train once with every modality, then once per modality with that one left out (the others in their "
               "original order, as a tuple); report for each modality how much the score drops.",
          recipe="Call train_eval on the tuple of all modalities and keep that score. For every modality m, call "
                 "it on the tuple of the other modalities (same order) and store the full score minus that "
                 "score under the key m. Do not call train_eval more often than that.",
          mistakes=_ABL_MISTAKES)
def _ablation(rng: np.random.Generator):
    yield _abl_case(rng, ["text", "audio", "vision"], "three modalities text, audio, vision")
    names = ["text", "audio", "vision", "depth", "gaze"]
    k = int(rng.integers(2, 6))
    yield _abl_case(rng, [names[i] for i in sorted(rng.permutation(5)[:k])], f"{k} modalities")
    yield _abl_case(rng, ["vision", "text"], "two modalities, not in alphabetical order")
