"""Rules of the exercise design, for every lesson: the instructor (hidden) test of each auto-checked exercise is
its public self-check run on other data (the same ``check(id, fn)`` with a non-zero seed), and the untouched
student stub gets "not implemented yet" without a hint."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import exercises, lessons

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [p.name for p in lessons(ROOT)])
def test_hidden_tests_are_the_public_check_with_another_seed(name):
    nb = nbformat.read(ROOT / "solutions" / name, as_version=4)
    lesson = name[:2]
    hidden_of = {}
    for cell in nb.cells:
        if "### BEGIN HIDDEN TESTS" not in cell.source:
            continue
        public = re.search(rf'^check\("({lesson}\.\w+)", (\w+)\)$', cell.source, re.M)
        assert public, f"{name}: a hidden-test cell without a public check: {cell.source!r}"
        hidden = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].strip()
        match = re.fullmatch(rf'check\("({lesson}\.\w+)", (\w+), seed=(\d+)\)', hidden)
        assert match, f"{name}: the hidden test of {public.group(1)} is not check(id, fn, seed=N): {hidden!r}"
        assert match.group(1, 2) == public.group(1, 2), f"{name}: {hidden!r} does not repeat {public.group(0)!r}"
        assert int(match.group(3)) != 0, f"{name}: {hidden!r} uses seed 0, the learner's own data"
        assert public.group(1) not in hidden_of, f"{name}: two hidden tests for {public.group(1)}"
        hidden_of[public.group(1)] = int(match.group(3))
    checked = {e.id for e in exercises(nb, name) if e.kind == "code"}
    assert set(hidden_of) == checked, (f"{name}: code exercises without a hidden test: {sorted(checked - set(hidden_of))}; "
                                       f"hidden tests of no exercise: {sorted(set(hidden_of) - checked)}")


def _code_exercises():
    return [(name, e.id) for name in (p.name for p in lessons(ROOT))
            for e in exercises(nbformat.read(ROOT / "solutions" / name, as_version=4), name) if e.kind == "code"]


@pytest.mark.parametrize("name,exercise", _code_exercises(), ids=lambda v: v)
def test_a_student_stub_is_told_it_is_not_implemented_and_given_no_hint(name, exercise):
    """What the student version does before it is solved (``raise NotImplementedError()``) gets a plain
    "not implemented yet", never a hint or a named mistake (they would give the answer away for free)."""
    from course_utils.checks import run_check

    from checkhelp import stub

    result = run_check(exercise, stub, record=False)
    assert not result.passed and "not implemented yet" in result.message, (name, result.message)
    assert "Hint" not in result.message and "Likely mistake" not in result.message, (name, result.message)


# A statement that can be pasted as the answer: a name assigned a call (``z = torch.cat(``) or ``return`` followed
# by code. Formulas in words ("divide by the square root of d_k") and single names (np.swapaxes) are allowed.
_PASTEABLE = re.compile(r"\b[a-z_]\w*\s*=\s*[\w.]+\(|\breturn\s+[^\s,.]*[()\[\]@*/+]")


def test_hints_and_recipes_never_spell_out_the_solution():
    """The hint after a failure and the fuller recipe from the third failure describe the steps in words; neither
    may hold a line of code that can be pasted as the answer (register's rule)."""
    import importlib

    from course_utils.checks._core import REGISTRY

    for name in (p.name for p in lessons(ROOT)):
        importlib.import_module(f"course_utils.checks.lesson{name[:2]}")
    found = [(exercise, text) for exercise, spec in sorted(REGISTRY.items()) if exercise[:2].isdigit()
             for text in (spec.hint, spec.recipe) if _PASTEABLE.search(text)]
    assert not found, found
