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
