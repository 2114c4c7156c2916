"""Learner self-checks: ``from course_utils.checks import check``.

Introduced in lesson 00 (setup). One module per lesson (``lessonNN.py``)
registers that lesson's checks; ``check("NN.name", answer)`` imports it on
first use.
"""
from ._core import Case, CheckFailed, CheckResult, check, compare, register, run_check

__all__ = ["Case", "CheckFailed", "CheckResult", "check", "compare", "register", "run_check"]
