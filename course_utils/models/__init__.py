"""Fusion models and encoders, once per framework with the same names and arguments (lessons 07-09).

``course_utils.models.torch`` (PyTorch) and ``course_utils.models.keras``
(Keras 3) each define

=========================  =====================================================  ======  =========
name                       what                                                   lesson  input
=========================  =====================================================  ======  =========
``Unimodal``               one modality: encoder + head (the baseline)            08      2-D / 3-D
``EarlyFusion``            concatenate the features, then an MLP                  08      2-D / 3-D
``LateFusion``             one classifier per modality, outputs averaged          08      2-D / 3-D
``WeightedFusion``         softmax-weighted sum of projected modalities           08      2-D / 3-D
``GatedFusion``            gated multimodal unit (Arevalo et al. 2017)            09      2-D / 3-D
``TensorFusion``           outer product of [h; 1] (Zadeh et al. 2017)            09      2-D / 3-D
``LowRankFusion``          low-rank factors of that tensor layer (Liu et al. 2018) 09     2-D / 3-D
``AttentionFusion``        self-attention over modality tokens                    09      2-D / 3-D
``CrossModalTransformer``  MulT-style cross-modal attention (Tsai et al. 2019)    09      2-D / 3-D
``MultiTaskHead``          any fusion body + class head + score head               09      as body
=========================  =====================================================  ======  =========

Every model is built from ``dims`` (``{modality: feature width}``) and called
on a dict ``{modality: tensor}``: ``(B, d)`` utterance vectors or ``(B, T, d)``
right-padded sequences (an all-zero step is padding). Sequence inputs are
mean-pooled over their valid steps by every model except
``CrossModalTransformer``, which attends over the steps (and treats a
``(B, d)`` input as a sequence of length 1). A modality of ``dims`` that is
absent from the dict is *missing*; each class says what it does then.
Keys that are not in ``dims`` are ignored. ``n_outputs=0`` returns the fused
representation ``(B, rep_dim)`` instead of outputs.

Nothing here imports a framework: ``import course_utils.models`` is light,
``course_utils.models.torch`` imports PyTorch and ``course_utils.models.keras``
imports Keras. The two are parity-tested (``tests/test_models.py``):
:func:`course_utils.models.torch.to_keras` copies a PyTorch model's weights
into its Keras twin, and both give the same outputs to 1e-5.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._spec import MODEL_NAMES, REGISTRY, ModelInputError, param_count_tfn_lmf, sinusoidal_positions

__all__ = ["MODEL_NAMES", "REGISTRY", "ModelInputError", "param_count_tfn_lmf", "sinusoidal_positions", "torch",
           "keras"]


def __getattr__(name: str) -> Any:
    if name in ("torch", "keras"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
