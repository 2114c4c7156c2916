"""Self-checks of lessons 01 and 02: the reference passes, every kind of wrong answer is rejected.

Lesson 01's checks are tested in tests/test_checks_01.py (issue 8)."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from course_utils import losses as L
from course_utils import optim as O
from course_utils.checks import run_check
from course_utils.checks._core import REGISTRY, lookup


def _logreg_grad(w, X, y):
    return X.T @ (L.sigmoid(X @ w) - y) / len(y)


def _warmup(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    return O.warmup_cosine_lr(lr0, warmup_steps, total_steps, lr_min)(step)


REFERENCES = {
    "02.logreg_grad": _logreg_grad,
    "02.momentum_step": lambda p, g, buf, lr, momentum: O.momentum_step(p, g, buf, lr, momentum),
    "02.adam_step": lambda p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8:
        O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps),
    "02.warmup_cosine": _warmup,
}
EXERCISES = sorted(REFERENCES)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _replace_first(out, new):
    return (new,) + tuple(out[1:]) if isinstance(out, tuple) else new


def wrong_shape(ref):
    def f(*a, **k):
        out = ref(*a, **k)
        return _replace_first(out, np.append(np.ravel(_first(out)), 0.0))
    return f


def wrong_value(ref):
    def f(*a, **k):
        out = ref(*a, **k)
        return _replace_first(out, np.asarray(_first(out)) * 1.1 + 0.01)
    return f


def nan_answer(ref):
    def f(*a, **k):
        out = ref(*a, **k)
        return _replace_first(out, np.asarray(_first(out)) * np.nan)
    return f


def raises(ref):
    def f(*a, **k):
        raise ZeroDivisionError("oops")
    return f


def returns_none(ref):
    def f(*a, **k):
        return None
    return f


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes(exercise):
    result = run_check(exercise, REFERENCES[exercise])
    assert result.passed, result.message
    assert result.n_cases >= 6


@pytest.mark.parametrize("exercise", EXERCISES)
@pytest.mark.parametrize("make,needle", [(wrong_shape, "shape"), (wrong_value, "wrong value"),
                                         (nan_answer, "NaN"), (raises, "ZeroDivisionError"),
                                         (returns_none, "None")])
def test_generic_wrong_answers_are_rejected(exercise, make, needle):
    result = run_check(exercise, make(REFERENCES[exercise]))
    assert not result.passed
    assert needle in result.message, result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_too_slow_is_rejected(exercise, monkeypatch):
    spec = lookup(exercise)
    monkeypatch.setattr(spec, "time_limit", 0.2)
    ref = REFERENCES[exercise]

    def slow(*a, **k):
        time.sleep(1.0)
        return ref(*a, **k)

    result = run_check(exercise, slow)
    assert not result.passed and "took longer" in result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_not_implemented_and_not_callable(exercise):
    def todo(*a, **k):
        raise NotImplementedError()

    assert "not implemented" in run_check(exercise, todo).message
    assert "expected a function" in run_check(exercise, 3.0).message


def test_time_limits_are_short_and_hints_do_not_leak_code():
    for exercise in EXERCISES:
        spec = REGISTRY[exercise]
        assert spec.time_limit <= 5
        assert spec.hint
        for code_like in ("def ", "lambda", " = ", "return np", "np.exp(", "np.sum("):
            assert code_like not in spec.hint, (exercise, code_like)


# ----------------------------------------------------------------------------- plausible mistakes
def logreg_grad_sum(w, X, y):
    return X.T @ (L.sigmoid(X @ w) - y)


def momentum_keras_style(p, g, buf, lr, momentum):
    return O.momentum_step(p, g, buf, lr, momentum, convention="keras")


def adam_no_bias_correction(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps, bias_correction=False)


def adam_eps_inside_sqrt(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v


def adam_keras_epsilon_hat(p, g, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return O.adam_step(p, g, m, v, t, lr, beta1, beta2, eps, convention="keras")


def warmup_off_by_one(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    return _warmup(step + 1, lr0, warmup_steps, total_steps, lr_min)


def cosine_without_clamp(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step < warmup_steps:
        return lr0 * step / warmup_steps
    frac = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * frac))


@pytest.mark.parametrize("exercise,wrong,needle", [
    ("02.logreg_grad", logreg_grad_sum, "wrong value"),
    ("02.momentum_step", momentum_keras_style, "buffer"),
    ("02.adam_step", adam_no_bias_correction, "first step"),
    ("02.adam_step", adam_eps_inside_sqrt, "large eps"),
    ("02.adam_step", adam_keras_epsilon_hat, "large eps"),
    ("02.warmup_cosine", warmup_off_by_one, "step 0"),
    ("02.warmup_cosine", cosine_without_clamp, "step 150"),
])
def test_plausible_mistakes_are_rejected(exercise, wrong, needle):
    with np.errstate(all="ignore"):
        result = run_check(exercise, wrong)
    assert not result.passed and needle in result.message, result.message
