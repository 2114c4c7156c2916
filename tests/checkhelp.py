"""Helpers shared by the tests of the lesson check modules (tests/test_checks_NN.py)."""
from __future__ import annotations

from course_utils.checks import run_check


def mistake(exercise, answer, needle):
    """Run the check of ``exercise`` on a wrong ``answer``: it must fail, and its message must contain
    ``needle`` (the named mistake). Returns the result."""
    result = run_check(exercise, answer, record=False)
    assert not result.passed, f"{getattr(answer, '__name__', answer)} passed"
    assert needle in result.message, result.message
    return result


def stub(*args, **kwargs):
    """What a student version's exercise cell does before it is solved."""
    raise NotImplementedError()
