"""Lesson 05 self-checks: several independent correct formulations pass (public and instructor seeds),
the stub gets "not implemented" and no hint, predictable wrong answers fail with their named feedback."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.checks import run_check
from course_utils.checks._core import lookup
from course_utils.features import image as fi

SEEDS = (0, 4411, 8093)   # the public self-check and two instructor (hidden-test) seeds


# ----------------------------------------------------------------------------- correct formulations
def size_floor(n, kernel_size, stride=1, padding=0):
    return (n + 2 * padding - kernel_size) // stride + 1


def size_math_floor(n, kernel_size, stride=1, padding=0):
    return int(math.floor((n + 2 * padding - kernel_size) / stride)) + 1


def size_count(n, kernel_size, stride=1, padding=0):
    return len(range(0, n + 2 * padding - kernel_size + 1, stride))


def size_package(n, kernel_size, stride=1, padding=0):
    return fi.conv_output_size(n, kernel_size, stride, padding)


def conv_loops(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = xp.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for c in range(wo):
                    window = xp[i, :, r * stride:r * stride + kh, c * stride:c * stride + kw]
                    out[i, f, r, c] = np.sum(window * w[f]) + b[f]
    return out


def conv_einsum(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwuv,ocuv->nohw", win, w) + b[None, :, None, None]


def conv_im2col(x, w, b, stride=1, padding=0):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    cols = np.empty((n, c * kh * kw, ho * wo))
    for r in range(ho):
        for q in range(wo):
            patch = xp[:, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
            cols[:, :, r * wo + q] = patch.reshape(n, -1)
    out = w.reshape(o, -1) @ cols + b[:, None]
    return out.reshape(n, o, ho, wo)


def conv_shift_add(x, w, b, stride=1, padding=0):
    """Loop over the kernel offsets, not over the pixels."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    ho = (xp.shape[2] - kh) // stride + 1
    wo = (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo)) + b[None, :, None, None]
    for u in range(kh):
        for v in range(kw):
            shifted = xp[:, :, u:u + stride * (ho - 1) + 1:stride, v:v + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,oc->nohw", shifted, w[:, :, u, v])
    return out


def conv_torch(x, w, b, stride=1, padding=0):
    torch = pytest.importorskip("torch")
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      stride=stride, padding=padding).numpy()


def conv_float32(x, w, b, stride=1, padding=0):
    """Correct, computed in float32 (what a learner gets from torch's default dtype or np.float32)."""
    return conv_einsum(*(np.asarray(a, dtype=np.float32) for a in (x, w, b)), stride, padding)


def conv_torch_float32(x, w, b, stride=1, padding=0):
    torch = pytest.importorskip("torch")
    t = [torch.tensor(a, dtype=torch.float32) for a in (x, w, b)]
    return torch.nn.functional.conv2d(*t, stride=stride, padding=padding).numpy()


def conv_as_strided(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, wd = xp.shape
    kh, kw = w.shape[2:]
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    s0, s1, s2, s3 = xp.strides
    win = np.lib.stride_tricks.as_strided(xp, (n, c, ho, wo, kh, kw), (s0, s1, s2 * stride, s3 * stride, s2, s3))
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b[None, :, None, None]


def conv_nested_lists(x, w, b, stride=1, padding=0):
    """Pure Python sums into nested lists, converted to an array at the end."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    o, c, kh, kw = w.shape
    ho, wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    return np.array([[[[sum(w[f, ch, u, v] * xp[i, ch, r * stride + u, q * stride + v]
                            for ch in range(c) for u in range(kh) for v in range(kw)) + b[f]
                        for q in range(wo)] for r in range(ho)] for f in range(o)] for i in range(xp.shape[0])])


def pool_reshape(x, size):
    n, c, h, w = x.shape
    ho, wo = h // size, w // size
    return x[:, :, :ho * size, :wo * size].reshape(n, c, ho, size, wo, size).max(axis=(3, 5))


def pool_loops(x, size):
    n, c, h, w = x.shape
    out = np.empty((n, c, h // size, w // size))
    for i in range(h // size):
        for j in range(w // size):
            out[:, :, i, j] = x[:, :, i * size:(i + 1) * size, j * size:(j + 1) * size].max(axis=(2, 3))
    return out


def pool_strided_max(x, size):
    h, w = x.shape[2] // size * size, x.shape[3] // size * size
    out = None
    for u in range(size):
        for v in range(size):
            part = x[:, :, u:h:size, v:w:size]
            out = part if out is None else np.maximum(out, part)
    return out


def pool_torch(x, size):
    torch = pytest.importorskip("torch")
    return torch.nn.functional.max_pool2d(torch.from_numpy(x), size).numpy()


def pool_float32(x, size):
    return pool_reshape(np.asarray(x, dtype=np.float32), size)


def pool_torch_float32(x, size):
    torch = pytest.importorskip("torch")
    return torch.nn.functional.max_pool2d(torch.tensor(x, dtype=torch.float32), size).numpy()


def pool_via_nhwc(x, size):
    """Correct: transposes to channels-last, pools there, transposes back."""
    t = x.transpose(0, 2, 3, 1)
    n, h, w, c = t.shape
    t = t[:, :h // size * size, :w // size * size].reshape(n, h // size, size, w // size, size, c).max(axis=(2, 4))
    return t.transpose(0, 3, 1, 2)


def block_sequential(c_in, c_out):
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.MaxPool2d(2))


def block_pool_then_relu(c_in, c_out):
    import torch.nn as nn   # ReLU and max pooling commute: the same function
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=(3, 3), padding="same", bias=False),
                         nn.BatchNorm2d(c_out), nn.MaxPool2d(kernel_size=2, stride=2), nn.ReLU(inplace=True))


def block_module(c_in, c_out):
    import torch
    import torch.nn.functional as F

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
            self.bn = torch.nn.BatchNorm2d(c_out)

        def forward(self, x):
            return F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)

    return Block()


CORRECT = {
    "05.conv_output_size": [size_floor, size_math_floor, size_count, size_package],
    "05.conv2d": [conv_loops, conv_einsum, conv_im2col, conv_shift_add, conv_torch, conv_float32, conv_torch_float32,
                  conv_as_strided, conv_nested_lists],
    "05.max_pool2d": [pool_reshape, pool_loops, pool_strided_max, pool_torch, pool_float32, pool_torch_float32,
                      pool_via_nhwc],
    "05.conv_block": [block_sequential, block_pool_then_relu, block_module],
}


@pytest.mark.parametrize("exercise,answer", [(ex, fn) for ex, fns in CORRECT.items() for fn in fns],
                         ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, answer, seed):
    if exercise == "05.conv_block":
        pytest.importorskip("torch")
    result = run_check(exercise, answer, seed=seed)
    assert result.passed, result.message
    assert result.n_cases >= 3


def test_labels_do_not_depend_on_the_seed_for_fixed_properties():
    for exercise in CORRECT:
        spec = lookup(exercise)
        a = [c.label for c in spec.cases(np.random.default_rng(0))]
        b = [c.label for c in spec.cases(np.random.default_rng(1))]
        assert len(a) == len(b) and a[0] == b[0], exercise


def test_hints_never_give_the_solution():
    for exercise in CORRECT:
        spec = lookup(exercise)
        for text in (spec.hint, spec.recipe):
            for leak in ("// stride + 1", "+ 2 * padding - kernel_size", "einsum(\"", "bias=False", "padding=1",
                         ".max(axis=(3, 5))"):
                assert leak not in text, (exercise, leak)


# ----------------------------------------------------------------------------- named mistakes
def _mistake(exercise, answer, fragment, seed=0):
    result = run_check(exercise, answer, seed=seed)
    assert not result.passed, f"{getattr(answer, '__name__', answer)} passed"
    assert fragment in result.message, result.message
    return result


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_conv_output_size_mistakes(seed):
    ex = "05.conv_output_size"
    _mistake(ex, lambda n, k, stride=1, padding=0: (n + 2 * padding - k) // stride, "one position short", seed)
    _mistake(ex, lambda n, k, stride=1, padding=0: (n + padding - k) // stride + 1, "both sides", seed)
    _mistake(ex, lambda n, k, stride=1, padding=0: (n - k) // stride + 1, "padding is ignored", seed)
    _mistake(ex, lambda n, k, stride=1, padding=0: math.ceil((n + 2 * padding - k) / stride) + 1, "round down",
             seed)
    _mistake(ex, lambda n, k, stride=1, padding=0: (n + 2 * padding - k) / stride + 1, "whole number", seed)
    _mistake(ex, lambda n, k, stride=1, padding=0: float((n + 2 * padding - k) // stride + 1), "a float", seed)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_conv2d_mistakes(seed):
    ex = "05.conv2d"
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(x, w[:, :, ::-1, ::-1], b, stride, padding),
             "kernel flipped", seed)
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(x, w, np.zeros_like(b), stride, padding),
             "its bias", seed)
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(x, w, b, stride, 0), "padding is ignored", seed)
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(x, w, b, 1, padding), "stride is ignored", seed)
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(x, w.transpose(0, 1, 3, 2), b, stride, padding),
             "rows and columns of the kernel are swapped", seed)
    _mistake(ex, lambda x, w, b, stride=1, padding=0: conv_einsum(
        np.pad(x, ((0, 0), (0, 0), (2 * padding, 0), (2 * padding, 0))), w, b, stride, 0), "on *each* side", seed)


def test_conv2d_in_place_edit_is_rejected():
    def scribbles_on_x(x, w, b, stride=1, padding=0):
        out = conv_einsum(x, w, b, stride, padding)
        x[...] = 0.0
        return out

    result = run_check("05.conv2d", scribbles_on_x)
    assert not result.passed and "modified" in result.message


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_max_pool_mistakes(seed):
    ex = "05.max_pool2d"

    def mean_pool(x, size):
        n, c, h, w = x.shape
        return x[:, :, :h // size * size, :w // size * size].reshape(
            n, c, h // size, size, w // size, size).mean(axis=(3, 5))

    _mistake(ex, mean_pool, "average pooling", seed)
    _mistake(ex, lambda x, size: np.maximum(pool_reshape(x, size), 0.0), "started at 0", seed)
    _mistake(ex, lambda x, size: pool_reshape(x, size).max(axis=1), "pooled together", seed)

    def ceil_pool(x, size):
        n, c, h, w = x.shape
        hp, wp = -(-h // size) * size, -(-w // size) * size
        xp = np.pad(x, ((0, 0), (0, 0), (0, hp - h), (0, wp - w)), constant_values=-np.inf)
        return pool_reshape(xp, size)

    _mistake(ex, ceil_pool, "leftover row or column", seed)

    def overlapping(x, size):
        win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))
        return win.max(axis=(4, 5))

    _mistake(ex, overlapping, "windows overlap", seed)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_conv_block_mistakes(seed):
    nn = pytest.importorskip("torch.nn")
    ex = "05.conv_block"
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(),
                                              nn.MaxPool2d(2)), "bias=False", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, bias=False), nn.BatchNorm2d(co), nn.ReLU(),
                                              nn.MaxPool2d(2)), "padding=1", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co),
                                              nn.ReLU()), "2x2 max pooling", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.BatchNorm2d(ci), nn.Conv2d(ci, co, 3, padding=1, bias=False),
                                              nn.ReLU(), nn.MaxPool2d(2)), "c_out features", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.ReLU(),
                                              nn.MaxPool2d(2)), "needs a torch.nn.BatchNorm2d", seed)
    # the order matters once BatchNorm is trained (scales of both signs); the check sets such a state
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.ReLU(),
                                              nn.BatchNorm2d(co), nn.MaxPool2d(2)), "ReLU before BatchNorm", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.MaxPool2d(2),
                                              nn.BatchNorm2d(co), nn.ReLU()), "pooling before BatchNorm", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 5, padding=2, bias=False), nn.BatchNorm2d(co),
                                              nn.ReLU(), nn.MaxPool2d(2)), "trainable parameters", seed)
    _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co),
                                              nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)), "other numbers", seed)
    # right shapes and counts, wrong computation: the activation before BatchNorm is not the block asked for
    result = _mistake(ex, lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.Tanh(),
                                                       nn.BatchNorm2d(co), nn.MaxPool2d(2)), "other numbers", seed)
    assert "Hint" in result.message
    _mistake(ex, lambda ci, co: block_sequential(ci, co)(np.zeros(1)) if False else "block", "torch.nn.Module",
             seed)


# ----------------------------------------------------------------------------- judged outside the sandbox
def _block_run(answer, seed=0):
    """``05.conv_block`` the grader's way: cases, the answer run on their inputs (the probe observing the
    block), the record through the npz wire format."""
    from course_utils.checks import _core
    from course_utils.grade import _wire

    cases = list(lookup("05.conv_block").cases(np.random.default_rng(_core._seed_for("05.conv_block", seed))))
    return cases, _core.run_answer("05.conv_block", answer, _core.case_inputs(cases)), _wire


def test_conv_block_is_judged_outside_and_the_module_never_leaves(tmp_path):
    pytest.importorskip("torch")
    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    assert Judge()._decide("05.conv_block")
    cases, run, wire = _block_run(block_module)
    for case in cases:   # probe data: inputs only (arrays and the channel count), never the expected output
        name, data = case.probe
        assert name == "05.block" and set(data) == {"c_in", "x", "weight", "gamma", "beta", "mean", "var"}
    for r in run.runs:
        assert r.status == "ok" and type(r.got) is dict and r.got["out"].shape == r.got["out_shape"]
    wire.dump(wire.answer_record(run), str(tmp_path / "rec.npz"))
    back = wire.answer_from_record(wire.load(str(tmp_path / "rec.npz")))
    assert "__torchmodule__" not in str(wire.encode(wire.answer_record(run), []))
    assert _core.judge("05.conv_block", back, cases=cases).passed


def test_conv_block_forged_observations_fail():
    """A record forged without computing the block (right structure, but outputs it did not compute) fails."""
    torch = pytest.importorskip("torch")
    import copy

    from course_utils.checks import _core

    cases, run, _ = _block_run(block_sequential)
    assert _core.judge("05.conv_block", run, cases=cases).passed

    def forged(edit):
        fake = copy.deepcopy(run)
        for r, case in zip(fake.runs, cases):
            edit(r.got, case)
        return _core.judge("05.conv_block", fake, cases=cases)

    # the structure alone (counts, layers, shapes) without the output
    result = forged(lambda obs, case: obs.update(out=None))
    assert not result.passed and "other numbers" in result.message
    # plausible numbers: the right block's output with BatchNorm left at its initial state (the check's state
    # not applied), or slightly off
    def untrained(obs, case):
        d = case.probe[1]
        blk = block_sequential(*case.args)
        blk[0].weight.data = torch.from_numpy(d["weight"])
        obs["out"] = blk.eval()(torch.from_numpy(d["x"])).detach().double().numpy()
    assert not forged(untrained).passed
    assert not forged(lambda obs, case: obs.update(out=obs["out"] * 1.01 + 1e-3)).passed
    assert not forged(lambda obs, case: obs.update(out=np.zeros_like(obs["out"]))).passed
    # the block's output on another input, and a problem text, cannot pass either
    assert not forged(lambda obs, case: obs.update(out=obs["out"][::-1].copy())).passed
    assert not forged(lambda obs, case: obs.update(out_problem="calling the block raised X")).passed
