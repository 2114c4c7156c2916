"""Deployment helpers: ONNX export, ONNX Runtime inference, int8 quantization, size and latency (lesson 11).

The course's fusion models (:mod:`course_utils.models.torch`) take a dict of
per-modality tensors. :func:`export_onnx` wraps such a model so that the ONNX
graph has one input per modality, named by the modality (``"text"``,
``"audio"``, ...), each ``(batch, d_m)`` float32 with a dynamic batch axis,
and one output ``"output"`` of shape ``(batch, n_outputs)``.

* :func:`export_onnx`, :func:`onnx_session`, :func:`run_onnx`: export and run;
* :func:`quantize_dynamic_torch`, :func:`quantize_onnx`: dynamic int8
  quantization (weights int8, activations quantized on the fly);
* :func:`prune_magnitude`, :func:`sparsity`: unstructured magnitude pruning
  of the ``nn.Linear`` weights;
* :func:`distillation_loss`, :func:`distill`: knowledge distillation of a
  (fused) teacher into a small student;
* :func:`model_size_mb`, :func:`measure_latency`: what deployment trades.

``torch``, ``onnx`` and ``onnxruntime`` are imported inside the functions, so
importing this module stays light. Bad arguments raise :class:`DeployError`.
"""
from __future__ import annotations

import copy
import io
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .config import CourseError

__all__ = ["DeployError", "export_onnx", "onnx_session", "run_onnx", "torch_runner", "model_size_mb",
           "measure_latency", "quantize_dynamic_torch", "quantize_onnx", "prune_magnitude", "sparsity",
           "distillation_loss", "distill"]


class DeployError(CourseError, ValueError):
    """Bad input for export, inference, quantization or measurement (lesson 11)."""


def _check_inputs(inputs: Any, what: str, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Validate ``{modality: array (B, ...)}``, one batch size for all; return float32 arrays."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise DeployError(f"{what} takes a dict of per-modality arrays", expected="{modality: array (B, d_m)}",
                          found=type(inputs).__name__ if not isinstance(inputs, Mapping) else "an empty dict",
                          fix="e.g. {'text': x_text[:1], 'audio': x_audio[:1]}")
    out = {}
    for name, x in inputs.items():
        if not isinstance(name, str):
            raise DeployError(f"{what}: modality names must be strings", expected="str keys", found=repr(name),
                              fix="use the names of the model's dims")
        arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if arr.dtype.kind not in "fiu" or arr.ndim < 2 or arr.shape[0] == 0:
            raise DeployError(f"{what}: input {name!r} is not a numeric batch",
                              expected="a numeric array of shape (B, d_m) or (B, T, d_m) with B >= 1",
                              found=f"dtype {arr.dtype}, shape {arr.shape}", fix="pass features, one row per item")
        out[name] = np.ascontiguousarray(arr, dtype=np.float32)
    batches = {n: a.shape[0] for n, a in out.items()}
    if len(set(batches.values())) > 1:
        raise DeployError(f"{what}: the modalities have different batch sizes", expected="one batch size",
                          found=str(batches), fix="slice every modality with the same rows")
    if names is not None and set(out) != set(names):
        raise DeployError(f"{what}: wrong modality names", expected=str(sorted(names)), found=str(sorted(out)),
                          fix="pass exactly the inputs the model was exported with")
    return out


def _check_module(model: Any, what: str):
    import torch

    if not isinstance(model, torch.nn.Module):
        raise DeployError(f"{what} needs a PyTorch model", expected="a torch.nn.Module (course_utils.models.torch.*)",
                          found=type(model).__name__, fix="build the model with course_utils.models.torch")
    return torch


def export_onnx(model: Any, example_inputs: Mapping[str, np.ndarray], path: str | os.PathLike, *,
                dynamic_batch: bool = True, opset: int = 17) -> Path:
    """Export a fusion model to ONNX with one named input per modality (lesson 11).

    ``model`` is called as ``model({modality: tensor})``; ``example_inputs`` is
    ``{modality: array (B, d_m)}`` (any B >= 1; the ONNX inputs take the
    modality names, in the model's ``modalities`` order when it has one).
    Output ``"output"``: ``(B, n_outputs)``. With ``dynamic_batch`` the batch
    axis is symbolic (any B at run time); otherwise it is fixed to the
    example's B. The model is exported in eval mode (dropout off) and its
    training flag is restored. Uses the TorchScript exporter (``dynamo=False``:
    the torch.export-based one needs ``onnxscript``, not in the course's
    requirements). Returns ``Path(path)``.

    Raises :class:`DeployError` for a non-module model, bad inputs (not a
    dict of numeric ``(B, ...)`` arrays of one batch size, or names that are
    not the model's modalities) or an opset below 13.
    """
    torch = _check_module(model, "export_onnx")
    arrays = _check_inputs(example_inputs, "export_onnx")
    mods = getattr(model, "modalities", None)
    if mods is not None:
        unknown = set(arrays) - set(mods)
        if unknown:
            raise DeployError("export_onnx: inputs the model does not know", expected=f"a subset of {list(mods)}",
                              found=str(sorted(unknown)), fix="name the inputs like the model's dims")
        names = [m for m in mods if m in arrays]
    else:
        names = list(arrays)
    if not isinstance(opset, int) or opset < 13:
        raise DeployError("export_onnx: opset too old", expected="an int >= 13 (17 by default)", found=repr(opset),
                          fix="opset=17")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    class _Named(torch.nn.Module):
        def __init__(self, inner, names):
            super().__init__()
            self.inner, self.names = inner, tuple(names)

        def forward(self, *xs):
            return self.inner(dict(zip(self.names, xs)))

    wrapper = _Named(model, names)
    args = tuple(torch.from_numpy(arrays[n]) for n in names)
    axes = {n: {0: "batch"} for n in [*names, "output"]} if dynamic_batch else None
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # Known harmless under PYTHONWARNINGS=default: (1) torch 2.9+ announces that the
            # TorchScript exporter is the legacy one (we choose it: the new one needs onnxscript);
            # (2) its internal logging helper is deprecated; (3) TracerWarning from the course's
            # models (course_utils.models._spec input checks, AttentionFusion's modality mask and
            # sqrt(head width)): Python values fixed per modality and per export (the graph is
            # specialised to the modalities given, which is intended); the batch axis stays dynamic
            # (tests compare batch 1 and batch 5 with PyTorch).
            warnings.filterwarnings("ignore", message=r"You are using the legacy TorchScript-based ONNX export",
                                    category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=r"The feature will be removed", category=DeprecationWarning,
                                    module=r"torch\.onnx")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"course_utils\.models\.(_spec|torch)")
            torch.onnx.export(wrapper, args, str(path), input_names=names, output_names=["output"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    finally:
        model.train(was_training)
    return path


def onnx_session(path: str | os.PathLike, *, threads: int | None = 1):
    """An ONNX Runtime ``InferenceSession`` on the CPU (lesson 11).

    ``threads``: intra-op threads (1 by default: comparable, predictable
    latency on a shared machine; ``None``: ONNX Runtime's default, all cores).
    Raises :class:`DeployError` when ``path`` is not a file or ``threads`` is
    not a positive int or None.
    """
    import onnxruntime as ort

    if not Path(path).is_file():
        raise DeployError("onnx_session: no such ONNX file", expected="a file written by export_onnx",
                          found=str(path), fix="run export_onnx(model, inputs, path) first")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise DeployError("onnx_session: bad threads", expected="a positive int or None", found=repr(threads),
                          fix="threads=1")
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Run an exported model: ``{modality: (B, d_m)}`` -> float32 ``(B, n_outputs)`` (lesson 11).

    Inputs are cast to float32. Raises :class:`DeployError` when the names are
    not exactly the session's inputs, or the arrays are not one batch of numbers.
    """
    if not hasattr(session, "get_inputs") or not hasattr(session, "run"):
        raise DeployError("run_onnx needs an ONNX Runtime session", expected="onnx_session(path)",
                          found=type(session).__name__, fix="session = onnx_session(path)")
    names = [i.name for i in session.get_inputs()]
    arrays = _check_inputs(inputs, "run_onnx", names)
    return session.run(None, {n: arrays[n] for n in names})[0]


def torch_runner(model: Any) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """``fn({modality: array}) -> np.ndarray``: a PyTorch model as a numpy function, eval mode, no grad (lesson 11).

    The same calling convention as ``lambda x: run_onnx(session, x)``, for
    :func:`measure_latency` and for comparing outputs. Puts the model in eval mode.
    """
    torch = _check_module(model, "torch_runner")
    model.eval()

    def fn(inputs):
        with torch.no_grad():
            return model({k: torch.from_numpy(v) for k, v in _check_inputs(inputs, "torch_runner").items()}).numpy()

    return fn


def model_size_mb(obj_or_path: Any) -> float:
    """Size in MB (1 MB = 1e6 bytes) (lesson 11).

    A ``torch.nn.Module``: the bytes of its serialized ``state_dict``
    (``torch.save``; quantized modules included). A path (str or PathLike):
    the file's size. Raises :class:`DeployError` for a missing file or any
    other object.
    """
    if isinstance(obj_or_path, (str, os.PathLike)):
        p = Path(obj_or_path)
        if not p.is_file():
            raise DeployError("model_size_mb: no such file", expected="an existing model file", found=str(p),
                              fix="check the path (export_onnx returns it)")
        return p.stat().st_size / 1e6
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the course's stack
        torch = None
    if torch is not None and isinstance(obj_or_path, torch.nn.Module):
        buf = io.BytesIO()
        torch.save(obj_or_path.state_dict(), buf)
        return buf.getbuffer().nbytes / 1e6
    raise DeployError("model_size_mb takes a model or a file", expected="a torch.nn.Module or a path",
                      found=type(obj_or_path).__name__, fix="pass the model or the .onnx path")


def _take(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    idx = np.arange(n) % next(iter(arrays.values())).shape[0]
    return {k: np.ascontiguousarray(v[idx]) for k, v in arrays.items()}


def measure_latency(fn: Callable[[Mapping[str, np.ndarray]], Any], inputs: Mapping[str, np.ndarray], *,
                    batch_sizes: Sequence[int] = (1, 64), warmup: int = 5, repeats: int = 50) -> dict[str, Any]:
    """Latency percentiles at a small batch and throughput at a large one (lesson 11).

    ``fn`` takes ``{modality: float32 array (B, d_m)}`` (:func:`torch_runner`
    or ``lambda x: run_onnx(session, x)``). Batches are built from the rows of
    ``inputs``, repeated cyclically when there are fewer rows than the batch
    size. For each of ``batch_sizes = (small, large)``: ``warmup`` untimed
    calls, then ``repeats`` calls each timed with ``time.perf_counter``.

    Returns ``{"batch_sizes": (small, large), "repeats": repeats,
    "p50_ms": ..., "p95_ms": ...}`` (median and 95th percentile of one call at
    the small batch, milliseconds) ``"throughput": ...`` (items per second at
    the large batch: ``large * repeats / total seconds``). Wall-clock numbers
    depend on the machine and its load. Raises :class:`DeployError` for a
    non-callable ``fn``, bad inputs, or batch sizes / counts that are not
    positive ints (``warmup`` may be 0).
    """
    if not callable(fn):
        raise DeployError("measure_latency needs a function", expected="fn(inputs) -> outputs",
                          found=type(fn).__name__, fix="e.g. torch_runner(model)")
    arrays = _check_inputs(inputs, "measure_latency")
    sizes = tuple(batch_sizes) if isinstance(batch_sizes, (tuple, list)) else None
    ok = (sizes is not None and len(sizes) == 2 and all(isinstance(b, int) and b >= 1 for b in sizes)
          and isinstance(warmup, int) and warmup >= 0 and isinstance(repeats, int) and repeats >= 1)
    if not ok:
        raise DeployError("measure_latency: bad counts", expected="batch_sizes=(small, large) positive ints, "
                          "warmup >= 0, repeats >= 1", found=f"batch_sizes={batch_sizes!r}, warmup={warmup!r}, "
                          f"repeats={repeats!r}", fix="the defaults: batch_sizes=(1, 64), warmup=5, repeats=50")
    times = {}
    for b in sizes:
        x = _take(arrays, b)
        for _ in range(warmup):
            fn(x)
        ts = np.empty(repeats)
        for i in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            ts[i] = time.perf_counter() - t0
        times[b] = ts
    small, large = times[sizes[0]], times[sizes[1]]
    return {"batch_sizes": sizes, "repeats": repeats,
            "p50_ms": float(np.percentile(small, 50) * 1e3), "p95_ms": float(np.percentile(small, 95) * 1e3),
            "throughput": float(sizes[1] * repeats / max(large.sum(), 1e-12))}


def quantize_dynamic_torch(model: Any):
    """Dynamic int8 quantization of every ``nn.Linear`` (lesson 11).

    Returns a quantized copy in eval mode (the original is untouched):
    weights stored as int8 with a per-tensor scale, activations quantized on
    the fly per batch, CPU only. Other parameters (e.g. LMF's factors) stay
    float32, so the size shrinks by up to ~4x only where Linear weights
    dominate. Raises :class:`DeployError` for a non-module.
    """
    torch = _check_module(model, "quantize_dynamic_torch")
    m = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch 2.10+ announces that torch.ao.quantization moves to torchao; the eager
        # dynamic API still works in the pinned torch (known harmless here).
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*deprecated", category=DeprecationWarning)
        # torch 2.13 warns once that quantized tensor creation (torch.quantize_per_tensor, used to
        # pack the int8 weights) is deprecated; it still works in the pinned torch.
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                                category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Dynamic int8 quantization of an ONNX file (ONNX Runtime, QInt8 weights) (lesson 11).

    MatMul/Gemm weights become int8 (activations quantized at run time); the
    result has the same inputs and output as ``src``. Returns ``Path(dst)``.
    Raises :class:`DeployError` when ``src`` is not a file or ``dst == src``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DeployError("quantize_onnx: no such ONNX file", expected="a file written by export_onnx",
                          found=str(src), fix="run export_onnx first")
    if src.resolve() == dst.resolve():
        raise DeployError("quantize_onnx would overwrite its input", expected="dst different from src",
                          found=str(dst), fix="e.g. dst = src.with_suffix('.int8.onnx')")
    dst.parent.mkdir(parents=True, exist_ok=True)
    # ONNX Runtime logs "Please consider (to run) pre-processing before quantization" on the root
    # logger (stderr): shape inference / graph optimisation before quantizing, which matters
    # for large vision models, not for these small MLPs. Drop only that record; a temporary
    # NullHandler stops logging.warning() from installing a permanent stderr handler.
    root = logging.getLogger()
    drop = _DropPreprocessHint()
    null = logging.NullHandler() if not root.handlers else None
    root.addFilter(drop)
    if null is not None:
        root.addHandler(null)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(drop)
        if null is not None:
            root.removeHandler(null)
    return dst


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider")


def _linear_modules(model: Any) -> list:
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def prune_magnitude(model: Any, amount: float, *, mask_fn: Callable[[np.ndarray, float], np.ndarray] | None = None):
    """Unstructured magnitude pruning of every ``nn.Linear`` weight, layer by layer (lesson 11).

    Returns a pruned copy in eval mode (the original is untouched): in each
    Linear weight the ``round(amount * n)`` entries of smallest ``|w|`` become
    exactly 0 (``torch.nn.utils.prune.l1_unstructured``, then
    ``prune.remove`` makes the zeros permanent: plain weights, no mask
    buffers). Biases and other parameters are kept. With ``mask_fn`` (a
    function ``(w: float array (out, in), amount) -> pruned array`` such as
    lesson 11's ``magnitude_prune``) its zeros define the mask instead
    (``prune.custom_from_mask``). The stored size does not change (dense
    float32 zeros); only sparse storage or compression would shrink it.

    Raises :class:`DeployError` for a non-module, a model without Linear
    layers, ``amount`` outside ``[0, 1)`` or a ``mask_fn`` result of the wrong shape.
    """
    torch = _check_module(model, "prune_magnitude")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= float(amount) < 1.0:
        raise DeployError("prune_magnitude: bad amount", expected="a fraction of weights to zero in [0, 1)",
                          found=repr(amount), fix="e.g. amount=0.5 (half of each layer's weights)")
    from torch.nn.utils import prune

    m = copy.deepcopy(model).eval()
    layers = _linear_modules(m)
    if not layers:
        raise DeployError("prune_magnitude: the model has no nn.Linear layer", expected="a model with Linear layers",
                          found=type(model).__name__, fix="prune a course fusion model (EarlyFusion, ...)")
    for layer in layers:
        if mask_fn is None:
            prune.l1_unstructured(layer, name="weight", amount=float(amount))
        else:
            w = layer.weight.detach().cpu().numpy().copy()
            pruned = np.asarray(mask_fn(w, float(amount)))
            if pruned.shape != w.shape:
                raise DeployError("prune_magnitude: mask_fn returned the wrong shape", expected=str(w.shape),
                                  found=str(pruned.shape), fix="return the pruned weight, same shape as its input")
            prune.custom_from_mask(layer, name="weight", mask=torch.from_numpy(pruned != 0))
        prune.remove(layer, "weight")
    return m


def sparsity(model: Any) -> float:
    """Fraction of exact zeros among the model's ``nn.Linear`` weights (lesson 11).

    Raises :class:`DeployError` for a non-module or a model without Linear layers.
    """
    _check_module(model, "sparsity")
    layers = _linear_modules(model)
    if not layers:
        raise DeployError("sparsity: the model has no nn.Linear layer", expected="a model with Linear layers",
                          found=type(model).__name__, fix="pass a course fusion model")
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    return zeros / sum(layer.weight.numel() for layer in layers)


def distillation_loss(student_logits: Any, teacher_logits: Any, targets: Any, temperature: float = 4.0,
                      alpha: float = 0.5):
    """Knowledge-distillation loss (Hinton et al., 2015) (lesson 11).

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))``
    ``+ (1 - alpha) * cross_entropy(student, targets)``; logits ``(B, K)``
    torch tensors, ``targets`` int64 ``(B,)``; KL and cross-entropy averaged
    over the batch. ``T**2`` keeps the soft term's gradients on the scale of
    the hard term's when ``T`` changes. Returns a scalar tensor (differentiable
    in the student's logits; the teacher's are treated as constants).
    Raises :class:`DeployError` for ``temperature <= 0`` or ``alpha`` outside ``[0, 1]``.
    """
    import torch
    import torch.nn.functional as F

    if not float(temperature) > 0 or not 0.0 <= float(alpha) <= 1.0:
        raise DeployError("distillation_loss: bad temperature or alpha", expected="temperature > 0, 0 <= alpha <= 1",
                          found=f"temperature={temperature!r}, alpha={alpha!r}", fix="e.g. temperature=4, alpha=0.5")
    T = float(temperature)
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / T, dim=-1)
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * T * T
    hard = F.cross_entropy(student_logits, torch.as_tensor(targets, dtype=torch.int64))
    return alpha * soft + (1.0 - alpha) * hard


def distill(teacher: Any, student: Any, inputs: Mapping[str, np.ndarray], targets: Any, *, temperature: float = 4.0,
            alpha: float = 0.5, epochs: int = 10, lr: float = 2e-3, batch_size: int = 64, seed: int = 0,
            loss_fn: Callable | None = None):
    """Train ``student`` to imitate ``teacher`` on ``inputs`` (mini-batch Adam) (lesson 11).

    ``inputs``: ``{modality: array (N, d_m)}`` (the student may use a subset of
    the teacher's modalities: each model gets the inputs it knows);
    ``targets``: int class labels ``(N,)``; both models output ``(B, K)``
    logits. The teacher's logits are computed once, in eval mode, without
    gradients. ``loss_fn(student_logits, teacher_logits, targets, temperature,
    alpha)`` defaults to :func:`distillation_loss` (``alpha=0``: plain
    training on the labels). Seeded shuffling (``seed``). Returns the student
    in eval mode (trained in place).

    Raises :class:`DeployError` for non-modules, bad inputs, targets of
    another length, or non-positive ``epochs`` / ``batch_size``.
    """
    torch = _check_module(teacher, "distill")
    _check_module(student, "distill")
    arrays = _check_inputs(inputs, "distill")
    y = np.asarray(targets)
    n = next(iter(arrays.values())).shape[0]
    if y.ndim != 1 or len(y) != n or y.dtype.kind not in "iu":
        raise DeployError("distill: bad targets", expected=f"int class labels of shape ({n},)",
                          found=f"dtype {y.dtype}, shape {y.shape}", fix="pass the training labels")
    if not (isinstance(epochs, int) and epochs >= 1 and isinstance(batch_size, int) and batch_size >= 1):
        raise DeployError("distill: bad counts", expected="epochs >= 1 and batch_size >= 1 (ints)",
                          found=f"epochs={epochs!r}, batch_size={batch_size!r}", fix="e.g. epochs=10, batch_size=64")
    loss_fn = distillation_loss if loss_fn is None else loss_fn

    def feed(model, idx=None):
        mods = getattr(model, "modalities", None) or list(arrays)
        return {m: torch.from_numpy(arrays[m] if idx is None else arrays[m][idx]) for m in mods}

    teacher.eval()
    with torch.no_grad():
        t_logits = teacher(feed(teacher))
    yt = torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    for _ in range(epochs):
        student.train()
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            opt.zero_grad()
            loss = loss_fn(student(feed(student, idx.numpy())), t_logits[idx], yt[idx], temperature, alpha)
            loss.backward()
            opt.step()
    return student.eval()
