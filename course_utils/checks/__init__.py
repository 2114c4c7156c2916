"""Learner self-checks: ``from course_utils.checks import check``.

Introduced in lesson 00 (setup). One module per lesson (``lessonNN.py``)
registers that lesson's checks; ``check("NN.name", answer)`` imports it on
first use. :func:`passed` and :func:`use_mine` let a lesson use the learner's
own passing functions downstream (see ``_core`` for the whole API).
"""
from ._core import (Case, CheckFailed, CheckResult, Mistake, check, compare, passed, register, run_check,
                    use_mine)

__all__ = ["Case", "CheckFailed", "CheckResult", "Mistake", "check", "compare", "passed", "register",
           "run_check", "use_mine"]
