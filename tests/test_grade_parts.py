"""The grader's parts: finding submissions, rebuilding them on the official notebook, instrumenting check
cells, turning outcomes into rows, and the kernel runner's limits (tiny kernels, no torch)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import CHECK_RE
from course_utils.grade import STATUSES
from course_utils.grade._assemble import (GRADER_CHECK, INSTRUCTOR_TAG, GradingSetupError, assemble, discover,
                                          hidden_lines, instrument_check_cell, load_official, passed_marker,
                                          read_submission, wrong_lesson)
from course_utils.grade._grader import exercise_rows, grade_submission, retry_reason
from course_utils.grade._runner import Limits, Outcome, run_cells

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def official():
    return load_official(ROOT, "00")


@pytest.fixture()
def student():
    return nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4)


def _find(nb, pattern: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if re.search(pattern, c.source, flags=re.M))


# ----------------------------------------------------------------------------- package
def test_import_is_light():
    code = ("import sys, course_utils.grade as g; heavy = [m for m in ('numpy', 'nbformat', 'jupyter_client', "
            "'zmq', 'torch', 'tensorflow') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_every_status_is_documented():
    text = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    for status in STATUSES:
        assert f"`{status}`" in text, status


def test_cli_refuses_an_unknown_lesson(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "course_utils.grade", str(tmp_path), "--lesson", "97",
                           "--out", str(tmp_path / "g.csv")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "solutions/97_" in proc.stderr
    with pytest.raises(GradingSetupError):
        load_official(ROOT, "97")


# ----------------------------------------------------------------------------- finding and reading
def test_discover_folders_flat_files_and_strays(tmp_path, official):
    (tmp_path / "ann" / "sub").mkdir(parents=True)
    (tmp_path / "ann" / "sub" / "00_setup.ipynb").write_text("{}")
    (tmp_path / "bo").mkdir()
    (tmp_path / "bo" / "00_setup.ipynb").write_text("{}")
    (tmp_path / "bo" / "00_setup-Copy1.ipynb").write_text("{}")
    (tmp_path / "bo" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bo" / ".ipynb_checkpoints" / "00_setup-checkpoint.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "Untitled.ipynb").write_text("{}")
    (tmp_path / "dee.ipynb").write_text("{}")
    (tmp_path / "readme.txt").write_text("")
    (tmp_path / ".git").mkdir()
    subs = {s.student: s for s in discover(tmp_path, official)}
    assert sorted(subs) == ["ann", "bo", "cy", "dee"]
    assert subs["ann"].path.name == "00_setup.ipynb"
    assert subs["bo"].path.name == "00_setup.ipynb" and "several notebooks" in subs["bo"].note
    assert subs["cy"].path is None and "Untitled.ipynb" in subs["cy"].note
    assert subs["dee"].path == tmp_path / "dee.ipynb"


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("{not json", "not a readable notebook"), ('{"cells": 3, "metadata": {}}', "not"),
    ('[1, 2]', "not"), ('{"cells": [{"source": "x"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not"),
])
def test_unreadable_notebooks_are_refused_with_a_reason(tmp_path, text, reason):
    path = tmp_path / "00_setup.ipynb"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason):
        read_submission(path)


def test_wrong_lesson_is_recognised(official, student):
    assert wrong_lesson(student, official) is None
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### EXERCISE 02.adam (1 point)\nx = 1")])
    assert "another lesson" in wrong_lesson(other, official)


# ----------------------------------------------------------------------------- rebuilding
def test_edited_and_deleted_official_cells_come_back(official, student):
    nb = student
    check = _find(nb, r'^check\("00\.accuracy"')
    nb.cells[check].source = "print('all good')"  # altered check cell
    extra = nbformat.v4.new_code_cell("helper = 42")
    nb.cells.insert(check, extra)  # a cell the learner added, before the check
    intro = _find(nb, r"^# Lesson 00")
    del nb.cells[intro]  # deleted markdown
    del nb.cells[_find(nb, r'^check\("00\.standardize"|^from course_utils.checks import check')]
    plan = assemble(nb, official)
    rebuilt = [c.get("id") for c in plan.notebook.cells]
    official_ids = [c.get("id") for c in official.nb.cells]
    # every official cell is back, in the official order, with the learner's cell kept in place
    assert [i for i in rebuilt if i in official_ids] == official_ids
    accuracy = next(ex for ex in official.exercises if ex.id == "00.accuracy")
    assert rebuilt.index(extra.id) == rebuilt.index(accuracy.check_cell_ids[0]) - 1
    checks = [c for c in plan.cells if c.role == "check"]
    assert [c.checks for c in checks] == [[ex.id] for ex in official.exercises if ex.kind == "code"]
    assert all("BEGIN HIDDEN TESTS" not in c.source and GRADER_CHECK in c.source for c in checks)
    accuracy_check = next(c for c in checks if c.checks == ["00.accuracy"])
    hidden = official.cell(accuracy_check.official_id).source
    assert "BEGIN HIDDEN TESTS" in hidden  # the official check cell, hidden tests included, is back
    assert accuracy_check.source == instrument_check_cell(hidden, "00", 1, plan.nonce)
    assert any("restored" in n for n in plan.notes) and any("put back" in n for n in plan.notes)
    assert plan.missing == set()
    assert plan.cells[-1].role == "check"  # nothing after the last check cell runs


def test_deleted_exercise_is_missing_and_ids_can_be_recovered(official, student):
    nb = student
    del nb.cells[_find(nb, r"^### EXERCISE 00\.accuracy")]
    for cell in nb.cells:  # an editor dropped every id
        cell.pop("id", None)
        cell.metadata.pop("course", None)
    plan = assemble(nb, official)
    assert plan.missing == {"00.accuracy"}
    assert set(plan.answers) == {ex.id for ex in official.exercises} - {"00.accuracy"}
    assert any("matched by their content" in n for n in plan.notes)
    assert [c.role for c in plan.cells].count("check") == sum(ex.kind == "code" for ex in official.exercises)


def test_check_cells_call_a_fresh_engine_whatever_check_means():
    src = ('from course_utils.checks import check\ncheck("00.a", f)\nimport course_utils.checks as C\n'
           'C.check("00.b", g, seed=3)\nrun_check("00.a", f)\n')
    out = instrument_check_cell(src, "00", seed=1)
    body = out.split("# --- end of grader code")[1]
    assert body.count(GRADER_CHECK + "(") == 2 and "run_check('00.a', f)" in body
    assert "spec_from_file_location" in out and "seed=seed + 1" in out
    magic = instrument_check_cell('%time check("00.a", f)', "00")
    assert GRADER_CHECK in magic.split("# --- end of grader code")[1]
    compile(out, "cell", "exec")
    assert CHECK_RE.search(src)


def test_fresh_engine_ignores_patched_modules(tmp_path):
    """In a plain interpreter: patch every public entry point, the fresh engine still fails a wrong answer."""
    prelude = instrument_check_cell('check("00.accuracy", accuracy)', "00")
    code = ("import course_utils.checks as C, course_utils.checks._core as core, os\n"
            "C.check = core.check = core.run_check = lambda *a, **k: None\n"
            "os.environ['COURSE_GRADING'] = '0'\ncheck = lambda *a, **k: None\n"
            "def accuracy(a, b):\n    return 1.0\n" + prelude)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and "CheckFailed" in proc.stderr and "wrong value" in proc.stderr


def test_check_calls_in_the_hidden_block_are_marked():
    src = ('check("00.accuracy", accuracy)\n### BEGIN HIDDEN TESTS\ncheck("00.accuracy", accuracy, seed=9173)\n'
           'assert accuracy([1], [1]) == 1\n### END HIDDEN TESTS\ncheck("00.standardize", standardize)\n')
    assert hidden_lines(src) == {3, 4}
    body = instrument_check_cell(src, "00").split("# --- end of grader code")[1]
    calls = [ln for ln in body.splitlines() if GRADER_CHECK + "(" in ln]
    assert len(calls) == 3
    assert ["_course_hidden=True" in ln for ln in calls] == [False, True, False]


def test_a_failed_hidden_check_names_its_case(tmp_path):
    """In a plain interpreter: the hidden check's CheckFailed says it is the instructor's and names the case."""
    src = ('check("00.accuracy", accuracy)\n### BEGIN HIDDEN TESTS\ncheck("00.accuracy", accuracy, seed=9173)\n'
           '### END HIDDEN TESTS\n')
    code = ("import sys\nimport numpy as np\n"
            "def accuracy(a, b):\n"  # right in the public check, wrong in the hidden one
            "    f = sys._getframe(1)\n"
            "    while f is not None and not f.f_locals.get('_course_hidden'):\n        f = f.f_back\n"
            "    right = float(np.mean(np.asarray(a) == np.asarray(b)))\n"
            "    return right if f is None else right + 0.25\n" + instrument_check_cell(src, "00"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()
    error = next(ln for ln in last if ln.startswith("_course_grader_") or "CheckFailed:" in ln)
    assert INSTRUCTOR_TAG in error and "00.accuracy" in error and re.search(r"case \d+/\d+", error), error
    assert proc.stdout.count("✓") == 1  # the public check passed first


# ----------------------------------------------------------------------------- rows
def _plan_and_outcomes(official, student, outcomes_by_role):
    """A plan and made-up outcomes: ``ok`` (with the grader's proof for check cells) unless given."""
    plan = assemble(student, official)
    outcomes = []
    for cell in plan.cells:
        key = (cell.role, cell.exercise or (cell.checks[0] if cell.checks else None))
        proof = [passed_marker(plan.nonce, ex) for ex in cell.checks]
        outcomes.append(outcomes_by_role.get(key, Outcome(status="ok", markers=proof)))
    return plan, outcomes


def test_rows_follow_the_all_or_nothing_rule(official, student):
    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nx = 1"  # attempted
    student.cells[_find(student, r"^### EXERCISE 00\.accuracy")].source += "\ny = 1"
    plan, outcomes = _plan_and_outcomes(official, student, {
        ("exercise", "00.standardize"): Outcome(status="error", ename="ValueError", evalue="late"),
        ("check", "00.accuracy"): Outcome(status="error", ename="AssertionError", evalue=""),
    })
    rows = {r.exercise: r for r in exercise_rows(official, "s", plan, outcomes)}
    # the checks passed although the cell raised afterwards: points (the rule is about check cells)
    assert (rows["00.standardize"].status, rows["00.standardize"].points) == ("passed", 2)
    assert rows["00.accuracy"].status == "failed"
    assert rows["00.accuracy"].message == "an instructor test failed (AssertionError) in the check of 00.accuracy"
    assert rows["00.fast_mode"].status == "not_attempted"


def test_a_check_cell_that_succeeds_without_its_check_earns_nothing(official, student):
    student.cells[_find(student, r"^### EXERCISE 00\.accuracy")].source += "\ny = 1"
    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nz = 1"  # attempted
    plan, outcomes = _plan_and_outcomes(official, student, {("check", "00.accuracy"): Outcome(status="ok")})
    rows = {r.exercise: r for r in exercise_rows(official, "s", plan, outcomes)}
    assert rows["00.accuracy"].status == "error" and "input transformer" in rows["00.accuracy"].message
    assert rows["00.standardize"].status == "passed"


def test_rows_after_a_dead_kernel_say_so(official, student):
    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nx = 1"
    dead = Outcome(status="kernel_died", detail="the kernel process was killed by signal SIGSEGV")
    plan, outcomes = _plan_and_outcomes(official, student, {})
    first = next(i for i, c in enumerate(plan.cells) if c.exercise == "00.standardize")
    outcomes[first:] = [dead] * (len(outcomes) - first)  # the kernel died in the exercise cell
    rows = {r.exercise: r for r in exercise_rows(official, "s", plan, outcomes)}
    assert rows["00.standardize"].status == "kernel_died" and "SIGSEGV" in rows["00.standardize"].message
    assert {r.status for e, r in rows.items() if e != "00.standardize"} == {"not_attempted"}  # as handed out


def test_a_grader_bug_still_gives_every_row(official, monkeypatch, tmp_path):
    import course_utils.grade._grader as grader

    path = tmp_path / "00_setup.ipynb"
    path.write_text((ROOT / "notebooks" / "00_setup.ipynb").read_text())
    monkeypatch.setattr(grader, "assemble", lambda *a, **k: 1 / 0)
    res = grade_submission(official, grader.Submission("eve", path), Limits())
    assert [r.status for r in res.rows] == ["grader_error"] * len(official.exercises)
    assert "ZeroDivisionError" in res.rows[0].message


def test_rows_name_the_case_of_a_failed_instructor_test(official, student):
    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nx = 1"
    student.cells[_find(student, r"^### EXERCISE 00\.accuracy")].source += "\ny = 1"
    case = "case 4/9 [columns of very different scales]: standardize(...): wrong value"
    failure = "✗ 00.standardize: instructor test (same checks, other data), " + case
    plan, outcomes = _plan_and_outcomes(official, student, {
        ("check", "00.standardize"): Outcome(status="error", ename="CheckFailed", evalue=INSTRUCTOR_TAG + failure),
        ("check", "00.accuracy"): Outcome(status="error", ename="AssertionError",
                                          evalue="accuracy is the share of equal labels"),
    })
    rows = {r.exercise: r for r in exercise_rows(official, "s", plan, outcomes)}
    assert rows["00.standardize"].status == "failed"
    assert rows["00.standardize"].message == ("an instructor (hidden) test failed in the check of "
                                              "00.standardize: " + case)
    assert rows["00.accuracy"].message == ("an instructor test failed (AssertionError) in the check of "
                                           "00.accuracy: accuracy is the share of equal labels")


def _official_index(plan, role="setup"):
    return next(i for i, c in enumerate(plan.cells) if c.role == role)


def test_rows_when_an_official_cell_stopped_the_run(official, student):
    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nx = 1"
    plan, outcomes = _plan_and_outcomes(official, student, {})
    i = _official_index(plan)
    outcomes[i] = Outcome(status="kernel_died", detail="the kernel process was killed by signal SIGKILL",
                          official=True)
    for j in range(i + 1, len(outcomes)):
        outcomes[j] = Outcome(status="kernel_died", detail=f"not run: ... (cell {i + 1} of the graded run)")
    rows = {r.exercise: r for r in exercise_rows(official, "s", plan, outcomes, retried=True)}
    assert rows["00.standardize"].status == "kernel_died"
    assert "set-up cell" in rows["00.standardize"].message and "not an exercise" in rows["00.standardize"].message
    assert "second time" in rows["00.standardize"].message
    assert rows["00.accuracy"].status == "not_attempted"  # unchanged stub: nothing to grade anyway
    assert "set-up cell" in retry_reason(official, plan, outcomes)


def test_a_run_stopped_in_an_official_cell_is_retried_once(official, student, monkeypatch, tmp_path):
    import course_utils.grade._grader as grader

    student.cells[_find(student, r"^### EXERCISE 00\.standardize")].source += "\nx = 1"
    path = tmp_path / "00_setup.ipynb"
    nbformat.write(student, path)
    runs = []

    def fake_run(plan, sub, limits, full, judge=None):  # first run: the set-up cell times out; second run: all fine
        runs.append(1)
        outcomes = [Outcome(status="ok", markers=[passed_marker(plan.nonce, e) for e in c.checks
                                                  if e == "00.standardize"]) for c in plan.cells]
        if len(runs) == 1:
            outcomes[_official_index(plan)] = Outcome(
                status="timeout", detail="the official cell used more than 600 CPU seconds", official=True)
        return outcomes, {"kernel": {}}

    monkeypatch.setattr(grader, "_run_plan", fake_run)
    res = grade_submission(official, grader.Submission("ann", path), Limits())
    assert len(runs) == 2 and len(res.attempts) == 1
    assert {r.exercise: r.status for r in res.rows if r.status != "not_attempted"} == {
        "00.standardize": "passed"}  # the only exercise attempted
    assert any("second time in a fresh kernel" in n and "set-up cell" in n and "timed out" in n for n in res.notes)

    runs.clear()  # the set-up cell times out every time: two runs, then the status
    monkeypatch.setattr(grader, "_run_plan", lambda plan, *a: (runs.append(1) or [
        Outcome(status="timeout", detail="the official cell used more than 600 CPU seconds", official=True)
        if c.role == "setup" else Outcome(status="error", ename="NameError", evalue="cu") for c in plan.cells],
        {"kernel": {}}))
    res = grade_submission(official, grader.Submission("ann", path), Limits())
    assert len(runs) == 2 and res.rows[0].status == "timeout" and "second time" in res.rows[0].message

    runs.clear()  # the learner's own endless loop: not retried
    monkeypatch.setattr(grader, "_run_plan", lambda plan, *a: (runs.append(1) or [
        Outcome(status="timeout", detail="the cell used more than 30 CPU seconds") if c.role == "exercise"
        else Outcome(status="error", ename="NameError", evalue="x") if c.role == "check"
        else Outcome(status="ok") for c in plan.cells], {"kernel": {}}))
    res = grade_submission(official, grader.Submission("ann", path), Limits())
    assert len(runs) == 1 and not res.attempts and res.rows[0].status == "timeout"
    assert "your exercise cell" in res.rows[0].message


# ----------------------------------------------------------------------------- the kernel runner
def _run(cells, tmp_path, official=None, **limits):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env["PYTHONPATH"] = str(ROOT)
    env["IPYTHONDIR"] = str(tmp_path / ".ipython")
    return run_cells(cells, str(tmp_path), env, Limits(**limits), official=official)


BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}:\n    pass\nprint('burnt')"


def test_runner_limits_in_one_kernel(tmp_path):
    probe_net = (
        "import socket, threading\n"
        "for target in [('192.0.2.1', 80), ('example.com', 80)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=2)\n"
        "        print('reached', target)\n"
        "    except OSError as exc:\n"
        "        print('blocked', target[0])\n"
        "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1)\n"
        "client = socket.create_connection(server.getsockname(), timeout=2)\n"
        "print('loopback ok')\n")
    cells = [
        probe_net,
        "input('name? ')",
        "import numpy as np\nbig = np.ones(10**10)",
        "print('z' * 50_000)",
        "while True:\n    pass",
        "print('still alive')",
        "import ctypes\nctypes.string_at(0)",
        "print('never')",
    ]
    report = _run(cells, tmp_path, cell_timeout=3, total_timeout=60, memory_mb=1500, keep_output_chars=1000)
    net, stdin, memory, output, loop, alive, segv, after = report.outcomes
    assert net.status == "ok", net
    assert "blocked 192.0.2.1" in net.stdout and "blocked example.com" in net.stdout
    assert "loopback ok" in net.stdout and "reached" not in net.stdout
    assert stdin.ename == "StdinNotImplementedError"
    assert (memory.status, memory.ename) == ("error", "MemoryError")
    assert output.status == "ok" and len(output.stdout) == 1000 and output.output_bytes == 50_001
    assert loop.status == "timeout" and "interrupted" in loop.detail
    assert alive.stdout == "still alive\n"
    assert segv.status == "kernel_died" and "SIGSEGV" in segv.detail
    assert after.status == "kernel_died" and after.detail.startswith("not run")
    assert "RLIMIT_DATA=1500" in report.kernel["limits"]


def test_runner_counts_cpu_time_with_a_wall_clock_backstop(tmp_path):
    """1 CPU second per learner cell, with a 20 s wall-clock backstop (room for a loaded machine)."""
    cells = [
        "import time\ntime.sleep(3)\nprint('slept')",  # 3 s of wall clock, no CPU: within the limit
        "while True:\n    pass",  # CPU: interrupted after 1 CPU second
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'while True: pass'])",  # a child's CPU counts
        BURN.format(s=3),  # an official cell: its own, larger limit
        "import time\ntime.sleep(600)",  # asleep: the wall-clock backstop ends it
        "print('after')",
    ]
    report = _run(cells, tmp_path, official=[False, False, False, True, False, False], cell_timeout=1,
                  official_timeout=60, total_timeout=100, wall_factor=20, min_wall=1)
    sleep, loop, child, official, asleep, after = report.outcomes
    assert sleep.status == "ok" and sleep.stdout == "slept\n" and sleep.cpu_seconds < 1, sleep
    assert loop.status == "timeout" and "more than 1 CPU seconds" in loop.detail and loop.cpu_seconds >= 1, loop
    assert child.status == "timeout" and "CPU seconds" in child.detail, child
    assert official.status == "ok" and official.official and official.cpu_seconds > 2.9, official
    assert asleep.status == "timeout" and "20 s of wall-clock time" in asleep.detail, asleep
    assert after.stdout == "after\n"


def test_runner_kills_a_cell_that_ignores_interrupts(tmp_path):
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n        pass"
    report = _run([stubborn, "print(1)"], tmp_path, cell_timeout=2, interrupt_grace=1, total_timeout=30,
                  wall_factor=1, min_wall=3)
    assert [o.status for o in report.outcomes] == ["timeout", "timeout"]
    assert "ignored the interrupt" in report.outcomes[0].detail
    assert report.outcomes[1].detail.startswith("not run")


def test_runner_total_timeout_counts_only_the_learners_cells(tmp_path):
    cells = ["import time\nfor _ in range(100):\n    print('y' * 200_000)\n    time.sleep(0.05)",
             BURN.format(s=4), "while True:\n    pass", "print(1)"]
    report = _run(cells, tmp_path, official=[False, True, False, False], cell_timeout=30, total_timeout=3,
                  max_output_mb=1)
    assert [o.status for o in report.outcomes] == ["output_limit", "ok", "total_timeout", "total_timeout"]
    assert "3 CPU seconds allowed for the whole notebook" in report.outcomes[2].detail
    assert report.outcomes[1].stdout == "burnt\n"  # 4 CPU s in an official cell: not counted


def test_runner_reports_a_kernel_that_cannot_start(tmp_path, monkeypatch):
    import course_utils.grade._runner as runner

    monkeypatch.setattr(runner.sys, "executable", "/bin/false")
    report = _run(["print(1)"], tmp_path, startup_timeout=10)
    assert report.outcomes[0].status == "kernel_died" and "while starting" in report.outcomes[0].detail


def test_fixture_cases_cover_the_documented_statuses():
    spec = importlib.util.spec_from_file_location("make_submissions", ROOT / "tests/fixtures/make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = {status for rows in module.EXPECTED.values() for status, _ in rows.values()}
    assert seen <= set(STATUSES)
    # total_timeout and grader_error are tested above; uses_reference in tests/test_grade_sandbox.py
    assert set(STATUSES) - seen <= {"total_timeout", "grader_error", "uses_reference"}
    json.dumps(module.EXPECTED)


# ----------------------------------------------------------------------------- checks judged outside (issue 12)
def _judged_outside(exercise, answer, seed):
    import numpy as np

    from course_utils.checks import _core
    from course_utils.grade import _wire

    spec = _core.lookup(exercise)
    cases = list(spec.cases(np.random.default_rng(_core._seed_for(exercise, seed))))
    run = _core.run_answer(exercise, answer, _core.case_inputs(cases))
    return _core.judge(exercise, _wire.answer_from_record(_wire.answer_record(run)), seed, cases=cases)


@pytest.mark.parametrize("exercise, source", [
    ("00.standardize", "def f(x):\n    return (x - x.mean(axis=0)) / x.std(axis=0)"),
    ("00.standardize", "def f(x):\n    return (x - x.mean()) / x.std()"),  # a "Likely mistake"
    ("00.standardize", "def f(x):\n    x -= x.mean(axis=0)\n    return x / x.std(axis=0)"),  # in place
    ("00.standardize", "def f(x):\n    raise NotImplementedError()"),
    ("00.standardize", "def f(x):\n    return [list(r) for r in x]"),  # wrong type
    ("00.accuracy", "def f(a, b):\n    return float(np.mean(a == b))"),  # plain lists: the list mistake
    ("00.accuracy", "def f(a, b):\n    return 1 / 0"),
    ("01.logsumexp", "def f(z, axis=-1):\n    return np.log(np.exp(z).sum(axis=axis))"),
    ("01.huber_grad", "def f(r, delta=1.0):\n    return -np.clip(r, -delta, delta)"),  # sign flipped
    ("01.two_task_loss", "def f(*a, **k):\n    return 0.0"),
])
@pytest.mark.parametrize("seed", [0, 7])
def test_a_check_judged_outside_says_what_the_kernel_check_says(exercise, source, seed, monkeypatch):
    """run_answer (in the kernel) + the npz record + judge (in the grader) == run_check, message for message."""
    import numpy as np

    from course_utils.checks import _core

    # A fresh kernel's failure count (judge is called with failures=0): earlier tests in this process failed
    # these exercises on purpose, which would move run_check to the recipe tier of its hint.
    monkeypatch.setattr(_core, "_FAILURES", {})

    space = {"np": np}
    exec(source, space)  # noqa: S102 - test answers
    inside = _core.run_check(exercise, space["f"], seed=seed, record=False)
    outside = _judged_outside(exercise, space["f"], seed)
    assert (outside.passed, outside.message) == (inside.passed, inside.message)


def test_result_files_are_untrusted_data(tmp_path):
    import numpy as np

    from course_utils.grade import _wire

    good = tmp_path / "good.npz"
    _wire.dump({"got": (np.arange(3.0), {"k": [1, None, "x"]}, float("nan")), "obj": object()}, str(good))
    back = _wire.load(str(good))
    assert back["got"][1] == {"k": [1, None, "x"]} and np.isnan(back["got"][2])
    assert np.array_equal(back["got"][0], np.arange(3.0)) and repr(back["obj"]).startswith("<object")
    assert back["obj"] != back["obj"]  # a stand-in never matches anything
    with open(tmp_path / "pickled.npz", "wb") as fh:  # an object array needs pickle: refused
        np.savez(fh, meta=np.frombuffer(b'{"__nd__": 0}', dtype=np.uint8), a0=np.array([{}], dtype=object))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    os.symlink(good, tmp_path / "link.npz")
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "dir.npz").mkdir()
    deep = tmp_path / "deep.npz"
    with open(deep, "wb") as fh:
        np.savez(fh, meta=np.frombuffer(("[" * 200 + "]" * 200).encode(), dtype=np.uint8))
    for name in ("pickled", "garbage", "link", "fifo", "dir", "deep"):
        with pytest.raises(_wire.WireError):
            _wire.load(str(tmp_path / f"{name}.npz"))
    with pytest.raises(_wire.WireError, match="larger"):
        _wire.load(str(good), max_bytes=100)
    with pytest.raises(_wire.WireError):
        _wire.answer_from_record({"runs": [{"status": "passed"}]})  # not a status a run can have


def test_without_a_sandbox_the_grader_refuses_unless_told(tmp_path, monkeypatch):
    """Issue 12, item 7: a clear refusal naming the fix; --no-sandbox is said in the log and the feedback."""
    from course_utils.grade import _grader, _sandbox

    (tmp_path / "subs" / "ann").mkdir(parents=True)  # no notebook: no kernel needed
    monkeypatch.setattr(_sandbox, "unavailable", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(_grader.SandboxUnavailable, match="install bubblewrap.*--no-sandbox"):
        _grader.grade_folder(tmp_path / "subs", "00", tmp_path / "g.csv", root=ROOT, log=lambda s: None)
    assert not (tmp_path / "g.csv").exists()
    _grader.grade_folder(tmp_path / "subs", "00", tmp_path / "g.csv", root=ROOT, log=lambda s: None, sandbox=False)
    assert "WARNING: --no-sandbox" in (tmp_path / "g.log").read_text(encoding="utf-8")
    assert "WITHOUT the grader's sandbox" in (tmp_path / "feedback" / "ann.md").read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", "import sys, course_utils.grade._sandbox as s; "
                           "s.unavailable = lambda: 'no bwrap here'; from course_utils.grade.__main__ import main; "
                           f"sys.exit(main([{str(tmp_path / 'subs')!r}, '--lesson', '00', '--out', "
                           f"{str(tmp_path / 'h.csv')!r}]))"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "refusing to grade untrusted notebooks without a sandbox" in proc.stderr
    assert "apt-get install bubblewrap" in proc.stderr


def test_csv_cells_are_escaped_and_written_atomically(tmp_path):
    from course_utils.grade._grader import Row, StudentResult, _safe_name, csv_text, write_csv

    assert csv_text('=HYPERLINK("x")') == '\'=HYPERLINK("x")' and csv_text("-1") == "'-1" and csv_text("ok") == "ok"
    assert csv_text("a\x00b\nc") == "a b c"
    assert len(_safe_name("é" * 300).encode()) <= 80 and _safe_name("../../etc") == "etc"
    assert _safe_name("x" * 300) != _safe_name("x" * 299)
    (tmp_path / "g.csv.tmp").mkdir()  # a folder named like an old temporary file does not matter
    os.symlink(tmp_path / "victim", tmp_path / "g.csv")  # a link at the CSV's path is replaced
    write_csv(tmp_path / "g.csv", [StudentResult("@ann", "p", [Row("@ann", "00.a", 1, 1, "passed", "+x")])])
    assert not (tmp_path / "victim").exists() and not (tmp_path / "g.csv").is_symlink()
    assert "'@ann,00.a,1,1,passed,'+x" in (tmp_path / "g.csv").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "g.csv.tmp"]


def test_uses_reference_finds_the_package_answer_and_nothing_else():
    """Issue 12, item 3: the official solutions' own exercise cells never count as using the reference;
    the reference reached by import, alias or getattr does."""
    from course_utils.authoring import lessons
    from course_utils.grade._reference import references, uses_reference

    found_any = 0
    for path in lessons(ROOT):
        off = load_official(ROOT, path.name[:2])
        refs, aliases = references(off)
        found_any += len(refs)
        for ex in off.exercises:
            if ex.kind == "code":
                assert uses_reference(off.nb.cells[ex.cell_index].source, ex.id, refs, aliases) == "", ex.id
    assert found_any >= 20
    off = load_official(ROOT, "01")
    refs, aliases = references(off)
    assert refs["01.huber_grad"] == {"course_utils.losses.huber_grad"}
    for src in ("def huber_grad(r, delta=1.0):\n    return L.huber_grad(r, delta)",
                "from course_utils.losses import huber_grad as hg\ndef huber_grad(r, delta=1.0):\n    return hg(r, delta)",
                "import course_utils.losses as X\nf = getattr(X, 'huber_grad')",
                "%time import course_utils.losses\nhuber_grad = course_utils.losses.huber_grad"):
        assert uses_reference(src, "01.huber_grad", refs, aliases) == "course_utils.losses.huber_grad", src
    assert uses_reference("def huber(r, d=1.0):\n    return L.huber_grad(r, d)", "01.huber", refs, aliases) == ""


def test_torch_modules_never_travel_out_of_the_sandbox(tmp_path):
    """A module (torch.nn's own or the learner's) is an inert stand-in on the wire: exercises that return one
    have a probe that observes it where the answer ran; a record that names a module class is refused."""
    import json

    import numpy as np
    import torch

    from course_utils.grade import _wire

    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    _wire.dump({"m": (torch.nn.Linear(3, 2), seq)}, str(tmp_path / "ok.npz"))
    lin, back = _wire.load(str(tmp_path / "ok.npz"))["m"]
    assert isinstance(lin, _wire.Opaque) and isinstance(back, _wire.Opaque)
    assert not isinstance(back, torch.nn.Module) and back != back
    doc = {"__dict__": [["m", {"__torchmodule__": "Linear", "args": {"__dict__": []}}]]}
    with open(tmp_path / "bad.npz", "wb") as fh:
        np.savez(fh, meta=np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8))
    with pytest.raises(_wire.WireError):
        _wire.load(str(tmp_path / "bad.npz"))


def test_discover_hand_in_names_links_and_special_files(tmp_path, official):
    """Issue 12, item 6 without kernels: which file is graded for each way students hand in."""
    import unicodedata

    def nb(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        return path

    for student, name in (("a", "Copy of 00_setup.ipynb"), ("b", "00_setup (1).ipynb"), ("c", "00_setup-Copy1.ipynb"),
                          ("d", "alice_00_setup.ipynb"), ("e", "00_SETUP.IPYNB"), ("f", "00 setup.ipynb"),
                          (".g", "00_setup.ipynb"), ("_h", "00_setup.ipynb")):
        nb(tmp_path / student / name)
    nb(tmp_path / "two" / "00_setup-Copy1.ipynb")
    official_name = nb(tmp_path / "two" / "00_setup.ipynb")
    os.utime(official_name, (1, 1))  # older, but the official name
    (tmp_path / "dir" / "00_setup.ipynb").mkdir(parents=True)  # a folder named like a notebook
    nb(tmp_path / "dir" / "sub" / "00_mine.ipynb")
    (tmp_path / "link").mkdir()
    os.symlink("/etc/passwd", tmp_path / "link" / "00_setup.ipynb")
    os.symlink("/etc/passwd", tmp_path / "flat.ipynb")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "00_setup.ipynb")
    nb(tmp_path / unicodedata.normalize("NFC", "José") / "00_setup.ipynb")
    nb(tmp_path / unicodedata.normalize("NFD", "José") / "00_setup.ipynb")
    (tmp_path / ".git").mkdir()
    logged = []
    subs = {s.student: s for s in discover(tmp_path, official, log=logged.append)}
    for student in "abcdef":
        assert subs[student].path is not None and not subs[student].refused, student
    assert subs[".g"].path.name == subs["_h"].path.name == "00_setup.ipynb"  # dot/underscore names are graded
    assert subs["two"].path.name == "00_setup.ipynb" and "official file name" in subs["two"].note
    assert subs["two"].chosen_note and subs["dir"].path.name == "00_mine.ipynb"
    for student in ("link", "flat", "fifo"):
        assert subs[student].path is None and subs[student].refused, student
    assert "link" in subs["link"].refused and "regular file" in subs["fifo"].refused
    assert {"José", "José_"} <= set(subs) and all(unicodedata.is_normalized("NFC", s) for s in subs)
    assert ".git" not in subs and any(".git" in line for line in logged)
    with pytest.raises(ValueError, match="link"):
        from course_utils.grade._assemble import read_bytes

        read_bytes(tmp_path / "link" / "00_setup.ipynb")


def test_every_code_exercise_of_every_lesson_is_judged_outside_the_kernel():
    """Issue 12: no check's verdict is left to the learner's kernel. Every auto-graded exercise's cases are plain
    data or Build arguments, and every answer that is not data (a module, a tensor whose gradients matter, a
    model trained in place) is observed by a probe; the grader's calibration run on the official solution then
    confirms it per run (the sandbox suite and the closing note's measurements)."""
    import importlib

    from course_utils.checks import _core
    from course_utils.grade._split import Judge

    lessons = sorted(p.stem for p in (ROOT / "course_utils" / "checks").glob("lesson[0-9][0-9].py"))
    assert len(lessons) >= 12
    for name in lessons:
        importlib.import_module(f"course_utils.checks.{name}")
    judge = Judge()
    code = sorted(ex for ex in _core.REGISTRY if _core.lookup(ex).kind != "text")
    assert len(code) >= 56, code
    kept_inside = {ex: judge.reasons.get(ex) for ex in code if not judge._decide(ex)}
    assert kept_inside == {}, kept_inside
