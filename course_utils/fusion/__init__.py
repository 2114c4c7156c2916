"""Compare unimodal and fusion models on any course-format feature file (lessons 08-09).

Command line::

    python -m course_utils.fusion benchmark [--data FEATURES.npz] [--models early,late,tfn,lmf,gated,attention,mult]
                                            [--seeds 3] [--out results.csv]

In Python: :func:`run_benchmark` (same options, returns the rows) and
:func:`format_table`. The models are those of :mod:`course_utils.models`
(PyTorch). Importing this package is light (no framework until a run starts).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"run_benchmark": "benchmark", "format_table": "benchmark", "summarize": "benchmark",
            "BenchmarkError": "benchmark", "ValidationLeakWarning": "benchmark", "CSV_COLUMNS": "benchmark",
            "DEFAULT_MODELS": "benchmark", "prepare": "benchmark", "bootstrap_acc2": "benchmark",
            "write_csv": "benchmark"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
