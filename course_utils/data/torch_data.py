"""PyTorch access to the bundled data set: a ``Dataset`` and a padding collate function (lesson 04).

::

    from course_utils.data import SentimentDataset, collate_batch, make_dataloader
    train = SentimentDataset("train")                 # builds the vocabulary on train texts
    valid = SentimentDataset("valid", vocab=train.vocab)
    loader = make_dataloader("train", batch_size=32)  # shuffled, padded batches
    batch = next(iter(loader))
    batch["tokens"].shape, batch["text_lengths"]      # (B, L) int64, (B,)
    batch["audio"].shape, batch["audio_lengths"]      # (B, T) float32 16 kHz, (B,)
    batch["image"].shape                              # (B, 3, 64, 64) float32 in [0, 1]
    batch["label"], batch["score"], batch["label7"]   # binary, [-3, 3], 7-class index 0..6
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .loaders import load_audio, load_image, load_records
from .text import Vocab, build_vocab

MODALITIES: tuple[str, ...] = ("text", "audio", "image")


class SentimentDataset(Dataset):
    """One split of the bundled data set as a map-style torch ``Dataset`` (lesson 04).

    Each item is a dict: ``id`` (str), ``tokens`` (int64 ids), ``audio`` (float32
    waveform, 16 kHz), ``image`` (float32 ``(3, 64, 64)`` in [0, 1]), ``label``
    (binary, int64), ``score`` (float32 in [-3, 3]) and ``label7`` (``round(score) + 3``,
    int64 0..6). Only the ``modalities`` asked for are loaded. Audio is decoded
    when an item is read unless ``preload=True``; ``max_audio_seconds`` crops
    long clips. ``audio_transform``/``image_transform`` are applied to the tensors.
    """

    def __init__(self, split: str | None = "train", *, vocab: Vocab | None = None,
                 modalities: Sequence[str] = MODALITIES, root: str | os.PathLike[str] | None = None,
                 verify: bool = True, preload: bool = False, max_audio_seconds: float | None = None,
                 audio_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 image_transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        bad = set(modalities) - set(MODALITIES)
        if bad:
            raise ValueError(f"unknown modalities {sorted(bad)}; use {MODALITIES}")
        self.split = split
        self.modalities = tuple(modalities)
        self.root = root
        self.verify = verify
        self.records = load_records(split, root=root, verify=verify)
        if vocab is None and "text" in self.modalities:
            vocab = build_vocab(r["text"] for r in load_records("train", root=root, verify=verify))
        self.vocab = vocab
        self.max_samples = None if max_audio_seconds is None else int(max_audio_seconds * 16_000)
        self.audio_transform = audio_transform
        self.image_transform = image_transform
        self._audio: list[torch.Tensor] | None = None
        if preload and "audio" in self.modalities:
            self._audio = [self._read_audio(r) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def _read_audio(self, rec: dict[str, Any]) -> torch.Tensor:
        wave = torch.from_numpy(load_audio(rec, root=self.root, verify=self.verify))
        return wave[: self.max_samples] if self.max_samples else wave

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        item: dict[str, Any] = {
            "id": rec["id"],
            "label": torch.tensor(rec["label_binary"], dtype=torch.int64),
            "score": torch.tensor(rec["score"], dtype=torch.float32),
            "label7": torch.tensor(rec["label_7"] + 3, dtype=torch.int64),
        }
        if "text" in self.modalities:
            assert self.vocab is not None
            item["tokens"] = torch.tensor(self.vocab.encode(rec["text"]), dtype=torch.int64)
        if "audio" in self.modalities:
            wave = self._audio[index] if self._audio is not None else self._read_audio(rec)
            item["audio"] = self.audio_transform(wave) if self.audio_transform else wave
        if "image" in self.modalities:
            img = torch.from_numpy(load_image(rec, root=self.root, verify=self.verify)).permute(2, 0, 1)
            img = img.to(torch.float32) / 255.0
            item["image"] = self.image_transform(img) if self.image_transform else img
        return item


def pad_sequences(seqs: Sequence[torch.Tensor], value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D (or ``(T, ...)``) tensors to a batch; returns ``(padded, lengths)`` (lesson 04)."""
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    longest = int(lengths.max()) if len(seqs) else 0
    out = seqs[0].new_full((len(seqs), max(longest, 1), *seqs[0].shape[1:]), value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lengths


def collate_batch(batch: Sequence[dict[str, Any]], pad_id: int = 0) -> dict[str, Any]:
    """Stack items of :class:`SentimentDataset`, padding variable-length sequences (lesson 04).

    ``tokens`` are padded with ``pad_id`` and ``audio`` with zeros (at the end);
    ``text_lengths`` and ``audio_lengths`` give the true lengths, so models can
    mask the padding (e.g. ``pack_padded_sequence`` or a mean over valid steps).
    """
    out: dict[str, Any] = {"id": [b["id"] for b in batch]}
    for key in ("label", "score", "label7"):
        out[key] = torch.stack([b[key] for b in batch])
    if "tokens" in batch[0]:
        out["tokens"], out["text_lengths"] = pad_sequences([b["tokens"] for b in batch], pad_id)
    if "audio" in batch[0]:
        out["audio"], out["audio_lengths"] = pad_sequences([b["audio"] for b in batch], 0.0)
    if "image" in batch[0]:
        out["image"] = torch.stack([b["image"] for b in batch])
    return out


def make_dataloader(split: str = "train", *, batch_size: int = 32, shuffle: bool | None = None,
                    seed: int = 0, num_workers: int = 0, dataset: SentimentDataset | None = None,
                    **dataset_kwargs: Any) -> DataLoader:
    """A ``DataLoader`` of padded batches (see :func:`collate_batch`) (lesson 04).

    Shuffles the training split by default, reproducibly from ``seed``. Pass
    ``vocab=train_ds.vocab`` (or ``dataset=...``) for valid/test loaders.
    """
    ds = dataset if dataset is not None else SentimentDataset(split, **dataset_kwargs)
    shuffle = (split == "train") if shuffle is None else shuffle
    pad_id = ds.vocab.pad_id if ds.vocab is not None else 0
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=gen,
                      collate_fn=functools.partial(collate_batch, pad_id=pad_id))
