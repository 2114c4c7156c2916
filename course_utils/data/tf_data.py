"""TensorFlow access to the bundled data set: a ``tf.data`` pipeline (lesson 04).

::

    from course_utils.data import make_tf_dataset
    train = make_tf_dataset("train", batch_size=32)            # (inputs, label) batches
    inputs, y = next(iter(train))
    inputs["tokens"], inputs["text_length"]    # (B, L) int32 padded with 0, (B,)
    inputs["audio"], inputs["audio_length"]    # (B, T) float32 padded with 0, (B,)
    inputs["image"]                            # (B, 64, 64, 3) float32 in [0, 1]
    model.fit(train, validation_data=make_tf_dataset("valid", vocab=...))

Audio is decoded lazily by a Python generator (about 1-3 s per pass over the
whole set on 2 cores); add ``.cache()`` to keep decoded batches in memory.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np
import tensorflow as tf

from .loaders import load_audio, load_images, load_records
from .text import Vocab, build_vocab

TARGETS: dict[str, str] = {"label": "label_binary", "score": "score", "label7": "label_7"}


def make_tf_dataset(split: str | None = "train", *, batch_size: int = 32, shuffle: bool | None = None,
                    seed: int = 0, vocab: Vocab | None = None,
                    modalities: Sequence[str] = ("text", "audio", "image"), target: str = "label",
                    root: str | os.PathLike[str] | None = None, verify: bool = True,
                    max_audio_seconds: float | None = None) -> "tf.data.Dataset":
    """Padded ``(inputs, target)`` batches of one split for Keras (lesson 04).

    ``target``: ``"label"`` (binary), ``"score"`` (regression, [-3, 3]) or
    ``"label7"`` (``round(score) + 3``, 0..6). ``vocab`` defaults to one built on
    the training texts (pass the same one to every split). The training split is
    shuffled by default (reproducibly from ``seed``).
    """
    if target not in TARGETS:
        raise ValueError(f"target={target!r}; use one of {sorted(TARGETS)}")
    recs = load_records(split, root=root, verify=verify)
    if "text" in modalities and vocab is None:
        vocab = build_vocab(r["text"] for r in load_records("train", root=root, verify=verify))
    images = load_images(recs, root=root, verify=verify) if "image" in modalities else None
    max_samples = None if max_audio_seconds is None else int(max_audio_seconds * 16_000)
    ys = np.array([r[TARGETS[target]] for r in recs], dtype=np.float32 if target == "score" else np.int32)
    if target == "label7":
        ys = ys + 3

    def gen() -> Iterator[tuple[dict[str, Any], Any]]:
        for i, rec in enumerate(recs):
            x: dict[str, Any] = {}
            if "text" in modalities:
                assert vocab is not None
                ids = np.array(vocab.encode(rec["text"]), dtype=np.int32)
                x["tokens"], x["text_length"] = ids, np.int32(ids.size)
            if "audio" in modalities:
                wave = load_audio(rec, root=root, verify=verify)
                wave = wave[:max_samples] if max_samples else wave
                x["audio"], x["audio_length"] = wave, np.int32(wave.size)
            if images is not None:
                x["image"] = images[i].astype(np.float32) / 255.0
            yield x, ys[i]

    spec: dict[str, tf.TensorSpec] = {}
    if "text" in modalities:
        spec["tokens"] = tf.TensorSpec((None,), tf.int32)
        spec["text_length"] = tf.TensorSpec((), tf.int32)
    if "audio" in modalities:
        spec["audio"] = tf.TensorSpec((None,), tf.float32)
        spec["audio_length"] = tf.TensorSpec((), tf.int32)
    if "image" in modalities:
        spec["image"] = tf.TensorSpec((64, 64, 3), tf.float32)
    y_spec = tf.TensorSpec((), tf.float32 if target == "score" else tf.int32)
    ds = tf.data.Dataset.from_generator(gen, output_signature=(spec, y_spec))
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(recs)))
    if (split == "train") if shuffle is None else shuffle:
        ds = ds.shuffle(len(recs), seed=seed, reshuffle_each_iteration=True)
    return ds.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)
