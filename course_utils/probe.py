"""The linear probe that ends every feature lesson (lessons 04-06).

How much sentiment does a feature kind carry? Fit the *same* simple classifier
(logistic regression on standardised features, its strength ``C`` chosen on the
*valid* split) on every feature kind, and report the *test* split's Acc-2 and
macro-F1, overall and on the slices where a modality is known to fail (ironic,
negation, contrast, neutral, low SNR, no face, occluded face, each skin tone).
Because the classifier is fixed, differences between rows are differences
between features, not between models.

::

    from course_utils import probe
    table = probe.probe_table({"TF-IDF": X_tfidf, "MiniLM": X_minilm})   # rows in metadata order
    table                                                                 # a pandas DataFrame (%)

``X`` arrays have one row per utterance of the bundled data set, in the order of
``course_utils.data.load_records()`` (all splits). Models that predict by
themselves (a fine-tuned network, a lexicon rule) enter through
``predictions={"GRU": y_pred}`` (0/1 per utterance, same order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

#: Regularisation strengths tried on the valid split (inverse L2 penalty of logistic regression).
#: C = 10 is left out: on standardised features it is all but unpenalised, never won on valid in lessons
#: 04-06, and on separable high-dimensional features (pixels) its optimum runs off to infinity.
C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)

#: Slice name -> description; the masks come from :func:`slice_masks`.
SLICES: dict[str, str] = {
    "ironic": "ironic utterances (the words say the opposite of the sentiment)",
    "negation": "negated utterances ('not good')",
    "contrast": "contrastive utterances ('..., but ...')",
    "neutral": "neutral statements",
    "low_snr": "speech below 0 dB SNR",
    "no_face": "face missing (dark or out of frame)",
    "occluded": "face partly occluded (mask, hand, microphone, sunglasses)",
}
_PARTIAL_OCCLUSIONS = ("mask", "hand", "microphone", "sunglasses")


class ProbeError(ValueError):
    """Features or predictions do not line up with the data set (lesson 04)."""


@dataclass
class ProbeResult:
    """One probe: the chosen ``C``, valid accuracy and the predictions for every utterance (lesson 04)."""

    name: str
    C: float | None
    valid_acc: float
    pred: "np.ndarray"
    extra: dict[str, Any] = field(default_factory=dict)


def slice_masks(records: Sequence[Mapping[str, Any]], *, skin_tones: bool = True) -> dict[str, "np.ndarray"]:
    """Boolean masks ``(N,)`` of the slices in :data:`SLICES` (plus ``skin_tone_k``) (lesson 04)."""
    import numpy as np

    def col(fn: Any) -> np.ndarray:
        return np.array([bool(fn(r)) for r in records])

    masks = {
        "ironic": col(lambda r: int(r["ironic"])),
        "negation": col(lambda r: int(r["negation"])),
        "contrast": col(lambda r: int(r["contrast"])),
        "neutral": col(lambda r: int(r["neutral"])),
        "low_snr": col(lambda r: float(r["snr_db"]) < 0),
        "no_face": col(lambda r: r["occlusion"] in ("dark", "out_of_frame")),
        "occluded": col(lambda r: r["occlusion"] in _PARTIAL_OCCLUSIONS),
    }
    if skin_tones:
        tones = sorted({int(r["skin_tone"]) for r in records})
        for t in tones:
            masks[f"skin_tone_{t}"] = col(lambda r, t=t: int(r["skin_tone"]) == t)
    return masks


def _check_rows(name: str, X: Any, n: int) -> "np.ndarray":
    import numpy as np

    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        raise ProbeError(
            f"Features {name!r} have shape {X.shape}; expected (N, d) with N = {n}, one row per utterance "
            "in the order of course_utils.data.load_records() (all splits). "
            "How to fix: compute the features for every utterance (not one split) and keep the metadata order.")
    if not np.isfinite(X).all():
        raise ProbeError(f"Features {name!r} contain NaN or inf. How to fix: check the extractor "
                         "(e.g. log of 0, an empty input) or replace missing values before probing.")
    return X.astype(np.float64)


def linear_probe(X: "np.ndarray", y: "np.ndarray", split: "np.ndarray", *, name: str = "features",
                 Cs: Sequence[float] = C_GRID) -> ProbeResult:
    """Logistic regression on standardised ``X`` ``(N, d)``, ``C`` chosen on valid (lesson 04).

    ``y``: 0/1 labels ``(N,)``; ``split``: ``"train"``/``"valid"``/``"test"`` per row.
    The scaler and the classifier see the train rows only; ties in valid accuracy
    go to the smaller ``C`` (the simpler model). Returns predictions for all rows.

    Speed and exactness: each fit uses Newton's method (sklearn's ``newton-cholesky``
    solver), which converges in a few steps. When there are more columns than
    training rows (3,072 pixels, 700 rows), the standardised rows are first
    expressed in the basis of the training rows' span (a thin SVD): the L2-penalised
    optimum always lies in that span (its gradient is a combination of training
    rows), so the predictions are those of the full problem, at a fraction of the cost.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    split = np.asarray(split)
    X = _check_rows(name, X, len(y))
    tr, va = split == "train", split == "valid"
    if not tr.any() or not va.any():
        raise ProbeError("linear_probe needs rows of both the 'train' and the 'valid' split.")
    if len(np.unique(y[tr])) < 2:
        raise ProbeError("linear_probe needs both labels (0 and 1) among the train rows.")
    Xs = StandardScaler().fit(X[tr]).transform(X)
    if Xs.shape[1] > tr.sum():
        _, sv, vt = np.linalg.svd(Xs[tr], full_matrices=False)
        Xs = Xs @ vt[sv > sv[0] * 1e-10].T
    best: tuple[float, float, np.ndarray] | None = None
    for C in sorted(Cs):
        model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=200)  # deterministic: no seed
        model.fit(Xs[tr], y[tr])
        pred = model.predict(Xs)
        acc = float((pred[va] == y[va]).mean())
        if best is None or acc > best[0] + 1e-12:
            best = (acc, C, pred)
    assert best is not None
    acc, C, pred = best
    return ProbeResult(name=name, C=float(C), valid_acc=acc, pred=pred.astype(np.int64))


def probe_table(features: Mapping[str, "np.ndarray"] | None = None, *,
                predictions: Mapping[str, "np.ndarray"] | None = None,
                records: Sequence[Mapping[str, Any]] | None = None,
                slices: Sequence[str] = tuple(SLICES), skin_tones: bool = False,
                Cs: Sequence[float] = C_GRID, percent: bool = True) -> "pd.DataFrame":
    """The probe table: one row per feature kind, test Acc-2, macro-F1 and slice Acc-2 (lesson 04).

    ``features``: name -> ``(N, d)`` array (or ``(N,)``) over all utterances in
    ``records`` order (default: ``course_utils.data.load_records()``), probed with
    :func:`linear_probe`. ``predictions``: name -> 0/1 predictions ``(N,)`` of a
    model that predicts by itself (reported as is, no ``C``). Columns: ``dim``,
    ``C`` (as text, e.g. ``"0.001"``, so that rounding the table for display never
    shows 0.0; blank for predictions), ``valid Acc-2``, ``test Acc-2``, ``test F1 (macro)`` and one
    ``Acc-2 <slice> (n=k)`` per slice of the test split (``skin_tones=True`` adds
    one column per skin tone). Values in % when ``percent``. A majority-class row
    (the most frequent train label) is always added as the floor to beat.
    """
    import numpy as np
    import pandas as pd
    from sklearn.metrics import f1_score

    if records is None:
        from .data import load_records

        records = load_records()
    records = list(records)
    y = np.array([int(r["label_binary"]) for r in records])
    split = np.array([r["split"] for r in records])
    te = split == "test"
    masks = slice_masks(records, skin_tones=skin_tones)
    unknown = [s for s in slices if s not in masks]
    if unknown:
        raise ProbeError(f"Unknown slice(s) {unknown}; known: {sorted(SLICES)}.")
    names = list(slices) + ([k for k in masks if k.startswith("skin_tone_")] if skin_tones else [])
    results: list[tuple[ProbeResult, int | None]] = []
    for name, X in (features or {}).items():
        Xc = _check_rows(name, X, len(y))
        results.append((linear_probe(Xc, y, split, name=name, Cs=Cs), Xc.shape[1]))
    for name, pred in (predictions or {}).items():
        pred = np.asarray(pred).reshape(-1)
        if pred.shape[0] != len(y) or not np.isin(pred, (0, 1)).all():
            raise ProbeError(f"Predictions {name!r} must be 0/1 with one entry per utterance ({len(y)}); "
                             f"got shape {pred.shape} with values {np.unique(pred)[:5]}.")
        va = split == "valid"
        results.append((ProbeResult(name, None, float((pred[va] == y[va]).mean()), pred.astype(np.int64)), None))
    majority = int(np.bincount(y[split == "train"], minlength=2).argmax())
    results.append((ProbeResult("majority class", None, float((y[split == "valid"] == majority).mean()),
                                np.full(len(y), majority)), 0))
    scale = 100.0 if percent else 1.0
    rows = []
    for res, dim in results:
        p = res.pred
        row: dict[str, Any] = {
            "features": res.name,
            "dim": dim,
            "C": "" if res.C is None else f"{res.C:g}",
            "valid Acc-2": scale * res.valid_acc,
            "test Acc-2": scale * float((p[te] == y[te]).mean()),
            "test F1 (macro)": scale * float(f1_score(y[te], p[te], average="macro", zero_division=0)),
        }
        for s in names:
            m = te & masks[s]
            row[f"Acc-2 {s} (n={int(m.sum())})"] = scale * float((p[m] == y[m]).mean()) if m.any() else np.nan
        rows.append(row)
    table = pd.DataFrame(rows).set_index("features")
    table["dim"] = table["dim"].astype("Int64")  # an integer column with blanks (models that predict by themselves)
    return table


__all__ = ["C_GRID", "SLICES", "ProbeError", "ProbeResult", "slice_masks", "linear_probe", "probe_table"]
