"""Self-checks for lesson 05 (image features).

References come from :mod:`course_utils.features.image`. Every property is produced by the case generators
for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test is the same check with
another seed. Predictable wrong answers are named by :class:`Mistake` detectors that recompute the wrong
variant from the case's own arguments.

PyTorch is imported only inside the ``05.conv_block`` probe and validator (the NumPy exercises need no framework).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..features import image as fi
from ._core import (Case, as_float_array, close_to, Mistake, _to_numpy_if_tensor, describe, register,
                    register_probe)


_arr = as_float_array  # ``x`` as a float array (tensors converted), or None when not numeric


def _matches(got: Any, value: Any, rtol: float = 1e-7, atol: float = 1e-9) -> bool:
    """Does ``got`` equal ``value`` (same shape, close)? False for anything that is not numeric."""
    return close_to(got, value, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- 05.conv_output_size
def _size_args(case: Case) -> tuple[int, int, int, int]:
    n, k = case.args[:2]
    s = case.kwargs.get("stride", case.args[2] if len(case.args) > 2 else 1)
    p = case.kwargs.get("padding", case.args[3] if len(case.args) > 3 else 0)
    return int(n), int(k), int(s), int(p)


def _size_variant(case: Case, kind: str) -> float:
    n, k, s, p = _size_args(case)
    if kind == "no +1":
        return (n + 2 * p - k) // s
    if kind == "padding once":
        return (n + p - k) // s + 1
    if kind == "ceil":
        return -(-(n + 2 * p - k) // s) + 1
    if kind == "true division":
        return (n + 2 * p - k) / s + 1
    if kind == "padding ignored":
        return (n - k) // s + 1
    raise ValueError(kind)


def _size_mistake(kind: str):
    def detect(got, expected, case):
        want = _size_variant(case, kind)
        return want != expected.want and _matches(got, want, rtol=0, atol=1e-9)
    return detect


def _size_validator(want: int):
    """The size must equal ``want`` and be an integer (Python or NumPy): a size is a count."""
    def validate(got):
        if got is None:
            return "got None: did the function forget to `return` its result?"
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            if isinstance(got, (float, np.floating)) and float(got) == want:
                return (f"returned {got!r}, a float: an output size counts window positions, a whole number; "
                        "return an int (integer division // gives one)")
            return f"wrong value: expected {want}, got {describe(got)}"
        if int(got) != want:
            return f"wrong value: expected {want}, got {int(got)}"
        return None

    validate.want = want
    return validate


_SIZE_MISTAKES = (
    Mistake("true division", lambda got, e, c: isinstance(got, float) and not float(got).is_integer(),
            "the result is not a whole number: a window either fits or it does not, so the number of "
            "positions rounds down. Use integer (floor) division //."),
    Mistake("padding once", _size_mistake("padding once"),
            "padding is added on both sides (top and bottom, left and right): it enters the formula twice."),
    Mistake("padding ignored", _size_mistake("padding ignored"),
            "the padding is ignored: zero-padding makes the input p pixels larger on each side."),
    Mistake("forgot +1", _size_mistake("no +1"),
            "one position short: the first window sits at offset 0, and (n + 2p - k) // s counts only the "
            "moves after it. Add the first position."),
    Mistake("ceil", _size_mistake("ceil"),
            "rounded up: a last window that would stick out of the padded input is dropped, so round down "
            "(PyTorch's and Keras' default)."),
)


@register("05.conv_output_size", signature="conv_output_size(n, kernel_size, stride=1, padding=0) -> int",
          hint="Count the positions of the window: how far can its first pixel move inside the padded input, "
               "in steps of `stride`? Try it by hand for n = 5, k = 3, stride 2, no padding (answer: 2).",
          recipe="The padded input has n + 2 * padding pixels; a window of k pixels can start at offsets 0, "
                 "stride, 2 * stride, ... as long as it still fits entirely. Count those offsets with integer "
                 "arithmetic.",
          mistakes=_SIZE_MISTAKES)
def _conv_output_size(rng: np.random.Generator):
    # ordered so that the first failing case tells the named mistakes apart
    fixed = [((7, 3, 2, 0), "stride 2, no padding"),
             ((10, 4, 3, 1), "a last window that does not fit is dropped"),
             ((64, 3, 2, 1), "stride 2 halves the size"),
             ((64, 3, 1, 1), "3x3, stride 1, padding 1 keeps the size"),
             ((5, 5, 1, 0), "kernel as large as the input"),
             ((6, 2, 2, 0), "2x2 pooling windows")]
    for (n, k, s, p), label in fixed:
        yield Case((n, k), {"stride": s, "padding": p}, expected=_size_validator(fi.conv_output_size(n, k, s, p)),
                   label=label)
    for _ in range(4):
        k = int(rng.integers(1, 8))
        s, p = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = int(rng.integers(max(1, k - 2 * p), 80))
        yield Case((n, k), {"stride": s, "padding": p}, expected=_size_validator(fi.conv_output_size(n, k, s, p)),
                   label=f"random n={n}, k={k}, stride={s}, padding={p}")


# ----------------------------------------------------------------------------- 05.conv2d
def _conv_args(case: Case):
    x, w, b = (np.asarray(a, dtype=float) if a is not None else None for a in case.args[:3])
    s = case.kwargs.get("stride", 1)
    p = case.kwargs.get("padding", 0)
    return x, w, b, s, p


def _conv_variant(case: Case, kind: str) -> np.ndarray:
    x, w, b, s, p = _conv_args(case)
    if kind == "flipped":
        return fi.conv2d(x, w[:, :, ::-1, ::-1], b, s, p)
    if kind == "no bias":
        return fi.conv2d(x, w, None, s, p)
    if kind == "no padding":
        return fi.conv2d(x, w, b, s, 0)
    if kind == "no stride":
        return fi.conv2d(x, w, b, 1, p)
    if kind == "kernel transposed":
        return fi.conv2d(x, w.transpose(0, 1, 3, 2), b, s, p) if w.shape[2] == w.shape[3] else None
    if kind == "padding one side":
        xp = np.pad(x, ((0, 0), (0, 0), (2 * p, 0), (2 * p, 0)))
        return fi.conv2d(xp, w, b, s, 0)
    raise ValueError(kind)


def _conv_mistake(kind: str, needs=lambda c: True):
    def detect(got, expected, case):
        if not needs(case):
            return False
        want = _conv_variant(case, kind)
        return want is not None and _matches(got, want, rtol=1e-5, atol=1e-5)
    return detect


_CONV_MISTAKES = (
    Mistake("kernel flipped", _conv_mistake("flipped"),
            "your result is the textbook convolution with the kernel flipped (rotated by 180 degrees). Deep "
            "learning's 'convolution' is a cross-correlation: w[o, c, u, v] multiplies the pixel u rows below "
            "and v columns right of the window's top-left corner, without flipping."),
    Mistake("bias missing", _conv_mistake("no bias", lambda c: c.args[2] is not None),
            "every output of filter o should include its bias b[o] (added once per output pixel)."),
    Mistake("padding ignored", _conv_mistake("no padding", lambda c: c.kwargs.get("padding", 0) > 0),
            "the padding is ignored: surround each image with `padding` rows and columns of zeros on every "
            "side before sliding the window (np.pad with a pad width per axis)."),
    Mistake("kernel transposed", _conv_mistake("kernel transposed"),
            "rows and columns of the kernel are swapped: w[o, c, u, v] is the weight of row offset u and "
            "column offset v (w has shape (C_out, C_in, kh, kw)), not the other way round."),
    Mistake("padding on one side", _conv_mistake("padding one side", lambda c: c.kwargs.get("padding", 0) > 0),
            "all the padding went before the image (top and left): `padding` rows and columns go on *each* "
            "side, half of the 2 * padding before and half after."),
    Mistake("stride ignored", _conv_mistake("no stride", lambda c: c.kwargs.get("stride", 1) > 1),
            "the stride is ignored: the window moves `stride` pixels at a time, so output (i, j) starts at "
            "row i * stride and column j * stride of the padded input."),
)


@register("05.conv2d", signature="conv2d(x, w, b, stride=1, padding=0) -> np.ndarray", time_limit=20.0,
          returns=np.ndarray,
          hint="Check the output shape first (exercise 1's formula, for H and for W), then one output pixel by "
               "hand: it is the sum over input channels and kernel positions of weight times pixel, plus the "
               "filter's bias.",
          recipe="Pad x with zeros on the two spatial axes only; for each output position (i, j) take the "
                 "window of the padded input that starts at (i * stride, j * stride) and spans the kernel; "
                 "multiply it with every filter and sum over channel, row and column (a loop over filters, or "
                 "np.einsum / np.tensordot); add the bias of each filter.",
          mistakes=_CONV_MISTAKES)
def _conv2d_cases(rng: np.random.Generator):
    def case(x, w, b, label, stride=1, padding=0):
        return Case((x, w, b), {"stride": stride, "padding": padding},
                    expected=fi.conv2d(x, w, b, stride, padding), label=label, rtol=1e-5, atol=1e-5)
    # tolerance: an answer computed in float32 (torch's default, or np.float32) is correct; it is off by float32
    # rounding (~1e-6 for sums of 27 products of numbers of order 1), while every named mistake is off by O(0.1)

    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])          # not symmetric: a flipped kernel gives another result
    yield case(x, w, np.array([0.5]), "one 4x4 image, one 2x2 filter")
    x = rng.normal(size=(2, 3, 6, 7))
    w = rng.normal(size=(4, 3, 3, 3))
    yield case(x, w, rng.normal(size=4), "2 images, 3 -> 4 channels, 3x3")
    yield case(x, w, rng.normal(size=4), "padding 1 keeps the size", padding=1)
    yield case(x, w, rng.normal(size=4), "stride 2", stride=2)
    yield case(rng.normal(size=(1, 2, 9, 8)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3),
               "non-square kernel, stride 2 and padding 2", stride=2, padding=2)
    n, c, o = (int(v) for v in rng.integers(1, 4, size=3))
    h, wd, k = int(rng.integers(5, 13)), int(rng.integers(5, 13)), int(rng.integers(1, 5))
    s, p = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    yield case(rng.normal(size=(n, c, h, wd)), rng.normal(size=(o, c, k, k)), rng.normal(size=o),
               f"random: {n} images, {c} -> {o} channels, {h}x{wd}, kernel {k}, stride {s}, padding {p}",
               stride=s, padding=p)


# ----------------------------------------------------------------------------- 05.max_pool2d
def _pool_variant(case: Case, kind: str) -> np.ndarray:
    x, size = np.asarray(case.args[0], dtype=float), int(case.args[1])
    n, c, h, w = x.shape
    ho, wo = h // size, w // size
    blocks = x[:, :, :ho * size, :wo * size].reshape(n, c, ho, size, wo, size)
    if kind == "mean":
        return blocks.mean(axis=(3, 5))
    if kind == "relu":
        return np.maximum(blocks.max(axis=(3, 5)), 0.0)
    if kind == "channels":
        return blocks.max(axis=(1, 3, 5))
    raise ValueError(kind)


def _pool_shape_problem(kind: str):
    def detect(got, expected, case):
        g = _arr(got)
        if g is None:
            return False
        x, size = np.asarray(case.args[0]), int(case.args[1])
        n, c, h, w = x.shape
        if kind == "ceil":
            return (h % size or w % size) and g.shape == (n, c, -(-h // size), -(-w // size))
        if kind == "stride 1":
            return size > 1 and g.shape == (n, c, h - size + 1, w - size + 1)
        raise ValueError(kind)
    return detect


_POOL_MISTAKES = (
    Mistake("average pooling", lambda got, e, c: _matches(got, _pool_variant(c, "mean")),
            "that is average pooling: max pooling keeps the largest value of each window."),
    Mistake("max started at 0", lambda got, e, c: _matches(got, _pool_variant(c, "relu")),
            "negative windows came out as 0: the maximum was probably started at 0 (or compared with 0). "
            "Start from the window's own values (or -inf)."),
    Mistake("pooled over channels", lambda got, e, c: _matches(got, _pool_variant(c, "channels")),
            "the channels were pooled together: each channel is pooled on its own, so the result keeps the "
            "shape (N, C, H // size, W // size)."),
    Mistake("partial windows kept", _pool_shape_problem("ceil"),
            "a leftover row or column that does not fill a whole window was kept: like PyTorch's default, "
            "drop it (H // size rows of windows)."),
    Mistake("stride 1", _pool_shape_problem("stride 1"),
            "the windows overlap (they move 1 pixel at a time): here they are side by side, moving `size` "
            "pixels at a time."),
)


@register("05.max_pool2d", signature="max_pool2d(x, size) -> np.ndarray", time_limit=20.0, returns=np.ndarray,
          hint="The output has shape (N, C, H // size, W // size); output (i, j) of a channel is the largest "
               "value in rows i*size .. i*size+size-1 and the matching columns of that channel.",
          recipe="Crop x to a multiple of size on both spatial axes, then either loop over output positions "
                 "taking .max over each window's two spatial axes, or reshape to (N, C, H//size, size, "
                 "W//size, size) and take the maximum over the two window axes.",
          mistakes=_POOL_MISTAKES)
def _max_pool_cases(rng: np.random.Generator):
    def case(x, size, label):
        # a maximum has no rounding in its own dtype, but a float32 answer rounds the float64 inputs: tolerate that
        return Case((x, size), expected=fi.max_pool2d(x, size), label=label, rtol=1e-6, atol=1e-7)

    yield case(np.arange(16.0).reshape(1, 1, 4, 4), 2, "one 4x4 image, 2x2 windows")
    yield case(-1.0 - rng.uniform(size=(1, 2, 4, 6)), 2, "all values negative")
    yield case(rng.normal(size=(2, 3, 7, 9)), 2, "odd sizes: the last row and column are dropped")
    yield case(rng.normal(size=(1, 2, 9, 9)), 3, "3x3 windows")
    n, c = (int(v) for v in rng.integers(1, 4, size=2))
    size = int(rng.integers(1, 5))
    h, w = int(rng.integers(size, 17)), int(rng.integers(size, 17))
    yield case(rng.normal(size=(n, c, h, w)), size, f"random: {n} images, {c} channels, {h}x{w}, size {size}")


# ----------------------------------------------------------------------------- 05.conv_block
def _block_params(c_in: int, c_out: int) -> int:
    return 9 * c_in * c_out + 2 * c_out


def _modules(block: Any) -> list:
    return list(block.modules()) if hasattr(block, "modules") else []


def _count(block: Any) -> int:
    return sum(p.numel() for p in block.parameters() if p.requires_grad)


def _shape_after(block: Any, c_in: int, h: int = 8, w: int = 10) -> tuple | None:
    import torch

    try:
        block.eval()
        with torch.no_grad():
            return tuple(int(d) for d in block(torch.zeros(2, c_in, h, w)).shape)
    except Exception:
        return None


def _block_inputs(c_in: int, c_out: int, seed: int) -> dict:
    """The probe's inputs for one case: an input batch, the filters and a BatchNorm in a trained-like state
    (scales of both signs, shifts, running statistics). With its initial state (scale 1, shift 0) BatchNorm is
    an increasing map that commutes with ReLU and pooling, and a block with ReLU or pooling before BatchNorm
    would compute the same numbers. Inputs only: the block's expected output is computed outside, by
    :func:`_block_validator`."""
    g = np.random.default_rng(seed)
    f32 = np.float32
    return {"c_in": c_in, "x": g.standard_normal((3, c_in, 6, 8)).astype(f32),
            "weight": g.standard_normal((c_out, c_in, 3, 3)).astype(f32),
            "gamma": g.standard_normal(c_out).astype(f32), "beta": g.standard_normal(c_out).astype(f32),
            "mean": (0.5 * g.standard_normal(c_out)).astype(f32),
            "var": (0.5 + 1.5 * g.uniform(size=c_out)).astype(f32)}


_OUT_LIMIT = 100_000  # numbers of the block's output sent back at most (the right one has 36 * c_out)


@register_probe("05.block")
def _block_observations(got: Any, args: tuple, kwargs: dict, *, c_in: int, x, weight, gamma, beta, mean,
                        var) -> dict:
    """Observations of the block ``got`` returned by ``conv_block``, made where the answer ran; the module
    itself never leaves. Its type; for a module: the trainable parameter count, its Conv2d layers (bias,
    unpadded) and BatchNorm2d layers (features), the output shape on a (2, c_in, 8, 10) input, and ``out``, its
    output in eval mode on ``x`` after the filters of its (only) convolution are set to ``weight`` and its
    first BatchNorm to the given state (the others reset). ``out`` is what the verdict rests on; a block that
    cannot be set up or called that way gets ``out_problem`` instead."""
    import torch

    obs: dict = {"none": got is None, "type": type(got).__name__, "module": isinstance(got, torch.nn.Module)}
    if not obs["module"]:
        return obs
    convs = [m for m in _modules(got) if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in _modules(got) if isinstance(m, torch.nn.BatchNorm2d)]
    obs.update(n_params=int(_count(got)), n_conv=len(convs), n_bn=len(bns),
               conv_bias=[c.bias is not None for c in convs],
               conv_unpadded=[c.padding in ((0, 0), 0, "valid") for c in convs],
               bn_features=[int(b.num_features) for b in bns],
               shape=_shape_after(got, c_in), out=None, out_shape=None, out_problem=None, eps=None)
    if len(convs) != 1 or not bns:
        return obs
    conv, bn = convs[0], bns[0]
    try:
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.asarray(weight)))
            for m in bns:
                m.reset_running_stats()
                m.reset_parameters()
            bn.weight.copy_(torch.from_numpy(np.asarray(gamma)))
            bn.bias.copy_(torch.from_numpy(np.asarray(beta)))
            bn.running_mean.copy_(torch.from_numpy(np.asarray(mean)))
            bn.running_var.copy_(torch.from_numpy(np.asarray(var)))
            obs["eps"] = float(bn.eps)
            got.eval()
            out = got(torch.from_numpy(np.asarray(x)))
        if not isinstance(out, torch.Tensor):
            obs["out_problem"] = f"calling the block returned a {type(out).__name__}, not a tensor"
            return obs
        obs["out_shape"] = tuple(int(d) for d in out.shape)
        if out.numel() <= _OUT_LIMIT:
            obs["out"] = out.detach().cpu().double().numpy()
    except Exception as exc:  # noqa: BLE001 - the learner's module: reported, not raised
        obs["out_problem"] = (f"setting the check's filters and BatchNorm state and calling the block raised "
                              f"{type(exc).__name__}: {str(exc)[:300]}")
    return obs


def _block_validator(c_in: int, c_out: int, seed: int):
    """The verdict on the observations of ``_block_observations`` (the inputs it used come from
    ``_block_inputs(c_in, c_out, seed)``), the same inside a learner's kernel and in the grader."""
    inputs = _block_inputs(c_in, c_out, seed)

    def validate(got):
        if got.get("none"):
            return "got None: did the function forget to `return` the block?"
        if not got.get("module"):
            return (f"expected a torch.nn.Module (e.g. a torch.nn.Sequential), got {got.get('type')}; "
                    "return the block itself, not its output")
        n_params = got["n_params"]
        if n_params != _block_params(c_in, c_out):
            return (f"the block has {n_params} trainable parameters; expected {_block_params(c_in, c_out)} "
                    f"for {c_in} -> {c_out} channels")
        if not got["n_bn"]:
            return "the block has no BatchNorm2d layer"
        if got["n_conv"] != 1:
            return f"expected exactly one Conv2d layer, found {got['n_conv']}"
        shape = None if got["shape"] is None else tuple(got["shape"])
        want = (2, c_out, 4, 5)
        if shape != want:
            return f"a (2, {c_in}, 8, 10) input gives {shape}; expected {want}"
        if got["out_problem"]:
            return got["out_problem"]
        # the computation: with known filters and BatchNorm in a trained-like state, in eval mode
        eps = float(got["eps"]) if got.get("eps") is not None else float("nan")
        if not 1e-12 <= eps <= 1e-2:  # a reported eps only within what a BatchNorm is built with (default 1e-5)
            return (f"the BatchNorm2d's eps is {eps:g}: keep torch.nn.BatchNorm2d's default (1e-5), a small "
                    "number that only guards the division")
        ref, variants = _block_references(inputs, eps)
        out = None if got["out"] is None else np.asarray(got["out"], dtype=float)
        if out is None or out.shape != ref.shape or not np.allclose(out, ref, rtol=1e-4, atol=1e-5):
            for what, alt in variants.items():
                if out is not None and out.shape == alt.shape and np.allclose(out, alt, rtol=1e-4, atol=1e-5):
                    return (f"the layers are in the wrong order ({what}): BatchNorm normalizes the convolution's "
                            "raw output; the non-linearity and the pooling come after it. With a trained "
                            "BatchNorm (negative scales, shifts) the order changes the numbers.")
            return ("with the same filters the block computes other numbers than conv (3x3, padding 1) -> "
                    "BatchNorm -> ReLU -> 2x2 max pooling")
        return None

    validate.args = (c_in, c_out)
    return validate


def _block_references(inputs: dict, eps: float) -> tuple[np.ndarray, dict]:
    """The right block's output on the probe's inputs, and the outputs of the blocks with their layers in a
    wrong order (computed outside the answer, in float32 like the block)."""
    import torch

    F = torch.nn.functional
    x, wgt = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["weight"])
    gamma, beta, mean, var = (torch.from_numpy(inputs[k])[:, None, None] for k in ("gamma", "beta", "mean", "var"))

    def norm(z):
        return (z - mean) / torch.sqrt(var + eps) * gamma + beta

    with torch.no_grad():
        c = F.conv2d(x, wgt, padding=1)
        ref = F.max_pool2d(torch.relu(norm(c)), 2)
        variants = {"ReLU before BatchNorm": F.max_pool2d(norm(torch.relu(c)), 2),
                    "pooling before BatchNorm": torch.relu(norm(F.max_pool2d(c, 2))),
                    "pooling and ReLU before BatchNorm": norm(F.max_pool2d(torch.relu(c), 2))}
    as_np = lambda t: t.double().numpy()  # noqa: E731
    return as_np(ref), {k: as_np(v) for k, v in variants.items()}


def _block_mistake(kind: str):
    def detect(got, expected, case):
        if not got.get("module"):
            return False
        c_in, c_out = case.args
        shape = None if got["shape"] is None else tuple(got["shape"])
        if kind == "bias":
            return any(got["conv_bias"]) and got["n_params"] == _block_params(c_in, c_out) + c_out
        if kind == "padding":
            return any(got["conv_unpadded"]) and shape == (2, c_out, 3, 4)
        if kind == "no pool":
            return shape == (2, c_out, 8, 10)
        if kind == "bn channels":
            return any(f != c_out for f in got["bn_features"])
        if kind == "no bn":
            return not got["n_bn"]
        raise ValueError(kind)
    return detect


_BLOCK_MISTAKES = (
    Mistake("conv bias kept", _block_mistake("bias"),
            "the convolution still has its bias (c_out extra parameters). BatchNorm subtracts each channel's "
            "mean right after it, which cancels any constant added before, and adds its own shift beta: a "
            "bias there is dead weight. Pass bias=False."),
    Mistake("no padding", _block_mistake("padding"),
            "the 3x3 convolution shrinks the image by 2 pixels: pad it by 1 on each side (padding=1) so that "
            "only the pooling halves the size."),
    Mistake("no pooling", _block_mistake("no pool"),
            "the block keeps the spatial size: it should end with 2x2 max pooling (torch.nn.MaxPool2d(2))."),
    Mistake("BatchNorm on the wrong channels", _block_mistake("bn channels"),
            "BatchNorm2d normalizes the convolution's output, so it needs c_out features (is it before the "
            "convolution, or built with c_in?)."),
    Mistake("no BatchNorm", _block_mistake("no bn"),
            "the block needs a torch.nn.BatchNorm2d after the convolution (it normalizes each channel over "
            "the batch and the pixels)."),
)


@register("05.conv_block", signature="conv_block(c_in, c_out) -> torch.nn.Module", time_limit=30.0,
          hint="Four layers in a torch.nn.Sequential: a 3x3 convolution that keeps the size and has no bias, "
               "BatchNorm over its output channels, ReLU, then 2x2 max pooling. Count: 9 * c_in * c_out + "
               "2 * c_out trainable parameters.",
          recipe="torch.nn.Conv2d takes (in_channels, out_channels, kernel_size) plus padding= and bias=; "
                 "torch.nn.BatchNorm2d takes the number of channels it normalizes; torch.nn.MaxPool2d takes "
                 "the window size.",
          mistakes=_BLOCK_MISTAKES)
def _conv_block_cases(rng: np.random.Generator):
    def case(c_in, c_out, seed, label):
        return Case((c_in, c_out), expected=_block_validator(c_in, c_out, seed), label=label,
                    probe=("05.block", _block_inputs(c_in, c_out, seed)))

    yield case(3, 8, 0, "3 -> 8 channels (the CNN's first block)")
    yield case(8, 16, 1, "8 -> 16 channels")
    c_in, c_out = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    yield case(c_in, c_out, int(rng.integers(0, 2**31)), f"random: {c_in} -> {c_out} channels")
