"""Self-checks for lesson 00 (setup): warm-up exercises on NumPy arrays."""
from __future__ import annotations

import numpy as np

from ._core import Case, register


@register("00.standardize", signature="standardize(x: np.ndarray) -> np.ndarray",
          hint="Subtract each column's mean and divide by its standard deviation: "
               "use axis=0, and keep the result's shape equal to the input's.")
def _standardize(rng: np.random.Generator):
    def reference(x):
        return (x - x.mean(axis=0)) / x.std(axis=0)

    fixed = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    yield Case((fixed,), expected=reference(fixed), label="3x2 example")
    for i in range(4):  # randomized cases: shapes and scales vary
        n, d = int(rng.integers(5, 40)), int(rng.integers(1, 6))
        x = rng.normal(loc=rng.uniform(-50, 50, d), scale=rng.uniform(0.1, 20, d), size=(n, d))
        yield Case((x,), expected=reference(x), label=f"random {n}x{d}")

    def unit_stats(got):  # property: every column has mean 0 and std 1
        got = np.asarray(got, dtype=float)
        if got.shape != (30, 3):
            return f"wrong shape: expected (30, 3), got {got.shape}"
        if not (np.allclose(got.mean(axis=0), 0, atol=1e-9) and np.allclose(got.std(axis=0), 1, atol=1e-9)):
            return "the columns of the result should have mean 0 and standard deviation 1"
        return None

    yield Case((rng.exponential(3.0, size=(30, 3)),), expected=unit_stats, label="property: mean 0, std 1")


@register("00.accuracy", signature="accuracy(y_true, y_pred) -> float",
          hint="Compare the two arrays element-wise (==) and take the mean of the result.")
def _accuracy(rng: np.random.Generator):
    yield Case((np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])), expected=0.5, label="4 labels")
    yield Case(([0, 1, 2], [0, 1, 2]), expected=1.0, label="plain lists, all right")
    for _ in range(3):
        n = int(rng.integers(10, 200))
        y, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
        yield Case((y, p), expected=float(np.mean(y == p)), label=f"random, n={n}")
