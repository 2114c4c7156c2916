"""Figures shared by several lessons.

Introduced in lesson 00 (setup); later lessons add their figures here.
"""
from __future__ import annotations

from typing import Mapping, Sequence


def plot_history(history: Mapping[str, Sequence[float]], ax=None, title: str | None = None,
                 logy: bool = False):
    """Plot training curves from a ``{"loss": [...], "val_loss": [...], ...}`` dict (lesson 00).

    Accepts a Keras ``History`` too (its ``.history`` dict). Returns the Axes.
    """
    import matplotlib.pyplot as plt

    history = getattr(history, "history", history)
    if not history:
        raise ValueError("plot_history needs a non-empty dict of metric name -> list of values, "
                         "e.g. {'loss': [0.9, 0.5, 0.3]}")
    if ax is None:
        _, ax = plt.subplots()
    for name, values in history.items():
        values = list(values)
        style = "--" if name.startswith("val_") else "-"
        ax.plot(range(1, len(values) + 1), values, style, label=name)
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_contour_trajectories(f, trajectories: Mapping[str, Sequence[Sequence[float]]] | None = None,
                              xlim: tuple[float, float] = (-2.0, 2.0), ylim: tuple[float, float] = (-1.0, 3.0),
                              ax=None, levels: int = 30, log_levels: bool = False,
                              minimum: Sequence[float] | None = None, title: str | None = None,
                              resolution: int = 200, marker_every: int | None = None, legend: bool = True):
    """Contour plot of a 2-D function with optimizer paths drawn on it (lesson 02).

    ``f`` takes a stacked grid ``array([X, Y])`` and returns the values on it
    (e.g. :func:`course_utils.optim.rosenbrock`). ``trajectories`` maps a label
    to a sequence of 2-D points (e.g. from :func:`course_utils.optim.run_trajectory`).
    ``log_levels`` spaces the contour levels logarithmically (for surfaces such as
    Rosenbrock whose values span many orders of magnitude). ``minimum`` marks the
    optimum with a star. ``marker_every=k`` marks every k-th iterate with a dot, so that
    zig-zags and step sizes stay visible; ``legend=False`` leaves the legend out (e.g. one
    path per panel, named in the title). Returns the Axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.5))
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid = np.stack(np.meshgrid(xs, ys))
    values = np.asarray(f(grid), dtype=float)
    if log_levels:
        positive = values[values > 0]
        low = positive.min() if positive.size else 1e-3
        lv = np.logspace(np.log10(low), np.log10(values.max()), levels)
        from matplotlib.colors import LogNorm

        ax.contour(xs, ys, values, levels=lv, cmap="viridis", linewidths=0.7, norm=LogNorm())
    else:
        ax.contour(xs, ys, values, levels=levels, cmap="viridis", linewidths=0.7)
    for label, path in (trajectories or {}).items():
        path = np.asarray(path, dtype=float)
        inside = path[(np.abs(path[:, 0]) < 1e6) & (np.abs(path[:, 1]) < 1e6)]
        line, = ax.plot(inside[:, 0], inside[:, 1], "-", lw=1.4, label=label)
        if marker_every:
            if marker_every < 1:
                raise ValueError(f"marker_every must be a positive integer, got {marker_every}")
            ax.plot(inside[::marker_every, 0], inside[::marker_every, 1], ".", color=line.get_color(), ms=4)
        ax.plot(inside[:1, 0], inside[:1, 1], "o", color=line.get_color(), ms=4)
        ax.plot(inside[-1:, 0], inside[-1:, 1], "x", color=line.get_color(), ms=6)
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], "*", color="k", ms=11, label="minimum")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    if legend and (trajectories or minimum is not None):
        ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return ax
