"""Self-checks for lesson 04 (text features).

References come from :mod:`course_utils.features.text`. Every property is produced by the case generators
for any seed (fixed cases plus cases drawn from ``rng``), so an instructor test is the same check with
another seed. Predictable wrong answers are named by :class:`Mistake` detectors that recompute the wrong
variant from the case's own arguments. torch is imported only inside the generators of the two PyTorch
exercises (this module is imported by every ``check("04....")``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..features import text as ft
from ._core import (Case, as_float_array, close_to, Mistake, _to_numpy_if_tensor, compare, describe, register,
                    register_probe, tensor_observations)


_arr = as_float_array  # ``x`` as a float array (tensors converted), or None when not numeric


def _matches(got: Any, value: Any, rtol: float = 1e-7, atol: float = 1e-10) -> bool:
    """Does ``got`` equal ``value`` (same shape, close)? False for anything that is not numeric."""
    return close_to(got, value, rtol=rtol, atol=atol)


def _item(got: Any, i: int) -> Any:
    return got[i] if isinstance(got, (tuple, list)) and len(got) > i else None


# ----------------------------------------------------------------------------- 04.pad_and_mask
def _pad_validator(seqs: list, max_len: int) -> Callable:
    ids, mask = ft.pad_batch(seqs, max_len)

    def validate(got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (ids, mask) of 2 arrays, got {type(got).__name__}: {describe(got)}"
        for name, g in zip(("ids", "mask"), got):
            if type(g).__module__.startswith("torch"):  # the lesson goes on with NumPy: ids[tr], mask.mean()
                return (f"{name} is a torch tensor; this exercise returns NumPy arrays (the lesson indexes and "
                        "averages them with NumPy, and feeds them to both frameworks): build them with NumPy, or "
                        "convert with .numpy()")
        g_ids, g_mask = got
        for name, g in (("ids", g_ids), ("mask", g_mask)):
            if not isinstance(g, np.ndarray):
                return f"{name} is a {type(g).__name__}; expected a NumPy array (np.zeros / np.full build one)"
        problem = compare(g_ids, ids, 0, 0, where="ids") or compare(g_mask.astype(float) if g_mask.dtype == bool
                                                                     else g_mask, mask.astype(float), 0, 0,
                                                                     where="mask")
        if problem:
            return problem
        if not np.issubdtype(g_ids.dtype, np.integer):
            return (f"ids has dtype {g_ids.dtype}; token ids must be integers (an embedding layer looks them up): "
                    "create the array with dtype=np.int64")
        if g_mask.dtype != bool:
            return (f"mask has dtype {g_mask.dtype}; expected a boolean array (True on real tokens): use "
                    "dtype=bool, or a comparison such as ids != 0")
        return None

    validate.reference = (ids, mask)
    return validate


def _pad_variant(case: Case, kind: str):
    seqs, max_len = case.args
    if kind == "pre":
        ids = np.zeros((len(seqs), max_len), dtype=np.int64)
        for i, s in enumerate(seqs):
            s = list(s)[:max_len]
            if s:
                ids[i, max_len - len(s):] = s
        return ids
    if kind == "keep last":
        return ft.pad_batch(seqs, max_len, truncating="pre")[0]
    if kind == "longest":
        return ft.pad_batch(seqs)[0]
    raise ValueError(kind)


_PAD_MISTAKES = (
    Mistake("padding in front", lambda got, e, c: _matches(_item(got, 0), _pad_variant(c, "pre")),
            "the padding is at the start of each row; this lesson pads at the end (post-padding), so that row i "
            "starts with its first token and the mask is True on a prefix of the row."),
    Mistake("kept the last tokens", lambda got, e, c: _matches(_item(got, 0), _pad_variant(c, "keep last"))
            and any(len(s) > c.args[1] for s in c.args[0]),
            "a sequence longer than max_len kept its last tokens; truncate at the end instead: keep the first "
            "max_len tokens."),
    Mistake("max_len ignored", lambda got, e, c: _matches(_item(got, 0), _pad_variant(c, "longest"))
            and max(len(s) for s in c.args[0]) != c.args[1],
            "the rows have the length of the longest sequence, not max_len: every row must have exactly max_len "
            "columns (truncate longer sequences, pad shorter ones)."),
    Mistake("mask inverted", lambda got, e, c: _matches(_item(got, 1), ~e.reference[1]),
            "the mask is inverted: it must be True on real tokens and False on padding."),
    Mistake("(mask, ids) swapped", lambda got, e, c: _matches(_item(got, 0), e.reference[1])
            and _matches(_item(got, 1), e.reference[0]),
            "the two arrays come back in the wrong order: return (ids, mask)."),
    Mistake("transposed", lambda got, e, c: _matches(_item(got, 0), e.reference[0].T)
            and e.reference[0].shape[0] != e.reference[0].shape[1],
            "the arrays are transposed: one ROW per sequence, shape (len(seqs), max_len)."),
    Mistake("one token short", lambda got, e, c: c.args[1] > 1 and _matches(
        _item(got, 0), np.pad(ft.pad_batch(c.args[0], c.args[1] - 1)[0], ((0, 0), (0, 1)))),
            "a sequence of max_len tokens or more keeps only max_len - 1 of them: an off-by-one in the slice "
            "that truncates (s[:max_len] keeps exactly max_len)."),
    Mistake("mask off by one", lambda got, e, c: _matches(_item(got, 0), e.reference[0])
            and _arr(_item(got, 1)) is not None and _arr(_item(got, 1)).shape == e.reference[1].shape
            and np.abs(_arr(_item(got, 1)).sum(axis=1) - e.reference[1].sum(axis=1)).max() == 1,
            "ids are right but some mask rows have one True too many or too few: the mask must be True exactly "
            "on the positions that hold a token (an off-by-one in its length?)."),
)


@register("04.pad_and_mask", signature="pad_and_mask(seqs, max_len) -> (ids, mask)",
          hint="Every row has exactly max_len entries: the sequence's first tokens, then the padding id 0. The "
               "mask marks the real tokens. Check an empty sequence and one longer than max_len.",
          recipe="Start from an int64 array of zeros with one row per sequence and max_len columns, and a boolean "
                 "mask of the same shape filled with False; for each sequence, cut it to at most max_len tokens "
                 "and write it (and True in the mask) at the start of its row.",
          mistakes=_PAD_MISTAKES)
def _pad_and_mask(rng: np.random.Generator):
    def case(seqs, max_len, label):
        return Case((seqs, max_len), expected=_pad_validator(seqs, max_len), label=label)

    yield case([[5, 6, 7], [8], [2, 3, 4, 9, 10]], 4, "3 sequences, max_len=4 (pad and truncate)")
    yield case([[4, 2], []], 3, "an empty sequence (all padding, mask all False)")
    yield case([[7]], 1, "one token, max_len=1")
    for _ in range(2):
        n, max_len = int(rng.integers(2, 9)), int(rng.integers(3, 12))
        seqs = [[int(t) for t in rng.integers(1, 50, size=int(rng.integers(0, 2 * max_len)))] for _ in range(n)]
        seqs[0] = [int(t) for t in rng.integers(1, 50, size=max_len + 2)]  # at least one truncated
        yield case(seqs, max_len, f"random: {n} sequences, max_len={max_len}")


# ----------------------------------------------------------------------------- 04.tfidf_weights
def _tfidf_ref(train, counts, *, smooth=True, plus_one=True, log=np.log, norm="l2", df_kind="docs",
               idf_from="train", renorm=True):
    train = np.asarray(train, dtype=float)
    counts = np.asarray(counts, dtype=float)
    src = train if idf_from == "train" else counts
    n = src.shape[0]
    df = (src > 0).sum(axis=0) if df_kind == "docs" else src.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        idf = log((1.0 + n) / (1.0 + df)) if smooth else log(n / df)
    idf = idf + (1.0 if plus_one else 0.0)
    W = counts * idf
    if norm is None:
        return W
    with np.errstate(divide="ignore", invalid="ignore"):
        length = np.abs(W).sum(axis=1) if norm == "l1" else np.sqrt((W * W).sum(axis=1))
        return W / np.where(length > 0, length, 1.0)[:, None]


def _tfidf_rows(train, counts, n=None):
    train, counts = np.asarray(train, dtype=float), np.asarray(counts, dtype=float)
    n = train.shape[0] if n is None else n
    return counts * (np.log((1.0 + n) / (1.0 + (train > 0).sum(axis=0))) + 1.0)


def _tfidf_cols(train, counts):
    W = _tfidf_rows(train, counts)
    length = np.sqrt((W * W).sum(axis=0, keepdims=True))
    return W / np.where(length > 0, length, 1.0)


def _tfidf_n_terms(train, counts):
    W = _tfidf_rows(train, counts, n=np.asarray(train).shape[1])
    length = np.sqrt((W * W).sum(axis=1, keepdims=True))
    return W / np.where(length > 0, length, 1.0)


def _tfidf_sq(train, counts):
    W = _tfidf_rows(train, counts)
    length = (W * W).sum(axis=1, keepdims=True)
    return W / np.where(length > 0, length, 1.0)


def _tfidf_half(train, counts):
    train, counts = np.asarray(train, dtype=float), np.asarray(counts, dtype=float)
    W = counts * (np.log(train.shape[0] / (1.0 + (train > 0).sum(axis=0))) + 1.0)
    length = np.sqrt((W * W).sum(axis=1, keepdims=True))
    return W / np.where(length > 0, length, 1.0)


def _tfidf_mistake(**kw) -> Callable:
    def detect(got, expected, case):
        with np.errstate(all="ignore"):
            want = _tfidf_ref(*case.args, **kw)
        return bool(np.isfinite(want).all()) and _matches(got, want, rtol=1e-8, atol=1e-12)
    return detect


_TFIDF_MISTAKES = (
    Mistake("no smoothing", _tfidf_mistake(smooth=False),
            "the idf is ln(N / df) + 1, without smoothing: add one to the numerator and to df, "
            "ln((1 + N) / (1 + df)) + 1, as if one extra document contained every term (no division by zero for "
            "a term that never occurs in the training rows)."),
    Mistake("forgot the + 1", _tfidf_mistake(plus_one=False),
            "the idf misses its final + 1: without it a term found in every training document gets weight 0 and "
            "vanishes from the vector."),
    Mistake("log10", _tfidf_mistake(log=np.log10),
            "the idf uses a base-10 logarithm; this formula (and scikit-learn) uses the natural logarithm."),
    Mistake("not normalised", _tfidf_mistake(norm=None),
            "the rows are not normalised: divide each row by its Euclidean (L2) length, leaving all-zero rows "
            "at zero."),
    Mistake("L1 norm", _tfidf_mistake(norm="l1"),
            "each row was divided by the sum of its absolute values (L1); divide by its Euclidean (L2) length."),
    Mistake("df from counts", _tfidf_mistake(df_kind="total"),
            "df counted every occurrence of a term; the document frequency counts the documents (rows) that "
            "contain the term at least once."),
    Mistake("float32 inside", lambda got, e, c: isinstance(got, np.ndarray) and got.dtype == np.float64
            and _matches(got, _tfidf_ref(*c.args), rtol=1e-5, atol=1e-7),
            "the values are close to the formula's, but not to float64 precision although the result is float64: "
            "part of the computation (the idf?) ran in float32 (in torch, an integer tensor divided by another gives float32; "
            "np.float32 arrays stay float32). Compute in float64 throughout, or return a float32 array."),
    Mistake("columns normalised", lambda got, e, c: _matches(got, _tfidf_cols(*c.args), rtol=1e-8, atol=1e-12),
            "the columns were normalised (a norm over axis 0); each ROW (one document) must have length 1: take "
            "the norm over axis=1."),
    Mistake("N = number of terms", lambda got, e, c: _matches(got, _tfidf_n_terms(*c.args), rtol=1e-8, atol=1e-12)
            and c.args[0].shape[0] != c.args[0].shape[1],
            "N in the idf is the number of training DOCUMENTS (rows of train_counts), not the number of terms."),
    Mistake("squared length", lambda got, e, c: _matches(got, _tfidf_sq(*c.args), rtol=1e-8, atol=1e-12),
            "each row was divided by its squared length (the sum of squares); divide by its square root."),
    Mistake("idf from train + counts", lambda got, e, c: _matches(
        got, _tfidf_ref(np.vstack(c.args), c.args[1]), rtol=1e-8, atol=1e-12),
            "the idf was computed from the training rows AND `counts` together; it must come from `train_counts` "
            "only, so that the validation and test rows do not influence their own features."),
    Mistake("half smoothed", lambda got, e, c: _matches(got, _tfidf_half(*c.args), rtol=1e-8, atol=1e-12),
            "only df was smoothed (ln(N / (1 + df)) + 1): the smoothing adds one to the numerator as well, as if "
            "one extra document contained every term."),
    Mistake("idf from the wrong rows", _tfidf_mistake(idf_from="counts"),
            "the idf was computed from `counts`; it must come from `train_counts` (the training documents), so "
            "that the validation and test rows do not influence their own features."),
)


def _tfidf_validator(want: np.ndarray) -> Callable:
    """float64 results to 1e-9; a float32 result (a correct computation in single precision, e.g. torch's
    default dtype) to float32's precision: the lesson then compares it with scikit-learn at 1e-6."""
    def validate(got):
        single = isinstance(got, np.ndarray) and got.dtype in (np.float32, np.float16)
        return compare(got, want, 1e-5 if single else 1e-9, 1e-7 if single else 1e-12)
    return validate


@register("04.tfidf_weights", signature="tfidf_weights(train_counts, counts) -> np.ndarray", returns=np.ndarray,
          hint="Three steps: document frequencies and the smoothed idf from the training rows only; weight the "
               "counts; normalise each row. What happens to a row without any known term?",
          recipe="df of a term: the number of training rows where its count is positive; N: the number of training "
                 "rows; the idf is the natural log of (1 + N) / (1 + df), plus 1; multiply every row of counts by "
                 "the idf; divide each weighted row by its Euclidean length, using 1 instead of 0 for an all-zero "
                 "row.",
          mistakes=_TFIDF_MISTAKES)
def _tfidf_weights(rng: np.random.Generator):
    def case(train, counts, label, **kw):
        train, counts = np.asarray(train, dtype=float), np.asarray(counts, dtype=float)
        idf = ft.idf_weights(train)
        return Case((train, counts), expected=_tfidf_validator(ft.tfidf_from_counts(counts, idf)), label=label,
                    **kw)

    train = np.array([[1, 0, 2, 0], [1, 1, 0, 0], [3, 0, 0, 1]])
    yield case(train, train, "3 documents, 4 terms (the training rows themselves)")
    yield case(train, np.array([[0, 0, 0, 0], [2, 0, 0, 5]]), "new rows, one of them without any term",
               floating="raise")
    yield case(np.array([[1, 0, 1], [2, 0, 1]]), np.array([[1, 1, 1]]),
               "a term absent from the training rows (df = 0)", floating="raise")
    for _ in range(2):
        n, m, v = (int(k) for k in rng.integers(3, 12, size=3))
        tr = rng.poisson(0.7, size=(n, v)).astype(float)
        tr[0] = 1.0  # every term occurs at least once: the unsmoothed variant stays finite
        yield case(tr, rng.poisson(0.7, size=(m, v)).astype(float), f"random: {n} training rows, {m} rows, "
                   f"{v} terms")


# ----------------------------------------------------------------------------- 04.sgns_loss
def _sgns_ref(v, u, n) -> float:
    v, u, n = (np.asarray(_to_numpy_if_tensor(a), dtype=np.float64) for a in (v, u, n))
    log_sig = lambda x: -np.logaddexp(0.0, -x)  # noqa: E731
    return float(np.mean(-log_sig((u * v).sum(1)) - log_sig(-np.einsum("bkd,bd->bk", n, v)).sum(1)))


def _sgns_variant(case: Case, kind: str) -> float:
    v, u, n = (np.asarray(_to_numpy_if_tensor(a), dtype=np.float64) for a in case.args)
    log_sig = lambda x: -np.logaddexp(0.0, -x)  # noqa: E731
    pos, neg = (u * v).sum(1), np.einsum("bkd,bd->bk", n, v)
    if kind == "neg sign":
        per = -log_sig(pos) - log_sig(neg).sum(1)
    elif kind == "mean over k":
        per = -log_sig(pos) - log_sig(-neg).mean(1)
    elif kind == "positive only":
        per = -log_sig(pos)
    elif kind == "sum over batch":
        return float(np.sum(-log_sig(pos) - log_sig(-neg).sum(1)))
    elif kind == "sign":
        per = log_sig(pos) + log_sig(-neg).sum(1)
    elif kind == "noise vs context":
        per = -log_sig(pos) - log_sig(-np.einsum("bkd,bd->bk", n, u)).sum(1)
    else:
        raise ValueError(kind)
    return float(np.mean(per))


def _sgns_number(obs: Any) -> np.ndarray | None:
    """The value the answer returned, from the observations of ``04.sgns_output`` (a tensor's value, or a
    number or array that is not a tensor), as a float array; None when it is not numeric."""
    if not isinstance(obs, dict):
        return _arr(obs)
    value = obs.get("value", obs.get("number"))
    return None if value is None else _arr(value)


def _sgns_mistake(kind: str) -> Callable:
    def detect(got, expected, case):
        g = _sgns_number(got)
        if g is None or g.size != 1:
            return False
        want = _sgns_variant(case, kind)
        return bool(np.isfinite(want)) and abs(float(g.reshape(())) - want) <= 1e-5 * max(1.0, abs(want))
    return detect


def _sgns_not_finite(got, expected, case) -> bool:
    g = _sgns_number(got)
    return g is not None and g.size == 1 and not bool(np.isfinite(g).all())


_LOG_EPS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15, 1e-20, 1e-30)


def _sgns_eps_in_log(got, expected, case) -> bool:
    """log(sigmoid(s) + eps) or log(clamp(sigmoid(s), eps)): finite, but wrong for large scores."""
    g = _sgns_number(got)
    if g is None or g.size != 1 or not np.isfinite(g).all():
        return False
    g = float(g.reshape(()))
    v, u, n = (np.asarray(_to_numpy_if_tensor(a), dtype=np.float64) for a in case.args)
    pos, neg = (u * v).sum(1), np.einsum("bkd,bd->bk", n, v)
    sig = lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))  # noqa: E731 - no overflow warning
    for eps in _LOG_EPS:
        for f in (lambda p: np.log(p + eps), lambda p: np.log(np.maximum(p, eps))):
            want = float(np.mean(-f(sig(pos)) - f(sig(-neg)).sum(1)))
            if abs(g - want) <= 1e-5 * max(1.0, abs(want)) and abs(want - _sgns_ref(*case.args)) > 1e-9:
                return True
    return False


_SGNS_MISTAKES = (
    Mistake("epsilon inside the log", _sgns_eps_in_log,
            "the loss looks like log(sigmoid(x) + eps) or log(clamp(sigmoid(x), eps)): that avoids -inf but "
            "changes the value (slightly for every score, and a lot for large scores, where the loss is capped "
            "near -log(eps)). Compute log sigma(x) in one stable step instead (lesson 01's log-sum-exp trick)."),
    Mistake("log of a rounded sigmoid", _sgns_not_finite,
            "the loss is infinite or NaN for large scores: sigma(-100) rounds to 0 in float32, and log(0) = -inf. "
            "Compute log sigma(x) in one stable step (torch.nn.functional.logsigmoid), never log(sigmoid(x))."),
    Mistake("sign of the noise term", _sgns_mistake("neg sign"),
            "the noise words enter with the wrong sign: a noise word should get a LOW score u_k . v_c, so its "
            "term is log sigma(-u_k . v_c)."),
    Mistake("mean over the noise words", _sgns_mistake("mean over k"),
            "the K noise terms are averaged; the objective sums them (each noise word is one more binary "
            "classification)."),
    Mistake("noise words missing", _sgns_mistake("positive only"),
            "only the true context pair is scored: without the noise words the loss is minimised by making "
            "every vector huge, and nothing separates contexts from non-contexts."),
    Mistake("sum over the batch", _sgns_mistake("sum over batch"),
            "the loss is summed over the pairs of the batch; take the mean, so the learning rate does not depend "
            "on the batch size."),
    Mistake("noise scored against the context", _sgns_mistake("noise vs context"),
            "the noise words are scored against the context vector; every score is a dot product with the CENTER "
            "vector: u_o . v_c for the true context, u_k . v_c for each noise word."),
    Mistake("sign of the loss", _sgns_mistake("sign"),
            "the loss has the wrong sign: you return the log-likelihood; the loss to minimise is its negative."),
)


def _sgns_grads(v, u, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hand-derived gradients of the SGNS loss with respect to center, context and negatives (float64)."""
    v, u, n = (np.asarray(_to_numpy_if_tensor(a), dtype=np.float64) for a in (v, u, n))
    sig = lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))  # noqa: E731 - no overflow warning
    B = v.shape[0]
    d_pos = -sig(-(u * v).sum(1)) / B                      # d loss / d (u_b . v_b)
    d_neg = sig(np.einsum("bkd,bd->bk", n, v)) / B         # d loss / d (n_bk . v_b)
    dv = d_pos[:, None] * u + np.einsum("bk,bkd->bd", d_neg, n)
    return dv, d_pos[:, None] * v, d_neg[:, :, None] * v[:, None, :]


_SGNS_NAMES = ("center", "context", "negatives")


@register_probe("04.sgns_output")
def _sgns_output(got: Any, args: tuple, kwargs: dict) -> dict:
    """Observations of the loss an answer returned, made where it ran: those of ``torch.output`` (value, dtype,
    shape, grad_fn and the gradients with respect to the three inputs that require them) and, for a result that
    is not a tensor, its value as a number or array (``number``) for the named mistakes."""
    obs = tensor_observations(got, args, kwargs, wrt=(0, 1, 2))
    if "value" not in obs:
        number = _arr(got)
        obs["number"] = number if number is not None and number.size <= 100_000 else None
    return obs


_SGNS_PROBE = ("04.sgns_output", {})


def _sgns_validator(args: tuple, rtol: float) -> Callable:
    """The verdict on the observations of ``04.sgns_output``, the same in a learner's kernel and in the grader:
    the value, and for inputs that require gradients, autograd's gradients against the hand-derived ones."""
    want = _sgns_ref(*args)
    needs_grad = [bool(getattr(a, "requires_grad", False)) for a in args]
    want_grads = _sgns_grads(*args) if any(needs_grad) else None

    def validate(obs):
        if "shape" not in obs:
            return (f"returned a {obs['type']}; expected a torch tensor (a scalar that .backward() can "
                    "differentiate): compute with torch operations and do not call .item()")
        shape = tuple(obs["shape"])
        if int(np.prod(shape)) != 1:
            return f"expected a scalar tensor (one number, the mean loss), got shape {shape}"
        low = obs["dtype"] in ("torch.float32", "torch.float16", "torch.bfloat16")
        tol = max(rtol, 1e-6) if low else rtol
        problem = compare(float(np.asarray(obs["value"], dtype=float).reshape(())), want, tol, 1e-9)
        if problem:
            return problem
        if any(needs_grad) and not obs["grad_fn"]:
            return ("the value is right but it is cut from the graph (no grad_fn): .item(), .numpy(), .detach() "
                    "or NumPy calls stop gradients; use torch operations only")
        for k, (name, wanted) in enumerate(zip(_SGNS_NAMES, want_grads or ())):
            if not needs_grad[k]:
                continue
            g = obs["grads"][k] if k < len(obs.get("grads") or ()) else None
            if g is None:
                return (f"the value is right but no gradient reaches {name}: part of the loss was computed "
                        "outside autograd (.detach(), .item(), NumPy) or from a copy; use torch operations only")
            g = np.asarray(g, dtype=float)
            g_rtol, g_atol = (1e-4, 1e-6 * max(1.0, float(np.max(np.abs(wanted))))) if low else (1e-7, 1e-12)
            if g.shape != wanted.shape or not np.allclose(g, wanted, rtol=g_rtol, atol=g_atol):
                diff = float(np.max(np.abs(g - wanted))) if g.shape == wanted.shape else float("nan")
                return (f"the value is right but autograd's gradient with respect to {name} differs from the "
                        f"hand-derived one by up to {diff:.3g}: is a part of the computation detached, or a "
                        "non-differentiable shortcut used?")
        return None

    return validate


@register("04.sgns_loss", signature="sgns_loss(center, context, negatives) -> scalar tensor", time_limit=10.0,
          hint="One score per pair for the true context and one per noise word, each a dot product with the "
               "center vector; the true pair should score high, the noise words low. Mean over the batch. "
               "Check scores of +-100 in float32.",
          recipe="pos = (center * context).sum(dim=1) has shape (B,); neg = negatives @ center.unsqueeze(2) "
                 "has shape (B, K, 1). The loss is the batch mean of -log sigma(pos) - sum over k of "
                 "log sigma(-neg); F.logsigmoid computes log sigma without overflow or log(0).",
          mistakes=_SGNS_MISTAKES)
def _sgns_loss(rng: np.random.Generator):
    import torch

    def case(v, u, n, label, dtype=torch.float64, rtol=1e-9, grad=False):
        args = tuple(torch.tensor(a, dtype=dtype, requires_grad=grad) for a in (v, u, n))
        return Case(args, expected=_sgns_validator(args, rtol), label=label, probe=_SGNS_PROBE)

    v = np.array([[1.0, 0.0], [0.5, -0.5]])
    u = np.array([[2.0, 1.0], [0.0, 1.0]])
    n = np.array([[[1.0, 1.0], [-1.0, 0.0], [0.0, 0.0]], [[1.0, -1.0], [2.0, 2.0], [0.5, 0.0]]])
    yield case(v, u, n, "batch of 2 pairs, 3 noise words, d=2")
    B, K, d = (int(k) for k in (rng.integers(3, 17), rng.integers(1, 8), rng.integers(2, 12)))
    yield case(rng.normal(size=(B, d)), rng.normal(size=(B, d)), rng.normal(size=(B, K, d)),
               f"random: B={B}, K={K}, d={d}, gradients must flow", grad=True)
    big = np.full((2, 4), 5.0)
    yield case(big, np.stack([big[0], -big[1]]), np.stack([np.tile(big[0], (3, 1)), -np.tile(big[1], (3, 1))]),
               "scores of +-100 in float32 (no log(0), no overflow)", dtype=torch.float32, rtol=1e-5)
    B, d = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    yield case(rng.normal(size=(B, d)), rng.normal(size=(B, d)), rng.normal(size=(B, 1, d)),
               f"a single noise word per pair (K=1), B={B}")


# ----------------------------------------------------------------------------- 04.masked_mean
def _mm_args(case: Case):
    x = np.asarray(_to_numpy_if_tensor(case.args[0]), dtype=np.float64)
    m = np.asarray(_to_numpy_if_tensor(case.args[1]), dtype=np.float64)
    return x, m


def _mm_ref(x, m):
    s = (x * m[..., None]).sum(axis=1)
    return s / np.maximum(m.sum(axis=1), 1.0)[:, None]


_MM_MISTAKES = (
    Mistake("padding counted", lambda got, e, c: _matches(got, _mm_args(c)[0].mean(axis=1), rtol=1e-5, atol=1e-6),
            "the padding positions are averaged in: a mean over all T positions. Only positions where the mask "
            "is True count, in the sum and in the number you divide by."),
    Mistake("divided by T", lambda got, e, c: _matches(
        got, (_mm_args(c)[0] * _mm_args(c)[1][..., None]).sum(axis=1) / _mm_args(c)[0].shape[1], rtol=1e-5,
        atol=1e-6),
            "the padded positions are zeroed in the sum, but you divide by T (all positions); divide by the "
            "number of real tokens of each row."),
    Mistake("sum, not mean", lambda got, e, c: _matches(
        got, (_mm_args(c)[0] * _mm_args(c)[1][..., None]).sum(axis=1), rtol=1e-5, atol=1e-6),
            "this is the masked SUM; divide it by the number of real tokens of each row."),
    Mistake("mask inverted", lambda got, e, c: _matches(got, _mm_ref(_mm_args(c)[0], 1.0 - _mm_args(c)[1]),
                                                         rtol=1e-5, atol=1e-6),
            "the mean is over the padding positions: the mask is True (1) on REAL tokens."),
)


def _mm_validator(x_t, m_t, want, rtol) -> Callable:
    def validate(got):
        import torch

        if not isinstance(got, torch.Tensor):
            return (f"returned a {type(got).__name__}; expected a torch tensor (the lesson pools torch tensors "
                    "with it): use torch operations")
        g = got.detach().numpy().astype(np.float64)
        if np.isnan(g).any():
            return ("got NaN: a row whose mask is all False divides 0 by 0; clamp the token count to at least 1 "
                    "(its mean is then the zero vector)")
        problem = compare(g, want, rtol, 1e-6)
        if problem:
            return problem
        if got.dtype != x_t.dtype:
            return f"the result has dtype {got.dtype}; keep the dtype of x ({x_t.dtype})"
        return None

    return validate


@register("04.masked_mean", signature="masked_mean(x, mask) -> tensor (N, d)", time_limit=10.0,
          hint="Only the positions where the mask is True count, in the sum and in the count you divide by. "
               "Check a row whose mask is all False (its mean should be the zero vector) and a 0/1 mask.",
          recipe="Turn the mask into x's dtype with a trailing axis of length 1, shape (N, T, 1); multiply x by it, "
                 "sum over the time axis, and divide by the number of valid steps per row (the mask's sum over "
                 "time), clamped to at least 1.",
          mistakes=_MM_MISTAKES)
def _masked_mean(rng: np.random.Generator):
    import torch

    def case(x, mask, label, dtype=torch.float32, mask_dtype=torch.bool):
        x_t = torch.tensor(x, dtype=dtype)
        m_t = torch.tensor(mask).to(mask_dtype)
        want = _mm_ref(np.asarray(x, dtype=np.float64), np.asarray(mask, dtype=np.float64))
        rtol = 1e-5 if dtype == torch.float32 else 1e-10
        return Case((x_t, m_t), expected=_mm_validator(x_t, m_t, want, rtol), label=label)

    x = np.arange(12.0).reshape(2, 3, 2)
    yield case(x, [[True, True, False], [True, False, False]], "2 texts of 2 and 1 tokens, T=3, d=2")
    yield case(x, [[True, True, True], [False, False, False]], "a text without tokens (all padding): zero vector")
    yield case(x, [[1, 1, 0], [1, 0, 0]], "a 0/1 integer mask", mask_dtype=torch.int64)
    N, T, d = (int(k) for k in rng.integers(2, 9, size=3))
    lengths = rng.integers(1, T + 1, size=N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    yield case(rng.normal(size=(N, T, d)), mask, f"random: N={N}, T={T}, d={d}, float64", dtype=torch.float64)
