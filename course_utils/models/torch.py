"""The course's fusion models in PyTorch (lessons 07-09); Keras twins in :mod:`course_utils.models.keras`.

See :mod:`course_utils.models` for the table of models, the input convention
(a dict ``{modality: (B, d) or (B, T, d)}``) and missing modalities. Every
class here has a Keras class with the same name, arguments, parameter order
and outputs; :func:`to_keras` copies the weights across.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from torch import nn

from ._spec import check_dims, present, sinusoidal_positions

__all__ = ["Unimodal", "EarlyFusion", "LateFusion", "WeightedFusion", "GatedFusion", "TensorFusion",
           "LowRankFusion", "AttentionFusion", "CrossModalTransformer", "MultiTaskHead", "MultiHeadAttention",
           "TransformerBlock", "to_keras", "count_parameters", "build"]


def pool(x: torch.Tensor) -> torch.Tensor:
    """``(B, d)`` unchanged; ``(B, T, d)`` mean over the steps that are not all zero (lesson 07)."""
    if x.dim() == 2:
        return x
    mask = (x != 0).any(dim=-1, keepdim=True).to(x.dtype)
    return (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (lesson 07)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Fusion(nn.Module):
    """Common plumbing: dims, outputs, the final layer (``n_outputs=0``: return the representation)."""

    at_least = 1

    def __init__(self, dims: Mapping[str, int], n_outputs: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dims = check_dims(dims, at_least=self.at_least, name=type(self).__name__)
        self.modalities = tuple(self.dims)
        self.n_outputs, self.hidden, self.dropout_rate = int(n_outputs), int(hidden), float(dropout)

    def _head(self, rep_dim: int) -> None:
        # Called last in __init__, so the output layer's parameters come last (as in Keras).
        self.rep_dim = rep_dim
        self.out = nn.Linear(rep_dim, self.n_outputs) if self.n_outputs > 0 else None

    def _present(self, inputs) -> list[str]:
        return present(self.dims, inputs, type(self).__name__)

    def _finish(self, rep: torch.Tensor) -> torch.Tensor:
        return rep if self.out is None else self.out(rep)

    @staticmethod
    def _batch(inputs, found) -> tuple[int, torch.dtype]:
        x = inputs[found[0]]
        return x.shape[0], x.dtype


class EarlyFusion(_Fusion):
    """Early fusion: concatenate every modality's features, then an MLP (lesson 08).

    ``[x_1; ...; x_M] -> Linear(sum d_m, hidden) -> ReLU -> Dropout ->
    Linear(hidden, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs)``.
    Inputs ``(B, d_m)`` or ``(B, T, d_m)`` (mean-pooled); output ``(B, n_outputs)``.
    A missing modality is replaced by zeros. The widest block dominates the
    first layer unless the features are normalised per block (lesson 08's pitfall).
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self.layer1 = nn.Linear(sum(self.dims.values()), hidden)
        self.layer2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self._head(hidden)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        b, dtype = self._batch(inputs, found)
        parts = [pool(inputs[m]) if m in found else torch.zeros(b, d, dtype=dtype) for m, d in self.dims.items()]
        h = self.drop(torch.relu(self.layer1(torch.cat(parts, dim=-1))))
        return self._finish(self.drop(torch.relu(self.layer2(h))))


class Unimodal(EarlyFusion):
    """The unimodal baseline: :class:`EarlyFusion` on exactly one modality (lesson 08).

    ``dims`` has one key; inputs may hold other modalities (they are ignored).
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1) -> None:
        check_dims(dims, exactly=1, name="Unimodal")
        super().__init__(dims, n_outputs, hidden, dropout)


class LateFusion(_Fusion):
    """Late fusion: one small classifier per modality, outputs averaged (lesson 08).

    Per modality ``Linear(d_m, hidden) -> ReLU -> Dropout -> Linear(hidden,
    n_outputs)``; the output is the mean of the present modalities' outputs
    (logits), so a missing modality simply drops out of the average.
    Inputs ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    ``n_outputs=0`` is not allowed (there is no shared representation).
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        if self.n_outputs < 1:
            raise ValueError("LateFusion averages outputs: n_outputs must be >= 1")
        self.hiddens = nn.ModuleList(nn.Linear(d, hidden) for d in self.dims.values())
        self.outs = nn.ModuleList(nn.Linear(hidden, n_outputs) for _ in self.dims)
        self.drop = nn.Dropout(dropout)
        self.rep_dim, self.out = 0, None

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        outs = [self.outs[i](self.drop(torch.relu(self.hiddens[i](pool(inputs[m])))))
                for i, m in enumerate(self.modalities) if m in found]
        return torch.stack(outs, dim=0).mean(dim=0)


class WeightedFusion(_Fusion):
    """Learned modality weights: ``h = sum_m w_m * tanh(P_m x_m)``, ``w = softmax(a)`` (lesson 08).

    Each modality is projected to a shared space of width ``hidden``; the
    weights ``w`` (a softmax of one learned logit per modality, over the
    *present* modalities) are read with :meth:`modality_weights`. Then
    ``Linear(hidden, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs)``.
    Inputs ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self.modality_logits = nn.Parameter(torch.zeros(len(self.dims)))
        self.projections = nn.ModuleList(nn.Linear(d, hidden) for d in self.dims.values())
        self.layer = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self._head(hidden)

    def modality_weights(self, modalities=None) -> dict[str, float]:
        """``{modality: weight}`` over ``modalities`` (default all); they sum to 1."""
        names = list(modalities or self.modalities)
        idx = [self.modalities.index(m) for m in names]
        w = torch.softmax(self.modality_logits.detach()[idx], dim=0).cpu().numpy()
        return {m: float(v) for m, v in zip(names, w)}

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        idx = [i for i, m in enumerate(self.modalities) if m in found]
        w = torch.softmax(self.modality_logits[idx], dim=0)
        h = sum(w[j] * torch.tanh(self.projections[i](pool(inputs[self.modalities[i]]))) for j, i in enumerate(idx))
        return self._finish(self.drop(torch.relu(self.layer(self.drop(h)))))


class GatedFusion(_Fusion):
    """Gated multimodal unit, GMU (Arevalo et al. 2017), for M modalities (lesson 09).

    ``h_m = tanh(W_m x_m)``, ``z = sigmoid(W_z [x_1; ...; x_M])`` split into one
    gate vector ``z_m`` per modality, ``h = sum_m z_m * h_m`` (the paper's
    multi-modality form; with two modalities it uses ``z`` and ``1 - z``). Then
    ``Dropout -> Linear(hidden, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs)``.
    A missing modality has ``h_m = 0`` and zeros in the gate's input.
    Inputs ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self.projections = nn.ModuleList(nn.Linear(d, hidden) for d in self.dims.values())
        self.gate = nn.Linear(sum(self.dims.values()), hidden * len(self.dims))
        self.layer = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self._head(hidden)

    def gates(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The gate values ``z``, ``(B, M, hidden)`` (lesson 09)."""
        found = self._present(inputs)
        b, dtype = self._batch(inputs, found)
        x = torch.cat([pool(inputs[m]) if m in found else torch.zeros(b, d, dtype=dtype)
                       for m, d in self.dims.items()], dim=-1)
        return torch.sigmoid(self.gate(x)).reshape(b, len(self.dims), self.hidden)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        z = self.gates(inputs)
        h = sum(z[:, i] * torch.tanh(self.projections[i](pool(inputs[m])))
                for i, m in enumerate(self.modalities) if m in found)
        return self._finish(self.drop(torch.relu(self.layer(self.drop(h)))))


class _TensorBase(_Fusion):
    """Encoders ``e_m = Dropout(ReLU(Linear(d_m, hidden)))`` (zeros when missing) and the post-fusion MLP."""

    def _encoders(self) -> None:
        self.encoders = nn.ModuleList(nn.Linear(d, self.hidden) for d in self.dims.values())
        self.drop = nn.Dropout(self.dropout_rate)

    def _post(self, fusion_dim: int) -> None:
        self.post = nn.Linear(fusion_dim, fusion_dim)
        self._head(fusion_dim)

    def _encode(self, inputs) -> list[torch.Tensor]:
        found = self._present(inputs)
        b, dtype = self._batch(inputs, found)
        return [self.drop(torch.relu(self.encoders[i](pool(inputs[m])))) if m in found
                else torch.zeros(b, self.hidden, dtype=dtype) for i, m in enumerate(self.modalities)]

    def _after(self, fused: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(fused))
        return self._finish(self.drop(torch.relu(self.post(h))))


class TensorFusion(_TensorBase):
    """Tensor Fusion Network (Zadeh et al. 2017): outer product of ``[e_m; 1]`` (lesson 09).

    ``z = vec([e_1; 1] ⊗ [e_2; 1] ⊗ ... ⊗ [e_M; 1])`` has ``prod(hidden + 1)``
    entries: the appended 1 keeps every unimodal and bimodal term next to the
    trimodal ones. Then ``Linear(prod, fusion_dim) -> ReLU -> Dropout ->
    Linear(fusion_dim, fusion_dim) -> ReLU -> Dropout -> Linear(fusion_dim, n_outputs)``.
    The encoders are one dense layer each (the paper uses small sub-networks
    and an LSTM for text). Missing modality: ``e_m = 0`` (its ``1`` remains).
    Inputs ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 16, dropout: float = 0.1,
                 fusion_dim: int = 64) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self._encoders()
        self.fusion = nn.Linear((hidden + 1) ** len(self.dims), fusion_dim)
        self._post(fusion_dim)

    def tensor(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The flattened fusion tensor ``(B, (hidden + 1) ** M)`` (lesson 09)."""
        z = None
        for e in self._encode(inputs):
            e1 = torch.cat([e, torch.ones_like(e[:, :1])], dim=-1)
            z = e1 if z is None else (z[:, :, None] * e1[:, None, :]).reshape(e.shape[0], -1)
        return z

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self._after(self.fusion(self.tensor(inputs)))


class LowRankFusion(_TensorBase):
    """Low-rank Multimodal Fusion, LMF (Liu et al. 2018) (lesson 09).

    The same map as :class:`TensorFusion`'s ``Linear(prod, fusion_dim)`` with
    its weight factorised into ``rank`` factors per modality
    ``W_m^(i)`` of shape ``(hidden + 1, fusion_dim)``:
    ``f = sum_i lambda_i * prod_m ([e_m; 1] W_m^(i)) + b`` — never building
    the tensor. Parameters ``rank * sum(hidden + 1) * fusion_dim + rank +
    fusion_dim`` instead of ``prod(hidden + 1) * fusion_dim + fusion_dim``
    (:func:`course_utils.models.param_count_tfn_lmf`). Then the same post-fusion
    MLP as TFN. Inputs ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 16, dropout: float = 0.1,
                 fusion_dim: int = 64, rank: int = 4) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self.rank = int(rank)
        bound = 1.0 / math.sqrt(hidden + 1)
        for i in range(len(self.dims)):  # own parameters factor_0, factor_1, ... (registration order = Keras order)
            setattr(self, f"factor_{i}",
                    nn.Parameter(torch.empty(rank, hidden + 1, fusion_dim).uniform_(-bound, bound)))
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.fusion_bias = nn.Parameter(torch.zeros(fusion_dim))
        self._encoders()
        self._post(fusion_dim)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        prod = None
        factors = [getattr(self, f"factor_{i}") for i in range(len(self.dims))]
        for e, w in zip(self._encode(inputs), factors):
            e1 = torch.cat([e, torch.ones_like(e[:, :1])], dim=-1)
            f = torch.einsum("bi,rio->rbo", e1, w)
            prod = f if prod is None else prod * f
        return self._after(torch.einsum("r,rbo->bo", self.rank_weights, prod) + self.fusion_bias)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention from four dense layers (lesson 07).

    ``softmax(Q K^T / sqrt(d_k) + mask) V`` per head, heads concatenated and
    projected. ``query (B, Tq, width)``, ``key_value (B, Tk, width)``,
    ``key_mask (B, Tk)`` bool (True = attend) or None; returns ``(B, Tq, width)``.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} is not divisible by heads={heads}")
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(width, width) for _ in range(4))

    def forward(self, query, key_value, key_mask=None, return_weights: bool = False):
        b, tq, w = query.shape
        tk, dh = key_value.shape[1], w // self.heads

        def split(x, t):
            return x.reshape(b, t, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.q(query), tq), split(self.k(key_value), tk), split(self.v(key_value), tk)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if key_mask is not None:
            scores = scores + (1.0 - key_mask.to(scores.dtype))[:, None, None, :] * -1e9
        weights = torch.softmax(scores, dim=-1)
        out = self.o((weights @ v).transpose(1, 2).reshape(b, tq, w))
        return (out, weights) if return_weights else out


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: ``z += MHA(LN(z), LN(src))``; ``z += FFN(LN(z))`` (lesson 07)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = (nn.LayerNorm(width, eps=1e-5) for _ in range(3))
        self.attn = MultiHeadAttention(width, heads)
        self.ff1, self.ff2 = nn.Linear(width, 2 * width), nn.Linear(2 * width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, z, src, key_mask=None):
        z = z + self.drop(self.attn(self.norm_q(z), self.norm_kv(src), key_mask))
        return z + self.drop(self.ff2(torch.relu(self.ff1(self.norm_ff(z)))))


class AttentionFusion(_Fusion):
    """Self-attention over modality tokens (lesson 09).

    Each modality becomes one token ``t_m = Linear(d_m, hidden)(x_m) + e_m``
    (``e_m`` a learned modality embedding); ``layers`` pre-LN transformer
    blocks let the tokens attend to each other (missing modalities are masked
    out of the keys); the tokens of the present modalities are averaged, then
    ``LayerNorm -> Dropout -> Linear(hidden, n_outputs)``.
    Inputs ``(B, d_m)`` / ``(B, T, d_m)`` (mean-pooled); output ``(B, n_outputs)``.
    """

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1,
                 heads: int = 4, layers: int = 1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        self.modality_embedding = nn.Parameter(torch.randn(len(self.dims), hidden) * 0.02)
        self.tokens = nn.ModuleList(nn.Linear(d, hidden) for d in self.dims.values())
        self.blocks = nn.ModuleList(TransformerBlock(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden, eps=1e-5)
        self.drop = nn.Dropout(dropout)
        self._head(hidden)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        b, dtype = self._batch(inputs, found)
        toks = [self.tokens[i](pool(inputs[m])) if m in found else torch.zeros(b, self.hidden, dtype=dtype)
                for i, m in enumerate(self.modalities)]
        z = torch.stack(toks, dim=1) + self.modality_embedding[None]
        mask = torch.tensor([m in found for m in self.modalities])[None].expand(b, -1)
        for block in self.blocks:
            z = block(z, z, mask)
        keep = mask.to(dtype)[:, :, None]
        rep = (z * keep).sum(dim=1) / keep.sum(dim=1)
        return self._finish(self.drop(self.norm(rep)))


class CrossModalTransformer(_Fusion):
    """A MulT-style cross-modal transformer (Tsai et al. 2019) (lesson 09).

    Each modality's sequence ``(B, T_m, d_m)`` (a ``(B, d_m)`` vector is a
    sequence of length 1) is projected to ``hidden`` and given sinusoidal
    positions. For every target modality ``t`` and every other source ``s``,
    ``layers`` cross-modal blocks let ``t``'s steps (queries) attend over
    ``s``'s steps (keys/values; padding steps — all zeros — masked):
    ``z += MHA(LN(z), LN(x_s)); z += FFN(LN(z))``. The ``M - 1`` outputs for a
    target are concatenated (width ``(M-1)*hidden``), passed through
    ``self_layers`` self-attention blocks (as in MulT), mean-pooled over the
    target's valid steps; the ``M`` targets are concatenated and
    ``Linear(M(M-1)hidden, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs)``.
    Needs ``M >= 2``. A missing modality contributes zeros in its slots
    (it is never attended to). Output ``(B, n_outputs)``.
    """

    at_least = 2

    def __init__(self, dims: Mapping[str, int], n_outputs: int = 1, hidden: int = 32, dropout: float = 0.1,
                 heads: int = 4, layers: int = 1, self_layers: int = 1) -> None:
        super().__init__(dims, n_outputs, hidden, dropout)
        mods = self.modalities
        self.pairs = [(t, s) for t in mods for s in mods if s != t]
        self.projections = nn.ModuleList(nn.Linear(d, hidden) for d in self.dims.values())
        self.cross = nn.ModuleList(nn.ModuleList(TransformerBlock(hidden, heads, dropout) for _ in range(layers))
                                   for _ in self.pairs)
        width = (len(mods) - 1) * hidden
        self.selfs = nn.ModuleList(nn.ModuleList(TransformerBlock(width, heads, dropout) for _ in range(self_layers))
                                   for _ in mods)
        self.layer = nn.Linear(len(mods) * width, hidden)
        self.drop = nn.Dropout(dropout)
        self._head(hidden)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        found = self._present(inputs)
        b, dtype = self._batch(inputs, found)
        seq, mask = {}, {}
        for i, m in enumerate(self.modalities):
            if m not in found:
                continue
            x = inputs[m] if inputs[m].dim() == 3 else inputs[m][:, None, :]
            valid = (x != 0).any(dim=-1) if inputs[m].dim() == 3 else torch.ones(b, 1, dtype=torch.bool)
            pos = torch.as_tensor(sinusoidal_positions(x.shape[1], self.hidden), dtype=dtype)
            seq[m], mask[m] = self.projections[i](x) + pos[None], valid
        reps = []
        for t in self.modalities:
            if t not in found:
                reps.append(torch.zeros(b, (len(self.modalities) - 1) * self.hidden, dtype=dtype))
                continue
            outs = []
            for k, (tt, s) in enumerate(self.pairs):
                if tt != t:
                    continue
                if s not in found:
                    outs.append(torch.zeros_like(seq[t]))
                    continue
                z = seq[t]
                for block in self.cross[k]:
                    z = block(z, seq[s], mask[s])
                outs.append(z)
            z = torch.cat(outs, dim=-1)
            for block in self.selfs[self.modalities.index(t)]:
                z = block(z, z, mask[t])
            keep = mask[t].to(dtype)[:, :, None]
            reps.append((z * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0))
        h = self.drop(torch.relu(self.layer(torch.cat(reps, dim=-1))))
        return self._finish(h)


class MultiTaskHead(nn.Module):
    """A fusion body shared by a classification head and a score-regression head (lesson 09).

    ``body`` is a short name (``"early"``, ``"weighted"``, ``"gated"``,
    ``"tfn"``, ``"lmf"``, ``"attention"``, ``"mult"``) built with
    ``n_outputs=0`` and ``**body_kwargs``; on its representation ``r``:
    ``logits = Linear(rep_dim, n_classes)(r)`` and ``score = Linear(rep_dim, 1)(r)``.
    Returns ``{"logits": (B, n_classes), "score": (B,)}``; train with
    ``alpha * CE + beta * MSE`` (lesson 09).
    """

    def __init__(self, dims: Mapping[str, int], body: str = "lmf", n_classes: int = 1, **body_kwargs) -> None:
        super().__init__()
        self.body = build(body, dims, n_outputs=0, **body_kwargs)
        self.classify = nn.Linear(self.body.rep_dim, n_classes)
        self.regress = nn.Linear(self.body.rep_dim, 1)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        r = self.body(inputs)
        return {"logits": self.classify(r), "score": self.regress(r)[:, 0]}


_CLASSES = {"Unimodal": Unimodal, "EarlyFusion": EarlyFusion, "LateFusion": LateFusion,
            "WeightedFusion": WeightedFusion, "GatedFusion": GatedFusion, "TensorFusion": TensorFusion,
            "LowRankFusion": LowRankFusion, "AttentionFusion": AttentionFusion,
            "CrossModalTransformer": CrossModalTransformer, "MultiTaskHead": MultiTaskHead}


def build(name: str, dims: Mapping[str, int], **kwargs) -> nn.Module:
    """A model by short name (``"tfn"``) or class name (``"TensorFusion"``) (lesson 09)."""
    from ._spec import REGISTRY

    cls = _CLASSES.get(REGISTRY.get(name, name))
    if cls is None:
        raise ValueError(f"unknown model {name!r}; use one of {sorted(REGISTRY)} or {sorted(_CLASSES)}")
    return cls(dims, **kwargs)


def to_keras(model: nn.Module, keras_model, example: Mapping[str, np.ndarray] | None = None):
    """Copy a PyTorch model's weights into its Keras twin; returns ``keras_model`` (lesson 07).

    ``keras_model`` is the same class of :mod:`course_utils.models.keras` built
    with the same arguments, e.g. ``to_keras(T.TensorFusion(dims, hidden=8),
    K.TensorFusion(dims, hidden=8))``. It is called once on ``example``
    (default: zeros of shape ``(1, d_m)`` per modality) so that every weight
    exists. Parameters are matched in order (both frameworks list a layer's own
    weights first, then its sub-layers' in creation order); dense weights are
    transposed (PyTorch stores ``(out, in)``, Keras ``(in, out)``); a count or
    shape that does not match raises ``ValueError``.
    """
    if type(model).__name__ != type(keras_model).__name__:
        raise ValueError(f"to_keras copies into the twin of the same name: got {type(model).__name__} and "
                         f"{type(keras_model).__name__}")
    if example is None:
        dims = model.body.dims if isinstance(model, MultiTaskHead) else model.dims
        example = {m: np.zeros((1, d), np.float32) for m, d in dims.items()}
    keras_model(example)
    linear_weights = {id(mod.weight) for mod in model.modules() if isinstance(mod, nn.Linear)}
    params = list(model.parameters())
    kvars = list(keras_model.weights)
    if len(params) != len(kvars):
        raise ValueError(f"{type(model).__name__}: {len(params)} PyTorch parameters vs {len(kvars)} Keras weights")
    for p, v in zip(params, kvars):
        a = p.detach().cpu().numpy()
        if id(p) in linear_weights:
            a = a.T
        if tuple(a.shape) != tuple(v.shape):
            raise ValueError(f"{type(model).__name__}: shape {a.shape} does not fit Keras weight {v.path} {v.shape}")
        v.assign(a)
    return keras_model
