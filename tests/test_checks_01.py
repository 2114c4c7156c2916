"""Self-checks of lesson 01: several independent correct formulations pass (public seed and instructor
seeds), the untouched stub gets only "not implemented yet", and predictable wrong answers fail with the
named feedback (issue 8)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps

from course_utils import losses as L
from course_utils.checks import run_check
from course_utils.checks._core import REGISTRY, _FAILURES, lookup

SEEDS = (0, 4127, 99991)


# ----------------------------------------------------------------------------- correct formulations
def huber_where(y_pred, y_true, delta=1.0):
    a = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    return float(np.mean(np.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5 * delta))))


def huber_clip(y_pred, y_true, delta=1.0):
    a = np.abs(np.subtract(y_pred, y_true, dtype=float))
    q = np.minimum(a, delta)                 # quadratic part, capped at delta
    return np.mean(0.5 * q ** 2 + delta * (a - q))


def huber_mask(y_pred, y_true, delta=1.0):
    r = np.asarray(y_pred, float) - np.asarray(y_true, float)
    small = np.abs(r) <= delta
    out = delta * np.abs(r) - 0.5 * delta ** 2
    out = np.where(small, 0.5 * r * r, out)
    return out.sum() / r.size


def huber_grad_clip(y_pred, y_true, delta=1.0):
    r = np.asarray(y_pred, float) - np.asarray(y_true, float)
    return np.clip(r, -delta, delta) / r.size


def huber_grad_where(y_pred, y_true, delta=1.0):
    r = np.asarray(y_pred, float) - np.asarray(y_true, float)
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r)) / np.size(r)


def huber_grad_minmax(y_pred, y_true, delta=1.0):
    r = np.subtract(y_pred, y_true, dtype=float)
    return np.maximum(-delta, np.minimum(delta, r)) / r.size


def bce_boxed(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def bce_logaddexp(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return float(np.mean(np.logaddexp(0.0, z) - z * y))


def bce_log_sigmoid(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return np.mean(y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z))


def lse_shift(z):
    z = np.asarray(z, float)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]


def lse_reduce(z):
    return np.logaddexp.reduce(np.asarray(z, float), axis=1)


def lse_scipy(z):
    return sps.logsumexp(z, axis=1)


def ce_package(logits, labels):
    logits = np.asarray(logits, float)
    log_p = logits - L.logsumexp(logits, axis=1, keepdims=True)
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def ce_scipy(logits, labels):
    return -np.mean(sps.log_softmax(logits, axis=1)[np.arange(len(labels)), labels])


def ce_take(logits, labels):
    z = np.asarray(logits, float)
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    picked = np.take_along_axis(z, np.asarray(labels)[:, None], axis=1)[:, 0]
    return float(np.mean(lse - picked))


def kl_where(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    safe = np.where(p > 0, p, 1.0)
    return float(np.mean(np.where(p > 0, p * np.log(safe / q), 0.0).sum(axis=-1)))


def kl_rel_entr(p, q):
    return float(np.mean(sps.rel_entr(p, q).sum(axis=1)))


def kl_xlogy(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    return np.mean(np.sum(sps.xlogy(p, p) - sps.xlogy(p, q), axis=1))


CORRECT = {
    "01.huber": [huber_where, huber_clip, huber_mask],
    "01.huber_grad": [huber_grad_clip, huber_grad_where, huber_grad_minmax],
    "01.bce_with_logits": [bce_boxed, bce_logaddexp, bce_log_sigmoid],
    "01.logsumexp": [lse_shift, lse_reduce, lse_scipy],
    "01.cross_entropy": [ce_package, ce_scipy, ce_take],
    "01.kl_divergence": [kl_where, kl_rel_entr, kl_xlogy],
}
NUMPY_EXERCISES = sorted(CORRECT)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise,answer", [(e, f) for e, fs in CORRECT.items() for f in fs],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_correct_formulations_pass(exercise, answer, seed):
    result = run_check(exercise, answer, seed=seed)
    assert result.passed, result.message


def test_every_exercise_has_three_formulations():
    lookup("01.huber")
    numpy_ids = sorted(k for k in REGISTRY if k.startswith("01.") and k != "01.two_task_loss")
    assert NUMPY_EXERCISES == numpy_ids
    assert all(len(v) >= 3 for v in CORRECT.values())


# ----------------------------------------------------------------------------- stubs and hints
def _stub(*a, **k):
    raise NotImplementedError()


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES + ["01.two_task_loss"])
def test_stub_gets_not_implemented_and_no_hint(exercise):
    _FAILURES.pop(exercise, None)
    result = run_check(exercise, _stub)
    assert not result.passed
    assert "not implemented yet" in result.message
    assert "Hint" not in result.message and "Likely mistake" not in result.message


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES + ["01.two_task_loss"])
def test_hint_is_a_nudge_and_recipe_comes_later(exercise):
    spec = lookup(exercise)
    assert spec.hint and spec.recipe and spec.hint != spec.recipe
    for code_like in ("def ", "lambda", " = ", "return np", "return (", "np.exp(", "np.sum(", "np.where", "np.log1p", "np.clip"):
        assert code_like not in spec.hint, (exercise, code_like)
    assert spec.time_limit <= 5


def test_hint_only_after_failure_then_recipe():
    _FAILURES.pop("01.huber", None)

    def wrong(y_pred, y_true, delta=1.0):
        return float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true)))) + 0.123

    first = run_check("01.huber", wrong).message
    assert "Hint: " + lookup("01.huber").hint in first
    run_check("01.huber", wrong)
    third = run_check("01.huber", wrong).message
    assert "Hint: " + lookup("01.huber").recipe in third
    assert "passed" in run_check("01.huber", huber_where).message and "Hint" not in run_check("01.huber", huber_where).message


# ----------------------------------------------------------------------------- predictable mistakes
def huber_no_half(y_pred, y_true, delta=1.0):
    a = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    return float(np.mean(np.where(a <= delta, a ** 2, delta * (a - 0.5 * delta))))


def huber_no_shift(y_pred, y_true, delta=1.0):
    a = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    return float(np.mean(np.where(a <= delta, 0.5 * a ** 2, delta * a)))


def huber_delta_ignored(y_pred, y_true, delta=1.0):
    return huber_where(y_pred, y_true, 1.0)


def huber_sum(y_pred, y_true, delta=1.0):
    return huber_where(y_pred, y_true, delta) * np.size(y_pred)


def huber_list(y_pred, y_true, delta=1.0):
    return list(np.ravel(huber_where(y_pred, y_true, delta)))


def huber_loop(y_pred, y_true, delta=1.0):
    total = 0.0
    for p, t in zip(np.ravel(y_pred), np.ravel(y_true)):
        a = abs(p - t)
        total += 0.5 * a * a if a <= delta else delta * (a - 0.5 * delta)
    return total / np.size(y_pred)


def huber_inplace(y_pred, y_true, delta=1.0):
    y_pred -= y_true
    a = np.abs(y_pred)
    return float(np.mean(np.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5 * delta))))


def huber_shift_without_delta(y_pred, y_true, delta=1.0):
    a = np.abs(np.asarray(y_pred, float) - np.asarray(y_true, float))
    return float(np.mean(np.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5))))


def grad_no_mean(y_pred, y_true, delta=1.0):
    return huber_grad_clip(y_pred, y_true, delta) * np.size(y_pred)


def grad_sign_flipped(y_pred, y_true, delta=1.0):
    return -huber_grad_clip(y_pred, y_true, delta)


def grad_delta_times(y_pred, y_true, delta=1.0):
    r = np.asarray(y_pred, float) - np.asarray(y_true, float)
    return delta * np.clip(r, -1, 1) / r.size


def grad_sign_outside(y_pred, y_true, delta=1.0):
    r = np.asarray(y_pred, float) - np.asarray(y_true, float)
    return np.where(np.abs(r) <= delta, r, np.sign(r)) / r.size


def grad_as_list(y_pred, y_true, delta=1.0):
    return huber_grad_clip(y_pred, y_true, delta).tolist()


def bce_naive(z, y):
    p = 1 / (1 + np.exp(-np.asarray(z, float)))
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bce_sign(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return float(np.mean(np.maximum(z, 0) + z * y + np.log1p(np.exp(-np.abs(z)))))


def bce_softplus_naive(z, y):
    z = np.asarray(z, float)
    return float(np.mean(np.log(1 + np.exp(z)) - z * y))


def bce_no_max(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return float(np.mean(-z * y + np.log1p(np.exp(-np.abs(z)))))


def bce_clipped(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    p = np.clip(1 / (1 + np.exp(-np.clip(z, -500, 500))), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def bce_hard_labels_only(z, y):
    z, y = np.asarray(z, float), np.asarray(y, float)
    return float(np.mean(np.where(y == 1, np.logaddexp(0, -z), np.logaddexp(0, z))))


def bce_labels_swapped(z, y):
    return bce_boxed(z, 1 - np.asarray(y, float))


def lse_naive(z):
    return np.log(np.sum(np.exp(z), axis=-1))


def lse_keepdims(z):
    m = z.max(axis=-1, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def lse_max_not_added_back(z):
    m = z.max(axis=-1, keepdims=True)
    return np.log(np.exp(z - m).sum(axis=-1))


def lse_squeeze_all(z):
    return np.squeeze(lse_keepdims(z))


def lse_axis0(z):
    return sps.logsumexp(z, axis=0)


def ce_broadcast(logits, labels):
    log_p = logits - L.logsumexp(logits, axis=1)          # keepdims forgotten
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def ce_naive(logits, labels):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def ce_block(logits, labels):
    log_p = logits - L.logsumexp(logits, axis=1, keepdims=True)
    return float(-np.mean(log_p[:, labels]))


def ce_mean_over_all_entries(logits, labels):
    t = np.eye(logits.shape[1])[labels]
    return float(-np.mean(t * (logits - L.logsumexp(logits, axis=1, keepdims=True))))


def ce_no_minus(logits, labels):
    return -ce_package(logits, labels)


def ce_sum(logits, labels):
    return ce_package(logits, labels) * len(labels)


def kl_unmasked(p, q):
    return float(np.mean(np.sum(p * np.log(p / q), axis=-1)))


def kl_swapped(p, q):
    return kl_rel_entr(q, p)


def kl_mean_all(p, q):
    return float(np.mean(sps.rel_entr(p, q)))


MISTAKES = [
    ("01.huber", huber_no_half, "factor 1/2"),
    ("01.huber", huber_no_shift, "missing its shift"),
    ("01.huber", huber_delta_ignored, "delta = 1 although"),
    ("01.huber", huber_sum, "a sum where the mean is needed"),
    ("01.huber", huber_shift_without_delta, "shift is delta/2, not 1/2"),
    ("01.huber", huber_list, "returned a list"),
    ("01.huber", huber_loop, "uses a `for` loop"),
    ("01.huber", huber_inplace, "in place"),
    ("01.huber_grad", grad_no_mean, "divide by the number of elements"),
    ("01.huber_grad", grad_sign_flipped, "sign is flipped"),
    ("01.huber_grad", grad_delta_times, "delta is in the wrong place"),
    ("01.huber_grad", grad_sign_outside, "delta * sign(r), not sign(r)"),
    ("01.huber_grad", grad_as_list, "expected np.ndarray"),
    ("01.bce_with_logits", bce_naive, "numerically stable formulation"),
    ("01.bce_with_logits", bce_softplus_naive, "numerically stable formulation"),
    ("01.bce_with_logits", bce_sign, "wrong sign"),
    ("01.bce_with_logits", bce_labels_swapped, "opposite labels"),
    ("01.bce_with_logits", bce_no_max, "max(z, 0) term is missing"),
    ("01.bce_with_logits", bce_hard_labels_only, "right only for 0/1 labels"),
    ("01.bce_with_logits", bce_clipped, "clipping the probabilities"),
    ("01.logsumexp", lse_naive, "numerically stable formulation"),
    ("01.logsumexp", lse_keepdims, "the reduced axis is still there"),
    ("01.logsumexp", lse_max_not_added_back, "add m back"),
    ("01.logsumexp", lse_squeeze_all, "lost the n axis too"),
    ("01.logsumexp", lse_axis0, "axis 0"),
    ("01.cross_entropy", ce_broadcast, "keepdims=True"),
    ("01.cross_entropy", ce_naive, "numerically stable formulation"),
    ("01.cross_entropy", ce_block, "[np.arange(n), labels]"),
    ("01.cross_entropy", ce_no_minus, "sign is flipped"),
    ("01.cross_entropy", ce_sum, "a missing 1/n"),
    ("01.cross_entropy", ce_mean_over_all_entries, "averaged over all n*K entries"),
    ("01.kl_divergence", kl_unmasked, "0 * log(0) gave NaN"),
    ("01.kl_divergence", kl_swapped, "KL(q || p)"),
    ("01.kl_divergence", kl_mean_all, "divided by K"),
]


@pytest.mark.parametrize("exercise,wrong,needle", MISTAKES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_predictable_mistakes_are_named(exercise, wrong, needle):
    with np.errstate(all="ignore"):
        for seed in (0, 4127):
            result = run_check(exercise, wrong, seed=seed)
            assert not result.passed
            assert needle in result.message, result.message
            if seed and result.label:
                assert "instructor test" in result.message and "[" in result.message, result.message


def test_keepdims_result_is_not_told_to_use_keepdims():
    # the engine's generic "reshaped" advice ("keep the axes, e.g. keepdims=True") is the opposite of the fix here
    result = run_check("01.logsumexp", lse_keepdims)
    assert "drop it" in result.message and "e.g. keepdims=True" not in result.message, result.message


def bce_where_both_branches(z, y):
    # right values, but np.where evaluates both branches, and exp(-z) overflows for z = -800 in the unused one
    z, y = np.asarray(z, float), np.asarray(y, float)
    pos = z - y * z + np.log1p(np.exp(-z))
    neg = -y * z + np.log1p(np.exp(z))
    return float(np.mean(np.where(z >= 0, pos, neg)))


def test_where_with_an_overflowing_branch_is_explained():
    _FAILURES.pop("01.bce_with_logits", None)
    result = run_check("01.bce_with_logits", bce_where_both_branches)
    assert not result.passed and "overflow" in result.message
    assert "evaluates both formulas on every element" in result.message, result.message


def test_references_are_stable_and_tolerances_sensible():
    for exercise in NUMPY_EXERCISES:
        spec = lookup(exercise)
        for case in spec.cases(np.random.default_rng(3)):
            assert case.atol >= 1e-15 and case.rtol >= 1e-12, (exercise, case.label)
            if not callable(case.expected):
                assert np.all(np.isfinite(np.asarray(case.expected, float))), (exercise, case.label)


def test_overflow_cases_run_under_floating_raise_for_every_seed():
    for exercise in ("01.bce_with_logits", "01.logsumexp", "01.cross_entropy"):
        for seed in (0, 4127, 5):
            from course_utils.checks._core import _seed_for
            cases = list(lookup(exercise).cases(np.random.default_rng(_seed_for(exercise, seed))))
            assert all(c.floating == "raise" for c in cases)
            assert any("+-" in c.label or "naive" in c.label for c in cases)


# ----------------------------------------------------------------------------- the PyTorch exercise
torch = pytest.importorskip("torch")
F = torch.nn.functional


def tt_functional(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return w_class * F.cross_entropy(logits, labels) + w_score * F.huber_loss(score_pred, score_true, delta=delta)


def tt_modules(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    ce = torch.nn.CrossEntropyLoss()
    hub = torch.nn.HuberLoss(delta=delta)
    return w_class * ce(logits, labels) + w_score * hub(score_pred, score_true)


def tt_manual(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    ce = -log_p.gather(1, labels[:, None]).mean()
    a = (score_pred - score_true).abs()
    huber = torch.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5 * delta)).mean()
    return w_class * ce + w_score * huber


def tt_smooth_l1(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    ce = F.nll_loss(F.log_softmax(logits, dim=1), labels)
    a = (score_pred - score_true).abs()
    q = torch.clamp(a, max=delta)
    return w_class * ce + w_score * (0.5 * q ** 2 + delta * (a - q)).mean()


def tt_item(*a, **k):
    return tt_functional(*a, **k).item()


def tt_detached(*a, **k):
    return tt_functional(*a, **k).detach()


def tt_numpy_huber(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    hub = L.huber(score_pred.detach().numpy(), score_true.numpy(), delta)
    return w_class * F.cross_entropy(logits, labels) + w_score * hub


def tt_naive_softmax(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    p = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    ce = -torch.log(p[torch.arange(len(labels)), labels]).mean()
    return w_class * ce + w_score * F.huber_loss(score_pred, score_true, delta=delta)


def tt_sum(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return (w_class * F.cross_entropy(logits, labels, reduction="sum")
            + w_score * F.huber_loss(score_pred, score_true, delta=delta, reduction="sum"))


def tt_swapped(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return tt_functional(logits, labels, score_pred, score_true, w_score, w_class, delta)


def tt_smooth_l1_unscaled(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return w_class * F.cross_entropy(logits, labels) + w_score * F.smooth_l1_loss(score_pred, score_true, beta=delta)


def tt_shape_1(*a, **k):
    return tt_functional(*a, **k).reshape(1)


def tt_float32(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return tt_functional(logits.float(), labels, score_pred.float(), score_true.float(), w_class, w_score, delta)


def tt_mse(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return w_class * F.cross_entropy(logits, labels) + w_score * F.mse_loss(score_pred, score_true)


def tt_softmax_first(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return tt_functional(torch.softmax(logits, dim=1), labels, score_pred, score_true, w_class, w_score, delta)


def tt_nll_on_logits(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return w_class * F.nll_loss(logits, labels) + w_score * F.huber_loss(score_pred, score_true, delta=delta)


def tt_per_example(logits, labels, score_pred, score_true, w_class=1.0, w_score=1.0, delta=1.0):
    return w_class * F.cross_entropy(logits, labels, reduction="none")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer", [tt_functional, tt_modules, tt_manual, tt_smooth_l1], ids=lambda f: f.__name__)
def test_two_task_loss_correct_formulations_pass(answer, seed):
    result = run_check("01.two_task_loss", answer, seed=seed)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong,needle", [
    (tt_item, "expected a torch tensor"),
    (tt_detached, "detached from autograd"),
    (tt_numpy_huber, "no gradient reaches score_pred"),
    (tt_naive_softmax, "finite value"),
    (tt_sum, "summed over the batch"),
    (tt_swapped, "weights are swapped"),
    (tt_smooth_l1_unscaled, "smooth_l1_loss"),
    (tt_per_example, "0-d tensor"),
    (tt_shape_1, "0-d tensor (shape ())"),
    (tt_float32, "expected torch.float64"),
    (tt_mse, "mean squared error"),
    (tt_softmax_first, "pass it the raw logits"),
    (tt_nll_on_logits, "F.nll_loss expects log-probabilities"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_two_task_loss_mistakes_are_named(wrong, needle):
    for seed in (0, 4127):
        result = run_check("01.two_task_loss", wrong, seed=seed)
        assert not result.passed
        assert needle in result.message, result.message


# ----------------------------------------------------------------------------- generic failures
REFERENCES = {
    "01.huber": L.huber, "01.huber_grad": L.huber_grad, "01.bce_with_logits": L.bce_with_logits,
    "01.logsumexp": lambda z: L.logsumexp(z, axis=-1), "01.cross_entropy": L.cross_entropy,
    "01.kl_divergence": L.kl_divergence,
}


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES)
def test_reference_passes_with_enough_cases(exercise):
    for seed in SEEDS:
        result = run_check(exercise, REFERENCES[exercise], seed=seed)
        assert result.passed and result.n_cases >= 6, result.message


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES + ["01.two_task_loss"])
def test_generic_failures(exercise, monkeypatch):
    ref = REFERENCES.get(exercise, tt_functional)
    assert "returned None" in run_check(exercise, lambda *a, **k: None).message or \
        "None" in run_check(exercise, lambda *a, **k: None).message

    def raises(*a, **k):
        raise ZeroDivisionError("oops")

    assert "ZeroDivisionError" in run_check(exercise, raises).message
    assert "expected a function" in run_check(exercise, 3.0).message
    spec = lookup(exercise)
    monkeypatch.setattr(spec, "time_limit", 0.2)

    def slow(*a, **k):
        import time
        time.sleep(1.0)
        return ref(*a, **k)

    assert "took longer" in run_check(exercise, slow).message


# ----------------------------------------------------------------------------- the lesson's check cells
def _lesson_cells():
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "01_loss_functions.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"]]


def test_passing_functions_are_used_downstream():
    text = "\n".join(_lesson_cells())
    assert "USE_MY_CODE = True" in text
    for exercise in list(CORRECT) + ["01.two_task_loss"]:
        assert f'use_mine("{exercise}"' in text, exercise


def test_lesson01_checks_do_not_import_torch_until_the_pytorch_check_runs():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from course_utils.checks import run_check; "
            "import course_utils.checks.lesson01; "
            "r = run_check('01.huber', lambda p, t, delta=1.0: 0.0); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
