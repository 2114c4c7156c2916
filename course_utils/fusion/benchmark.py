"""The fusion benchmark behind ``python -m course_utils.fusion benchmark`` (lessons 08-09).

For a ``course-features-v1`` file (:mod:`course_utils.data.byo`; default: the
bundled data set's baseline features) it trains, for every seed, one
:class:`~course_utils.models.torch.Unimodal` model per modality and each
requested fusion model of :mod:`course_utils.models.torch` on ``train``,
selects the epoch on ``valid`` only (early stopping on the validation loss,
best weights restored; ``fixed_epochs`` never looks at ``valid``), and scores
``test`` once.

Targets and metrics:

* binary files (``label_binary``): one logit, binary cross-entropy; with
  ``label_score`` a second output regresses the score (L1 loss, rows with a
  NaN score left out). ``acc2`` = accuracy of negative vs non-negative,
  ``acc2_non0`` = the same on the rows whose true score is not 0 (negative vs
  positive, as the CMU-MOSI literature reports both), ``f1`` = macro-F1,
  ``acc7``/``mae``/``corr`` from the predicted score (empty without scores);
* K-class files (``label_class``): K logits, cross-entropy; ``acc2`` holds the
  plain accuracy and ``f1`` the macro-F1; the score columns stay empty.

Features are standardised per column with the training rows' mean and
standard deviation (clipped to +-10, so a TF-IDF n-gram seen once in training
cannot explode), padding steps of sequences stay zero.

Options: ``context=True`` appends each utterance's video (speaker) mean
features (a simple contextual model); ``scaling="block"`` uses one scale per
modality; :func:`bootstrap_acc2` gives 95 % intervals that resample whole
videos/speakers of the test split (with 31 test videos, as on CMU-MOSI,
differences below 2-3 points are noise).

If a model's mean validation accuracy is more than ``leak_gap`` (10 points)
above its test accuracy, a :class:`ValidationLeakWarning` says that the valid
split probably leaks (as on the CMU-MOSI bc-LSTM features, whose extractors
saw the labels of every training video) and cannot select models.
"""
from __future__ import annotations

import csv
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import CourseError
from ..metrics import accuracy, f1_score, mae, pearson_corr, seven_class
from ..models._spec import REGISTRY

#: The CSV's columns, in order.
CSV_COLUMNS = ("model", "kind", "modalities", "seed", "acc2", "acc2_non0", "f1", "acc7", "mae", "corr", "seconds")
#: The fusion models run by default (short names of :data:`course_utils.models.REGISTRY`).
DEFAULT_MODELS = ("early", "late", "tfn", "lmf", "gated", "attention", "mult")
#: Fixed model sizes (chosen in advance, the same for every data set).
MODEL_KWARGS = {"unimodal": dict(hidden=64, dropout=0.2), "early": dict(hidden=64, dropout=0.2),
                "late": dict(hidden=64, dropout=0.2), "weighted": dict(hidden=64, dropout=0.2),
                "gated": dict(hidden=64, dropout=0.2), "tfn": dict(hidden=16, fusion_dim=64, dropout=0.2),
                "lmf": dict(hidden=16, fusion_dim=64, rank=4, dropout=0.2),
                "attention": dict(hidden=64, heads=4, dropout=0.2),
                "mult": dict(hidden=32, heads=4, dropout=0.2)}


class BenchmarkError(CourseError, ValueError):
    """The benchmark cannot run on this input (lessons 08-09)."""


class ValidationLeakWarning(UserWarning):
    """Validation accuracy is implausibly far above test accuracy (lessons 08-09)."""


@dataclass
class Prepared:
    """Standardised arrays per split, targets and the task (lessons 08-09)."""

    x: dict[str, dict[str, np.ndarray]]   # split -> modality -> float32
    y: dict[str, np.ndarray]              # split -> int labels (binary 0/1 or class 0..K-1)
    score: dict[str, np.ndarray] | None   # split -> float scores (NaN unknown) or None
    task: str                             # "binary" or "class"
    n_classes: int
    modalities: tuple[str, ...]
    dims: dict[str, int]
    groups: dict[str, np.ndarray] | None = None  # split -> speaker / video ids (bootstrap over groups)


def _load(data):
    from ..data import byo

    if data is None:
        return byo.bundled_feature_set()
    if isinstance(data, byo.FeatureSet):
        return data
    return byo.load_features(data)


def prepare(data=None, modalities: Sequence[str] | None = None, scaling: str = "column",
            context: bool = False) -> Prepared:
    """Load, check and standardise a feature set for the benchmark (lessons 08-09).

    ``scaling="column"``: z-score per feature with the training rows' statistics;
    ``"block"``: centre per feature, one scale per modality (its root mean
    variance), which keeps the relative scale of a block's features.

    ``context=True`` (a simple contextual model, for files with ``speaker``):
    each utterance vector gets the mean of its video's (speaker's) utterance
    vectors in the same split appended, so every model sees the utterance and
    its context (width ``2 d``). Only features are shared, never labels.

    Raises :class:`BenchmarkError` naming the key when a split is empty,
    labels are missing or a requested modality does not exist (format errors
    come from :func:`course_utils.data.load_features`, which names the key too).
    """
    fs = _load(data)
    mods = tuple(modalities) if modalities else fs.modalities
    unknown = [m for m in mods if m not in fs.modalities]
    if unknown:
        raise BenchmarkError(f"no modality {unknown} in this file", expected=f"keys x_<m> for m in {list(mods)}",
                             found=f"modalities {list(fs.modalities)}", fix="pick --modalities from the file's list")
    for s in ("train", "valid", "test"):
        if not (fs.split == s).any():
            extra = (" (carve one from the training speakers/videos, as convert_mosi_bclstm does)"
                     if s == "valid" else "")
            raise BenchmarkError(f"the key 'split' has no '{s}' rows", expected="train, valid and test rows",
                                 found=f"split values {sorted(set(fs.split.tolist()))}",
                                 fix=f"write the file with some rows in split '{s}'{extra}")
    if fs.label_class is not None:
        task, labels, k = "class", fs.label_class.astype(np.int64), fs.n_classes
        key = "label_class"
    elif fs.label_binary is not None:
        task, labels, k, key = "binary", fs.label_binary.astype(np.int64), 2, "label_binary"
    else:  # FeatureSet validation forbids this; kept for a hand-made FeatureSet subclass
        raise BenchmarkError("labels missing", expected="the key 'label_binary' or 'label_class'", found="neither",
                             fix="save_features(..., label_binary=...) or label_class=...")
    train = fs.split == "train"
    if len(np.unique(labels[train])) < 2:
        raise BenchmarkError(f"the key '{key}' has a single class in the training rows",
                             expected="at least two classes in train", found=str(np.unique(labels[train]).tolist()),
                             fix="check the labels and the split")
    if context and fs.speaker is None:
        raise BenchmarkError("context needs the key 'speaker'", expected="speaker (N,) video / speaker ids",
                             found="no 'speaker' key", fix="save_features(..., speaker=...) or drop --context")
    x = {s: {} for s in ("train", "valid", "test")}
    dims = {}
    for m in mods:
        arr = fs.features[m].astype(np.float64)
        if context:
            if arr.ndim != 2:
                raise BenchmarkError(f"context needs utterance vectors; x_{m} is 3-D", expected="(N, d)",
                                     found=str(arr.shape), fix="drop --context for sequence features")
            ctx = np.zeros_like(arr)
            for key in set(zip(fs.speaker.tolist(), fs.split.tolist())):
                rows_ = (fs.speaker == key[0]) & (fs.split == key[1])
                ctx[rows_] = arr[rows_].mean(axis=0)
            arr = np.concatenate([arr, ctx], axis=1)
        dims[m] = arr.shape[-1]
        valid_steps = (arr != 0).any(axis=-1) if arr.ndim == 3 else None
        rows = arr[train] if arr.ndim == 2 else arr[train][valid_steps[train]]
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        if scaling == "block":
            std = np.full_like(std, np.sqrt(np.mean(std ** 2)))
        elif scaling != "column":
            raise BenchmarkError(f"scaling={scaling!r}", expected="'column' or 'block'", found=repr(scaling),
                                 fix="scaling='column' (z-score per feature) or 'block' (one scale per modality)")
        z = np.clip((arr - mean) / np.where(std > 1e-8, std, 1.0), -10, 10)
        if valid_steps is not None:
            z = z * valid_steps[..., None]
        for s in x:
            x[s][m] = z[fs.split == s].astype(np.float32)
    score = None
    if task == "binary" and fs.label_score is not None:
        score = {s: fs.label_score[fs.split == s].astype(np.float32) for s in x}
    groups = None if fs.speaker is None else {s: fs.speaker[fs.split == s] for s in x}
    return Prepared(x=x, y={s: labels[fs.split == s] for s in x}, score=score, task=task, n_classes=k,
                    modalities=mods, dims=dims, groups=groups)


def _targets(p: Prepared, split: str) -> np.ndarray:
    if p.task == "class":
        return p.y[split]
    cols = [p.y[split].astype(np.float32)]
    if p.score is not None:
        cols.append(p.score[split])
    return np.stack(cols, axis=1)


def _loss_fn(p: Prepared):
    import torch
    import torch.nn.functional as F

    if p.task == "class":
        return lambda out, y: F.cross_entropy(out, y)

    def loss(out, y):
        total = F.binary_cross_entropy_with_logits(out[:, 0], y[:, 0])
        if p.score is not None:
            known = torch.isfinite(y[:, 1])
            if known.any():
                total = total + F.l1_loss(out[known, 1], y[known, 1])
        return total

    return loss


def _metrics(p: Prepared, split: str, out: np.ndarray) -> dict[str, float | None]:
    y = p.y[split]
    if p.task == "class":
        pred = out.argmax(axis=1)
        return {"acc2": accuracy(y, pred), "acc2_non0": None, "f1": f1_score(y, pred, average="macro"),
                "acc7": None, "mae": None, "corr": None}
    pred = (out[:, 0] > 0).astype(np.int64)
    res: dict[str, float | None] = {"acc2": accuracy(y, pred), "f1": f1_score(y, pred, average="macro"),
                                    "acc2_non0": None, "acc7": None, "mae": None, "corr": None}
    if p.score is not None:
        s = p.score[split]
        known = np.isfinite(s)
        nz = known & (s != 0)
        if nz.any():
            res["acc2_non0"] = accuracy((s[nz] > 0).astype(np.int64), pred[nz])
        if known.sum() >= 2:
            res.update(acc7=accuracy(seven_class(s[known]), seven_class(out[known, 1])),
                       mae=mae(s[known], out[known, 1]), corr=pearson_corr(s[known], out[known, 1]))
    return res


def _train_one(p: Prepared, short: str, mods: tuple[str, ...], seed: int, *, epochs: int, patience: int,
               fixed_epochs: int | None, lr: float, batch_size: int, overrides: dict | None = None):
    import torch

    from ..models import torch as tm
    from ..train import fit_torch, predict_torch

    torch.manual_seed(seed)
    n_out = p.n_classes if p.task == "class" else (2 if p.score is not None else 1)
    dims = {m: p.dims[m] for m in mods}
    model = tm.build(short, dims, n_outputs=n_out, **{**MODEL_KWARGS[short], **(overrides or {})})
    target_dtype = torch.int64 if p.task == "class" else torch.float32

    def data(split):
        xs = [torch.as_tensor(p.x[split][m]) for m in mods]
        return (*xs, torch.as_tensor(_targets(p, split), dtype=target_dtype))

    def batch_fn(batch):
        return ({m: t for m, t in zip(mods, batch[:-1])},), batch[-1]

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist = fit_torch(model, data("train"), None if fixed_epochs else data("valid"), loss_fn=_loss_fn(p), optimizer=opt,
              epochs=fixed_epochs or epochs, batch_size=batch_size, patience=None if fixed_epochs else patience,
              seed=seed, batch_fn=batch_fn, desc=f"{short} epochs", show_progress=False)

    class _Dict(torch.nn.Module):  # predict_torch passes positional tensors
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            return self.inner(dict(zip(mods, xs)))

    wrapped = _Dict(model)
    outs = {s: predict_torch(wrapped, tuple(p.x[s][m] for m in mods)) for s in ("valid", "test")}
    model.selection_loss = None if fixed_epochs else hist.best_value  # best validation loss
    return model, outs, (fixed_epochs or hist.best_epoch)


def run_benchmark(data=None, models: Sequence[str] = DEFAULT_MODELS, seeds: int = 3, out=None, *,
                  modalities: Sequence[str] | None = None, unimodal: bool = True, epochs: int = 100,
                  patience: int = 10, fixed_epochs: int | dict[str, int] | None = None, lr: float = 1e-3,
                  batch_size: int = 32,
                  threads: int | None = None, progress: bool = True, leak_gap: float = 0.10,
                  scaling: str = "column", context: bool = False,
                  grid: dict[str, Sequence] | None = None) -> list[dict]:
    """Train and score every model for every seed; return one dict per (model, seed) (lessons 08-09).

    ``data``: a path, a :class:`~course_utils.data.FeatureSet` or None (the
    bundled set). ``models``: fusion short names (``early, late, weighted,
    gated, tfn, lmf, attention, mult``). Each row has the :data:`CSV_COLUMNS`
    (test metrics; ``None`` where a metric does not apply) plus ``val_acc``,
    ``epochs`` (the epoch kept) and ``test_output`` (the model's raw test
    outputs). ``fixed_epochs``: an int, or ``{short name:
    epochs}`` (e.g. the epochs early stopping chose on another data set), for
    files whose valid split must not select anything.
    ``grid``: hyper-parameters to try, e.g. ``{"dropout": [0.2, 0.5], "lr":
    [1e-3, 3e-4]}`` (``lr`` or any argument of the models); for every model and
    seed each combination is trained and the one with the lowest validation
    loss is scored on test (rows get ``config`` and ``grid``: the validation
    loss of each combination; ``seconds`` covers the whole search). ``out`` writes the CSV. Fusion models need at
    least two modalities.
    """
    from tqdm.auto import tqdm

    for name in models:
        if name not in REGISTRY or name == "unimodal":
            raise BenchmarkError(f"unknown fusion model {name!r}",
                                 expected=", ".join(sorted(set(REGISTRY) - {"unimodal"})),
                                 found=name, fix="--models early,late,tfn,lmf,gated,attention,mult")
    if seeds < 1:
        raise BenchmarkError("seeds must be >= 1", expected="--seeds 1 or more", found=str(seeds), fix="--seeds 3")
    p = prepare(data, modalities, scaling, context)
    if len(p.modalities) < 2 and models:
        raise BenchmarkError("fusion needs at least two modalities", expected=">= 2 modalities",
                             found=str(list(p.modalities)), fix="use --modalities with two or more, or --models ''")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    runs = [("unimodal", (m,)) for m in p.modalities] if unimodal else []
    runs += [(name, p.modalities) for name in models]
    jobs = [(name, mods, seed) for name, mods in runs for seed in range(seeds)]
    configs = _grid_configs(grid)
    if len(configs) > 1 and fixed_epochs:
        raise BenchmarkError("a grid needs the valid split, fixed_epochs forbids it", expected="grid or fixed_epochs",
                             found="both", fix="drop --grid, or drop --fixed-epochs")
    rows = []
    # tqdm itself rather than course_utils.progress (an iterator): the bar names the run in progress.
    it = tqdm(jobs, desc="fusion benchmark", total=len(jobs), disable=not progress, leave=False)
    for name, mods, seed in it:
        it.set_postfix_str(f"{name} {'+'.join(mods)} seed {seed}")
        t0 = time.perf_counter()
        fixed = fixed_epochs.get(name) if isinstance(fixed_epochs, dict) else fixed_epochs
        tried = {}
        for config in configs:  # one entry without a grid
            model, outs_c, n_ep = _train_one(p, name, mods, seed, epochs=epochs, patience=patience,
                                             fixed_epochs=fixed, lr=config.get("lr", lr), batch_size=batch_size,
                                             overrides={k: v for k, v in config.items() if k != "lr"})
            tried[_config_name(config)] = (model.selection_loss, outs_c, n_ep, config)
        # the configuration with the lowest validation loss (the only one without a grid)
        chosen = min(tried, key=lambda c: tried[c][0] if tried[c][0] is not None else 0.0)
        _, outs, n_epochs, _ = tried[chosen]
        seconds = time.perf_counter() - t0
        row = {"model": name, "kind": "unimodal" if name == "unimodal" else "fusion", "modalities": "+".join(mods),
               "seed": seed, **_metrics(p, "test", outs["test"]), "seconds": seconds,
               "val_acc": _metrics(p, "valid", outs["valid"])["acc2"], "epochs": n_epochs,
               "test_output": outs["test"], "config": chosen,
               "grid": {c: v[0] for c, v in tried.items()}}
        rows.append(row)
    _warn_leak(rows, leak_gap)
    if out is not None:
        write_csv(rows, out)
    return rows


def _grid_configs(grid) -> list[dict]:
    import itertools

    if not grid:
        return [{}]
    keys = list(grid)
    for k in keys:
        if not list(grid[k]):
            raise BenchmarkError(f"grid entry {k!r} is empty", expected="one value or more", found="[]",
                                 fix="e.g. --grid dropout=0.2,0.5")
    return [dict(zip(keys, vals)) for vals in itertools.product(*(list(grid[k]) for k in keys))]


def _config_name(config: dict) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()) or "default"


def _warn_leak(rows: list[dict], gap: float) -> None:
    flagged = []
    for key, group in _groups(rows).items():
        val, test = np.mean([r["val_acc"] for r in group]), np.mean([r["acc2"] for r in group])
        if val - test > gap:
            flagged.append(f"{key[0]} [{key[1]}]: valid {100 * val:.1f} % vs test {100 * test:.1f} %")
    if flagged:
        warnings.warn(
            "validation accuracy is implausibly far above test accuracy (more than "
            f"{100 * gap:.0f} points) for " + "; ".join(flagged) + ". The valid split probably leaks (e.g. the "
            "CMU-MOSI bc-LSTM features were extracted by networks trained on every training video), so it cannot "
            "select epochs or models: use --fixed-epochs N chosen in advance (or on another data set) and read "
            "test once.", ValidationLeakWarning, stacklevel=3)


def _groups(rows):
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["modalities"]), []).append(r)
    return groups


def bootstrap_acc2(rows: list[dict], p: Prepared, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the seed-averaged test Acc-2 of ``rows`` (one model), resampling speakers/videos.

    Resamples whole groups (``speaker`` of the file; rows when there is none)
    with replacement, as the test utterances of one video are not independent.
    """
    y = p.y["test"]
    preds = [(r["test_output"].argmax(1) if p.task == "class" else (r["test_output"][:, 0] > 0)).astype(int)
             for r in rows]
    groups = p.groups["test"] if p.groups is not None else np.arange(len(y)).astype(str)
    names = np.unique(groups)
    index = {g: np.flatnonzero(groups == g) for g in names}
    correct = np.mean([pr == y for pr in preds], axis=0)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        rows_ = np.concatenate([index[g] for g in rng.choice(names, size=len(names), replace=True)])
        stats.append(correct[rows_].mean())
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def write_csv(rows: list[dict], path) -> Path:
    """One row per model and seed, columns :data:`CSV_COLUMNS` (empty where a metric does not apply)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])
                        for c in CSV_COLUMNS])
    return path


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and sd over seeds per (model, modalities): ``{metric: (mean, sd) or None}`` (lessons 08-09)."""
    out = []
    for (model, mods), group in _groups(rows).items():
        s = {"model": model, "kind": group[0]["kind"], "modalities": mods, "n": len(group)}
        for c in ("acc2", "acc2_non0", "f1", "acc7", "mae", "corr", "seconds", "val_acc"):
            vals = [r[c] for r in group if r.get(c) is not None and not (isinstance(r[c], float) and math.isnan(r[c]))]
            s[c] = (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0) if vals else None
        out.append(s)
    return out


def format_table(rows: list[dict]) -> str:
    """A markdown table of :func:`summarize` (percentages for accuracies and F1) (lessons 08-09)."""
    summary = summarize(rows)
    n = max((s["n"] for s in summary), default=0)
    head = (f"| model | kind | modalities | Acc-2 | Acc-2 non0 | macro-F1 | Acc-7 | MAE | Corr | s / run |\n"
            f"|---|---|---|---|---|---|---|---|---|---|")

    def cell(v, pct):
        if v is None:
            return "–"
        m, sd = v
        return f"{100 * m:.1f} ± {100 * sd:.1f}" if pct else f"{m:.3f} ± {sd:.3f}"

    lines = [head]
    for s in summary:
        lines.append(f"| {s['model']} | {s['kind']} | {s['modalities']} | {cell(s['acc2'], True)} | "
                     f"{cell(s['acc2_non0'], True)} | {cell(s['f1'], True)} | {cell(s['acc7'], True)} | "
                     f"{cell(s['mae'], False)} | {cell(s['corr'], False)} | {s['seconds'][0]:.1f} |")
    uni = [s for s in summary if s["kind"] == "unimodal"]
    fus = [s for s in summary if s["kind"] == "fusion"]
    note = f"\nmean ± sd over {n} seed(s); test split; Acc-2 is plain accuracy for K-class files."
    if uni and fus:
        bu, bf = max(uni, key=lambda s: s["acc2"][0]), max(fus, key=lambda s: s["acc2"][0])
        note += (f"\nbest fusion: {bf['model']} {100 * bf['acc2'][0]:.1f} %; best unimodal: {bu['modalities']} "
                 f"{100 * bu['acc2'][0]:.1f} %; difference {100 * (bf['acc2'][0] - bu['acc2'][0]):+.1f} points.")
    return "\n".join(lines) + note
