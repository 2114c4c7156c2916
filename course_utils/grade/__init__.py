"""Instructor grader: ``python -m course_utils.grade SUBMISSIONS_DIR --lesson NN --out grades.csv``.

Introduced in lesson 00 (setup), for instructors; see docs/instructors.md.
Each submission (``DIR/<student>/NN_slug.ipynb`` or ``DIR/<student>.ipynb``) is
rebuilt on the official ``solutions/NN_slug.ipynb`` (learner's exercise cells,
official everything else, hidden tests included), run in its own kernel inside a
bubblewrap sandbox (``_sandbox``) with time, memory and output limits, checked
outside that sandbox (``_split``: the learner's function runs inside on the
cases' inputs, the verdict is decided by the grader), and turned into one row per exercise
in ``grades.csv`` (columns :data:`COLUMNS`) plus a markdown feedback file per
student. Importing this package is cheap; the machinery lives in sub-modules.

An exercise earns its points when every one of its check cells runs without an
error (all or nothing); a written (markdown) exercise is left to the instructor.
Time limits count CPU seconds of the kernel's process tree, with a wall-clock
backstop; the lesson's own cells run under a separate limit, and a run that
stops in one of them is repeated once in a fresh kernel.
The ``status`` column says what happened; :data:`STATUSES` explains each value.
"""
from __future__ import annotations

from pathlib import Path

COLUMNS = ("student", "exercise", "points", "max_points", "status", "message")

#: Every value of the ``status`` column, with what it means.
STATUSES: dict[str, str] = {
    "passed": "every check cell of the exercise ran without error: full points",
    "failed": "a check (or an instructor's hidden test) rejected the answer; the message says which case",
    "not_attempted": "the exercise was left as handed out (raise NotImplementedError / no written answer)",
    "error": "the exercise cell or its check cell raised an exception (the message names it)",
    "timeout": "a cell used more than --cell-timeout CPU seconds (or ran past its wall-clock backstop) and was "
               "interrupted (or the kernel was stopped); or an official cell did so in both runs",
    "total_timeout": "the learner's cells used more than --timeout CPU seconds in all (or the run passed its "
                     "wall-clock backstop); the kernel was stopped",
    "memory_limit": "the kernel went over --memory-mb (MemoryError or stopped by the watchdog)",
    "output_limit": "a cell printed more than --max-output-mb",
    "kernel_died": "the kernel process ended (crash, os._exit, segfault) before the exercise's checks ran",
    "missing": "the exercise's cell is not in the notebook (deleted, or its '### EXERCISE' line changed)",
    "manual": "a written answer: points left empty for the instructor",
    "invalid_notebook": "the file is not a readable notebook (bad JSON, empty file, not a notebook)",
    "wrong_lesson": "the notebook belongs to another lesson",
    "no_submission": "the student's folder has no notebook for this lesson",
    "uses_reference": "the exercise's check passed, but its cell reaches the course's own reference "
                      "implementation of that exercise (found by reading the cell); --reference-points of its "
                      "points (default 0), listed in the log for the instructor",
    "grader_error": "the grader itself failed on this submission (please report it); the run went on",
}


def grade(submissions: str | Path, lesson: str, out: str | Path = "grades.csv", **options):
    """Grade a folder of submissions; see :func:`course_utils.grade._grader.grade_folder` (lesson 00)."""
    from ._grader import grade_folder

    return grade_folder(Path(submissions), lesson, Path(out), **options)


__all__ = ["COLUMNS", "STATUSES", "grade"]
