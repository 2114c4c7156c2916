"""solutions/ -> notebooks/: generation, staleness, hand edits and malformed markers."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from course_utils import authoring
from course_utils.authoring import MarkerError, exercises, strip_cell


@pytest.fixture
def course(tmp_path, repo_root):
    """A copy of the course's solutions/ and notebooks/ to break."""
    for sub in ("solutions", "notebooks"):
        shutil.copytree(repo_root / sub, tmp_path / sub)
    return tmp_path


def test_repository_notebooks_are_current(repo_root):
    assert authoring.check(repo_root) == []


def test_student_version_hides_solutions_and_hidden_tests(repo_root):
    nb = nbformat.read(repo_root / "notebooks" / "00_setup.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "x.mean(axis=0)" not in text
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.count("raise NotImplementedError()") == 3 and "YOUR ANSWER HERE" in text
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].cell_type == "markdown" and "colab.research.google.com" in nb.cells[0].source
    assert "notebooks/00_setup.ipynb" in nb.cells[0].source
    assert "cu.setup(seed=0)" in nb.cells[1].source
    assert nb.metadata["course"]["source_sha256"]
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_build_is_idempotent(course):
    assert authoring.build(course) == []


def test_stale_notebook_is_caught(course):
    path = course / "solutions" / "00_setup.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source += "\nprint('a new line')"
    nbformat.write(nb, path)
    problems = authoring.check(course)
    assert any("notebooks/00_setup.ipynb: stale" in p for p in problems)
    authoring.build(course)
    assert authoring.check(course) == []


def test_hand_edited_notebook_is_caught(course):
    path = course / "notebooks" / "00_setup.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source += "\n# my edit"
    nbformat.write(nb, path)
    assert any("hand-edited" in p for p in authoring.check(course))


def test_orphan_and_missing_student_versions(course):
    (course / "notebooks" / "00_setup.ipynb").rename(course / "notebooks" / "99_orphan.ipynb")
    problems = authoring.check(course)
    assert any("notebooks/00_setup.ipynb: missing" in p for p in problems)
    assert any("99_orphan.ipynb: has no solutions" in p for p in problems)


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        nb.cells.append(nbformat.v4.new_code_cell(src) if kind == "code" else
                        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_raw_cell(src))
    return nb


EX = "### EXERCISE 05.f (1 point)\n"


@pytest.mark.parametrize("cells, message", [
    ([("code", EX + "### BEGIN SOLUTION\nx = 1\n"), ("code", 'check("05.f", f)')], "never closed"),
    ([("code", EX + "x = 1\n### END SOLUTION"), ("code", 'check("05.f", f)')], "without a matching BEGIN"),
    ([("code", EX + "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION"),
      ("code", 'check("05.f", f)')], "cannot nest"),
    ([("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")], "needs an exercise header"),
    ([("raw", "### BEGIN SOLUTION\nx\n### END SOLUTION")], "only allowed in code and markdown"),
    ([("code", EX + "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")], "has no check cell"),
    ([("code", EX + "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
      ("code", "### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS")], "hidden tests must sit in a check cell"),
    ([("code", "### EXERCISE 04.f (1 point)\n### BEGIN SOLUTION\n### END SOLUTION"),
      ("code", 'check("04.f", f)')], "must start with this lesson's number 05"),
    ([("code", "### EXERCISE 05.f (one point)\nx=1")], "malformed exercise header"),
    ([("code", EX + "### BEGIN SOLUTON\nx\n### END SOLUTION")], "unknown marker"),
])
def test_malformed_markers_name_notebook_and_cell(cells, message):
    with pytest.raises(MarkerError, match=message) as err:
        exercises(_nb(*cells), "05_demo.ipynb")
    assert "05_demo.ipynb, cell" in str(err.value)


def test_malformed_marker_fails_the_check_command(course):
    path = course / "solutions" / "00_setup.ipynb"
    nb = nbformat.read(path, as_version=4)
    target = next(i for i, c in enumerate(nb.cells) if "EXERCISE 00.accuracy" in c.source)
    nb.cells[target].source = nb.cells[target].source.replace("### END SOLUTION", "")
    nbformat.write(nb, path)
    problems = authoring.check(course)
    assert any(f"00_setup.ipynb, cell {target}" in p and "never closed" in p for p in problems)


def test_exercises_and_points_of_lesson_00(repo_root):
    nb = nbformat.read(repo_root / "solutions" / "00_setup.ipynb", as_version=4)
    found = {e.id: (e.points, e.kind, len(e.check_cell_ids)) for e in exercises(nb, "00_setup.ipynb")}
    assert found == {"00.standardize": (2, "code", 1), "00.accuracy": (1, "code", 1), "00.fast_mode": (1, "markdown", 0),
                     "00.torch_loop": (2, "code", 1), "00.keras_overhead": (2, "markdown", 0)}


def test_strip_keeps_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert strip_cell(src, "code") == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"


def test_cli_check_exit_codes(course):
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "course_utils.authoring", "check", "--root", str(course)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (course / "notebooks" / "00_setup.ipynb").write_text("{}")
    bad = subprocess.run([sys.executable, "-m", "course_utils.authoring", "check", "--root", str(course)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "00_setup.ipynb" in bad.stderr
