"""course_utils.metrics against hand-computed values (and scikit-learn when installed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from course_utils import metrics as M


def test_import_is_numpy_only():
    assert M.np is np
    import course_utils.metrics  # noqa: F401

    src = Path(M.__file__).read_text(encoding="utf-8")
    for heavy in ("torch", "tensorflow", "sklearn", "pandas"):
        assert f"import {heavy}" not in src


def test_accuracy_and_confusion():
    assert M.accuracy([1, 0, 1, 1], np.array([1, 1, 1, 0])) == 0.5
    assert M.accuracy(np.array([[1], [0]]), [1, 0]) == 1.0  # column vectors are fine
    cm = M.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], n_classes=3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 0, 1], [0, 1, 1]])
    with pytest.raises(ValueError):
        M.accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        M.accuracy([], [])
    with pytest.raises(ValueError):
        M.confusion_matrix([0, 3], [0, 1], n_classes=2)


def test_binary_f1_by_hand():
    y, p = [1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0]
    prec, rec, f1 = M.precision_recall_f1(y, p)
    assert (prec, rec) == (2 / 3, 2 / 3) and abs(f1 - 2 / 3) < 1e-12
    assert M.binary_f1(y, p) == f1
    assert M.binary_f1([0, 0], [0, 0]) == 0.0  # no positives at all: defined as 0
    with pytest.raises(ValueError):
        M.f1_score(y, p, average="micro")


def test_f1_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
        for avg in ("macro", "weighted"):
            assert abs(M.f1_score(y, p, average=avg) - sk.f1_score(y, p, average=avg)) < 1e-12
        yb, pb = y % 2, p % 2
        assert abs(M.binary_f1(yb, pb) - sk.f1_score(yb, pb)) < 1e-12


def test_regression_metrics():
    t, p = np.array([-3.0, -1.0, 0.0, 2.0]), np.array([-2.0, -1.5, 0.4, 2.6])
    assert abs(M.mae(t, p) - np.mean(np.abs(t - p))) < 1e-12
    assert abs(M.pearson_corr(t, p) - np.corrcoef(t, p)[0, 1]) < 1e-12
    assert np.isnan(M.pearson_corr([1, 1, 1], [1, 2, 3]))
    np.testing.assert_array_equal(M.seven_class([-3.7, -2.5, -0.4, 0.5, 1.5, 2.6, 9]), [-3, -2, 0, 0, 2, 3, 3])


def test_sentiment_metrics():
    t = np.array([-2.4, -0.6, 0.0, 0.0, 1.2, 2.8])
    p = np.array([-1.9, 0.3, -0.2, 0.1, 1.4, 2.1])
    m = M.sentiment_metrics(t, p)
    assert set(m) == {"acc2", "f1", "acc7", "mae", "corr"}
    # negative vs non-negative: truth [0,0,1,1,1,1], pred [0,1,0,1,1,1] -> 4/6
    assert abs(m["acc2"] - 4 / 6) < 1e-12
    # classes: truth [-2,-1,0,0,1,3], pred [-2,0,0,0,1,2] -> 4/6
    assert abs(m["acc7"] - 4 / 6) < 1e-12
    assert abs(m["mae"] - np.mean(np.abs(t - p))) < 1e-12
    nz = M.sentiment_metrics(t, p, exclude_zero=True)
    # zeros dropped: truth [0,0,1,1], pred [0,1,1,1] -> 3/4
    assert abs(nz["acc2"] - 3 / 4) < 1e-12 and nz["mae"] == m["mae"]
    perfect = M.sentiment_metrics(t, t)
    assert perfect["acc2"] == perfect["acc7"] == perfect["f1"] == 1.0 and perfect["mae"] == 0.0
    with pytest.raises(ValueError):
        M.sentiment_metrics([0.0], [np.nan])
    with pytest.raises(ValueError):
        M.sentiment_metrics([0.0, 0.0], [1.0, 1.0], exclude_zero=True)


def test_weighted_f1_matches_sklearn_on_scores():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    t, p = rng.uniform(-3, 3, 100), rng.uniform(-3, 3, 100)
    expected = sk.f1_score(t >= 0, p >= 0, average="weighted")
    assert abs(M.sentiment_metrics(t, p)["f1"] - expected) < 1e-12
