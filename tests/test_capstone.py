"""course_utils.capstone (lesson 10): the metrics report equals course_utils.metrics, intervals and baselines behave,
slices, calibration, ablation and perturbations are right on hand-made inputs, seed system 004 has the same size
and output shapes in both frameworks, and run_capstone selects on valid and reuses a protocol."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import capstone as CAP, metrics
from course_utils.data.byo import FeatureSet


def _scores(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = np.round(rng.uniform(-3, 3, n) * 2) / 2
    return t, t + rng.normal(scale=0.9, size=n)


def test_report_metrics_matches_the_course_metrics():
    t, p = _scores()
    r = CAP.report_metrics(t, p)
    ref = metrics.sentiment_metrics(t, p)
    for k in ("acc2", "acc7", "mae", "corr"):
        assert np.isclose(r[k], ref[k]), k
    assert np.isclose(r["f1_weighted"], ref["f1"])
    nz = t != 0
    assert np.isclose(r["acc2_non0"], metrics.accuracy((t[nz] > 0).astype(int), (p[nz] >= 0).astype(int)))
    assert nz.sum() < len(t)      # the fixture has zero scores, so the two Acc-2 variants are tested apart
    lab = (p >= 0).astype(int)
    lab[:10] = 1 - lab[:10]
    r2 = CAP.report_metrics(t, p, lab)     # decisions from a classifier head, scores unchanged
    assert np.isclose(r2["acc2"], metrics.accuracy((t >= 0).astype(int), lab)) and r2["mae"] == r["mae"]
    with pytest.raises(CAP.CapstoneError):
        CAP.report_metrics(t, p[:-1])
    with pytest.raises(CAP.CapstoneError):
        CAP.report_metrics(t, np.full_like(p, np.nan))


def test_evaluate_intervals_contain_the_value_and_groups_matter():
    t, p = _scores(150)
    groups = np.repeat(np.arange(6), 25)
    res = CAP.evaluate(t, p, None, groups, n_boot=300)
    for k, (v, lo, hi) in res.items():
        assert lo <= v + 1e-9 and v - 1e-9 <= hi, k
    none = CAP.evaluate(t, p, n_boot=0)
    assert all(np.isnan(lo) for _, lo, _ in none.values())
    table = CAP.format_report({"model": res, "no ci": none})
    assert table.count("\n") == 3 and "[" in table.splitlines()[2] and "[" not in table.splitlines()[3]


def test_baselines_are_trivial():
    train = np.array([-2.0, -1.0, 0.0, 1.0, 1.0, 2.0, 1.2])
    base = CAP.baseline_predictions(train, 4)
    score, label = base["majority class"]
    assert label.tolist() == [1, 1, 1, 1] and score.tolist() == [1.0] * 4
    score, label = base["constant score"]
    assert np.allclose(score, np.median(train)) and label.tolist() == [1] * 4
    res = CAP.evaluate(np.array([-1.0, 1.0, 2.0, -2.0]), score, label, n_boot=0)
    assert np.isnan(res["corr"][0]) and res["acc2"][0] == 0.5


def test_slices_and_wilson():
    recs = [dict(ironic=1, contrast=0, negation=0, neutral=0, kind="ironic", snr_db=-5.0, occlusion="out_of_frame",
                 skin_tone=2, domain="food"),
            dict(ironic=0, contrast=0, negation=1, neutral=0, kind="negation", snr_db=10.0, occlusion="mask",
                 skin_tone=5, domain="film"),
            dict(ironic=0, contrast=0, negation=0, neutral=0, kind="plain", snr_db=20.0, occlusion="none",
                 skin_tone=2, domain="food")]
    masks = CAP.slice_masks(recs)
    assert masks["ironic"].tolist() == [True, False, False] and masks["face missing"].tolist() == [True, False, False]
    assert masks["face occluded"].tolist() == [False, True, False] and masks["skin tone 2"].sum() == 2
    assert masks["low SNR (< 0 dB)"].tolist() == [True, False, False]
    assert masks["plain"].tolist() == [False, False, True]
    rows = {r["slice"]: r for r in CAP.slice_table(masks, [True, False, True])}
    assert rows["all"]["acc"] == pytest.approx(2 / 3) and rows["skin tone 2"]["acc"] == 1.0
    assert rows["all"]["lo"] < 2 / 3 < rows["all"]["hi"]
    lo, hi = CAP.wilson_interval(0, 10)
    assert lo == 0.0 and 0.2 < hi < 0.35
    with pytest.raises(CAP.CapstoneError):
        CAP.slice_masks([{"text": "x"}])


def test_ablation_and_perturbation():
    calls = []

    def train_eval(mods):
        calls.append(mods)
        return {"a": 0.3, "b": 0.1, "c": 0.0}["a"] * ("a" in mods) + 0.1 * ("b" in mods)

    assert CAP.ablation(train_eval, ["a", "b", "c"]) == pytest.approx({"a": 0.3, "b": 0.1, "c": 0.0})
    assert calls == [("a", "b", "c"), ("b", "c"), ("a", "c"), ("a", "b")]
    x = {"a": np.ones((4, 2)), "b": np.full((4, 3), 2.0)}
    contrib = CAP.perturbation_contributions(lambda d: d["a"].sum(1) + 0.5 * d["b"].sum(1), x)
    assert contrib.shape == (4, 2) and np.allclose(contrib, [[2.0, 3.0]] * 4)


def test_seed004_twins_have_equal_sizes_and_output_shapes():
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    kw = dict(text_dim=12, n_mels=5, hidden=6, channels=(2, 3))
    tm = CAP.seed004_torch(**kw).eval()
    km = CAP.seed004_keras(max_frames=7, **kw)
    assert sum(p.numel() for p in tm.parameters()) == km.count_params()
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(3, 7, 5)).astype("float32")
    audio[0, 4:] = 0.0                                 # a short clip: padding frames
    x = {"text": rng.normal(size=(3, 12)).astype("float32"), "face": rng.uniform(size=(3, 48, 48, 1)).astype("float32"),
         "audio": audio}
    out = tm({k: torch.as_tensor(v) for k, v in x.items()})
    assert out["logits"].shape == (3, 2) and out["score"].shape == (3,)
    # the padding is masked: adding more zero frames does not change the output
    longer = dict(x, audio=np.concatenate([audio, np.zeros((3, 3, 5), "float32")], axis=1))
    out2 = tm({k: torch.as_tensor(v) for k, v in longer.items()})
    assert torch.allclose(out["score"], out2["score"], atol=1e-6)
    kout = km(x, training=False)
    assert tuple(kout["logits"].shape) == (3, 2) and tuple(kout["score"].shape) == (3, 1)
    loss = CAP.multitask_loss(out["logits"], out["score"][:, None], torch.tensor([0, 1, 1]),
                              torch.tensor([-1.0, 0.5, 2.0]), 1.0, 0.5)
    assert loss.dim() == 0 and loss.requires_grad


def _tiny_set(n=90, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.uniform(-3, 3, n).astype("float32")
    split = np.array(["train"] * 60 + ["valid"] * 15 + ["test"] * 15)
    feats = {"text": (score[:, None] + rng.normal(size=(n, 4))).astype("float32"),
             "audio": rng.normal(size=(n, 3)).astype("float32")}
    return FeatureSet(features=feats, label_binary=(score >= 0).astype(int), split=split,
                      ids=np.array([f"u{i}" for i in range(n)]), label_score=score,
                      speaker=np.array([f"s{i // 5}" for i in range(n)]))


def test_run_capstone_selects_on_valid_and_reuses_a_protocol():
    pytest.importorskip("torch")
    fs = _tiny_set()
    res = CAP.run_capstone(fs, candidates=("early", "late"), grid={"lr": (1e-3, 3e-3)}, epochs=3, patience=2,
                           n_boot=50)
    cands = [e for e in res.selection if e["role"] in ("candidate", "final")]
    assert len(cands) == 4 and res.chosen["val_loss"] == min(e["val_loss"] for e in cands)
    assert res.final_name in res.report and "majority class" in res.report and "unimodal text" in res.report
    assert res.outputs[res.final_name]["test"].shape == (15, 2)
    assert set(res.protocol) >= {"model", "config", "epochs", "unimodal_epochs", "model_kwargs"}
    again = CAP.run_capstone(fs, protocol=res.protocol, unimodal=False, n_boot=0)
    assert [e["model"] for e in again.selection] == [res.protocol["model"]]
    assert again.selection[0]["epochs"] == res.protocol["epochs"]
    assert "| system |" in again.table()
    no_scores = FeatureSet(features=fs.features, label_binary=fs.label_binary, split=fs.split, ids=fs.ids)
    with pytest.raises(CAP.CapstoneError):
        CAP.run_capstone(no_scores, epochs=1)


def test_model_card_is_filled_from_numbers():
    t, p = _scores(60)
    rep = CAP.evaluate(t, p, None, np.repeat(np.arange(6), 10), n_boot=50)
    card = CAP.model_card("m", data="d", selection="s", report=rep, ece=0.0312,
                          slices=[{"slice": "all", "n": 60, "acc": 0.9}, {"slice": "x", "n": 6, "acc": 0.5},
                                  {"slice": "y", "n": 9, "acc": 1.0}], notes=["note"])
    assert f"{100 * rep['acc2'][0]:.1f} %" in card and "ECE 0.031" in card and "x 50 %" in card and "* note" in card


def test_seed004_only_on_the_bundled_data():
    with pytest.raises(CAP.CapstoneError, match="raw text"):
        CAP.run_capstone(_tiny_set(), candidates=("early",), grid={"lr": (1e-3,)}, epochs=1, unimodal=False,
                         n_boot=0, seed004=("torch",))
