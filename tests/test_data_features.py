"""Bundled sentiment data set: NumPy MFCCs, the feature cache (keyed by extractor version), tokens."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from course_utils import data
from course_utils.data import features
from course_utils.features import audio


def test_mfcc_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = data.load_audio("u0005")
    ours = audio.mfcc(y, n_mfcc=20)
    ref = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=20, n_fft=512, hop_length=160, n_mels=40)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-2
    np.testing.assert_allclose(audio.mel_filterbank(), librosa.filters.mel(sr=16000, n_fft=512, n_mels=40), atol=1e-6)


def test_mfcc_stats_shape_and_short_input():
    v = audio.mfcc_stats(np.zeros(100, np.float32))
    assert v.shape == (80,) and np.isfinite(v).all()


def test_cache_is_keyed_by_params_and_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"X": np.arange(3.0)}

    a = features.cached("demo", {"k": 1}, compute)
    b = features.cached("demo", {"k": 1}, compute)
    assert len(calls) == 1 and np.array_equal(a["X"], b["X"])
    features.cached("demo", {"k": 2}, compute)
    assert len(calls) == 2
    # a new extractor version is a new cache file: a changed extractor never serves stale features
    features.cached("demo", {"k": 1}, compute, version=2)
    assert len(calls) == 3
    features.cached("demo", {"k": 1}, compute, version=2)
    assert len(calls) == 3
    assert features.cache_path("demo", {"k": 1}, version=2) != features.cache_path("demo", {"k": 1})
    p1 = features.cache_path("demo", {"k": 1})
    assert p1.parent == tmp_path / "sentiment" and p1.name.startswith("demo-")
    # another data set (another manifest) gets another cache file
    other = tmp_path / "other"
    other.mkdir()
    (other / "MANIFEST.sha256").write_text("0" * 64 + "  metadata.csv\n", encoding="utf-8")
    assert features.cache_path("demo", {"k": 1}, root=other) != p1


def test_cached_features_line_up_with_metadata():
    ids, X = data.audio_features("test")
    assert X.shape == (150, 80) and list(ids) == [r["id"] for r in data.load_records("test")]
    ids, P = data.image_features("valid", size=16, gray=True)
    assert P.shape == (150, 256) and 0 <= P.min() and P.max() <= 1


def test_tokenizer_and_vocab():
    assert data.tokenize("Not bad at all!") == ["not", "bad", "at", "all", "!"]
    assert data.tokenize("The check-in wasn't great.") == ["the", "check-in", "wasn't", "great", "."]
    vocab = data.build_vocab(["the plot was good", "the cast was bad"])
    assert vocab.tokens[:4] == ["<pad>", "<unk>", "the", "was"] and len(vocab) == 8
    ids = vocab.encode("the plot was awful")
    assert ids[-1] == vocab.unk_id and vocab.decode(ids) == "the plot was <unk>"
    assert data.Vocab.from_json(vocab.to_json()).tokens == vocab.tokens


def test_tokenizer_refuses_non_text():
    for bad in (None, 3, ["a text"]):
        with pytest.raises(TypeError, match="one text"):
            data.tokenize(bad)
        with pytest.raises(TypeError, match="one text"):
            data.build_vocab(["a b"]).encode(bad)
