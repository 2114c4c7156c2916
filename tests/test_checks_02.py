"""Self-checks of lesson 02: several independent correct formulations pass (public and instructor seeds), the
untouched stub gets "not implemented" and no hint, predictable wrong answers get their named feedback, in-place
updates are rejected, and the torch exercise is checked by behaviour."""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from course_utils import losses as L
from course_utils import optim as O
from course_utils.checks import run_check
from course_utils.checks import lesson02 as C
from course_utils.checks._core import REGISTRY, lookup
from checkhelp import through_npz as _over_the_wire

SEEDS = (0, 4021, 987654)


# ----------------------------------------------------------------------------- correct formulations
def logreg_a(w, X, y):
    return X.T @ (L.sigmoid(X @ w) - y) / len(y)


def logreg_b(w, X, y):  # sigmoid via tanh, mean over examples of the per-example gradients
    p = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))
    return np.mean((p - y)[:, None] * X, axis=0)


def logreg_c(w, X, y):  # through lesson 01's BCE gradient, written with einsum
    return np.einsum("nd,n->d", X, L.bce_with_logits_grad(X @ w, y))


def logreg_d(w, X, y):  # the probability from log-space: log sigma(z) = -log(1 + exp(-z))
    z = X @ w
    p = np.exp(-np.logaddexp(0.0, -z))
    return (p - y) @ X / X.shape[0]


def momentum_a(p, g, buf, lr, momentum):
    new_buf = momentum * buf + g
    return p - lr * new_buf, new_buf


def momentum_b(p, g, buf, lr, momentum):  # copies, then in-place on the copies
    b = buf.copy()
    b *= momentum
    b += g
    q = p.copy()
    q -= lr * b
    return q, b


def momentum_c(p, g, buf, lr, momentum):  # via the Keras form, converted (m = -lr b)
    m = momentum * (-lr * buf) - lr * g
    return p + m, m / -lr


def adam_a(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v


def adam_b(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):  # Keras's eps-hat form, eps rescaled
    m = m + (1 - beta1) * (g - m)
    v = v + (1 - beta2) * (np.square(g) - v)
    lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    return p - lr_t * m / (np.sqrt(v) + eps * math.sqrt(1 - beta2 ** t)), m, v


def adam_c(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):  # the package's reference
    return O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps)


def warmup_a(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step < warmup_steps:
        return lr0 * step / warmup_steps
    progress = min(step - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * progress))


def warmup_b(step, lr0, warmup_steps, total_steps, lr_min=0.0):  # numpy, clip, float()
    if step < warmup_steps:
        return float(lr0 * step / warmup_steps)
    frac = np.clip((step - warmup_steps) / (total_steps - warmup_steps), 0.0, 1.0)
    return float(lr_min + (lr0 - lr_min) * np.cos(np.pi * frac / 2) ** 2)   # (1 + cos x)/2 = cos²(x/2)


def warmup_c(step, lr0, warmup_steps, total_steps, lr_min=0.0):  # after total_steps first, then the two regimes
    if step >= total_steps:
        return float(lr_min)
    if step >= warmup_steps:
        theta = math.pi * (step - warmup_steps) / (total_steps - warmup_steps)
        return lr_min + (lr0 - lr_min) * (1 + math.cos(theta)) / 2
    return step / warmup_steps * lr0


FORMULATIONS = {
    "02.logreg_grad": [logreg_a, logreg_b, logreg_c, logreg_d],
    "02.momentum_step": [momentum_a, momentum_b, momentum_c],
    "02.adam_step": [adam_a, adam_b, adam_c],
    "02.warmup_cosine": [warmup_a, warmup_b, warmup_c, O.warmup_cosine],
}
NUMPY_EXERCISES = sorted(FORMULATIONS)


@pytest.mark.parametrize("exercise,fn", [(e, f) for e, fs in FORMULATIONS.items() for f in fs],
                         ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, fn, seed):
    result = run_check(exercise, fn, seed=seed)
    assert result.passed, result.message
    assert "Hint" not in result.message and "Likely" not in result.message


def test_every_exercise_has_at_least_three_formulations():
    for exercise in NUMPY_EXERCISES:
        assert len(FORMULATIONS[exercise]) >= 3


def test_instructor_seed_gives_other_data_with_the_same_labels():
    for exercise in NUMPY_EXERCISES:
        spec = lookup(exercise)
        a = list(spec.cases(np.random.default_rng(1)))
        b = list(spec.cases(np.random.default_rng(2)))
        fixed = [c.label for c in a if not c.label.startswith("random")]
        assert fixed == [c.label for c in b if not c.label.startswith("random")]
        assert len(a) == len(b)
        randoms = [(c.args, d.args) for c, d in zip(a, b) if c.label.startswith("random")]
        assert randoms and any(repr(x) != repr(y) for x, y in randoms)


# ----------------------------------------------------------------------------- stub, not callable, time
@pytest.mark.parametrize("exercise", NUMPY_EXERCISES + ["02.train_steps"])
def test_stub_says_not_implemented_without_a_hint(exercise):
    if exercise == "02.train_steps" and torch is None:
        pytest.skip("needs torch")
    def todo(*a, **k):
        raise NotImplementedError()

    result = run_check(exercise, todo)
    assert not result.passed and "not implemented" in result.message
    assert "Hint" not in result.message and "Likely" not in result.message
    assert "expected a function" in run_check(exercise, 3.0).message


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES)
def test_too_slow_is_rejected(exercise, monkeypatch):
    spec = lookup(exercise)
    monkeypatch.setattr(spec, "time_limit", 0.2)
    ref = FORMULATIONS[exercise][0]

    def slow(*a, **k):
        time.sleep(1.0)
        return ref(*a, **k)

    result = run_check(exercise, slow)
    assert not result.passed and "took longer" in result.message


def test_hints_and_recipes_exist_and_do_not_give_code_away():
    for exercise in NUMPY_EXERCISES + ["02.train_steps"]:
        spec = REGISTRY[exercise]
        assert spec.hint and spec.recipe and spec.time_limit <= 10
        for text in (spec.hint, spec.recipe):
            for code_like in ("def ", "lambda", " = ", "return np", "np.exp(", "np.sum(", "zero_grad()", ".backward()"):
                assert code_like not in text, (exercise, code_like)


def test_hint_only_after_a_failure_and_recipe_from_the_third():
    from course_utils.checks import _core

    _core._FAILURES.pop("02.warmup_cosine", None)
    wrong = C._wc_variant("ramp W-1")
    spec = REGISTRY["02.warmup_cosine"]

    def shifted(step, lr0, warmup_steps, total_steps, lr_min=0.0):   # wrong in a way no detector names
        return warmup_a(step, lr0, warmup_steps, total_steps, lr_min) * 1.01 + 1e-3

    first = run_check("02.warmup_cosine", shifted).message
    assert spec.hint in first and spec.recipe not in first
    run_check("02.warmup_cosine", shifted)
    third = run_check("02.warmup_cosine", shifted).message
    assert spec.recipe in third
    assert "Likely mistake" in run_check("02.warmup_cosine", wrong).message


# ----------------------------------------------------------------------------- generic wrong answers
def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _replace_first(out, new):
    return (new,) + tuple(out[1:]) if isinstance(out, tuple) else new


def wrong_shape(ref):
    return lambda *a, **k: _replace_first(ref(*a, **k), np.append(np.ravel(_first(ref(*a, **k))), 0.0))


def wrong_value(ref):
    return lambda *a, **k: _replace_first(ref(*a, **k), np.asarray(_first(ref(*a, **k))) * 1.1 + 0.01)


def nan_answer(ref):
    return lambda *a, **k: _replace_first(ref(*a, **k), np.asarray(_first(ref(*a, **k))) * np.nan)


def raises(ref):
    def f(*a, **k):
        raise ZeroDivisionError("oops")
    return f


def returns_none(ref):
    return lambda *a, **k: None


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES)
@pytest.mark.parametrize("make,needle", [(wrong_shape, "shape"), (wrong_value, "wrong value"), (nan_answer, "NaN"),
                                         (raises, "ZeroDivisionError"), (returns_none, "None")])
def test_generic_wrong_answers_are_rejected(exercise, make, needle):
    if exercise == "02.warmup_cosine" and make is wrong_shape:
        needle = "expected float"        # a 2-element array is not a number: the returns check says so
    with np.errstate(all="ignore"):
        result = run_check(exercise, make(FORMULATIONS[exercise][0]))
    assert not result.passed
    assert needle in result.message, result.message


# ----------------------------------------------------------------------------- named mistakes
def momentum_inplace(p, g, buf, lr, momentum):
    buf *= momentum
    buf += g
    p -= lr * buf
    return p, buf


def momentum_inplace_buffer_only(p, g, buf, lr, momentum):
    np.multiply(buf, momentum, out=buf)
    buf += g
    return p - lr * buf, buf


def adam_inplace(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v


def logreg_loop(w, X, y):
    out = np.zeros_like(w)
    for i in range(len(y)):
        out += (L.sigmoid(X[i] @ w) - y[i]) * X[i]
    return out / len(y)


def logreg_naive_sigmoid(w, X, y):
    return X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / len(y)


def logreg_list(w, X, y):
    return list(X.T @ (L.sigmoid(X @ w) - y) / len(y))


def momentum_lists(p, g, buf, lr, momentum):
    new_buf = momentum * buf + g
    return list(p - lr * new_buf), list(new_buf)


def warmup_array(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    return np.array(warmup_a(step, lr0, warmup_steps, total_steps, lr_min))


@pytest.mark.parametrize("exercise,wrong,needle", [
    ("02.logreg_grad", lambda w, X, y: X.T @ (L.sigmoid(X @ w) - y), "mean"),
    ("02.logreg_grad", lambda w, X, y: X.T @ (X @ w - y) / len(y), "sigmoid(X @ w)"),
    ("02.logreg_grad", lambda w, X, y: X.T @ (y - L.sigmoid(X @ w)) / len(y), "sign is flipped"),
    ("02.logreg_grad", logreg_loop, "loop"),
    ("02.logreg_grad", logreg_naive_sigmoid, "numerically stable"),
    ("02.logreg_grad", logreg_list, "expected np.ndarray"),
    ("02.momentum_step", momentum_inplace, "in place"),
    ("02.momentum_step", momentum_inplace_buffer_only, "in place"),
    ("02.momentum_step", lambda p, g, b, lr, mu: O.momentum_step(p, g, b, lr, mu, convention="keras"),
     "Keras's convention"),
    ("02.momentum_step", lambda p, g, b, lr, mu: (p - lr * (mu * b + (1 - mu) * g), mu * b + (1 - mu) * g),
     "exponential moving average"),
    ("02.momentum_step", lambda p, g, b, lr, mu: (p - lr * (mu * b + lr * g), mu * b + lr * g), "applied twice"),
    ("02.momentum_step", lambda p, g, b, lr, mu: (p + lr * (mu * b + g), mu * b + g), "against it"),
    ("02.momentum_step", lambda p, g, b, lr, mu: (p - lr * b, mu * b + g), "old buffer"),
    # review t02: buffer of -(gradient sum) stepped with +lr: right parameters, a generic hint only
    ("02.momentum_step", lambda p, g, b, lr, mu: (p + lr * (mu * b - g), mu * b - g), "opposite sign"),
    ("02.momentum_step", lambda p, g, b, lr, mu: p - lr * (mu * b + g), "expected tuple"),
    ("02.momentum_step", momentum_lists, "NumPy array"),
    ("02.adam_step", adam_inplace, "in place"),
    ("02.adam_step", C._adam_variant("none"), "no bias correction"),
    ("02.adam_step", C._adam_variant("only m"), "only m is bias-corrected"),
    ("02.adam_step", C._adam_variant("inside"), "inside the square root"),
    ("02.adam_step", C._adam_variant("keras eps"), "epsilon hat"),
    ("02.adam_step", C._adam_variant("no sqrt"), "square root"),
    ("02.adam_step", C._adam_variant("hat state"), "uncorrected"),
    ("02.adam_step", C._adam_variant("t-1"), "off by one"),
    ("02.adam_step", C._adam_variant("t+1"), "off by one"),
    ("02.adam_step", C._adam_variant("sign"), "along the gradient"),
    ("02.adam_step", C._adam_variant("lr twice"), "applied twice"),
    ("02.warmup_cosine", C._wc_variant("ramp+1"), "step 0 must give 0"),
    ("02.warmup_cosine", C._wc_variant("ramp W-1"), "one step early"),
    ("02.warmup_cosine", C._wc_variant("step/T"), "step / total_steps"),
    ("02.warmup_cosine", C._wc_variant("over T"), "runs over total_steps"),
    ("02.warmup_cosine", C._wc_variant("from 0"), "starts counting at step 0"),
    ("02.warmup_cosine", C._wc_variant("cos+1"), "one step ahead"),
    ("02.warmup_cosine", C._wc_variant("no clamp"), "stay at lr_min"),
    ("02.warmup_cosine", C._wc_variant("no lr_min"), "lr_min is ignored"),
    # review t02: a warm-up ramp from lr_min (not 0) was accepted, no case had lr_min > 0 in the warm-up
    ("02.warmup_cosine", C._wc_variant("ramp from lr_min"), "the ramp starts at 0"),
    ("02.warmup_cosine", warmup_array, "expected float"),
])
@pytest.mark.parametrize("seed", (0, 4024))
def test_predictable_mistakes_get_named_feedback(exercise, wrong, needle, seed):
    with np.errstate(all="ignore"):
        result = run_check(exercise, wrong, seed=seed)
    assert not result.passed
    assert needle in result.message, result.message
    if wrong is not logreg_loop:      # the engine reports the loop check once, without a case
        assert ("instructor test" in result.message) == (seed != 0)


def test_the_eps_cases_separate_eps_placements_clearly():
    spec = lookup("02.adam_step")
    case = next(c for c in spec.cases(np.random.default_rng(0)) if c.label.startswith("gradients as small"))
    right = C._adam_ref(*case.args, **case.kwargs)[0]
    for kind in ("inside", "keras eps"):
        wrong = C._adam_variant(kind)(*case.args, **case.kwargs)[0]
        assert np.max(np.abs(wrong - right) / np.abs(right)) > 1e-4   # far beyond rtol, not a narrow margin


# ----------------------------------------------------------------------------- 02.train_steps (torch)
try:
    import torch
    F = torch.nn.functional
except ImportError:          # the NumPy exercises above are still tested
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


def train_a(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_b(model, optimizer, X, y, batches):  # model.zero_grad(set_to_none=True), the loss module, view(-1)
    criterion = torch.nn.BCEWithLogitsLoss()
    out = []
    for idx in batches:
        model.zero_grad(set_to_none=True)
        loss = criterion(model(X[idx]).view(-1), y[idx])
        loss.backward()
        optimizer.step()
        out.append(float(loss.detach()))
    return out


def train_c(model, optimizer, X, y, batches):  # grads set to None by hand, loss written out, [:, 0]
    losses = []
    for idx in batches:
        for p in model.parameters():
            p.grad = None
        z = model(X[idx])[:, 0]
        loss = (F.softplus(z) - y[idx] * z).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach().item())
    return losses


@needs_torch
@pytest.mark.parametrize("fn", [train_a, train_b, train_c, O.train_steps_torch], ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", (0, 4025))
def test_train_steps_correct_formulations_pass(fn, seed):
    result = run_check("02.train_steps", fn, seed=seed)
    assert result.passed, result.message
    assert result.n_cases == 4


def train_no_zero_grad(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_no_step(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_sum(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx], reduction="sum")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_full(model, optimizer, X, y, batches):
    losses = []
    for _ in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X).squeeze(1), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_tensors(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses


def train_no_squeeze(model, optimizer, X, y, batches):
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@needs_torch
@pytest.mark.parametrize("wrong,needle", [
    (train_no_zero_grad, "zero_grad"), (train_no_step, "never change"), (train_sum, "mean"),
    (train_full, "only the batch"), (train_tensors, "loss.item()"), (train_no_squeeze, "size"),
    (lambda m, o, X, y, b: None, "None"), (lambda m, o, X, y, b: tuple(train_a(m, o, X, y, b)), "expected list"),
])
def test_train_steps_wrong_loops_get_named_feedback(wrong, needle):
    result = run_check("02.train_steps", wrong)
    assert not result.passed
    assert needle in result.message, result.message


@needs_torch
@pytest.mark.parametrize("wrong,needle", [
    (train_no_zero_grad, "zero_grad"), (train_no_step, "never change"), (train_sum, "mean"),
    (train_full, "only the batch"),
    (lambda m, o, X, y, b: [-1.0] + train_a(m, o, X, y, b)[:-1], "one step late"),
])
@pytest.mark.parametrize("seed", (0, 4025))
def test_train_steps_named_mistake_replaces_the_hint(wrong, needle, seed):
    # review t02: the named mistake came with the generic hint after it; a Mistake is shown in its place
    result = run_check("02.train_steps", wrong, seed=seed)
    assert not result.passed
    assert "Likely mistake: " in result.message and needle in result.message, result.message
    assert "Hint:" not in result.message, result.message


@pytest.mark.parametrize("seed", (0, 4021))
def test_naive_sigmoid_is_told_to_use_the_stable_one(seed):
    # review t02: the overflow failure came with a hint about the derivative only; the case now names L.sigmoid
    def naive(w, X, y):
        return X.T @ (1.0 / (1.0 + np.exp(-(X @ w))) - y) / len(y)

    with np.errstate(all="ignore"):
        result = run_check("02.logreg_grad", naive, seed=seed)
    assert not result.passed
    assert "overflow" in result.message and "L.sigmoid" in result.message, result.message


def test_warmup_cosine_cases_use_lr_min_in_the_warm_up_for_any_seed():
    # review t02: every seed has a case with lr_min > 0 at a warm-up step (the ramp ignores lr_min)
    for seed in (0, 4024, 7):
        cases = list(REGISTRY["02.warmup_cosine"].cases(np.random.default_rng(seed)))
        assert any(c.kwargs.get("lr_min", 0) > 0 and c.args[0] < c.args[2] for c in cases)


def test_lesson02_checks_do_not_import_torch():
    code = ("import sys, course_utils.checks.lesson02; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_torch
def test_package_reference_matches_numpy_optimizer():
    # the reference training loop reproduces course_utils.optim step for step (float64)
    # the case's model and optimizer are made from plain data (Build) and the validator judges the probe's
    # observations (losses and trained parameters): made and observed here the way the check does
    from course_utils.checks import _core

    rng = np.random.default_rng(3)
    case = C._train_case(rng, "Adam")
    fn, args, kwargs = _core._prepared(O.train_steps_torch, case.args, case.kwargs, None, case.probe, list)
    assert case.expected(fn(*args, **kwargs)) is None


# ----------------------------------------------------------------------------- 02.train_steps judged outside (issue 12)


def _train_runs(answer, seed=0):
    from course_utils.checks import _core

    cases = list(lookup("02.train_steps").cases(np.random.default_rng(_core._seed_for("02.train_steps", seed))))
    return cases, _core.run_answer("02.train_steps", answer, _core.case_inputs(cases))


@needs_torch
def test_train_steps_is_judged_outside_on_losses_and_trained_parameters(tmp_path):
    import pickle

    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("02.train_steps"), judge.reasons
    cases, run = _train_runs(train_a)
    # what enters the sandbox: plain data only (the model and the optimizer are Build arguments)
    inputs = _core.case_inputs(cases)
    assert all(isinstance(a, _core.Build) for args, *_ in inputs for a in args[:2])
    pickle.dumps(inputs)
    back = _over_the_wire(run, tmp_path)
    obs = back.runs[0].got
    assert set(obs["params"]) == {"weight", "bias"} and isinstance(obs["params"]["weight"], np.ndarray)
    assert all(isinstance(v, float) for v in obs["losses"]) and back.runs[0].args_after[:2] == (None, None)
    result = _core.judge("02.train_steps", back, 0, cases=cases)
    assert result.passed, result.message


def _forge_initial_params(obs, case):
    obs["params"] = {k: np.asarray(v, dtype=float) for k, v in
                     (("weight", case.args[0].data["W0"]), ("bias", case.args[0].data["b0"]))}


@needs_torch
@pytest.mark.parametrize("forge,needle", [
    (_forge_initial_params, "the model's weight after the call differs"),
    (lambda obs, case: obs.update(losses=[v * (1 + 1e-6) for v in obs["losses"]]), "the losses differ"),
    (lambda obs, case: obs.update(params=None), "were not observed"),
    (lambda obs, case: obs["params"].update(bias=obs["params"]["bias"] + 1e-5), "the model's bias"),
    (lambda obs, case: obs.update(losses=[None] * obs["n"]), "could not compare"),
])
def test_train_steps_forged_observations_fail(tmp_path, forge, needle):
    """A record with the right losses but parameters that were not trained, or plausible but wrong losses,
    fails when judged outside: a pass rests on the losses AND the trained parameters a correct loop produces."""
    from course_utils.checks import _core

    cases, run = _train_runs(train_a)
    forge(run.runs[0].got, cases[0])
    result = _core.judge("02.train_steps", _over_the_wire(run, tmp_path), 0, cases=cases)
    assert not result.passed and needle in result.message, result.message


@needs_torch
def test_train_steps_model_must_end_trained():
    def skips_last_update(model, optimizer, X, y, batches):
        losses = []
        for k, idx in enumerate(batches):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
            loss.backward()
            if k < len(batches) - 1:
                optimizer.step()
            losses.append(loss.item())
        return losses

    result = run_check("02.train_steps", skips_last_update, record=False)
    assert not result.passed
    assert "the losses are right but the model's weight after the call differs" in result.message, result.message


@needs_torch
def test_train_steps_split_call_in_the_graders_kernel_code(tmp_path, monkeypatch, capsys):
    """The kernel side of a split call, without the sandbox: the grader's check prelude (a private copy of the
    check engine) reads the inputs the grader pickled, makes the Build arguments with the private copy's own
    builders (the pickled Build class is mapped to that copy), and the record it writes is judged outside."""
    from course_utils.checks import _core
    from course_utils.grade import _assemble, _wire
    from course_utils.grade._split import Judge

    judge = Judge()
    cases = judge.cases("02.train_steps", 4025)
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    import pickle

    (tmp_path / "in" / "call-0.pkl").write_bytes(pickle.dumps(_core.case_inputs(cases)))
    monkeypatch.setenv("CU_GRADE_SPLIT", str(tmp_path))
    namespace: dict = {}
    exec(compile(_assemble.check_prelude(), "<grader prelude>", "exec"), namespace)
    namespace[_assemble.GRADER_CHECK]("02.train_steps", train_a, **{_assemble.CALL_KEYWORD: 0})
    assert "ran 4 case(s)" in capsys.readouterr().out
    run = _wire.answer_from_record(_wire.load(str(tmp_path / "out" / "call-0-0.npz")))
    assert [r.status for r in run.runs] == ["ok"] * 4, [r.message for r in run.runs]
    result = _core.judge("02.train_steps", run, 4025, cases=cases)
    assert result.passed, result.message
