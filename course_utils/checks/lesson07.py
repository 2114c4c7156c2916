"""Self-checks for lesson 07 (attention).

References are written here from the formulas, in NumPy float64: ``softmax(Q K^T / sqrt(d_k) + mask) V``,
the additive mask, the head split and a multi-head cross-attention layer. NumPy only at import; torch is
imported only inside the cases of the PyTorch exercise (``07.cross_attention``). Every property is produced by
the case generators for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test is the same
check with another seed. Predictable wrong answers are named by :class:`Mistake` detectors that recompute the
wrong variant from the case's own arguments.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._core import (_to_numpy_if_tensor, Case, Mistake, as_float_array, close_to, compare, cotangent_gradients,
                    describe, fixed_cotangent, gradients_problem, register, register_probe, tensor_values)

NEG = -1e9      # the additive mask value the lesson uses (finite: a fully masked row gives no NaN)


_arr = as_float_array


def _matches(got: Any, value: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    return close_to(got, value, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- NumPy references
def _softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def _attention(Q, K, V, mask=None, *, scale: str = "sqrt", axis: int = -1, invert: bool = False):
    """softmax(Q K^T / sqrt(d_k)) V; the keyword arguments produce the predictable wrong variants."""
    Q, K, V = (np.asarray(a, dtype=float) for a in (Q, K, V))
    d = Q.shape[-1]
    div = {"sqrt": np.sqrt(d), "none": 1.0, "d": float(d), "sqrt_dv": np.sqrt(V.shape[-1])}[scale]
    s = Q @ np.swapaxes(K, -1, -2) / div
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        s = np.where(~m if invert else m, s, NEG)
    w = _softmax(s, axis=axis)
    return w @ V, w


def _additive(key_mask, causal=False, *, invert=False, flip=False, strict=False):
    m = np.asarray(key_mask, dtype=bool)
    if invert:
        m = ~m
    B, T = m.shape
    allowed = m[:, None, :]
    if causal:
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        tri = (j >= i) if flip else (j < i) if strict else (j <= i)
        allowed = allowed & tri[None]
    return np.where(allowed, 0.0, NEG)


def _split(x, heads, *, order="heads-first", transpose=True):
    x = np.asarray(_to_numpy_if_tensor(x), dtype=float)
    B, T, E = x.shape
    dh = E // heads
    if order == "heads-first":
        y = x.reshape(B, T, heads, dh)
    else:                      # interleaved: head h takes columns h, h + heads, ...
        y = x.reshape(B, T, dh, heads).swapaxes(-1, -2)
    return y.transpose(0, 2, 1, 3) if transpose else y


# ----------------------------------------------------------------------------- 07.attention
def _att_args(c: Case):
    Q, K, V = c.args[:3]
    mask = c.args[3] if len(c.args) > 3 else c.kwargs.get("mask")
    return Q, K, V, mask


def _att_variant(**kw):
    def detect(got, e, c):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return False
        out, w = _attention(*_att_args(c), **kw)
        return _matches(got[0], out) and _matches(got[1], w) and not np.allclose(w, e[1])
    return detect


_ATT_MISTAKES = (
    Mistake("no scaling", _att_variant(scale="none"),
            "the scores are not scaled: divide Q K^T by sqrt(d_k), where d_k = Q.shape[-1] (§2 says why)."),
    Mistake("divided by d_k", _att_variant(scale="d"),
            "the scores are divided by d_k; the scale is 1/sqrt(d_k)."),
    Mistake("scaled by the value width", _att_variant(scale="sqrt_dv"),
            "the scores are divided by the square root of the VALUES' width (V.shape[-1]); the scale comes from "
            "the width of the queries and keys, d_k = Q.shape[-1] (§2: the variance of q·k grows with d_k)."),
    Mistake("softmax over queries", _att_variant(axis=-2),
            "the softmax runs over the wrong axis: each query's weights over the keys must sum to 1, i.e. "
            "normalise along the last axis of the (..., Tq, Tk) score matrix."),
    Mistake("mask inverted", lambda got, e, c: _att_args(c)[3] is not None and _att_variant(invert=True)(got, e, c),
            "the mask is inverted: True means 'may attend' (a real key), False means 'ignore' (padding, the "
            "future). Keep the scores where the mask is True."),
    Mistake("mask ignored", lambda got, e, c: _att_args(c)[3] is not None
            and not np.asarray(_att_args(c)[3]).all() and _att_variant()(
                got, e, Case(c.args[:3], {}, e, c.label)),
            "the mask has no effect: positions where the mask is False must get weight 0 (set their scores to a "
            "large negative number, or -inf, before the softmax)."),
    Mistake("swapped outputs", lambda got, e, c: isinstance(got, (tuple, list)) and len(got) == 2
            and _matches(got[0], e[1]) and _matches(got[1], e[0]),
            "the two results are swapped: return (output, weights), in that order."),
)


def _att_case(rng, lead, Tq, Tk, dk, dv, label, mask=None, scale=1.0, **kw):
    Q = rng.normal(size=(*lead, Tq, dk)) * scale
    K = rng.normal(size=(*lead, Tk, dk)) * scale
    V = rng.normal(size=(*lead, Tk, dv))
    args = (Q, K, V) if mask is None else (Q, K, V, mask)
    # float32 answers are correct too: their scores carry a relative rounding of ~1e-7 of |score|
    tol = 1e-5 if scale == 1.0 else 1e-3
    return Case(args, expected=_attention(*args), rtol=tol, atol=tol, label=label, **kw)


@register("07.attention", signature="attention(Q, K, V, mask=None) -> (output, weights)", returns=(tuple, list),
          hint="weights = softmax over the keys of (Q K^T / sqrt(d_k)), with the masked scores removed first; "
               "output = weights V. Work on the last two axes so that any leading (batch, head) axes ride along.",
          recipe="Multiply Q by K with K's last two axes swapped (np.swapaxes) to get the (..., Tq, Tk) scores and "
                 "divide them by the square root of the key width; replace the scores where the mask is False by "
                 "-1e9 (np.where); take a softmax along the last axis, made stable by subtracting each row's "
                 "maximum before exponentiating; the output is the weights times V. Return both, output first.",
          mistakes=_ATT_MISTAKES)
def _attention_cases(rng: np.random.Generator):
    yield _att_case(rng, (), 3, 4, 2, 3, "one sequence: 3 queries, 4 keys, d_k=2, no mask")
    B = int(rng.integers(2, 4))
    yield _att_case(rng, (B,), int(rng.integers(2, 6)), int(rng.integers(2, 7)), int(rng.integers(3, 9)),
                    int(rng.integers(1, 5)), f"a batch of {B}: leading axes ride along")
    Tk = int(rng.integers(4, 8))
    key_mask = np.ones((2, 1, Tk), bool)
    key_mask[0, 0, int(rng.integers(2, Tk)):] = False          # padding at the end of sequence 0
    yield _att_case(rng, (2,), 3, Tk, 4, 2, "a padding mask (2, 1, Tk), broadcast over the queries",
                    mask=key_mask)
    T = int(rng.integers(3, 7))
    causal = np.tril(np.ones((T, T), bool))
    yield _att_case(rng, (2, 2), T, T, 8, 3, "a causal (T, T) mask and two leading axes (batch, heads)",
                    mask=causal)
    yield _att_case(rng, (), 4, 5, 16, 2, "large scores (entries of size 30): a stable softmax", scale=30.0,
                    floating="raise")


# ----------------------------------------------------------------------------- 07.padding_mask
def _mask_validator(expected: np.ndarray):
    def validate(got):
        g = _to_numpy_if_tensor(got)
        if g is None:
            return "got None: did the function forget to `return` its result?"
        if not isinstance(g, np.ndarray):
            return f"expected a NumPy float array of shape {expected.shape}, got {type(g).__name__}: {describe(g)}"
        if g.dtype == bool:
            return ("got a boolean array: return the ADDITIVE mask, a float array with 0.0 where attention is "
                    f"allowed and {NEG:g} where it is not")
        if not np.issubdtype(g.dtype, np.floating):
            return f"expected a float array, got dtype {g.dtype}"
        if g.shape != expected.shape:
            return f"wrong shape: expected {expected.shape}, got {g.shape}"
        if not np.isfinite(g).all():
            return (f"got -inf (or NaN): use the finite value {NEG:g}. With -inf a row whose keys are all masked "
                    "(an empty utterance) gives exp(-inf)/0 = NaN in the softmax")
        allowed = expected == 0.0
        if not np.all(g[allowed] == 0.0):
            return "wrong value: the allowed positions must hold exactly 0.0 (adding 0 leaves the score unchanged)"
        if not np.all(g[~allowed] <= NEG):
            return f"wrong value: the masked positions must hold {NEG:g} (a large negative number)"
        return None
    validate.value = expected
    return validate


def _mask_variant(**kw):
    def detect(got, e, c):
        g = _arr(got)
        alt = _additive(*c.args, **c.kwargs, **kw)
        return g is not None and g.shape == alt.shape and np.array_equal(g < NEG / 2, alt < NEG / 2) \
            and not np.array_equal(alt, e.value)
    return detect


_MASK_MISTAKES = (
    Mistake("inverted", _mask_variant(invert=True),
            "the mask is inverted: key_mask is True on REAL tokens, which must get 0.0; the padding (False) gets "
            f"{NEG:g}."),
    Mistake("future allowed", lambda got, e, c: c.kwargs.get("causal") and _mask_variant(flip=True)(got, e, c),
            "the causal triangle is the wrong way round: query i may attend to keys j <= i (itself and the past), "
            "never to j > i (the future)."),
    Mistake("diagonal masked", lambda got, e, c: c.kwargs.get("causal") and _mask_variant(strict=True)(got, e, c),
            "the diagonal is masked too: query i may attend to itself (j == i) as well as to the past; only keys "
            "j > i are hidden."),
    Mistake("no query axis", lambda got, e, c: _arr(got) is not None and _arr(got).shape == e.value.shape[::2],
            "the result has shape (B, T): insert the query axis, (B, 1, T), so that the mask broadcasts over "
            "the queries of the (B, Tq, Tk) score matrix."),
    Mistake("causal ignored", lambda got, e, c: c.kwargs.get("causal") and _arr(got) is not None
            and _arr(got).shape[-2:] in ((1, e.value.shape[-1]),),
            "with causal=True the mask depends on the query too: return (B, T, T), the padding mask combined "
            "with the lower triangle (np.tril)."),
)


@register("07.padding_mask", signature="additive_mask(key_mask, causal=False) -> np.ndarray",
          returns=np.ndarray,
          hint="0.0 where a query may look at a key, -1e9 where it may not; a padded key is hidden from every "
               "query, and with causal=True so is every key after the query.",
          recipe="Give the key mask a query axis of length 1 (index it with None), which makes it (B, 1, T); for "
                 "causal=True combine it with a lower-triangular boolean (T, T) matrix (np.tril), broadcasting to "
                 "(B, T, T); finally turn the booleans into floats: 0.0 where allowed, -1e9 elsewhere.",
          mistakes=_MASK_MISTAKES)
def _padding_mask_cases(rng: np.random.Generator):
    km = np.array([[True, True, True, False], [True, True, False, False]])
    yield Case((km,), expected=_mask_validator(_additive(km)), label="two sequences of lengths 3 and 2, T=4")
    B, T = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    km = np.arange(T)[None, :] < lengths[:, None]
    yield Case((km,), expected=_mask_validator(_additive(km)), label=f"lengths {lengths.tolist()}, T={T}")
    yield Case((km,), {"causal": True}, expected=_mask_validator(_additive(km, True)),
               label="causal=True: padding and the future hidden")
    km2 = np.ones((1, 5), bool)
    yield Case((km2,), {"causal": True}, expected=_mask_validator(_additive(km2, True)),
               label="causal=True without padding: the lower triangle")


# ----------------------------------------------------------------------------- 07.split_heads
def _no_transpose(got, e, c):
    x = np.asarray(c.args[0], dtype=float)
    B, T, E = x.shape
    h = c.args[1]
    g = _arr(got)
    return g is not None and g.shape == (B, h, T, E // h) and np.allclose(g.ravel(), x.ravel()) and T > 1


_SPLIT_MISTAKES = (
    Mistake("reshaped without transposing", _no_transpose,
            "the numbers are x's in their original memory order, reshaped straight to (B, heads, T, d_head): that "
            "mixes positions and heads. Reshape to (B, T, heads, d_head) first, then move the heads axis forward "
            "(transpose(0, 2, 1, 3))."),
    Mistake("interleaved", lambda got, e, c: _matches(got, _split(c.args[0], c.args[1], order="interleaved"),
                                                      1e-9, 1e-12) and c.args[1] > 1,
            "the heads are interleaved (head h got columns h, h + heads, ...): head h must take the contiguous "
            "block of columns h*d_head ... (h+1)*d_head - 1, which is what reshape(B, T, heads, d_head) gives."),
    Mistake("heads axis not moved", lambda got, e, c: _matches(got, _split(c.args[0], c.args[1], transpose=False),
                                                               1e-9, 1e-12) and np.shape(c.args[0])[1] != c.args[1],
            "the result has shape (B, T, heads, d_head): move the heads axis to position 1, (B, heads, T, d_head), "
            "so that attention works on the last two axes (T, d_head) of each head."),
)


@register("07.split_heads", signature="split_heads(x, heads) -> np.ndarray (B, heads, T, E // heads)",
          hint="Each head takes a contiguous block of E // heads columns; the heads axis comes right after the "
               "batch axis.",
          recipe="Reshape the last axis E into two axes (heads, d_head) — this keeps each head's columns "
                 "contiguous — then reorder the axes so that the heads axis comes right after the batch axis "
                 "(np.transpose or np.moveaxis).",
          mistakes=_SPLIT_MISTAKES)
def _split_heads_cases(rng: np.random.Generator):
    x = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    yield Case((x, 2), expected=_split(x, 2), rtol=0, atol=1e-12, label="x = arange(24).reshape(2, 3, 4), 2 heads")
    h = int(rng.integers(2, 5))
    B, T, dh = int(rng.integers(1, 4)), int(rng.integers(2, 7)), int(rng.integers(1, 5))
    x = rng.normal(size=(B, T, h * dh))
    yield Case((x, h), expected=_split(x, h), rtol=0, atol=1e-12, label=f"{h} heads of width {dh}, T={T}")
    x = rng.normal(size=(2, 5, 6))
    yield Case((x, 1), expected=_split(x, 1), rtol=0, atol=1e-12, label="one head: (B, 1, T, E)")
    x = rng.normal(size=(1, 4, 6)).astype(np.float32)
    yield Case((x, 3), expected=_split(x, 3), rtol=0, atol=1e-12, label="float32 input, 3 heads of width 2")


# ----------------------------------------------------------------------------- 07.cross_attention (PyTorch)
def _xattn_reference(P: dict, xq, xkv, heads, key_mask, *, variant: str = ""):
    """Multi-head cross-attention in NumPy float64 with torch's (out, in) weight layout."""
    def lin(x, name):
        return x @ P[name + ".weight"].T + P[name + ".bias"]

    B, Tq, _ = xq.shape
    Tk, W = xkv.shape[1], P["q.weight"].shape[0]
    dh = W // heads
    q = lin(xq, "q").reshape(B, Tq, heads, dh).transpose(0, 2, 1, 3)
    k = lin(xkv, "k").reshape(B, Tk, heads, dh).transpose(0, 2, 1, 3)
    v = lin(xkv, "v").reshape(B, Tk, heads, dh).transpose(0, 2, 1, 3)
    mask = None if key_mask is None else key_mask[:, None, None, :]
    if variant == "invert" and mask is not None:
        mask = ~mask
    out, w = _attention(q, k, v, mask, scale="none" if variant == "noscale" else "sqrt")
    merged = out.transpose(0, 2, 1, 3).reshape(B, Tq, W)
    return (merged if variant == "no_out" else lin(merged, "o")), w


_XATTN_LAYERS = ("q", "k", "v", "o")


def _xattn_layer_shapes(d_q: int, d_kv: int, width: int) -> dict:
    return {"q": (width, d_q), "k": (width, d_kv), "v": (width, d_kv), "o": (width, width)}


@register_probe("07.cross_attention")
def _xattn_observations(module, args, kwargs, *, params: dict, xq, xkv, key_mask, cotangent) -> dict:
    """Observations of the module ``CrossAttention(d_q, d_kv, width, heads)`` returned, made where the answer
    ran: the layers' weights are set to ``params``, the module is called on ``(xq, xkv, key_mask)``, and the
    output, the attention weights, whether the output is attached to autograd, and the gradients of
    ``sum(output * cotangent)`` with respect to the weights and biases of q, k, v, o are recorded (values; None
    where no gradient reaches). A problem with the module itself (a missing layer, forward raising) is recorded
    as ``problem``, worded as the check words it. The module never leaves."""
    import torch

    d_q, d_kv, width, heads = args[:4]
    shapes = _xattn_layer_shapes(d_q, d_kv, width)
    obs: dict = {"problem": None}
    if module is None:
        obs["problem"] = ("got None: CrossAttention(...) should build the module (did __init__ forget "
                          "super().__init__()?)")
        return obs
    if not isinstance(module, torch.nn.Module):
        obs["problem"] = (f"CrossAttention({d_q}, {d_kv}, {width}, {heads}) should give a torch.nn.Module, got "
                          f"{type(module).__name__}")
        return obs
    for n, shp in shapes.items():
        layer = getattr(module, n, None)
        if not isinstance(layer, torch.nn.Linear):
            obs["problem"] = (f"the module needs an attribute `{n}` that is a torch.nn.Linear (the exercise fixes "
                              f"the names q, k, v, o so that the check can set the weights); got "
                              f"{type(layer).__name__}")
            return obs
        if tuple(layer.weight.shape) != shp or layer.bias is None:
            obs["problem"] = (f"self.{n} has weight shape {tuple(layer.weight.shape)}"
                              f"{' and no bias' if layer.bias is None else ''}; expected nn.Linear({shp[1]}, "
                              f"{shp[0]}) with a bias (weight shape {shp})")
            return obs
    try:
        with torch.no_grad():
            for n in shapes:
                getattr(module, n).weight.copy_(torch.from_numpy(np.asarray(params[n + ".weight"])))
                getattr(module, n).bias.copy_(torch.from_numpy(np.asarray(params[n + ".bias"])))
        module.train(False)
        km = None if key_mask is None else torch.from_numpy(np.asarray(key_mask))
        res = module(torch.from_numpy(np.asarray(xq)), torch.from_numpy(np.asarray(xkv)), km)
    except Exception as exc:  # noqa: BLE001 - the learner's module: reported, not raised
        obs["problem"] = (f"module(x_q {tuple(np.shape(xq))}, x_kv {tuple(np.shape(xkv))}, key_mask "
                          f"{'None' if key_mask is None else tuple(np.shape(key_mask))}) raised "
                          f"{type(exc).__name__}: {str(exc)[:500]}")
        return obs
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        obs["problem"] = f"forward should return a pair (output, weights), got {describe(res)}"
        return obs
    out, w = res
    if not isinstance(out, torch.Tensor) or not isinstance(w, torch.Tensor):
        obs["problem"] = "forward should return two torch tensors (output, weights); keep them tensors (no NumPy)"
        return obs
    obs.update(out=tensor_values(out), w=tensor_values(w), requires_grad=bool(out.requires_grad),
               grads={}, grad_problem=None)
    names = [n + part for n in shapes for part in (".weight", ".bias")]
    if out.requires_grad and out.is_floating_point() and tuple(out.shape) == np.shape(cotangent):
        obs["grads"], obs["grad_problem"] = cotangent_gradients(
            out, cotangent, lambda: [(n, getattr(getattr(module, n.split(".")[0]), n.split(".")[1])) for n in names],
            "the values are right but backpropagating through the output")
    return obs


def _xattn_reference_grads(P: dict, xq, xkv, heads, key_mask, cotangent) -> dict:
    """The gradients of ``sum(output * cotangent)`` with respect to the layers' weights and biases, in
    float64 (torch's autograd on the reference formula)."""
    import torch

    T = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}

    def lin(x, name):
        return x @ T[name + ".weight"].T + T[name + ".bias"]

    x_q, x_kv = torch.tensor(xq, dtype=torch.float64), torch.tensor(xkv, dtype=torch.float64)
    B, Tq, _ = x_q.shape
    Tk, W = x_kv.shape[1], P["q.weight"].shape[0]
    dh = W // heads
    q = lin(x_q, "q").reshape(B, Tq, heads, dh).transpose(1, 2)
    k = lin(x_kv, "k").reshape(B, Tk, heads, dh).transpose(1, 2)
    v = lin(x_kv, "v").reshape(B, Tk, heads, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / np.sqrt(dh)
    if key_mask is not None:
        s = s.masked_fill(~torch.from_numpy(np.asarray(key_mask))[:, None, None, :], NEG)
    out = lin((torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, Tq, W), "o")
    (out * torch.tensor(cotangent, dtype=torch.float64)).sum().backward()
    return {k: t.grad.numpy().copy() for k, t in T.items()}


def _xattn_case(rng, d_q, d_kv, width, heads, B, Tq, Tk, lengths, label):
    import torch  # noqa: F401  (the case needs torch; imported here only)

    xq = rng.normal(size=(B, Tq, d_q)).astype(np.float32)
    xkv = rng.normal(size=(B, Tk, d_kv)).astype(np.float32)
    key_mask = None if lengths is None else (np.arange(Tk)[None, :] < np.asarray(lengths)[:, None])
    shapes = _xattn_layer_shapes(d_q, d_kv, width)
    P = {}
    for n, shp in shapes.items():
        P[n + ".weight"] = (rng.normal(size=shp) / np.sqrt(shp[1])).astype(np.float32)
        P[n + ".bias"] = (0.1 * rng.normal(size=shp[0])).astype(np.float32)
    P64 = {k: v.astype(float) for k, v in P.items()}
    cot = fixed_cotangent((B, Tq, width))
    exp_out, exp_w = _xattn_reference(P64, xq.astype(float), xkv.astype(float), heads, key_mask)
    exp_grads = _xattn_reference_grads(P64, xq.astype(float), xkv.astype(float), heads, key_mask,
                                       cot.astype(float))

    def validate(obs):
        """The verdict on the probe's observations (the same in a learner's kernel and in the grader)."""
        if obs.get("problem"):
            return obs["problem"]
        problem = (compare(obs.get("out"), exp_out, 1e-4, 1e-5, where="the output")
                   or compare(obs.get("w"), exp_w, 1e-4, 1e-6, where="the weights"))
        if problem:
            return problem
        if obs.get("requires_grad") is not True:
            return ("the values are right but the output is cut off from the graph (requires_grad is False): no "
                    "gradient could train the layer. Do not use torch.no_grad(), .detach() or NumPy in forward")
        if obs.get("grad_problem"):
            return obs["grad_problem"]
        # an unused parameter has gradient 0: right for k.bias, which cannot change the softmax
        return gradients_problem(obs.get("grads"), exp_grads, prefix="self.")

    validate.ref = (P64, xq.astype(float), xkv.astype(float), heads, key_mask)
    probe = ("07.cross_attention", {"params": P, "xq": xq, "xkv": xkv, "key_mask": key_mask, "cotangent": cot})
    return Case((d_q, d_kv, width, heads), expected=validate, label=label, probe=probe)


def _xattn_values(got):
    """(output, weights) as float64 arrays from the observations, or None when the module gave none."""
    if not isinstance(got, dict) or got.get("problem") or got.get("out") is None or got.get("w") is None:
        return None
    out, w = as_float_array(got["out"]), as_float_array(got["w"])
    return None if out is None or w is None else (out, w)


def _xattn_variant(variant):
    def detect(got, e, c):
        values = _xattn_values(got)
        if values is None:
            return False
        g_out, g_w = values
        out, w = _xattn_reference(*e.ref, variant=variant)
        return (g_out.shape == out.shape and np.allclose(g_out, out, rtol=1e-4, atol=1e-5)
                and g_w.shape == w.shape and np.allclose(g_w, w, rtol=1e-4, atol=1e-6))
    return detect


def _xattn_query_softmax(got, e, c):
    values = _xattn_values(got)
    if values is None or values[1].ndim != 4:
        return False
    w = values[1]
    sums_q = w.sum(axis=-2)
    return np.allclose(sums_q, 1.0, atol=1e-4) and not np.allclose(w.sum(axis=-1), 1.0, atol=1e-4)


_XATTN_MISTAKES = (
    Mistake("no scaling", _xattn_variant("noscale"),
            "the scores are not scaled: divide q k^T by sqrt(d_head) — the width of ONE head, width // heads."),
    Mistake("mask inverted", lambda got, e, c: e.ref[4] is not None and _xattn_variant("invert")(got, e, c),
            "the key mask is inverted: key_mask is True on real keys (attend) and False on padding (ignore). Note "
            "that torch.nn.MultiheadAttention's key_padding_mask uses the opposite convention."),
    Mistake("no output projection", _xattn_variant("no_out"),
            "the heads are merged but not projected: apply self.o to the merged (B, Tq, width) tensor."),
    Mistake("softmax over queries", _xattn_query_softmax,
            "the weights sum to 1 over the queries: the softmax must run over the keys (the last axis)."),
    Mistake("scaled by the full width", lambda got, e, c: e.ref[3] > 1 and _xattn_width_scale(got, e),
            "the scores are divided by sqrt(width); each head has its own d_head = width // heads, and the scale "
            "is 1/sqrt(d_head)."),
)


def _xattn_width_scale(got, e) -> bool:
    values = _xattn_values(got)
    if values is None:
        return False
    g_out, g_w = values
    P, xq, xkv, heads, km = e.ref
    # dividing by sqrt(width) = dividing by sqrt(d_head) with queries scaled by 1/sqrt(heads)
    P2 = dict(P)
    P2["q.weight"] = P["q.weight"] / np.sqrt(heads)
    P2["q.bias"] = P["q.bias"] / np.sqrt(heads)
    out, w = _xattn_reference(P2, xq, xkv, heads, km)
    return (g_out.shape == out.shape and np.allclose(g_out, out, rtol=1e-4, atol=1e-5)
            and g_w.shape == w.shape and np.allclose(g_w, w, rtol=1e-4, atol=1e-6))


@register("07.cross_attention", signature="CrossAttention(d_q, d_kv, width, heads) -> nn.Module; "
          "module(x_q, x_kv, key_mask=None) -> (output (B, Tq, width), weights (B, heads, Tq, Tk))",
          time_limit=20.0,
          hint="Project the queries with self.q and the keys/values with self.k/self.v, split each into heads "
               "(B, heads, T, d_head), attend per head with the key mask, merge the heads and apply self.o.",
          recipe="Apply self.q to x_q and self.k, self.v to x_kv; split each (B, T, width) result into heads "
                 "(B, heads, T, d_head) as in exercise 3 (torch: reshape, then transpose); per head, multiply q by "
                 "k with its last two axes swapped and divide by sqrt(d_head); fill the scores of padded keys "
                 "(the key mask broadcast to (B, 1, 1, Tk)) with -1e9 (masked_fill); softmax over the keys; "
                 "multiply the weights by v, merge the heads back (the inverse of the split) and apply self.o.",
          mistakes=_XATTN_MISTAKES)
def _cross_attention_cases(rng: np.random.Generator):
    yield _xattn_case(rng, 3, 5, 4, 2, 2, 3, 4, None, "d_q=3, d_kv=5, width=4, 2 heads, no mask")
    B, Tk = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    lengths = rng.integers(1, Tk + 1, size=B)
    lengths[0] = Tk
    h = int(rng.integers(2, 5))
    yield _xattn_case(rng, int(rng.integers(2, 7)), int(rng.integers(2, 9)), h * int(rng.integers(2, 5)), h, B,
                      int(rng.integers(2, 6)), Tk, lengths.tolist(), f"{h} heads, key lengths {lengths.tolist()}")
    yield _xattn_case(rng, 4, 4, 6, 1, 1, 2, 3, [2], "one head, one padded key")
