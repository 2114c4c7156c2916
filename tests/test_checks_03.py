"""Lesson 03 self-checks: several independent correct formulations pass (public and instructor seeds),
the stub gets "not implemented" and no hint, predictable wrong answers fail with their named feedback."""
from __future__ import annotations

import time

import numpy as np
import pytest

from course_utils import mlp
from course_utils.checks import run_check
from course_utils.checks._core import lookup
from checkhelp import through_npz as _over_the_wire

SEEDS = (0, 5281, 7719)   # the public self-check and two instructor (hidden-test) seeds


# ----------------------------------------------------------------------------- correct formulations
def linear_matmul(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def linear_einsum(dout, x, W):
    return (np.einsum("nj,kj->nk", dout, W), np.einsum("nk,nj->kj", x, dout), np.einsum("nj->j", dout))


def linear_dot_ones(dout, x, W):
    return np.dot(dout, W.transpose()), np.dot(x.transpose(), dout), np.ones(dout.shape[0]) @ dout


def linear_tensordot(dout, x, W):
    return (np.tensordot(dout, W, axes=([1], [1])), np.tensordot(x, dout, axes=([0], [0])),
            np.add.reduce(dout, axis=0))


def relu_mask(dout, z):
    return dout * (z > 0)


def relu_where(dout, z):
    return np.where(z > 0, dout, 0.0)


def relu_heaviside(dout, z):
    return dout * np.heaviside(z, 0.0)


def relu_copy(dout, z):
    out = np.array(dout, dtype=float, copy=True)
    out[np.asarray(z) <= 0] = 0.0
    return out


def _stable_sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_s_one_minus_s(dout, z):
    s = _stable_sigmoid(z)
    return dout * s * (1.0 - s)


def sigmoid_e_form(dout, z):
    e = np.exp(-np.abs(z))
    return dout * e / (1.0 + e) ** 2


def sigmoid_expit_product(dout, z):
    from scipy.special import expit
    return dout * expit(z) * expit(-z)


def sigmoid_log_space(dout, z):
    return dout * np.exp(-np.logaddexp(0.0, z) - np.logaddexp(0.0, -z))


def sigmoid_tanh(dout, z):
    return dout * 0.25 * (1.0 - np.tanh(z / 2.0) ** 2)   # sigma(z) = (1 + tanh(z/2)) / 2


def ce_reference(logits, y):
    return mlp.softmax_cross_entropy(logits, y)


def ce_onehot(logits, y):
    n, k = logits.shape
    m = logits.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    onehot = np.eye(k)[y]
    loss = float(np.mean(lse[:, 0] - (logits * onehot).sum(axis=1)))
    return loss, (np.exp(logits - lse) - onehot) / n


def ce_scipy(logits, y):
    from scipy.special import log_softmax, softmax
    n = len(y)
    grad = softmax(logits, axis=1)
    grad[np.arange(n), y] -= 1
    return -log_softmax(logits, axis=1)[np.arange(n), y].mean(), grad / n


def ce_logaddexp(logits, y):
    n = len(y)
    lse = np.logaddexp.reduce(logits, axis=1)
    p = np.exp(logits - lse[:, None])
    p[np.arange(n), y] -= 1.0
    return float(np.mean(lse - logits[np.arange(n), y])), p / n


def numgrad_ndindex(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def numgrad_flat_view(f, x, eps=1e-6):
    flat = x.reshape(-1)                      # a view: writes reach x
    grad = np.empty(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad.reshape(x.shape)


def numgrad_copies(f, x, eps=1e-6):
    """Evaluates f on perturbed copies: right for an f that reads only its argument, wrong for the lesson's
    gradient_check, whose loss reads the parameter arrays themselves (the exercise asks for in place)."""
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x, dtype=float)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def numgrad_nditer_readwrite(f, x, eps=1e-6):
    grad = np.zeros(x.shape)
    with np.nditer(x, flags=["multi_index"], op_flags=["readwrite"]) as it:
        for v in it:
            old = v.copy()
            v[...] = old + eps
            up = f(x)
            v[...] = old - eps
            down = f(x)
            v[...] = old
            grad[it.multi_index] = (up - down) / (2 * eps)
    return grad


def numgrad_add_subtract(f, x, eps=1e-6):
    """Restores x by arithmetic (+eps, -2 eps, +eps): back only to rounding, which must be accepted."""
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        x[i] += eps
        up = f(x)
        x[i] -= 2 * eps
        down = f(x)
        x[i] += eps
        grad[i] = (up - down) / (2 * eps)
    return grad


def numgrad_package(f, x, eps=1e-6):
    return mlp.numerical_gradient(f, x, eps)


CORRECT = {
    "03.linear_backward": [linear_matmul, linear_einsum, linear_dot_ones, linear_tensordot],
    "03.relu_backward": [relu_mask, relu_where, relu_heaviside, relu_copy],
    "03.sigmoid_backward": [sigmoid_s_one_minus_s, sigmoid_e_form, sigmoid_expit_product, sigmoid_log_space,
                            sigmoid_tanh, mlp.sigmoid_backward],
    "03.softmax_ce_backward": [ce_reference, ce_onehot, ce_scipy, ce_logaddexp],
    "03.numerical_gradient": [numgrad_ndindex, numgrad_flat_view, numgrad_nditer_readwrite, numgrad_add_subtract,
                              numgrad_package],
}
NUMPY_EXERCISES = list(CORRECT)


@pytest.mark.parametrize("exercise,answer",
                         [(ex, fn) for ex, fns in CORRECT.items() for fn in fns],
                         ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, answer, seed):
    result = run_check(exercise, answer, seed=seed)
    assert result.passed, result.message
    assert result.n_cases >= 4


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES)
def test_exceptions_and_non_functions(exercise):
    def broken(*args, **kwargs):
        raise ValueError("boom")

    result = run_check(exercise, broken)
    assert not result.passed and "ValueError: boom" in result.message
    result = run_check(exercise, 3.0)
    assert not result.passed and "expected a function" in result.message


@pytest.mark.parametrize("exercise", NUMPY_EXERCISES)
def test_too_slow(exercise, monkeypatch):
    monkeypatch.setattr(lookup(exercise), "time_limit", 0.2)
    reference = CORRECT[exercise][0]

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return reference(*args, **kwargs)

    result = run_check(exercise, slow)
    assert not result.passed and "took longer" in result.message


def test_labels_do_not_depend_on_the_seed_for_fixed_properties():
    for exercise in NUMPY_EXERCISES + ["03.torch_loss_and_grads"]:
        spec = lookup(exercise)
        a = [c.label for c in spec.cases(np.random.default_rng(0))]
        b = [c.label for c in spec.cases(np.random.default_rng(1))]
        assert len(a) == len(b) and a[0] == b[0], exercise


# ----------------------------------------------------------------------------- named mistakes
def _mistake(exercise, answer, fragment, seed=0):
    result = run_check(exercise, answer, seed=seed)
    assert not result.passed, f"{answer.__name__} passed"
    assert fragment in result.message, result.message
    return result


@pytest.mark.parametrize("seed", (0, 5281))
def test_linear_backward_mistakes(seed):
    _mistake("03.linear_backward", lambda d, x, W: (d @ W.T, x.T @ d, d.mean(axis=0)),
             "db is the mean over the batch", seed)
    _mistake("03.linear_backward", lambda d, x, W: (d @ W.T, d.T @ x, d.sum(axis=0)), "dW is transposed", seed)
    _mistake("03.linear_backward", lambda d, x, W: (x.T @ d, d @ W.T, d.sum(axis=0)), "wrong order", seed)
    _mistake("03.linear_backward", lambda d, x, W: (d @ W.T, x.T @ d, d.sum(axis=1)), "wrong axis", seed)
    _mistake("03.linear_backward", lambda d, x, W: (d @ W, x.T @ d, d.sum(axis=0)), "dx", seed)


@pytest.mark.parametrize("seed", (0, 7719))
def test_relu_backward_mistakes(seed):
    _mistake("03.relu_backward", lambda d, z: d * (z >= 0), "exactly z = 0", seed)
    _mistake("03.relu_backward", lambda d, z: (z > 0).astype(float), "multiplies it by the incoming gradient",
             seed)
    _mistake("03.relu_backward", lambda d, z: d * (d > 0), "must come from z", seed)

    def in_place(d, z):
        d[z <= 0] = 0.0
        return d

    _mistake("03.relu_backward", in_place, "modified argument #1 (d) in place", seed)


@pytest.mark.parametrize("seed", (0, 3307))
def test_sigmoid_backward_mistakes_and_overflow(seed):
    def naive(dout, z):
        s = 1.0 / (1.0 + np.exp(-z))
        return dout * s * (1.0 - s)

    result = _mistake("03.sigmoid_backward", naive, "use a numerically stable formulation", seed)
    assert "overflow" in result.message and "saturated units" in result.message
    _mistake("03.sigmoid_backward", lambda d, z: mlp.sigmoid_backward(np.ones_like(z), z), "dout", seed)
    _mistake("03.sigmoid_backward", lambda d, z: d * mlp.sigmoid(z) * (1 + mlp.sigmoid(z)), "check the sign",
             seed)
    _mistake("03.sigmoid_backward", lambda d, z: d * mlp.sigmoid(z), "the forward value", seed)
    _mistake("03.sigmoid_backward", lambda d, z: list(mlp.sigmoid_backward(d, z)), "np.ndarray", seed)


def test_sigmoid_check_is_not_fooled_by_a_wrong_tail():
    def wrong_tail(dout, z):   # right near 0, but 100x too large where |z| > 10
        g = mlp.sigmoid_backward(dout, z)
        return np.where(np.abs(z) > 10, 100 * g, g)

    result = run_check("03.sigmoid_backward", wrong_tail)
    assert not result.passed and "tails" in result.message


@pytest.mark.parametrize("seed", (0, 9044))
def test_softmax_ce_mistakes(seed):
    def scaled(factor_loss=1.0, factor_grad=1.0, onehot=True):
        def answer(logits, y):
            loss, grad = mlp.softmax_cross_entropy(logits, y)
            n = len(y)
            if not onehot:
                grad = mlp.softmax(logits) / n
            return loss * (n if factor_loss == "n" else 1), grad * (n if factor_grad == "n" else factor_grad)
        return answer

    _mistake("03.softmax_ce_backward", scaled(factor_grad="n"), "carries a factor 1/n", seed)
    _mistake("03.softmax_ce_backward", scaled(factor_grad=-1.0), "wrong sign", seed)
    _mistake("03.softmax_ce_backward", scaled(onehot=False), "without subtracting the one-hot", seed)
    _mistake("03.softmax_ce_backward", scaled(factor_loss="n"), "should be the mean", seed)

    def naive(logits, y):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        n = len(y)
        grad = p.copy()
        grad[np.arange(n), y] -= 1
        return -np.log(p[np.arange(n), y]).mean(), grad / n

    _mistake("03.softmax_ce_backward", naive, "numerically stable", seed)


@pytest.mark.parametrize("seed", (0, 6151))
def test_numerical_gradient_mistakes(seed):
    def forgets_to_restore(f, x, eps=1e-6):
        grad = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            up = f(x)
            x[i] = old - eps
            grad[i] = (up - f(x)) / (2 * eps)
        return grad

    result = _mistake("03.numerical_gradient", forgets_to_restore, "modified argument #2 (x) in place", seed)
    assert "put back exactly" in result.message

    def one_sided(f, x, eps=1e-6):
        grad, f0 = np.zeros(x.shape), f(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            grad[i] = (f(x) - f0) / eps
            x[i] = old
        return grad

    _mistake("03.numerical_gradient", one_sided, "one-sided (forward) difference", seed)
    _mistake("03.numerical_gradient", lambda f, x, eps=1e-6: 2 * numgrad_ndindex(f, x, eps), "divide by 2 * eps",
             seed)
    _mistake("03.numerical_gradient", lambda f, x, eps=1e-6: numgrad_ndindex(f, x, eps).ravel(), "flattened", seed)
    # perturbing copies misses an f that reads x itself (gradient_check's loss reads the parameters)
    result = _mistake("03.numerical_gradient", numgrad_copies, "perturbed copies of x", seed)
    assert "f reads x itself" in result.message and "one-sided" not in result.message


def test_gradient_check_uses_the_given_numerical_gradient():
    """The lesson passes the learner's numerical_gradient to gradient_check (USE_MY_CODE)."""
    params = mlp.init_mlp(2, 3, 2, rng=0)
    X, y = np.ones((4, 2)), np.array([0, 1, 1, 0])
    _, grads = mlp.mlp_loss_and_grads(params, X, y, activation="tanh")
    calls = []

    def mine(f, x, eps=1e-6):
        calls.append(x.shape)
        return numgrad_ndindex(f, x, eps)

    errors = mlp.gradient_check(lambda: mlp.mlp_loss_and_grads(params, X, y, activation="tanh")[0], params, grads,
                                numgrad=mine)
    assert sorted(calls) == sorted(v.shape for v in params.values()) and max(errors.values()) < 1e-7
    # perturbing copies sees no change of this loss: the check then flags every array
    errors = mlp.gradient_check(lambda: mlp.mlp_loss_and_grads(params, X, y, activation="tanh")[0], params, grads,
                                numgrad=numgrad_copies)
    assert min(errors.values()) > 0.5


def test_hint_only_after_failure_and_never_the_solution():
    for exercise in NUMPY_EXERCISES:
        assert "Hint" not in run_check(exercise, CORRECT[exercise][0]).message
    # no hint or recipe names the code of a solution
    for exercise in NUMPY_EXERCISES + ["03.torch_loss_and_grads"]:
        spec = lookup(exercise)
        for text in (spec.hint, spec.recipe):
            for leak in ("dout @ W.T", "x.T @ dout", "sum(axis=0)", "(z > 0)", "s * (1 - s)", "1 - s)"):
                assert leak not in text, (exercise, leak)


# ----------------------------------------------------------------------------- 03.torch_loss_and_grads
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the NumPy exercises above are still tested
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

NAMES = ["W1", "b1", "W2", "b2"]


def torch_autograd_grad(params, X, y):
    leaves = [torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in NAMES]
    W1, b1, W2, b2 = leaves
    loss = F.cross_entropy(torch.relu(torch.as_tensor(X) @ W1 + b1) @ W2 + b2, torch.as_tensor(y))
    return loss.item(), dict(zip(NAMES, torch.autograd.grad(loss, leaves)))


def torch_backward_from_numpy(params, X, y):
    leaves = {k: torch.from_numpy(params[k].copy()).requires_grad_() for k in NAMES}
    h = F.relu(torch.from_numpy(X) @ leaves["W1"] + leaves["b1"])
    loss = F.nll_loss(F.log_softmax(h @ leaves["W2"] + leaves["b2"], dim=1), torch.from_numpy(y))
    loss.backward()
    return loss, {k: v.grad.numpy() for k, v in leaves.items()}


def torch_nn_linear(params, X, y):
    d, h = params["W1"].shape
    k = params["W2"].shape[1]
    net = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, k)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(params["W1"].T))
        net[0].bias.copy_(torch.from_numpy(params["b1"]))
        net[2].weight.copy_(torch.from_numpy(params["W2"].T))
        net[2].bias.copy_(torch.from_numpy(params["b2"]))
    loss = F.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y))
    loss.backward()
    return loss.item(), {"W1": net[0].weight.grad.T, "b1": net[0].bias.grad,
                         "W2": net[2].weight.grad.T, "b2": net[2].bias.grad}


def torch_func_grad(params, X, y):
    def loss_fn(p):
        return F.cross_entropy(torch.relu(torch.as_tensor(X) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"],
                               torch.as_tensor(y))
    p = {k: torch.as_tensor(v) for k, v in params.items()}
    grads, loss = torch.func.grad_and_value(loss_fn)(p)
    return loss, grads


@needs_torch
@pytest.mark.parametrize("answer", [torch_autograd_grad, torch_backward_from_numpy, torch_nn_linear,
                                    torch_func_grad], ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", (0, 2468))
def test_torch_formulations_pass(answer, seed):
    result = run_check("03.torch_loss_and_grads", answer, seed=seed)
    assert result.passed, result.message


@needs_torch
def test_torch_mistakes():
    def float32(params, X, y):
        leaves = [torch.tensor(params[k], dtype=torch.float32, requires_grad=True) for k in NAMES]
        W1, b1, W2, b2 = leaves
        loss = F.cross_entropy(torch.relu(torch.as_tensor(X, dtype=torch.float32) @ W1 + b1) @ W2 + b2,
                               torch.as_tensor(y))
        return loss.item(), dict(zip(NAMES, torch.autograd.grad(loss, leaves)))

    _mistake("03.torch_loss_and_grads", float32, "float32")

    def untransposed(params, X, y):
        loss, grads = torch_nn_linear(params, X, y)
        return loss, {**grads, "W1": grads["W1"].T}

    _mistake("03.torch_loss_and_grads", untransposed, "transposed")

    def summed(params, X, y):
        leaves = [torch.tensor(params[k], requires_grad=True) for k in NAMES]
        W1, b1, W2, b2 = leaves
        loss = F.cross_entropy(torch.relu(torch.as_tensor(X) @ W1 + b1) @ W2 + b2, torch.as_tensor(y),
                               reduction="sum")
        return loss.item(), dict(zip(NAMES, torch.autograd.grad(loss, leaves)))

    _mistake("03.torch_loss_and_grads", summed, "n times too large")

    def modifies_params(params, X, y):
        params["W1"] += 0.0 * params["W1"] + 1.0
        return torch_autograd_grad(params, X, y)

    _mistake("03.torch_loss_and_grads", modifies_params, "in place")
    _mistake("03.torch_loss_and_grads", lambda p, X, y: torch_autograd_grad(p, X, y)[1], "tuple (loss, grads)")


@needs_torch
def test_torch_check_accepts_tensorflow_gradients():
    tf = pytest.importorskip("tensorflow")

    def tf_tape(params, X, y):
        v = {k: tf.Variable(params[k]) for k in NAMES}
        with tf.GradientTape() as tape:
            logits = tf.nn.relu(X @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return float(loss), dict(zip(NAMES, tape.gradient(loss, [v[k] for k in NAMES])))

    result = run_check("03.torch_loss_and_grads", tf_tape)
    assert result.passed, result.message


def test_lesson03_checks_do_not_import_frameworks():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from course_utils.checks import run_check; "
            "from course_utils import mlp; "
            "assert run_check('03.torch_loss_and_grads', lambda p, X, y: mlp.mlp_loss_and_grads(p, X, y)).passed; "
            "assert run_check('03.sigmoid_backward', mlp.sigmoid_backward).passed; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------- the lesson's check cells
def _lesson_cells():
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "03_backprop_autograd.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"]]


def test_passing_functions_are_used_downstream():
    text = "\n".join(_lesson_cells())
    assert "USE_MY_CODE = True" in text
    for exercise in ("03.linear_backward", "03.relu_backward", "03.softmax_ce_backward"):
        assert f'use_mine("{exercise}"' in text, exercise
    assert 'passed("03.torch_loss_and_grads")' in text     # the PyTorch answer joins the parity table
    code = text.split("def forward_backward(params, X, y):")[1].split("return loss")[0]
    assert "ref." not in code                               # the network runs on the switched functions


def test_lesson_has_references_and_glossary():
    text = "\n".join(_lesson_cells())
    assert "## References and further reading" in text and "## Glossary (English / 中文)" in text
    assert "## Under the hood" in text
    for needle in ("Rumelhart", "Glorot", "He, X. Zhang", "Srivastava", "Zadeh", "Baydin", "Paszke", "Abadi"):
        assert needle in text.replace("K. He, X. Zhang", "He, X. Zhang"), needle


def test_results_used_downstream_must_be_numpy():
    """§3's NumPy network uses these results (sgd_step does params -= lr * grad): a torch tensor or a list
    passed the check once and then broke the lesson; now the check names the type."""
    torch = pytest.importorskip("torch")

    def linear_tensors(dout, x, W):
        d, x, W = (torch.from_numpy(np.asarray(a, dtype=float)) for a in (dout, x, W))
        return d @ W.T, x.T @ d, d.sum(0)

    result = _mistake("03.linear_backward", linear_tensors, "dx is a torch.Tensor; expected a NumPy array")
    assert ".detach().numpy()" in result.message and "Likely mistake: the numbers are right but not NumPy" \
        in result.message

    def linear_tensors_wrong(dout, x, W):   # wrong values AND tensors: the value is reported, not the type
        dx, dW, db = linear_tensors(dout, x, W)
        return dx, dW, db / 2

    result = _mistake("03.linear_backward", linear_tensors_wrong, "wrong value in db")
    assert "numbers are right" not in result.message

    def linear_lists(dout, x, W):
        return tuple(a.tolist() for a in linear_matmul(dout, x, W))

    _mistake("03.linear_backward", linear_lists, "dx is a list; expected a NumPy array")

    def ce_tensor_loss(logits, y):
        loss, grad = mlp.softmax_cross_entropy(logits, y)
        return torch.tensor(loss), grad

    assert "use .item()" in _mistake("03.softmax_ce_backward", ce_tensor_loss, "loss is a torch.Tensor").message

    def ce_tensor_grad(logits, y):
        loss, grad = mlp.softmax_cross_entropy(logits, y)
        return loss, torch.from_numpy(grad)

    _mistake("03.softmax_ce_backward", ce_tensor_grad, "dlogits is a torch.Tensor; expected a NumPy array")
    # NumPy scalars and 0-d arrays are numbers
    for wrap in (np.float64, np.asarray, float):
        def ce_wrapped(logits, y, wrap=wrap):
            loss, grad = mlp.softmax_cross_entropy(logits, y)
            return wrap(loss), grad
        assert run_check("03.softmax_ce_backward", ce_wrapped).passed


def test_numerical_gradient_returns_an_array():
    """The exercise says 'returned as an array with the shape of x': a nested list is named."""
    result = _mistake("03.numerical_gradient", lambda f, x, eps=1e-6: numgrad_ndindex(f, x, eps).tolist(),
                      "expected np.ndarray")
    assert "list" in result.message


# ----------------------------------------------------------------------------- 03.numerical_gradient judged outside (issue 12)


def _numgrad_runs(answer, seed=0):
    from course_utils.checks import _core

    name = "03.numerical_gradient"
    cases = list(lookup(name).cases(np.random.default_rng(_core._seed_for(name, seed))))
    return cases, _core.run_answer(name, answer, _core.case_inputs(cases))


def test_numerical_gradient_is_judged_outside_with_test_functions_built_by_name(tmp_path):
    import pickle

    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("03.numerical_gradient"), judge.reasons
    cases, run = _numgrad_runs(numgrad_ndindex)
    inputs = _core.case_inputs(cases)
    assert all(isinstance(args[0], _core.Build) for args, *_ in inputs)
    assert b"_f_square" not in pickle.dumps(inputs)  # functions travel by name, as plain data
    back = _over_the_wire(run, tmp_path)
    assert all(isinstance(r.got, np.ndarray) for r in back.runs)
    result = _core.judge("03.numerical_gradient", back, 0, cases=cases)
    assert result.passed, result.message


def test_numerical_gradient_f_that_reads_x_gets_that_very_x():
    """The f of the last-but-one case is built with the x passed next to it: the answer's x is the array f
    reads (so only perturbing x in place changes f), in every call, also in the grader's sandbox."""
    from course_utils.checks import _core

    case = next(c for c in lookup("03.numerical_gradient").cases(np.random.default_rng(0))
                if "reads x itself" in c.label)
    for _ in range(2):
        _, (f, x), _ = _core._prepared(numgrad_ndindex, case.args, case.kwargs, None, None)
        assert f.x is x and np.array_equal(x, case.args[0].data["x"])
        before = f(None)
        x[0, 0] += 1.0
        assert f(None) != before
    assert repr(case.args[0]) == "f (reads x itself, like gradient_check's loss)"


@pytest.mark.parametrize("forge,needle", [
    (lambda runs: runs[0].__setattr__("got", runs[0].got * (1 + 1e-7)), "wrong value"),
    (lambda runs: runs[4].__setattr__("got", np.zeros_like(runs[4].got)), "perturbed copies of x"),
    (lambda runs: runs[5].__setattr__("got", runs[5].got[:-1]), "wrong shape"),
    (lambda runs: runs.pop(), "was not run"),
])
def test_numerical_gradient_forged_results_fail(tmp_path, forge, needle):
    """A record with plausible but wrong gradients (or a missing case) fails when judged outside: a pass rests
    on the gradients a correct central difference produces, compared with values computed outside."""
    from course_utils.checks import _core

    cases, run = _numgrad_runs(numgrad_ndindex)
    forge(run.runs)
    result = _core.judge("03.numerical_gradient", _over_the_wire(run, tmp_path), 0, cases=cases)
    assert not result.passed and needle in result.message, result.message
