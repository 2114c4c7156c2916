"""Classification and sentiment-regression metrics, in NumPy only.

Introduced in lesson 03 (backprop and autograd), where the first classifier is
scored; used by every later lesson up to the capstone (08). Inputs may be
lists, NumPy arrays or CPU tensors (anything ``np.asarray`` accepts).

The CMU-MOSI conventions (:func:`sentiment_metrics`) follow the literature on
multimodal sentiment analysis: a model predicts a continuous score in
``[-3, 3]`` and is reported with

* **Acc-2** and **F1**: binary accuracy and *weighted* F1 of the sign
  (negative vs non-negative, i.e. ``score >= 0`` is class 1, as in the course
  data set); ``exclude_zero=True`` gives the other common variant, negative
  vs positive with the items whose true score is exactly 0 left out;
* **Acc-7**: accuracy over the 7 classes ``round(clip(score, -3, 3))``
  (``np.rint``: halves round to the even neighbour);
* **MAE**: mean absolute error of the scores;
* **Corr**: Pearson correlation of the scores.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "accuracy", "confusion_matrix", "precision_recall_f1", "f1_score", "binary_f1",
    "mae", "pearson_corr", "seven_class", "sentiment_metrics",
]


def _labels(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example), got shape {arr.shape}")
    return arr


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}")
    if t.size == 0:
        raise ValueError("metrics need at least one example, got empty arrays")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the true label (lesson 03)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of examples with true class ``i`` predicted as ``j`` (lesson 03).

    Labels must be integers ``0 .. n_classes-1``; ``n_classes`` defaults to the
    largest label seen plus one.
    """
    t, p = _pair(y_true, y_pred)
    t, p = t.astype(np.int64), p.astype(np.int64)
    if (t < 0).any() or (p < 0).any():
        raise ValueError("confusion_matrix needs non-negative integer labels 0..n_classes-1")
    k = int(max(t.max(), p.max())) + 1 if n_classes is None else int(n_classes)
    if t.max() >= k or p.max() >= k:
        raise ValueError(f"a label is >= n_classes={k}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def precision_recall_f1(y_true, y_pred, positive=1) -> tuple[float, float, float]:
    """Precision, recall and F1 of class ``positive`` (lesson 03).

    A ratio whose denominator is 0 (no predicted / no true positives) is
    defined as 0, as in scikit-learn's ``zero_division=0``.
    """
    t, p = _pair(y_true, y_pred)
    tp = float(np.sum((p == positive) & (t == positive)))
    pred_pos, true_pos = float(np.sum(p == positive)), float(np.sum(t == positive))
    precision = tp / pred_pos if pred_pos else 0.0
    recall = tp / true_pos if true_pos else 0.0
    f1 = 2 * tp / (pred_pos + true_pos) if (pred_pos + true_pos) else 0.0
    return precision, recall, f1


def f1_score(y_true, y_pred, average: Literal["binary", "macro", "weighted"] = "binary",
             positive=1) -> float:
    """F1 score (lesson 03).

    ``average="binary"``: F1 of class ``positive``; ``"macro"``: the unweighted
    mean over the classes present in ``y_true`` or ``y_pred``; ``"weighted"``:
    the mean weighted by each class's number of true examples (the CMU-MOSI F1).
    """
    t, p = _pair(y_true, y_pred)
    if average == "binary":
        return precision_recall_f1(t, p, positive)[2]
    if average not in ("macro", "weighted"):
        raise ValueError(f"average must be 'binary', 'macro' or 'weighted', got {average!r}")
    classes = np.unique(np.concatenate([t, p]))
    scores = np.array([precision_recall_f1(t, p, c)[2] for c in classes])
    if average == "macro":
        return float(scores.mean())
    support = np.array([np.sum(t == c) for c in classes], dtype=float)
    return float(np.sum(scores * support) / support.sum())


def binary_f1(y_true, y_pred, positive=1) -> float:
    """F1 of the positive class for 0/1 labels (lesson 03)."""
    return f1_score(y_true, y_pred, average="binary", positive=positive)


def mae(y_true, y_pred) -> float:
    """Mean absolute error (lesson 03)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t.astype(float) - p.astype(float))))


def pearson_corr(y_true, y_pred) -> float:
    """Pearson correlation coefficient (lesson 03).

    Returns ``nan`` when either input is constant (the correlation is undefined).
    """
    t, p = _pair(y_true, y_pred)
    t, p = t.astype(float) - t.mean(), p.astype(float) - p.mean()
    denom = np.sqrt(np.sum(t * t) * np.sum(p * p))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.sum(t * p) / denom, -1.0, 1.0))


def seven_class(scores) -> np.ndarray:
    """Map scores to the 7 classes ``-3..3``: ``rint(clip(score, -3, 3))`` (lesson 03)."""
    return np.rint(np.clip(np.asarray(scores, dtype=float), -3.0, 3.0)).astype(np.int64)


def sentiment_metrics(y_true, y_pred, exclude_zero: bool = False) -> dict[str, float]:
    """CMU-MOSI style metrics of continuous sentiment scores in ``[-3, 3]`` (lesson 03).

    Returns ``{"acc2", "f1", "acc7", "mae", "corr"}``; see the module docstring
    for the definitions. With ``exclude_zero=True`` Acc-2 and F1 ignore the
    examples whose true score is exactly 0 and call a score positive when
    ``> 0`` (negative vs positive); Acc-7, MAE and Corr always use all examples.
    """
    t, p = _pair(y_true, y_pred)
    t, p = t.astype(float), p.astype(float)
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("sentiment_metrics got NaN or infinite scores")
    keep = t != 0 if exclude_zero else np.ones_like(t, dtype=bool)
    if not keep.any():
        raise ValueError("exclude_zero=True left no example (all true scores are 0)")
    if exclude_zero:  # negative vs positive
        bt, bp = (t[keep] > 0).astype(int), (p[keep] > 0).astype(int)
    else:  # negative vs non-negative
        bt, bp = (t >= 0).astype(int), (p >= 0).astype(int)
    return {
        "acc2": accuracy(bt, bp),
        "f1": f1_score(bt, bp, average="weighted"),
        "acc7": accuracy(seven_class(t), seven_class(p)),
        "mae": mae(t, p),
        "corr": pearson_corr(t, p),
    }
