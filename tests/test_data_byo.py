"""Bring-your-own features format: round trip, validation, CMU-MOSI conversion (lesson 04)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from course_utils import data

ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the repository (a checkout in /work/main) or above a worktree (/work/wt/<name>).
MOSI = next((p / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz" for p in ROOT.parents
             if (p / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz").is_file()),
            ROOT.parent / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz")


def _toy(n: int = 6) -> dict:
    rng = np.random.default_rng(0)
    return dict(features={"text": rng.normal(size=(n, 4)), "audio": rng.normal(size=(n, 3, 2))},
                label_binary=[0, 1] * (n // 2), split=["train"] * 4 + ["valid", "test"],
                ids=[f"x{i}" for i in range(n)], label_score=np.linspace(-3, 3, n),
                lengths={"audio": [3, 2, 1, 3, 3, 3]})


def test_round_trip(tmp_path: Path):
    toy = _toy()
    path = data.save_features(tmp_path / "toy.npz", toy.pop("features"), **toy)
    fs = data.load_features(path)
    assert fs.modalities == ("text", "audio") and fs.dims == {"text": 4, "audio": 2} and len(fs) == 6
    assert fs.lengths["audio"].tolist() == [3, 2, 1, 3, 3, 3]
    X, y = fs.arrays("train")
    assert X["text"].shape == (4, 4) and X["text"].dtype == np.float32 and y.tolist() == [0, 1, 0, 1]
    assert fs.label_7.tolist() == [-3, -2, -1, 1, 2, 3]
    with np.load(path, allow_pickle=False) as z:  # plain numpy, no pickle
        assert str(z["format"]) == "course-features-v1"


@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(split=["train"] * 5 + ["dev"]), "split values"),
    (lambda t: t.update(ids=["a"] * 6), "unique"),
    (lambda t: t.update(label_binary=[0, 1, 2, 0, 1, 0]), "0 and 1"),
    (lambda t: t["features"].update(text=np.full((6, 4), np.nan)), "NaN"),
    (lambda t: t["features"].update(text=np.zeros((5, 4))), "shape"),
])
def test_validation_errors(tmp_path: Path, change, message):
    toy = _toy()
    change(toy)
    with pytest.raises(data.FeatureFormatError, match=message):
        data.save_features(tmp_path / "bad.npz", toy.pop("features"), **toy)


def test_not_a_features_file(tmp_path: Path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(data.FeatureFormatError, match="course-features-v1"):
        data.load_features(tmp_path / "other.npz")


def test_bundled_set_in_the_same_format(tmp_path: Path):
    fs = data.bundled_feature_set()
    assert fs.modalities == ("text", "audio", "vision") and len(fs) == 1000
    again = data.load_features(data.write_feature_set(tmp_path / "bundled.npz", fs))
    assert again.dims == fs.dims and (again.split == fs.split).all()


@pytest.mark.skipif(not MOSI.is_file(), reason="../shared/realdata/mosi is not available here")
def test_convert_and_load_cmu_mosi(tmp_path: Path):
    out = data.convert_mosi_bclstm(MOSI, tmp_path / "mosi.npz")
    fs = data.load_features(out)
    assert len(fs) == 2199 and fs.dims == {"text": 100, "audio": 73, "vision": 100}
    counts = {s: int((fs.split == s).sum()) for s in ("train", "valid", "test")}
    assert counts["test"] == 752 and counts["train"] + counts["valid"] == 1447 and counts["valid"] > 150
    vids = {s: set(fs.speaker[fs.split == s]) for s in counts}
    assert not vids["train"] & vids["valid"] and not vids["train"] & vids["test"]
    assert ((fs.label_score >= 0).astype(int) == fs.label_binary).all()
    assert "LEAK" in fs.source and "98 %" in fs.source  # the file itself warns about its valid split
    std = data.load_features(data.convert_mosi_bclstm(MOSI, tmp_path / "std.npz", split="std"))
    assert {s: int((std.split == s).sum()) for s in counts} == {"train": 1284, "valid": 229, "test": 686}
    # a fusion-ready view: features of one split and labels
    X, y = fs.arrays("test", ["text", "audio"])
    assert X["text"].shape == (752, 100) and y.shape == (752,)


def test_k_class_labels_round_trip(tmp_path: Path):
    toy = _toy()
    toy.pop("label_binary")
    path = data.save_features(tmp_path / "emo.npz", toy.pop("features"), label_class=[0, 1, 2, 0, 1, 2],
                              class_names=["anger", "joy", "sadness"], **toy)
    fs = data.load_features(path)
    assert fs.label_binary is None and fs.label_class.tolist() == [0, 1, 2, 0, 1, 2]
    assert fs.class_names == ("anger", "joy", "sadness") and fs.n_classes == 3
    X, y = fs.arrays("train")
    assert y.tolist() == [0, 1, 2, 0]
    assert fs.subset("test").label_class.tolist() == [2]
    with np.load(path, allow_pickle=False) as z:
        assert "label_binary" not in z.files and z["class_names"].tolist() == ["anger", "joy", "sadness"]


@pytest.mark.parametrize("labels, message", [
    (dict(label_class=[0, 1, 2, 0, 1, 3], class_names=["a", "b", "c"]), "label_class values"),
    (dict(label_class=[0, -1, 2, 0, 1, 2]), "label_class values"),
    (dict(label_class=[0, 1, 2, 0, 1, 2], label_binary=[0, 1, 0, 1, 0]), "label_binary has shape"),
    (dict(), "no labels"),
])
def test_k_class_label_errors(tmp_path: Path, labels, message):
    toy = _toy()
    toy.pop("label_binary")
    with pytest.raises(data.FeatureFormatError, match=message):
        data.save_features(tmp_path / "bad.npz", toy.pop("features"), **labels, **toy)


def test_a_file_without_labels_names_the_keys(tmp_path: Path):
    toy = _toy()
    path = data.save_features(tmp_path / "toy.npz", toy.pop("features"), **toy)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "label_binary"}
    np.savez(tmp_path / "nolabels.npz", **arrays)
    with pytest.raises(data.FeatureFormatError, match="'label_binary'.*'label_class'"):
        data.load_features(tmp_path / "nolabels.npz")
