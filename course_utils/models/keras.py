"""The course's fusion models in Keras 3 (lessons 07-09); PyTorch twins in :mod:`course_utils.models.torch`.

Same class names, arguments, parameter order and outputs as the PyTorch module
(see :mod:`course_utils.models` for the input convention and the table of
models). Layers are built in ``__init__`` from ``dims``, so ``count_params()``
works before the first call. Written with ``keras.ops`` only.
"""
from __future__ import annotations

import math
from typing import Mapping

import keras
import numpy as np
from keras import layers, ops

from ._spec import check_dims, present, sinusoidal_positions

__all__ = ["Unimodal", "EarlyFusion", "LateFusion", "WeightedFusion", "GatedFusion", "TensorFusion",
           "LowRankFusion", "AttentionFusion", "CrossModalTransformer", "MultiTaskHead", "MultiHeadAttention",
           "TransformerBlock",            "count_parameters", "build"]


def _dense(units: int, d_in: int) -> layers.Dense:
    layer = layers.Dense(units)
    layer.build((None, d_in))
    return layer


def _norm(width: int) -> layers.LayerNormalization:
    layer = layers.LayerNormalization(epsilon=1e-5)  # PyTorch's default eps (Keras' is 1e-3)
    layer.build((None, width))
    return layer


def _zeros(ref, width: int):
    """Zeros ``(B, width)`` with the batch size of the 2-D tensor ``ref``."""
    return ops.matmul(ops.zeros_like(ref[:, :1]), ops.zeros((1, width), dtype=ref.dtype))


def _as_tensors(inputs, found):
    return {m: ops.convert_to_tensor(inputs[m], dtype="float32") for m in found}


def pool(x):
    """``(B, d)`` unchanged; ``(B, T, d)`` mean over the steps that are not all zero (lesson 07)."""
    if len(x.shape) == 2:
        return x
    mask = ops.cast(ops.any(ops.not_equal(x, 0), axis=-1, keepdims=True), x.dtype)
    return ops.sum(x * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


def count_parameters(model) -> int:
    """Number of trainable parameters (lesson 07)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


class _Fusion(keras.Model):
    at_least = 1

    def __init__(self, dims: Mapping[str, int], n_outputs: int, hidden: int, dropout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dims = check_dims(dims, at_least=self.at_least, name=type(self).__name__)
        self.modalities = tuple(self.dims)
        self.n_outputs, self.hidden, self.dropout_rate = int(n_outputs), int(hidden), float(dropout)

    def _head(self, rep_dim: int) -> None:
        self.rep_dim = rep_dim
        self.out = _dense(self.n_outputs, rep_dim) if self.n_outputs > 0 else None
        self.built = True  # every layer was built above from dims

    def _present(self, inputs):
        found = present(self.dims, inputs, type(self).__name__)
        return found, _as_tensors(inputs, found)

    def _finish(self, rep):
        return rep if self.out is None else self.out(rep)


class EarlyFusion(_Fusion):
    """Early fusion: concatenate every modality's features, then an MLP (lesson 08).

    Same as :class:`course_utils.models.torch.EarlyFusion`: ``[x_1; ...; x_M] ->
    Dense(hidden) -> ReLU -> Dropout -> Dense(hidden) -> ReLU -> Dropout ->
    Dense(n_outputs)``; a missing modality is replaced by zeros. Inputs
    ``(B, d_m)`` / ``(B, T, d_m)``; output ``(B, n_outputs)``.
    """

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self.layer1 = _dense(hidden, sum(self.dims.values()))
        self.layer2 = _dense(hidden, hidden)
        self.drop = layers.Dropout(dropout)
        self._head(hidden)

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        ref = pool(x[found[0]])
        parts = [pool(x[m]) if m in found else _zeros(ref, d) for m, d in self.dims.items()]
        h = self.drop(ops.relu(self.layer1(ops.concatenate(parts, axis=-1))), training=training)
        return self._finish(self.drop(ops.relu(self.layer2(h)), training=training))


class Unimodal(EarlyFusion):
    """The unimodal baseline: :class:`EarlyFusion` on exactly one modality (lesson 08)."""

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, **kwargs) -> None:
        check_dims(dims, exactly=1, name="Unimodal")
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)


class LateFusion(_Fusion):
    """Late fusion: one small classifier per modality, outputs averaged over the present ones (lesson 08)."""

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        if self.n_outputs < 1:
            raise ValueError("LateFusion averages outputs: n_outputs must be >= 1")
        self.hiddens = [_dense(hidden, d) for d in self.dims.values()]
        self.outs = [_dense(n_outputs, hidden) for _ in self.dims]
        self.drop = layers.Dropout(dropout)
        self.rep_dim, self.out = 0, None
        self.built = True

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        outs = [self.outs[i](self.drop(ops.relu(self.hiddens[i](pool(x[m]))), training=training))
                for i, m in enumerate(self.modalities) if m in found]
        return ops.mean(ops.stack(outs, axis=0), axis=0)


class WeightedFusion(_Fusion):
    """Learned modality weights: ``h = sum_m w_m * tanh(P_m x_m)``, ``w = softmax(a)`` (lesson 08)."""

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self.modality_logits = self.add_weight(shape=(len(self.dims),), initializer="zeros", name="modality_logits")
        self.projections = [_dense(hidden, d) for d in self.dims.values()]
        self.layer = _dense(hidden, hidden)
        self.drop = layers.Dropout(dropout)
        self._head(hidden)

    def modality_weights(self, modalities=None) -> dict[str, float]:
        """``{modality: weight}`` over ``modalities`` (default all); they sum to 1."""
        names = list(modalities or self.modalities)
        logits = np.asarray(ops.convert_to_numpy(self.modality_logits))[[self.modalities.index(m) for m in names]]
        w = np.exp(logits - logits.max())
        return {m: float(v) for m, v in zip(names, w / w.sum())}

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        idx = [i for i, m in enumerate(self.modalities) if m in found]
        w = ops.softmax(ops.take(self.modality_logits, idx), axis=0)
        h = sum(w[j] * ops.tanh(self.projections[i](pool(x[self.modalities[i]]))) for j, i in enumerate(idx))
        return self._finish(self.drop(ops.relu(self.layer(self.drop(h, training=training))), training=training))


class GatedFusion(_Fusion):
    """Gated multimodal unit, GMU (Arevalo et al. 2017), for M modalities (lesson 09).

    ``h_m = tanh(W_m x_m)``, ``z = sigmoid(W_z [x_1; ...; x_M])`` split per
    modality, ``h = sum_m z_m * h_m``; see the PyTorch twin for details.
    """

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self.projections = [_dense(hidden, d) for d in self.dims.values()]
        self.gate = _dense(hidden * len(self.dims), sum(self.dims.values()))
        self.layer = _dense(hidden, hidden)
        self.drop = layers.Dropout(dropout)
        self._head(hidden)

    def gates(self, inputs):
        """The gate values ``z``, ``(B, M, hidden)`` (lesson 09)."""
        found, x = self._present(inputs)
        ref = pool(x[found[0]])
        cat = ops.concatenate([pool(x[m]) if m in found else _zeros(ref, d) for m, d in self.dims.items()], axis=-1)
        return ops.reshape(ops.sigmoid(self.gate(cat)), (-1, len(self.dims), self.hidden))

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        z = self.gates(inputs)
        h = sum(z[:, i] * ops.tanh(self.projections[i](pool(x[m])))
                for i, m in enumerate(self.modalities) if m in found)
        return self._finish(self.drop(ops.relu(self.layer(self.drop(h, training=training))), training=training))


class _TensorBase(_Fusion):
    def _encoders(self) -> None:
        self.encoders = [_dense(self.hidden, d) for d in self.dims.values()]
        self.drop = layers.Dropout(self.dropout_rate)

    def _post(self, fusion_dim: int) -> None:
        self.post = _dense(fusion_dim, fusion_dim)
        self._head(fusion_dim)

    def _encode(self, inputs, training):
        found, x = self._present(inputs)
        ref = pool(x[found[0]])
        return [self.drop(ops.relu(self.encoders[i](pool(x[m]))), training=training) if m in found
                else _zeros(ref, self.hidden) for i, m in enumerate(self.modalities)]

    def _after(self, fused, training):
        h = self.drop(ops.relu(fused), training=training)
        return self._finish(self.drop(ops.relu(self.post(h)), training=training))


class TensorFusion(_TensorBase):
    """Tensor Fusion Network (Zadeh et al. 2017): outer product of ``[e_m; 1]`` (lesson 09).

    ``(hidden + 1) ** M`` fused features -> ``Dense(fusion_dim)`` -> the
    post-fusion MLP; see the PyTorch twin for details.
    """

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 16, dropout: float = 0.1, fusion_dim: int = 64,
                 **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self._encoders()
        self.size = (hidden + 1) ** len(self.dims)
        self.fusion = _dense(fusion_dim, self.size)
        self._post(fusion_dim)

    def tensor(self, inputs, training=None):
        """The flattened fusion tensor ``(B, (hidden + 1) ** M)`` (lesson 09)."""
        z, width = None, 1
        for e in self._encode(inputs, training):
            e1 = ops.concatenate([e, ops.ones_like(e[:, :1])], axis=-1)
            width *= self.hidden + 1
            z = e1 if z is None else ops.reshape(z[:, :, None] * e1[:, None, :], (-1, width))
        return z

    def call(self, inputs, training=None):
        return self._after(self.fusion(self.tensor(inputs, training)), training)


class LowRankFusion(_TensorBase):
    """Low-rank Multimodal Fusion, LMF (Liu et al. 2018) (lesson 09).

    ``f = sum_i lambda_i * prod_m ([e_m; 1] W_m^(i)) + b`` with factors
    ``W_m`` of shape ``(rank, hidden + 1, fusion_dim)``; see the PyTorch twin.
    """

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 16, dropout: float = 0.1, fusion_dim: int = 64,
                 rank: int = 4, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self.rank = int(rank)
        bound = 1.0 / math.sqrt(hidden + 1)
        self.factors = [self.add_weight(shape=(rank, hidden + 1, fusion_dim), name=f"factor_{i}",
                                        initializer=keras.initializers.RandomUniform(-bound, bound))
                        for i in range(len(self.dims))]
        self.rank_weights = self.add_weight(shape=(rank,), name="rank_weights",
                                            initializer=keras.initializers.Constant(1.0 / rank))
        self.fusion_bias = self.add_weight(shape=(fusion_dim,), name="fusion_bias", initializer="zeros")
        self._encoders()
        self._post(fusion_dim)

    def call(self, inputs, training=None):
        prod = None
        for e, w in zip(self._encode(inputs, training), self.factors):
            e1 = ops.concatenate([e, ops.ones_like(e[:, :1])], axis=-1)
            f = ops.einsum("bi,rio->rbo", e1, w)
            prod = f if prod is None else prod * f
        return self._after(ops.einsum("r,rbo->bo", self.rank_weights, prod) + self.fusion_bias, training)


class MultiHeadAttention(layers.Layer):
    """Multi-head scaled dot-product attention from four dense layers (lesson 07).

    ``query (B, Tq, width)``, ``key_value (B, Tk, width)``, ``key_mask
    (B, Tk)`` (True/1 = attend) or None; returns ``(B, Tq, width)``.
    """

    def __init__(self, width: int, heads: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if width % heads:
            raise ValueError(f"width={width} is not divisible by heads={heads}")
        self.heads, self.width = heads, width
        self.q, self.k, self.v, self.o = (_dense(width, width) for _ in range(4))
        self.built = True

    def call(self, query, key_value, key_mask=None, return_weights: bool = False):
        dh = self.width // self.heads

        def split(x):
            return ops.transpose(ops.reshape(x, (-1, ops.shape(x)[1], self.heads, dh)), (0, 2, 1, 3))

        q, k, v = split(self.q(query)), split(self.k(key_value)), split(self.v(key_value))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(dh)
        if key_mask is not None:
            scores = scores + (1.0 - ops.cast(key_mask, scores.dtype))[:, None, None, :] * -1e9
        # One key: the softmax is exactly 1 (Keras warns about a softmax over a size-1 axis).
        weights = ops.ones_like(scores) if key_value.shape[1] == 1 else ops.softmax(scores, axis=-1)
        merged = ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)), (-1, ops.shape(query)[1], self.width))
        out = self.o(merged)
        return (out, weights) if return_weights else out


class TransformerBlock(layers.Layer):
    """Pre-LayerNorm transformer block: ``z += MHA(LN(z), LN(src))``; ``z += FFN(LN(z))`` (lesson 07)."""

    def __init__(self, width: int, heads: int, dropout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm_q, self.norm_kv, self.norm_ff = (_norm(width) for _ in range(3))
        self.attn = MultiHeadAttention(width, heads)
        self.ff1, self.ff2 = _dense(2 * width, width), _dense(width, 2 * width)
        self.drop = layers.Dropout(dropout)
        self.built = True

    def call(self, z, src, key_mask=None, training=None):
        z = z + self.drop(self.attn(self.norm_q(z), self.norm_kv(src), key_mask), training=training)
        return z + self.drop(self.ff2(ops.relu(self.ff1(self.norm_ff(z)))), training=training)


class AttentionFusion(_Fusion):
    """Self-attention over modality tokens (lesson 09); see the PyTorch twin."""

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 64, dropout: float = 0.1, heads: int = 4,
                 layers: int = 1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        self.modality_embedding = self.add_weight(shape=(len(self.dims), hidden), name="modality_embedding",
                                                  initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.tokens = [_dense(hidden, d) for d in self.dims.values()]
        self.blocks = [TransformerBlock(hidden, heads, dropout) for _ in range(layers)]
        self.norm = _norm(hidden)
        self.drop = keras.layers.Dropout(dropout)
        self._head(hidden)

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        ref = pool(x[found[0]])
        toks = [self.tokens[i](pool(x[m])) if m in found else _zeros(ref, self.hidden)
                for i, m in enumerate(self.modalities)]
        z = ops.stack(toks, axis=1) + self.modality_embedding[None]
        mask = np.array([[m in found for m in self.modalities]], dtype="float32")  # (1, M), broadcast over B
        for block in self.blocks:
            z = block(z, z, mask, training=training)
        keep = mask[:, :, None]
        rep = ops.sum(z * keep, axis=1) / float(mask.sum())
        return self._finish(self.drop(self.norm(rep), training=training))


class CrossModalTransformer(_Fusion):
    """A MulT-style cross-modal transformer (Tsai et al. 2019) (lesson 09); see the PyTorch twin."""

    at_least = 2

    def __init__(self, dims, n_outputs: int = 1, hidden: int = 32, dropout: float = 0.1, heads: int = 4,
                 layers: int = 1, self_layers: int = 1, **kwargs) -> None:
        super().__init__(dims, n_outputs, hidden, dropout, **kwargs)
        mods = self.modalities
        self.pairs = [(t, s) for t in mods for s in mods if s != t]
        self.projections = [_dense(hidden, d) for d in self.dims.values()]
        self.cross = [[TransformerBlock(hidden, heads, dropout) for _ in range(layers)] for _ in self.pairs]
        width = (len(mods) - 1) * hidden
        self.selfs = [[TransformerBlock(width, heads, dropout) for _ in range(self_layers)] for _ in mods]
        self.layer = _dense(hidden, len(mods) * width)
        self.drop = keras.layers.Dropout(dropout)
        self._head(hidden)

    def call(self, inputs, training=None):
        found, x = self._present(inputs)
        ref = pool(x[found[0]])
        seq, mask = {}, {}
        for i, m in enumerate(self.modalities):
            if m not in found:
                continue
            xm = x[m] if len(x[m].shape) == 3 else x[m][:, None, :]
            valid = (ops.any(ops.not_equal(xm, 0), axis=-1) if len(x[m].shape) == 3
                     else ops.ones_like(xm[:, :, 0]))
            pos = sinusoidal_positions(xm.shape[1], self.hidden)
            seq[m], mask[m] = self.projections[i](xm) + pos[None], ops.cast(valid, "float32")
        reps = []
        for t in self.modalities:
            if t not in found:
                reps.append(_zeros(ref, (len(self.modalities) - 1) * self.hidden))
                continue
            outs = []
            for k, (tt, s) in enumerate(self.pairs):
                if tt != t:
                    continue
                if s not in found:
                    outs.append(ops.zeros_like(seq[t]))
                    continue
                z = seq[t]
                for block in self.cross[k]:
                    z = block(z, seq[s], mask[s], training=training)
                outs.append(z)
            z = ops.concatenate(outs, axis=-1)
            for block in self.selfs[self.modalities.index(t)]:
                z = block(z, z, mask[t], training=training)
            keep = mask[t][:, :, None]
            reps.append(ops.sum(z * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0))
        h = self.drop(ops.relu(self.layer(ops.concatenate(reps, axis=-1))), training=training)
        return self._finish(h)


class MultiTaskHead(keras.Model):
    """A fusion body shared by a classification head and a score-regression head (lesson 09).

    Returns ``{"logits": (B, n_classes), "score": (B,)}``; see the PyTorch twin.
    """

    def __init__(self, dims, body: str = "lmf", n_classes: int = 1, **body_kwargs) -> None:
        super().__init__()
        self.body = build(body, dims, n_outputs=0, **body_kwargs)
        self.classify = _dense(n_classes, self.body.rep_dim)
        self.regress = _dense(1, self.body.rep_dim)
        self.built = True

    def call(self, inputs, training=None):
        r = self.body(inputs, training=training)
        return {"logits": self.classify(r), "score": self.regress(r)[:, 0]}


_CLASSES = {"Unimodal": Unimodal, "EarlyFusion": EarlyFusion, "LateFusion": LateFusion,
            "WeightedFusion": WeightedFusion, "GatedFusion": GatedFusion, "TensorFusion": TensorFusion,
            "LowRankFusion": LowRankFusion, "AttentionFusion": AttentionFusion,
            "CrossModalTransformer": CrossModalTransformer, "MultiTaskHead": MultiTaskHead}


def build(name: str, dims, **kwargs):
    """A model by short name (``"tfn"``) or class name (``"TensorFusion"``) (lesson 09)."""
    from ._spec import REGISTRY

    cls = _CLASSES.get(REGISTRY.get(name, name))
    if cls is None:
        raise ValueError(f"unknown model {name!r}; use one of {sorted(REGISTRY)} or {sorted(_CLASSES)}")
    return cls(dims, **kwargs)
