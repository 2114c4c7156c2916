"""Framework-free pieces shared by ``models.torch`` and ``models.keras`` (lessons 07-09)."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..config import CourseError

#: The public model names, identical in both frameworks.
MODEL_NAMES = ("Unimodal", "EarlyFusion", "LateFusion", "WeightedFusion", "GatedFusion", "TensorFusion",
               "LowRankFusion", "AttentionFusion", "CrossModalTransformer", "MultiTaskHead")

#: Short names (the benchmark's ``--models``) -> class names.
REGISTRY = {"unimodal": "Unimodal", "early": "EarlyFusion", "late": "LateFusion", "weighted": "WeightedFusion",
            "gated": "GatedFusion", "tfn": "TensorFusion", "lmf": "LowRankFusion",
            "attention": "AttentionFusion", "mult": "CrossModalTransformer"}


class ModelInputError(CourseError, ValueError):
    """A model got inputs it cannot use (lessons 07-09)."""


def check_dims(dims: Mapping[str, int], *, at_least: int = 1, exactly: int | None = None,
               name: str = "model") -> dict[str, int]:
    """Validate ``{modality: width}`` and return it as a plain dict (lessons 07-09)."""
    if not isinstance(dims, Mapping) or not dims:
        raise ModelInputError(f"{name} needs dims={{modality: width}}", expected="a non-empty dict",
                              found=repr(dims), fix="e.g. dims={'text': 100, 'audio': 73}")
    out = {}
    for m, d in dims.items():
        if not isinstance(m, str) or int(d) != d or int(d) < 1:
            raise ModelInputError(f"{name}: bad entry {m!r}: {d!r} in dims", expected="str -> positive int",
                                  found=f"{m!r}: {d!r}", fix="give each modality's feature width")
        out[m] = int(d)
    if exactly is not None and len(out) != exactly:
        raise ModelInputError(f"{name} takes exactly {exactly} modality", expected=f"{exactly} key(s) in dims",
                              found=str(list(out)), fix="build one model per modality")
    if len(out) < at_least:
        raise ModelInputError(f"{name} needs at least {at_least} modalities", expected=f">= {at_least} keys",
                              found=str(list(out)), fix="add modalities to dims")
    return out


def present(dims: Mapping[str, int], inputs: Mapping, name: str) -> list[str]:
    """The modalities of ``dims`` found in ``inputs``, with shape checks (lessons 07-09)."""
    if not isinstance(inputs, Mapping):
        raise ModelInputError(f"{name} takes a dict of per-modality tensors", expected="{modality: tensor}",
                              found=type(inputs).__name__,
                              fix=f"call model({{{', '.join(repr(m) for m in dims)}: x, ...}})")
    found = [m for m in dims if m in inputs and inputs[m] is not None]
    if not found:
        raise ModelInputError(f"{name}: none of its modalities is in the inputs", expected=str(list(dims)),
                              found=str(list(inputs)), fix="pass at least one modality the model was built with")
    for m in found:
        shape = tuple(inputs[m].shape)
        if len(shape) not in (2, 3) or shape[-1] != dims[m]:
            raise ModelInputError(f"{name}: input {m!r} has shape {shape}",
                                  expected=f"(B, {dims[m]}) or (B, T, {dims[m]})", found=str(shape),
                                  fix=f"give {m!r} the width the model was built with (dims[{m!r}]={dims[m]})")
    return found


def sinusoidal_positions(length: int, width: int) -> np.ndarray:
    """Sinusoidal position encodings (Vaswani et al. 2017), ``(length, width)`` float32 (lesson 07)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(width, dtype=np.float64)[None, :]
    angle = pos / np.power(10000.0, (2 * (i // 2)) / width)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)


def param_count_tfn_lmf(hidden: Mapping[str, int], fusion_dim: int, rank: int) -> dict[str, int]:
    """Parameters of the fusion layer alone: TFN's ``W`` vs LMF's factors (lesson 09).

    TFN maps the flattened tensor of ``[h_m; 1]`` (size ``prod(h_m + 1)``) with a
    dense layer: ``prod(h_m + 1) * f + f``. LMF factorises that weight into
    ``rank`` factors per modality: ``rank * sum(h_m + 1) * f`` plus ``rank``
    mixing weights and ``f`` biases.
    """
    widths = [int(h) + 1 for h in hidden.values()]
    return {"tfn": int(np.prod(widths)) * fusion_dim + fusion_dim,
            "lmf": rank * sum(widths) * fusion_dim + rank + fusion_dim}
