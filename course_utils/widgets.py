"""A small layer over ipywidgets 7 (Colab) and 8 (local), with static fallbacks.

Introduced in lesson 00 (setup). :func:`explore` shows a slider-driven plot
where a widget front end exists (JupyterLab, Colab) and otherwise renders a
static grid of the same plot at a few slider values, so every demo also works
in CI, in nbval and in a printed PDF.
"""
from __future__ import annotations

import importlib.metadata as md
import os
import sys
from typing import Callable, Sequence


def ipywidgets_major() -> int | None:
    """Major version of the installed ipywidgets, or None (lesson 00)."""
    try:
        return int(md.version("ipywidgets").split(".")[0])
    except md.PackageNotFoundError:
        return None


def has_frontend() -> bool:
    """True when widgets can be displayed interactively (lesson 00).

    False in plain Python, with ``COURSE_HEADLESS=1`` (set by ``make test`` and the
    grader) or ``CI`` set, or when ipywidgets is missing.
    """
    if ipywidgets_major() is None or os.environ.get("CI"):
        return False
    if "google.colab" in sys.modules:
        return True
    try:
        from IPython import get_ipython  # type: ignore
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    # A kernel cannot see whether a browser is attached: headless runners (make test,
    # the grader) say so with COURSE_HEADLESS=1.
    from .config import headless

    return not headless()


def _float_slider(name: str, values: Sequence[float]):
    import ipywidgets as w

    lo, hi = min(values), max(values)
    step = (hi - lo) / 100 if hi > lo else 1.0
    # ipywidgets 7 and 8 share these keyword names; 8 renamed nothing used here.
    return w.FloatSlider(value=values[len(values) // 2], min=lo, max=hi, step=step,
                         description=name, continuous_update=False)


def static_grid(plot: Callable[..., None], name: str, values: Sequence[float],
                title: str | None = None, ncols: int = 3):
    """Draw ``plot(ax=..., **{name: v})`` for each value on a grid; return the figure (lesson 00)."""
    import matplotlib.pyplot as plt

    n = len(values)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax, v in zip(axes.flat, values):
        plot(ax=ax, **{name: v})
        ax.set_title(f"{name} = {v:g}")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def explore(plot: Callable[..., None], name: str, values: Sequence[float],
            title: str | None = None, force_static: bool | None = None):
    """Interactive slider over ``name`` if a front end exists, else a static grid (lesson 00).

    ``plot`` must accept ``ax`` (a matplotlib Axes) and the keyword ``name``.
    Returns the widget, or the static figure.
    """
    static = (not has_frontend()) if force_static is None else force_static
    if static:
        return static_grid(plot, name, values, title=title)
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = w.Output()
    slider = _float_slider(name, values)

    def redraw(change=None):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots()
            plot(ax=ax, **{name: slider.value})
            if title:
                ax.set_title(title)
            plt.show()

    slider.observe(redraw, names="value")
    box = w.VBox([slider, out])
    display(box)
    redraw()
    return box
