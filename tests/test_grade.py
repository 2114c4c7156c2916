"""The instructor grader end to end: solutions get full marks, student versions get zero, and a folder
of adversarial lesson-00 submissions gives exactly the expected rows within a bounded time."""
from __future__ import annotations

import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.authoring import exercises, lessons
from course_utils.grade import COLUMNS, STATUSES
from course_utils.grade._grader import grade_folder
from course_utils.grade._runner import Limits
from sandboxhelp import CLI_FLAGS, SANDBOX

ROOT = Path(__file__).resolve().parents[1]
LESSONS = [p.name for p in lessons(ROOT)]


def _load_fixture_module():
    spec = importlib.util.spec_from_file_location("make_submissions", ROOT / "tests/fixtures/make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        return list(reader)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


# ----------------------------------------------------------------------------- every lesson
@pytest.fixture(scope="module", params=LESSONS)
def graded_lesson(request, tmp_path_factory):
    """Grade the solution and the unedited student version of one lesson in one run (2 workers)."""
    name = request.param
    subs = tmp_path_factory.mktemp(f"subs{name[:2]}")
    (subs / "solution").mkdir()
    shutil.copy(ROOT / "solutions" / name, subs / "solution" / name)
    student_nb = ROOT / "notebooks" / name
    if student_nb.exists():
        (subs / "blank").mkdir()
        shutil.copy(student_nb, subs / "blank" / name)
    out = subs.parent / f"grades{name[:2]}.csv"
    limits = Limits(cell_timeout=600, total_timeout=900)
    results = grade_folder(subs, name[:2], out, workers=2, limits=limits, root=ROOT, log=lambda s: None,
                           sandbox=SANDBOX)
    nb = nbformat.read(ROOT / "solutions" / name, as_version=4)
    return {"name": name, "exercises": exercises(nb, name), "rows": _read_csv(out),
            "seconds": {r.student: r.seconds for r in results}}


def test_solutions_get_full_marks(graded_lesson):
    rows = [r for r in graded_lesson["rows"] if r["student"] == "solution"]
    assert [r["exercise"] for r in rows] == [ex.id for ex in graded_lesson["exercises"]]
    for ex, row in zip(graded_lesson["exercises"], rows):
        if ex.kind == "markdown":
            assert (row["status"], row["points"]) == ("manual", ""), row
        else:
            assert row["status"] == "passed", row
            assert float(row["points"]) == float(row["max_points"]) == ex.points, row


def test_student_versions_get_zero(graded_lesson):
    rows = [r for r in graded_lesson["rows"] if r["student"] == "blank"]
    if not rows:
        pytest.skip(f"notebooks/{graded_lesson['name']} not built yet")
    assert len(rows) == len(graded_lesson["exercises"])
    for row in rows:
        assert row["points"] == "0" and row["status"] not in ("passed", "manual", "grader_error"), row
    if graded_lesson["name"].startswith("00_"):
        assert {r["status"] for r in rows} == {"not_attempted"}


# ----------------------------------------------------------------------------- adversarial folder
ADVERSARIAL_LIMIT_S = 600  # wall-clock bound for the whole folder on 2 busy cores (measured: see docs/instructors.md)


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory):
    fixtures = _load_fixture_module()
    subs = fixtures.write(tmp_path_factory.mktemp("adversarial") / "submissions")
    before = _snapshot(subs)
    out = subs.parent / "grades.csv"
    feedback = subs.parent / "feedback"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils.grade", str(subs), "--lesson", "00", "--out", str(out),
         "--feedback-dir", str(feedback), "--workers", "2", "--cell-timeout", "15", "--timeout", "150",
         "--memory-mb", "3000", "--root", str(ROOT), *CLI_FLAGS],
        capture_output=True, text=True, timeout=ADVERSARIAL_LIMIT_S + 300, cwd=subs.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.monotonic() - t0
    print(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    return {"expected": fixtures.EXPECTED, "rows": _read_csv(out), "seconds": seconds, "feedback": feedback,
            "unchanged": _snapshot(subs) == before, "log": proc.stderr}


def test_adversarial_rows_are_exactly_the_expected_ones(adversarial):
    got = {(r["student"], r["exercise"]): (r["status"], r["points"]) for r in adversarial["rows"]}
    want = {(student, ex): (status, "" if points is None else f"{points:g}")
            for student, rows in adversarial["expected"].items() for ex, (status, points) in rows.items()}
    assert len(adversarial["rows"]) == len(want), "a row was lost or duplicated"
    mismatches = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not mismatches, f"(got, expected): {mismatches}\n{adversarial['log']}"
    assert {r["status"] for r in adversarial["rows"]} <= set(STATUSES)


def test_adversarial_messages_explain_what_happened(adversarial):
    msg = {(r["student"], r["exercise"]): r["message"] for r in adversarial["rows"]}
    assert "exited with code 1" in msg["kernel_crash", "00.accuracy"]
    assert "SystemExit" in msg["sys_exit", "00.standardize"]
    assert "more than 15 CPU seconds" in msg["infinite_loop", "00.standardize"]
    assert "took longer than" in msg["infinite_loop", "00.accuracy"]  # the check's own time limit
    for student in ("patched_check", "patched_engine", "altered_check"):
        assert "wrong value" in msg[student, "00.standardize"], student
    assert "numpy.allclose" in msg["patched_numpy", "00.standardize"]
    assert "MemoryError" in msg["memory_hog", "00.standardize"]
    assert "3000 MB" in msg["memory_hog", "00.accuracy"]
    assert "printed more than" in msg["huge_output", "00.accuracy"]
    assert "NotJSONError" in msg["invalid_json", "00.standardize"]
    assert "01_losses" in msg["wrong_lesson", "00.standardize"]
    assert "set-up" not in msg["official_crash", "00.standardize"]
    assert "code cell" in msg["official_crash", "00.standardize"] and "second time" in msg["official_crash",
                                                                                          "00.standardize"]
    for row in adversarial["rows"]:
        assert "\n" not in row["message"] and len(row["message"]) <= 1500


def test_adversarial_run_is_bounded_and_leaves_submissions_alone(adversarial):
    assert adversarial["seconds"] < ADVERSARIAL_LIMIT_S, adversarial["log"]
    assert adversarial["unchanged"], "the grader wrote into the submissions folder"
    files = sorted(p.stem for p in adversarial["feedback"].glob("*.md"))
    assert files == sorted(adversarial["expected"])
    text = (adversarial["feedback"] / "partial.md").read_text(encoding="utf-8")
    assert re.search(r"Total: 1 / \d+ points", text) and "00.standardize - failed" in text
    text = (adversarial["feedback"] / "official_crash.md").read_text(encoding="utf-8")
    assert "graded a second time in a fresh kernel" in text  # the retry is reported in the feedback
    assert "run twice" in adversarial["log"] and adversarial["log"].count("run twice") == 1


# ----------------------------------------------------------------------------- a loaded machine
BURNER = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Grade correct submissions (and two that fail only an instructor test) while two other processes
    keep the CPUs busy. The course root is the fixture's copy of lesson 00 with known hidden tests."""
    fixtures = _load_fixture_module()
    base = tmp_path_factory.mktemp("loaded")
    root = fixtures.write_root(base / "course")
    subs = fixtures.write_loaded(base / "submissions", root)
    out = base / "grades.csv"
    burners = [subprocess.Popen([sys.executable, "-c", BURNER.format(s=900)]) for _ in range(2)]
    try:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "course_utils.grade", str(subs), "--lesson", "00", "--out", str(out),
             "--workers", "2", "--cell-timeout", "30", "--timeout", "150", "--root", str(root), *CLI_FLAGS],
            capture_output=True, text=True, timeout=1200, cwd=base, env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds = time.monotonic() - t0
    finally:
        for b in burners:
            b.kill()
            b.wait()
    print(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    return {"expected": fixtures.LOADED_EXPECTED, "rows": _read_csv(out), "log": proc.stderr,
            "seconds": seconds, "hidden_data": fixtures.HIDDEN_DATA, "feedback": base / "feedback"}


def test_correct_submissions_get_full_marks_on_a_loaded_machine(loaded):
    got = {(r["student"], r["exercise"]): (r["status"], r["points"]) for r in loaded["rows"]}
    want = {(student, ex): (status, "" if points is None else f"{points:g}")
            for student, rows in loaded["expected"].items() for ex, (status, points) in rows.items()}
    assert got == want, loaded["log"]


def test_a_failed_instructor_test_names_the_property(loaded):
    msg = {(r["student"], r["exercise"]): r["message"] for r in loaded["rows"]}
    check = msg["hidden_check", "00.standardize"]
    assert re.match(r"an instructor \(hidden\) test failed in the check of 00\.standardize: case \d+/\d+ \[.+\]: ",
                    check), check
    plain = msg["hidden_assert", "00.accuracy"]
    assert plain == ("an instructor test failed (AssertionError) in the check of 00.accuracy: accuracy is the "
                     "share of positions where the labels agree"), plain
    text = (loaded["feedback"] / "hidden_assert.md").read_text(encoding="utf-8")
    assert "share of positions" in text
    for row in loaded["rows"]:
        assert loaded["hidden_data"] not in row["message"]
    for path in loaded["feedback"].glob("*.md"):
        assert loaded["hidden_data"] not in path.read_text(encoding="utf-8")


def test_four_graders_in_parallel_give_correct_submissions_full_marks(tmp_path):
    """Issue 12, item 5: four grader processes at once on a 2-core machine (each with its calibration run and
    two kernels); the CPU-time limits keep the load from failing correct work."""
    fixtures = _load_fixture_module()
    procs = []
    for g in range(4):
        subs = tmp_path / f"subs{g}"
        for s in ("a", "b"):
            (subs / s).mkdir(parents=True)
            nbformat.write(fixtures.solved(), subs / s / fixtures.NAME)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "course_utils.grade", str(subs), "--lesson", "00", "--out",
             str(tmp_path / f"g{g}.csv"), "--feedback-dir", str(tmp_path / f"fb{g}"), "--workers", "1",
             "--cell-timeout", "30", "--timeout", "150", "--root", str(ROOT), *CLI_FLAGS],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)}))
    logs = [p.communicate(timeout=1500)[0] for p in procs]
    for g, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, log
        rows = _read_csv(tmp_path / f"g{g}.csv")
        got = {(r["student"], r["exercise"]): r["status"] for r in rows}
        assert got == {(s, ex): ("passed" if ex in ("00.standardize", "00.accuracy") else "not_attempted")
                       for s in ("a", "b") for ex in fixtures.EXERCISES}, log
