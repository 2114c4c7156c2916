"""Gradient-descent optimizers and learning-rate schedules in plain NumPy (lesson 02).

Introduced in lesson 02 (gradient descent), where every update rule is derived
and checked step for step against ``torch.optim`` and ``keras.optimizers``.
Later lessons use these to train small NumPy models (lesson 03) and to draw
optimizer trajectories; the surfaces :func:`quadratic` and :func:`rosenbrock`
are the lesson's 2-D test problems.

Two families of conventions exist and both are implemented exactly
(``convention="torch"`` or ``"keras"``):

=============  ==========================================  ==========================================
optimizer      PyTorch (``torch.optim``)                    Keras 3 (``keras.optimizers``)
=============  ==========================================  ==========================================
momentum       ``b = mu b + g;  p -= lr b``                 ``m = mu m - lr g;  p += m``
Nesterov       ``b = mu b + g;  p -= lr (g + mu b)``        ``m = mu m - lr g;  p += mu m - lr g``
RMSprop        ``p -= lr g / (sqrt(s) + eps)``              ``p -= lr g / sqrt(s + eps)``
Adam           ``p -= lr m_hat / (sqrt(v_hat) + eps)``      ``p -= lr_t m / (sqrt(v) + eps)`` ("epsilon hat")
weight_decay   L2: ``g += wd p`` (AdamW: decoupled)         always decoupled: ``p -= lr wd p`` first
defaults       RMSprop rho=0.99, eps=1e-8; Adam eps=1e-8    RMSprop rho=0.9, eps=1e-7; Adam eps=1e-7
=============  ==========================================  ==========================================

with ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)``. With a constant learning
rate the two momentum forms produce identical parameters (``m = -lr b``); they
differ once the learning rate changes during training.

Only NumPy is imported here.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

Schedule = Callable[[int], float]

__all__ = [
    "sgd_step", "momentum_step", "rmsprop_step", "adam_step", "adamw_step",
    "Optimizer", "SGD", "RMSprop", "Adam", "AdamW",
    "constant_lr", "step_lr", "cosine_lr", "warmup_cosine_lr", "warmup_cosine",
    "quadratic", "quadratic_grad", "rosenbrock", "rosenbrock_grad", "run_trajectory",
    "train_steps_torch",
]

_CONVENTIONS = ("torch", "keras")


def _check_convention(convention: str) -> None:
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")


# ----------------------------------------------------------------------------- single steps
def sgd_step(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """Plain gradient descent ``p - lr g`` (lesson 02)."""
    return p - lr * g


def momentum_step(p: np.ndarray, g: np.ndarray, buf: np.ndarray, lr: float, momentum: float = 0.9,
                  nesterov: bool = False, convention: str = "torch") -> tuple[np.ndarray, np.ndarray]:
    """One SGD-with-momentum step; returns ``(new_p, new_buf)`` (lesson 02).

    ``buf`` starts at zeros. torch: ``buf = mu buf + g``, ``p -= lr buf``
    (Nesterov: ``p -= lr (g + mu buf)``). Keras: ``buf = mu buf - lr g``,
    ``p += buf`` (Nesterov: ``p += mu buf - lr g``).
    """
    _check_convention(convention)
    if convention == "torch":
        buf = momentum * buf + g
        return p - lr * (g + momentum * buf if nesterov else buf), buf
    buf = momentum * buf - lr * g
    return p + (momentum * buf - lr * g if nesterov else buf), buf


def rmsprop_step(p: np.ndarray, g: np.ndarray, sq: np.ndarray, lr: float, rho: float = 0.99,
                 eps: float = 1e-8, convention: str = "torch") -> tuple[np.ndarray, np.ndarray]:
    """One RMSprop step; returns ``(new_p, new_sq)`` (lesson 02).

    ``sq = rho sq + (1 - rho) g**2``; torch divides by ``sqrt(sq) + eps``,
    Keras by ``sqrt(sq + eps)``. (torch calls ``rho`` *alpha*.)
    """
    _check_convention(convention)
    sq = rho * sq + (1.0 - rho) * g * g
    denom = np.sqrt(sq) + eps if convention == "torch" else np.sqrt(sq + eps)
    return p - lr * g / denom, sq


def adam_step(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float = 1e-3,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, convention: str = "torch",
              bias_correction: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step at step number ``t`` (1 for the first step); returns ``(p, m, v)`` (lesson 02).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``, then torch:
    ``p -= lr m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1**t)``,
    ``v_hat = v / (1 - b2**t)``; Keras folds the corrections into the step size
    and adds ``eps`` to ``sqrt(v)`` (not ``sqrt(v_hat)``). ``bias_correction=False``
    gives the uncorrected update ``p -= lr m / (sqrt(v) + eps)`` (lesson 02 shows why not).
    """
    _check_convention(convention)
    if t < 1:
        raise ValueError(f"Adam's step counter t starts at 1, got {t}")
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * g * g
    if not bias_correction:
        return p - lr * m / (np.sqrt(v) + eps), m, v
    if convention == "torch":
        m_hat = m / (1.0 - beta1 ** t)
        v_hat = v / (1.0 - beta2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    lr_t = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    return p - lr_t * m / (np.sqrt(v) + eps), m, v


def adamw_step(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float = 1e-3,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 1e-2,
               convention: str = "torch") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One AdamW step: decoupled weight decay ``p *= 1 - lr wd``, then Adam (lesson 02)."""
    p = p * (1.0 - lr * weight_decay)
    return adam_step(p, g, m, v, t, lr, beta1, beta2, eps, convention=convention)


# ----------------------------------------------------------------------------- stateful optimizers
class Optimizer:
    """Base class: keeps per-parameter state and updates arrays **in place** (lesson 02).

    ``lr`` is a number or a schedule ``lr(step) -> float`` called with the number
    of steps already taken (0 for the first step), like a Keras
    ``LearningRateSchedule`` or a torch scheduler stepped once per iteration.
    """

    def __init__(self, lr: float | Schedule, convention: str = "torch"):
        _check_convention(convention)
        self.lr = lr
        self.convention = convention
        self.iterations = 0
        self.state: dict[int, dict[str, np.ndarray]] = {}

    def current_lr(self) -> float:
        """The learning rate the next step will use."""
        return float(self.lr(self.iterations)) if callable(self.lr) else float(self.lr)

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update every array in ``params`` in place from the matching gradient."""
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} parameters but {len(grads)} gradients")
        lr = self.current_lr()
        self.iterations += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"gradient {i} has shape {g.shape}, parameter has {p.shape}")
            state = self.state.setdefault(i, {})
            p[...] = self._update(p, g, lr, state)

    def _update(self, p: np.ndarray, g: np.ndarray, lr: float, state: dict) -> np.ndarray:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum and weight decay (lesson 02).

    ``weight_decay`` follows the framework: torch adds ``wd p`` to the gradient
    (L2), Keras shrinks ``p -= lr wd p`` before the step (decoupled).
    """

    def __init__(self, lr: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, convention: str = "torch"):
        super().__init__(lr, convention)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, p, g, lr, state):
        if self.weight_decay:
            if self.convention == "torch":
                g = g + self.weight_decay * p
            else:
                p = p - lr * self.weight_decay * p
        if not self.momentum:
            return sgd_step(p, g, lr)
        buf = state.get("buf", np.zeros_like(p))
        p, state["buf"] = momentum_step(p, g, buf, lr, self.momentum, self.nesterov, self.convention)
        return p


class RMSprop(Optimizer):
    """RMSprop (lesson 02). ``rho``/``eps`` default to the chosen framework's defaults."""

    def __init__(self, lr: float | Schedule = 0.001, rho: float | None = None, eps: float | None = None,
                 convention: str = "torch"):
        super().__init__(lr, convention)
        torch_like = convention == "torch"
        self.rho = (0.99 if torch_like else 0.9) if rho is None else rho
        self.eps = (1e-8 if torch_like else 1e-7) if eps is None else eps

    def _update(self, p, g, lr, state):
        sq = state.get("sq", np.zeros_like(p))
        p, state["sq"] = rmsprop_step(p, g, sq, lr, self.rho, self.eps, self.convention)
        return p


class Adam(Optimizer):
    """Adam (lesson 02). ``eps`` defaults to the framework's (torch 1e-8, Keras 1e-7).

    ``weight_decay`` follows the framework: torch's Adam adds ``wd p`` to the
    gradient (L2 regularization, *not* AdamW); Keras's Adam decays ``p`` decoupled,
    like AdamW.
    """

    decoupled = False

    def __init__(self, lr: float | Schedule = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float | None = None, weight_decay: float = 0.0, bias_correction: bool = True,
                 convention: str = "torch"):
        super().__init__(lr, convention)
        self.beta1, self.beta2, self.weight_decay = beta1, beta2, weight_decay
        self.eps = (1e-8 if convention == "torch" else 1e-7) if eps is None else eps
        self.bias_correction = bias_correction

    def _update(self, p, g, lr, state):
        if self.weight_decay:
            if self.decoupled or self.convention == "keras":
                p = p * (1.0 - lr * self.weight_decay)
            else:
                g = g + self.weight_decay * p
        m = state.get("m", np.zeros_like(p))
        v = state.get("v", np.zeros_like(p))
        p, state["m"], state["v"] = adam_step(p, g, m, v, self.iterations, lr, self.beta1, self.beta2,
                                              self.eps, self.convention, self.bias_correction)
        return p


class AdamW(Adam):
    """Adam with decoupled weight decay (lesson 02); torch's default ``weight_decay=0.01``.

    (Keras's ``AdamW`` defaults to ``weight_decay=0.004``: pass it explicitly when comparing.)
    """

    decoupled = True

    def __init__(self, lr: float | Schedule = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float | None = None, weight_decay: float = 0.01, convention: str = "torch"):
        super().__init__(lr, beta1, beta2, eps, weight_decay, True, convention)


# ----------------------------------------------------------------------------- schedules
def constant_lr(lr: float) -> Schedule:
    """A schedule that always returns ``lr`` (lesson 02)."""
    return lambda step: float(lr)


def step_lr(lr0: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Step decay ``lr0 * gamma ** (step // step_size)`` (lesson 02).

    Same as ``torch.optim.lr_scheduler.StepLR`` and Keras's
    ``ExponentialDecay(lr0, step_size, gamma, staircase=True)``.
    """
    if step_size < 1:
        raise ValueError(f"step_size must be >= 1, got {step_size}")
    return lambda step: float(lr0 * gamma ** (step // step_size))


def cosine_lr(lr0: float, total_steps: int, lr_min: float = 0.0) -> Schedule:
    """Cosine decay from ``lr0`` to ``lr_min`` over ``total_steps``, then ``lr_min`` (lesson 02).

    ``lr_min + (lr0 - lr_min) (1 + cos(pi step / total_steps)) / 2``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")

    def schedule(step: int) -> float:
        s = min(step, total_steps)
        return float(lr_min + 0.5 * (lr0 - lr_min) * (1.0 + math.cos(math.pi * s / total_steps)))

    return schedule


def warmup_cosine_lr(lr0: float, warmup_steps: int, total_steps: int, lr_min: float = 0.0,
                     start_lr: float = 0.0) -> Schedule:
    """Linear warm-up from ``start_lr`` to ``lr0`` over ``warmup_steps``, then cosine decay (lesson 02).

    Steps ``0 .. warmup_steps - 1``: ``start_lr + (lr0 - start_lr) step / warmup_steps``;
    from ``warmup_steps`` to ``total_steps``: :func:`cosine_lr` over the remaining
    ``total_steps - warmup_steps`` steps; afterwards ``lr_min``. Matches Keras's
    ``CosineDecay(start_lr, total_steps - warmup_steps, alpha=lr_min / lr0,
    warmup_target=lr0, warmup_steps=warmup_steps)``.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
    decay = cosine_lr(lr0, total_steps - warmup_steps, lr_min)

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return float(start_lr + (lr0 - start_lr) * step / warmup_steps)
        return decay(step - warmup_steps)

    return schedule


def warmup_cosine(step: int, lr0: float, warmup_steps: int, total_steps: int, lr_min: float = 0.0) -> float:
    """The learning rate of :func:`warmup_cosine_lr` (warm-up from 0) at ``step`` (0 for the first step) (lesson 02).

    The reference for lesson 02's exercise ``02.warmup_cosine``; raises ``ValueError``
    unless ``0 <= warmup_steps < total_steps``.
    """
    return warmup_cosine_lr(lr0, warmup_steps, total_steps, lr_min)(step)


# ----------------------------------------------------------------------------- 2-D test surfaces
def quadratic(xy, a: float = 1.0, b: float = 20.0) -> np.ndarray:
    """Ill-conditioned bowl ``(a x**2 + b y**2) / 2``; condition number ``b / a`` (lesson 02).

    Accepts a point ``(2,)`` or arrays stacked on the first axis (for contour grids).
    """
    x, y = xy[0], xy[1]
    return 0.5 * (a * np.square(x) + b * np.square(y))


def quadratic_grad(xy, a: float = 1.0, b: float = 20.0) -> np.ndarray:
    """Gradient ``(a x, b y)`` of :func:`quadratic` (lesson 02)."""
    return np.array([a * xy[0], b * xy[1]], dtype=float)


def rosenbrock(xy, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """Rosenbrock's banana ``(a - x)**2 + b (y - x**2)**2``, minimum 0 at ``(a, a**2)`` (lesson 02)."""
    x, y = xy[0], xy[1]
    return np.square(a - x) + b * np.square(y - np.square(x))


def rosenbrock_grad(xy, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """Gradient of :func:`rosenbrock` (lesson 02)."""
    x, y = float(xy[0]), float(xy[1])
    return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])


def run_trajectory(grad: Callable[[np.ndarray], np.ndarray], x0: Sequence[float], optimizer: Optimizer,
                   steps: int) -> np.ndarray:
    """Run ``optimizer`` from ``x0`` for ``steps`` steps; return the path ``(steps + 1, dim)`` (lesson 02).

    Stops early (keeping the path so far) if the iterate stops being finite.
    """
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    for _ in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run just ends the path
            optimizer.step([x], [grad(x)])
        if not np.all(np.isfinite(x)):
            break
        path.append(x.copy())
    return np.array(path)


# ----------------------------------------------------------------------------- a framework training loop
def train_steps_torch(model, optimizer, X, y, batches) -> list[float]:
    """One ``torch.optim`` step per index array in ``batches``; returns the losses (lesson 02).

    ``model`` maps ``X[idx]`` (shape ``(b, d)``) to logits of shape ``(b, 1)``; the loss is
    the mean binary cross-entropy of those logits against the 0/1 targets ``y[idx]``
    (shape ``(b,)``). Each returned float is the loss computed *before* that step's
    update. The reference for lesson 02's exercise ``02.train_steps``. torch is not
    imported by this module; it is imported here only when the function is called.
    """
    import torch.nn.functional as F

    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X[idx]).reshape(-1), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses
