"""Bring your own features: a documented ``.npz`` format and its loader (lesson 04).

The course's fusion models take pre-extracted per-modality features. This
format lets them run on a real corpus (e.g. CMU-MOSI) as well as on the bundled
set. One ``.npz`` file, readable with ``np.load(path)`` (no pickle):

====================  ===============  =============================================
key                   shape / dtype    meaning
====================  ===============  =============================================
``format``            () str           ``"course-features-v1"``
``modalities``        (M,) str         modality names, e.g. ``["text", "audio", "vision"]``
``x_<modality>``      (N, d) or        features of each utterance; float32. 3-D arrays
                      (N, T, d) float  are sequences (right-padded with zeros)
``len_<modality>``    (N,) int         optional, for 3-D features: valid steps per row
``label_binary``      (N,) int         1 = positive / non-negative, 0 = negative
``label_class``       (N,) int         optional K-class label 0..K-1 (e.g. emotions); a file
                                       needs ``label_binary`` or ``label_class`` (or both)
``class_names``       (K,) str         optional names of the K classes of ``label_class``
``label_score``       (N,) float32     optional continuous score (NaN where unknown)
``split``             (N,) str         ``train`` / ``valid`` / ``test``
``id``                (N,) str         unique utterance ids
``speaker``           (N,) str         optional speaker / video ids (group splits)
``source``            () str           optional free text: where the features come from
====================  ===============  =============================================

``label_7`` is derived as ``round(clip(label_score, -3, 3))`` when scores are
present. With ``label_class`` the task is K-class classification (``python -m
course_utils.fusion benchmark`` trains K outputs and reports accuracy and
macro-F1); without it, binary (``label_binary``, plus the score metrics when
``label_score`` exists). :func:`save_features` writes the format (validating it),
:func:`load_features` reads and validates it into a :class:`FeatureSet`.
:func:`convert_mosi_bclstm` converts the CMU-MOSI bc-LSTM utterance features of
``../shared/realdata/mosi`` (never copy those into the repository);
:func:`bundled_feature_set` gives the bundled data set's baseline features in
the same shape, so the same fusion code runs on both.
"""
from __future__ import annotations

import io

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..config import CourseError
from ..paths import DataNotFoundError

FORMAT = "course-features-v1"
SPLITS = ("train", "valid", "test")
_FORMAT_HELP = ("see the table in `help(course_utils.data.byo)`, and write the file with "
                "`course_utils.data.save_features(path, {'text': X_text, ...}, label_binary=..., split=..., ids=...)`, "
                "which validates it first")


class FeatureFormatError(CourseError, ValueError):
    """A features ``.npz`` file does not follow the course's format (lesson 04)."""


@dataclass
class FeatureSet:
    """Per-modality features with labels, splits and ids (lesson 04)."""

    features: dict[str, np.ndarray]
    label_binary: np.ndarray | None
    split: np.ndarray
    ids: np.ndarray
    label_score: np.ndarray | None = None
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    speaker: np.ndarray | None = None
    source: str = ""
    label_class: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_classes(self) -> int:
        """K for a K-class set (``label_class``), else 2."""
        if self.label_class is None:
            return 2
        return len(self.class_names) if self.class_names else int(self.label_class.max()) + 1

    @property
    def modalities(self) -> tuple[str, ...]:
        """Names of the feature blocks, in file order."""
        return tuple(self.features)

    @property
    def dims(self) -> dict[str, int]:
        """Feature width (last axis) per modality."""
        return {m: int(x.shape[-1]) for m, x in self.features.items()}

    @property
    def label_7(self) -> np.ndarray | None:
        """``round(clip(score, -3, 3))`` as int64 (-3..3), or None without scores."""
        if self.label_score is None:
            return None
        return np.round(np.clip(np.nan_to_num(self.label_score), -3, 3)).astype(np.int64)

    def subset(self, split: str) -> "FeatureSet":
        """The rows of one split, as a new :class:`FeatureSet` (lesson 04)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}; use one of {SPLITS}")
        m = self.split == split
        return FeatureSet(
            features={k: v[m] for k, v in self.features.items()},
            label_binary=None if self.label_binary is None else self.label_binary[m],
            split=self.split[m], ids=self.ids[m],
            label_score=None if self.label_score is None else self.label_score[m],
            lengths={k: v[m] for k, v in self.lengths.items()},
            speaker=None if self.speaker is None else self.speaker[m], source=self.source,
            label_class=None if self.label_class is None else self.label_class[m], class_names=self.class_names,
        )

    def arrays(self, split: str, modalities: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``({modality: X}, y)`` for one split (lesson 04).

        ``y`` is ``label_class`` when the set has it, else ``label_binary``.
        """
        sub = self.subset(split)
        names = modalities or self.modalities
        missing = set(names) - set(self.modalities)
        if missing:
            raise KeyError(f"no modality {sorted(missing)}; this set has {self.modalities}")
        return {m: sub.features[m] for m in names}, (sub.label_binary if sub.label_class is None else sub.label_class)


def _validate(fs: FeatureSet) -> None:
    n = fs.ids.shape[0] if fs.ids.ndim == 1 else -1
    problems = []
    if n < 0:
        problems.append("id must be 1-D")
    if fs.label_binary is None and fs.label_class is None:
        problems.append("no labels: give label_binary (0/1) or label_class (0..K-1)")
    if fs.label_binary is not None and fs.label_binary.shape != (n,):
        problems.append(f"label_binary has shape {fs.label_binary.shape}; expected ({n},)")
    if fs.label_class is not None:
        lc = fs.label_class
        if lc.shape != (n,) or lc.dtype.kind not in "iu":
            problems.append(f"label_class must be ({n},) integers, found {lc.shape} {lc.dtype}")
        elif n and (lc.min() < 0 or (fs.class_names is not None and lc.max() >= len(fs.class_names))):
            k = "len(class_names)" if fs.class_names is not None else "K"
            problems.append(f"label_class values must be in 0..{k}-1, found {int(lc.min())}..{int(lc.max())}")
    if not fs.features:
        problems.append("no feature block (x_<modality>)")
    for m, x in fs.features.items():
        if x.ndim not in (2, 3) or x.shape[0] != n:
            problems.append(f"x_{m} has shape {x.shape}; expected (N, d) or (N, T, d) with N={n}")
        elif not np.issubdtype(x.dtype, np.floating):
            problems.append(f"x_{m} has dtype {x.dtype}; expected floats")
        elif not np.isfinite(x).all():
            problems.append(f"x_{m} contains NaN or inf")
    for m, lens in fs.lengths.items():
        if m not in fs.features or fs.features[m].ndim != 3 or lens.shape != (n,):
            problems.append(f"len_{m} must be (N,) and belong to a 3-D x_{m}")
    if fs.label_binary is not None and fs.label_binary.shape == (n,) and not set(
            np.unique(fs.label_binary).tolist()) <= {0, 1}:
        problems.append("label_binary must hold only 0 and 1")
    for name, arr in (("split", fs.split),):
        if arr.shape != (n,):
            problems.append(f"{name} has shape {arr.shape}; expected ({n},)")
    if fs.split.shape == (n,) and not set(np.unique(fs.split).tolist()) <= set(SPLITS):
        problems.append(f"split values must be in {SPLITS}, found {sorted(set(fs.split.tolist()))}")
    if fs.ids.shape == (n,) and len(set(fs.ids.tolist())) != n:
        problems.append("id values must be unique")
    if fs.label_score is not None and fs.label_score.shape != (n,):
        problems.append("label_score must be (N,)")
    if fs.speaker is not None and fs.speaker.shape != (n,):
        problems.append("speaker must be (N,)")
    if problems:
        raise FeatureFormatError(
            "features do not follow the course-features-v1 format: " + "; ".join(problems),
            expected=f"{FORMAT}: x_<modality> float arrays (N, d) or (N, T, d) without NaN/inf, label_binary "
                     "(N,) of 0/1 and/or label_class (N,) of 0..K-1, split (N,) in train/valid/test, unique id (N,)",
            fix=_FORMAT_HELP,
        )


def save_features(path: str | os.PathLike[str], features: Mapping[str, np.ndarray], *, label_binary: Any = None,
                  split: Any, ids: Any, label_score: Any = None, lengths: Mapping[str, Any] | None = None,
                  speaker: Any = None, source: str = "", compress: bool = True, label_class: Any = None,
                  class_names: Sequence[str] | None = None) -> Path:
    """Validate and write a ``course-features-v1`` ``.npz`` file; returns its path (lesson 04).

    Give ``label_binary`` (0/1), or ``label_class`` (0..K-1, with optional
    ``class_names``) for a K-class task, or both.
    """
    fs = FeatureSet(
        features={m: np.asarray(x, dtype=np.float32) for m, x in features.items()},
        label_binary=None if label_binary is None else np.asarray(label_binary).astype(np.int8),
        split=np.asarray(split).astype(str),
        ids=np.asarray(ids).astype(str),
        label_score=None if label_score is None else np.asarray(label_score, dtype=np.float32),
        lengths={m: np.asarray(v, dtype=np.int32) for m, v in (lengths or {}).items()},
        speaker=None if speaker is None else np.asarray(speaker).astype(str), source=source,
        label_class=None if label_class is None else np.asarray(label_class).astype(np.int64),
        class_names=None if class_names is None else tuple(str(c) for c in class_names),
    )
    return write_feature_set(path, fs, compress=compress)


def write_feature_set(path: str | os.PathLike[str], fs: FeatureSet, *, compress: bool = True) -> Path:
    """Write a :class:`FeatureSet` in the ``course-features-v1`` format (lesson 04)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "modalities": np.array(list(fs.modalities)),
        "split": fs.split.astype(str), "id": fs.ids.astype(str), "source": np.array(fs.source),
    }
    if fs.label_binary is not None:
        arrays["label_binary"] = fs.label_binary.astype(np.int8)
    if fs.label_class is not None:
        arrays["label_class"] = fs.label_class.astype(np.int32)
    if fs.class_names is not None:
        arrays["class_names"] = np.array(list(fs.class_names))
    for m, x in fs.features.items():
        arrays[f"x_{m}"] = x.astype(np.float32)
    for m, v in fs.lengths.items():
        arrays[f"len_{m}"] = v.astype(np.int32)
    if fs.label_score is not None:
        arrays["label_score"] = fs.label_score.astype(np.float32)
    if fs.speaker is not None:
        arrays["speaker"] = fs.speaker.astype(str)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return path


def load_features(path: str | os.PathLike[str]) -> FeatureSet:
    """Read and validate a ``course-features-v1`` ``.npz`` file (lesson 04).

    Raises :class:`~course_utils.paths.DataNotFoundError` when there is no such
    file and :class:`FeatureFormatError` when it is not a readable ``.npz`` in
    this format (missing keys, wrong shapes or dtypes, NaN/inf, pickled objects);
    both say what was expected, what was found and how to fix it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"No features file at {path}.", expected=f"a {FORMAT} .npz file",
                                found="nothing at that path" if not path.exists() else "a folder",
                                fix="check the path (relative paths start from the notebook's folder); "
                                    + _FORMAT_HELP)

    def bad(found: str) -> FeatureFormatError:
        return FeatureFormatError(f"{path} is not a usable {FORMAT} file.", expected=f"a {FORMAT} .npz file",
                                  found=found, fix=_FORMAT_HELP)

    try:
        # From memory: np.load leaves its file open when a damaged archive makes it raise.
        z = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
    except Exception as exc:  # not a zip, truncated, a pickle, ...
        raise bad(f"np.load failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise bad(f"a single array ({type(z).__name__}) instead of an .npz archive")
    try:
        with z:
            keys = set(z.files)
            if "format" not in keys or str(z["format"]) != FORMAT:
                raise bad(f"key 'format' {'missing' if 'format' not in keys else repr(str(z['format']))}; "
                          f"keys: {sorted(keys)}")
            missing = {"modalities", "split", "id"} - keys
            if missing:
                raise bad(f"the keys {sorted(missing)} are missing")
            if not keys & {"label_binary", "label_class"}:
                raise bad("no labels: the keys ['label_binary'] are missing (0/1; a K-class file has 'label_class', "
                          "0..K-1, instead)")
            mods = [str(m) for m in np.atleast_1d(z["modalities"])]
            absent = [m for m in mods if f"x_{m}" not in keys]
            if absent:
                raise bad(f"modalities {absent} are listed without x_<modality> arrays")
            labels = {}
            for key in ("label_binary", "label_class"):
                if key not in keys:
                    labels[key] = None
                    continue
                lab = z[key]
                if lab.dtype.kind not in "iub" and not (
                        lab.dtype.kind == "f" and np.isfinite(lab).all() and np.all(lab == np.round(lab))):
                    raise bad(f"{key} has dtype {lab.dtype} with non-integer values; expected integers")
                labels[key] = lab.astype(np.int64)
            names = tuple(str(c) for c in np.atleast_1d(z["class_names"])) if "class_names" in keys else None
            return FeatureSet(
                features={m: z[f"x_{m}"] for m in mods}, label_binary=labels["label_binary"],
                label_class=labels["label_class"], class_names=names,
                split=z["split"].astype(str), ids=z["id"].astype(str),
                label_score=z["label_score"] if "label_score" in keys else None,
                lengths={m: z[f"len_{m}"] for m in mods if f"len_{m}" in keys},
                speaker=z["speaker"].astype(str) if "speaker" in keys else None,
                source=str(z["source"]) if "source" in keys else "",
            )
    except CourseError:
        raise
    except Exception as exc:  # object arrays (pickle refused), a damaged member, ...
        raise bad(f"reading it failed: {type(exc).__name__}: {exc}") from None


_MOSI_LEAK = ("LEAK: the text and video features were extracted by networks trained with labels on the whole "
              "bc-LSTM training split, so a validation split carved from training videos scores far above test "
              "(about 98 % Acc-2) and is useless for model selection: fix hyper-parameters in advance (or select "
              "them on another data set) and evaluate once on test.")


def convert_mosi_bclstm(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, split: str = "bclstm",
                        valid_fraction: float = 0.15, seed: int = 0) -> Path:
    """Convert ``mosi_bclstm_utterances.npz`` (CMU-MOSI, bc-LSTM features) to this format (lesson 04).

    ``split="bclstm"`` (recommended: the split the features were made for) has no
    validation part, so ``valid_fraction`` of the *training videos* (whole videos,
    so speakers stay disjoint) become ``valid``, chosen reproducibly from ``seed``.
    ``split="std"`` uses the standard CMU-SDK folds, whose test videos leak into the
    feature extractors' training data (see the source README). Write ``dst``
    outside the repository: the data must not be committed.

    **Leak**: the text and video extractors were trained with labels on the
    whole bc-LSTM training split, so ``valid`` (carved from training videos)
    scores about 98 % and cannot select models; the file's ``source`` says so
    and ``python -m course_utils.fusion benchmark`` warns when validation
    accuracy is implausibly far above test.
    """
    with np.load(src, allow_pickle=False) as z:
        ids, videos = z["id"].astype(str), z["video_id"].astype(str)
        if split == "bclstm":
            parts = z["split_bclstm"].astype(str).copy()
            train_videos = sorted(set(videos[parts == "train"].tolist()))
            rng = np.random.default_rng(seed)
            order = [train_videos[i] for i in rng.permutation(len(train_videos))]
            target = valid_fraction * int((parts == "train").sum())
            taken = 0
            for v in order:
                if taken >= target:
                    break
                rows = (videos == v) & (parts == "train")
                parts[rows] = "valid"
                taken += int(rows.sum())
            note = (f"CMU-MOSI bc-LSTM utterance features (Poria et al. 2017), split_bclstm; "
                    f"valid = {valid_fraction:g} of the training videos (seed {seed}). " + _MOSI_LEAK)
        elif split == "std":
            parts = z["split_std"].astype(str)
            note = ("CMU-MOSI bc-LSTM utterance features (Poria et al. 2017), CMU-SDK standard folds: optimistic, "
                    "24 of the 31 test videos were in the extractors' training data. " + _MOSI_LEAK)
        else:
            raise ValueError(f"split={split!r}; use 'bclstm' or 'std'")
        return save_features(
            dst, {"text": z["text"], "audio": z["audio"], "vision": z["vision"]},
            label_binary=z["label_binary"], label_score=z["label_score"], split=parts, ids=ids,
            speaker=videos, source=note,
        )


def bundled_feature_set(root: str | os.PathLike[str] | None = None) -> FeatureSet:
    """The bundled data set's baseline features as a :class:`FeatureSet` (lesson 04).

    ``text``: TF-IDF of 1-2-grams fitted on train (dense); ``audio``: MFCC
    statistics (80); ``vision``: 32x32 RGB pixels in [0, 1] (3072). Cached
    features are reused; needs scikit-learn for the TF-IDF.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .features import audio_features, image_features
    from .loaders import load_records

    recs = load_records(root=root)
    split = np.array([r["split"] for r in recs])
    texts = [r["text"] for r in recs]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([t for t, s in zip(texts, split) if s == "train"])
    _, audio = audio_features(root=root)
    _, vision = image_features(size=32, gray=False, root=root)
    return FeatureSet(
        features={"text": vec.transform(texts).toarray().astype(np.float32), "audio": audio.astype(np.float32),
                  "vision": vision.astype(np.float32)},
        label_binary=np.array([r["label_binary"] for r in recs], dtype=np.int64), split=split,
        ids=np.array([r["id"] for r in recs]), label_score=np.array([r["score"] for r in recs], dtype=np.float32),
        speaker=np.array([r["speaker"] for r in recs]), source="course sentiment data set (bundled), baseline features",
    )
