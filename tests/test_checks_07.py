"""Lesson 07 self-checks: several independent correct formulations pass (public and instructor seeds) and
predictable wrong answers fail with their named feedback (stubs and hidden tests: tests/test_hidden_tests.py)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from course_utils.checks import run_check

from checkhelp import mistake
from checkhelp import through_npz as _over_the_wire, plain_observation as _plain_observation

SEEDS = (0, 3071, 5519, 8264, 6402)   # the public self-check and the lesson's instructor (hidden-test) seeds


# ----------------------------------------------------------------------------- 07.attention
def _softmax_rows(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def att_where(Q, K, V, mask=None):
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -1e9)
    w = _softmax_rows(s)
    return w @ V, w


def att_einsum_inf(Q, K, V, mask=None):
    s = np.einsum("...qd,...kd->...qk", Q, K) / math.sqrt(Q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("...qk,...kv->...qv", w, V), w


def att_scipy(Q, K, V, mask=None):
    from scipy.special import softmax
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        s = s + np.where(mask, 0.0, -1e9)
    w = softmax(s, axis=-1)
    return w @ V, w


def att_torch(Q, K, V, mask=None):
    import torch
    q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~torch.from_numpy(np.asarray(mask, bool)), float("-inf"))
    w = torch.softmax(s, dim=-1)
    return (w @ v).numpy(), w.numpy()


def att_float32(Q, K, V, mask=None):
    out, w = att_where(*(np.asarray(a, np.float32) for a in (Q, K, V)), mask)
    return out, w


# ----------------------------------------------------------------------------- 07.padding_mask
def mask_where(key_mask, causal=False):
    allowed = np.asarray(key_mask, bool)[:, None, :]
    if causal:
        T = allowed.shape[-1]
        allowed = allowed & np.tril(np.ones((T, T), bool))
    return np.where(allowed, 0.0, -1e9)


def mask_loops(key_mask, causal=False):
    B, T = key_mask.shape
    out = np.zeros((B, T if causal else 1, T))
    for b in range(B):
        for i in range(out.shape[1]):
            for j in range(T):
                if not key_mask[b, j] or (causal and j > i):
                    out[b, i, j] = -1e9
    return out


def mask_arith(key_mask, causal=False):
    m = (1.0 - np.asarray(key_mask, np.float32))[:, None, :] * np.float32(-1e9)
    if causal:
        T = m.shape[-1]
        m = m + np.triu(np.full((T, T), -1e9, np.float32), k=1)[None]
        m = np.minimum(m, 0) * 1.0
        m = np.where(m < 0, np.float32(-1e9), np.float32(0))
    return m


# ----------------------------------------------------------------------------- 07.split_heads
def split_reshape(x, heads):
    B, T, E = x.shape
    return x.reshape(B, T, heads, E // heads).transpose(0, 2, 1, 3)


def split_stack(x, heads):
    d = x.shape[-1] // heads
    return np.stack([x[..., h * d:(h + 1) * d] for h in range(heads)], axis=1)


def split_einops_like(x, heads):
    return np.moveaxis(np.asarray(x).reshape(*x.shape[:2], heads, -1), 2, 1)


def split_torch(x, heads):
    import torch
    t = torch.from_numpy(np.asarray(x))
    B, T, E = t.shape
    return t.view(B, T, heads, E // heads).permute(0, 2, 1, 3)


# ----------------------------------------------------------------------------- 07.cross_attention
def _xattn_class(impl="manual", invert=False, scale="head", softmax_axis=-1, out_proj=True):
    import torch
    from torch import nn

    class CrossAttention(nn.Module):
        def __init__(self, d_q, d_kv, width, heads):
            super().__init__()
            self.h, self.w = heads, width
            self.q, self.k, self.v = nn.Linear(d_q, width), nn.Linear(d_kv, width), nn.Linear(d_kv, width)
            self.o = nn.Linear(width, width)

        def forward(self, x_q, x_kv, key_mask=None):
            B, Tq, Tk, dh = x_q.shape[0], x_q.shape[1], x_kv.shape[1], self.w // self.h
            q = self.q(x_q).view(B, Tq, self.h, dh).transpose(1, 2)
            k = self.k(x_kv).view(B, Tk, self.h, dh).transpose(1, 2)
            v = self.v(x_kv).view(B, Tk, self.h, dh).transpose(1, 2)
            if impl == "einsum":
                s = torch.einsum("bhqd,bhkd->bhqk", q, k)
            else:
                s = q @ k.transpose(-1, -2)
            s = s / math.sqrt({"head": dh, "width": self.w, "none": 1}[scale])
            if key_mask is not None:
                m = ~key_mask if invert else key_mask
                s = s.masked_fill(~m[:, None, None, :], float("-inf") if impl == "einsum" else -1e9)
            w = torch.softmax(s, dim=softmax_axis)
            out = (w @ v).transpose(1, 2).reshape(B, Tq, self.w)
            return (self.o(out) if out_proj else out), w

    CrossAttention.__name__ = f"xattn_{impl}"
    return CrossAttention


def _xattn_sdpa():
    import torch
    from torch import nn

    class XattnSDPA(nn.Module):
        def __init__(self, d_q, d_kv, width, heads):
            super().__init__()
            self.heads = heads
            self.q, self.k, self.v = nn.Linear(d_q, width), nn.Linear(d_kv, width), nn.Linear(d_kv, width)
            self.o = nn.Linear(width, width)

        def forward(self, x_q, x_kv, key_mask=None):
            def split(x):
                B, T, W = x.shape
                return x.reshape(B, T, self.heads, W // self.heads).permute(0, 2, 1, 3)

            q, k, v = split(self.q(x_q)), split(self.k(x_kv)), split(self.v(x_kv))
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if key_mask is not None:
                s = s + (~key_mask)[:, None, None, :].float() * -1e9
            w = s.softmax(-1)
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=None if key_mask is None else key_mask[:, None, None, :])
            return self.o(out.permute(0, 2, 1, 3).flatten(2)), w

    return XattnSDPA


def xattn_manual(*a):
    return _xattn_class("manual")(*a)


def xattn_einsum(*a):
    return _xattn_class("einsum")(*a)


def xattn_sdpa(*a):
    return _xattn_sdpa()(*a)


CORRECT = {
    "07.attention": [att_where, att_einsum_inf, att_scipy, att_torch, att_float32],
    "07.padding_mask": [mask_where, mask_loops, mask_arith],
    "07.split_heads": [split_reshape, split_stack, split_einops_like, split_torch],
    "07.cross_attention": [xattn_manual, xattn_einsum, xattn_sdpa],
}


@pytest.mark.parametrize("exercise,answer", [(e, f) for e, fs in CORRECT.items() for f in fs],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, answer, seed):
    if exercise == "07.cross_attention" or "torch" in answer.__name__:
        pytest.importorskip("torch")
    result = run_check(exercise, answer, seed=seed, record=False)
    assert result.passed, result.message


def test_wrong_shape_and_none_fail_clearly():
    r = run_check("07.attention", lambda Q, K, V, mask=None: None, record=False)
    assert not r.passed and "return" in r.message
    r = run_check("07.split_heads", lambda x, h: x, record=False)
    assert not r.passed and "wrong shape" in r.message
    r = run_check("07.padding_mask", lambda km, causal=False: None, record=False)
    assert not r.passed and "return" in r.message


def test_attention_mistakes():
    def variant(scale=None, axis=-1, invert=False, ignore=False, swap=False):
        def f(Q, K, V, mask=None):
            d = Q.shape[-1]
            s = Q @ np.swapaxes(K, -1, -2) / (np.sqrt(d) if scale is None else scale(d))
            if mask is not None and not ignore:
                s = np.where(~mask if invert else mask, s, -1e9)
            w = np.exp(s - s.max(axis, keepdims=True))
            w = w / w.sum(axis, keepdims=True)
            return (w, w @ V) if swap else (w @ V, w)
        return f

    mistake("07.attention", variant(scale=lambda d: 1.0), "not scaled")
    mistake("07.attention", variant(scale=lambda d: d), "divided by d_k")

    def by_dv(Q, K, V, mask=None):
        return variant(scale=lambda d: np.sqrt(V.shape[-1]))(Q, K, V, mask)

    mistake("07.attention", by_dv, "VALUES' width")
    mistake("07.attention", variant(axis=-2), "wrong axis")
    mistake("07.attention", variant(invert=True), "mask is inverted")
    mistake("07.attention", variant(ignore=True), "mask has no effect")
    mistake("07.attention", variant(swap=True), "swapped")

    def naive(Q, K, V, mask=None):          # no max subtraction: overflows on the large-score case
        s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
        if mask is not None:
            s = np.where(mask, s, -1e9)
        w = np.exp(s)
        w = w / w.sum(-1, keepdims=True)
        return w @ V, w

    r = run_check("07.attention", naive, record=False)
    assert not r.passed and "stable" in r.message and "large scores" in r.message


def test_padding_mask_mistakes():
    mistake("07.padding_mask", lambda km, causal=False: np.where(mask_where(km, causal) == 0, -1e9, 0.0), "inverted")
    mistake("07.padding_mask", lambda km, causal=False: np.where(mask_where(km, causal) == 0, 0.0, -np.inf), "-inf")
    mistake("07.padding_mask", lambda km, causal=False: np.where(km, 0.0, -1e9), "(B, T)")
    mistake("07.padding_mask", lambda km, causal=False: np.asarray(km)[:, None, :], "boolean array")

    def future(km, causal=False):
        allowed = np.asarray(km, bool)[:, None, :]
        if causal:
            allowed = allowed & np.triu(np.ones((km.shape[1],) * 2, bool))
        return np.where(allowed, 0.0, -1e9)

    mistake("07.padding_mask", future, "wrong way round")

    def strict(km, causal=False):
        allowed = np.asarray(km, bool)[:, None, :]
        if causal:
            allowed = allowed & np.tril(np.ones((km.shape[1],) * 2, bool), -1)
        return np.where(allowed, 0.0, -1e9)

    mistake("07.padding_mask", strict, "diagonal is masked")
    mistake("07.padding_mask", lambda km, causal=False: mask_where(km, False), "depends on the query too")


def test_split_heads_mistakes():
    mistake("07.split_heads", lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), "reshaped straight")
    mistake("07.split_heads", lambda x, h: x.reshape(*x.shape[:2], -1, h).transpose(0, 3, 1, 2), "interleaved")
    mistake("07.split_heads", lambda x, h: x.reshape(*x.shape[:2], h, -1), "heads axis")


def test_cross_attention_mistakes():
    pytest.importorskip("torch")
    mistake("07.cross_attention", _xattn_class(scale="none"), "not scaled")
    mistake("07.cross_attention", _xattn_class(scale="width"), "sqrt(width)")
    mistake("07.cross_attention", _xattn_class(softmax_axis=-2), "over the queries")
    mistake("07.cross_attention", _xattn_class(out_proj=False), "not projected")
    r = run_check("07.cross_attention", _xattn_class(invert=True), record=False)
    assert not r.passed and "inverted" in r.message, r.message

    import torch
    from torch import nn

    class Detached(_xattn_class()):
        def forward(self, x_q, x_kv, key_mask=None):
            out, w = super().forward(x_q, x_kv, key_mask)
            return out.detach(), w

    r = run_check("07.cross_attention", Detached, record=False)
    assert not r.passed and "requires_grad" in r.message

    class Named(nn.Module):
        def __init__(self, d_q, d_kv, width, heads):
            super().__init__()
            self.query = nn.Linear(d_q, width)

        def forward(self, x_q, x_kv, key_mask=None):
            return self.query(x_q), torch.zeros(1)

    r = run_check("07.cross_attention", Named, record=False)
    assert not r.passed and "attribute `q`" in r.message


def test_lesson07_checks_import_only_numpy():
    import subprocess
    import sys

    code = ("import sys; from course_utils.checks import run_check; "
            "r = run_check('07.split_heads', lambda x, h: x); assert not r.passed; "
            "bad = [m for m in ('scipy', 'torch', 'keras', 'course_utils.features', 'course_utils.data') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------- the lesson's cells
def _lesson_cells():
    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "07_attention.ipynb").read_text())
    return nb["cells"]


def test_lesson_structure():
    cells = _lesson_cells()
    text = "\n".join("".join(c["source"]) for c in cells)
    assert "USE_MY_CODE = True" in text
    for exercise in CORRECT:
        assert f'use_mine("{exercise}"' in text, exercise
    assert "### EXERCISE 07.experiment" in text          # the experiment-and-explain exercise
    for heading in ("## Common pitfalls", "## Summary", "## References and further reading",
                    "## Glossary (English / 中文)", "### Plan", "### Objectives"):
        assert heading in text, heading
    for parity in ("nn.MultiheadAttention(", "keras.layers.MultiHeadAttention(", "scaled_dot_product_attention",
                   "MT.TransformerBlock(", "MK.TransformerBlock(", "ft.torch_gru_classifier(",
                   "ft.keras_gru_classifier("):
        assert parity in text, parity
    seeds = [i for i, c in enumerate(cells) if "manual_seed(0)" in "".join(c["source"])]
    assert len(seeds) >= 3


def test_recipes_do_not_spell_out_the_solution():
    # the fuller hint of the 3rd failure is in words: no line of code that can be pasted as the answer
    import course_utils.checks.lesson07  # noqa: F401  (registers the checks)
    from course_utils.checks._core import REGISTRY as registry
    for exercise in CORRECT:
        recipe = registry[exercise].recipe
        for code in ("np.where(allowed, 0.0, -1e9)", ".transpose(0, 2, 1, 3)", "Q @ np.swapaxes", "self.o((weights"):
            assert code not in recipe, (exercise, code)


# ----------------------------------------------------------------------------- 07.cross_attention judged outside
# The grader runs the module where the learner's kernel is (inside its sandbox) and judges only the probe's
# observations outside: outputs, attention weights and the gradient VALUES of sum(output * a fixed cotangent).
def _xattn_cases(seed=0):
    from course_utils.checks import _core

    return list(_core.lookup("07.cross_attention").cases(
        np.random.default_rng(_core._seed_for("07.cross_attention", seed))))


def test_cross_attention_is_judged_outside(tmp_path):
    pytest.importorskip("torch")
    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("07.cross_attention"), judge.reasons
    for seed in (0, SEEDS[1]):
        cases = _xattn_cases(seed)
        for case in cases:  # inputs only: the weights to set, the inputs, the mask and the cotangent
            assert case.probe[0] == "07.cross_attention"
            assert set(case.probe[1]) == {"params", "xq", "xkv", "key_mask", "cotangent"}
        run = _core.run_answer("07.cross_attention", xattn_manual, _core.case_inputs(cases))
        for one in run.runs:  # the module never leaves: its observations are plain data
            assert one.status == "ok" and _plain_observation(one.got), one.got
            assert set(one.got["grads"]) == {f"{n}.{p}" for n in "qkvo" for p in ("weight", "bias")}
        result = _core.judge("07.cross_attention", _over_the_wire(run, tmp_path), seed, cases=cases)
        assert result.passed, result.message
        assert result.message == run_check("07.cross_attention", xattn_manual, seed=seed, record=False).message


def test_cross_attention_forged_observations_fail(tmp_path):
    pytest.importorskip("torch")
    import copy

    from course_utils.checks import _core

    cases = _xattn_cases()
    honest = _core.run_answer("07.cross_attention", xattn_manual, _core.case_inputs(cases))
    observations = [one.got for one in honest.runs]

    def judged(forge):
        """A hand-made record: the honest observations of every case, the first one changed by ``forge``."""
        obs = [copy.deepcopy(o) for o in observations]
        obs[0] = forge(obs[0])
        run = _core.AnswerRun(name="xattn_manual", params=["d_q", "d_kv", "width", "heads"],
                              runs=[_core.CaseRun("ok", got=o, args_after=c.args, kwargs_after=dict(c.kwargs))
                                    for o, c in zip(obs, cases)])
        return _core.judge("07.cross_attention", _over_the_wire(run, tmp_path), 0, cases=cases)

    assert judged(lambda o: o).passed   # the honest record passes

    def flag_only(o):            # "attached to autograd", without any gradient
        return dict(o, grads={})

    def scaled_grads(o):         # plausible numbers, 5 % off
        return dict(o, grads={k: None if g is None else 1.05 * g for k, g in o["grads"].items()})

    def swapped_grads(o):        # the right numbers under the wrong names
        g = dict(o["grads"])
        g["q.weight"], g["v.weight"] = o["grads"]["v.weight"], o["grads"]["q.weight"]
        return dict(o, grads=g)

    def nudged_output(o):
        return dict(o, out=o["out"] + np.float32(1e-3))

    def just_flags(o):
        return {"problem": None, "requires_grad": True}

    for forge, needle in ((flag_only, "no gradient reaches self.q.weight"), (scaled_grads, "gradient with respect"),
                          (swapped_grads, "gradient with respect"), (nudged_output, "wrong value in the output"),
                          (just_flags, "got None in the output")):
        result = judged(forge)
        assert not result.passed and needle in result.message, (forge.__name__, result.message)
    result = judged(lambda o: "✓ passed")  # not even observations
    assert not result.passed


def test_cross_attention_values_without_gradients_fail():
    pytest.importorskip("torch")
    import torch
    from torch import nn

    class Rewrapped(_xattn_class()):   # the right numbers, re-made as a fresh leaf: nothing reaches the layers
        def forward(self, x_q, x_kv, key_mask=None):
            out, w = super().forward(x_q, x_kv, key_mask)
            return torch.tensor(out.detach().numpy(), requires_grad=True), w

    r = run_check("07.cross_attention", Rewrapped, record=False)
    assert not r.passed and "no gradient reaches self.q.weight" in r.message, r.message

    class HalfDetached(nn.Module):  # values right, the keys cut off: gradients reach q, v, o only
        def __init__(self, d_q, d_kv, width, heads):
            super().__init__()
            self.h = heads
            self.q, self.k, self.v = nn.Linear(d_q, width), nn.Linear(d_kv, width), nn.Linear(d_kv, width)
            self.o = nn.Linear(width, width)

        def forward(self, x_q, x_kv, key_mask=None):
            def split(x):
                return x.reshape(*x.shape[:2], self.h, -1).transpose(1, 2)

            q, v = split(self.q(x_q)), split(self.v(x_kv))
            k = split(nn.functional.linear(x_kv, self.k.weight.detach(), self.k.bias.detach()))
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if key_mask is not None:
                s = s.masked_fill(~key_mask[:, None, None, :], -1e9)
            w = s.softmax(-1)
            return self.o((w @ v).transpose(1, 2).flatten(2)), w

    r = run_check("07.cross_attention", HalfDetached, record=False)
    assert not r.passed and "no gradient reaches self.k.weight" in r.message, r.message
