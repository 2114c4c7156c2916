"""course_utils.models: the same fusion models in PyTorch and Keras (issue 10).

Parity: a PyTorch model's weights copied into its Keras twin (``to_keras``) give
the same outputs to 1e-5, for every model, on vectors, padded sequences and
with a modality missing. Also shapes, padding, missing modalities, errors and
the TFN vs LMF parameter counts against their formulas.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("keras")

import course_utils.models.keras as K  # noqa: E402
import course_utils.models.torch as T  # noqa: E402
from course_utils.models import MODEL_NAMES, param_count_tfn_lmf, sinusoidal_positions  # noqa: E402
from course_utils.models._spec import ModelInputError  # noqa: E402

DIMS = {"text": 7, "audio": 5, "vision": 6}
TOL = 1e-5


def _dims(name):
    return {"text": 7} if name == "Unimodal" else DIMS


def _kwargs(name):
    return {"body": "mult", "n_classes": 3, "hidden": 8} if name == "MultiTaskHead" else {}


def _inputs(seq: bool = False, b: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    if not seq:
        return {m: rng.normal(size=(b, d)).astype(np.float32) for m, d in DIMS.items()}
    out = {}
    for i, (m, d) in enumerate(DIMS.items()):
        x = rng.normal(size=(b, 3 + i, d)).astype(np.float32)
        x[1, 2:] = 0.0  # row 1 is shorter: right-padded
        out[m] = np.concatenate([x, np.zeros((b, 2, d), np.float32)], axis=1)
    return out


def _torch_out(model, inputs):
    with torch.no_grad():
        out = model({m: torch.as_tensor(v) for m, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()} if isinstance(out, dict) else out.numpy()


def _max_diff(a, b):
    if isinstance(a, dict):
        return max(_max_diff(a[k], b[k]) for k in a)
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.fixture(scope="module")
def pairs():
    torch.set_num_threads(1)
    out = {}
    for name in MODEL_NAMES:
        torch.manual_seed(0)
        tm = getattr(T, name)(_dims(name), **_kwargs(name)).eval()
        km = getattr(K, name)(_dims(name), **_kwargs(name))
        out[name] = (tm, T.to_keras(tm, km))
    return out


def test_import_course_utils_models_loads_no_framework():
    code = ("import sys, json, course_utils, course_utils.models; "
            "print(json.dumps([m for m in ['torch', 'tensorflow', 'keras'] if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_same_names_in_both_frameworks():
    for name in MODEL_NAMES:
        assert hasattr(T, name) and hasattr(K, name), name


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("case", ["vectors", "sequences", "missing"])
def test_parity_torch_keras(pairs, name, case):
    tm, km = pairs[name]
    inputs = _inputs(seq=case == "sequences")
    if case == "missing":
        inputs = {m: v for m, v in inputs.items() if m != "audio"}
    a, b = _torch_out(tm, inputs), km(inputs)
    assert _max_diff(a, b) <= TOL
    assert T.count_parameters(tm) == K.count_parameters(km)


def test_weights_really_differ_before_copy():
    # Guard for the parity test: two independently initialised twins disagree.
    torch.manual_seed(0)
    tm, km = T.EarlyFusion(DIMS).eval(), K.EarlyFusion(DIMS)
    assert _max_diff(_torch_out(tm, _inputs()), km(_inputs())) > 1e-3


def test_to_keras_rejects_a_different_architecture():
    with pytest.raises(ValueError, match="shape|parameters"):
        T.to_keras(T.EarlyFusion(DIMS, hidden=8), K.EarlyFusion(DIMS, hidden=16))
    with pytest.raises(ValueError, match="same name"):
        T.to_keras(T.EarlyFusion(DIMS), K.LateFusion(DIMS))


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "MultiTaskHead"])
def test_output_shapes(name):
    dims = _dims(name)
    x = {m: torch.as_tensor(v) for m, v in _inputs(b=5).items()}
    for n_out in (1, 3):
        assert getattr(T, name)(dims, n_outputs=n_out)(x).shape == (5, n_out)
    if name != "LateFusion":
        model = getattr(T, name)(dims, n_outputs=0)
        assert model(x).shape == (5, model.rep_dim)


def test_multitask_head_outputs():
    model = T.MultiTaskHead(DIMS, body="lmf", n_classes=5)
    out = model({m: torch.as_tensor(v) for m, v in _inputs(b=3).items()})
    assert out["logits"].shape == (3, 5) and out["score"].shape == (3,)


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n not in ("Unimodal", "MultiTaskHead")])
def test_padding_does_not_change_the_output(name):
    torch.manual_seed(0)
    model = getattr(T, name)(DIMS).eval()
    seq = _inputs(seq=True)
    trimmed = {m: v[:, :3 + i] for i, (m, v) in enumerate(seq.items())}  # drop the trailing zero steps
    assert _max_diff(_torch_out(model, seq), _torch_out(model, trimmed)) <= 1e-5


def test_missing_modality_semantics():
    torch.manual_seed(0)
    x = {m: torch.as_tensor(v) for m, v in _inputs().items()}
    late = T.LateFusion(DIMS).eval()
    only_text = late({"text": x["text"]})
    alone = late.outs[0](torch.relu(late.hiddens[0](x["text"])))
    assert torch.allclose(only_text, alone)
    # Early fusion and TFN: a missing modality is the same as zeros (features for early, e_m for TFN).
    early = T.EarlyFusion(DIMS).eval()
    zeros = dict(x, audio=torch.zeros_like(x["audio"]))
    assert torch.allclose(early({"text": x["text"], "vision": x["vision"]}), early(zeros))
    weighted = T.WeightedFusion(DIMS)
    with torch.no_grad():
        weighted.modality_logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    w = weighted.modality_weights(["text", "vision"])
    assert abs(sum(w.values()) - 1) < 1e-6 and w["vision"] > w["text"]
    for name in ("GatedFusion", "TensorFusion", "LowRankFusion", "AttentionFusion", "CrossModalTransformer"):
        out = getattr(T, name)(DIMS).eval()({"vision": x["vision"]})
        assert out.shape == (4, 1) and torch.isfinite(out).all(), name


def test_tfn_vs_lmf_parameter_counts_follow_the_formula():
    hidden, f, rank = 16, 64, 4
    h = {m: hidden for m in DIMS}
    counts = param_count_tfn_lmf(h, f, rank)
    assert counts["tfn"] == 17 ** 3 * 64 + 64  # prod(h_m + 1) * f + f
    assert counts["lmf"] == 4 * (3 * 17) * 64 + 4 + 64  # r * sum(h_m + 1) * f + r + f
    tfn = T.TensorFusion(DIMS, hidden=hidden, fusion_dim=f)
    lmf = T.LowRankFusion(DIMS, hidden=hidden, fusion_dim=f, rank=rank)
    assert T.count_parameters(tfn.fusion) == counts["tfn"]
    lmf_fusion = sum(p.numel() for n, p in lmf.named_parameters() if n.startswith(("factor_", "rank_", "fusion_")))
    assert lmf_fusion == counts["lmf"]
    # Everything else (encoders, post-fusion MLP, output) is identical.
    assert T.count_parameters(tfn) - T.count_parameters(lmf) == counts["tfn"] - counts["lmf"]
    assert K.count_parameters(K.TensorFusion(DIMS, hidden=hidden, fusion_dim=f)) == T.count_parameters(tfn)


def test_lmf_equals_tfn_with_the_reconstructed_weight():
    # LMF computes exactly a TFN whose fusion weight is the sum of rank-1 tensors of its factors.
    torch.manual_seed(0)
    dims = {"a": 3, "b": 4}
    lmf = T.LowRankFusion(dims, hidden=2, fusion_dim=5, rank=3).eval()
    tfn = T.TensorFusion(dims, hidden=2, fusion_dim=5).eval()
    with torch.no_grad():
        for src, dst in zip(lmf.encoders, tfn.encoders):
            dst.load_state_dict(src.state_dict())
        w = torch.einsum("r,rio,rjo->ijo", lmf.rank_weights, lmf.factor_0, lmf.factor_1).reshape(9, 5)
        tfn.fusion.weight.copy_(w.T)
        tfn.fusion.bias.copy_(lmf.fusion_bias)
        tfn.post.load_state_dict(lmf.post.state_dict())
        tfn.out.load_state_dict(lmf.out.state_dict())
    x = {"a": torch.randn(6, 3), "b": torch.randn(6, 4)}
    assert torch.allclose(lmf(x), tfn(x), atol=1e-5)


def test_bad_inputs_name_the_key():
    model = T.EarlyFusion(DIMS)
    with pytest.raises(ModelInputError, match="'audio'"):
        model({"text": torch.zeros(2, 7), "audio": torch.zeros(2, 9)})
    with pytest.raises(ModelInputError, match="none of its modalities"):
        model({"speech": torch.zeros(2, 5)})
    with pytest.raises(ModelInputError, match="dict"):
        model(torch.zeros(2, 18))
    with pytest.raises(ModelInputError, match="at least 2"):
        T.CrossModalTransformer({"text": 4})
    with pytest.raises(ModelInputError, match="exactly 1"):
        K.Unimodal(DIMS)
    with pytest.raises(ValueError, match="unknown model"):
        T.build("nope", DIMS)


def test_keras_twin_trains_with_fit():
    import keras

    keras.utils.set_random_seed(0)
    model = K.LowRankFusion(DIMS, hidden=4, fusion_dim=8)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    x = _inputs(b=16)
    y = (x["text"][:, 0] > 0).astype(np.float32)[:, None]
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()


def test_sinusoidal_positions_is_public_and_follows_the_formula():
    # PE[p, 2i] = sin(p / 10000^(2i/E)), PE[p, 2i+1] = cos(p / 10000^(2i/E)) (Vaswani et al. 2017; lesson 07)
    length, width = 24, 32
    pe = sinusoidal_positions(length, width)
    assert pe.shape == (length, width) and pe.dtype == np.float32
    expected = np.zeros((length, width))
    for p in range(length):
        for i in range(width // 2):
            angle = p / 10000.0 ** (2 * i / width)
            expected[p, 2 * i], expected[p, 2 * i + 1] = np.sin(angle), np.cos(angle)
    np.testing.assert_allclose(pe, expected, atol=1e-6)
