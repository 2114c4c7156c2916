"""python -m course_utils.fusion benchmark on tiny synthetic files (issue 10); no timing assertions."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from course_utils import data  # noqa: E402
from course_utils.fusion import CSV_COLUMNS, BenchmarkError, ValidationLeakWarning, run_benchmark  # noqa: E402
from course_utils.fusion.__main__ import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MOSI = next((p / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz" for p in ROOT.parents
             if (p / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz").is_file()), None)
FAST = dict(epochs=3, patience=2, progress=False, threads=1)


def _binary(tmp_path: Path, n: int = 120, seed: int = 0, **changes) -> Path:
    """Two modalities; the label needs both (xor-like), scores follow the label."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    y = ((a[:, 0] + b[:, 0]) > 0).astype(int)
    score = np.round(np.clip(a[:, 0] + b[:, 0], -3, 3), 1)
    y = (score >= 0).astype(int)
    split = np.array(["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    kw = dict(features={"a": a, "b": b}, label_binary=y, label_score=score, split=split,
              ids=[f"u{i}" for i in range(n)])
    kw.update(changes)
    return data.save_features(tmp_path / "bin.npz", kw.pop("features"), **kw)


def _five_class(tmp_path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, n)
    centres_a, centres_b = rng.normal(size=(5, 6)) * 2, rng.normal(size=(5, 4)) * 2
    a = centres_a[y] + rng.normal(size=(n, 6))
    b = centres_b[y] + rng.normal(size=(n, 4))
    split = np.array(["train"] * 180 + ["valid"] * 60 + ["test"] * 60)
    return data.save_features(tmp_path / "emo.npz", {"a": a, "b": b}, label_class=y, split=split,
                              ids=[f"e{i}" for i in range(n)],
                              class_names=["anger", "joy", "sadness", "fear", "neutral"])


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_rows_columns_and_metrics(tmp_path: Path):
    out = tmp_path / "res.csv"
    rows = run_benchmark(_binary(tmp_path), models=["early", "lmf"], seeds=2, out=out, **FAST)
    assert len(rows) == (2 + 2) * 2
    table = _read(out)
    assert tuple(table[0]) == CSV_COLUMNS and len(table) == 8
    assert [(r["model"], r["kind"], r["modalities"], r["seed"]) for r in table[::2]] == [
        ("unimodal", "unimodal", "a", "0"), ("unimodal", "unimodal", "b", "0"),
        ("early", "fusion", "a+b", "0"), ("lmf", "fusion", "a+b", "0")]
    for r in table:
        for c in ("acc2", "acc2_non0", "f1", "acc7"):
            assert 0.0 <= float(r[c]) <= 1.0
        assert float(r["mae"]) >= 0 and -1 <= float(r["corr"]) <= 1 and float(r["seconds"]) > 0


def test_metrics_by_hand():
    from course_utils.fusion import benchmark as B

    y = np.array([1, 1, 0, 0, 1])
    score = np.array([0.0, 2.0, -1.0, -2.6, 1.2], np.float32)
    p = B.Prepared(x={}, y={"test": y}, score={"test": score}, task="binary", n_classes=2, modalities=("a",),
                   dims={"a": 1})
    out = np.array([[-1.0, -0.4], [2.0, 1.6], [1.0, -1.4], [-3.0, -3.3], [0.5, 0.2]])
    m = B._metrics(p, "test", out)
    assert m["acc2"] == pytest.approx(3 / 5)  # rows 0 and 2 wrong
    assert m["acc2_non0"] == pytest.approx(3 / 4)  # row 0 (score 0) left out, row 2 wrong
    assert m["acc7"] == pytest.approx(4 / 5)  # true classes 0,2,-1,-3,1 vs predicted 0,2,-1,-3,0
    assert m["mae"] == pytest.approx(np.mean(np.abs(score - out[:, 1])), abs=1e-6)
    assert m["f1"] == pytest.approx(((2 * 2 / (3 + 3)) + (2 * 1 / (2 + 2))) / 2)  # macro over classes 1 and 0


def test_without_scores_the_score_columns_are_empty(tmp_path: Path):
    out = tmp_path / "res.csv"
    run_benchmark(_binary(tmp_path, label_score=None), models=["late"], seeds=1, out=out, **FAST)
    for r in _read(out):
        assert r["acc2_non0"] == r["acc7"] == r["mae"] == r["corr"] == "" and r["acc2"] != ""


def test_five_class_file_trains_k_outputs(tmp_path: Path):
    out = tmp_path / "emo.csv"
    rows = run_benchmark(_five_class(tmp_path), models=["early", "tfn", "mult"], seeds=1, out=out,
                         epochs=40, patience=5, progress=False, threads=1)
    by = {r["model"] + ":" + r["modalities"]: r for r in rows}
    assert by["early:a+b"]["acc2"] > 0.6  # chance is 0.2; the classes are well separated
    assert by["early:a+b"]["acc2"] >= max(by["unimodal:a"]["acc2"], by["unimodal:b"]["acc2"]) - 0.05
    for r in _read(out):
        assert r["acc2_non0"] == r["acc7"] == r["mae"] == r["corr"] == "" and 0 <= float(r["f1"]) <= 1


def test_k_class_outputs_have_k_columns(tmp_path: Path):
    from course_utils.fusion import benchmark as B

    p = B.prepare(_five_class(tmp_path))
    assert p.task == "class" and p.n_classes == 5
    _, outs, _ = B._train_one(p, "lmf", p.modalities, 0, epochs=1, patience=1, fixed_epochs=None, lr=1e-3,
                              batch_size=32)
    assert outs["test"].shape == (60, 5)


@pytest.mark.filterwarnings("ignore::course_utils.fusion.benchmark.ValidationLeakWarning")
def test_only_valid_selects_the_epoch(tmp_path: Path):
    # Same train/valid, different test labels: the epochs kept and the valid scores do not change.
    path = _binary(tmp_path)
    fs = data.load_features(path)
    flipped = fs.label_binary.copy()
    flipped[fs.split == "test"] = 1 - flipped[fs.split == "test"]
    other = data.save_features(tmp_path / "flip.npz", fs.features, label_binary=flipped, split=fs.split, ids=fs.ids,
                               label_score=np.where(fs.split == "test", -fs.label_score - 0.5, fs.label_score))
    kw = dict(models=["early"], seeds=1, epochs=30, patience=3, progress=False, threads=1)
    r1, r2 = run_benchmark(data.load_features(path), **kw), run_benchmark(other, **kw)
    assert [r["epochs"] for r in r1] == [r["epochs"] for r in r2]
    assert [r["val_acc"] for r in r1] == [r["val_acc"] for r in r2]
    for a, b in zip(r1, r2):
        assert abs(a["acc2"] + b["acc2"] - 1) < 1e-9  # test predictions identical, labels flipped


def test_fixed_epochs_per_model(tmp_path: Path):
    rows = run_benchmark(_binary(tmp_path), models=["early"], seeds=1, fixed_epochs={"unimodal": 2, "early": 4},
                         **{k: v for k, v in FAST.items() if k != "epochs"})
    assert [r["epochs"] for r in rows] == [2, 2, 4]


def test_leaky_validation_warns(tmp_path: Path):
    # valid rows are near-copies of training rows (as with features made by a net trained on them);
    # test labels are unrelated to the features.
    rng = np.random.default_rng(0)
    n = 160
    a, b = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    y = ((a[:, 0] + b[:, 0]) > 0).astype(int)
    a[80:120], b[80:120], y[80:120] = a[:40] + 0.01, b[:40] + 0.01, y[:40]
    y[120:] = rng.integers(0, 2, 40)
    a[120:, 0] = rng.normal(size=40) * 0.01
    b[120:, 0] = rng.normal(size=40) * 0.01
    split = ["train"] * 80 + ["valid"] * 40 + ["test"] * 40
    path = data.save_features(tmp_path / "leak.npz", {"a": a, "b": b}, label_binary=y, split=split,
                              ids=[f"u{i}" for i in range(n)])
    with pytest.warns(ValidationLeakWarning, match="--fixed-epochs"):
        run_benchmark(path, models=["early"], seeds=1, unimodal=False, epochs=30, patience=5, progress=False)


def test_no_warning_when_valid_and_test_agree(tmp_path: Path, recwarn):
    run_benchmark(_five_class(tmp_path), models=["early"], seeds=1, unimodal=False, epochs=30, patience=5,
                  progress=False)
    assert not [w for w in recwarn if issubclass(w.category, ValidationLeakWarning)]


def test_bad_inputs_name_the_key(tmp_path: Path):
    path = _binary(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}

    def variant(name, **change):
        d = dict(arrays)
        d.update(change)
        for k in [k for k, v in change.items() if v is None]:
            d.pop(k)
        np.savez(tmp_path / name, **d)
        return tmp_path / name

    with pytest.raises(data.FeatureFormatError, match="'format'"):
        run_benchmark(variant("v2.npz", format=np.array("course-features-v2")), **FAST)
    nan = arrays["x_b"].copy()
    nan[3, 1] = np.nan
    with pytest.raises(data.FeatureFormatError, match="x_b contains NaN"):
        run_benchmark(variant("nan.npz", x_b=nan), **FAST)
    with pytest.raises(data.FeatureFormatError, match="label_binary"):
        run_benchmark(variant("nolabel.npz", label_binary=None), **FAST)
    split = np.where(arrays["split"] == "valid", "train", arrays["split"])
    with pytest.raises(BenchmarkError, match="'split' has no 'valid'"):
        run_benchmark(variant("novalid.npz", split=split), **FAST)
    with pytest.raises(BenchmarkError, match="unknown fusion model 'tfm'"):
        run_benchmark(path, models=["tfm"], **FAST)
    with pytest.raises(BenchmarkError, match=r"no modality \['c'\]"):
        run_benchmark(path, modalities=["a", "c"], **FAST)


def test_command_line(tmp_path: Path, capsys):
    out = tmp_path / "cli.csv"
    rc = main(["benchmark", "--data", str(_binary(tmp_path)), "--models", "early,attention", "--seeds", "1",
               "--epochs", "2", "--out", str(out), "--quiet", "--threads", "1"])
    text = capsys.readouterr().out
    assert rc == 0 and "| attention | fusion | a+b |" in text and "best fusion" in text
    assert len(_read(out)) == 4
    rc = main(["benchmark", "--data", str(_binary(tmp_path)), "--models", "lmf", "--seeds", "2", "--epochs", "1",
               "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 0 and "fusion benchmark" in err and "/6" in err  # the progress bar over the 6 runs
    rc = main(["benchmark", "--data", str(tmp_path / "missing.npz"), "--quiet"])
    assert rc == 2 and "No features file" in capsys.readouterr().err


def test_module_runs_as_a_program(tmp_path: Path):
    res = subprocess.run([sys.executable, "-m", "course_utils.fusion", "benchmark", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0 and "--fixed-epochs" in res.stdout and "--models" in res.stdout


@pytest.mark.skipif(MOSI is None, reason="../shared/realdata/mosi is not available here")
def test_runs_on_converted_cmu_mosi(tmp_path: Path):
    path = data.convert_mosi_bclstm(MOSI, tmp_path / "mosi.npz")
    with pytest.warns(ValidationLeakWarning, match="unimodal \\[text\\]: valid 9"):  # the bc-LSTM leak, measured
        rows = run_benchmark(path, models=["lmf"], seeds=1, fixed_epochs=2, progress=False, threads=1)
    assert [(r["model"], r["modalities"]) for r in rows] == [
        ("unimodal", "text"), ("unimodal", "audio"), ("unimodal", "vision"), ("lmf", "text+audio+vision")]
    assert all(r["acc7"] is not None and r["acc2_non0"] is not None for r in rows)


def test_context_appends_the_video_mean(tmp_path: Path):
    from course_utils.fusion import benchmark as B

    path = _binary(tmp_path, speaker=[f"v{i // 5}" for i in range(120)])
    fs = data.load_features(path)
    p, pc = B.prepare(path), B.prepare(path, context=True)
    assert pc.dims == {"a": 8, "b": 6} and p.dims == {"a": 4, "b": 3}
    train = fs.split == "train"
    raw = fs.features["a"][train].astype(np.float64)
    ctx = np.stack([raw[fs.speaker[train] == v].mean(axis=0) for v in fs.speaker[train]])
    mean, std = ctx.mean(axis=0), ctx.std(axis=0)
    assert np.allclose(pc.x["train"]["a"][:, 4:], np.clip((ctx - mean) / std, -10, 10), atol=1e-5)
    assert np.allclose(pc.x["train"]["a"][:, :4], p.x["train"]["a"], atol=1e-6)
    with pytest.raises(BenchmarkError, match="'speaker'"):
        B.prepare(_binary(tmp_path), context=True)


def test_bootstrap_interval_over_groups(tmp_path: Path):
    from course_utils.fusion import benchmark as B

    path = _binary(tmp_path, speaker=[f"v{i // 5}" for i in range(120)])
    p = B.prepare(path)
    y = p.y["test"]
    perfect = {"test_output": np.stack([np.where(y == 1, 1.0, -1.0), np.zeros(len(y))], axis=1)}
    assert B.bootstrap_acc2([perfect], p, n_boot=50) == (1.0, 1.0)
    half = {"test_output": np.stack([np.where(np.arange(len(y)) % 2 == 0, 1.0, -1.0), np.zeros(len(y))], axis=1)}
    lo, hi = B.bootstrap_acc2([half], p, n_boot=200)
    acc = float(np.mean((half["test_output"][:, 0] > 0) == y))
    assert lo <= acc <= hi and lo < hi


def test_grid_picks_the_lowest_validation_loss(tmp_path: Path, capsys):
    rows = run_benchmark(_binary(tmp_path), models=["early"], seeds=1, unimodal=False, epochs=15, patience=3,
                         progress=False, threads=1, grid={"dropout": [0.0, 0.5], "hidden": [4, 16]})
    (row,) = rows
    assert len(row["grid"]) == 4 and row["config"] == min(row["grid"], key=row["grid"].get)
    assert set(row["grid"]) == {"dropout=0,hidden=4", "dropout=0,hidden=16", "dropout=0.5,hidden=4",
                                "dropout=0.5,hidden=16"}
    with pytest.raises(BenchmarkError, match="fixed_epochs"):
        run_benchmark(_binary(tmp_path), models=["early"], grid={"dropout": [0.1, 0.2]}, fixed_epochs=3, **{
            k: v for k, v in FAST.items() if k != "epochs"})
    assert main(["benchmark", "--data", str(_binary(tmp_path)), "--models", "lmf", "--no-unimodal", "--seeds", "1",
                 "--epochs", "2", "--grid", "lr=1e-3,3e-4", "--quiet"]) == 0
    assert main(["benchmark", "--data", str(_binary(tmp_path)), "--grid", "dropout", "--quiet"]) == 2
    assert "NAME=V1,V2" in capsys.readouterr().err
