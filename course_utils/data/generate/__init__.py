"""Generator of the bundled tri-modal sentiment data set (dataset, issue 4).

``python -m course_utils.data.generate --out datasets/sentiment`` (what
``make dataset`` runs) regenerates every file deterministically from a seed:

* :mod:`.text`   the grammar that writes the utterances;
* :mod:`.plan`   the latent structure (sentiment, per-modality views, speakers, splits);
* :mod:`.speech` espeak-ng speech with sentiment-driven prosody and background noise;
* :mod:`.face`   the procedural 64x64 face renderer;
* :mod:`.build`  rendering in parallel, metadata, manifest and datasheet.

Nothing heavy is imported until a function runs.
"""
from __future__ import annotations

from typing import Any

__all__ = ["generate", "sample_rendering", "plan_rows", "make_plan", "DEFAULT_SEED"]


def __getattr__(name: str) -> Any:
    if name in ("generate", "sample_rendering", "plan_rows"):
        from . import build

        return getattr(build, name)
    if name in ("make_plan", "DEFAULT_SEED"):
        from . import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
