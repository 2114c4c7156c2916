"""course_utils.losses (lesson 01): values, stability, gradients, and parity with torch / Keras."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from course_utils import losses as L


def numerical_grad(f, x, h=1e-6):
    """Central finite differences of the scalar function f at x."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(1)


# ----------------------------------------------------------------------------- softmax family
def test_softmax_rows_sum_to_one_and_shift_invariant(rng):
    z = rng.normal(size=(5, 7))
    p = L.softmax(z)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(L.softmax(z + 123.0), p)


def test_softmax_and_logsumexp_do_not_overflow():
    z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = L.softmax(z)
        lse = L.logsumexp(z)
    assert np.all(np.isfinite(p)) and np.allclose(p[0], p[1][::-1])
    assert np.allclose(lse, [1002.0 + np.log(1 + np.exp(-1) + np.exp(-2)), -1000.0 + np.log(1 + np.exp(-1) + np.exp(-2))])


def test_logsumexp_matches_naive_on_moderate_values(rng):
    z = rng.normal(size=(4, 6))
    assert np.allclose(L.logsumexp(z, axis=1), np.log(np.exp(z).sum(axis=1)))
    assert L.logsumexp(z, axis=1, keepdims=True).shape == (4, 1)
    assert np.allclose(L.logsumexp(z, axis=0), np.log(np.exp(z).sum(axis=0)))


def test_logsumexp_of_all_minus_inf_row_is_minus_inf():
    out = L.logsumexp(np.array([[-np.inf, -np.inf], [0.0, 0.0]]))
    assert out[0] == -np.inf and np.isclose(out[1], np.log(2))


def test_log_softmax_equals_log_of_softmax(rng):
    z = rng.normal(size=(3, 4))
    assert np.allclose(L.log_softmax(z), np.log(L.softmax(z)))
    assert np.all(np.isfinite(L.log_softmax(np.array([[0.0, 2000.0]]))))


def test_sigmoid_and_log_sigmoid_are_stable():
    z = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = L.sigmoid(z)
        ls = L.log_sigmoid(z)
    assert np.allclose(s, [0.0, 1 / (1 + np.exp(5)), 0.5, 1 / (1 + np.exp(-5)), 1.0])
    assert np.isclose(ls[0], -1000.0) and np.isclose(ls[-1], 0.0) and np.isclose(ls[2], -np.log(2))


def test_one_hot_and_smoothing():
    assert np.array_equal(L.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError):
        L.one_hot(np.array([3]), 3)
    with pytest.raises(TypeError):
        L.one_hot(np.array([0.5]), 3)
    s = L.smooth_labels(np.array([1]), 0.1, num_classes=4)
    assert np.allclose(s, [[0.025, 0.925, 0.025, 0.025]]) and np.isclose(s.sum(), 1.0)
    with pytest.raises(ValueError):
        L.smooth_labels(np.array([1]), 1.5, num_classes=4)
    with pytest.raises(ValueError):
        L.smooth_labels(np.array([1]), 0.1)


# ----------------------------------------------------------------------------- regression losses
def test_regression_losses_known_values():
    yp, yt = np.array([0.5, 3.0, -2.0]), np.zeros(3)
    assert np.isclose(L.mse(yp, yt), (0.25 + 9 + 4) / 3)
    assert np.isclose(L.mae(yp, yt), 5.5 / 3)
    assert np.isclose(L.huber(yp, yt), (0.125 + 2.5 + 1.5) / 3)
    assert np.isclose(L.huber(yp, yt, delta=10.0), L.mse(yp, yt) / 2)  # all residuals quadratic
    with pytest.raises(ValueError):
        L.huber(yp, yt, delta=0.0)


def test_huber_tends_to_scaled_mae_for_large_residuals():
    yp = np.array([1e6, -2e6])
    assert np.isclose(L.huber(yp, 0.0, delta=2.0), 2.0 * L.mae(yp, 0.0), rtol=1e-5)


@pytest.mark.parametrize("name", ["mse", "mae", "huber"])
def test_regression_gradients_match_finite_differences(name, rng):
    f, grad = getattr(L, name), getattr(L, name + "_grad")
    yt = rng.normal(size=(4, 3))
    yp = yt + rng.choice([-1, 1], size=yt.shape) * rng.uniform(0.1, 3.0, size=yt.shape)  # no kinks near
    assert np.allclose(grad(yp, yt), numerical_grad(lambda x: f(x, yt), yp), atol=1e-7)
    assert grad(yp, yt).shape == yp.shape


def test_mae_grad_is_zero_at_zero_residual():
    assert np.array_equal(L.mae_grad(np.array([1.0, 2.0]), np.array([1.0, 0.0])), [0.0, 0.5])


# ----------------------------------------------------------------------------- classification
def test_bce_logits_equals_bce_on_probabilities(rng):
    z, y = rng.normal(size=20), rng.integers(0, 2, 20).astype(float)
    assert np.isclose(L.bce_with_logits(z, y), L.binary_cross_entropy(L.sigmoid(z), y))


def test_bce_logits_is_stable_where_probabilities_fail():
    z, y = np.array([800.0, -800.0]), np.array([0.0, 1.0])
    assert np.isclose(L.bce_with_logits(z, y), 800.0)
    # on probabilities the sigmoid already rounded to 0/1: clipping caps the loss far below 800
    assert L.binary_cross_entropy(L.sigmoid(z), y) < 30


def test_bce_logits_gradient(rng):
    z, y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    assert np.allclose(L.bce_with_logits_grad(z, y), numerical_grad(lambda x: L.bce_with_logits(x, y), z), atol=1e-8)


def test_cross_entropy_labels_onehot_and_extremes(rng):
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    assert np.isclose(L.cross_entropy(z, y), L.cross_entropy(z, L.one_hot(y, 4)))
    assert np.isclose(L.cross_entropy(np.zeros((2, 5)), np.array([0, 3])), np.log(5))
    assert np.isclose(L.cross_entropy(np.array([[1000.0, 0.0]]), np.array([1])), 1000.0)
    with pytest.raises(ValueError):
        L.cross_entropy(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError):
        L.cross_entropy(np.zeros((2, 3)), np.zeros((2, 4)))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradient(smoothing, rng):
    z, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    num = numerical_grad(lambda x: L.cross_entropy(x, y, label_smoothing=smoothing), z)
    assert np.allclose(L.cross_entropy_grad(z, y, label_smoothing=smoothing), num, atol=1e-8)


def test_kl_and_entropy_identities(rng):
    p, q = L.softmax(rng.normal(size=(4, 5))), L.softmax(rng.normal(size=(4, 5)))
    assert L.kl_divergence(p, q) > 0 and np.isclose(L.kl_divergence(p, p), 0.0)
    # cross-entropy(p, q) = H(p) + KL(p || q), with q given as logits log q
    assert np.isclose(L.cross_entropy(np.log(q), p), L.entropy(p).mean() + L.kl_divergence(p, q))
    onehot = np.array([[0.0, 1.0, 0.0]])
    assert np.isclose(L.kl_divergence(onehot, np.array([[0.2, 0.5, 0.3]])), -np.log(0.5))
    assert L.kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == np.inf
    assert np.isclose(L.entropy(np.array([0.5, 0.5])), np.log(2)) and L.entropy(onehot)[0] == 0.0


def test_multitask_loss():
    assert L.multitask_loss({"a": 2.0, "b": 3.0}) == 5.0
    assert np.isclose(L.multitask_loss({"a": 2.0, "b": 3.0}, {"a": 0.5}), 4.0)
    with pytest.raises(KeyError):
        L.multitask_loss({"a": 1.0}, {"typo": 1.0})
    with pytest.raises(ValueError):
        L.multitask_loss({"a": 1.0}, {"a": -1.0})
    with pytest.raises(ValueError):
        L.multitask_loss({})


def test_losses_module_imports_numpy_only():
    code = ("import sys, course_utils.losses, course_utils.optim; "
            "print([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- framework parity
def test_parity_with_torch_functional(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    yp, yt = rng.normal(scale=2, size=(8, 3)), rng.normal(size=(8, 3))
    z, y = rng.normal(scale=3, size=(8, 5)), rng.integers(0, 5, 8)
    zb, yb = rng.normal(scale=3, size=8), rng.integers(0, 2, 8).astype(float)
    p, q = L.softmax(rng.normal(size=(8, 5))), L.softmax(rng.normal(size=(8, 5)))
    pairs = [
        (L.mse(yp, yt), F.mse_loss(t(yp), t(yt))),
        (L.mae(yp, yt), F.l1_loss(t(yp), t(yt))),
        (L.huber(yp, yt, 1.5), F.huber_loss(t(yp), t(yt), delta=1.5)),
        (L.bce_with_logits(zb, yb), F.binary_cross_entropy_with_logits(t(zb), t(yb))),
        (L.binary_cross_entropy(L.sigmoid(zb), yb), F.binary_cross_entropy(t(L.sigmoid(zb)), t(yb))),
        (L.cross_entropy(z, y), F.cross_entropy(t(z), torch.from_numpy(y))),
        (L.cross_entropy(z, y, 0.1), F.cross_entropy(t(z), torch.from_numpy(y), label_smoothing=0.1)),
        (L.cross_entropy(z, p), F.cross_entropy(t(z), t(p))),
        (L.kl_divergence(p, q), F.kl_div(t(np.log(q)), t(p), reduction="batchmean")),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        assert abs(ours - theirs.item()) <= 1e-12, (i, ours, theirs.item())
    assert np.allclose(L.log_softmax(z), F.log_softmax(t(z), dim=1).numpy(), atol=1e-12)


def test_gradients_match_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.from_numpy(y), label_smoothing=0.1).backward()
    assert np.allclose(L.cross_entropy_grad(z, y, 0.1), zt.grad.numpy(), atol=1e-12)
    yp, yt = rng.normal(scale=2, size=10), rng.normal(size=10)
    ypt = torch.tensor(yp, requires_grad=True)
    F.huber_loss(ypt, torch.from_numpy(yt), delta=0.7).backward()
    assert np.allclose(L.huber_grad(yp, yt, 0.7), ypt.grad.numpy(), atol=1e-12)


def test_parity_with_keras_losses(rng):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    k = lambda a: float(np.mean(keras.ops.convert_to_numpy(a)))  # noqa: E731
    yp, yt = rng.normal(scale=2, size=(8, 3)), rng.normal(size=(8, 3))
    z, y = rng.normal(scale=3, size=(8, 5)), rng.integers(0, 5, 8)
    zb, yb = rng.normal(scale=3, size=(8, 1)), rng.integers(0, 2, (8, 1)).astype(float)
    p, q = L.softmax(rng.normal(size=(8, 5))), L.softmax(rng.normal(size=(8, 5)))
    pairs = [
        (L.mse(yp, yt), k(keras.losses.mean_squared_error(yt, yp))),
        (L.mae(yp, yt), k(keras.losses.mean_absolute_error(yt, yp))),
        (L.huber(yp, yt, 1.5), k(keras.losses.huber(yt, yp, delta=1.5))),
        (L.bce_with_logits(zb, yb), k(keras.losses.binary_crossentropy(yb, zb, from_logits=True))),
        (L.cross_entropy(z, y), k(keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True))),
        (L.cross_entropy(z, y, 0.1), k(keras.losses.categorical_crossentropy(L.one_hot(y, 5), z, from_logits=True,
                                                                             label_smoothing=0.1))),
        (L.kl_divergence(p, q), k(keras.losses.kl_divergence(p, q))),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        assert abs(ours - theirs) <= 1e-12, (i, ours, theirs)
