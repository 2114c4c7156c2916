"""The capstone sentiment system: evaluation report, analysis helpers and seed system 004 (lesson 10).

Everything that lesson 10 and ``make bench`` (``benchmarks/bench_capstone.py``) share:

* **Evaluation as the CMU-MOSI literature reports it** (built on :mod:`course_utils.metrics`):
  :func:`report_metrics` gives Acc-2 (negative vs non-negative, from the class decision), Acc-2 non0
  (negative vs positive, true score 0 left out), weighted and macro F1, Acc-7, MAE and Pearson correlation;
  :func:`evaluate` adds 95 % bootstrap intervals that resample whole groups (speakers / videos, see
  :func:`bootstrap_ci`); :func:`baseline_predictions` gives a majority-class and a constant-score predictor
  fitted on the training split; :func:`format_report` prints it all as one markdown table.
* **Analysis**: :func:`slice_masks` / :func:`slice_table` (per-slice accuracy with Wilson intervals from the
  bundled records' fields), :func:`reliability_bins` / :func:`expected_calibration_error` (calibration),
  :func:`ablation` (each modality removed, retrained), :func:`perturbation_contributions` (per item: how much
  the predicted probability moves when one modality is replaced by its training mean).
* **Model selection on valid, test read once**: :func:`run_capstone` trains unimodal baselines and the fusion
  candidates of :mod:`course_utils.models` over a small hyper-parameter grid, selects the candidate with the
  lowest validation loss, and evaluates it (with the baselines) on test. For a file whose valid split cannot
  select anything (the CMU-MOSI bc-LSTM features leak), pass ``protocol=`` (the selection made on another data
  set: model, configuration and epochs) and nothing is chosen on that file.
* **Seed system 004, rebuilt**: a three-branch text / face / audio network with a multi-task loss
  ``alpha1 * CE + alpha2 * MSE``, in PyTorch (:func:`seed004_torch`) and Keras (:func:`seed004_keras`), same
  names, arguments and layers; :func:`seed004_inputs` prepares its inputs from the bundled data (MiniLM sentence
  embedding, the 48x48 grey face, log-mel frames of 160 ms), :func:`train_seed004_torch` /
  :func:`train_seed004_keras` train it with early stopping on the validation loss.

torch and keras are imported inside the functions that need them: ``import course_utils.capstone`` is light.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .config import CourseError
from .metrics import accuracy, f1_score, mae, pearson_corr, seven_class

__all__ = [
    "CapstoneError", "METRICS", "METRIC_NAMES", "CANDIDATES", "GRID", "report_metrics", "group_draws",
    "bootstrap_ci", "evaluate", "baseline_predictions", "format_report", "slice_masks", "slice_table",
    "wilson_interval", "reliability_bins", "expected_calibration_error", "ablation", "perturbation_contributions",
    "course_feature_set", "run_capstone", "CapstoneResult", "train_fixed", "train_keras_twin", "seed004_inputs",
    "seed004_torch",
    "seed004_keras", "multitask_loss", "train_seed004_torch", "train_seed004_keras", "model_card",
]

#: The report's metrics, in table order.
METRICS = ("acc2", "acc2_non0", "f1_weighted", "f1_macro", "acc7", "mae", "corr")
#: Column titles of :data:`METRICS`.
METRIC_NAMES = {"acc2": "Acc-2", "acc2_non0": "Acc-2 non0", "f1_weighted": "F1 (weighted)", "f1_macro": "F1 (macro)",
                "acc7": "Acc-7", "mae": "MAE", "corr": "Corr"}
_PERCENT = {"acc2", "acc2_non0", "f1_weighted", "f1_macro", "acc7"}
#: Fusion candidates of the selection (short names of :data:`course_utils.models.REGISTRY`).
CANDIDATES = ("early", "late", "gated", "lmf")
#: The documented hyper-parameter grid: every candidate is trained with each combination (the model sizes and
#: dropout 0.2 are the fusion benchmark's, fixed in advance).
GRID = {"lr": (1e-3, 3e-3)}


class CapstoneError(CourseError, ValueError):
    """The capstone helpers got inputs they cannot use (lesson 10)."""


# ----------------------------------------------------------------------------- metrics and intervals
def _vec(x, name: str, dtype=float) -> np.ndarray:
    arr = np.asarray(x, dtype=dtype).reshape(-1) if np.ndim(x) <= 2 else None
    if arr is None or (np.ndim(x) == 2 and 1 not in np.shape(x)):
        raise CapstoneError(f"{name} must be one value per example", expected="shape (N,) or (N, 1)",
                            found=f"shape {np.shape(x)}", fix=f"pass {name} as a 1-D array")
    return arr


def report_metrics(score_true, score_pred, label_pred=None) -> dict[str, float]:
    """Every CMU-MOSI metric of one system (lesson 10): ``{name: value}`` for the names of :data:`METRICS`.

    ``score_true``, ``score_pred``: ``(N,)`` sentiment scores in ``[-3, 3]`` (the prediction is clipped only for
    Acc-7, as :func:`course_utils.metrics.seven_class` does). ``label_pred``: ``(N,)`` 0/1 class decisions
    (1 = non-negative) of a classifier head; ``None`` takes them from the sign of ``score_pred``
    (``score >= 0``). Acc-2 and both F1 compare ``label_pred`` with ``score_true >= 0``; Acc-2 non0 keeps the
    rows whose true score is not 0 and compares with ``score_true > 0`` (``nan`` when none is left). Acc-7, MAE
    and Corr use the scores (Corr is ``nan`` for a constant prediction). Raises :class:`CapstoneError` for
    mismatched lengths or non-finite scores.
    """
    t, p = _vec(score_true, "score_true"), _vec(score_pred, "score_pred")
    lab = (p >= 0).astype(np.int64) if label_pred is None else _vec(label_pred, "label_pred").astype(np.int64)
    if not (t.shape == p.shape == lab.shape) or t.size == 0:
        raise CapstoneError("score_true, score_pred and label_pred need the same length", expected="N >= 1 each",
                            found=f"{t.shape}, {p.shape}, {lab.shape}", fix="pass the rows of one split")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise CapstoneError("scores must be finite", expected="no NaN / inf", found="NaN or inf",
                            fix="drop rows without a score first")
    bt = (t >= 0).astype(np.int64)
    nz = t != 0
    return {"acc2": accuracy(bt, lab), "acc2_non0": accuracy((t[nz] > 0).astype(np.int64), lab[nz]) if nz.any()
            else float("nan"), "f1_weighted": f1_score(bt, lab, average="weighted"),
            "f1_macro": f1_score(bt, lab, average="macro"), "acc7": accuracy(seven_class(t), seven_class(p)),
            "mae": mae(t, p), "corr": _corr(t, p)}


def _corr(t: np.ndarray, p: np.ndarray) -> float:
    """Pearson correlation, ``nan`` when either side is constant (also up to rounding of a constant array)."""
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        return float("nan")
    return pearson_corr(t, p)


def group_draws(groups, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """The resampling plan of a group bootstrap: ``(n_boot, G)`` int64 indices into ``np.unique(groups)`` (lesson 10).

    Row ``b`` lists the ``G`` groups (drawn with replacement, uniformly) that make bootstrap replicate ``b``.
    ``groups``: ``(N,)`` group ids (speakers / videos); use ``np.arange(N)`` to resample single rows.
    """
    names = np.unique(np.asarray(groups))
    if n_boot < 1 or names.size == 0:
        raise CapstoneError("group_draws needs n_boot >= 1 and at least one group", expected="n_boot >= 1, N >= 1",
                            found=f"n_boot={n_boot}, {names.size} groups", fix="pass the test split's groups")
    return np.random.default_rng(seed).integers(0, names.size, size=(int(n_boot), names.size))


def bootstrap_ci(y_true, y_pred, groups, draws, metric: Callable) -> tuple[float, float]:
    """Percentile 95 % interval of ``metric`` under a group bootstrap with a given plan (lesson 10).

    ``y_true``, ``y_pred``: arrays with the same first axis ``N``; ``groups``: ``(N,)`` group ids; ``draws``:
    ``(B, G)`` indices into ``np.unique(groups)`` (:func:`group_draws`). Replicate ``b`` takes, for each
    ``g`` in ``draws[b]`` in order, all rows of group ``np.unique(groups)[g]`` (a group drawn twice counts
    twice), and computes ``metric(y_true[rows], y_pred[rows])``. Returns ``(lo, hi)``: the 2.5th and 97.5th
    percentiles of the ``B`` values (``np.percentile``, linear interpolation), as Python floats; replicates
    whose metric is ``nan`` are left out.
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(names.size)]
    stats = np.array([metric(y_true[rows], y_pred[rows]) for rows in
                      (np.concatenate([members[g] for g in d]) for d in np.asarray(draws))], dtype=float)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def evaluate(score_true, score_pred, label_pred=None, groups=None, *, n_boot: int = 1000, seed: int = 0,
             ci_fn: Callable = bootstrap_ci) -> dict[str, tuple[float, float, float]]:
    """:func:`report_metrics` with 95 % bootstrap intervals: ``{metric: (value, lo, hi)}`` (lesson 10).

    ``groups``: ``(N,)`` speaker / video ids (whole groups are resampled: the utterances of one speaker are not
    independent); ``None`` resamples rows. ``n_boot=0`` skips the intervals (``lo = hi = nan``). ``ci_fn``:
    a function with :func:`bootstrap_ci`'s signature (the lesson passes the learner's own). All metrics use the
    same resampling plan (:func:`group_draws` with ``seed``).
    """
    t, p = _vec(score_true, "score_true"), _vec(score_pred, "score_pred")
    lab = (p >= 0).astype(np.int64) if label_pred is None else _vec(label_pred, "label_pred").astype(np.int64)
    values = report_metrics(t, p, lab)
    if not n_boot:
        return {k: (v, float("nan"), float("nan")) for k, v in values.items()}
    g = np.arange(t.size) if groups is None else np.asarray(groups)
    draws = group_draws(g, n_boot, seed)
    pred = np.stack([p, lab.astype(float)], axis=1)
    return {k: (v, *ci_fn(t, pred, g, draws, _ONE_METRIC[k])) if np.isfinite(v) else (v, float("nan"), float("nan"))
            for k, v in values.items()}


def _acc2_non0(t, yp):
    nz = t != 0
    return accuracy((t[nz] > 0).astype(np.int64), yp[nz, 1].astype(np.int64)) if nz.any() else float("nan")


#: One metric of :func:`report_metrics` as ``metric(score_true, [score_pred, label_pred])`` (for the bootstrap).
_ONE_METRIC: dict[str, Callable] = {
    "acc2": lambda t, yp: accuracy((t >= 0).astype(np.int64), yp[:, 1].astype(np.int64)),
    "acc2_non0": _acc2_non0,
    "f1_weighted": lambda t, yp: f1_score((t >= 0).astype(np.int64), yp[:, 1].astype(np.int64), average="weighted"),
    "f1_macro": lambda t, yp: f1_score((t >= 0).astype(np.int64), yp[:, 1].astype(np.int64), average="macro"),
    "acc7": lambda t, yp: accuracy(seven_class(t), seven_class(yp[:, 0])),
    "mae": lambda t, yp: mae(t, yp[:, 0]),
    "corr": lambda t, yp: _corr(t, yp[:, 0]),
}


def baseline_predictions(train_scores, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two trivial systems fitted on the training scores: ``{name: (score_pred (n,), label_pred (n,))}`` (lesson 10).

    * ``"majority class"``: predicts the training split's majority binary class (``score >= 0`` or not) for
      every item; its score is the most frequent 7-class value (``seven_class``) among the training items of
      that class, so its Acc-7 is that of always answering the commonest class.
    * ``"constant score"``: the training median score for every item (the constant that minimises the MAE),
      the class from its sign.
    A model must beat both by more than the intervals' width to have learned anything.
    """
    s = _vec(train_scores, "train_scores")
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise CapstoneError("no finite training score", expected="scores", found="none", fix="check label_score")
    major = int((s >= 0).mean() >= 0.5)
    cls = seven_class(s[(s >= 0) == bool(major)])
    vals, counts = np.unique(cls, return_counts=True)
    maj_score = float(vals[np.argmax(counts)])
    med = float(np.median(s))
    return {"majority class": (np.full(n, maj_score), np.full(n, major, dtype=np.int64)),
            "constant score": (np.full(n, med), np.full(n, int(med >= 0), dtype=np.int64))}


def format_report(rows: Mapping[str, Mapping[str, tuple[float, float, float]]], *, intervals: bool = True) -> str:
    """A markdown table of :func:`evaluate` results, one row per system (lesson 10).

    Accuracies and F1 in %, MAE and Corr as numbers; ``value [lo, hi]`` when ``intervals`` and the interval
    exists; "–" for ``nan``.
    """
    head = "| system | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for name, res in rows.items():
        cells = []
        for m in METRICS:
            v, lo, hi = res[m]
            scale, fmt = (100.0, "{:.1f}") if m in _PERCENT else (1.0, "{:.3f}")
            if not np.isfinite(v):
                cells.append("–")
                continue
            cell = fmt.format(scale * v)
            if intervals and np.isfinite(lo) and np.isfinite(hi):
                cell += f" [{fmt.format(scale * lo)}, {fmt.format(scale * hi)}]"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- slices
_OCCLUDED = ("mask", "hand", "sunglasses", "microphone")


def slice_masks(records: Sequence[Mapping[str, Any]], low_snr_db: float = 0.0) -> dict[str, np.ndarray]:
    """Boolean masks ``(N,)`` of the analysis slices of the bundled data set's records (lesson 10).

    Slices: ``all``; the text phenomena ``ironic``, ``contrast``, ``negation``, ``neutral`` (record flags) and
    ``plain`` (``kind == "plain"``); audio ``low SNR`` (``snr_db < low_snr_db``) and ``clean audio``; face
    ``face visible`` (``occlusion == "none"``), ``face missing`` (``out_of_frame``), ``face occluded`` (mask,
    hand, sunglasses, microphone), ``face dark``; ``skin tone k`` for every tone present (1-6, Fitzpatrick-like
    scale of the generator); ``domain <d>`` for every domain. Raises :class:`CapstoneError` when a record lacks
    a field (a bring-your-own file has no such metadata).
    """
    need = ("ironic", "contrast", "negation", "neutral", "kind", "snr_db", "occlusion", "skin_tone", "domain")
    if not records:
        raise CapstoneError("no records", expected="a list of record dicts", found="empty", fix="pass the test records")
    missing = [k for k in need if k not in records[0]]
    if missing:
        raise CapstoneError(f"records lack the fields {missing}", expected=", ".join(need), found=str(list(records[0])),
                            fix="slices need the bundled data set's metadata (course_utils.data.load_records())")
    col = {k: np.array([r[k] for r in records]) for k in need}
    out = {"all": np.ones(len(records), bool)}
    for k in ("ironic", "contrast", "negation", "neutral"):
        out[k] = col[k].astype(int) == 1
    out["plain"] = col["kind"] == "plain"
    snr = col["snr_db"].astype(float)
    out[f"low SNR (< {low_snr_db:g} dB)"] = snr < low_snr_db
    out["clean audio"] = snr >= low_snr_db
    occ = col["occlusion"]
    out["face visible"] = occ == "none"
    out["face missing"] = occ == "out_of_frame"
    out["face occluded"] = np.isin(occ, _OCCLUDED)
    out["face dark"] = occ == "dark"
    for t in sorted(set(col["skin_tone"].astype(int).tolist())):
        out[f"skin tone {t}"] = col["skin_tone"].astype(int) == t
    for d in sorted(set(col["domain"].tolist())):
        out[f"domain {d}"] = col["domain"] == d
    return out


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson 95 % interval of a proportion ``k / n`` (lesson 10); ``(nan, nan)`` when ``n == 0``.

    Better than the normal approximation for small ``n`` and proportions near 0 or 1 (Wilson, 1927); it assumes
    independent items.
    """
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def slice_table(masks: Mapping[str, np.ndarray], correct) -> list[dict]:
    """Accuracy per slice: ``[{"slice", "n", "acc", "lo", "hi"}]`` with Wilson intervals (lesson 10).

    ``correct``: ``(N,)`` booleans (prediction right or wrong), aligned with every mask. Slices with ``n == 0``
    get ``nan``.
    """
    c = np.asarray(correct, dtype=bool).reshape(-1)
    rows = []
    for name, m in masks.items():
        m = np.asarray(m, dtype=bool)
        if m.shape != c.shape:
            raise CapstoneError(f"mask {name!r} has shape {m.shape}", expected=str(c.shape), found=str(m.shape),
                                fix="build the masks from the same records as the predictions")
        n, k = int(m.sum()), int(c[m].sum())
        lo, hi = wilson_interval(k, n)
        rows.append({"slice": name, "n": n, "acc": k / n if n else float("nan"), "lo": lo, "hi": hi})
    return rows


# ----------------------------------------------------------------------------- calibration
def reliability_bins(prob, y, n_bins: int = 10) -> dict[str, np.ndarray | float]:
    """Reliability diagram data of predicted probabilities of class 1 (lesson 10).

    ``prob``: ``(N,)`` P(y = 1) in [0, 1]; ``y``: ``(N,)`` 0/1. Equal-width bins ``[k/n_bins, (k+1)/n_bins)``,
    the last one closed (``p = 1`` falls in it). Returns ``{"edges" (n_bins + 1,), "count", "mean_prob",
    "frac_pos"}`` (per bin; ``nan`` for empty bins) and ``"ece"``: ``sum_b (n_b / N) |frac_pos_b - mean_prob_b|``
    over the non-empty bins (the expected calibration error, Naeini et al. 2015; Guo et al. 2017).
    """
    p, t = _vec(prob, "prob"), _vec(y, "y")
    if p.shape != t.shape or p.size == 0 or (p < 0).any() or (p > 1).any():
        raise CapstoneError("reliability_bins needs probabilities and labels of the same length",
                            expected="prob in [0, 1], y in {0, 1}, same N", found=f"{p.shape}, {t.shape}",
                            fix="pass sigmoid(logit) and the 0/1 labels")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(idx, weights=p, minlength=n_bins) / count
        frac_pos = np.bincount(idx, weights=t, minlength=n_bins) / count
    ok = count > 0
    ece = float(np.sum(count[ok] / p.size * np.abs(frac_pos[ok] - mean_prob[ok])))
    return {"edges": np.linspace(0, 1, n_bins + 1), "count": count, "mean_prob": mean_prob, "frac_pos": frac_pos,
            "ece": ece}


def expected_calibration_error(prob, y, n_bins: int = 10) -> float:
    """ECE of P(y = 1) with ``n_bins`` equal-width bins (lesson 10); see :func:`reliability_bins`."""
    return float(reliability_bins(prob, y, n_bins)["ece"])


# ----------------------------------------------------------------------------- ablation and contributions
def ablation(train_eval: Callable[[tuple[str, ...]], float], modalities: Sequence[str]) -> dict[str, float]:
    """Leave-one-modality-out ablation (lesson 10): ``{m: score(all) - score(all without m)}``.

    ``train_eval(mods)`` trains a system on the modalities ``mods`` (a tuple in the order of ``modalities``) and
    returns a score where higher is better (e.g. validation Acc-2). It is called once with all modalities and
    once per removed modality. A positive value: the system loses that much without ``m``.
    """
    mods = tuple(modalities)
    full = float(train_eval(mods))
    return {m: full - float(train_eval(tuple(k for k in mods if k != m))) for m in mods}


def perturbation_contributions(predict: Callable[[dict], np.ndarray], inputs: Mapping[str, np.ndarray],
                               modalities: Sequence[str] | None = None) -> np.ndarray:
    """Per item, how much the prediction moves when one modality is replaced by zeros (lesson 10).

    ``predict({m: X_m})`` returns ``(N,)`` probabilities (or scores); ``inputs``: the standardised features of
    :func:`course_utils.fusion.benchmark.prepare`, where 0 is the training mean, so "zeros" means "an average
    input of that modality" (not "missing"). Returns ``(N, M)``: ``|predict(all) - predict(m replaced)|``, columns
    in the order of ``modalities`` (default: the keys of ``inputs``).
    """
    mods = list(modalities or inputs)
    base = np.asarray(predict(dict(inputs)), dtype=float).reshape(-1)
    out = np.zeros((base.size, len(mods)))
    for j, m in enumerate(mods):
        x = dict(inputs)
        x[m] = np.zeros_like(inputs[m])
        out[:, j] = np.abs(base - np.asarray(predict(x), dtype=float).reshape(-1))
    return out


# ----------------------------------------------------------------------------- features
def course_feature_set(root=None):
    """The capstone's feature set of the bundled data (lesson 10), a :class:`course_utils.data.FeatureSet`.

    ``text``: all-MiniLM-L6-v2 sentence embeddings ``(N, 384)`` (lesson 04); ``audio``: MFCC statistics
    ``(N, 80)`` (lesson 06); ``vision``: the FER network's features ``(N, 128)`` (lesson 05) — the set of lesson
    09; with ``label_binary``, ``label_score``, ``split`` and ``speaker``. Every block is cached.
    """
    from .data import audio_features, load_records
    from .data.byo import FeatureSet
    from .features import image as IM, text as TX

    recs = load_records(root=root)
    _, X_audio = audio_features(root=root)
    return FeatureSet(
        features={"text": TX.sentence_embeddings([r["text"] for r in recs]), "audio": X_audio.astype(np.float32),
                  "vision": IM.dataset_fer_features(root=root)["X"].astype(np.float32)},
        label_binary=np.array([r["label_binary"] for r in recs], dtype=np.int64),
        split=np.array([r["split"] for r in recs]), ids=np.array([r["id"] for r in recs]),
        label_score=np.array([r["score"] for r in recs], np.float32), speaker=np.array([r["speaker"] for r in recs]),
        source="capstone (lesson 10): MiniLM sentence embeddings + MFCC statistics + FER features")


# ----------------------------------------------------------------------------- selection, final system
@dataclass
class CapstoneResult:
    """What :func:`run_capstone` returns (lesson 10).

    ``selection``: one dict per trained model (``key`` — its name in ``outputs`` / ``models`` —, ``model``,
    ``modalities``, ``config``, ``val_loss``, ``val_acc2``, ``epochs``, ``seconds``, ``role``: baseline, candidate
    or final); ``chosen``: the selected system's entry; ``protocol``: ``{"model",
    "config", "epochs", "unimodal_epochs", "model_kwargs"}`` — pass it to another file's run to reuse the choice;
    ``report``: ``{system: evaluate(...)}`` on test (the final system, the unimodal baselines, the trivial
    baselines, seed 004 when trained); ``outputs``: ``{system: {"valid", "test"} -> (N, 2) raw outputs}``
    (column 0 the class logit — for seed 004 the difference of its two logits —, column 1 the score);
    ``models``: the trained models by system name;
    ``prepared``: the :class:`~course_utils.fusion.benchmark.Prepared` arrays; ``seconds``: wall time.
    """

    prepared: Any
    selection: list[dict]
    chosen: dict
    protocol: dict
    report: dict[str, dict]
    outputs: dict[str, dict[str, np.ndarray]]
    models: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    final_name: str = ""

    def table(self, intervals: bool = True) -> str:
        """The test report as a markdown table (:func:`format_report`)."""
        return format_report(self.report, intervals=intervals)


def _config_name(config: Mapping) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()) or "default"


def _grid(grid: Mapping[str, Sequence] | None) -> list[dict]:
    import itertools

    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(list(grid[k]) for k in keys))]


def _decisions(p, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score_pred, label_pred) from a (N, 2) output: the score head and the logit's sign."""
    return out[:, 1].astype(float), (out[:, 0] > 0).astype(np.int64)


def run_capstone(data=None, *, candidates: Sequence[str] = CANDIDATES, grid: Mapping[str, Sequence] | None = None,
                 protocol: Mapping | None = None, unimodal: bool = True, epochs: int = 60, patience: int = 8,
                 batch_size: int = 32, seed: int = 0, n_boot: int = 1000, threads: int | None = 1,
                 ci_fn: Callable = bootstrap_ci, seed004: Sequence[str] = (), seed004_epochs: int = 25,
                 verbose: bool = False) -> CapstoneResult:
    """Select the final system on *valid*, then evaluate it once on *test* (lesson 10).

    ``data``: a ``course-features-v1`` path, a :class:`~course_utils.data.FeatureSet` or ``None`` (the bundled
    set's baseline features; the lesson passes :func:`course_feature_set`). It needs ``label_score``.

    Without ``protocol``: each candidate (fusion short names, :data:`CANDIDATES`) is trained with every
    combination of ``grid`` (default :data:`GRID`; keys ``lr`` or model arguments such as ``dropout``) using
    early stopping on the validation loss (the benchmark's loss: BCE on the class + L1 on the score, at most
    ``epochs``, ``patience``), and the (candidate, configuration) with the lowest validation loss is the final
    system. With ``unimodal`` one model per modality (default configuration) is trained the same way as a
    baseline. With ``protocol`` (a previous result's ``.protocol``): nothing is selected; the protocol's model
    and configuration train for its fixed number of epochs (the way to run on a file whose valid split leaks).

    The test split is evaluated once, for the final system, the unimodal baselines and the two trivial
    baselines (:func:`baseline_predictions`), with :func:`evaluate` (intervals over the file's ``speaker``
    groups, ``n_boot`` replicates). ``seed004``: frameworks (``"torch"``, ``"keras"``) in which to also train
    seed system 004 (:func:`train_seed004_torch`, early stopping on valid, at most ``seed004_epochs``; Keras for
    the epochs PyTorch chose, or with its own early stopping when trained alone); it needs the bundled data
    set's raw inputs, so ``data`` must be the bundled set (its rows in the order of
    :func:`course_utils.data.load_records`). Raises :class:`CapstoneError` without scores or when seed 004 is
    asked for on another file, :class:`course_utils.fusion.benchmark.BenchmarkError` for a bad file.
    """
    import torch

    from .fusion.benchmark import MODEL_KWARGS, _train_one, prepare

    t0 = time.perf_counter()
    if threads:
        torch.set_num_threads(int(threads))
    p = prepare(data)
    if p.task != "binary" or p.score is None:
        raise CapstoneError("the capstone needs binary labels and sentiment scores",
                            expected="label_binary and label_score in the file", found=f"task {p.task}, "
                            f"scores {'present' if p.score is not None else 'absent'}",
                            fix="save_features(..., label_binary=..., label_score=...)")
    mods = p.modalities
    selection, outputs, models = [], {}, {}

    def train(short, use, config, fixed):
        start = time.perf_counter()
        model, outs, n_ep = _train_one(p, short, use, seed, epochs=epochs, patience=patience, fixed_epochs=fixed,
                                       lr=config.get("lr", 1e-3), batch_size=batch_size,
                                       overrides={k: v for k, v in config.items() if k != "lr"})
        val_score, val_label = _decisions(p, outs["valid"])
        entry = {"model": short, "modalities": "+".join(use), "config": dict(config),
                 "val_loss": model.selection_loss, "val_acc2": accuracy((p.score["valid"] >= 0).astype(int), val_label),
                 "epochs": int(n_ep), "seconds": time.perf_counter() - start}
        if verbose:
            print(f"  {short:8s} {entry['modalities']:20s} {_config_name(config):24s} epochs {n_ep:3d} "
                  f"val loss {entry['val_loss'] if entry['val_loss'] is not None else float('nan'):.3f}")
        return model, outs, entry

    uni_epochs = dict(protocol.get("unimodal_epochs", {})) if protocol else {}
    if unimodal:
        for m in mods:
            fixed = uni_epochs.get(m, protocol.get("epochs")) if protocol else None
            model, outs, entry = train("unimodal", (m,), {}, fixed)
            entry["role"] = "baseline"
            selection.append(entry)
            name = entry["key"] = f"unimodal {m}"
            outputs[name], models[name] = outs, model
            uni_epochs[m] = entry["epochs"]
    if protocol:
        configs = [(protocol["model"], dict(protocol.get("config", {})), int(protocol["epochs"]))]
    else:
        configs = [(c, cfg, None) for c in candidates for cfg in _grid(GRID if grid is None else grid)]
    best = None
    for short, cfg, fixed in configs:
        model, outs, entry = train(short, mods, cfg, fixed)
        entry["role"] = "candidate"
        selection.append(entry)
        key = entry["key"] = f"{short} ({_config_name(cfg)})"
        outputs[key], models[key] = outs, model
        loss = entry["val_loss"] if entry["val_loss"] is not None else 0.0
        if best is None or loss < best[0]:
            best = (loss, key, entry)
    _, final_key, chosen = best
    chosen["role"] = "final"
    kw = {**MODEL_KWARGS[chosen["model"]], **{k: v for k, v in chosen["config"].items() if k != "lr"}}
    proto = {"model": chosen["model"], "config": dict(chosen["config"]), "epochs": chosen["epochs"],
             "unimodal_epochs": uni_epochs, "model_kwargs": kw}

    groups = None if p.groups is None else p.groups["test"]
    s_true = p.score["test"].astype(float)
    report: dict[str, dict] = {}
    final_name = f"final: {final_key}"
    sc, lab = _decisions(p, outputs[final_key]["test"])
    report[final_name] = evaluate(s_true, sc, lab, groups, n_boot=n_boot, seed=seed, ci_fn=ci_fn)
    for m in (mods if unimodal else ()):
        sc, lab = _decisions(p, outputs[f"unimodal {m}"]["test"])
        report[f"unimodal {m}"] = evaluate(s_true, sc, lab, groups, n_boot=n_boot, seed=seed, ci_fn=ci_fn)
    train_scores = p.score["train"][np.isfinite(p.score["train"])]
    for name, (sc, lab) in baseline_predictions(train_scores, s_true.size).items():
        report[name] = evaluate(s_true, sc, lab, groups, n_boot=n_boot, seed=seed, ci_fn=ci_fn)
    outputs[final_name] = outputs[final_key]
    models[final_name] = models[final_key]
    if seed004:
        _run_seed004(data, p, tuple(seed004), report, outputs, models, selection, epochs=seed004_epochs, seed=seed,
                     n_boot=n_boot, ci_fn=ci_fn)
    return CapstoneResult(prepared=p, selection=selection, chosen=chosen, protocol=proto, report=report,
                          outputs=outputs, models=models, seconds=time.perf_counter() - t0, final_name=final_name)


def _run_seed004(data, p, frameworks, report, outputs, models, selection, *, epochs, seed, n_boot, ci_fn) -> None:
    from .data import load_records
    from .fusion.benchmark import _load

    unknown = [f for f in frameworks if f not in ("torch", "keras")]
    if unknown:
        raise CapstoneError(f"unknown framework {unknown}", expected="'torch' and/or 'keras'", found=str(unknown),
                            fix="seed004=('torch', 'keras')")
    fs = _load(data)
    recs = load_records()
    if len(fs) != len(recs) or list(fs.ids) != [r["id"] for r in recs]:
        raise CapstoneError("seed system 004 needs the bundled data set's raw text, faces and audio",
                            expected="data = the bundled set (course_feature_set() or None)",
                            found=f"a file with {len(fs)} rows ({fs.source[:60]!r})", fix="drop seed004 for this file")
    inputs = seed004_inputs()
    groups = None if p.groups is None else p.groups["test"]
    torch_epochs = None
    for fw in frameworks:
        if fw == "torch":
            model, outs, info = train_seed004_torch(inputs, epochs=epochs, patience=3, seed=seed)
            torch_epochs = info["epochs"]
        else:
            fixed = torch_epochs if torch_epochs is not None else None
            model, outs, info = train_seed004_keras(inputs, epochs=fixed or epochs, patience=None if fixed else 3,
                                                    seed=seed)
        name = f"seed 004 ({'PyTorch' if fw == 'torch' else 'Keras'})"
        report[name] = evaluate(inputs["score"]["test"], outs["test"]["score"], outs["test"]["logits"].argmax(1),
                                groups, n_boot=n_boot, seed=seed, ci_fn=ci_fn)
        outputs[name] = {s: np.stack([o["logits"][:, 1] - o["logits"][:, 0], o["score"]], axis=1)
                         for s, o in outs.items()}
        models[name] = model
        selection.append({"key": name, "model": "seed004", "modalities": "text+face+audio", "config": {},
                          "val_loss": info["val_loss"], "val_acc2": accuracy(
                              (inputs["score"]["valid"] >= 0).astype(int), outs["valid"]["logits"].argmax(1)),
                          "epochs": info["epochs"], "seconds": info["seconds"], "role": "seed 004"})


def train_fixed(p, short: str, modalities: Sequence[str], config: Mapping, epochs: int, *, seed: int = 0,
                batch_size: int = 32) -> tuple[Any, dict[str, np.ndarray]]:
    """Train one package model (PyTorch) for a fixed number of epochs; nothing looks at *valid* (lesson 10).

    ``p``: a :class:`~course_utils.fusion.benchmark.Prepared`; ``short``: a short model name (``"gated"``);
    ``modalities``: the ones to use (a subset of ``p.modalities``, e.g. for an ablation); ``config``: ``lr`` and
    model arguments (a protocol's ``config``). The benchmark's sizes and loss (BCE + L1 on the score). Returns
    ``(model, {"valid", "test"} -> (N, 2) outputs)``.
    """
    from .fusion.benchmark import _train_one

    model, outs, _ = _train_one(p, short, tuple(modalities), seed, epochs=int(epochs), patience=0,
                                fixed_epochs=int(epochs), lr=config.get("lr", 1e-3), batch_size=batch_size,
                                overrides={k: v for k, v in config.items() if k != "lr"})
    return model, outs


def train_keras_twin(p, short: str, model_kwargs: Mapping, epochs: int, *, lr: float = 1e-3, batch_size: int = 32,
                     seed: int = 0, modalities: Sequence[str] | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """Train the Keras twin of a package fusion model with the benchmark's loss for ``epochs`` (lesson 10).

    ``p``: a :class:`~course_utils.fusion.benchmark.Prepared` with scores; ``short``: a short model name
    (``"gated"``); ``model_kwargs``: its arguments (``hidden``, ``dropout``...). Loss: BCE with logits on
    output 0 + L1 on output 1 (as the PyTorch run). Returns ``(model, {"valid", "test"} -> (N, 2) outputs)``.
    """
    import keras
    from keras import ops

    from .models import keras as MK

    mods = tuple(modalities or p.modalities)
    keras.utils.set_random_seed(seed)
    model = MK.build(short, {m: p.dims[m] for m in mods}, n_outputs=2, **dict(model_kwargs))

    def loss(y, out):
        bce = ops.mean(ops.binary_crossentropy(y[:, 0], out[:, 0], from_logits=True))
        return bce + ops.mean(ops.abs(y[:, 1] - out[:, 1]))

    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, jit_compile=False)
    y = np.stack([p.y["train"].astype("float32"), p.score["train"].astype("float32")], axis=1)
    model.fit({m: p.x["train"][m] for m in mods}, y, epochs=int(epochs), batch_size=batch_size, verbose=0,
              shuffle=True)
    outs = {s: np.asarray(model.predict({m: p.x[s][m] for m in mods}, verbose=0, batch_size=256))
            for s in ("valid", "test")}
    return model, outs


# ----------------------------------------------------------------------------- seed system 004
SEED004_FRAMES = 48       # log-mel frames of 160 ms kept per utterance (7.7 s; longer clips are cut)
SEED004_FACE = 48         # face side in pixels (grey)


def seed004_inputs(root=None, *, max_frames: int = SEED004_FRAMES) -> dict[str, Any]:
    """Inputs of seed system 004 for the bundled data set (lesson 10).

    Returns ``{"x": {split: {"text" (n, 384), "face" (n, 48, 48, 1), "audio" (n, T, 40)}}, "y": {split: (n,)
    int64}, "score": {split: (n,) float32}, "groups": {split: (n,) speaker ids}, "lengths": {split: (n,)}}``,
    all float32: the MiniLM sentence embedding, the grey face resized to 48x48 (box filter, lesson 03's cached
    pixels), and log-mel frames (40 bands, 10 ms hop averaged over 160 ms; lesson 07's cached 80 ms frames
    averaged in pairs), right-padded with zeros to ``T = max_frames`` (longer clips cut). Each block is
    standardised with the training rows' statistics (per feature for text and audio bands, one mean / std for
    the face pixels); audio padding stays exactly zero (the models' mask).
    """
    from .data import image_features, load_records
    from .features import audio as A, text as TX

    recs = load_records(root=root)
    split = np.array([r["split"] for r in recs])
    train = split == "train"
    text = TX.sentence_embeddings([r["text"] for r in recs]).astype(np.float64)
    text = (text - text[train].mean(0)) / (text[train].std(0) + 1e-8)
    _, faces = image_features(size=SEED004_FACE, gray=True, root=root)
    faces = faces.reshape(-1, SEED004_FACE, SEED004_FACE, 1).astype(np.float64)
    faces = (faces - faces[train].mean()) / faces[train].std()

    def frames_80ms(wave):
        L = A.log_mel(wave)
        n = L.shape[1] // 8 * 8
        return L[:, :n].reshape(40, -1, 8).mean(2).T

    seqs = A.dataset_sequences("logmel-80ms", frames_80ms, recs, {"n_mels": 40, "pool": 8})
    seqs = [s[: s.shape[0] // 2 * 2].reshape(-1, 2, s.shape[1]).mean(1)[:max_frames] for s in seqs]
    stack = np.concatenate([s for s, t in zip(seqs, train) if t])
    mu, sd = stack.mean(0), stack.std(0) + 1e-8
    lengths = np.array([s.shape[0] for s in seqs])
    audio = np.zeros((len(seqs), max_frames, 40), np.float32)
    for i, s in enumerate(seqs):
        audio[i, : s.shape[0]] = (s - mu) / sd
    out: dict[str, Any] = {"x": {}, "y": {}, "score": {}, "groups": {}, "lengths": {}}
    for s in ("train", "valid", "test"):
        m = split == s
        out["x"][s] = {"text": text[m].astype(np.float32), "face": faces[m].astype(np.float32), "audio": audio[m]}
        out["y"][s] = np.array([r["label_binary"] for r in recs], dtype=np.int64)[m]
        out["score"][s] = np.array([r["score"] for r in recs], dtype=np.float32)[m]
        out["groups"][s] = np.array([r["speaker"] for r in recs])[m]
        out["lengths"][s] = lengths[m]
    return out


def seed004_torch(text_dim: int = 384, n_mels: int = 40, hidden: int = 32, channels: Sequence[int] = (8, 16, 32),
                  n_classes: int = 2, dropout: float = 0.2):
    """Seed system 004 in PyTorch: text / face / audio branches, fused, with a class head and a score head (lesson 10).

    Called on ``{"text" (B, text_dim), "face" (B, 48, 48, 1) channels-last, "audio" (B, T, n_mels) right-padded
    with all-zero frames}``; returns ``{"logits" (B, n_classes), "score" (B,)}``. Branches: text ``Linear +
    ReLU`` to ``hidden``; face: for each width in ``channels`` a 3x3 convolution (same padding) + ReLU + 2x2 max
    pooling, then **global average pooling** (a vector per face, whatever its size) and ``Linear + ReLU`` to
    ``hidden``; audio: a GRU with ``hidden`` units over the valid frames only (packed sequence; the last valid
    step's state). The three vectors are concatenated, ``Linear(3 hidden, hidden) + ReLU + Dropout``, then the
    two heads. Same layers, names and arguments as :func:`seed004_keras`.
    """
    import torch
    from torch import nn

    class Seed004(nn.Module):
        def __init__(self):
            super().__init__()
            self.text = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU())
            convs, c_in = [], 1
            for c in channels:
                convs += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                c_in = c
            self.face_cnn = nn.Sequential(*convs)
            self.face = nn.Sequential(nn.Linear(c_in, hidden), nn.ReLU())
            self.audio = nn.GRU(n_mels, hidden, batch_first=True)
            self.fuse = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
            self.logits = nn.Linear(hidden, n_classes)
            self.score = nn.Linear(hidden, 1)

        def branches(self, inputs: Mapping[str, Any]) -> list:
            face = torch.as_tensor(inputs["face"]).permute(0, 3, 1, 2)          # NHWC -> NCHW
            h_face = self.face(self.face_cnn(face).mean(dim=(2, 3)))            # global average pooling
            audio = torch.as_tensor(inputs["audio"])
            lengths = (audio != 0).any(dim=-1).sum(dim=1).clamp(min=1)
            packed = nn.utils.rnn.pack_padded_sequence(audio, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, h_n = self.audio(packed)
            return [self.text(torch.as_tensor(inputs["text"])), h_face, h_n[0]]

        def forward(self, inputs: Mapping[str, Any]) -> dict:
            h = self.fuse(torch.cat(self.branches(inputs), dim=1))
            return {"logits": self.logits(h), "score": self.score(h)[:, 0]}

    return Seed004()


def seed004_keras(text_dim: int = 384, n_mels: int = 40, hidden: int = 32, channels: Sequence[int] = (8, 16, 32),
                  n_classes: int = 2, dropout: float = 0.2, max_frames: int = SEED004_FRAMES):
    """Seed system 004 in Keras (functional API), the twin of :func:`seed004_torch` (lesson 10).

    Inputs ``{"text" (B, text_dim), "face" (B, 48, 48, 1), "audio" (B, max_frames, n_mels)}``; outputs
    ``{"logits" (B, n_classes), "score" (B, 1)}`` (Keras's ``Dense(1)`` keeps the last axis). The audio branch is
    ``Masking(0) -> GRU(hidden)``: the mask skips the all-zero padding frames, so the GRU returns the state after
    the last valid frame, as the packed sequence does in PyTorch.
    """
    import keras
    from keras import layers

    text = keras.Input((text_dim,), name="text")
    face = keras.Input((SEED004_FACE, SEED004_FACE, 1), name="face")
    audio = keras.Input((max_frames, n_mels), name="audio")
    h_text = layers.Dense(hidden, activation="relu", name="text_dense")(text)
    x = face
    for i, c in enumerate(channels):
        x = layers.Conv2D(c, 3, padding="same", activation="relu", name=f"face_conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"face_pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="face_gap")(x)          # (B, channels[-1]): a vector, not a 4-D map
    h_face = layers.Dense(hidden, activation="relu", name="face_dense")(x)
    h_audio = layers.GRU(hidden, name="audio_gru")(layers.Masking(0.0, name="audio_mask")(audio))
    h = layers.Concatenate(name="fuse_concat")([h_text, h_face, h_audio])
    h = layers.Dropout(dropout, name="fuse_dropout")(layers.Dense(hidden, activation="relu", name="fuse_dense")(h))
    return keras.Model({"text": text, "face": face, "audio": audio},
                       {"logits": layers.Dense(n_classes, name="logits")(h),
                        "score": layers.Dense(1, name="score")(h)}, name="seed004")


def multitask_loss(logits, score_pred, y, score_true, alpha1: float = 1.0, alpha2: float = 0.5):
    """Seed 004's loss in PyTorch: ``alpha1 * CE(logits, y) + alpha2 * MSE(score_pred, score_true)`` (lesson 10).

    ``logits``: ``(B, K)``; ``y``: ``(B,)`` class indices; ``score_pred``: ``(B,)`` or ``(B, 1)``;
    ``score_true``: ``(B,)``. Both terms are batch means. A scalar tensor.
    """
    import torch
    import torch.nn.functional as F

    ce = F.cross_entropy(logits, torch.as_tensor(y).long())
    mse = F.mse_loss(score_pred.reshape(-1), torch.as_tensor(score_true, dtype=score_pred.dtype).reshape(-1))
    return alpha1 * ce + alpha2 * mse


def _slice_inputs(x: Mapping[str, np.ndarray], idx) -> dict:
    import torch

    return {k: torch.as_tensor(v[idx]) for k, v in x.items()}


def train_seed004_torch(inputs: Mapping, *, epochs: int = 30, patience: int = 5, lr: float = 2e-3, batch: int = 64,
                        alpha1: float = 1.0, alpha2: float = 0.5, seed: int = 0, loss_fn: Callable | None = None,
                        **model_kwargs) -> tuple[Any, dict[str, dict[str, np.ndarray]], dict]:
    """Train :func:`seed004_torch` on :func:`seed004_inputs` with Adam and early stopping on valid (lesson 10).

    ``loss_fn(logits, score_pred, y, score_true, alpha1, alpha2)``: default :func:`multitask_loss` (the lesson
    passes the learner's). Keeps the weights of the epoch with the lowest validation loss. Returns ``(model,
    {"valid", "test"} -> {"logits" (n, K), "score" (n,)}, info)`` with ``info = {"epochs", "val_loss",
    "seconds"}``.
    """
    import copy

    import torch

    loss_fn = loss_fn or multitask_loss
    torch.manual_seed(seed)
    model = seed004_torch(**model_kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xtr, n = inputs["x"]["train"], len(inputs["y"]["train"])
    ytr, s_tr = torch.as_tensor(inputs["y"]["train"]), torch.as_tensor(inputs["score"]["train"])
    xva = _slice_inputs(inputs["x"]["valid"], slice(None))
    yva, s_va = torch.as_tensor(inputs["y"]["valid"]), torch.as_tensor(inputs["score"]["valid"])
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, wait, t0 = float("inf"), None, 0, 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(n, generator=gen).split(batch):
            out = model(_slice_inputs(xtr, idx.numpy()))
            loss = loss_fn(out["logits"], out["score"], ytr[idx], s_tr[idx], alpha1, alpha2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(xva)
            val = float(multitask_loss(out["logits"], out["score"], yva, s_va, alpha1, alpha2))
        if val < best - 1e-6:
            best, best_state, best_epoch, wait = val, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            wait += 1
            if wait >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    outs = {}
    with torch.no_grad():
        for s in ("valid", "test"):
            o = model(_slice_inputs(inputs["x"][s], slice(None)))
            outs[s] = {"logits": o["logits"].numpy(), "score": o["score"].numpy()}
    return model, outs, {"epochs": best_epoch, "val_loss": best, "seconds": time.perf_counter() - t0}


def train_seed004_keras(inputs: Mapping, *, epochs: int = 30, patience: int | None = 5, lr: float = 2e-3,
                        batch: int = 64, alpha1: float = 1.0, alpha2: float = 0.5, seed: int = 0,
                        **model_kwargs) -> tuple[Any, dict[str, dict[str, np.ndarray]], dict]:
    """Train :func:`seed004_keras` with ``loss_weights`` ``alpha1``/``alpha2`` (lesson 10).

    Sparse categorical cross-entropy on ``"logits"`` (from logits), MSE on ``"score"``. With ``patience``:
    ``EarlyStopping(monitor="val_loss", restore_best_weights=True)``; with ``patience=None``: exactly ``epochs``
    epochs and no look at *valid* (e.g. the epochs early stopping chose in PyTorch; ``info["val_loss"]`` is then
    the validation loss after training). Returns what :func:`train_seed004_torch` returns (scores as ``(n,)``).
    """
    import keras

    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model = seed004_keras(max_frames=inputs["x"]["train"]["audio"].shape[1], **model_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=False,
                  loss={"logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "score": keras.losses.MeanSquaredError()},
                  loss_weights={"logits": alpha1, "score": alpha2})

    def targets(s):
        return {"logits": inputs["y"][s], "score": inputs["score"][s][:, None]}

    if patience is None:
        model.fit(dict(inputs["x"]["train"]), targets("train"), epochs=epochs, batch_size=batch, verbose=0,
                  shuffle=True)
    else:
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        hist = model.fit(dict(inputs["x"]["train"]), targets("train"), validation_data=(
            dict(inputs["x"]["valid"]), targets("valid")), epochs=epochs, batch_size=batch, verbose=0, shuffle=True,
            callbacks=[stop])
    outs = {}
    for s in ("valid", "test"):
        o = model.predict(dict(inputs["x"][s]), verbose=0, batch_size=256)
        outs[s] = {"logits": np.asarray(o["logits"]), "score": np.asarray(o["score"])[:, 0]}
    if patience is None:
        import torch

        val = float(multitask_loss(torch.as_tensor(outs["valid"]["logits"]), torch.as_tensor(outs["valid"]["score"]),
                                   torch.as_tensor(inputs["y"]["valid"]), torch.as_tensor(inputs["score"]["valid"]),
                                   alpha1, alpha2))
        return model, outs, {"epochs": int(epochs), "val_loss": val, "seconds": time.perf_counter() - t0}
    val = hist.history["val_loss"]
    return model, outs, {"epochs": int(np.argmin(val)) + 1, "val_loss": float(np.min(val)),
                         "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- model card
def model_card(name: str, *, data: str, selection: str, report: Mapping[str, tuple[float, float, float]],
               slices: Sequence[Mapping] | None = None, ece: float | None = None, notes: Sequence[str] = ()) -> str:
    """A short model card (Mitchell et al. 2019) as markdown, filled from measured numbers (lesson 10).

    ``report``: one :func:`evaluate` result; ``slices``: :func:`slice_table` rows (the largest gap between
    two slices with at least 5 items is reported); ``ece``: the calibration error; ``notes``: intended use,
    limits, consent.
    """
    def pct(v):
        return f"{100 * v[0]:.1f} % [{100 * v[1]:.1f}, {100 * v[2]:.1f}]"

    lines = [f"### Model card: {name}", "", f"* **Data**: {data}", f"* **Selection**: {selection}",
             f"* **Test**: Acc-2 {pct(report['acc2'])}, Acc-2 non0 {pct(report['acc2_non0'])}, weighted F1 "
             f"{pct(report['f1_weighted'])}, Acc-7 {pct(report['acc7'])}, MAE {report['mae'][0]:.3f}, "
             f"Corr {report['corr'][0]:.3f} (95 % bootstrap intervals over speakers)"]
    if ece is not None:
        lines.append(f"* **Calibration**: ECE {ece:.3f} (10 bins, test)")
    if slices:
        big = [s for s in slices if s["n"] >= 5 and s["slice"] != "all"]
        if big:
            lo, hi = min(big, key=lambda s: s["acc"]), max(big, key=lambda s: s["acc"])
            lines.append(f"* **Weakest slice**: {lo['slice']} {100 * lo['acc']:.0f} % (n = {lo['n']}); strongest: "
                         f"{hi['slice']} {100 * hi['acc']:.0f} % (n = {hi['n']})")
    lines += [f"* {n}" for n in notes]
    return "\n".join(lines)
