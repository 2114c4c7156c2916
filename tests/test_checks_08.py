"""Lesson 08 self-checks: several independent correct formulations pass (public and instructor seeds),
the stub gets "not implemented", and predictable wrong answers fail with their named feedback."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks import run_check

from checkhelp import mistake, stub
from checkhelp import through_npz as _over_the_wire, plain_observation as _plain_observation

SEEDS = (0, 5821, 2694, 3147, 7310, 11)   # the public self-check, the four hidden-test seeds and one more


def _none(*args, **kwargs):
    return None


# ----------------------------------------------------------------------------- 08.block_normalize
def block_vectorised(X, train):
    X = np.asarray(X, dtype=np.float64)
    ref = X[np.asarray(train, dtype=bool)]
    return (X - ref.mean(axis=0)) / np.sqrt(ref.var(axis=0).sum())


def block_trace(X, train):   # the total variance as the trace of the covariance matrix
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X[train].mean(axis=0)
    cov = Xc[train].T @ Xc[train] / train.sum()
    return Xc / np.sqrt(np.trace(cov))


def block_frobenius(X, train):   # sqrt(total variance) = Frobenius norm of the centred training rows / sqrt(n)
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X[train].mean(axis=0)
    return Xc * np.sqrt(train.sum()) / np.linalg.norm(Xc[train])


def block_zscore(X, train):
    X = np.asarray(X, dtype=np.float64)
    sd = X[train].std(axis=0)
    return (X - X[train].mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def block_all_rows(X, train):
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0).sum())


def block_ddof1(X, train):
    X = np.asarray(X, dtype=np.float64)
    return (X - X[train].mean(axis=0)) / np.sqrt(X[train].var(axis=0, ddof=1).sum())


def block_by_variance(X, train):
    X = np.asarray(X, dtype=np.float64)
    return (X - X[train].mean(axis=0)) / X[train].var(axis=0).sum()


def block_not_centred(X, train):
    X = np.asarray(X, dtype=np.float64)
    return X / np.sqrt(X[train].var(axis=0).sum())


# ----------------------------------------------------------------------------- 08.late_average
def late_tensordot(probs, weights=None):
    P = np.asarray(probs, dtype=np.float64)
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=np.float64)
    return np.tensordot(w / w.sum(), P, axes=1)


def late_np_average(probs, weights=None):
    return np.average(np.asarray(probs, dtype=float), axis=0, weights=weights)


def late_loop(probs, weights=None):
    weights = [1.0] * len(probs) if weights is None else list(weights)
    total = sum(weights)
    out = 0.0
    for w, p in zip(weights, probs):
        out = out + (w / total) * np.asarray(p, dtype=float)
    return np.asarray(out)


def late_unnormalised(probs, weights=None):
    P = np.asarray(probs, dtype=float)
    return P.mean(axis=0) if weights is None else np.tensordot(np.asarray(weights, float), P, axes=1)


def late_rows(probs, weights=None):
    return np.asarray(probs, dtype=float).mean(axis=1)


def late_ignore_weights(probs, weights=None):
    return np.asarray(probs, dtype=float).mean(axis=0)


# ----------------------------------------------------------------------------- 08.bilinear_fusion
def bil_einsum(x, y, W, b):
    return np.einsum("bi,kij,bj->bk", x, W, y) + b


def bil_matmul(x, y, W, b):
    return ((x[:, None, None, :] @ W[None]) @ y[:, None, :, None])[..., 0, 0] + b


def bil_torch(x, y, W, b):
    import torch
    return torch.nn.functional.bilinear(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64),
                                        torch.as_tensor(W, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))


def bil_loop(x, y, W, b):
    out = np.zeros((x.shape[0], W.shape[0]))
    for n in range(x.shape[0]):
        for k in range(W.shape[0]):
            out[n, k] = x[n] @ W[k] @ y[n] + b[k]
    return out


def bil_transposed(x, y, W, b):
    return np.einsum("bj,kij,bi->bk", x, W, y) + b


def bil_no_bias(x, y, W, b):
    return np.einsum("bi,kij,bj->bk", x, W, y)


def bil_kb(x, y, W, b):
    return (np.einsum("bi,kij,bj->bk", x, W, y) + b).T


# ----------------------------------------------------------------------------- 08.softmax_fusion
def _fusion_classes():
    import torch
    from torch import nn

    class Sol(nn.Module):
        def __init__(self, dims, hidden):
            super().__init__()
            self.modalities = list(dims)
            self.proj = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in dims.items()})
            self.logits = nn.Parameter(torch.zeros(len(dims)))

        def forward(self, inputs):
            w = torch.softmax(self.logits, dim=0)
            return sum(w[i] * torch.tanh(self.proj[m](inputs[m])) for i, m in enumerate(self.modalities))

        def weights(self):
            w = torch.softmax(self.logits.detach(), dim=0)
            return {m: float(w[i]) for i, m in enumerate(self.modalities)}

    class Stacked(Sol):   # another correct formulation: stack, then a weighted sum with einsum
        def forward(self, inputs):
            h = torch.stack([torch.tanh(self.proj[m](inputs[m])) for m in self.modalities], dim=1)  # (B, M, H)
            return torch.einsum("m,bmh->bh", torch.softmax(self.logits, 0), h)

        def weights(self):
            return dict(zip(self.modalities, torch.softmax(self.logits, 0).tolist()))

    class ExpNormalised(Sol):   # softmax written out
        def forward(self, inputs):
            e = torch.exp(self.logits - self.logits.max())
            w = e / e.sum()
            out = 0
            for i, m in enumerate(self.modalities):
                out = out + w[i] * torch.tanh(self.proj[m](inputs[m]))
            return out

    class Equal(Sol):
        def forward(self, inputs):
            return sum(torch.tanh(self.proj[m](inputs[m])) for m in self.modalities) / len(self.modalities)

    class RawLogits(Sol):
        def forward(self, inputs):
            return sum(self.logits[i] * torch.tanh(self.proj[m](inputs[m])) for i, m in enumerate(self.modalities))

    class NoTanh(Sol):
        def forward(self, inputs):
            w = torch.softmax(self.logits, dim=0)
            return sum(w[i] * self.proj[m](inputs[m]) for i, m in enumerate(self.modalities))

    class Detached(Sol):
        def forward(self, inputs):
            w = torch.softmax(self.logits, dim=0).detach()
            return sum(w[i] * torch.tanh(self.proj[m](inputs[m])) for i, m in enumerate(self.modalities))

    class BadNames(nn.Module):
        def __init__(self, dims, hidden):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(d, hidden) for d in dims.values())

    class StubModule(nn.Module):
        def __init__(self, dims, hidden):
            raise NotImplementedError()

    return dict(Sol=Sol, Stacked=Stacked, ExpNormalised=ExpNormalised, Equal=Equal, RawLogits=RawLogits,
                NoTanh=NoTanh, Detached=Detached, BadNames=BadNames, StubModule=StubModule)


CORRECT = {
    "08.block_normalize": (block_vectorised, block_trace, block_frobenius),
    "08.late_average": (late_tensordot, late_np_average, late_loop),
    "08.bilinear_fusion": (bil_einsum, bil_matmul, bil_torch, bil_loop),
}


@pytest.mark.parametrize("exercise", sorted(CORRECT))
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, seed):
    for fn in CORRECT[exercise]:
        result = run_check(exercise, fn, seed=seed, record=False)
        assert result.passed, (fn.__name__, result.message)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_softmax_fusion_correct_formulations(seed):
    cls = _fusion_classes()
    for name in ("Sol", "Stacked", "ExpNormalised"):
        result = run_check("08.softmax_fusion", cls[name], seed=seed, record=False)
        assert result.passed, (name, result.message)


@pytest.mark.parametrize("exercise", sorted(CORRECT))
def test_stub_and_none(exercise):
    result = run_check(exercise, stub, record=False)
    assert not result.passed and "not implemented" in result.message
    result = run_check(exercise, _none, record=False)
    assert not result.passed and "None" in result.message, result.message


def test_softmax_fusion_stub_and_structure():
    cls = _fusion_classes()
    result = run_check("08.softmax_fusion", cls["StubModule"], record=False)
    assert not result.passed and "not implemented" in result.message
    result = run_check("08.softmax_fusion", cls["BadNames"], record=False)
    assert not result.passed and "self.proj" in result.message, result.message


@pytest.mark.parametrize("answer, needle", [
    (block_zscore, "standardised on its own"), (block_all_rows, "training rows only"), (block_ddof1, "ddof=1"),
    (block_by_variance, "square root"), (block_not_centred, "not centred"),
])
def test_block_mistakes(answer, needle):
    mistake("08.block_normalize", answer, needle)


def block_float32(X, train):   # right formula, but computed and returned in float32
    X = np.asarray(X, dtype=np.float32)
    return (X - X[train].mean(axis=0)) / np.sqrt(X[train].var(axis=0).sum())


def test_block_float32_named():
    mistake("08.block_normalize", block_float32, "float64")


def test_block_wrong_shape():
    result = run_check("08.block_normalize", lambda X, train: block_vectorised(X, train)[:, :1], record=False)
    assert not result.passed and "shape" in result.message


@pytest.mark.parametrize("answer, needle", [
    (late_unnormalised, "divide them by their sum"), (late_rows, "averaged over the utterances"),
    (late_ignore_weights, "plain mean"),
])
def test_late_mistakes(answer, needle):
    mistake("08.late_average", answer, needle)


@pytest.mark.parametrize("answer, needle", [
    (bil_transposed, "swapped"), (bil_no_bias, "bias b"), (bil_kb, "transpose"),
])
def test_bilinear_mistakes(answer, needle):
    mistake("08.bilinear_fusion", answer, needle)


@pytest.mark.parametrize("name, needle", [
    ("Equal", "equal weights"), ("RawLogits", "raw logits"), ("NoTanh", "tanh is missing"),
    ("Detached", "no gradient reaches self.logits"),
])
def test_softmax_fusion_mistakes(name, needle):
    mistake("08.softmax_fusion", _fusion_classes()[name], needle)


# ----------------------------------------------------------------------------- 08.softmax_fusion judged outside
# The grader runs the module inside its sandbox and judges only the probe's observations outside: the starting
# logits, the output, the gradient VALUES of sum(output * a fixed cotangent) and what weights() returns.
def _fusion_cases(seed=0):
    from course_utils.checks import _core

    return list(_core.lookup("08.softmax_fusion").cases(
        np.random.default_rng(_core._seed_for("08.softmax_fusion", seed))))


def test_softmax_fusion_is_judged_outside(tmp_path):
    pytest.importorskip("torch")
    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("08.softmax_fusion"), judge.reasons
    sol = _fusion_classes()["Sol"]
    for seed in (0, SEEDS[1]):
        cases = _fusion_cases(seed)
        for case in cases:  # inputs only
            assert case.probe[0] == "08.softmax_fusion"
            assert set(case.probe[1]) == {"mods", "dims", "hidden", "weights", "biases", "logits", "xs",
                                          "cotangent"}
        run = _core.run_answer("08.softmax_fusion", sol, _core.case_inputs(cases))
        for one in run.runs:  # the module never leaves: its observations are plain data
            assert one.status == "ok" and _plain_observation(one.got), one.got
        result = _core.judge("08.softmax_fusion", _over_the_wire(run, tmp_path), seed, cases=cases)
        assert result.passed, result.message
        assert result.message == run_check("08.softmax_fusion", sol, seed=seed, record=False).message


def test_softmax_fusion_forged_observations_fail(tmp_path):
    pytest.importorskip("torch")
    import copy

    from course_utils.checks import _core

    cases = _fusion_cases()
    honest = _core.run_answer("08.softmax_fusion", _fusion_classes()["Sol"], _core.case_inputs(cases))
    observations = [one.got for one in honest.runs]

    def judged(forge):
        """A hand-made record: the honest observations of every case, the first one changed by ``forge``."""
        obs = [copy.deepcopy(o) for o in observations]
        obs[0] = forge(obs[0])
        run = _core.AnswerRun(name="Sol", params=["dims", "hidden"],
                              runs=[_core.CaseRun("ok", got=o, args_after=c.args, kwargs_after=dict(c.kwargs))
                                    for o, c in zip(obs, cases)])
        return _core.judge("08.softmax_fusion", _over_the_wire(run, tmp_path), 0, cases=cases)

    assert judged(lambda o: o).passed   # the honest record passes

    def flag_only(o):            # "attached to autograd", without any gradient
        return dict(o, grads={})

    def finite_logits_grad(o):   # a finite gradient for the logits, but not the right one
        return dict(o, grads=dict(o["grads"], logits=np.ones_like(o["grads"]["logits"])))

    def scaled_proj_grads(o):    # plausible numbers, 5 % off
        return dict(o, grads={k: g if k == "logits" else 1.05 * g for k, g in o["grads"].items()})

    def uniform_weights(o):
        return dict(o, weights_values=np.full_like(o["weights_values"], 1.0 / len(o["weights_values"])))

    def just_flags(o):
        return {"problem": None, "call_problem": None, "logits0": o["logits0"], "requires_grad": True,
                "weights_floats": True}

    for forge, needle in ((flag_only, "no gradient reaches self.logits"),
                          (finite_logits_grad, "gradient with respect to self.logits"),
                          (scaled_proj_grads, "gradient with respect to self.proj."),
                          (uniform_weights, "module.weights() returned"), (just_flags, "got None")):
        result = judged(forge)
        assert not result.passed and needle in result.message, (forge.__name__, result.message)
    assert not judged(lambda o: "✓ passed").passed  # not even observations


def test_softmax_fusion_wrong_gradients_fail():
    pytest.importorskip("torch")
    import torch

    Sol = _fusion_classes()["Sol"]

    class StraightThrough(Sol):   # the right values, but the logits' gradient skips the softmax's Jacobian
        def forward(self, inputs):
            w = torch.softmax(self.logits, dim=0).detach() + self.logits - self.logits.detach()
            return sum(w[i] * torch.tanh(self.proj[m](inputs[m])) for i, m in enumerate(self.modalities))

    r = run_check("08.softmax_fusion", StraightThrough, record=False)
    assert not r.passed and "gradient with respect to self.logits differs" in r.message, r.message

    class Rewrapped(Sol):         # the right values, re-made as a fresh leaf: nothing reaches the layers
        def forward(self, inputs):
            return torch.tensor(super().forward(inputs).detach().numpy(), requires_grad=True)

    r = run_check("08.softmax_fusion", Rewrapped, record=False)
    assert not r.passed and "no gradient reaches self.logits" in r.message, r.message
