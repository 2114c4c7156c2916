"""The course's bundled tri-modal sentiment data set: loaders, features, pipelines (lesson 04).

Importing this package is cheap: every name below is loaded on first use, and
nothing imports torch, TensorFlow, librosa, scikit-learn or pandas until a
function that needs it runs.

Loading (``loaders``)::

    load_records(split=None)  -> list[dict]          load_metadata(split=None) -> DataFrame
    load_arrays(split=None)   -> dict of arrays      load_audio(id) / load_image(id)
    load_audios(records) / load_images(records)

Integrity (``integrity``): ``verify_dataset()``, ``dataset_root()``, the errors
``DatasetIntegrityError``, ``MissingDataFileError``, ``CorruptDataFileError``,
``MetadataError`` (all :class:`course_utils.config.CourseError`: the message says
what was expected, what was found and how to fix it).

Cached features (``features``): ``cached`` (any extractor's output, keyed by its
name, parameters and version), ``audio_features`` (MFCC statistics),
``image_features`` (pixels). The extractors themselves are in
:mod:`course_utils.features` (lessons 04-06).

Text (``text``): ``tokenize``, ``Vocab``, ``build_vocab``.

Frameworks: ``SentimentDataset``, ``collate_batch``, ``make_dataloader`` (torch);
``make_tf_dataset`` (tf.data).

Bring your own features (``byo``): ``FeatureSet``, ``save_features``,
``load_features``, ``convert_mosi_bclstm``, ``bundled_feature_set``.

Command line: ``python -m course_utils.data report`` (baseline table into the
datasheet), ``python -m course_utils.data verify``; the generator is
``python -m course_utils.data.generate --out datasets/sentiment``.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # loaders
    "SPLITS": "loaders", "SAMPLE_RATE": "loaders", "IMAGE_SIZE": "loaders", "FLAGS": "loaders",
    "load_records": "loaders", "load_metadata": "loaders", "load_arrays": "loaders",
    "load_audio": "loaders", "load_image": "loaders", "load_audios": "loaders", "load_images": "loaders",
    # integrity
    "dataset_root": "integrity", "verify_dataset": "integrity", "read_manifest": "integrity",
    "manifest_digest": "integrity", "check_file": "integrity",
    "DatasetIntegrityError": "integrity", "MissingDataFileError": "integrity",
    "CorruptDataFileError": "integrity", "MetadataError": "loaders",
    # features
    "audio_features": "features", "image_features": "features", "cached": "features",
    "cache_path": "features",
    # text
    "tokenize": "text", "Vocab": "text", "build_vocab": "text",
    # frameworks
    "SentimentDataset": "torch_data", "collate_batch": "torch_data", "make_dataloader": "torch_data",
    "make_tf_dataset": "tf_data",
    # bring your own features
    "FeatureSet": "byo", "save_features": "byo", "load_features": "byo",
    "convert_mosi_bclstm": "byo", "bundled_feature_set": "byo", "write_feature_set": "byo",
    "FeatureFormatError": "byo",
    # report
    "compute_baselines": "report", "run_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
