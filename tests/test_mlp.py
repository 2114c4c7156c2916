"""course_utils.mlp: hand-written backprop agrees with finite differences and with PyTorch autograd."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import mlp


def _data(n=7, d=4, k=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_gradients_match_finite_differences(activation, l2):
    X, y = _data()
    params = mlp.init_mlp(4, 5, 3, rng=0)
    loss, grads = mlp.mlp_loss_and_grads(params, X, y, activation, l2)
    assert np.isfinite(loss) and set(grads) == {"W1", "b1", "W2", "b2"}
    for name in grads:
        assert grads[name].shape == params[name].shape
    errors = mlp.gradient_check(lambda: mlp.mlp_loss_and_grads(params, X, y, activation, l2)[0],
                                params, grads)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_catches_a_bug():
    X, y = _data()
    params = mlp.init_mlp(4, 5, 3, rng=0)
    _, grads = mlp.mlp_loss_and_grads(params, X, y, "tanh")
    grads["W1"] = grads["W1"] * 1.01  # a 1 % error
    errors = mlp.gradient_check(lambda: mlp.mlp_loss_and_grads(params, X, y, "tanh")[0], params, grads)
    assert errors["W1"] > 1e-3 and errors["W2"] < 1e-6


def test_numerical_gradient_restores_input_and_is_central():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    g = mlp.numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    assert np.array_equal(x, before)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)
    with pytest.raises(TypeError):
        mlp.numerical_gradient(lambda v: 0.0, np.array([1, 2]))


def test_relative_error():
    a = np.array([1.0, 2.0])
    assert mlp.relative_error(a, a) == 0.0
    assert mlp.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert abs(mlp.relative_error(a, 1.1 * a) - 0.1 / 2.1) < 1e-12
    with pytest.raises(ValueError):
        mlp.relative_error(a, np.ones(3))


def test_softmax_cross_entropy_stable_and_correct():
    logits = np.array([[1000.0, 0.0], [0.0, 0.0]])
    loss, g = mlp.softmax_cross_entropy(logits, np.array([1, 0]))
    assert np.isfinite(loss) and np.isfinite(g).all()
    assert abs(loss - (1000.0 + np.log(2)) / 2) < 1e-9
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(mlp.softmax(logits).sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        mlp.softmax_cross_entropy(logits, np.array([0, 1, 1]))


def test_sigmoid_no_overflow():
    with np.errstate(over="raise"):
        s = mlp.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(mlp.sigmoid_backward(np.ones(1), np.zeros(1)), [0.25])


def test_init_schemes():
    p = mlp.init_mlp(400, 300, 10, rng=0, scheme="he")
    assert abs(p["W1"].std() - np.sqrt(2 / 400)) < 0.005 and not p["b1"].any()
    p = mlp.init_mlp(400, 300, 10, rng=0, scheme="xavier")
    assert abs(p["W1"].std() - np.sqrt(2 / 700)) < 0.005
    p = mlp.init_mlp(50, 60, 2, rng=0, scheme=0.01, dtype=np.float32)
    assert p["W2"].dtype == np.float32 and abs(p["W1"].std() - 0.01) < 0.001
    with pytest.raises(ValueError):
        mlp.init_mlp(2, 2, 2, scheme="zeros")
    with pytest.raises(ValueError):
        mlp.mlp_forward(p, np.ones((1, 50)), activation="gelu")


def test_training_with_sgd_reduces_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)  # XOR-like: not linearly separable
    params = mlp.init_mlp(2, 32, 2, rng=0)
    first = None
    for _ in range(300):
        loss, grads = mlp.mlp_loss_and_grads(params, X, y)
        first = loss if first is None else first
        mlp.sgd_step(params, grads, lr=0.5)
    assert loss < 0.5 * first
    assert np.mean(mlp.mlp_predict(params, X) == y) > 0.9


def test_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    X, y = _data(n=9, d=4, k=3)
    params = mlp.init_mlp(4, 6, 3, rng=3)
    loss, grads = mlp.mlp_loss_and_grads(params, X, y, "relu", l2=0.05)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.relu(torch.tensor(X) @ t["W1"] + t["b1"])
    tl = torch.nn.functional.cross_entropy(h @ t["W2"] + t["b2"], torch.tensor(y))
    tl = tl + 0.025 * (t["W1"].pow(2).sum() + t["W2"].pow(2).sum())
    tl.backward()
    assert abs(tl.item() - loss) < 1e-12
    for k in params:
        np.testing.assert_allclose(t[k].grad.numpy(), grads[k], rtol=0, atol=1e-12)


def test_sigmoid_backward_symmetric_accurate_and_overflow_free():
    z = np.array([-800.0, -40.0, -5.0, 0.0, 5.0, 40.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        g = mlp.sigmoid_backward(np.ones_like(z), z)
    np.testing.assert_array_equal(g, g[::-1])                 # sigma'(z) == sigma'(-z), bit for bit
    # sigma'(40) = exp(-40) / (1 + exp(-40))^2: the tail keeps full relative accuracy (s*(1-s) would give 0)
    np.testing.assert_allclose(g[5], np.exp(-40.0) / (1 + np.exp(-40.0)) ** 2, rtol=1e-14)
    assert g[0] == 0.0 and g[3] == 0.25
    # the same as s * (1 - s) wherever that form is accurate
    zm = np.linspace(-5, 5, 101)
    s = mlp.sigmoid(zm)
    np.testing.assert_allclose(mlp.sigmoid_backward(np.ones_like(zm), zm), s * (1 - s), rtol=1e-12)
