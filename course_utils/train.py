"""One small PyTorch training loop for the whole course, and Keras histories in the same shape.

Introduced in lesson 03 (backprop and autograd), after the loop has been
written out by hand once; lessons 04-08 call :func:`fit_torch` instead of
repeating it. It returns a :class:`History`: a plain ``dict`` of per-epoch
lists ``{"loss", "val_loss", "<metric>", "val_<metric>"}`` — the shape of
``keras.Model.fit(...).history`` — so that :func:`course_utils.plots.plot_history`
draws both frameworks' curves the same way (:func:`history_from_keras` converts
a Keras ``History``).

PyTorch is imported inside the functions: ``import course_utils.train`` stays light.

Data may be given as

* a tuple ``(x, y)`` or ``(x1, x2, ..., y)`` of NumPy arrays or tensors (the
  last item is the target; the model is called as ``model(x1, x2, ...)``;
  floating-point arrays are cast to the model's parameter dtype);
* a ``torch.utils.data.Dataset`` (batched here) or a ready ``DataLoader``;
* anything whose batches are dicts or nested structures, with ``batch_fn(batch)
  -> (inputs_tuple, target)`` saying how to unpack a batch.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Mapping

import numpy as np

from .progress import progress

__all__ = ["History", "fit_torch", "evaluate_torch", "predict_torch", "make_loader", "history_from_keras",
           "accuracy_from_logits", "METRICS"]

Metric = Callable[[np.ndarray, np.ndarray], float]


class History(dict):
    """Per-epoch training curves: ``{"loss": [...], "val_loss": [...], ...}`` (lesson 03).

    A ``dict`` of lists (what ``plot_history`` and Keras use) with three
    attributes: ``best_epoch`` (1-based epoch with the best monitored value),
    ``best_value`` and ``stopped_early`` (True when early stopping ended the run).
    """

    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        """Number of epochs recorded."""
        return len(self.get("loss", []))


def accuracy_from_logits(y_true: np.ndarray, outputs: np.ndarray) -> float:
    """Accuracy from raw model outputs (lesson 03).

    ``outputs`` of shape ``(n, k)`` with ``k > 1`` are class scores (argmax);
    shape ``(n,)`` or ``(n, 1)`` are binary logits (positive when ``> 0``).
    """
    outputs, y_true = np.asarray(outputs), np.asarray(y_true).reshape(-1)
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        pred = outputs.argmax(axis=1)
    else:
        pred = (outputs.reshape(-1) > 0).astype(y_true.dtype if y_true.dtype != bool else int)
    return float(np.mean(pred == y_true))


#: Metric names that ``fit_torch(metrics=[...])`` understands without a function.
METRICS: dict[str, Metric] = {"accuracy": accuracy_from_logits, "acc": accuracy_from_logits}


def _metric_fns(metrics) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        items = dict(metrics)
    else:
        items = {}
        for m in metrics:
            if isinstance(m, str):
                items[m] = m
            elif callable(m):
                items[getattr(m, "__name__", f"metric{len(items)}")] = m
            else:
                raise TypeError(f"a metric must be a name or a function, got {m!r}")
    out = {}
    for name, fn in items.items():
        if isinstance(fn, str):
            if fn not in METRICS:
                raise ValueError(f"unknown metric {fn!r}; known names: {sorted(METRICS)} "
                                 "(or pass a function metric(y_true, outputs) -> float)")
            fn = METRICS[fn]
        out[name] = fn
    return out


def _param_dtype_device(model):
    import torch

    for p in model.parameters():
        return p.dtype, p.device
    return torch.get_default_dtype(), torch.device("cpu")


def _as_tensor(a, float_dtype):
    import torch

    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    return t.to(float_dtype) if t.is_floating_point() else t


def make_loader(data, batch_size: int, shuffle: bool, seed: int, float_dtype=None):
    """A ``DataLoader`` for any of the data forms in the module docstring (lesson 03)."""
    import torch
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        if len(data) < 2:
            raise ValueError("pass data as (x, y) or (x1, ..., xk, y): at least an input and a target")
        float_dtype = float_dtype or torch.get_default_dtype()
        tensors = [_as_tensor(a, float_dtype) for a in data]
        n = {len(t) for t in tensors}
        if len(n) != 1:
            raise ValueError(f"inputs and target must have the same number of rows, got lengths "
                             f"{[len(t) for t in tensors]}")
        data = TensorDataset(*tensors)
    if not isinstance(data, Dataset):
        raise TypeError(f"cannot batch a {type(data).__name__}: pass (x, y) arrays, a torch Dataset "
                        "or a DataLoader")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


def _split(batch, batch_fn):
    if batch_fn is not None:
        inputs, target = batch_fn(batch)
        return (tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)), target
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    raise TypeError(f"batches are {type(batch).__name__}s; pass batch_fn(batch) -> (inputs, target) "
                    "to say how to unpack them")


def _to(x, device):
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy()


def evaluate_torch(model, data, loss_fn: Callable, batch_size: int = 256, metrics=None,
                   batch_fn: Callable | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` on ``data`` in eval mode, without gradients (lesson 03)."""
    import torch

    dtype, device = _param_dtype_device(model)
    loader = make_loader(data, batch_size, shuffle=False, seed=0, float_dtype=dtype)
    fns = _metric_fns(metrics)
    was_training = model.training
    model.eval()
    total, n, outs, targets = 0.0, 0, [], []
    with torch.no_grad():
        for batch in loader:
            inputs, target = _split(batch, batch_fn)
            inputs, target = _to(inputs, device), _to(target, device)
            out = model(*inputs)
            k = len(target)
            total += float(loss_fn(out, target)) * k
            n += k
            if fns:
                outs.append(_numpy(out))
                targets.append(_numpy(target))
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate_torch got an empty data set")
    result = {"loss": total / n}
    if fns:
        y, o = np.concatenate(targets), np.concatenate(outs)
        result.update({name: float(fn(y, o)) for name, fn in fns.items()})
    return result


def predict_torch(model, x, batch_size: int = 256) -> np.ndarray:
    """Model outputs for inputs ``x`` (an array/tensor, or a tuple for several inputs) as NumPy (lesson 03)."""
    import torch

    dtype, device = _param_dtype_device(model)
    xs = x if isinstance(x, (tuple, list)) else (x,)
    tensors = [_as_tensor(a, dtype) for a in xs]
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(tensors[0]), batch_size):
            outs.append(_numpy(model(*[t[start:start + batch_size].to(device) for t in tensors])))
    model.train(was_training)
    return np.concatenate(outs)


def fit_torch(model, train_data, val_data=None, *, loss_fn: Callable, optimizer, epochs: int,
              batch_size: int = 32, metrics=None, patience: int | None = None,
              monitor: str | None = None, mode: str = "min", min_delta: float = 0.0,
              restore_best: bool = True, shuffle: bool = True, seed: int = 0,
              grad_clip: float | None = None, scheduler=None, batch_fn: Callable | None = None,
              desc: str = "training", log_every: int = 0,
              on_epoch_end: Callable[[int, dict], Any] | None = None, show_progress: bool | None = None) -> History:
    """Train a PyTorch model with mini-batches; return the per-epoch :class:`History` (lesson 03).

    Each epoch: shuffle (seeded by ``seed``), for every batch
    ``zero_grad -> loss_fn(model(*inputs), target) -> backward -> [clip] -> step``;
    then evaluate on ``val_data`` in eval mode (dropout off) and call
    ``scheduler.step()`` if given.

    ``loss`` is the mean training loss over the epoch's batches (weighted by
    batch size, measured while the weights change, dropout on — as Keras
    reports it); ``val_loss`` is measured after the epoch. ``metrics`` is a
    list of names (``"accuracy"``) or functions ``metric(y_true, outputs)``,
    or a dict name -> function; values are recorded as ``name`` and ``val_name``.

    Early stopping: with ``patience=k``, stop when ``monitor`` (default
    ``"val_loss"``, or ``"loss"`` without validation data) has not improved
    by more than ``min_delta`` for ``k`` epochs; with ``restore_best`` the
    weights of the best epoch are put back (Keras'
    ``EarlyStopping(restore_best_weights=True)``).

    ``show_progress``: the per-epoch bar; ``None`` follows
    :func:`course_utils.progress.progress` (hidden in fast mode, CI and headless
    runs), ``False`` hides it (e.g. inside a loop that shows its own bar).
    """
    import torch

    if epochs < 0 or int(epochs) != epochs:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    monitor = monitor or ("val_loss" if val_data is not None else "loss")
    if monitor.startswith("val_") and val_data is None:
        raise ValueError(f"monitor={monitor!r} needs val_data")
    dtype, device = _param_dtype_device(model)
    loader = make_loader(train_data, batch_size, shuffle, seed, float_dtype=dtype)
    fns = _metric_fns(metrics)
    history = History()
    sign = 1.0 if mode == "min" else -1.0
    best, best_state, waited = math.inf, None, 0

    for epoch in progress(range(1, int(epochs) + 1), desc=desc, total=int(epochs),
                          disable=None if show_progress is None else not show_progress):
        model.train()
        total, n, outs, targets = 0.0, 0, [], []
        for batch in loader:
            inputs, target = _split(batch, batch_fn)
            inputs, target = _to(inputs, device), _to(target, device)
            optimizer.zero_grad()
            out = model(*inputs)
            loss = loss_fn(out, target)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss became {loss.item()} in epoch {epoch}: "
                                         "lower the learning rate, check the inputs for NaN, or clip gradients")
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            k = len(target)
            total += loss.item() * k
            n += k
            if fns:
                outs.append(_numpy(out))
                targets.append(_numpy(target))
        if n == 0:
            raise ValueError("the training data is empty")
        logs = {"loss": total / n}
        if fns:
            y, o = np.concatenate(targets), np.concatenate(outs)
            logs.update({name: float(fn(y, o)) for name, fn in fns.items()})
        if val_data is not None:
            val = evaluate_torch(model, val_data, loss_fn, batch_size=max(batch_size, 256), metrics=fns,
                                 batch_fn=batch_fn)
            logs.update({f"val_{k}": v for k, v in val.items()})
        if scheduler is not None:
            scheduler.step()
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if monitor not in logs:
            raise KeyError(f"monitor={monitor!r} is not among the recorded values {sorted(logs)}")
        current = sign * logs[monitor]
        if current < best - min_delta:
            best, waited = current, 0
            history.best_epoch, history.best_value = epoch, logs[monitor]
            if patience is not None and restore_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            print(f"epoch {epoch:4d}: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
        if patience is not None and waited >= patience:
            history.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def history_from_keras(history) -> History:
    """Turn a Keras ``History`` (or its ``.history`` dict) into a :class:`History` of float lists (lesson 03).

    Keras names metrics after their objects (``"accuracy"``,
    ``"sparse_categorical_accuracy"``...); the names are kept as they are.
    ``best_epoch`` is set from ``val_loss`` (or ``loss``).
    """
    raw = getattr(history, "history", history)
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected a keras History or a dict, got {type(history).__name__}")
    out = History({k: [float(v) for v in vals] for k, vals in raw.items()})
    key = "val_loss" if "val_loss" in out else "loss" if "loss" in out else None
    if key and out[key]:
        i = int(np.argmin(out[key]))
        out.best_epoch, out.best_value = i + 1, out[key][i]
    return out
