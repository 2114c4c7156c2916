"""Lesson 04 self-checks: several independent correct formulations pass (public and instructor seeds),
the stub gets "not implemented" and no hint, predictable wrong answers fail with their named feedback."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks import run_check
from course_utils.checks._core import lookup
from course_utils.features import text as ft
from checkhelp import through_npz as _over_the_wire

torch = pytest.importorskip("torch")
F = torch.nn.functional

# the public self-check, the instructor seeds used in the lesson, and one more
SEEDS = {"04.pad_and_mask": (0, 4421, 17), "04.tfidf_weights": (0, 8093, 17), "04.sgns_loss": (0, 6121, 17),
         "04.masked_mean": (0, 3391, 17)}


# ----------------------------------------------------------------------------- correct formulations
def pad_loop(seqs, max_len):
    ids = np.zeros((len(seqs), max_len), dtype=np.int64)
    mask = np.zeros((len(seqs), max_len), dtype=bool)
    for i, s in enumerate(seqs):
        s = list(s)[:max_len]
        ids[i, :len(s)] = s
        mask[i, :len(s)] = True
    return ids, mask


def pad_lists(seqs, max_len):
    rows = [list(s)[:max_len] + [0] * max(0, max_len - len(s)) for s in seqs]
    ids = np.array(rows, dtype=np.int64).reshape(len(seqs), max_len)
    return ids, ids != 0


def pad_lengths(seqs, max_len):
    lengths = np.array([min(len(s), max_len) for s in seqs])
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    ids = np.zeros(mask.shape, dtype=np.int64)
    ids[mask] = [t for s in seqs for t in list(s)[:max_len]]
    return ids, mask


def pad_package(seqs, max_len):
    return ft.pad_batch(seqs, max_len)


def tfidf_formula(train_counts, counts):
    n = train_counts.shape[0]
    df = (np.asarray(train_counts) > 0).sum(axis=0)
    w = counts * (np.log((1 + n) / (1 + df)) + 1)
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.divide(w, norm, out=np.zeros_like(w, dtype=float), where=norm > 0)


def tfidf_sklearn(train_counts, counts):
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer().fit(train_counts).transform(counts).toarray()


def tfidf_count_nonzero(train_counts, counts):
    n = len(train_counts)
    idf = 1.0 + np.log1p(n) - np.log1p(np.count_nonzero(train_counts, axis=0))
    w = np.asarray(counts, dtype=float) * idf
    lengths = np.sqrt(np.einsum("ij,ij->i", w, w))
    lengths[lengths == 0] = 1.0
    return w / lengths[:, None]


def tfidf_package(train_counts, counts):
    return ft.tfidf_from_counts(counts, ft.idf_weights(train_counts))


def sgns_bmm(v, u, n):
    pos = (v * u).sum(1)
    neg = torch.bmm(n, v.unsqueeze(2)).squeeze(2)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(1)).mean()


def sgns_einsum_softplus(v, u, n):
    pos = torch.einsum("bd,bd->b", u, v)
    neg = torch.einsum("bkd,bd->bk", n, v)
    return (F.softplus(-pos) + F.softplus(neg).sum(1)).mean()       # -log sigma(x) = softplus(-x)


def sgns_bce(v, u, n):
    scores = torch.cat([(u * v).sum(1, keepdim=True), (n * v.unsqueeze(1)).sum(2)], dim=1)
    targets = torch.zeros_like(scores)
    targets[:, 0] = 1
    return F.binary_cross_entropy_with_logits(scores, targets, reduction="none").sum(1).mean()


def sgns_package(v, u, n):
    return ft.sgns_loss(v, u, n)


def mm_unsqueeze(x, mask):
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def mm_einsum(x, mask):
    m = mask.to(x.dtype)
    return torch.einsum("ntd,nt->nd", x, m) / torch.clamp(m.sum(1, keepdim=True), min=1.0)


def mm_where(x, mask):
    m = mask.bool()
    total = torch.where(m.unsqueeze(-1), x, torch.zeros_like(x)).sum(dim=1)
    count = m.sum(dim=1, keepdim=True).to(x.dtype)
    return total / torch.maximum(count, torch.ones_like(count))


def mm_package(x, mask):
    return ft.masked_mean(x, mask)


def pad_python_lists(seqs, max_len):           # no NumPy until the end
    ids, mask = [], []
    for s in seqs:
        kept = list(s)[:max_len]
        ids.append(kept + [0] * (max_len - len(kept)))
        mask.append([True] * len(kept) + [False] * (max_len - len(kept)))
    return np.array(ids, dtype=np.int64).reshape(len(seqs), max_len), np.array(mask, dtype=bool).reshape(len(seqs), max_len)


def pad_int32_compare(seqs, max_len):           # int32 ids, mask from a comparison
    ids = np.zeros((len(seqs), max_len), dtype=np.int32)
    for i, s in enumerate(seqs):
        s = list(s)[:max_len]
        ids[i, :len(s)] = s
    return ids, ids > 0


def tfidf_float32(train_counts, counts):        # single precision throughout (review l04: was rejected)
    tc, c = np.asarray(train_counts, np.float32), np.asarray(counts, np.float32)
    idf = (np.log((1 + tc.shape[0]) / (1 + np.count_nonzero(tc, axis=0))) + 1).astype(np.float32)
    w = c * idf
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)


def tfidf_torch(train_counts, counts):          # torch inside, float64, F.normalize
    tc = torch.as_tensor(np.asarray(train_counts), dtype=torch.float64)
    c = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    idf = torch.log((1.0 + tc.shape[0]) / (1.0 + (tc > 0).sum(0).double())) + 1
    return F.normalize(c * idf, dim=1).numpy()


def tfidf_loops(train_counts, counts):          # pure Python loops over lists
    rows = [list(r) for r in np.asarray(train_counts)]
    n, v = len(rows), len(rows[0])
    idf = [np.log((1 + n) / (1 + sum(1 for r in rows if r[j] > 0))) + 1 for j in range(v)]
    out = []
    for r in np.asarray(counts):
        w = [r[j] * idf[j] for j in range(v)]
        length = sum(x * x for x in w) ** 0.5
        out.append([x / length if length > 0 else 0.0 for x in w])
    return np.array(out)


def sgns_float32(v, u, n):                      # computes in float32 whatever the input dtype
    v, u, n = v.float(), u.float(), n.float()
    return -(F.logsigmoid((v * u).sum(1)) + F.logsigmoid(-(n @ v[:, :, None])[..., 0]).sum(1)).mean()


def sgns_loops(v, u, n):                        # one pair and one noise word at a time
    total = 0
    for b in range(v.shape[0]):
        term = -F.logsigmoid(torch.dot(v[b], u[b]))
        for k in range(n.shape[1]):
            term = term - F.logsigmoid(-torch.dot(n[b, k], v[b]))
        total = total + term
    return total / v.shape[0]


def mm_loop_bool_index(x, mask):                # a loop over rows, boolean indexing
    rows = []
    for i in range(x.shape[0]):
        sel = x[i][mask[i].bool()]
        rows.append(sel.mean(0) if len(sel) else torch.zeros(x.shape[2], dtype=x.dtype))
    return torch.stack(rows)


def mm_integer_count(x, mask):                  # bool mask times x, integer token count
    m = mask.unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


CORRECT = {
    "04.pad_and_mask": [pad_loop, pad_lists, pad_lengths, pad_package, pad_python_lists, pad_int32_compare],
    "04.tfidf_weights": [tfidf_formula, tfidf_sklearn, tfidf_count_nonzero, tfidf_package, tfidf_float32,
                         tfidf_torch, tfidf_loops],
    "04.sgns_loss": [sgns_bmm, sgns_einsum_softplus, sgns_bce, sgns_package, sgns_float32, sgns_loops],
    "04.masked_mean": [mm_unsqueeze, mm_einsum, mm_where, mm_package, mm_loop_bool_index, mm_integer_count],
}


@pytest.mark.parametrize("exercise,answer,seed",
                         [(ex, fn, s) for ex, fns in CORRECT.items() for fn in fns for s in SEEDS[ex]],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_correct_formulations_pass(exercise, answer, seed):
    result = run_check(exercise, answer, seed=seed)
    assert result.passed, result.message
    assert result.n_cases >= 4


def test_labels_do_not_depend_on_the_seed_for_fixed_properties():
    for exercise in CORRECT:
        spec = lookup(exercise)
        a = [c.label for c in spec.cases(np.random.default_rng(0))]
        b = [c.label for c in spec.cases(np.random.default_rng(1))]
        assert len(a) == len(b) and a[0] == b[0], exercise


# ----------------------------------------------------------------------------- named mistakes
def _mistake(exercise, answer, fragment, seed=0):
    result = run_check(exercise, answer, seed=seed, record=False)
    assert not result.passed, f"{getattr(answer, '__name__', answer)} passed"
    assert fragment in result.message, result.message
    return result


@pytest.mark.parametrize("seed", (0, 4421))
def test_pad_and_mask_mistakes(seed):
    def pre_padding(seqs, max_len):
        ids = np.zeros((len(seqs), max_len), dtype=np.int64)
        for i, s in enumerate(seqs):
            s = list(s)[:max_len]
            if s:
                ids[i, max_len - len(s):] = s
        return ids, ids != 0

    def keep_last(seqs, max_len):
        return ft.pad_batch(seqs, max_len, truncating="pre")

    def longest(seqs, max_len):
        return ft.pad_batch(seqs)

    def inverted(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        return ids, ~mask

    def int_mask(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        return ids, mask.astype(np.int64)

    def float_ids(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        return ids.astype(float), mask

    def in_place(seqs, max_len):   # pads the learner's lists themselves, then stacks them
        for s in seqs:
            del s[max_len:]
            s.extend([0] * (max_len - len(s)))
        ids = np.array(seqs, dtype=np.int64).reshape(len(seqs), max_len)
        return ids, ids != 0

    _mistake("04.pad_and_mask", pre_padding, "padding is at the start", seed)
    _mistake("04.pad_and_mask", keep_last, "kept its last tokens", seed)
    _mistake("04.pad_and_mask", longest, "not max_len", seed)
    _mistake("04.pad_and_mask", inverted, "mask is inverted", seed)
    _mistake("04.pad_and_mask", int_mask, "expected a boolean array", seed)
    _mistake("04.pad_and_mask", float_ids, "must be integers", seed)
    _mistake("04.pad_and_mask", in_place, "in place", seed)

    def torch_tensors(seqs, max_len):  # passed before, then broke the lesson (1 - mask.mean() on a bool tensor)
        ids, mask = ft.pad_batch(seqs, max_len)
        return torch.from_numpy(ids), torch.from_numpy(mask)

    _mistake("04.pad_and_mask", torch_tensors, "returns NumPy arrays", seed)

    def swapped(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        return mask, ids

    def transposed(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        return ids.T, mask.T

    def one_short(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len - 1) if max_len > 1 else ft.pad_batch(seqs, max_len)
        return np.pad(ids, ((0, 0), (0, max_len - ids.shape[1]))), np.pad(mask, ((0, 0), (0, max_len - ids.shape[1])))

    def mask_one_long(seqs, max_len):
        ids, mask = ft.pad_batch(seqs, max_len)
        longer = np.arange(max_len)[None, :] <= mask.sum(axis=1)[:, None]
        return ids, longer

    _mistake("04.pad_and_mask", swapped, "wrong order", seed)
    _mistake("04.pad_and_mask", transposed, "transposed", seed)
    _mistake("04.pad_and_mask", one_short, "max_len - 1", seed)
    _mistake("04.pad_and_mask", mask_one_long, "one True too many", seed)


@pytest.mark.parametrize("seed", (0, 8093))
def test_tfidf_weights_mistakes(seed):
    ref = lambda tr, c, **kw: __import__("course_utils.checks.lesson04", fromlist=["_tfidf_ref"])._tfidf_ref(tr, c, **kw)  # noqa: E731
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, norm=None), "not normalised", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, norm="l1"), "(L1)", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, plus_one=False), "final + 1", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, log=np.log10), "base-10", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, df_kind="total"), "counts the documents", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(tr, c, idf_from="counts"), "must come from `train_counts`", seed)

    def unsmoothed(tr, c):
        with np.errstate(divide="ignore", invalid="ignore"):
            return ref(tr, c, smooth=False)

    result = _mistake("04.tfidf_weights", unsmoothed, "without smoothing", seed)
    assert "ln((1 + N) / (1 + df)) + 1" in result.message

    def nan_rows(tr, c):
        n = tr.shape[0]
        w = c * (np.log((1 + n) / (1 + (tr > 0).sum(0))) + 1)
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    result = _mistake("04.tfidf_weights", nan_rows, "without any term", seed)
    assert "floating-point" in result.message

    def float32_idf(tr, c):  # torch: int / int tensor is float32; the rest float64
        t = torch.as_tensor(np.asarray(tr), dtype=torch.float64)
        idf = torch.log((1 + t.shape[0]) / (1 + (t > 0).sum(0))) + 1
        return F.normalize(torch.as_tensor(np.asarray(c), dtype=torch.float64) * idf, dim=1).numpy()

    _mistake("04.tfidf_weights", float32_idf, "ran in float32", seed)

    def idf_weight(tr, c, n=None):
        n = tr.shape[0] if n is None else n
        return c * (np.log((1 + n) / (1 + (tr > 0).sum(0))) + 1)

    def unit(w, axis=1, power=0.5):
        length = ((w * w).sum(axis=axis, keepdims=True)) ** power
        return w / np.where(length > 0, length, 1.0)

    _mistake("04.tfidf_weights", lambda tr, c: unit(idf_weight(tr, c), axis=0), "axis=1", seed)
    _mistake("04.tfidf_weights", lambda tr, c: unit(idf_weight(tr, c, n=tr.shape[1])), "DOCUMENTS", seed)
    _mistake("04.tfidf_weights", lambda tr, c: unit(idf_weight(tr, c), power=1.0), "squared length", seed)
    _mistake("04.tfidf_weights", lambda tr, c: ref(np.vstack([tr, c]), c), "AND `counts` together", seed)
    _mistake("04.tfidf_weights", lambda tr, c: unit(c * (np.log(tr.shape[0] / (1 + (tr > 0).sum(0))) + 1)),
             "only df was smoothed", seed)


@pytest.mark.parametrize("seed", (0, 6121))
def test_sgns_loss_mistakes(seed):
    def pos_neg(v, u, n):
        return (u * v).sum(1), torch.bmm(n, v.unsqueeze(2)).squeeze(2)

    def naive_log(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(torch.log(torch.sigmoid(p)) + torch.log(torch.sigmoid(-q)).sum(1)).mean()

    def wrong_noise_sign(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(F.logsigmoid(p) + F.logsigmoid(q).sum(1)).mean()

    def mean_over_k(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(F.logsigmoid(p) + F.logsigmoid(-q).mean(1)).mean()

    def positive_only(v, u, n):
        return -F.logsigmoid(pos_neg(v, u, n)[0]).mean()

    def batch_sum(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(F.logsigmoid(p) + F.logsigmoid(-q).sum(1)).sum()

    def likelihood(v, u, n):
        return -sgns_bmm(v, u, n)

    def python_float(v, u, n):
        return sgns_bmm(v, u, n).item()

    def detached(v, u, n):
        return sgns_bmm(v, u, n).detach()

    def eps_in_log(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(torch.log(torch.sigmoid(p) + 1e-10) + torch.log(torch.sigmoid(-q) + 1e-10).sum(1)).mean()

    def clamped_log(v, u, n):
        p, q = pos_neg(v, u, n)
        return -(torch.log(torch.sigmoid(p).clamp(min=1e-7)) + torch.log(torch.sigmoid(-q).clamp(min=1e-7)).sum(1)).mean()

    def noise_vs_context(v, u, n):
        p = (u * v).sum(1)
        return -(F.logsigmoid(p) + F.logsigmoid(-torch.bmm(n, u.unsqueeze(2)).squeeze(2)).sum(1)).mean()

    _mistake("04.sgns_loss", noise_vs_context, "against the context vector", seed)
    _mistake("04.sgns_loss", naive_log, "logsigmoid", seed)
    _mistake("04.sgns_loss", eps_in_log, "log(sigmoid(x) + eps)", seed)
    _mistake("04.sgns_loss", clamped_log, "log(sigmoid(x) + eps)", seed)
    _mistake("04.sgns_loss", wrong_noise_sign, "wrong sign: a noise word", seed)
    _mistake("04.sgns_loss", mean_over_k, "averaged", seed)
    _mistake("04.sgns_loss", positive_only, "only the true context pair", seed)
    _mistake("04.sgns_loss", batch_sum, "summed over the pairs", seed)
    _mistake("04.sgns_loss", likelihood, "log-likelihood", seed)
    _mistake("04.sgns_loss", python_float, "expected a torch tensor", seed)
    _mistake("04.sgns_loss", detached, "cut from the graph", seed)


@pytest.mark.parametrize("seed", (0, 3391))
def test_masked_mean_mistakes(seed):
    _mistake("04.masked_mean", lambda x, m: x.mean(dim=1), "padding positions are averaged in", seed)
    _mistake("04.masked_mean", lambda x, m: (x * m.to(x.dtype).unsqueeze(-1)).sum(1) / x.shape[1],
             "divide by T", seed)
    _mistake("04.masked_mean", lambda x, m: (x * m.to(x.dtype).unsqueeze(-1)).sum(1)
             / m.to(x.dtype).sum(1, keepdim=True), "got NaN", seed)
    _mistake("04.masked_mean", lambda x, m: mm_unsqueeze(x, m).numpy(), "expected a torch tensor", seed)
    _mistake("04.masked_mean", lambda x, m: mm_unsqueeze(x.double(), m), "keep the dtype", seed)
    _mistake("04.masked_mean", lambda x, m: (x * m.to(x.dtype).unsqueeze(-1)).sum(1), "masked SUM", seed)
    _mistake("04.masked_mean", lambda x, m: mm_unsqueeze(x, 1 - m.to(torch.int64)), "over the padding", seed)


# ----------------------------------------------------------------------------- 04.sgns_loss judged outside (issue 12)


def _sgns_runs(answer, seed=0):
    from course_utils.checks import _core

    cases = list(lookup("04.sgns_loss").cases(np.random.default_rng(_core._seed_for("04.sgns_loss", seed))))
    return cases, _core.run_answer("04.sgns_loss", answer, _core.case_inputs(cases))


def test_sgns_loss_is_judged_outside_on_observed_gradients(tmp_path):
    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    judge = Judge()
    assert judge._decide("04.sgns_loss"), judge.reasons
    cases, run = _sgns_runs(sgns_bmm)
    back = _over_the_wire(run, tmp_path)
    graded = back.runs[1].got  # the case whose inputs require gradients
    assert [type(g).__name__ for g in graded["grads"]] == ["ndarray"] * 3 and graded["grad_fn"] is True
    assert all(g is None for g in back.runs[0].got["grads"])  # inputs without gradients: none observed
    result = _core.judge("04.sgns_loss", back, 0, cases=cases)
    assert result.passed, result.message


@pytest.mark.parametrize("forge,needle", [
    (lambda obs: obs.update(grads=[None, None, None]), "no gradient reaches center"),
    (lambda obs: obs.update(grads=[None if g is None else 1.01 * g for g in obs["grads"]]), "differs from the hand"),
    (lambda obs: obs.update(grads=[obs["grads"][0], obs["grads"][1], np.zeros_like(obs["grads"][2])]),
     "gradient with respect to negatives"),
    (lambda obs: obs.update(grad_fn=False, requires_grad=True), "cut from the graph"),
    (lambda obs: obs.update(grads=[np.zeros((1,)), None, None]), "differs from the hand"),
])
def test_sgns_loss_forged_observations_fail(tmp_path, forge, needle):
    """A record whose value is right but whose gradients are missing, plausible but wrong, or replaced by a
    flag fails when judged outside: a pass rests on the gradient values a correct loss produces."""
    from course_utils.checks import _core

    cases, run = _sgns_runs(sgns_bmm)
    forge(run.runs[1].got)
    result = _core.judge("04.sgns_loss", _over_the_wire(run, tmp_path), 0, cases=cases)
    assert not result.passed and needle in result.message, result.message


def test_sgns_loss_partly_detached_is_rejected():
    def detached_noise(v, u, n):
        pos, neg = (v * u).sum(1), torch.bmm(n.detach(), v.unsqueeze(2)).squeeze(2)
        return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(1)).mean()

    result = _mistake("04.sgns_loss", detached_noise, "no gradient reaches negatives")
    assert "random: B=" in result.message
