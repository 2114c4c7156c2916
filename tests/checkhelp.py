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


# ----------------------------------------------------------------------------- the grader's way (issue 12)
def through_npz(run, tmp_path=None):
    """``run`` (an AnswerRun) written as the grader's kernel writes it (an npz file, no pickle) and read back as
    the grader reads it (untrusted data)."""
    import os
    import tempfile

    from course_utils.grade import _wire

    with tempfile.TemporaryDirectory(prefix="cu-wire-") as tmp:
        path = os.path.join(str(tmp_path or tmp), "call-0-0.npz")
        _wire.dump(_wire.answer_record(run), path)
        return _wire.answer_from_record(_wire.load(path))


def cases_for(exercise, seed=0):
    """The cases of ``exercise`` for ``seed``, generated as the grader generates them."""
    import numpy as np

    from course_utils.checks import _core

    return list(_core.lookup(exercise).cases(np.random.default_rng(_core._seed_for(exercise, seed))))


def graded(exercise, answer, seed=0):
    """The grader's way: the cases, and what ``answer`` did on their inputs after the npz round trip."""
    from course_utils.checks import _core

    cases = cases_for(exercise, seed)
    return cases, through_npz(_core.run_answer(exercise, answer, _core.case_inputs(cases)))


def forged(exercise, cases, run, forge, seed=0):
    """The verdict on ``run`` with each case's result replaced by ``forge(case_index, got)``, sent through the
    npz wire first (what a notebook that writes its own result files could hand in)."""
    import copy

    from course_utils.checks import _core

    fake = copy.deepcopy(run)
    for k, one in enumerate(fake.runs):
        one.got = forge(k, one.got)
    return _core.judge(exercise, through_npz(fake), seed, cases=cases)


def plain_observation(value) -> bool:
    """Whether ``value`` is plain data as probes must return it (no module, tensor or other object)."""
    import numpy as np

    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_observation(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain_observation(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return value is None or isinstance(value, (bool, int, float, str, np.generic))
