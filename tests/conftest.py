"""Shared test fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# ----------------------------------------------------------------------------- judged outside == judged inside
# Every call of ``run_check`` in the lesson check tests (tests/test_checks_NN.py and checkhelp.py) is run a second
# time the way the grader runs it (issue 12): the answer is called by ``run_answer`` on the cases' inputs only
# (Build arguments made, probes observing), the record is written to and read from an npz file as in the grader
# (``_wire.dump`` / ``_wire.load``), and ``judge``
# decides. The two verdicts must agree word for word, for every correct and wrong answer these tests try.
def _judged_outside(exercise, answer, seed, failures):
    import numpy as np

    from course_utils.checks import _core
    from course_utils.grade import _wire

    spec = _core.lookup(exercise)
    cases = list(spec.cases(np.random.default_rng(_core._seed_for(exercise, seed))))
    run = _core.run_answer(exercise, answer, _core.case_inputs(cases))
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cu-wire-") as tmp:  # the real file format, as in the grader
        path = os.path.join(tmp, "call-1-1.npz")
        _wire.dump(_wire.answer_record(run), path)
        record = _wire.answer_from_record(_wire.load(path))
    return _core.judge(exercise, record, seed, cases=cases, failures=failures)


_SPLITTABLE: dict = {}


def _splittable(exercise: str) -> bool:
    if exercise not in _SPLITTABLE:
        from course_utils.grade._split import Judge

        _SPLITTABLE[exercise] = Judge()._decide(exercise)
    return _SPLITTABLE[exercise]


def _with_outside_judge(run_check):
    def both(exercise, answer, seed=0, **kwargs):
        import random

        import numpy as np

        from course_utils.checks import _core

        # judge counts the run it judges as one more failure, as run_check does unless record=False
        failures = _core._FAILURES.get(exercise, 0) - (0 if kwargs.get("record", True) else 1)
        states = (random.getstate(), np.random.get_state())
        try:
            import torch

            torch_state = torch.get_rng_state()
        except ImportError:  # pragma: no cover
            torch_state = None
        inside = run_check(exercise, answer, seed, **kwargs)
        if _core.lookup(exercise).kind == "text" or not _splittable(exercise):
            return inside
        random.setstate(states[0])
        np.random.set_state(states[1])
        if torch_state is not None:
            torch.set_rng_state(torch_state)
        outside = _judged_outside(exercise, answer, seed, failures)
        assert (outside.passed, outside.message) == (inside.passed, inside.message), (
            f"the grader's outside judge disagrees with the kernel's check on {exercise}:\n"
            f"  inside:  {inside.message}\n  outside: {outside.message}")
        return inside
    return both


@pytest.fixture(autouse=True)
def _checks_judged_outside_too(request, monkeypatch):
    name = request.module.__name__.rsplit(".", 1)[-1]
    if not name.startswith("test_checks_"):
        yield
        return
    import checkhelp

    from course_utils.checks import _core

    original = _core.run_check
    for module in (request.module, checkhelp):
        if getattr(module, "run_check", None) is original:
            monkeypatch.setattr(module, "run_check", _with_outside_judge(original))
    yield
