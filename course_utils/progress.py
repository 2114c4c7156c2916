"""One progress-bar helper for every training loop in the course.

Introduced in lesson 00 (setup). It wraps ``tqdm.auto`` (a widget bar in
JupyterLab and Colab, a text bar elsewhere) and stays quiet in fast mode / CI
so saved notebook outputs do not fill with bar redraws.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str | None = None, total: int | None = None,
             disable: bool | None = None, **kwargs) -> Iterator[T]:
    """Iterate with a progress bar (lesson 00).

    ``disable=None`` hides the bar in fast mode, in CI and when headless
    (``COURSE_HEADLESS=1``: no browser would ever show it).
    Extra keyword arguments go to ``tqdm``.
    """
    from tqdm.auto import tqdm

    if disable is None:
        from . import FAST
        from .config import headless

        disable = FAST or headless() or bool(os.environ.get("CI"))
    return iter(tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs))


def trange(n: int, desc: str | None = None, **kwargs) -> Iterator[int]:
    """``progress(range(n))`` (lesson 00)."""
    return progress(range(n), desc=desc, total=n, **kwargs)
