"""Whether the grader's bubblewrap sandbox can be used in this test run.

Under ``CI=true`` a missing sandbox is an error (``make system-deps`` installs bubblewrap there), so the
sandbox tests fail instead of skipping; elsewhere they skip with the reason and the fix, and the other
grader tests run with ``--no-sandbox``.
"""
from __future__ import annotations

import os

import pytest

from course_utils.grade._sandbox import FIX, unavailable

WHY = unavailable()
SANDBOX = WHY is None
#: Extra command-line flags for the grader in tests that do not test the sandbox itself.
CLI_FLAGS: list[str] = [] if SANDBOX else ["--no-sandbox"]


def require_sandbox() -> None:
    """Skip (fail under CI=true) when no sandbox can be built here."""
    if SANDBOX:
        return
    message = f"no grader sandbox here: {WHY}. Fix: {FIX}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
