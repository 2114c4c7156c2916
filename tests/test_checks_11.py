"""Lesson 11 self-checks: several independent correct formulations pass (public and instructor seeds), wrong
shapes and predictable wrong answers fail with their named feedback, and the check module's references equal
course_utils.deploy (measure_latency's statistics, prune_magnitude, distillation_loss) and quantize_dynamic_torch's
stored size."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.checks import run_check

from checkhelp import mistake, stub
from checkhelp import through_npz as _through_npz, graded as _graded, forged as _forged

SEEDS = (0, 4517, 7308, 9021, 1234)   # the public self-check, the lesson's hidden seeds and more
torch = pytest.importorskip("torch")
F = torch.nn.functional
nn = torch.nn


def _passes(exercise, fn):
    for seed in SEEDS:
        r = run_check(exercise, fn, seed=seed, record=False)
        assert r.passed, (exercise, getattr(fn, "__name__", fn), seed, r.message)


def _fails(exercise, fn, needle=""):
    r = run_check(exercise, fn, record=False)
    assert not r.passed and needle in r.message, r.message
    return r


# ----------------------------------------------------------------------------- 11.latency_stats
def lat_numpy(durations_s, batch_size):
    d = np.asarray(durations_s, dtype=float)
    return {"p50_ms": float(np.percentile(d, 50) * 1e3), "p95_ms": float(np.percentile(d, 95) * 1e3),
            "throughput": float(batch_size * d.size / d.sum())}


def lat_manual(durations_s, batch_size):
    d = sorted(float(x) for x in durations_s)

    def pct(q):   # linear interpolation between closest ranks (NumPy's default)
        pos = q / 100 * (len(d) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(d) - 1)
        return d[lo] + (d[hi] - d[lo]) * (pos - lo)

    return {"p50_ms": 1000 * pct(50), "p95_ms": 1000 * pct(95), "throughput": batch_size * len(d) / sum(d)}


def lat_torch_quantile(durations_s, batch_size):
    t = torch.as_tensor(np.asarray(durations_s), dtype=torch.float64)
    q = torch.quantile(t, torch.tensor([0.5, 0.95], dtype=torch.float64)) * 1000
    return {"p50_ms": q[0].item(), "p95_ms": q[1].item(), "throughput": (batch_size / t.mean()).item()}


def lat_torch_float32(durations_s, batch_size):
    # float32 throughout (torch.quantile's default dtype for a list): rounding at ~1e-6 relative must pass
    t = torch.tensor(list(durations_s), dtype=torch.float32)
    return {"p50_ms": 1000 * float(torch.quantile(t, 0.5)), "p95_ms": 1000 * float(torch.quantile(t, 0.95)),
            "throughput": float(batch_size * t.numel() / t.sum())}


def test_latency_stats_correct_formulations_pass():
    for fn in (lat_numpy, lat_manual, lat_torch_quantile, lat_torch_float32):
        _passes("11.latency_stats", fn)


def test_latency_stats_matches_measure_latency(monkeypatch):
    # a fake clock: measure_latency reads it before and after each timed call
    from course_utils import deploy
    ticks = iter([0.0, 0.001, 0.001, 0.004, 0.004, 0.006, 0.006, 0.008])
    monkeypatch.setattr(deploy.time, "perf_counter", lambda: next(ticks))
    res = deploy.measure_latency(lambda x: None, {"a": np.zeros((2, 3))}, batch_sizes=(1, 5), warmup=0, repeats=2)
    small, large = lat_numpy([0.001, 0.003], 1), lat_numpy([0.002, 0.002], 5)
    assert res["p50_ms"] == pytest.approx(small["p50_ms"]) and res["p95_ms"] == pytest.approx(small["p95_ms"])
    assert res["throughput"] == pytest.approx(large["throughput"])


@pytest.mark.parametrize("fn,needle", [
    (lambda d, b: {"p50_ms": float(np.percentile(d, 50)), "p95_ms": float(np.percentile(d, 95)),
                   "throughput": b * len(d) / float(np.sum(d))}, "seconds"),
    (lambda d, b: {"p50_ms": float(np.mean(d)) * 1e3, "p95_ms": float(np.percentile(d, 95)) * 1e3,
                   "throughput": b * len(d) / float(np.sum(d))}, "median"),
    (lambda d, b: {"p50_ms": float(np.sort(d)[len(d) // 2]) * 1e3,
                   "p95_ms": float(np.sort(d)[int(0.95 * len(d))]) * 1e3,
                   "throughput": b * len(d) / float(np.sum(d))}, "interpolates"),
    (lambda d, b: {"p50_ms": float(np.percentile(d, 50)) * 1e3, "p95_ms": float(np.percentile(d, 95)) * 1e3,
                   "throughput": len(d) / float(np.sum(d))}, "batch size"),
    (lambda d, b: {"p50_ms": float(np.percentile(d, 50)) * 1e3, "p95_ms": float(np.percentile(d, 95)) * 1e3,
                   "throughput": b / float(np.median(d))}, "total time"),
])
def test_latency_stats_mistakes_are_named(fn, needle):
    mistake("11.latency_stats", fn, needle)


def test_latency_stats_bad_shapes():
    _fails("11.latency_stats", lambda d, b: None, "dict")
    _fails("11.latency_stats", lambda d, b: {"p50": 1.0}, "keys")
    _fails("11.latency_stats", lambda d, b: {"p50_ms": "1", "p95_ms": 1.0, "throughput": 1.0}, "number")


# ----------------------------------------------------------------------------- 11.int8_size_mb
def size_modules(model):
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            total += m.weight.numel() + 8 + (4 * m.bias.numel() if m.bias is not None else 0)
        else:
            total += 4 * sum(p.numel() for p in m.parameters(recurse=False))
    return total / 1e6


def size_named(model):
    linear = {f"{n}.weight" if n else "weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    n_lin = sum(isinstance(m, nn.Linear) for m in model.modules())
    return sum((1 if n in linear else 4) * p.numel() for n, p in model.named_parameters()) / 1e6 + 8 * n_lin / 1e6


def size_numpy(model):
    import numpy as np
    w = np.array([m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)], dtype=np.int64)
    n_all = sum(p.numel() for p in model.parameters())
    return float((w.sum() + 8 * w.size + 4 * (n_all - w.sum())) / 1e6)


def test_int8_size_correct_formulations_pass():
    for fn in (size_modules, size_named, size_numpy):
        _passes("11.int8_size_mb", fn)


def test_int8_size_estimate_is_close_to_the_quantized_state_dict():
    from course_utils import deploy
    from course_utils.models.torch import EarlyFusion

    model = EarlyFusion({"text": 300, "audio": 80}, n_outputs=2, hidden=256)
    est, real = size_modules(model), deploy.model_size_mb(deploy.quantize_dynamic_torch(model))
    assert est <= real < est + 0.05  # the state_dict adds pickling overhead (names, packed-parameter records)


@pytest.mark.parametrize("fn,needle", [
    (lambda m: sum(p.numel() for p in m.parameters()) / 1e6, "one byte"),
    (lambda m: sum((p.numel() if isinstance(mod, nn.Linear) else 4 * p.numel())
                   for mod in m.modules() for p in mod.parameters(recurse=False)) / 1e6
     + 8 * sum(isinstance(x, nn.Linear) for x in m.modules()) / 1e6, "biases"),
    (lambda m: size_modules(m) - 8 * sum(isinstance(x, nn.Linear) for x in m.modules()) / 1e6, "scale"),
    (lambda m: 4 * sum(p.numel() for p in m.parameters()) / 1e6, "float32"),
    (lambda m: sum(x.weight.numel() + 8 if isinstance(x, nn.Linear)
                   else 4 * sum(p.numel() for p in x.parameters(recurse=False)) for x in m.modules()) / 1e6,
     "biases are missing"),
    (lambda m: sum(x.weight.numel() + 8 + (4 * x.bias.numel() if x.bias is not None else 0)
                   if isinstance(x, nn.Linear) else 4 * sum(p.numel() for p in x.parameters())
                   for x in m.modules()) / 1e6, "more than once"),
    (lambda m: size_modules(m) * 1e6 / 2 ** 20, "MiB"),
    (lambda m: size_modules(m) * 1e6, "bytes"),
])
def test_int8_size_mistakes_are_named(fn, needle):
    mistake("11.int8_size_mb", fn, needle)


def test_int8_size_bad_shapes():
    _fails("11.int8_size_mb", lambda m: None, "number")
    _fails("11.int8_size_mb", lambda m: [1.0], "number")


# ----------------------------------------------------------------------------- 11.magnitude_prune
def prune_argsort(w, sparsity):
    w = np.asarray(w, dtype=float)
    out = w.copy().ravel()
    out[np.argsort(np.abs(out))[:round(sparsity * w.size)]] = 0.0
    return out.reshape(w.shape)


def prune_threshold(w, sparsity):
    w = np.array(w, dtype=float)
    k = round(sparsity * w.size)
    if k == 0:
        return w
    thr = np.partition(np.abs(w).ravel(), k - 1)[k - 1]
    return np.where(np.abs(w) <= thr, 0.0, w)


def prune_torch(w, sparsity):
    from torch.nn.utils import prune
    layer = nn.Linear(1, 1, bias=False)
    t = torch.tensor(np.asarray(w, dtype=np.float64).reshape(1, -1))
    layer.weight = nn.Parameter(t)
    prune.l1_unstructured(layer, "weight", amount=float(sparsity))
    return (layer.weight.detach().numpy()).reshape(np.shape(w))


def prune_float32_torch(w, sparsity):
    t = torch.as_tensor(np.asarray(w), dtype=torch.float32)
    k = round(sparsity * t.numel())
    mask = torch.ones(t.numel(), dtype=torch.bool)
    mask[torch.argsort(t.abs().flatten())[:k]] = False
    return (t.flatten() * mask).reshape(t.shape).numpy()


def test_magnitude_prune_correct_formulations_pass():
    for fn in (prune_argsort, prune_threshold, prune_torch, prune_float32_torch):
        _passes("11.magnitude_prune", fn)


def test_magnitude_prune_equals_prune_magnitude_of_deploy():
    from course_utils import deploy
    from course_utils.models.torch import EarlyFusion

    torch.manual_seed(0)
    model = EarlyFusion({"text": 20, "audio": 7}, n_outputs=2, hidden=16)
    a = deploy.prune_magnitude(model, 0.7)
    b = deploy.prune_magnitude(model, 0.7, mask_fn=prune_argsort)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(va, vb)


def _inplace(w, sparsity):
    w[np.abs(w) < np.sort(np.abs(w).ravel())[round(sparsity * w.size)] if round(sparsity * w.size) < w.size
      else np.ones_like(w, dtype=bool)] = 0.0
    return w


@pytest.mark.parametrize("fn,needle", [
    (lambda w, s: prune_argsort(-np.abs(np.asarray(w)) * 0 + np.where(
        np.isin(np.arange(np.size(w)).reshape(np.shape(w)),
                np.argsort(-np.abs(np.asarray(w)).ravel())[:round(s * np.size(w))]), 0.0, w), 0.0), "LARGEST"),
    (lambda w, s: np.where(np.isin(np.arange(np.size(w)).reshape(np.shape(w)),
                                   np.argsort(np.asarray(w).ravel())[:round(s * np.size(w))]), 0.0, w), "signed"),
    (lambda w, s: prune_argsort(w, 1 - s), "KEPT"),
    (lambda w, s: np.where(np.isin(np.arange(np.size(w)).reshape(np.shape(w)),
                                   np.argsort(np.abs(np.asarray(w)).ravel())[:int(s * np.size(w))]), 0.0, w), "round"),
])
def test_magnitude_prune_mistakes_are_named(fn, needle):
    mistake("11.magnitude_prune", fn, needle)


def test_magnitude_prune_in_place_and_bad_shapes():
    _fails("11.magnitude_prune", _inplace, "")
    _fails("11.magnitude_prune", lambda w, s: prune_argsort(w, s).ravel(), "shape")
    _fails("11.magnitude_prune", lambda w, s: prune_argsort(w, s).tolist(), "")


# ----------------------------------------------------------------------------- 11.distill_loss
def kd_kl_div(s, t, y, T, alpha):
    soft = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1), reduction="batchmean",
                    log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(s, y)


def kd_manual(s, t, y, T, alpha):
    p_t = torch.softmax(t / T, dim=1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s / T, dim=1))).sum(dim=1).mean()
    ce = -torch.log_softmax(s, dim=1)[torch.arange(len(y)), y].mean()
    return alpha * T ** 2 * kl + (1 - alpha) * ce


def kd_soft_ce(s, t, y, T, alpha):
    # KL = cross-entropy with soft targets minus the teacher's entropy
    p_t = F.softmax(t / T, dim=1)
    soft_ce = -(p_t * F.log_softmax(s / T, dim=1)).sum(1).mean()
    entropy = -(p_t * F.log_softmax(t / T, dim=1)).sum(1).mean()
    return alpha * T * T * (soft_ce - entropy) + (1 - alpha) * F.cross_entropy(s, y)


def kd_deploy(s, t, y, T, alpha):
    from course_utils import deploy
    return deploy.distillation_loss(s, t, y, temperature=T, alpha=alpha)


def test_distill_loss_correct_formulations_pass():
    for fn in (kd_kl_div, kd_manual, kd_soft_ce, kd_deploy):
        _passes("11.distill_loss", fn)


@pytest.mark.parametrize("fn,needle", [
    (lambda s, t, y, T, a: a * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s, y), "T**2"),
    (lambda s, t, y, T, a: a * T * T * F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s, y), "wrong way"),
    (lambda s, t, y, T, a: a * T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s, y), "teacher's logits"),
    (lambda s, t, y, T, a: a * T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="mean")
     + (1 - a) * F.cross_entropy(s, y), "batchmean"),
    (lambda s, t, y, T, a: a * T * T * F.kl_div(F.softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s, y), "LOG-probabilities"),
    (lambda s, t, y, T, a: kd_kl_div(s, t, y, T, 1 - a), "alpha"),
    (lambda s, t, y, T, a: a * T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s / T, y), "raw"),
])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # the wrong answer's own warning
def test_distill_loss_mistakes_are_named(fn, needle):
    mistake("11.distill_loss", fn, needle)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad:UserWarning")  # the wrong answer's
def test_distill_loss_bad_shapes():
    _fails("11.distill_loss", lambda s, t, y, T, a: float(kd_kl_div(s, t, y, T, a)), "torch.Tensor")
    _fails("11.distill_loss", lambda s, t, y, T, a: kd_kl_div(s, t, y, T, a).detach(), "graph")
    _fails("11.distill_loss", lambda s, t, y, T, a: kd_kl_div(s, t, y, T, a).reshape(1), "scalar")


# ----------------------------------------------------------------------------- 11.ddp_average_gradients
def ddp_loop(model, loss_fn, shards):
    per = []
    for x, y in shards:
        model.zero_grad()
        loss_fn(model(x), y).backward()
        per.append([p.grad.clone() for p in model.parameters()])
    return [sum(g[i] for g in per) / len(per) for i in range(len(per[0]))]


def ddp_autograd(model, loss_fn, shards):
    params = list(model.parameters())
    grads = [torch.autograd.grad(loss_fn(model(x), y), params) for x, y in shards]
    return [torch.stack(gs).mean(0) for gs in zip(*grads)]


def ddp_weighted_loss(model, loss_fn, shards):
    # one backward of the average of the per-shard mean losses: the same gradient, by linearity
    model.zero_grad()
    (sum(loss_fn(model(x), y) for x, y in shards) / len(shards)).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_ddp_average_gradients_correct_formulations_pass():
    for fn in (ddp_loop, ddp_autograd, ddp_weighted_loss):
        _passes("11.ddp_average_gradients", fn)


def ddp_sum(model, loss_fn, shards):
    return [g * len(shards) for g in ddp_loop(model, loss_fn, shards)]


def ddp_union(model, loss_fn, shards):
    model.zero_grad()
    loss_fn(model(torch.cat([x for x, _ in shards])), torch.cat([y for _, y in shards])).backward()
    return [p.grad.clone() for p in model.parameters()]


def ddp_no_zero(model, loss_fn, shards):
    per = []
    model.zero_grad()
    for x, y in shards:
        loss_fn(model(x), y).backward()
        per.append([p.grad.clone() for p in model.parameters()])
    return [sum(g[i] for g in per) / len(per) for i in range(len(per[0]))]


def ddp_first(model, loss_fn, shards):
    x, y = shards[0]
    model.zero_grad()
    loss_fn(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def ddp_no_clone(model, loss_fn, shards):
    per = []
    for x, y in shards:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.zero_()
        loss_fn(model(x), y).backward()
        per.append([p.grad for p in model.parameters()])   # the same tensors each time: the last shard's
    return [sum(g[i] for g in per) / len(per) for i in range(len(per[0]))]


@pytest.mark.parametrize("fn,needle", [(ddp_sum, "world size"), (ddp_union, "concatenated"),
                                       (ddp_no_zero, "not reset"), (ddp_first, "first shard"),
                                       (ddp_no_clone, "last shard")])
def test_ddp_average_gradients_mistakes_are_named(fn, needle):
    mistake("11.ddp_average_gradients", fn, needle)


def test_ddp_average_gradients_bad_shapes():
    _fails("11.ddp_average_gradients", lambda m, l, s: None, "list")
    _fails("11.ddp_average_gradients", lambda m, l, s: ddp_loop(m, l, s)[:-1], "gradients")
    _fails("11.ddp_average_gradients", lambda m, l, s: [g.numpy() for g in ddp_loop(m, l, s)], "torch.Tensor")


# ----------------------------------------------------------------------------- all exercises
@pytest.mark.parametrize("exercise", ["11.latency_stats", "11.int8_size_mb", "11.magnitude_prune",
                                      "11.distill_loss", "11.ddp_average_gradients"])
def test_stub_is_not_implemented(exercise):
    r = run_check(exercise, stub, record=False)
    assert not r.passed and "not implemented yet" in r.message


# ----------------------------------------------------------------------------- judged outside the sandbox (issue 12)


@pytest.mark.parametrize("exercise", ["11.int8_size_mb", "11.ddp_average_gradients", "11.distill_loss"])
def test_judged_outside_the_sandbox(exercise):
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide(exercise), judge.reasons


def test_int8_size_models_are_built_from_their_description():
    from course_utils.checks import _core

    cases = list(_core.lookup("11.int8_size_mb").cases(np.random.default_rng(0)))
    state = torch.get_rng_state()
    for case in cases:
        built = case.args[0]
        assert isinstance(built, _core.Build)
        a, b = built.make(), built.make()
        assert a is not b and repr(a) == repr(b) and " ".join(repr(a).split()) == repr(built)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))   # seeded
        assert case.expected(size_modules(a)) is None
    assert torch.equal(state, torch.get_rng_state())   # the learner's torch seed is left alone
    assert "Tagger" in repr(cases[2].args[0]) and isinstance(cases[2].args[0].make().scale, nn.Parameter)


def test_int8_size_forged_result_fails():
    from course_utils.checks import _core

    cases, run = _graded("11.int8_size_mb", size_modules)
    assert _core.judge("11.int8_size_mb", run, 0, cases=cases).passed
    res = _forged("11.int8_size_mb", cases, run, lambda k, got: round(got, 3))   # plausible, not the size
    assert not res.passed and "wrong value" in res.message


def test_ddp_average_gradients_forged_gradients_fail():
    from course_utils.checks import _core

    cases, run = _graded("11.ddp_average_gradients", ddp_loop)
    assert _core.judge("11.ddp_average_gradients", run, 0, cases=cases).passed
    assert all(isinstance(g, torch.Tensor) for g in run.runs[0].got)
    res = _forged("11.ddp_average_gradients", cases, run, lambda k, got: [torch.zeros_like(g) for g in got])
    assert not res.passed and "gradient 0" in res.message
    res = _forged("11.ddp_average_gradients", cases, run, lambda k, got: [g * 1.01 for g in got])
    assert not res.passed and "wrong value" in res.message


def test_ddp_models_are_built_with_the_given_weights():
    from course_utils.checks import _core

    for case in _core.lookup("11.ddp_average_gradients").cases(np.random.default_rng(5)):
        model, loss_fn, shards = case.args
        assert isinstance(model, _core.Build) and isinstance(loss_fn, _core.Build)
        m = model.make()
        assert repr(loss_fn) in ("MSELoss()", "CrossEntropyLoss()") and repr(loss_fn.make()) == repr(loss_fn)
        for p, w in zip(m.parameters(), model.data["weights"]):
            assert np.array_equal(p.detach().numpy(), w)
        assert case.expected(ddp_loop(m, loss_fn.make(), shards)) is None


def test_distill_loss_forged_observations_fail():
    from course_utils.checks import _core

    cases, run = _graded("11.distill_loss", kd_kl_div)
    assert _core.judge("11.distill_loss", run, 0, cases=cases).passed
    obs = run.runs[0].got
    assert obs["requires_grad"] and obs["grad_fn"] and obs["grads"][0] is not None

    res = _forged("11.distill_loss", cases, run, lambda k, got: dict(got, grads=[None]))
    assert not res.passed and "no gradient reaches student_logits" in res.message
    res = _forged("11.distill_loss", cases, run, lambda k, got: dict(got, grads=[got["grads"][0] * 1.01]))
    assert not res.passed and "hand-derived" in res.message
    res = _forged("11.distill_loss", cases, run, lambda k, got: dict(got, grad_fn=False))
    assert not res.passed and "grad_fn" in res.message


def test_distill_loss_gradients_are_judged():
    leaf = _fails("11.distill_loss", lambda s, t, y, T, a: torch.tensor(kd_kl_div(s, t, y, T, a).item(),
                                                                       requires_grad=True), "no grad_fn")
    assert "student" in leaf.message
    # the right value, attached to the graph, but the soft term's gradient is cut off
    _fails("11.distill_loss", lambda s, t, y, T, a: kd_kl_div(s, t, y, T, a).detach()
           + (1 - a) * (F.cross_entropy(s, y) - F.cross_entropy(s, y).detach()) + 0 * s.sum(), "hand-derived")


def test_observations_keep_their_shapes_through_the_npz():
    # a 0-d value (a loss) must come back 0-d: np.ascontiguousarray alone would make it 1-d
    cases, run = _graded("11.distill_loss", kd_deploy)
    assert run.runs[0].got["value"].shape == () and run.runs[0].got["grads"][0].shape == (4, 3)
