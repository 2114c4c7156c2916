"""course_utils: the small, tested helper package behind the course's lessons.

Importing it is cheap: no torch, TensorFlow, Keras, librosa or scikit-learn is
imported here (a test checks ``sys.modules``). Heavy work happens in
:func:`setup` and in the sub-modules that need it.

Introduced in lesson 00 (setup)::

    import course_utils as cu
    cu.setup(seed=0)                  # report, seeds, determinism, figure style
    epochs = cu.by_mode(full=30, fast=2)
"""
from __future__ import annotations

from typing import TypeVar

from . import config as _config

__version__ = "0.1.0"

#: True when the environment says ``COURSE_FAST=1`` (CI and quick tries).
#: Lessons read this one flag (or :func:`by_mode`) to shrink epochs and data.
FAST: bool = _config.fast_mode()

T = TypeVar("T")


def by_mode(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode (``COURSE_FAST=1``), else ``full`` (lesson 00)."""
    return fast if FAST else full


def setup(seed: int = 0, *, report: bool = True, deterministic: bool = True) -> dict:
    """The first call of every lesson (lesson 00); fast (well under 2 s): imports no framework.

    Silences TensorFlow's C++ logs before TensorFlow is imported, makes Keras
    use TensorFlow's backend (or raises
    :class:`~course_utils.config.KerasBackendError` with the fix if Keras was
    already imported with another one), picks a writable cache folder (also
    for numba), prints the environment report (where you run, package versions
    vs the tested ranges, the Keras backend, CPU/GPU), seeds ``random`` and
    NumPy now and PyTorch / Keras / TensorFlow the moment they are first
    imported (at once if they already are), with deterministic ops when
    ``deterministic``; restores inline figures in Jupyter if ``MPLBACKEND``
    names a non-interactive backend; hides known library-internal deprecation
    notices; sets figure defaults. Returns the report as a dict.
    Raises :class:`~course_utils.config.CourseError` subclasses for bad
    settings (``COURSE_*`` values, an unwritable ``COURSE_CACHE``).
    """
    from . import env

    return env.setup(seed=seed, report=report, deterministic=deterministic)


def seed_everything(seed: int = 0) -> None:
    """Seed ``random``, NumPy and PyTorch / Keras / TF (lesson 00).

    Frameworks already imported are seeded now, the others right after their
    first import; no framework is imported here.
    """
    from . import env

    env.seed_everything(seed)


__all__ = ["FAST", "by_mode", "setup", "seed_everything", "__version__"]
