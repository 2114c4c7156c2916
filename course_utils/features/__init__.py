"""Feature extraction for the three modalities (Part 2: lessons 04-06).

One module per modality, each importing its heavy libraries (torch, Keras,
librosa, scikit-learn, sentence-transformers, opensmile) only inside the
functions that need them, so ``import course_utils.features`` is cheap:

* :mod:`course_utils.features.text`  (lesson 04): bag of words, TF-IDF, skip-gram,
  pretrained sentence embeddings (all-MiniLM-L6-v2), the VADER lexicon.
* :mod:`course_utils.features.image` (lesson 05): convolution and pooling from the
  definition, hand-made filters, a frozen pretrained facial-expression CNN.
* :mod:`course_utils.features.audio` (lesson 06): STFT, mel filterbank, MFCC,
  prosody, eGeMAPS functionals.

The extractors compute; :mod:`course_utils.data` loads the data set and caches
what they return (the cache key holds the extractor's name, its parameters and
its ``VERSION``, so a changed extractor never serves stale features).
"""
from __future__ import annotations

import importlib
from typing import Any

_MODULES = ("text", "image", "audio")

__all__ = list(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
