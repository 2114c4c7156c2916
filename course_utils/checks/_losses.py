"""Observations of a PyTorch loss returned by an answer, and their verdict (lessons 09-11, grader).

The loss exercises (``09.info_nce``, ``10.multitask_loss``, ``11.distill_loss``) return a scalar tensor whose value AND gradients
matter. Their cases carry the probe ``"torch.loss"``: :func:`course_utils.checks._core.tensor_observations` (value,
dtype, shape, ``requires_grad``, ``grad_fn`` and the gradients with respect to the arguments named in ``wrt``) plus
the two things the feedback and the lessons' mistake detectors read off a result that is not a tensor: its text
(``describe``) and its number when it is one. The verdict, :func:`observed_loss_problem`, checks the type, shape,
value and attachment to autograd, and then compares the gradients with the hand-derived ones, computed outside by the case generator: a value with
``requires_grad=True`` alone (a fresh leaf tensor, a detached branch) no longer passes.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._core import as_float_array, compare, describe, register_probe, tensor_observations


@register_probe("torch.loss")
def loss_observations(got: Any, args: tuple, kwargs: dict, wrt: Sequence = ()) -> dict:
    """``tensor_observations`` of ``got`` (gradients with respect to ``wrt``), plus ``text`` (``describe(got)``,
    for a result that is not a tensor) and ``scalar`` (its value as a float when it is one number, else None)."""
    try:
        obs = tensor_observations(got, args, kwargs, wrt=wrt)
    except Exception as exc:  # noqa: BLE001 - e.g. the answer already ran backward() and freed the graph
        obs = tensor_observations(got, args, kwargs)
        obs["grads"] = [None] * len(wrt)
        obs["grad_problem"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if "shape" not in obs:
        obs["text"] = describe(got)
    try:
        a = as_float_array(got)
    except Exception:  # noqa: BLE001 - the learner's object: no number
        a = None
    obs["scalar"] = float(a) if a is not None and a.shape == () else None
    return obs


def loss_probe(*wrt) -> tuple:
    """``Case(probe=...)`` for a loss whose gradients with respect to the arguments ``wrt`` are judged."""
    return ("torch.loss", {"wrt": tuple(wrt)})


def observed_scalar(obs: Any) -> np.ndarray | None:
    """The observed result as a 0-d float array when it is one number (a 0-d tensor, a float), else None: what
    ``as_float_array(got)`` gave the mistake detectors before the probe."""
    if type(obs) is not dict:
        return None
    if "shape" in obs:
        if tuple(obs["shape"]) != () or np.iscomplexobj(obs.get("value")):
            return None
        try:
            return np.asarray(obs["value"], dtype=float)
        except (TypeError, ValueError):
            return None
    v = obs.get("scalar")
    return None if v is None else np.asarray(float(v))


def observed_loss_problem(obs: dict, expected: float, rtol: float, atol: float, *, reaches: str, avoid: str,
                          grads: Sequence = ()) -> str | None:
    """What is wrong with the observations of :func:`loss_observations` (type, shape, value within
    ``rtol``/``atol``, attachment to autograd), then the gradients: ``grads`` holds ``(name, want)`` per argument of ``wrt``, in order,
    ``want`` the hand-derived gradient of the loss with respect to it (an all-zero ``want`` also accepts "no
    gradient")."""
    if "shape" not in obs:
        return (f"expected a scalar torch.Tensor (the loss to call .backward() on), got {obs['type']}: "
                f"{obs.get('text', obs.get('repr', ''))}")
    if len(obs["shape"]) != 0:
        return f"expected a scalar (0-dimensional) tensor, got shape {tuple(obs['shape'])}: average over the batch"
    problem = compare(float(np.asarray(obs["value"])), expected, rtol, atol)
    if problem:
        return problem
    if not obs["requires_grad"]:
        return (f"the value is right but the loss is cut off from the graph (requires_grad is False): no gradient "
                f"could reach {reaches}. Do not use {avoid}")
    if not obs["grad_fn"]:
        return (f"the value is right but the loss was not computed from the inputs (a new tensor with "
                f"requires_grad=True has no grad_fn): no gradient could reach {reaches}. Do not use {avoid}")
    if obs.get("grad_problem"):
        return (f"the value is right but autograd could not differentiate the returned loss "
                f"({obs['grad_problem']}): return the loss itself, without calling .backward() on it (the "
                "training loop does that).")
    found = list(obs.get("grads") or [])
    for k, (name, want) in enumerate(grads):
        want = np.asarray(want, dtype=float)
        g = found[k] if k < len(found) else None
        if g is None:
            if not want.any():
                continue
            return (f"the value is right but no gradient reaches {name}: part of the loss was computed outside "
                    "autograd (torch.no_grad(), .detach(), .item(), NumPy) or from a copy.")
        g = np.asarray(g, dtype=float)
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        if g.shape != want.shape or not np.allclose(g, want, rtol=1e-4, atol=1e-6 * scale):
            diff = float(np.max(np.abs(g - want))) if g.shape == want.shape else float("nan")
            return (f"the value is right but autograd's gradient with respect to {name} differs from the "
                    f"hand-derived one by up to {diff:.3g}: is a part of the computation detached, or a "
                    "non-differentiable shortcut used?")
    return None
