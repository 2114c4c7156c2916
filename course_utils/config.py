"""The course's ``COURSE_*`` environment variables, validated in one place, and its error type.

Introduced in lesson 00 (setup). Every knob the course reads from the
environment is listed in :data:`KNOWN`; a misspelt name or an unexpected value
raises :class:`ConfigError` with the accepted values, so that a typo such as
``COURSE_FAST=yes`` never silently runs the slow path.

:class:`CourseError` is the base of every error the course raises on purpose
(bad settings, missing data or system libraries, malformed files): its message
says what was expected, what was found and how to fix it. ``except
course_utils.config.CourseError`` catches them all; each subclass is also the
matching built-in error (``ValueError``, ``FileNotFoundError``, ...), so code
that catches those keeps working.
"""
from __future__ import annotations

import os
from typing import Mapping

#: name -> (description, validator or None for "any non-empty path")
KNOWN: dict[str, str] = {
    "COURSE_FAST": "1 = shrink epochs and data (CI, quick tries); 0 or unset = full lessons",
    "COURSE_DATA": "path to a datasets/ folder to use instead of the one found automatically",
    "COURSE_CACHE": "folder for cached features and numba's cache (default: <datasets>/.cache when "
                    "writable, else ~/.cache/multimodal-course, else a temporary folder)",
    "COURSE_GRADING": "set by the instructor grader inside graded kernels (1); do not set by hand",
    "COURSE_HEADLESS": "1 = no widget front end (make test, grader): widgets draw static figures",
    "COURSE_COLAB_ROOT": "where the Colab bootstrap clones the course (default /content)",
}

_FLAG_VALUES = {"0": False, "1": True, "": False}


class CourseError(Exception):
    """Base of the course's own errors: what was expected, what was found, how to fix it (lesson 00).

    ``CourseError(summary, expected=..., found=..., fix=...)`` renders as::

        <summary>
          Expected: <expected>
          Found:    <found>
          How to fix: <fix>

    Every part is optional; a single string works as for any exception. The
    parts stay available as attributes ``expected``, ``found`` and ``fix``.
    """

    def __init__(self, summary: str = "", *, expected: str | None = None, found: str | None = None,
                 fix: str | None = None) -> None:
        self.summary, self.expected, self.found, self.fix = summary, expected, found, fix
        lines = [summary] if summary else []
        if expected:
            lines.append(f"  Expected: {expected}")
        if found:
            lines.append(f"  Found:    {found}")
        if fix:
            lines.append(f"  How to fix: {fix}")
        super().__init__("\n".join(lines))


class ConfigError(CourseError, ValueError):
    """A ``COURSE_*`` environment variable has a name or value the course does not know (lesson 00)."""


class CacheError(CourseError, OSError):
    """The feature cache folder cannot be created or written (lesson 00)."""


class SystemLibraryError(CourseError, ImportError):
    """A system library or program the course needs is missing (libsndfile, espeak-ng) (lesson 00)."""


class KerasBackendError(CourseError, RuntimeError):
    """Keras runs on another backend than TensorFlow, which the lessons need (lesson 00)."""


def _flag(name: str, environ: Mapping[str, str]) -> bool:
    raw = environ.get(name, "")
    value = raw.strip()
    if value not in _FLAG_VALUES:
        raise ConfigError(
            f"{name}={raw!r} is not understood: expected 1 (on) or 0 (off). "
            f"Fix it with e.g. `export {name}=1`, or `unset {name}` for the default."
        )
    return _FLAG_VALUES[value]


def validate(environ: Mapping[str, str] | None = None) -> None:
    """Reject unknown ``COURSE_*`` names and bad flag values (lesson 00)."""
    environ = os.environ if environ is None else environ
    for name in environ:
        if name.startswith("COURSE_") and name not in KNOWN:
            known = ", ".join(sorted(KNOWN))
            raise ConfigError(
                f"Unknown environment variable {name}. The course reads only: {known}. "
                f"Check the spelling, or `unset {name}`."
            )
    _flag("COURSE_FAST", environ)
    _flag("COURSE_GRADING", environ)
    _flag("COURSE_HEADLESS", environ)


def fast_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``COURSE_FAST=1`` (lesson 00). Raises :class:`ConfigError` on other values."""
    environ = os.environ if environ is None else environ
    validate(environ)
    return _flag("COURSE_FAST", environ)


def grading_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a kernel started by the instructor grader (lesson 00)."""
    environ = os.environ if environ is None else environ
    return _flag("COURSE_GRADING", environ)


def headless(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``COURSE_HEADLESS=1``: no browser shows widgets (lesson 00)."""
    environ = os.environ if environ is None else environ
    return _flag("COURSE_HEADLESS", environ)
