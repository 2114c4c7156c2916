"""Bundled sentiment data set: torch Dataset + collate, tf.data pipeline (lesson 04)."""
from __future__ import annotations

import pytest

from course_utils import data


def test_torch_dataset_and_padding_collate():
    torch = pytest.importorskip("torch")
    train = data.SentimentDataset("train", modalities=("text", "image"))
    assert len(train) == 700 and train.vocab is not None and len(train.vocab) > 50
    item = train[0]
    assert item["tokens"].dtype == torch.int64 and item["image"].shape == (3, 64, 64)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    test = data.SentimentDataset("test", vocab=train.vocab, max_audio_seconds=1.0)
    batch = data.collate_batch([test[i] for i in range(4)])
    L, T = batch["tokens"].shape[1], batch["audio"].shape[1]
    assert batch["tokens"].shape == (4, L) and int(batch["text_lengths"].max()) == L
    assert batch["audio"].shape == (4, T) and T <= 16000 and int(batch["audio_lengths"].max()) == T
    for i in range(4):
        n = int(batch["text_lengths"][i])
        assert (batch["tokens"][i, n:] == 0).all() and (batch["tokens"][i, :n] != 0).all()
        assert (batch["audio"][i, int(batch["audio_lengths"][i]):] == 0).all()
    assert batch["label"].dtype == torch.int64 and set(batch["label7"].tolist()) <= set(range(7))
    assert ((batch["score"] >= 0).long() == batch["label"]).all()


def test_dataloader_is_reproducible():
    pytest.importorskip("torch")
    ids = [next(iter(data.make_dataloader("train", batch_size=5, seed=3, modalities=("text",))))["id"]
           for _ in range(2)]
    assert ids[0] == ids[1] and ids[0] != [f"u{i:04d}" for i in range(5)]


def test_tf_pipeline():
    tf = pytest.importorskip("tensorflow")
    ds = data.make_tf_dataset("valid", batch_size=6, modalities=("text", "audio", "image"), max_audio_seconds=0.5)
    x, y = next(iter(ds))
    assert x["tokens"].shape[0] == 6 and x["tokens"].dtype == tf.int32
    assert int(tf.reduce_max(x["text_length"])) == x["tokens"].shape[1]
    assert x["audio"].shape[1] <= 8000 and x["image"].shape == (6, 64, 64, 3)
    assert y.dtype == tf.int32 and ds.cardinality().numpy() == 25
    _, score = next(iter(data.make_tf_dataset("test", batch_size=4, modalities=("text",), target="score")))
    assert score.dtype == tf.float32
