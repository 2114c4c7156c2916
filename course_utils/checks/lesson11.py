"""Self-checks for lesson 11 (deployment and scaling).

References are written here from the formulas in NumPy, in float64 (the same definitions as
:mod:`course_utils.deploy`'s ``measure_latency``, ``prune_magnitude`` and ``distillation_loss``, which are not
imported: a check module only needs NumPy at import; ``tests/test_checks_11.py`` compares the two). Every property
is produced by the case generators for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test
is the same check with another seed. No check measures time: the latency exercise gets given timings, so its
result does not depend on the machine or its load. Predictable wrong answers are named by :class:`Mistake`
detectors that recompute the wrong variant from the case's own arguments. torch is imported only inside the cases
of the three PyTorch exercises (``11.int8_size_mb``, ``11.distill_loss``, ``11.ddp_average_gradients``).
"""
from __future__ import annotations

import copy

import numpy as np

from ._core import (Build, Case, Mistake, as_float_array, close_to_float32, compare, describe, register,
                    register_builder)
from ._losses import loss_probe, observed_loss_problem, observed_scalar

_arr = as_float_array
_matches = close_to_float32


# ----------------------------------------------------------------------------- 11.latency_stats
_KEYS = ("p50_ms", "p95_ms", "throughput")


def _latency_ref(durations, batch_size, *, unit: float = 1e3, method: str = "linear", center: str = "median",
                 through: str = "total") -> dict:
    d = np.asarray(durations, dtype=float)
    if center == "median":
        p50 = np.percentile(d, 50, method=method)
    else:
        p50 = d.mean()
    p95 = np.percentile(d, 95, method=method)
    if through == "total":
        thr = batch_size * len(d) / d.sum()
    elif through == "calls":
        thr = len(d) / d.sum()
    else:  # from the median
        thr = batch_size / np.median(d)
    return {"p50_ms": float(p50 * unit), "p95_ms": float(p95 * unit), "throughput": float(thr)}


def _latency_validator(durations, batch_size):
    want = _latency_ref(durations, batch_size)

    def validate(got):
        if not isinstance(got, dict):
            return f"expected a dict with the keys {list(_KEYS)}, got {type(got).__name__}: {describe(got)}"
        if set(got) != set(_KEYS):
            return f"expected exactly the keys {list(_KEYS)}, got {sorted(map(str, got))}"
        for k in _KEYS:
            v = got[k]
            if hasattr(v, "item") and np.ndim(v) == 0:
                v = v.item()
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                return f"{k} must be a number (a float), got {type(got[k]).__name__}: {describe(got[k])}"
            # rtol 1e-5: a float32 computation (torch.quantile on a float32 tensor) is a correct formulation;
            # every named wrong variant differs by far more
            problem = compare(float(v), want[k], 1e-5, 1e-12, where=k)
            if problem:
                return problem
        return None

    validate.args = (durations, batch_size)
    return validate


def _lat_variant(**kw):
    def detect(got, e, c):
        if not isinstance(got, dict) or set(got) != set(_KEYS):
            return False
        ref = _latency_ref(*e.args, **kw)
        try:
            return all(np.isclose(float(got[k]), ref[k], rtol=1e-5) for k in _KEYS)
        except (TypeError, ValueError):
            return False
    return detect


def _lat_key_variant(key, **kw):
    """Only ``key`` is wrong, the way ``kw`` makes it wrong."""
    def detect(got, e, c):
        if not isinstance(got, dict) or key not in got:
            return False
        try:
            return bool(np.isclose(float(got[key]), _latency_ref(*e.args, **kw)[key], rtol=1e-5)) and not bool(
                np.isclose(float(got[key]), _latency_ref(*e.args)[key], rtol=1e-5))
        except (TypeError, ValueError):
            return False
    return detect


_LAT_MISTAKES = (
    Mistake("seconds", _lat_variant(unit=1.0),
            "the percentiles are in seconds: the keys p50_ms and p95_ms are milliseconds (multiply by 1000)."),
    Mistake("mean", _lat_key_variant("p50_ms", center="mean"),
            "p50_ms is the mean: the 50th percentile is the median, which one slow call (a page fault, another "
            "process) does not move."),
    Mistake("index percentile", lambda got, e, c: any(_lat_variant(method=m)(got, e, c)
                                                      for m in ("lower", "higher", "nearest", "inverted_cdf")),
            "the percentiles were taken by picking one sorted value (an index into the sorted timings); this "
            "exercise uses NumPy's default definition, which interpolates linearly between the two nearest ranks "
            "(np.percentile(..., 95))."),
    Mistake("calls per second", _lat_key_variant("throughput", through="calls"),
            "throughput counts calls per second: every call processes batch_size items, so multiply by the batch "
            "size (items per second)."),
    Mistake("throughput from median", _lat_key_variant("throughput", through="median"),
            "throughput was computed from the median call: use the total time of all calls (items processed / "
            "seconds spent), which includes the slow ones."),
)


@register("11.latency_stats", signature="latency_stats(durations_s, batch_size) -> dict", time_limit=5.0,
          hint="Percentiles of the per-call times (NumPy's default definition), converted to milliseconds; "
               "throughput = all items processed divided by all the time spent.",
          recipe="Turn the timings into a float array. The 50th and 95th percentiles with NumPy's percentile "
                 "function (default interpolation), times 1000 for milliseconds. For the throughput, count the "
                 "items (number of calls times the batch size) and divide by the sum of the timings. Return the "
                 "three numbers as plain floats under the keys p50_ms, p95_ms and throughput.",
          mistakes=_LAT_MISTAKES)
def _latency_stats(rng: np.random.Generator):
    d = [0.004, 0.001, 0.003, 0.002]
    yield Case((d, 1), expected=_latency_validator(d, 1),
               label="four calls of 1-4 ms (a list, unsorted), batch 1: p50 2.5 ms, p95 3.85 ms, 400 items/s")
    n = int(rng.integers(30, 200))
    d = rng.lognormal(np.log(2e-4), 0.3, size=n)
    d[rng.integers(0, n, size=3)] *= 20.0  # a few slow calls: the tail that p95 and the mean feel
    yield Case((d, 1), expected=_latency_validator(d, 1), label=f"{n} calls with a slow tail, batch 1")
    d = rng.lognormal(np.log(3e-3), 0.2, size=int(rng.integers(10, 60)))
    yield Case((d, 64), expected=_latency_validator(d, 64), label="batch 64: throughput in items per second")
    d = np.full(7, 0.01)
    yield Case((d, 8), expected=_latency_validator(d, 8), label="seven equal calls of 10 ms, batch 8")


# ----------------------------------------------------------------------------- 11.int8_size_mb (PyTorch)
def _size_ref(specs, *, linear_bytes: float = 1.0, other_bytes: float = 4.0, overhead: float = 8.0,
              bias_int8: bool = False, bias_bytes: float | None = None, unit: float = 1e6) -> float:
    """specs: list of (kind, n_weight, n_other) per module; kind 'linear' or 'other'.

    bias_bytes overrides the bytes per Linear bias entry (0: biases forgotten)."""
    total = 0.0
    for kind, n_w, n_o in specs:
        if kind == "linear":
            per_bias = bias_bytes if bias_bytes is not None else (linear_bytes if bias_int8 else other_bytes)
            total += n_w * linear_bytes + overhead + n_o * per_bias
        else:
            total += (n_w + n_o) * other_bytes
    return total / unit


def _specs_of(model) -> list:
    import torch

    specs = []
    for m in model.modules():
        own = list(m.parameters(recurse=False))
        if not own:
            continue
        if isinstance(m, torch.nn.Linear):
            specs.append(("linear", m.weight.numel(), sum(p.numel() for p in own) - m.weight.numel()))
        else:
            specs.append(("other", sum(p.numel() for p in own), 0))
    return specs


def _recursive_size(model) -> float:
    """The wrong total of a loop that takes ``parameters()`` (recursive) of every non-Linear module: a container
    (Sequential, the model itself) counts its children's parameters again, at 4 bytes each."""
    import torch

    total = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            total += m.weight.numel() + 8 + (4 * m.bias.numel() if m.bias is not None else 0)
        else:
            total += 4 * sum(p.numel() for p in m.parameters())
    return total / 1e6


def _make_module(arch):
    """A module from its description: ``["linear", n_in, n_out, bias]``, ``["relu"]``, ``["tanh"]``,
    ``["layernorm", n]``, ``["embedding", vocab, dim]``, ``["sequential", [children]]`` or ``["tagger", vocab, dim]``
    (an Embedding, a parameter of the module itself and a Sequential head of two Linear)."""
    import torch
    from torch import nn

    kind, *rest = arch
    if kind == "linear":
        return nn.Linear(int(rest[0]), int(rest[1]), bias=bool(rest[2]))
    if kind == "relu":
        return nn.ReLU()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "layernorm":
        return nn.LayerNorm(int(rest[0]))
    if kind == "embedding":
        return nn.Embedding(int(rest[0]), int(rest[1]))
    if kind == "sequential":
        return nn.Sequential(*(_make_module(a) for a in rest[0]))
    if kind == "tagger":
        vocab, dim = int(rest[0]), int(rest[1])

        class Tagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, dim)
                self.scale = nn.Parameter(torch.ones(dim))
                self.head = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 3))

            def forward(self, idx):
                return self.head(self.embed(idx) * self.scale)

        return Tagger()
    raise ValueError(f"unknown module kind {kind!r}")


@register_builder("11.model")
def _model(arch, seed: int):
    """The model of an ``11.int8_size_mb`` case, made where the answer runs: its architecture ``arch`` (see
    :func:`_make_module`) initialised from ``seed`` (the caller's torch random state is left alone)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return _make_module(arch)


def _size_case(arch, seed: int, label: str) -> Case:
    model = _model(arch, seed)  # the same model the answer gets: its sizes give the expected value
    specs = _specs_of(model)
    exp = _size_ref(specs)
    twice = _recursive_size(model)

    def validate(got):
        v = got.item() if hasattr(got, "item") and np.ndim(got) == 0 else got
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return f"expected a number (megabytes, a float), got {type(got).__name__}: {describe(got)}"
        return compare(float(v), exp, 1e-9, 1e-15)

    validate.specs = specs
    validate.value = exp
    validate.twice = twice
    built = Build("11.model", {"arch": arch, "seed": int(seed)}, text=" ".join(repr(model).split()))
    return Case((built,), expected=validate, label=label)


def _size_num(got):
    try:
        return float(got)
    except (TypeError, ValueError):
        return None


def _size_variant(**kw):
    def detect(got, e, c):
        try:
            v = float(got)
        except (TypeError, ValueError):
            return False
        return bool(np.isclose(v, _size_ref(e.specs, **kw), rtol=1e-9, atol=0.0))
    return detect


_SIZE_MISTAKES = (
    Mistake("all int8", lambda got, e, c: _size_variant(other_bytes=1.0, bias_int8=True)(got, e, c)
            or _size_variant(other_bytes=1.0, bias_int8=True, overhead=0.0)(got, e, c),
            "every parameter was counted as one byte: only the weight matrices of nn.Linear layers are stored as "
            "int8; biases and the parameters of other layers (LayerNorm, Embedding, ...) stay float32 (4 bytes)."),
    Mistake("bias int8", _size_variant(bias_int8=True),
            "the Linear biases were counted as int8: dynamic quantization keeps them float32 (4 bytes each)."),
    Mistake("bias forgotten", lambda got, e, c: _size_variant(bias_bytes=0.0)(got, e, c)
            and not _size_variant()(got, e, c),
            "the Linear biases are missing: they stay float32 after dynamic quantization and still take 4 bytes "
            "per entry."),
    Mistake("counted twice", lambda got, e, c: _size_num(got) is not None and not np.isclose(e.twice, e.value)
            and bool(np.isclose(_size_num(got), e.twice, rtol=1e-9, atol=0.0)),
            "some parameters were counted more than once: model.modules() also yields the containers (the model "
            "itself, nn.Sequential), and their parameters() include their children's. Count only each module's "
            "own parameters (parameters(recurse=False))."),
    Mistake("no scale", _size_variant(overhead=0.0),
            "the per-layer scale and zero point are missing: each quantized Linear also stores them (8 bytes per "
            "layer, as the exercise states)."),
    Mistake("float32 size", _size_variant(linear_bytes=4.0, overhead=0.0),
            "this is the float32 size (4 bytes for every parameter): the Linear weights take 1 byte each in int8."),
    Mistake("MiB", _size_variant(unit=2.0 ** 20),
            "the size is in MiB (2**20 bytes): the course's MB is 10**6 bytes."),
    Mistake("bytes", _size_variant(unit=1.0),
            "the result is in bytes: divide by 10**6 for megabytes."),
    Mistake("kB", _size_variant(unit=1e3),
            "the result is in kilobytes: divide the bytes by 10**6 for megabytes."),
)


@register("11.int8_size_mb", signature="int8_size_mb(model) -> float (MB)", time_limit=10.0,
          hint="Walk over the modules: a Linear weight matrix costs 1 byte per entry plus 8 bytes per layer; every "
               "other parameter (biases included) costs 4 bytes. MB = 10**6 bytes.",
          recipe="Loop over model.modules(). For an nn.Linear: its weight's number of entries (one byte each), "
                 "8 bytes for the layer's scale and zero point, and 4 bytes per bias entry if it has a bias. For "
                 "any other module: 4 bytes for each entry of its own parameters (parameters(recurse=False), so "
                 "that nothing is counted twice). Add everything up and divide by one million.",
          mistakes=_SIZE_MISTAKES)
def _int8_size_mb(rng: np.random.Generator):
    seed = int(rng.integers(0, 2**31))
    yield _size_case(["linear", 1000, 10, True], seed,
                     "one Linear(1000, 10): 10 000 + 8 + 40 bytes = 0.010048 MB")
    a, b, c = (int(v) for v in rng.integers(8, 200, size=3))
    yield _size_case(["sequential", [["linear", a, b, True], ["relu"], ["layernorm", b], ["linear", b, c, False]]],
                     seed + 1, f"Linear({a}, {b}), ReLU, LayerNorm({b}), Linear({b}, {c}) without bias")
    vocab, dim = int(rng.integers(50, 500)), int(rng.integers(4, 32))
    yield _size_case(["tagger", vocab, dim], seed + 2,
                     f"nested modules: an Embedding({vocab}, {dim}), a parameter of the module itself, "
                     "two Linear in a Sequential")
    yield _size_case(["sequential", [["layernorm", 16]]], seed + 3, "no Linear layer: all float32")


# ----------------------------------------------------------------------------- 11.magnitude_prune
def _prune_ref(w, sparsity, *, how: str = "abs", k_rule: str = "round", keep: bool = False) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    frac = 1.0 - sparsity if keep else sparsity
    k = int(round(frac * w.size)) if k_rule == "round" else int(np.floor(frac * w.size))
    flat = w.ravel().copy()
    if how == "abs":
        order = np.argsort(np.abs(flat), kind="stable")[:k]
    elif how == "largest":
        order = np.argsort(-np.abs(flat), kind="stable")[:k]
    else:  # signed: the most negative values
        order = np.argsort(flat, kind="stable")[:k]
    flat[order] = 0.0
    return flat.reshape(w.shape)


def _prune_case(w: np.ndarray, sparsity: float, label: str) -> Case:
    # the zeros must be exact (atol 0); the kept weights may be rounded to float32 (rtol 1e-6)
    return Case((w, sparsity), expected=_prune_ref(w, sparsity), label=label, rtol=1e-6, atol=0.0)


def _prune_variant(**kw):
    return lambda got, e, c: _matches(got, _prune_ref(*c.args, **kw), 1e-6, 0.0) and not _matches(got, e, 1e-6, 0.0)


_PRUNE_MISTAKES = (
    Mistake("pruned largest", _prune_variant(how="largest"),
            "the LARGEST weights were set to zero: magnitude pruning removes the smallest |w|, which change the "
            "layer's output least."),
    Mistake("signed", _prune_variant(how="signed"),
            "the weights were ranked by their signed value (the most negative ones were zeroed): rank them by "
            "magnitude |w|; a large negative weight matters as much as a large positive one."),
    Mistake("fraction kept", _prune_variant(keep=True),
            "sparsity was read as the fraction of weights KEPT: it is the fraction set to zero (sparsity 0.9 "
            "leaves 10 % of the weights)."),
    Mistake("floor", _prune_variant(k_rule="floor"),
            "one weight too few was pruned: the number to prune is round(sparsity * n) (like "
            "torch.nn.utils.prune), not the integer part."),
)


@register("11.magnitude_prune", signature="magnitude_prune(w, sparsity) -> np.ndarray (same shape as w)",
          returns=np.ndarray,
          hint="The number of entries to zero is the sparsity times the number of entries, rounded with Python's "
               "round; zero that many entries of smallest absolute value in a copy and keep the shape.",
          recipe="Compute k from the sparsity and the total number of entries (Python's round). Flatten a copy of "
                 "the weights, sort the positions by absolute value, set the first k positions to zero, and "
                 "reshape the copy back to the original shape. Do not modify the argument.",
          mistakes=_PRUNE_MISTAKES)
def _magnitude_prune(rng: np.random.Generator):
    yield _prune_case(np.array([[0.5, -0.1, 2.0], [-3.0, 0.2, 0.05]]), 0.5,
                      "a 2x3 matrix, sparsity 0.5: the three smallest |w| (0.05, -0.1, 0.2) become 0")
    out, inp = int(rng.integers(4, 20)), int(rng.integers(4, 20))
    s = float(rng.choice([0.3, 0.6, 0.9]))
    yield _prune_case(rng.normal(size=(out, inp)), s, f"a ({out}, {inp}) weight matrix, sparsity {s}")
    n = int(rng.integers(11, 40))
    w = rng.normal(size=n) * 3.0
    s = (np.floor(0.37 * n) + 0.7) / n  # sparsity * n has a fractional part 0.7: round and floor differ
    yield _prune_case(w, float(s), f"a vector of {n} weights, sparsity {s:.4f} (sparsity x n is not an integer)")
    yield _prune_case(rng.normal(size=(3, 4, 5)), 0.25, "a 3-D tensor (3, 4, 5): prune over all its entries")
    yield _prune_case(rng.normal(size=(5, 6)), 0.0, "sparsity 0: nothing pruned, an unchanged copy")


# ----------------------------------------------------------------------------- 11.distill_loss (PyTorch)
def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _kd_ref(s, t, y, T, alpha, *, t2: bool = True, reverse: bool = False, teacher_T: bool = True,
            reduction: str = "batchmean", swap: bool = False, ce_T: bool = False, probs_in: bool = False) -> float:
    s, t = np.asarray(s, dtype=float), np.asarray(t, dtype=float)
    ls = _log_softmax(s / T)
    lt = _log_softmax(t / T if teacher_T else t)
    if probs_in:  # F.kl_div(softmax(s / T), softmax(t / T)): its input is taken as log-probabilities
        kl = np.exp(lt) * (lt - np.exp(ls))
    elif reverse:
        kl = np.exp(ls) * (ls - lt)
    else:
        kl = np.exp(lt) * (lt - ls)
    kl = kl.sum() / (kl.size if reduction == "mean" else len(s))
    soft = kl * (T * T if t2 else 1.0)
    lsy = _log_softmax(s / T if ce_T else s)
    hard = -np.mean(lsy[np.arange(len(y)), np.asarray(y)])
    a = 1.0 - alpha if swap else alpha
    return float(a * soft + (1.0 - a) * hard)


def _kd_grad(s, t, y, T, alpha) -> np.ndarray:
    """The hand-derived gradient of the distillation loss with respect to the student's logits: alpha T (p_s^T -
    p_t^T) / B from the soft term (T**2 times the KL at temperature T) plus (1 - alpha) (p_s - onehot(y)) / B."""
    s, t = np.asarray(s, dtype=float), np.asarray(t, dtype=float)
    B = len(s)
    ps_T, pt_T, ps = (np.exp(_log_softmax(v)) for v in (s / T, t / T, s))
    ps[np.arange(B), np.asarray(y)] -= 1.0
    return alpha * T * (ps_T - pt_T) / B + (1.0 - alpha) * ps / B


def _kd_case(rng: np.random.Generator, B: int, K: int, T: float, alpha: float, label: str) -> Case:
    import torch

    s = rng.normal(size=(B, K)) * 2.0
    t = rng.normal(size=(B, K)) * 3.0
    y = rng.integers(0, K, size=B)
    ts = torch.tensor(s, dtype=torch.float32, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float32)
    ty = torch.tensor(y, dtype=torch.int64)
    s32, t32 = ts.detach().double().numpy(), tt.double().numpy()
    expected = _kd_ref(s32, t32, y, T, alpha)
    g_student = _kd_grad(s32, t32, y, T, alpha)

    def validate(got):  # got: the observations of the probe "torch.loss" (the gradient w.r.t. student_logits)
        return observed_loss_problem(got, expected, 1e-4, 1e-6, reaches="the student",
                                     avoid="torch.no_grad(), .detach() or NumPy on the student's logits",
                                     grads=(("student_logits", g_student),))

    validate.args = (s32, t32, y, T, alpha)
    return Case((ts, tt, ty, T, alpha), expected=validate, label=label, probe=loss_probe(0))


def _kd_variant(**kw):
    def detect(got, e, c):
        v = observed_scalar(got)
        if v is None:
            return False
        ref, right = _kd_ref(*e.args, **kw), _kd_ref(*e.args)
        return bool(np.isclose(float(v), ref, rtol=1e-4, atol=1e-6)) and not bool(np.isclose(ref, right, rtol=1e-4))
    return detect


_KD_MISTAKES = (
    Mistake("no T squared", _kd_variant(t2=False),
            "the soft term is not multiplied by T**2: softening by T scales its gradients by 1/T**2, and the "
            "factor T**2 restores their size relative to the hard term."),
    Mistake("reversed KL", _kd_variant(reverse=True),
            "the KL divergence goes the wrong way, KL(student || teacher): the target distribution is the "
            "teacher's, KL(p_teacher || p_student) = sum p_t (log p_t - log p_s). (F.kl_div takes the student's "
            "LOG-probabilities as its first argument and the teacher's as the target.)"),
    Mistake("teacher not softened", _kd_variant(teacher_T=False),
            "the teacher's logits were not divided by the temperature: soften both distributions with the same T."),
    Mistake("probabilities into kl_div", _kd_variant(probs_in=True),
            "F.kl_div was given the student's probabilities: its first argument must be LOG-probabilities "
            "(log_softmax, not softmax); it computes sum target * (log target - input)."),
    Mistake("mean over classes", _kd_variant(reduction="mean"),
            "the KL divergence was averaged over every entry (B x K): sum over the classes and average over the "
            "batch only (F.kl_div's reduction='batchmean')."),
    Mistake("alpha swapped", _kd_variant(swap=True),
            "alpha weights the wrong term: alpha multiplies the soft (teacher) term and 1 - alpha the hard "
            "cross-entropy with the labels."),
    Mistake("CE at temperature", _kd_variant(ce_T=True),
            "the cross-entropy with the labels used the softened logits: the hard term uses the student's raw "
            "logits (temperature 1)."),
)


@register("11.distill_loss", signature="distill_loss(student_logits, teacher_logits, labels, T, alpha) -> scalar",
          time_limit=10.0,
          hint="Soften both logits with the same temperature T; KL from the teacher's distribution to the "
               "student's (summed over classes, averaged over the batch), times T**2, weighted by alpha; plus "
               "(1 - alpha) times the ordinary cross-entropy of the raw student logits with the labels.",
          recipe="Divide both logit tensors by T and take log-softmax over the classes. The soft term is the "
                 "KL divergence with the teacher as the target distribution: for each example, sum over the "
                 "classes of p_teacher times (log p_teacher - log p_student); average over the batch and "
                 "multiply by T squared. The hard term is the mean cross-entropy of the undivided student logits "
                 "with the integer labels. Weight them by alpha and 1 - alpha and add.",
          mistakes=_KD_MISTAKES)
def _distill_loss(rng: np.random.Generator):
    yield _kd_case(rng, 4, 3, 1.0, 0.5, "batch 4, 3 classes, T = 1, alpha = 0.5")
    yield _kd_case(rng, int(rng.integers(5, 12)), int(rng.integers(2, 6)), float(rng.choice([2.0, 4.0, 8.0])),
                   float(rng.choice([0.3, 0.7, 0.9])), "random batch, T > 1, alpha in (0, 1)")
    yield _kd_case(rng, 6, 2, 3.0, 1.0, "alpha = 1: only the soft (teacher) term, two classes")
    yield _kd_case(rng, 5, 4, 5.0, 0.0, "alpha = 0: only the cross-entropy with the labels")


# ----------------------------------------------------------------------------- 11.ddp_average_gradients (PyTorch)
def _ddp_grads(model, loss_fn, shards, *, how: str = "mean") -> list:
    """Reference with torch autograd (exact in float32 up to summation order) on a copy of the model."""
    import torch

    m = copy.deepcopy(model)
    params = list(m.parameters())

    def grads_of(x, y):
        for p in params:
            p.grad = None
        loss_fn(m(x), y).backward()
        return [p.grad.detach().double().clone() for p in params]

    if how == "union":
        return grads_of(torch.cat([x for x, _ in shards]), torch.cat([y for _, y in shards]))
    per = [grads_of(x, y) for x, y in shards]
    if how == "first":
        return per[0]
    if how == "last":
        return per[-1]
    if how == "cumulative":  # gradients accumulated across shards, never zeroed, the last state averaged
        running, acc = [torch.zeros_like(g) for g in per[0]], []
        for g in per:
            running = [r + gi for r, gi in zip(running, g)]
            acc.append(running)
        return [sum(a[i] for a in acc) / len(acc) for i in range(len(params))]
    total = [sum(g[i] for g in per) for i in range(len(params))]
    return total if how == "sum" else [t / len(per) for t in total]


def _as_list_of_arrays(got, n: int):
    if not isinstance(got, (list, tuple)) or len(got) != n:
        return None
    out = [_arr(g) for g in got]
    return None if any(o is None for o in out) else out


@register_builder("11.mlp")
def _mlp(sizes, weights):
    """``Sequential(Linear(d, h), Tanh(), Linear(h, k))`` with the given parameters (``weights``: float32 arrays in
    ``parameters()`` order), made where the answer runs."""
    import torch
    from torch import nn

    d, h, k = (int(v) for v in sizes)
    with torch.random.fork_rng(devices=[]):  # the initial values are overwritten: leave the caller's seed alone
        model = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, k))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.as_tensor(np.asarray(w, dtype=np.float32)).reshape(p.shape))
    return model


@register_builder("11.loss")
def _loss_module(name: str):
    from torch import nn

    return {"mse": nn.MSELoss, "ce": nn.CrossEntropyLoss}[name]()


def _ddp_case(rng: np.random.Generator, d: int, h: int, k: int, sizes: list[int], loss: str, label: str) -> Case:
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(0, 2**31)))
        init = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, k))
    weights = [p.detach().numpy().copy() for p in init.parameters()]
    model = _mlp([d, h, k], weights)   # the model and loss the answer gets, made here for the reference
    loss_fn = _loss_module(loss)
    if loss == "ce":
        shards = [(torch.tensor(rng.normal(size=(b, d)), dtype=torch.float32),
                   torch.tensor(rng.integers(0, k, size=b), dtype=torch.int64)) for b in sizes]
    else:
        shards = [(torch.tensor(rng.normal(size=(b, d)), dtype=torch.float32),
                   torch.tensor(rng.normal(size=(b, k)), dtype=torch.float32)) for b in sizes]
    want = [g.numpy() for g in _ddp_grads(model, loss_fn, shards)]
    shapes = [tuple(p.shape) for p in model.parameters()]

    def validate(got):
        if not isinstance(got, (list, tuple)):
            return (f"expected a list of {len(shapes)} tensors (one per parameter, in model.parameters() order), "
                    f"got {type(got).__name__}: {describe(got)}")
        if len(got) != len(shapes):
            return f"expected {len(shapes)} gradients (one per parameter), got {len(got)}"
        for i, (g, shape) in enumerate(zip(got, shapes)):
            if not isinstance(g, torch.Tensor):
                return (f"gradient {i} must be a torch.Tensor of shape {shape}, got {type(g).__name__}: "
                        f"{describe(g)}")
            if tuple(g.shape) != shape:
                return f"gradient {i} has shape {tuple(g.shape)}; its parameter has shape {shape}"
            problem = compare(g.detach().double().numpy(), want[i], 1e-4, 1e-6,
                              where=f"gradient {i} (parameter of shape {shape})")
            if problem:
                return problem
        return None

    validate.args = (model, loss_fn, shards)
    built = (Build("11.mlp", {"sizes": [d, h, k], "weights": weights}, text=" ".join(repr(model).split())),
             Build("11.loss", {"name": loss}, text=repr(loss_fn)))
    return Case((*built, shards), expected=validate, label=label)


def _ddp_variant(how: str):
    def detect(got, e, c):
        arrays = _as_list_of_arrays(got, len(list(e.args[0].parameters())))
        if arrays is None:
            return False
        ref = [g.numpy() for g in _ddp_grads(*e.args, how=how)]
        right = [g.numpy() for g in _ddp_grads(*e.args)]
        same_as_right = all(np.allclose(r, w, rtol=1e-4, atol=1e-6) for r, w in zip(ref, right))
        return (not same_as_right) and all(a.shape == r.shape and np.allclose(a, r, rtol=1e-4, atol=1e-6)
                                           for a, r in zip(arrays, ref))
    return detect


_DDP_MISTAKES = (
    Mistake("sum", _ddp_variant("sum"),
            "the per-process gradients were added: DDP's all-reduce sums them and then divides by the number of "
            "processes (the world size), so the result is their average."),
    Mistake("union batch", _ddp_variant("union"),
            "this is the gradient of ONE loss on all shards concatenated: it equals DDP's only when every shard "
            "has the same size. DDP averages the per-process gradients (each the gradient of that process's own "
            "mean loss): compute the gradient shard by shard and average them."),
    Mistake("cumulative", _ddp_variant("cumulative"),
            "the gradients were not reset between shards, so each shard's .grad also holds the previous shards' "
            "gradients: zero them (model.zero_grad()) before each backward pass, and copy (.clone()) each "
            "shard's gradients."),
    Mistake("first shard", _ddp_variant("first"),
            "only the first shard's gradient is there: compute one gradient per shard and average all of them."),
    Mistake("last shard", _ddp_variant("last"),
            "only the last shard's gradient is there (each backward pass overwrote the previous one, or the "
            "stored gradients were not cloned): keep a copy per shard and average them."),
)


@register("11.ddp_average_gradients", signature="ddp_average_gradients(model, loss_fn, shards) -> list of tensors",
          time_limit=15.0, pure=True,
          hint="One simulated process per shard: reset the gradients, compute that shard's loss and its gradients, "
               "keep a copy; the result is the element-wise average over the shards, one tensor per parameter.",
          recipe="For every (x, y) shard: clear the model's gradients, run the model on x, apply loss_fn with y, "
                 "call backward, and store a clone of every parameter's .grad (in model.parameters() order). "
                 "Then, for each parameter position, add up the stored gradients over the shards and divide by "
                 "the number of shards. Return the list of averaged tensors.",
          mistakes=_DDP_MISTAKES)
def _ddp_average_gradients(rng: np.random.Generator):
    yield _ddp_case(rng, 3, 4, 2, [4, 4], "mse", "two shards of 4 rows, MSE loss")
    world = int(rng.integers(3, 5))
    b = int(rng.integers(3, 9))
    yield _ddp_case(rng, int(rng.integers(3, 8)), int(rng.integers(3, 8)), int(rng.integers(2, 5)), [b] * world, "ce",
                    f"{world} shards of {b} rows each, cross-entropy")
    yield _ddp_case(rng, 4, 5, 3, [2, 7, 5], "ce",
                    "three shards of DIFFERENT sizes (2, 7, 5): the average of per-shard gradients is not the "
                    "union-batch gradient")
    yield _ddp_case(rng, 2, 3, 1, [6], "mse", "a single shard (world size 1): its own gradient")
