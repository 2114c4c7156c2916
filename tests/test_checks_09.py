"""Lesson 09 self-checks: several independent correct formulations pass (public and instructor seeds), wrong
shapes and predictable wrong answers fail with their named feedback, and
the check modules' NumPy references equal the package's models (TensorFusion, LowRankFusion, GatedFusion)."""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils.checks import run_check

from checkhelp import mistake
from checkhelp import through_npz as _over_the_wire, plain_observation as _plain_observation

SEEDS = (0, 5171, 2237, 8606)   # the public self-check, the lesson's hidden seeds and one more
torch = pytest.importorskip("torch")
F = torch.nn.functional


def _ones(h):
    h = np.asarray(h, dtype=float)
    return np.concatenate([h, np.ones((len(h), 1))], axis=1)


# ----------------------------------------------------------------------------- 09.tfn_fuse
def tfn_einsum(hs):
    z = _ones(hs[0])
    for h in hs[1:]:
        z = np.einsum("bi,bj->bij", z, _ones(h)).reshape(len(z), -1)
    return z


def tfn_kron_loop(hs):
    rows = []
    for b in range(len(hs[0])):
        v = np.ones(1)
        for h in hs:
            v = np.kron(v, np.append(h[b], 1.0))
        rows.append(v)
    return np.array(rows)


def tfn_torch32(hs):
    z = None
    for h in hs:
        e = torch.cat([torch.as_tensor(h, dtype=torch.float32), torch.ones(len(h), 1)], dim=1)
        z = e if z is None else torch.bmm(z[:, :, None], e[:, None, :]).flatten(1)
    return z.numpy()


def tfn_functools(hs):
    return functools.reduce(lambda z, e: (z[:, :, None] * e[:, None, :]).reshape(len(z), -1), [_ones(h) for h in hs])


# ----------------------------------------------------------------------------- 09.lmf_fuse
def lmf_einsum(hs, factors, lam, bias):
    prod = 1.0
    for h, W in zip(hs, factors):
        prod = prod * np.einsum("bi,rio->rbo", _ones(h), W)
    return np.einsum("r,rbo->bo", lam, prod) + bias


def lmf_loops(hs, factors, lam, bias):
    out = np.zeros((len(hs[0]), np.shape(factors[0])[2]))
    for i in range(len(lam)):
        term = np.ones_like(out)
        for h, W in zip(hs, factors):
            term = term * (_ones(h) @ W[i])
        out += lam[i] * term
    return out + bias


def lmf_full_tensor(hs, factors, lam, bias):
    """Build TFN's full weight from the factors and apply it to the flattened tensor (the equivalence)."""
    r, f = len(lam), np.shape(factors[0])[2]
    W = None
    for Wm in factors:   # W[i, j1, j2, ..., o]
        W = Wm if W is None else (W[:, :, None, :] * Wm[:, None, :, :]).reshape(r, -1, f)
    W = np.einsum("r,rjo->jo", lam, W)
    return tfn_einsum(hs) @ W + bias


def lmf_torch32(hs, factors, lam, bias):
    prod = None
    for h, W in zip(hs, factors):
        e = torch.as_tensor(_ones(h), dtype=torch.float32)
        p = torch.einsum("bi,rio->rbo", e, torch.as_tensor(W, dtype=torch.float32))
        prod = p if prod is None else prod * p
    return (torch.einsum("r,rbo->bo", torch.as_tensor(lam, dtype=torch.float32), prod)
            + torch.as_tensor(bias, dtype=torch.float32)).numpy()


# ----------------------------------------------------------------------------- 09.gmu
def gmu_stack(xs, projections, gate):
    z = torch.sigmoid(gate(torch.cat(xs, dim=1))).reshape(len(xs[0]), len(xs), -1)
    hm = torch.stack([torch.tanh(p(x)) for p, x in zip(projections, xs)], dim=1)
    return (z * hm).sum(dim=1), z


def gmu_loop(xs, projections, gate):
    a = gate(torch.cat(xs, dim=1))
    chunks = torch.chunk(a, len(xs), dim=1)
    h = 0
    for c, p, x in zip(chunks, projections, xs):
        h = h + torch.sigmoid(c) * torch.tanh(p(x))
    return h, torch.stack([torch.sigmoid(c) for c in chunks], dim=1)


def gmu_functional(xs, projections, gate):
    cat = torch.cat(xs, dim=1)
    z = 1.0 / (1.0 + torch.exp(-F.linear(cat, gate.weight, gate.bias)))
    z = z.view(cat.shape[0], len(xs), projections[0].out_features)
    hm = torch.stack([torch.tanh(F.linear(x, p.weight, p.bias)) for p, x in zip(projections, xs)], dim=1)
    return torch.einsum("bmh,bmh->bh", z, hm), z


# ----------------------------------------------------------------------------- 09.info_nce
def nce_cross_entropy(a, b, temperature):
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    t = torch.arange(len(a))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2


def nce_log_softmax(a, b, temperature):
    logits = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1) / temperature
    rows = -torch.diagonal(torch.log_softmax(logits, dim=1)).mean()
    cols = -torch.diagonal(torch.log_softmax(logits, dim=0)).mean()
    return 0.5 * (rows + cols)


def nce_logsumexp(a, b, temperature):
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    s = (a @ b.T) / temperature
    d = torch.diagonal(s)
    return ((torch.logsumexp(s, 1) - d).mean() + (torch.logsumexp(s, 0) - d).mean()) / 2


# ----------------------------------------------------------------------------- 09.recall_at_k
def recall_rank(sim, k):
    sim = np.asarray(sim)
    return float(np.mean((sim > np.diag(sim)[:, None]).sum(axis=1) < k))


def recall_argsort(sim, k):
    order = np.argsort(-np.asarray(sim), axis=1)[:, :k]
    return float(np.mean((order == np.arange(len(sim))[:, None]).any(axis=1)))


def recall_loop(sim, k):
    hits = 0
    for i, row in enumerate(sim):
        if i in sorted(range(len(row)), key=lambda j: -row[j])[:k]:
            hits += 1
    return hits / len(sim)


def recall_torch_topk(sim, k):
    s = torch.as_tensor(np.asarray(sim))
    top = s.topk(k, dim=1).indices
    return (top == torch.arange(len(s))[:, None]).any(dim=1).double().mean().item()


def recall_torch_float32(sim, k):   # float32 mean: 11/21 is 2.8e-8 away from the float64 value (review)
    s = torch.as_tensor(np.asarray(sim))
    return float(((s > s.diag()[:, None]).sum(1) < k).float().mean())


CORRECT = {
    "09.tfn_fuse": (tfn_einsum, tfn_kron_loop, tfn_torch32, tfn_functools),
    "09.lmf_fuse": (lmf_einsum, lmf_loops, lmf_full_tensor, lmf_torch32),
    "09.gmu": (gmu_stack, gmu_loop, gmu_functional),
    "09.info_nce": (nce_cross_entropy, nce_log_softmax, nce_logsumexp),
    "09.recall_at_k": (recall_rank, recall_argsort, recall_loop, recall_torch_topk, recall_torch_float32),
}


@pytest.mark.parametrize("exercise,answer", [(e, f) for e, fs in CORRECT.items() for f in fs],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_formulations_pass(exercise, answer, seed):
    result = run_check(exercise, answer, seed=seed, record=False)
    assert result.passed, result.message


@pytest.mark.parametrize("exercise", sorted(CORRECT))
def test_none_fails_clearly(exercise):
    result = run_check(exercise, lambda *a, **k: None, record=False)
    assert not result.passed
    assert re.search(r"None|expected", result.message), result.message


def test_hidden_seeds_match_the_notebook():
    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "09_fusion_advanced.ipynb").read_text())
    seeds = {int(s) for c in nb["cells"] for s in re.findall(r"seed=(\d+)", "".join(c["source"]))
             if "BEGIN HIDDEN TESTS" in "".join(c["source"])}
    assert seeds <= set(SEEDS), seeds - set(SEEDS)


# ----------------------------------------------------------------------------- mistakes
def test_tfn_mistakes():
    def no_ones(hs):
        z = np.asarray(hs[0], dtype=float)
        for h in hs[1:]:
            z = np.einsum("bi,bj->bij", z, h).reshape(len(z), -1)
        return z

    def one_first(hs):
        z = None
        for h in hs:
            e = np.concatenate([np.ones((len(h), 1)), h], axis=1)
            z = e if z is None else np.einsum("bi,bj->bij", z, e).reshape(len(z), -1)
        return z

    mistake("09.tfn_fuse", no_ones, "append a 1")
    mistake("09.tfn_fuse", one_first, "put in front")
    mistake("09.tfn_fuse", lambda hs: tfn_einsum(hs[::-1]), "reverse order")
    mistake("09.tfn_fuse", lambda hs: np.einsum("ai,bj->abij", _ones(hs[0]), _ones(hs[-1])), "mixes examples")
    mistake("09.tfn_fuse", lambda hs: tfn_einsum(hs).reshape(len(hs[0]), -1, 1), "not flattened")
    mistake("09.tfn_fuse", lambda hs: tfn_einsum(hs)[:, :-1], "wrong shape")


def test_lmf_mistakes():
    def summed(hs, factors, lam, bias):
        s = sum(np.einsum("bi,rio->rbo", _ones(h), W) for h, W in zip(hs, factors))
        return np.einsum("r,rbo->bo", lam, s) + bias

    mistake("09.lmf_fuse", summed, "added")
    mistake("09.lmf_fuse", lambda hs, fa, lam, b: lmf_einsum(hs, fa, np.ones_like(lam), b), "lambda_i are missing")
    mistake("09.lmf_fuse", lambda hs, fa, lam, b: lmf_einsum(hs, fa, lam, 0.0 * b), "bias b is missing")

    def no_ones(hs, factors, lam, bias):
        prod = 1.0
        for h, W in zip(hs, factors):
            prod = prod * np.einsum("bi,rio->rbo", h, W[:, :-1])
        return np.einsum("r,rbo->bo", lam, prod) + bias

    mistake("09.lmf_fuse", no_ones, "1 appended")

    def rank_kept(hs, factors, lam, bias):
        prod = 1.0
        for h, W in zip(hs, factors):
            prod = prod * np.einsum("bi,rio->rbo", _ones(h), W)
        return lam[:, None, None] * prod + bias

    mistake("09.lmf_fuse", rank_kept, "rank axis")


def test_gmu_mistakes():
    def softmax(xs, projections, gate):
        z = torch.softmax(gate(torch.cat(xs, 1)).reshape(len(xs[0]), len(xs), -1), dim=1)
        hm = torch.stack([torch.tanh(p(x)) for p, x in zip(projections, xs)], dim=1)
        return (z * hm).sum(1), z

    def no_tanh(xs, projections, gate):
        z = torch.sigmoid(gate(torch.cat(xs, 1))).reshape(len(xs[0]), len(xs), -1)
        return (z * torch.stack([p(x) for p, x in zip(projections, xs)], 1)).sum(1), z

    def layout(xs, projections, gate):
        z = torch.sigmoid(gate(torch.cat(xs, 1))).reshape(len(xs[0]), -1, len(xs)).transpose(1, 2)
        hm = torch.stack([torch.tanh(p(x)) for p, x in zip(projections, xs)], dim=1)
        return (z * hm).sum(1), z

    def no_sigmoid(xs, projections, gate):
        z = gate(torch.cat(xs, 1)).reshape(len(xs[0]), len(xs), -1)
        hm = torch.stack([torch.tanh(p(x)) for p, x in zip(projections, xs)], dim=1)
        return (z * hm).sum(1), z

    def detached(xs, projections, gate):
        h, z = gmu_stack(xs, projections, gate)
        return h.detach(), z

    mistake("09.gmu", softmax, "softmax over the modalities")
    mistake("09.gmu", no_tanh, "without their tanh")
    mistake("09.gmu", layout, "wrong order")
    mistake("09.gmu", no_sigmoid, "outside (0, 1)")
    mistake("09.gmu", detached, "cut off from the graph")
    mistake("09.gmu", lambda xs, p, g: gmu_stack(xs, p, g)[0], "tuple (h, z)")
    mistake("09.gmu", lambda xs, p, g: tuple(t.detach().numpy() for t in gmu_stack(xs, p, g)), "torch.Tensor")


def test_info_nce_mistakes():
    def raw(a, b, temperature):
        logits = a @ b.T / temperature
        t = torch.arange(len(a))
        return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2

    def rows_only(a, b, temperature):
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
        return F.cross_entropy(logits, torch.arange(len(a)))

    def times(a, b, temperature):
        return nce_cross_entropy(a, b, 1.0 / temperature)

    def summed(a, b, temperature):
        return nce_cross_entropy(a, b, temperature) * len(a)

    mistake("09.info_nce", raw, "not L2-normalised")
    mistake("09.info_nce", rows_only, "only the a -> b direction")
    mistake("09.info_nce", times, "multiplied by the temperature")
    mistake("09.info_nce", summed, "B times too large")
    mistake("09.info_nce", lambda a, b, t: nce_cross_entropy(a, b, t).item(), "scalar torch.Tensor")
    mistake("09.info_nce", lambda a, b, t: nce_cross_entropy(a, b, t).detach(), "cut off from the graph")


def test_recall_mistakes():
    mistake("09.recall_at_k", lambda sim, k: recall_rank(np.asarray(sim).T, k), "queries are the ROWS")
    mistake("09.recall_at_k", lambda sim, k: recall_rank(-np.asarray(sim), k), "lowest similarity")
    mistake("09.recall_at_k", lambda sim, k: recall_rank(sim, k + 1), "k + 1 candidates")
    mistake("09.recall_at_k", lambda sim, k: float(recall_rank(sim, k) * len(sim)), "number of hits")
    mistake("09.recall_at_k", lambda sim, k: np.array([recall_rank(sim, k)]), "expected")


# ----------------------------------------------------------------------------- references == package models
def test_references_equal_the_package_models():
    from course_utils.checks import lesson09 as L
    from course_utils.models import torch as MT

    torch.manual_seed(0)
    dims = {"a": 5, "b": 3, "c": 4}
    x = {m: torch.randn(6, d) for m, d in dims.items()}
    tfn = MT.TensorFusion(dims, hidden=3, fusion_dim=4).eval()
    lmf = MT.LowRankFusion(dims, hidden=3, fusion_dim=4, rank=2).eval()
    with torch.no_grad():
        es = [e.double().numpy() for e in tfn._encode(x)]
        np.testing.assert_allclose(L._tfn(es), tfn.tensor(x).double().numpy(), rtol=1e-5, atol=1e-6)
        es = [e.double().numpy() for e in lmf._encode(x)]
        fac = [getattr(lmf, f"factor_{i}").double().numpy() for i in range(3)]
        fused = L._lmf(es, fac, lmf.rank_weights.double().numpy(), lmf.fusion_bias.double().numpy())
        h = torch.relu(torch.as_tensor(fused, dtype=torch.float32))
        np.testing.assert_allclose(lmf.out(torch.relu(lmf.post(h))).numpy(), lmf(x).numpy(), rtol=1e-4, atol=1e-5)
    gmu = MT.GatedFusion(dims, hidden=4).eval()
    with torch.no_grad():
        h, z = gmu_stack(list(x.values()), gmu.projections, gmu.gate)
        np.testing.assert_allclose(z.numpy(), gmu.gates(x).numpy(), rtol=1e-6)
        np.testing.assert_allclose(gmu.out(torch.relu(gmu.layer(h))).numpy(), gmu(x).numpy(), rtol=1e-5, atol=1e-6)


def test_unrecognised_wrong_lmf_gets_feedback_not_a_crash():
    # review: the list of differently shaped hs made the check engine's list-vs-array probe raise a ValueError
    def bias_per_rank(hs, factors, lam, bias):
        return sum(lam[i] * np.prod([np.hstack([h, np.ones((len(h), 1))]) @ W[i] for h, W in zip(hs, factors)], axis=0)
                   + bias for i in range(len(lam)))
    result = run_check("09.lmf_fuse", bias_per_rank, record=False)
    assert not result.passed and "wrong value" in result.message, result.message


# ----------------------------------------------------------------------------- 09.gmu judged outside
# The layers are Build arguments (made from their weights where the answer runs); the grader judges only the
# probe's observations outside: h, z and the gradient VALUES of sum(h * a fixed cotangent) for every layer.
def _gmu_cases(seed=0):
    from course_utils.checks import _core

    return list(_core.lookup("09.gmu").cases(np.random.default_rng(_core._seed_for("09.gmu", seed))))


def test_gmu_is_judged_outside(tmp_path):
    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("09.gmu"), judge.reasons
    for seed in (0, SEEDS[1]):
        cases = _gmu_cases(seed)
        for case in cases:
            xs, projections, gate = case.args
            assert isinstance(projections, _core.Build) and isinstance(gate, _core.Build)
            # feedback shows the layers as before; the Builds make the same layers
            built = projections.make()
            assert repr(projections) == repr(built) and repr(gate) == repr(gate.make())
            assert all(np.array_equal(p.weight.detach().numpy(), w)
                       for p, w in zip(built, projections.data["weights"]))
            assert case.probe[0] == "09.gmu" and set(case.probe[1]) == {"cotangent"}
        run = _core.run_answer("09.gmu", gmu_stack, _core.case_inputs(cases))
        for one in run.runs:
            assert one.status == "ok" and _plain_observation(one.got), one.got
            assert set(one.got["grads"]) >= {"gate.weight", "gate.bias", "projections[0].weight"}
        result = _core.judge("09.gmu", _over_the_wire(run, tmp_path), seed, cases=cases)
        assert result.passed, result.message
        assert result.message == run_check("09.gmu", gmu_stack, seed=seed, record=False).message


def test_gmu_forged_observations_fail(tmp_path):
    import copy

    from course_utils.checks import _core

    cases = _gmu_cases()
    honest = _core.run_answer("09.gmu", gmu_stack, _core.case_inputs(cases))

    def judged(forge):
        """A hand-made record: the honest observations of every case, the first one changed by ``forge``."""
        runs = [copy.deepcopy(one) for one in honest.runs]
        runs[0].got = forge(runs[0].got)
        run = _core.AnswerRun(name="gmu_stack", params=["xs", "projections", "gate"],
                              runs=[_core.CaseRun("ok", got=one.got, args_after=one.args_after,
                                                  kwargs_after=dict(one.kwargs_after)) for one in runs])
        return _core.judge("09.gmu", _over_the_wire(run, tmp_path), 0, cases=cases)

    assert judged(lambda o: o).passed   # the honest record passes

    def flag_only(o):            # "attached to autograd", without any gradient
        return dict(o, grads={})

    def gate_grads_scaled(o):    # plausible numbers, 5 % off
        return dict(o, grads=dict(o["grads"], **{"gate.weight": 1.05 * o["grads"]["gate.weight"]}))

    def gate_grads_zero(o):
        return dict(o, grads=dict(o["grads"], **{"gate.bias": np.zeros_like(o["grads"]["gate.bias"])}))

    def nudged_h(o):
        return dict(o, h=o["h"] + np.float32(1e-3))

    def just_flags(o):
        return {"problem": None, "requires_grad": True}

    for forge, needle in ((flag_only, "no gradient reaches projections[0].weight"),
                          (gate_grads_scaled, "gradient with respect to gate.weight"),
                          (gate_grads_zero, "gradient with respect to gate.bias"),
                          (nudged_h, "wrong value in h"), (just_flags, "got None in z")):
        result = judged(forge)
        assert not result.passed and needle in result.message, (forge.__name__, result.message)
    assert not judged(lambda o: "✓ passed").passed  # not even observations


def test_gmu_values_without_gradients_fail():
    def rewrapped(xs, projections, gate):   # the right numbers, re-made as fresh leaves: nothing reaches the layers
        h, z = gmu_stack(xs, projections, gate)
        return torch.tensor(h.detach().numpy(), requires_grad=True), z

    r = run_check("09.gmu", rewrapped, record=False)
    assert not r.passed and "no gradient reaches projections[0].weight" in r.message, r.message

    def gate_detached(xs, projections, gate):  # the right numbers, the gate cut off from the graph
        z = torch.sigmoid(F.linear(torch.cat(xs, 1), gate.weight.detach(), gate.bias.detach()))
        z = z.reshape(len(xs[0]), len(xs), -1)
        hm = torch.stack([torch.tanh(p(x)) for p, x in zip(projections, xs)], dim=1)
        return (z * hm).sum(1), z

    r = run_check("09.gmu", gate_detached, record=False)
    assert not r.passed and "no gradient reaches gate.weight" in r.message, r.message


def test_gmu_runs_in_a_fresh_copy_of_the_package_like_the_graders_kernel(tmp_path):
    """The grader's kernel runs the answer with a fresh copy of course_utils loaded under a name of its own,
    on inputs pickled by the grader (whose Builds name course_utils.checks._core.Build): that copy must still
    make the layers (found in the first sandbox run: "'Build' object is not callable")."""
    import importlib
    import importlib.util
    import pickle
    import sys
    import uuid

    import course_utils
    from course_utils.checks import _core
    from course_utils.grade import _wire

    package = Path(course_utils.__file__).parent
    name = "_course_grader_test_" + uuid.uuid4().hex
    spec = importlib.util.spec_from_file_location(name, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    fresh = importlib.util.module_from_spec(spec)
    sys.modules[name] = fresh
    try:
        spec.loader.exec_module(fresh)
        fresh_core = importlib.import_module(name + ".checks._core")
        assert fresh_core.Build is not _core.Build
        cases = _gmu_cases(SEEDS[1])
        inputs = pickle.loads(pickle.dumps(_core.case_inputs(cases)))
        run = fresh_core.run_answer("09.gmu", gmu_stack, inputs)
        assert [one.status for one in run.runs] == ["ok"] * len(cases), [one.message for one in run.runs]
        assert all(one.args_after[1] is None and one.args_after[2] is None for one in run.runs)  # never sent
        path = str(tmp_path / "record.npz")
        _wire.dump(_wire.answer_record(run), path)
        result = _core.judge("09.gmu", _wire.answer_from_record(_wire.load(path)), SEEDS[1], cases=cases)
        assert result.passed, result.message
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
