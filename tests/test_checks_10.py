"""Lesson 10 self-checks: several independent correct formulations pass (public and instructor seeds), wrong
shapes and predictable wrong answers fail with their named feedback, and the check modules' NumPy references equal
the package's functions (course_utils.capstone)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_utils import capstone as CAP
from course_utils.checks import run_check
from course_utils.checks import lesson10 as L10

from checkhelp import mistake, stub
from checkhelp import through_npz as _through_npz, graded as _graded, forged as _forged

SEEDS = (0, 6113, 2971, 4408, 3356, 11)   # the public self-check, the lesson's hidden seeds and one more
torch = pytest.importorskip("torch")
F = torch.nn.functional


def passes(exercise, fn, seeds=SEEDS):
    for seed in seeds:
        result = run_check(exercise, fn, seed=seed, record=False)
        assert result.passed, (seed, result.message)


# ----------------------------------------------------------------------------- 10.bootstrap_ci
def boot_loop(y_true, y_pred, groups, draws, metric):
    names = sorted(set(np.asarray(groups).tolist()))
    rows_of = {g: [i for i, v in enumerate(groups) if v == g] for g in names}
    values = []
    for d in draws:
        rows = [i for g in d for i in rows_of[names[g]]]
        values.append(metric(np.asarray(y_true)[rows], np.asarray(y_pred)[rows]))
    return tuple(float(v) for v in np.percentile(values, [2.5, 97.5]))


def boot_inverse(y_true, y_pred, groups, draws, metric):
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(inv.max() + 1))
    ends = np.append(starts[1:], len(order))
    vals = np.array([metric(y_true[r], y_pred[r]) for r in
                     (np.concatenate([order[starts[g]:ends[g]] for g in d]) for d in draws)])
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return float(lo), float(hi)


def boot_pandas(y_true, y_pred, groups, draws, metric):
    idx = pd.Series(np.arange(len(groups))).groupby(np.asarray(groups)).apply(list)   # sorted group keys
    vals = [metric(y_true[sum((idx.iloc[g] for g in d), [])], y_pred[sum((idx.iloc[g] for g in d), [])])
            for d in draws]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


@pytest.mark.parametrize("fn", [CAP.bootstrap_ci, boot_loop, boot_inverse, boot_pandas])
def test_bootstrap_ci_correct_formulations_pass(fn):
    passes("10.bootstrap_ci", fn)


def test_bootstrap_ci_mistakes_are_named():
    def rows(y_true, y_pred, groups, draws, metric):
        vals = [metric(y_true[d], y_pred[d]) for d in np.asarray(draws)]
        return tuple(float(v) for v in np.percentile(vals, [2.5, 97.5]))

    def group_means(y_true, y_pred, groups, draws, metric):
        mem = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        vals = [np.mean([metric(y_true[mem[g]], y_pred[mem[g]]) for g in d]) for d in draws]
        return tuple(float(v) for v in np.percentile(vals, [2.5, 97.5]))

    def first_order(y_true, y_pred, groups, draws, metric):
        names = list(dict.fromkeys(np.asarray(groups).tolist()))
        mem = [np.flatnonzero(groups == g) for g in names]
        vals = [metric(y_true[np.concatenate([mem[g] for g in d])], y_pred[np.concatenate([mem[g] for g in d])])
                for d in draws]
        return tuple(float(v) for v in np.percentile(vals, [2.5, 97.5]))

    def ninety(*args):
        return L10._boot(*args, q=(5.0, 95.0))

    def normal(*args):
        return L10._boot(*args, normal=True)

    mistake("10.bootstrap_ci", rows, "ROWS")
    mistake("10.bootstrap_ci", group_means, "ONCE per replicate")
    mistake("10.bootstrap_ci", first_order, "SORTED order")
    mistake("10.bootstrap_ci", ninety, "90 % interval")
    mistake("10.bootstrap_ci", normal, "1.96 standard deviations")


def test_bootstrap_ci_stub_and_wrong_types_fail():
    assert "not implemented yet" in run_check("10.bootstrap_ci", stub, record=False).message
    res = run_check("10.bootstrap_ci", lambda *a: np.array(CAP.bootstrap_ci(*a)), record=False)
    assert not res.passed and "tuple" in res.message
    res = run_check("10.bootstrap_ci", lambda *a: None, record=False)
    assert not res.passed


def test_bootstrap_reference_equals_the_package():
    rng = np.random.default_rng(3)
    groups = rng.choice(["a", "b", "c", "d"], size=40)
    t, p = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    draws = CAP.group_draws(groups, 200, seed=1)
    assert draws.shape == (200, 4)
    assert np.allclose(CAP.bootstrap_ci(t, p, groups, draws, L10._acc), L10._boot(t, p, groups, draws, L10._acc))


# ----------------------------------------------------------------------------- 10.ece
def ece_histogram(prob, y, n_bins):
    prob, y = np.asarray(prob, float), np.asarray(y, float)
    count, edges = np.histogram(prob, bins=n_bins, range=(0, 1))
    sum_p, _ = np.histogram(prob, bins=edges, weights=prob)
    sum_y, _ = np.histogram(prob, bins=edges, weights=y)
    ok = count > 0
    return float(np.sum(np.abs(sum_y[ok] - sum_p[ok])) / len(prob))


def ece_digitize(prob, y, n_bins):
    prob, y = np.asarray(prob, float), np.asarray(y, float)
    idx = np.clip(np.digitize(prob, np.linspace(0, 1, n_bins + 1)) - 1, 0, n_bins - 1)
    return float(sum((idx == b).mean() * abs(y[idx == b].mean() - prob[idx == b].mean())
                     for b in range(n_bins) if (idx == b).any()))


def ece_torch32(prob, y, n_bins):
    p = torch.as_tensor(prob, dtype=torch.float64)
    t = torch.as_tensor(y, dtype=torch.float64)
    idx = torch.clamp((p * n_bins).long(), max=n_bins - 1)
    total = torch.zeros((), dtype=torch.float64)
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total = total + m.double().mean() * (t[m].mean() - p[m].mean()).abs()
    return float(total)


@pytest.mark.parametrize("fn", [CAP.expected_calibration_error, ece_histogram, ece_digitize, ece_torch32])
def test_ece_correct_formulations_pass(fn):
    passes("10.ece", fn)


def test_ece_mistakes_are_named():
    mistake("10.ece", lambda p, y, k: L10._ece(p, y, k, weighted=False), "equal weights")
    mistake("10.ece", lambda p, y, k: L10._ece(p, y, k, confidence=True), "top-label ECE")
    mistake("10.ece", lambda p, y, k: L10._ece(p, y, k, right=True), "lower bin")
    mistake("10.ece", lambda p, y, k: L10._ece(p, y, k, drop_one=True), "p = 1.0")
    mistake("10.ece", lambda p, y, k: L10._ece(p, y, k, max_gap=True), "maximum calibration error")


def test_ece_stub_and_array_result_fail():
    assert "not implemented yet" in run_check("10.ece", stub, record=False).message
    res = run_check("10.ece", lambda p, y, k: np.array([L10._ece(p, y, k)]), record=False)
    assert not res.passed


def test_ece_reference_equals_the_package():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p).astype(int)
    for k in (1, 5, 10, 15):
        assert np.isclose(CAP.expected_calibration_error(p, y, k), L10._ece(p, y, k))
    rb = CAP.reliability_bins(np.array([0.0, 1.0, 0.55]), np.array([0, 1, 1]), 10)
    assert rb["count"].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1] and np.isclose(rb["ece"], 0.45 / 3)


# ----------------------------------------------------------------------------- 10.multitask_loss
def mt_nll(logits, score_pred, y, score_true, alpha1, alpha2):
    return alpha1 * F.nll_loss(F.log_softmax(logits, dim=1), y) + alpha2 * F.mse_loss(score_pred.view(-1), score_true)


def mt_manual(logits, score_pred, y, score_true, alpha1, alpha2):
    lse = torch.logsumexp(logits, dim=1)
    ce = (lse - logits.gather(1, y[:, None])[:, 0]).mean()
    d = score_pred.flatten() - score_true
    return alpha1 * ce + alpha2 * (d * d).sum() / d.numel()


def mt_squeeze64(logits, score_pred, y, score_true, alpha1, alpha2):
    sp = score_pred.squeeze(-1) if score_pred.dim() == 2 else score_pred
    return (alpha1 * F.cross_entropy(logits.double(), y) + alpha2 * F.mse_loss(sp.double(), score_true.double()))


@pytest.mark.parametrize("fn", [CAP.multitask_loss, mt_nll, mt_manual, mt_squeeze64])
def test_multitask_loss_correct_formulations_pass(fn):
    passes("10.multitask_loss", fn)


def test_multitask_loss_mistakes_are_named():
    import warnings

    def bcast(logits, score_pred, y, score_true, a1, a2):
        with warnings.catch_warnings():   # torch warns about the broadcast: the point of the mistake
            warnings.simplefilter("ignore")
            return a1 * F.cross_entropy(logits, y) + a2 * F.mse_loss(score_pred, score_true)

    def flat(sp):
        return sp.reshape(-1)

    mistake("10.multitask_loss", bcast, "(B, B)")
    mistake("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a2 * F.cross_entropy(lo, y)
            + a1 * F.mse_loss(flat(sp), st), "swapped")
    mistake("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a1 * F.cross_entropy(lo, y)
            + a2 * F.l1_loss(flat(sp), st), "ABSOLUTE")
    mistake("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a1 * F.cross_entropy(lo, y)
            + a2 * F.mse_loss(flat(sp), st).sqrt(), "root")
    mistake("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a1 * F.cross_entropy(lo, y, reduction="sum")
            + a2 * F.mse_loss(flat(sp), st, reduction="sum"), "batch MEANS")
    mistake("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a1 * F.cross_entropy(lo.softmax(1), y)
            + a2 * F.mse_loss(flat(sp), st), "softmax")


def test_multitask_loss_must_stay_in_the_graph():
    res = run_check("10.multitask_loss", lambda *a: CAP.multitask_loss(*a).detach(), record=False)
    assert not res.passed and "requires_grad" in res.message
    res = run_check("10.multitask_loss", lambda *a: CAP.multitask_loss(*a).item(), record=False)
    assert not res.passed and "torch.Tensor" in res.message


# ----------------------------------------------------------------------------- 10.ablation
def abl_loop(train_eval, modalities):
    full = train_eval(tuple(modalities))
    out = {}
    for m in modalities:
        rest = list(modalities)
        rest.remove(m)
        out[m] = full - train_eval(tuple(rest))
    return out


def abl_items(train_eval, modalities):
    scores = {"all": train_eval(tuple(modalities))}
    scores.update({m: train_eval(tuple(filter(lambda k, m=m: k != m, modalities))) for m in modalities})
    return {m: scores["all"] - scores[m] for m in modalities}


@pytest.mark.parametrize("fn", [CAP.ablation, abl_loop, abl_items])
def test_ablation_correct_formulations_pass(fn):
    passes("10.ablation", fn)


def test_ablation_mistakes_and_call_count():
    mistake("10.ablation", lambda te, ms: {m: -d for m, d in CAP.ablation(te, ms).items()}, "wrong sign")
    mistake("10.ablation", lambda te, ms: {m: te(tuple(k for k in ms if k != m)) for m in ms}, "DROP")
    mistake("10.ablation", lambda te, ms: {m: te(tuple(ms)) - te((m,)) for m in ms}, "OTHER modalities")
    res = run_check("10.ablation", lambda te, ms: {m: te(tuple(ms)) - te(tuple(k for k in ms if k != m))
                                                  for m in ms}, record=False)
    assert not res.passed and "exactly" in res.message
    res = run_check("10.ablation", lambda te, ms: {m: te(ms) - te([k for k in ms if k != m]) for m in ms},
                    record=False)
    assert not res.passed and "tuples" in res.message
    res = run_check("10.ablation", lambda te, ms: {m: te(tuple(sorted(ms))) - te(tuple(sorted(k for k in ms if k != m)))
                                                  for m in ms}, record=False)
    assert not res.passed
    assert "not implemented yet" in run_check("10.ablation", stub, record=False).message


def test_bootstrap_ci_repeated_groups_counted_once_is_named():
    def boot_isin(y_true, y_pred, groups, draws, metric):     # a mask loses the multiplicity of repeated draws
        names = np.unique(groups)
        vals = [metric(y_true[np.isin(groups, names[d])], y_pred[np.isin(groups, names[d])]) for d in draws]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        return float(lo), float(hi)
    mistake("10.bootstrap_ci", boot_isin, "contributed its rows only once")


# ----------------------------------------------------------------------------- judged outside the sandbox (issue 12)


@pytest.mark.parametrize("exercise", ["10.ablation", "10.bootstrap_ci", "10.multitask_loss"])
def test_judged_outside_the_sandbox(exercise):
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide(exercise), judge.reasons


def test_ablation_forged_observations_fail():
    from course_utils.checks import _core

    cases, run = _graded("10.ablation", CAP.ablation)
    assert _core.judge("10.ablation", run, 0, cases=cases).passed   # the real observations pass the wire and pass
    obs = run.runs[0].got
    assert obs["is_dict"] and obs["n_calls"] == 4 and all(c["tuple"] for c in obs["calls"])

    def plausible(k, got):   # the right keys and call log, plausible drops that no train_eval gave
        got = dict(got, values={m: 0.05 for m in got["values"]})
        return got

    res = _forged("10.ablation", cases, run, plausible)
    assert not res.passed and "wrong value" in res.message

    def too_many_calls(k, got):
        return dict(got, n_calls=got["n_calls"] + 1)

    res = _forged("10.ablation", cases, run, too_many_calls)
    assert not res.passed and "exactly" in res.message

    def lists(k, got):
        return dict(got, calls=[dict(c, tuple=False) for c in got["calls"]])

    res = _forged("10.ablation", cases, run, lists)
    assert not res.passed and "tuples" in res.message


def test_ablation_builds_a_fresh_train_eval_that_keeps_its_calls():
    from course_utils.checks import _core

    case = next(iter(_core.lookup("10.ablation").cases(np.random.default_rng(0))))
    te = case.args[0]
    assert isinstance(te, _core.Build) and repr(te) == "train_eval"
    a, b = te.make(), te.make()
    a(("text",))
    assert a.calls == [("text",)] and b.calls == []


def test_bootstrap_ci_forged_interval_fails_and_groups_stay_checked():
    from course_utils.checks import _core

    cases, run = _graded("10.bootstrap_ci", CAP.bootstrap_ci)
    assert _core.judge("10.bootstrap_ci", run, 0, cases=cases).passed
    assert isinstance(run.runs[0].got, tuple)
    res = _forged("10.bootstrap_ci", cases, run, lambda k, got: (0.4, 0.9))
    assert not res.passed and "(lo, hi)" in res.message
    res = _forged("10.bootstrap_ci", cases, run, lambda k, got: (got[0], got[1] + 1e-6))
    assert not res.passed

    def sorts_groups(y_true, y_pred, groups, draws, metric):   # changes an argument made by a Build
        lo_hi = CAP.bootstrap_ci(y_true, y_pred, groups, draws, metric)
        groups.sort()
        return lo_hi

    res = run_check("10.bootstrap_ci", sorts_groups, record=False)
    assert not res.passed and "modified argument #3 (groups) in place" in res.message


def test_multitask_loss_forged_observations_fail():
    from course_utils.checks import _core

    cases, run = _graded("10.multitask_loss", CAP.multitask_loss)
    assert _core.judge("10.multitask_loss", run, 0, cases=cases).passed
    obs = run.runs[0].got
    assert obs["requires_grad"] and obs["grad_fn"] and all(g is not None for g in obs["grads"])

    res = _forged("10.multitask_loss", cases, run, lambda k, got: dict(got, grads=[None, None]))
    assert not res.passed and "no gradient reaches logits" in res.message
    res = _forged("10.multitask_loss", cases, run,
                  lambda k, got: dict(got, grads=[g * 1.01 for g in got["grads"]]))
    assert not res.passed and "hand-derived" in res.message
    res = _forged("10.multitask_loss", cases, run, lambda k, got: dict(got, grad_fn=False))
    assert not res.passed and "grad_fn" in res.message


def test_multitask_loss_gradients_are_judged():
    leaf = run_check("10.multitask_loss", lambda *a: torch.tensor(float(CAP.multitask_loss(*a).detach()),
                                                                  requires_grad=True), record=False)
    assert not leaf.passed and "no grad_fn" in leaf.message
    half = run_check("10.multitask_loss", lambda lo, sp, y, st, a1, a2: a1 * F.cross_entropy(lo.detach(), y)
                     + a2 * F.mse_loss(sp.reshape(-1), st), record=False)
    assert not half.passed and "no gradient reaches logits" in half.message

    def backward_inside(*a):
        loss = CAP.multitask_loss(*a)
        loss.backward()
        return loss

    res = run_check("10.multitask_loss", backward_inside, record=False)
    assert not res.passed and "without calling .backward()" in res.message
