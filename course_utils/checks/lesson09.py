"""Self-checks for lesson 09 (advanced fusion).

References are written here from the formulas in NumPy, in float64 (the same definitions as
:class:`course_utils.models.torch.TensorFusion`, ``LowRankFusion`` and ``GatedFusion``, which are not imported:
a check module only needs NumPy at import; ``tests/test_checks_09.py`` compares the two). Every property is
produced by the case generators for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test
is the same check with another seed. Predictable wrong answers are named by :class:`Mistake` detectors that
recompute the wrong variant from the case's own arguments. torch is imported only inside the cases of the two
PyTorch exercises (``09.gmu``, ``09.info_nce``).
"""
from __future__ import annotations

import numpy as np

from ._core import (Build, Case, Mistake, as_float_array, close_to_float32, compare, cotangent_gradients, describe,
                    fixed_cotangent, gradients_problem, register, register_builder, register_probe, tensor_values)
from ._losses import loss_probe, observed_loss_problem, observed_scalar


_arr = as_float_array
_matches = close_to_float32


# ----------------------------------------------------------------------------- NumPy references
def _with_one(h: np.ndarray, first: bool = False) -> np.ndarray:
    h = np.asarray(h, dtype=float)
    one = np.ones((h.shape[0], 1))
    return np.concatenate([one, h] if first else [h, one], axis=1)


def _tfn(hs, *, ones: bool = True, first: bool = False, reverse: bool = False) -> np.ndarray:
    """vec([h_1; 1] ⊗ [h_2; 1] ⊗ ...), row-major (the last modality's index varies fastest)."""
    hs = list(hs)[::-1] if reverse else list(hs)
    z = None
    for h in hs:
        e = _with_one(h, first) if ones else np.asarray(h, dtype=float)
        z = e if z is None else (z[:, :, None] * e[:, None, :]).reshape(e.shape[0], -1)
    return z


def _lmf(hs, factors, lam, bias, *, combine: str = "prod", use_lam: bool = True, use_bias: bool = True,
         ones: bool = True) -> np.ndarray:
    """sum_i lam_i prod_m ([h_m; 1] W_m^(i)) + b, factors W_m: (r, d_m + 1, f)."""
    out = None
    for h, W in zip(hs, factors):
        e = _with_one(h) if ones else np.asarray(h, dtype=float)
        W = np.asarray(W, dtype=float)
        f = np.einsum("bi,rio->rbo", e, W if ones else W[:, :-1])
        out = f if out is None else (out * f if combine == "prod" else out + f)
    lam = np.asarray(lam, dtype=float) if use_lam else np.ones(len(lam))
    res = np.einsum("r,rbo->bo", lam, out)
    return res + np.asarray(bias, dtype=float) if use_bias else res


# ----------------------------------------------------------------------------- 09.tfn_fuse
def _tfn_case(rng: np.random.Generator, widths: list[int], B: int, label: str) -> Case:
    hs = [rng.normal(size=(B, d)) for d in widths]
    return Case((hs,), expected=_tfn(hs), label=label, rtol=1e-5, atol=1e-7)


_TFN_MISTAKES = (
    Mistake("no ones", lambda got, e, c: _matches(got, _tfn(c.args[0], ones=False)),
            "the result is the outer product of the h_m themselves: append a 1 to every h_m first ([h_m; 1]), so "
            "that the unimodal and bimodal terms survive next to the product of all modalities."),
    Mistake("one first", lambda got, e, c: _matches(got, _tfn(c.args[0], first=True)),
            "the 1 was put in front ([1; h_m]); this exercise (and the package's TensorFusion) appends it at the "
            "end, [h_m; 1], so that the last entry of the result is the constant 1."),
    Mistake("reversed order", lambda got, e, c: _matches(got, _tfn(c.args[0], reverse=True)),
            "the modalities were multiplied in reverse order: the first modality's index must vary slowest "
            "(row-major flattening of the tensor [h_1;1] ⊗ [h_2;1] ⊗ ..., with modality 1 on the first axis)."),
    Mistake("batch mixed", lambda got, e, c: _arr(got) is not None and _arr(got).ndim >= 2
            and _arr(got).shape[0] == e.shape[0] and _arr(got).shape[1] == e.shape[0] and e.shape[0] > 1,
            "the result mixes examples of the batch (an outer product over the batch axis too): the outer product "
            "is taken separately for every example b, e.g. np.einsum('bi,bj->bij', ...)."),
    Mistake("not flattened", lambda got, e, c: _arr(got) is not None and _arr(got).ndim > 2
            and _arr(got).shape[0] == e.shape[0] and _matches(_arr(got).reshape(e.shape[0], -1), e),
            "the numbers are right but the tensor is not flattened: return shape (B, prod(d_m + 1)), e.g. "
            "z.reshape(B, -1)."),
)


@register("09.tfn_fuse", signature="tfn_fuse(hs) -> np.ndarray (B, prod(d_m + 1))", returns=np.ndarray,
          hint="For every example, append a 1 to each h_m, take the outer product of the M vectors and flatten "
               "it row-major; check the width: (d_1 + 1) (d_2 + 1) ...",
          recipe="Append a column of ones to every modality. Start from the first extended block; for each next "
                 "one, form the outer product of the running result and the new block separately for every row "
                 "of the batch (broadcast one with a trailing new axis against the other with a middle new axis), "
                 "then flatten each row's product back into a vector, row-major.",
          mistakes=_TFN_MISTAKES)
def _tfn_fuse(rng: np.random.Generator):
    yield Case(([np.array([[2.0], [-1.0]]), np.array([[3.0], [0.5]])],),
               expected=np.array([[6.0, 2.0, 3.0, 1.0], [-0.5, -1.0, 0.5, 1.0]]),
               label="two modalities of width 1, batch 2: [2;1] ⊗ [3;1] = [6, 2, 3, 1]")
    B = int(rng.integers(2, 6))
    widths = [int(v) for v in rng.integers(1, 5, size=3)]
    yield _tfn_case(rng, widths, B, f"three modalities of widths {widths}, batch {B}")
    yield _tfn_case(rng, [int(rng.integers(2, 6)), int(rng.integers(2, 6))], int(rng.integers(2, 5)),
                    "two modalities")
    yield _tfn_case(rng, [2, 3, 1, 2], 3, "four modalities of widths 2, 3, 1, 2")
    yield _tfn_case(rng, [int(rng.integers(2, 7))], 4, "a single modality: [h; 1]")


# ----------------------------------------------------------------------------- 09.lmf_fuse
def _lmf_args(c: Case):
    return c.args[0], c.args[1], c.args[2], c.args[3]


def _lmf_case(rng: np.random.Generator, widths: list[int], B: int, r: int, f: int, label: str) -> Case:
    hs = [rng.normal(size=(B, d)) for d in widths]
    factors = [rng.normal(scale=0.5, size=(r, d + 1, f)) for d in widths]
    lam = rng.uniform(0.2, 1.5, size=r)
    bias = rng.normal(size=f)
    return Case((hs, factors, lam, bias), expected=_lmf(hs, factors, lam, bias), label=label, rtol=1e-5, atol=1e-7)


_LMF_MISTAKES = (
    Mistake("sum over modalities", lambda got, e, c: _matches(got, _lmf(*_lmf_args(c), combine="sum")),
            "the modality projections were added; LMF multiplies them element-wise (prod over m of "
            "[h_m; 1] W_m^(i)): the product is what makes it equal to the tensor-fusion layer."),
    Mistake("no lambda", lambda got, e, c: _matches(got, _lmf(*_lmf_args(c), use_lam=False)),
            "the rank weights lambda_i are missing: the r rank-one terms are combined as sum_i lambda_i (...)."),
    Mistake("no bias", lambda got, e, c: _matches(got, _lmf(*_lmf_args(c), use_bias=False)),
            "the bias b is missing: add it once, after the weighted sum over the rank."),
    Mistake("no ones", lambda got, e, c: _matches(got, _lmf(*_lmf_args(c), ones=False)),
            "the 1 appended to each h_m is missing (only the first d_m rows of each factor were used): project "
            "[h_m; 1], whose last entry picks the factor's last row."),
    Mistake("rank axis kept", lambda got, e, c: _arr(got) is not None and _arr(got).ndim == 3
            and _arr(got).shape[0] == len(c.args[2]),
            "the rank axis is still there (shape (r, B, f)): combine the r terms with the weights lambda_i, "
            "summing over i."),
)


@register("09.lmf_fuse", signature="lmf_fuse(hs, factors, lam, bias) -> np.ndarray (B, f)", returns=np.ndarray,
          hint="For every rank i and modality m, project [h_m; 1] with W_m^(i); multiply the M projections "
               "element-wise; weight the r products by lambda_i and add them; add the bias.",
          recipe="Extend every modality with a column of ones, and project it with each of its r factors to get an "
                 "(r, B, f) array per modality; multiply these arrays element-wise across the modalities; weight "
                 "the r rank slices by lam, sum over the rank axis, and add the bias.",
          mistakes=_LMF_MISTAKES)
def _lmf_fuse(rng: np.random.Generator):
    hs = [np.array([[1.0]]), np.array([[2.0]])]
    factors = [np.ones((1, 2, 1)), np.ones((1, 2, 1))]
    yield Case((hs, factors, np.array([0.5]), np.array([1.0])), expected=np.array([[0.5 * 2.0 * 3.0 + 1.0]]),
               label="rank 1, widths 1 and 1, all-one factors: 0.5 (1+1)(2+1) + 1 = 4")
    B, r, f = int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
    widths = [int(v) for v in rng.integers(1, 5, size=3)]
    yield _lmf_case(rng, widths, B, r, f, f"three modalities of widths {widths}, rank {r}, output {f}")
    yield _lmf_case(rng, [3, 2], 4, 1, 3, "two modalities, rank 1")
    yield _lmf_case(rng, [int(rng.integers(2, 6)) for _ in range(4)], 3, 3, 2, "four modalities, rank 3")


# ----------------------------------------------------------------------------- 09.gmu (PyTorch)
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _gmu_ref(xs, Ws, bs, Wz, bz, *, gate: str = "sigmoid", tanh: bool = True, layout: str = "MH"):
    B = xs[0].shape[0]
    M, H = len(xs), Ws[0].shape[0]
    a = np.concatenate(xs, axis=1) @ Wz.T + bz
    if layout == "MH":
        a = a.reshape(B, M, H)
    else:
        a = a.reshape(B, H, M).transpose(0, 2, 1)
    if gate == "sigmoid":
        z = _sigmoid(a)
    else:  # softmax over the modalities
        a = a - a.max(axis=1, keepdims=True)
        z = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    hm = np.stack([x @ W.T + b for x, W, b in zip(xs, Ws, bs)], axis=1)
    if tanh:
        hm = np.tanh(hm)
    return (z * hm).sum(axis=1), z


def _linear(weight, bias):
    import torch

    weight, bias = np.asarray(weight), np.asarray(bias)
    layer = torch.nn.utils.skip_init(torch.nn.Linear, weight.shape[1], weight.shape[0])  # no draw from torch's RNG
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


@register_builder("09.linear")
def _build_linear(weight, bias):
    """An nn.Linear with the given weight (out, in) and bias (made where the answer runs)."""
    return _linear(weight, bias)


@register_builder("09.linears")
def _build_linears(weights, biases):
    """An nn.ModuleList of nn.Linear with the given weights and biases (made where the answer runs)."""
    import torch

    return torch.nn.ModuleList(_linear(w, b) for w, b in zip(weights, biases))


@register_probe("09.gmu")
def _gmu_observations(got, args, kwargs, *, cotangent) -> dict:
    """Observations of the pair ``(h, z)`` returned by ``gmu(xs, projections, gate)``, made where the answer
    ran: their values, whether h is attached to autograd, and the gradients of ``sum(h * cotangent)`` with
    respect to the weights and biases of every projection and of the gate (values; None where no gradient
    reaches). A result of the wrong kind is recorded as ``problem``, worded as the check words it."""
    import torch

    xs, projections, gate = args[:3]
    B, H = np.shape(cotangent)
    M = len(xs)
    obs: dict = {"problem": None}
    if not isinstance(got, tuple) or len(got) != 2:
        obs["problem"] = f"expected a tuple (h, z) of two torch tensors, got {type(got).__name__}: {describe(got)}"
        return obs
    h, z = got
    for name, t, shape in (("h", h, (B, H)), ("z", z, (B, M, H))):
        if not isinstance(t, torch.Tensor):
            obs["problem"] = (f"{name} must be a torch.Tensor of shape {shape}, got {type(t).__name__}: "
                              f"{describe(t)}; the model trains on this result, so keep it a tensor")
            return obs
    obs.update(h=tensor_values(h), z=tensor_values(z), requires_grad=bool(h.requires_grad), grads={},
               grad_problem=None)
    layers = [(f"projections[{i}]", p) for i, p in enumerate(projections)] + [("gate", gate)]
    names = [f"{n}.{part}" for n, _ in layers for part in ("weight", "bias")]
    if h.requires_grad and h.is_floating_point() and tuple(h.shape) == (B, H):
        obs["grads"], obs["grad_problem"] = cotangent_gradients(
            h, cotangent, lambda: list(zip(names, [getattr(layer, part) for _, layer in layers
                                                   for part in ("weight", "bias")])),
            "the values are right but backpropagating through h")
    return obs


def _gmu_grads(xs, Ws, bs, Wz, bz, cot) -> dict:
    """The gradients of ``sum(h * cot)`` with respect to the projections' and the gate's weights and biases,
    in float64."""
    B, M, H = xs[0].shape[0], len(xs), Ws[0].shape[0]
    C = np.asarray(cot, dtype=float)[:, None, :]
    cat = np.concatenate(xs, axis=1)
    z = _sigmoid((cat @ Wz.T + bz).reshape(B, M, H))
    hm = np.stack([np.tanh(x @ W.T + b) for x, W, b in zip(xs, Ws, bs)], axis=1)
    da = (C * hm * z * (1.0 - z)).reshape(B, M * H)
    dp = C * z * (1.0 - hm ** 2)
    grads: dict = {}
    for i, x in enumerate(xs):
        grads[f"projections[{i}].weight"] = dp[:, i].T @ x
        grads[f"projections[{i}].bias"] = dp[:, i].sum(axis=0)
    grads["gate.weight"] = da.T @ cat
    grads["gate.bias"] = da.sum(axis=0)
    return grads


def _gmu_case(rng: np.random.Generator, widths: list[int], H: int, B: int, label: str) -> Case:
    import torch

    torch.manual_seed(int(rng.integers(0, 2**31)))
    xs = [torch.from_numpy(rng.normal(size=(B, d)).astype(np.float32)) for d in widths]
    projections = torch.nn.ModuleList(torch.nn.Linear(d, H) for d in widths)
    gate = torch.nn.Linear(sum(widths), len(widths) * H)
    with torch.no_grad():   # larger gate weights: gates spread over (0, 1) instead of sitting near 0.5
        gate.weight.mul_(3.0)
    np32 = lambda t: t.detach().numpy().copy()  # noqa: E731
    np64 = lambda t: t.detach().double().numpy()  # noqa: E731
    args64 = ([np64(x) for x in xs], [np64(p.weight) for p in projections], [np64(p.bias) for p in projections],
              np64(gate.weight), np64(gate.bias))
    h_ref, z_ref = _gmu_ref(*args64)
    cot = fixed_cotangent((B, H))
    exp_grads = _gmu_grads(*args64, cot.astype(float))
    # the layers travel as plain data and are built where the answer runs; feedback shows them as before
    built_projections = Build("09.linears", {"weights": [np32(p.weight) for p in projections],
                                             "biases": [np32(p.bias) for p in projections]}, text=repr(projections))
    built_gate = Build("09.linear", {"weight": np32(gate.weight), "bias": np32(gate.bias)}, text=repr(gate))

    def validate(obs):
        """The verdict on the probe's observations (the same in a learner's kernel and in the grader)."""
        if obs.get("problem"):
            return obs["problem"]
        problem = compare(obs.get("z"), z_ref, 1e-4, 1e-5, where="z (the gates)")
        if problem:
            return problem
        problem = compare(obs.get("h"), h_ref, 1e-4, 1e-5, where="h (the fused vector)")
        if problem:
            return problem
        if obs.get("requires_grad") is not True:
            return ("the values are right but h is cut off from the graph (requires_grad is False): no gradient "
                    "could reach the layers' weights. Do not use torch.no_grad(), .detach() or NumPy inside the "
                    "function")
        if obs.get("grad_problem"):
            return obs["grad_problem"]
        return gradients_problem(obs.get("grads"), exp_grads, part="h", detached="the computation")

    validate.args64 = args64
    validate.h, validate.z = h_ref, z_ref
    return Case((xs, built_projections, built_gate), expected=validate, label=label,
                probe=("09.gmu", {"cotangent": cot}))


def _gmu_values(got):
    """(h, z) as float64 arrays from the observations, or None when the answer gave no such pair."""
    if not isinstance(got, dict) or got.get("problem") or got.get("h") is None or got.get("z") is None:
        return None
    h, z = _arr(got["h"]), _arr(got["z"])
    return None if h is None or z is None else (h, z)


def _gmu_variant(**kw):
    def detect(got, e, c):
        values = _gmu_values(got)
        if values is None:
            return False
        h, z = _gmu_ref(*e.args64, **kw)
        return _matches(values[1], z, 1e-4, 1e-5) and _matches(values[0], h, 1e-4, 1e-5)
    return detect


_GMU_MISTAKES = (
    Mistake("softmax gates", _gmu_variant(gate="softmax"),
            "the gates are a softmax over the modalities; the GMU uses an independent sigmoid for every modality "
            "and unit, z = sigmoid(W_z [x_1; ...; x_M] + b_z)."),
    Mistake("no tanh", _gmu_variant(tanh=False),
            "the modality vectors are used without their tanh: h_m = tanh(W_m x_m + b_m)."),
    Mistake("gate layout", _gmu_variant(layout="HM"),
            "the gate vector was split in the wrong order: its M * hidden values are M blocks of `hidden` "
            "(modality first): reshape to (B, M, hidden), not (B, hidden, M)."),
    Mistake("z without sigmoid", lambda got, e, c: _gmu_values(got) is not None
            and _gmu_values(got)[1].shape == e.z.shape and not _matches(_gmu_values(got)[1], e.z, 1e-4, 1e-5)
            and (_gmu_values(got)[1].min() < 0 or _gmu_values(got)[1].max() > 1),
            "some gate values are outside (0, 1): z must be the sigmoid of the gate layer's output."),
)


@register("09.gmu", signature="gmu(xs, projections, gate) -> (h (B, hidden), z (B, M, hidden))", time_limit=10.0,
          hint="Two paths: a tanh projection of each modality on its own, and sigmoid gates computed from all "
               "modalities together, one gate vector per modality: z has shape (B, M, hidden). The output "
               "weights each projected modality by its gates and sums over the modalities.",
          recipe="The gate reads ALL modalities at once: concatenate the inputs along the features, apply the gate "
                 "layer and a sigmoid, and view the result as one gate vector per modality (B, M, H). Each "
                 "modality gets its own projection followed by tanh; stack those as (B, M, H). The fused vector "
                 "is the gate-weighted sum over the modality axis; return it together with the gates.",
          mistakes=_GMU_MISTAKES)
def _gmu(rng: np.random.Generator):
    yield _gmu_case(rng, [3, 2], 4, 5, "two modalities of widths 3 and 2, hidden 4")
    widths = [int(v) for v in rng.integers(2, 7, size=3)]
    yield _gmu_case(rng, widths, int(rng.integers(2, 7)), int(rng.integers(2, 8)), f"three modalities {widths}")
    yield _gmu_case(rng, [1, 4, 2, 3], 3, 2, "four modalities, batch 2")


# ----------------------------------------------------------------------------- 09.info_nce (PyTorch)
def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _info_nce_ref(a, b, tau, *, normalize: bool = True, both: bool = True, times: bool = False) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = (a @ b.T) * tau if times else (a @ b.T) / tau
    rows = -np.mean(np.diag(_log_softmax(logits, 1)))
    cols = -np.mean(np.diag(_log_softmax(logits, 0)))
    return 0.5 * (rows + cols) if both else rows


def _nce_case(rng: np.random.Generator, B: int, d: int, tau: float, label: str, scale: float = 1.0,
              aligned: bool = False) -> Case:
    import torch

    a = rng.normal(size=(B, d)) * scale
    b = a + 0.5 * rng.normal(size=(B, d)) if aligned else rng.normal(size=(B, d)) * 2.0
    ta = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    a32, b32 = ta.detach().double().numpy(), tb.detach().double().numpy()
    expected = _info_nce_ref(a32, b32, tau)
    g_a, g_b = _info_nce_grads(a32, b32, tau)

    def validate(got):
        return observed_loss_problem(got, expected, 1e-4, 1e-5, reaches="the encoders",
                                     avoid="torch.no_grad(), .detach() or NumPy inside",
                                     grads=(("a", g_a), ("b", g_b)))

    validate.ab = (a32, b32, tau)
    validate.value = expected
    return Case((ta, tb, tau), expected=validate, label=label, probe=loss_probe(0, 1))


def _info_nce_grads(a: np.ndarray, b: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of the symmetric InfoNCE loss with respect to ``a`` and ``b``, in float64 (torch's
    autograd on the reference formula, outside the learner's code)."""
    import torch

    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    an, bn = ta / ta.norm(dim=1, keepdim=True), tb / tb.norm(dim=1, keepdim=True)
    logits = an @ bn.T / tau
    loss = 0.5 * (-torch.log_softmax(logits, 1).diagonal().mean() - torch.log_softmax(logits, 0).diagonal().mean())
    g_a, g_b = torch.autograd.grad(loss, (ta, tb))
    return g_a.numpy(), g_b.numpy()


def _nce_variant(**kw):
    def detect(got, e, c):
        v = observed_scalar(got)
        return v is not None and bool(np.isclose(float(v), _info_nce_ref(*e.ab, **kw), rtol=1e-4, atol=1e-5))
    return detect


_NCE_MISTAKES = (
    Mistake("not normalised", _nce_variant(normalize=False),
            "the embeddings were not L2-normalised: CLIP-style InfoNCE compares directions, logits = cosine "
            "similarity / temperature (divide each row by its norm first, e.g. F.normalize(a, dim=1))."),
    Mistake("one direction", _nce_variant(both=False),
            "only the a -> b direction (rows) is there: the symmetric loss averages the cross-entropy over the rows "
            "(a -> b) and over the columns (b -> a)."),
    Mistake("times temperature", _nce_variant(times=True),
            "the similarities were multiplied by the temperature: divide by it (a small temperature sharpens the "
            "softmax)."),
    Mistake("sum over batch", lambda got, e, c: observed_scalar(got) is not None and bool(
        np.isclose(float(observed_scalar(got)), e.value * len(e.ab[0]), rtol=1e-4)),
            "the loss is B times too large: average the cross-entropy over the batch (F.cross_entropy's default "
            "reduction='mean'), do not sum it."),
)


@register("09.info_nce", signature="info_nce(a, b, temperature) -> scalar torch.Tensor", time_limit=10.0,
          hint="Normalise the rows of a and b, logits = a_n @ b_n.T / temperature; the matching pairs are on the "
               "diagonal. Average the cross-entropy of the rows (a -> b) and of the columns (b -> a).",
          recipe="L2-normalise every row of both batches; the logits are all pairwise dot products divided by the "
                 "temperature, so row i's correct column is i. Take the mean cross-entropy of the rows against "
                 "those targets, the same for the columns (the transposed logits), and average the two.",
          mistakes=_NCE_MISTAKES)
def _info_nce(rng: np.random.Generator):
    yield _nce_case(rng, 4, 3, 1.0, "batch 4, width 3, temperature 1")
    yield _nce_case(rng, int(rng.integers(5, 12)), int(rng.integers(4, 16)), float(rng.choice([0.05, 0.07, 0.1])),
                    "random batch, a small temperature, rows of very different norms", scale=5.0)
    yield _nce_case(rng, int(rng.integers(6, 10)), 8, 0.1, "aligned pairs (b close to a): a low loss", aligned=True)


# ----------------------------------------------------------------------------- 09.recall_at_k
def _ranks(sim: np.ndarray) -> np.ndarray:
    """How many candidates score strictly higher than the correct one (column i for row i)."""
    sim = np.asarray(sim, dtype=float)
    return (sim > np.diag(sim)[:, None]).sum(axis=1)


def _recall(sim, k: int, *, transpose: bool = False, ascending: bool = False, off_by_one: bool = False,
            count: bool = False) -> float:
    s = np.asarray(sim, dtype=float)
    s = s.T if transpose else s
    s = -s if ascending else s
    hits = _ranks(s) <= k if off_by_one else _ranks(s) < k
    return float(hits.sum()) if count else float(hits.mean())


def _recall_case(sim: np.ndarray, k: int, label: str) -> Case:
    # a fraction of N <= 1000 queries: 1e-6 separates different answers and accepts float32 means (torch)
    return Case((sim, k), expected=_recall(sim, k), label=label, rtol=1e-6, atol=1e-6)


def _rec_mistake(**kw):
    def detect(got, e, c):
        wrong = _recall(c.args[0], c.args[1], **kw)
        return (_arr(got) is not None and _arr(got).shape == () and abs(float(_arr(got)) - wrong) < 1e-9
                and abs(wrong - float(e)) > 1e-9)
    return detect


_REC_MISTAKES = (
    Mistake("columns as queries", _rec_mistake(transpose=True),
            "this is the recall of the other direction: the queries are the ROWS of sim (row i's correct candidate "
            "is column i); rank the values of each row."),
    Mistake("lowest first", _rec_mistake(ascending=True),
            "the candidates were ranked from the lowest similarity up: the best match is the HIGHEST similarity "
            "(sort in descending order, e.g. np.argsort(-sim, axis=1))."),
    Mistake("a count", lambda got, e, c: _arr(got) is not None and _arr(got).shape == () and float(_arr(got)) > 1
            and _rec_mistake(count=True)(got, e, c),
            "the result is the number of hits: recall@k is a fraction, the hits divided by the number of "
            "queries."),
    Mistake("off by one", _rec_mistake(off_by_one=True),
            "k + 1 candidates were counted: with rank r = the number of candidates scoring strictly higher than "
            "the correct one, a hit is r < k (recall@1 counts only the queries whose correct candidate is first)."),
)


@register("09.recall_at_k", signature="recall_at_k(sim, k) -> float", returns=(float, np.floating),
          hint="For every row i, the correct candidate is column i; it is a hit when fewer than k candidates of "
               "that row score higher than sim[i, i]. Return the fraction of rows that are hits.",
          recipe="For each row, count the candidates that score strictly higher than the correct one (the diagonal "
                 "entry of that row); a query is a hit when fewer than k candidates beat it. Return the share of "
                 "hits as a Python float.",
          mistakes=_REC_MISTAKES)
def _recall_at_k(rng: np.random.Generator):
    sim = np.array([[0.9, 0.1, 0.3, 0.2], [0.8, 0.5, 0.2, 0.1], [0.1, 0.7, 0.4, 0.3], [0.2, 0.3, 0.1, 0.6]])
    yield _recall_case(sim, 1, "a 4 x 4 example, k = 1 (rows 0 and 3 are hits: 0.5)")
    yield _recall_case(sim, 2, "the same, k = 2")
    n = int(rng.integers(8, 30))
    noisy = rng.normal(size=(n, n)) + 1.5 * np.eye(n) * rng.uniform(0.0, 1.0, size=n)[:, None]
    k = int(rng.integers(2, 6))
    yield _recall_case(noisy, k, f"a random {n} x {n} similarity matrix, k = {k}")
    yield _recall_case(rng.normal(size=(n, n)) + 0.7 * np.eye(n), 1, f"a random {n} x {n} matrix, k = 1")
    m = int(rng.integers(4, 9))
    yield _recall_case(rng.normal(size=(m, m)), m, f"k = n = {m}: every query is a hit")
