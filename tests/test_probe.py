"""The linear probe of lessons 04-06: C chosen on valid only, slices, the majority floor, clear errors."""
import numpy as np
import pandas as pd
import pytest

from course_utils import data, probe


@pytest.fixture(scope="module")
def records():
    return data.load_records()


def test_label_feature_is_perfect_and_noise_is_near_majority(records):
    y = np.array([r["label_binary"] for r in records], float)
    rng = np.random.default_rng(0)
    table = probe.probe_table({"label": y + 0.01 * rng.normal(size=len(y)), "noise": rng.normal(size=(len(y), 5))},
                              records=records)
    assert table.loc["label", "test Acc-2"] == 100.0 and table.loc["label", "test F1 (macro)"] == 100.0
    assert 35 <= table.loc["noise", "test Acc-2"] <= 70
    te = np.array([r["split"] == "test" for r in records])
    maj = table.loc["majority class", "test Acc-2"]
    assert maj == pytest.approx(100 * max(y[te].mean(), 1 - y[te].mean()))
    n_ironic = sum(1 for r in records if r["split"] == "test" and r["ironic"])
    assert f"Acc-2 ironic (n={n_ironic})" in table.columns
    assert table.loc["label", "dim"] == 1 and table.loc["noise", "dim"] == 5


def test_c_is_chosen_on_valid_not_test(records, monkeypatch):
    """Changing the test labels' features must not change the chosen C (no peeking at test)."""
    y = np.array([r["label_binary"] for r in records])
    split = np.array([r["split"] for r in records])
    rng = np.random.default_rng(1)
    X = rng.normal(size=(len(y), 20)) + 0.7 * y[:, None] * (rng.random(20) > 0.5)
    a = probe.linear_probe(X, y, split)
    X2 = X.copy()
    X2[split == "test"] = rng.normal(size=((split == "test").sum(), 20))
    b = probe.linear_probe(X2, y, split)
    assert a.C == b.C and a.valid_acc == b.valid_acc
    assert np.array_equal(a.pred[split != "test"], b.pred[split != "test"])


def test_predictions_rows_and_slices(records):
    y = np.array([r["label_binary"] for r in records])
    flipped = np.where([bool(r["ironic"]) for r in records], 1 - y, y)
    table = probe.probe_table(predictions={"rule": flipped}, records=records, skin_tones=True)
    ironic_col = [c for c in table.columns if c.startswith("Acc-2 ironic")][0]
    assert table.loc["rule", ironic_col] == 0.0
    assert table.loc["rule", "test Acc-2"] < 100.0 and pd.isna(table.loc["rule", "C"])
    assert any(c.startswith("Acc-2 skin_tone_") for c in table.columns)
    masks = probe.slice_masks(records)
    assert masks["no_face"].sum() == sum(r["occlusion"] in ("dark", "out_of_frame") for r in records)
    assert not (masks["no_face"] & masks["occluded"]).any()


def test_bad_inputs_get_clear_errors(records):
    n = len(records)
    with pytest.raises(probe.ProbeError, match="one row per utterance"):
        probe.probe_table({"x": np.zeros((150, 3))}, records=records)
    with pytest.raises(probe.ProbeError, match="NaN"):
        probe.probe_table({"x": np.full((n, 2), np.nan)}, records=records)
    with pytest.raises(probe.ProbeError, match="0/1"):
        probe.probe_table(predictions={"p": np.full(n, 0.5)}, records=records)
    with pytest.raises(probe.ProbeError, match="Unknown slice"):
        probe.probe_table({"x": np.zeros((n, 1))}, records=records, slices=("sarcasm",))


def test_warm_started_path_matches_independent_fits(records):
    """The warm-started C path gives the predictions of separate, tightly converged fits (up to rare ties)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y = np.array([r["label_binary"] for r in records])
    split = np.array([r["split"] for r in records])
    rng = np.random.default_rng(2)
    X = rng.normal(size=(len(y), 30)) + 0.5 * y[:, None] * (rng.random(30) > 0.6)
    res = probe.linear_probe(X, y, split)
    tr = split == "train"
    Xs = StandardScaler().fit(X[tr]).transform(X)
    ref = LogisticRegression(C=res.C, max_iter=10_000, tol=1e-8).fit(Xs[tr], y[tr]).predict(Xs)
    assert (ref != res.pred).mean() <= 0.01
    with pytest.raises(probe.ProbeError, match="both labels"):
        probe.linear_probe(X, np.where(split == "train", 1, y), split)
