"""Lesson 03 self-checks accept the reference and reject typical mistakes."""
from __future__ import annotations

import time

import numpy as np
import pytest

from course_utils import mlp
from course_utils.checks import run_check
from course_utils.mlp import numerical_gradient
from course_utils.checks._core import lookup

EXERCISES = ["03.linear_backward", "03.relu_backward", "03.sigmoid_backward", "03.softmax_ce_backward",
             "03.numerical_gradient"]


REFERENCE = {
    "03.linear_backward": mlp.linear_backward,
    "03.relu_backward": mlp.relu_backward,
    "03.sigmoid_backward": mlp.sigmoid_backward,
    "03.softmax_ce_backward": mlp.softmax_cross_entropy,
    "03.numerical_gradient": numerical_gradient,
}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes(exercise):
    result = run_check(exercise, REFERENCE[exercise])
    assert result.passed, result.message
    assert result.n_cases >= 4


@pytest.mark.parametrize("exercise", EXERCISES)
def test_not_implemented_and_exceptions(exercise):
    def todo(*args, **kwargs):
        raise NotImplementedError()

    def broken(*args, **kwargs):
        raise ValueError("boom")

    assert "not implemented" in run_check(exercise, todo).message
    result = run_check(exercise, broken)
    assert not result.passed and "ValueError: boom" in result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_not_a_function(exercise):
    result = run_check(exercise, 3.0)
    assert not result.passed and "expected a function" in result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_too_slow(exercise, monkeypatch):
    monkeypatch.setattr(lookup(exercise), "time_limit", 0.2)

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return REFERENCE[exercise](*args, **kwargs)

    result = run_check(exercise, slow)
    assert not result.passed and "took longer" in result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_nan_rejected(exercise):
    def nan_answer(*args, **kwargs):
        out = REFERENCE[exercise](*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(np.full_like(np.asarray(o, dtype=float), np.nan) for o in out)
        return np.full_like(np.asarray(out, dtype=float), np.nan)

    result = run_check(exercise, nan_answer)
    assert not result.passed and "NaN" in result.message


def test_linear_backward_mistakes():
    # db averaged instead of summed; db not reduced (wrong shape); dW transposed
    mean_db = run_check("03.linear_backward", lambda d, x, W: (d @ W.T, x.T @ d, d.mean(axis=0)))
    assert not mean_db.passed and "wrong value in db" in mean_db.message
    no_sum = run_check("03.linear_backward", lambda d, x, W: (d @ W.T, x.T @ d, d))
    assert not no_sum.passed and "wrong shape in db" in no_sum.message
    transposed = run_check("03.linear_backward", lambda d, x, W: (d @ W.T, d.T @ x, d.sum(axis=0)))
    assert not transposed.passed and "dW" in transposed.message
    only_two = run_check("03.linear_backward", lambda d, x, W: (d @ W.T, x.T @ d))
    assert not only_two.passed and "expected 3 items" in only_two.message


def test_relu_and_sigmoid_mistakes():
    at_zero = run_check("03.relu_backward", lambda d, z: d * (z >= 0))
    assert not at_zero.passed and "wrong value" in at_zero.message
    forgot_dout = run_check("03.relu_backward", lambda d, z: (z > 0).astype(float))
    assert not forgot_dout.passed
    sig_not_derivative = run_check("03.sigmoid_backward", lambda d, z: d * mlp.sigmoid(z))
    assert not sig_not_derivative.passed and "wrong value" in sig_not_derivative.message
    scalar = run_check("03.sigmoid_backward", lambda d, z: float(np.sum(d * mlp.sigmoid(z))))
    assert not scalar.passed and "shape" in scalar.message


def test_softmax_ce_mistakes():
    def naive(logits, y):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        n = len(y)
        g = p.copy()
        g[np.arange(n), y] -= 1
        return -np.mean(np.log(p[np.arange(n), y])), g / n

    with np.errstate(all="ignore"):
        overflow = run_check("03.softmax_ce_backward", naive)
    assert not overflow.passed and "huge logits" in overflow.message and "NaN" in overflow.message

    def no_mean(logits, y):
        loss, g = mlp.softmax_cross_entropy(logits, y)
        return loss, g * len(y)

    assert not run_check("03.softmax_ce_backward", no_mean).passed
    assert "expected a tuple" in run_check("03.softmax_ce_backward", lambda l, y: 1.0).message


def test_numerical_gradient_mistakes():
    def forward(f, x, eps=1e-6):
        g, f0 = np.zeros(x.shape), f(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            g[i] = (f(x) - f0) / eps
            x[i] = old
        return g

    one_sided = run_check("03.numerical_gradient", forward)
    assert not one_sided.passed and "wrong value" in one_sided.message

    def flat(f, x, eps=1e-6):
        return numerical_gradient(f, x, eps).ravel()

    flat_result = run_check("03.numerical_gradient", flat)
    assert not flat_result.passed and "wrong shape" in flat_result.message

    def no_restore(f, x, eps=1e-6):
        g = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            up = f(x)
            x[i] = old - eps
            g[i] = (up - f(x)) / (2 * eps)
        return g

    assert not run_check("03.numerical_gradient", no_restore).passed


def test_messages_do_not_reveal_solution_code():
    for exercise in EXERCISES:
        hint = lookup(exercise).hint
        for snippet in ("@ W.T", "x.T @", ".sum(axis=0)", "np.exp(", "1 / (1 +", "(f(x + eps"):
            assert snippet not in hint, (exercise, snippet)
