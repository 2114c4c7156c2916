"""A two-layer perceptron in NumPy with backpropagation written by hand.

Introduced in lesson 03 (backprop and autograd), which derives every formula
here; later lessons import it as a reference ("what autograd computes for
you") and use :func:`gradient_check` to test hand-written gradients.

The network maps a batch ``X`` of shape ``(n, d_in)`` to class logits::

    z1 = X @ W1 + b1        (n, d_hidden)
    h  = act(z1)            ReLU, tanh or sigmoid
    s  = h @ W2 + b2        (n, n_classes)   logits
    L  = mean_i CE(softmax(s_i), y_i) + (l2 / 2) * (|W1|^2 + |W2|^2)      (an L2 penalty)

Weights are stored as ``(fan_in, fan_out)`` (the Keras ``Dense`` layout);
``torch.nn.Linear`` stores the transpose. Only NumPy is imported.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

__all__ = [
    "ACTIVATIONS", "init_mlp", "linear_forward", "linear_backward", "relu", "relu_backward",
    "sigmoid", "sigmoid_backward", "tanh_backward", "softmax", "log_softmax",
    "softmax_cross_entropy", "mlp_forward", "mlp_backward", "mlp_loss_and_grads", "mlp_predict",
    "sgd_step", "numerical_gradient", "relative_error", "gradient_check",
]

Params = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- layers
def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine layer ``x @ W + b`` for ``x`` of shape ``(n, d_in)`` and ``W`` of shape ``(d_in, d_out)`` (lesson 03)."""
    return x @ W + b


def linear_backward(dout: np.ndarray, x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dW, db)`` of an affine layer given ``dout = dL/d(x @ W + b)`` (lesson 03).

    ``dx = dout @ W.T``, ``dW = x.T @ dout``, ``db = dout.sum(axis=0)``.
    """
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def relu(z: np.ndarray) -> np.ndarray:
    """``max(z, 0)`` element-wise (lesson 03)."""
    return np.maximum(z, 0)


def relu_backward(dout: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``dL/dz`` of ReLU from ``dout = dL/d relu(z)``; the derivative at 0 is taken as 0 (lesson 03)."""
    return dout * (z > 0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large ``|z|`` (lesson 03)."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_backward(dout: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``dL/dz`` of the sigmoid, ``dout * sigma'(z)``, accurate for every ``z`` (lesson 03).

    ``sigma'(z) = sigma(z) * (1 - sigma(z)) = e / (1 + e)**2`` with ``e = exp(-|z|)``.
    The second form is used: it never overflows, it is symmetric
    (``sigma'(z) == sigma'(-z)`` exactly), and it keeps full relative accuracy
    in the tails, where ``1 - sigma(z)`` rounds to 0 for ``z > 37`` in float64.
    ``dout`` and ``z`` broadcast; the result has their common shape.
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return dout * (e / (1.0 + e) ** 2)


def tanh_backward(dout: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``dL/dz`` of tanh: ``dout * (1 - tanh(z)^2)`` (lesson 03)."""
    return dout * (1.0 - np.tanh(z) ** 2)


#: name -> (activation, backward(dout, z))
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "relu": (relu, relu_backward),
    "tanh": (np.tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
}


def _activation(name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None


# ----------------------------------------------------------------------------- softmax + cross-entropy
def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax with the log-sum-exp shift (no overflow) (lesson 03)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable (lesson 03)."""
    return np.exp(log_softmax(logits))


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer labels ``y`` under ``softmax(logits)`` and its gradient (lesson 03).

    Returns ``(loss, dlogits)`` with ``dlogits = (softmax(logits) - onehot(y)) / n``.
    """
    logits = np.asarray(logits)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    n = logits.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"got {n} rows of logits but {y.shape[0]} labels")
    logp = log_softmax(logits)
    loss = -float(logp[np.arange(n), y].mean())
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    return loss, dlogits / n


# ----------------------------------------------------------------------------- the network
def init_mlp(d_in: int, d_hidden: int, d_out: int, rng: np.random.Generator | int | None = 0,
             scheme: str = "he", dtype=np.float64) -> Params:
    """Random weights for the two-layer MLP, zero biases (lesson 03).

    ``scheme``: ``"he"`` (normal, std ``sqrt(2/fan_in)``, for ReLU), ``"xavier"``
    (normal, std ``sqrt(2/(fan_in+fan_out))``, for tanh/sigmoid), or a float used
    as a fixed standard deviation.
    """
    rng = np.random.default_rng(rng)

    def std(fan_in: int, fan_out: int) -> float:
        if scheme == "he":
            return float(np.sqrt(2.0 / fan_in))
        if scheme == "xavier":
            return float(np.sqrt(2.0 / (fan_in + fan_out)))
        if isinstance(scheme, (int, float)) and not isinstance(scheme, bool):
            return float(scheme)
        raise ValueError(f"scheme must be 'he', 'xavier' or a number, got {scheme!r}")

    return {
        "W1": (rng.normal(size=(d_in, d_hidden)) * std(d_in, d_hidden)).astype(dtype),
        "b1": np.zeros(d_hidden, dtype=dtype),
        "W2": (rng.normal(size=(d_hidden, d_out)) * std(d_hidden, d_out)).astype(dtype),
        "b2": np.zeros(d_out, dtype=dtype),
    }


def mlp_forward(params: Mapping[str, np.ndarray], X: np.ndarray, activation: str = "relu"
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Logits of the two-layer MLP and the cache the backward pass needs (lesson 03)."""
    act, _ = _activation(activation)
    z1 = linear_forward(X, params["W1"], params["b1"])
    h = act(z1)
    logits = linear_forward(h, params["W2"], params["b2"])
    return logits, {"X": X, "z1": z1, "h": h}


def mlp_backward(params: Mapping[str, np.ndarray], cache: Mapping[str, np.ndarray], dlogits: np.ndarray,
                 activation: str = "relu", l2: float = 0.0) -> Params:
    """Gradients of the loss w.r.t. ``W1, b1, W2, b2`` from ``dlogits = dL/dlogits`` (lesson 03).

    ``l2`` adds the gradient ``l2 * W`` of the L2 penalty ``(l2 / 2) * |W|^2`` to both weight
    matrices (not the biases). With plain SGD this is "weight decay"; with Adam it is not (lesson 02).
    """
    _, act_backward = _activation(activation)
    dh, dW2, db2 = linear_backward(dlogits, cache["h"], params["W2"])
    dz1 = act_backward(dh, cache["z1"])
    _, dW1, db1 = linear_backward(dz1, cache["X"], params["W1"])
    if l2:
        dW1 = dW1 + l2 * params["W1"]
        dW2 = dW2 + l2 * params["W2"]
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def mlp_loss_and_grads(params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                       activation: str = "relu", l2: float = 0.0) -> tuple[float, Params]:
    """Mean softmax cross-entropy (+ L2 penalty) and its gradients: one forward + backward pass (lesson 03)."""
    logits, cache = mlp_forward(params, X, activation)
    loss, dlogits = softmax_cross_entropy(logits, y)
    if l2:
        loss += 0.5 * l2 * float(np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return loss, mlp_backward(params, cache, dlogits, activation, l2)


def mlp_predict(params: Mapping[str, np.ndarray], X: np.ndarray, activation: str = "relu") -> np.ndarray:
    """Predicted class index per row (lesson 03)."""
    return mlp_forward(params, X, activation)[0].argmax(axis=1)


def sgd_step(params: Params, grads: Mapping[str, np.ndarray], lr: float) -> Params:
    """One plain gradient-descent step, in place; returns ``params`` (lesson 03)."""
    for name, g in grads.items():
        params[name] -= lr * g
    return params


# ----------------------------------------------------------------------------- gradient checking
def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of the gradient of scalar ``f`` at ``x`` (lesson 03).

    ``g_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``; the error is
    ``O(eps^2)`` plus rounding ``O(machine_eps / eps)``, so use float64 and
    ``eps`` near ``1e-6``. ``x`` is perturbed in place (so that ``f`` may close
    over it) and restored exactly.
    """
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        raise TypeError(f"numerical_gradient needs a floating-point array, got dtype {np.asarray(x).dtype}")
    grad = np.zeros(x.shape, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i].copy()
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-12) -> float:
    """Norm-wise relative error ``|a - b| / max(|a| + |b|, floor)`` (Euclidean norms) (lesson 03).

    Scale-free: about ``1e-7`` or less for a correct float64 gradient check,
    ``1e-2`` or more for a bug. Using norms of whole arrays (not entry by
    entry) keeps entries whose true gradient is 0 (dead ReLUs) from reporting
    a huge relative error made of rounding noise.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


def gradient_check(loss_fn: Callable[[], float], params: Mapping[str, np.ndarray],
                   grads: Mapping[str, np.ndarray], eps: float = 1e-6) -> dict[str, float]:
    """Compare analytic ``grads`` with central differences of ``loss_fn()`` (lesson 03).

    ``loss_fn`` takes no argument and reads ``params`` (whose arrays are
    perturbed in place and restored). Returns ``{name: relative_error}``.

    >>> params = init_mlp(3, 4, 2, rng=0)
    >>> X, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 1])
    >>> _, grads = mlp_loss_and_grads(params, X, y, activation="tanh")
    >>> errs = gradient_check(lambda: mlp_loss_and_grads(params, X, y, activation="tanh")[0], params, grads)
    >>> max(errs.values()) < 1e-6
    True
    """
    errors = {}
    for name, g in grads.items():
        num = numerical_gradient(lambda _x: loss_fn(), params[name], eps)
        errors[name] = relative_error(g, num)
    return errors
