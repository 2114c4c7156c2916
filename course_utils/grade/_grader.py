"""Grade a folder of submissions into rows, ``grades.csv`` and feedback files (grader, lesson 00)."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..authoring import strip_cell
from ._assemble import (INSTRUCTOR_TAG, GradingSetupError, Official, Plan, Submission, assemble, discover,
                        load_official, passed_marker, read_bytes, read_submission, wrong_lesson)
from ._runner import Limits, Outcome

from . import COLUMNS
#: Outcomes of a cell that say the kernel (or the grader) stopped it, in the words of a status.
HARD = ("timeout", "total_timeout", "kernel_died", "memory_limit", "output_limit", "grader_error")
#: Outcomes of an *official* cell after which the submission is graded once more in a fresh kernel.
RETRY = ("timeout", "total_timeout", "kernel_died")
#: Environment variables of the instructor's shell that are passed on to the graded kernels.
KEEP_COURSE_VARS = ("COURSE_DATA", "COURSE_CACHE", "COURSE_COLAB_ROOT")
MESSAGE_CHARS = 1500


class SandboxUnavailable(GradingSetupError):
    """No sandbox can be built here and ``--no-sandbox`` was not given."""


@dataclass
class Row:
    student: str
    exercise: str
    points: float | None  # None: graded by hand (status manual)
    max_points: float
    status: str
    message: str

    def csv(self) -> list[str]:
        fmt = lambda x: "" if x is None else f"{x:g}"  # noqa: E731
        return [self.student, self.exercise, fmt(self.points), fmt(self.max_points), self.status,
                _one_line(self.message)[:MESSAGE_CHARS]]


@dataclass
class StudentResult:
    student: str
    path: str
    rows: list[Row]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # written answers, for the feedback file
    kernel: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0  # CPU time of the graded kernel's process tree, all cells (last run)
    official_cpu_seconds: float = 0.0  # the part of it spent in official cells (set-up, the lesson's code)
    attempts: list[str] = field(default_factory=list)  # why a run was repeated (at most one entry)
    chosen: str = ""  # which of several notebooks was graded, and why (also shown in the CSV)


def _answer_text(source: str) -> str:
    """A written answer without its exercise header and marker lines."""
    lines = [ln for ln in source.splitlines() if not ln.strip().startswith(("### EXERCISE", "### BEGIN", "### END"))]
    return "\n".join(lines).strip()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _rows(official: Official, student: str, status: str, message: str) -> list[Row]:
    return [Row(student, ex.id, 0.0, ex.points, status, message) for ex in official.exercises]


# ----------------------------------------------------------------------------- rows from outcomes
def _check_message(stdout: str, exercise: str) -> str:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(("✓", "✗")) and exercise in ln]
    return lines[-1] if lines else ""


def _not_attempted(answer: str, official: Official, exercise_id: str) -> bool:
    ex = next(e for e in official.exercises if e.id == exercise_id)
    stub = strip_cell(official.nb.cells[ex.cell_index].source, ex.kind)
    norm = lambda s: "\n".join(x.rstrip() for x in s.strip().splitlines())  # noqa: E731
    return norm(answer) == norm(stub)


def _from_error(o: Outcome, where: str, exercises: tuple[str, ...] = ()) -> tuple[str, str]:
    """(status, message) for a cell that raised.

    A failed check names the case and the property (its label). When the failing check call sits in
    the instructor's hidden-test block (the same check with another seed) the message says so and keeps
    the check's own text from "case k/n [property]" on. A failed bare ``assert`` in a check cell is
    reported as an instructor test of the exercise, with the assert's own message if it has one, never
    the assert's source (it would show the hidden data).
    """
    value = o.evalue.strip()
    if o.ename == "NotImplementedError":
        return "not_attempted", "not attempted: the code still raises NotImplementedError"
    if o.ename == "MemoryError":
        return "memory_limit", f"{where} ran out of memory (MemoryError: {value})"
    if o.ename == "KeyboardInterrupt":
        return "timeout", f"{where} was interrupted"
    if o.ename == "CheckFailed":
        if "not implemented yet" in value:
            return "not_attempted", value.replace(INSTRUCTOR_TAG, "", 1)
        if value.startswith(INSTRUCTOR_TAG):
            value = value[len(INSTRUCTOR_TAG):].strip()
            found = re.search(r"\b\d\d\.[A-Za-z_]\w*", value[:80])
            name = found.group(0) if found else " / ".join(exercises) or "this exercise"
            case = re.search(r"case \d+/\d+", value)  # "case k/n [property]: what went wrong": the part we show
            shown = value[case.start():] if case else value
            return "failed", f"an instructor (hidden) test failed in the check of {name}: {shown}"
        return "failed", value
    if o.ename == "AssertionError" and where == "the check cell":
        which = " / ".join(exercises) or "this exercise"
        return "failed", (f"an instructor test failed (AssertionError) in the check of {which}"
                          + (f": {value}" if value else ""))
    hint = ""
    if o.ename == "NameError":
        hint = " (is it defined in the exercise cell, and does that cell run without errors?)"
    return "error", f"{where} raised {o.ename}: {value}{hint}"


def official_failure(plan: Plan, outcomes: list[Outcome]) -> int | None:
    """Index of the first official cell (set-up or other non-exercise cell) that timed out or in which
    the kernel died or stopped - not because an earlier cell had already stopped it."""
    for i, (cell, o) in enumerate(zip(plan.cells, outcomes)):
        if cell.role in ("setup", "official") and o.status in RETRY and not o.detail.startswith("not run"):
            return i
    return None


def _official_name(official: Official, cell) -> str:
    codes = [c.get("id") for c in official.nb.cells if c.cell_type == "code"]
    number = codes.index(cell.official_id) + 1 if cell.official_id in codes else 0
    if cell.role == "setup":
        return "the lesson's set-up cell"
    return f"the lesson's code cell {number}" if number else "an official cell of the lesson"


def exercise_rows(official: Official, student: str, plan: Plan, outcomes: list[Outcome], *,
                  retried: bool = False) -> list[Row]:
    """One row per exercise, from the rebuilt notebook and what each of its cells did (lesson 00).

    ``retried``: these outcomes come from the second run of the submission (the first one stopped in an
    official cell); an exercise that this run's official failure kept from being checked says so.
    """
    rows = []
    broken = official_failure(plan, outcomes)
    judged_outside = {call.exercise for call in plan.split.values()}
    for ex in official.exercises:
        def row(status: str, message: str, points: float | None = 0.0) -> Row:
            return Row(student, ex.id, points, ex.points, status, message)

        answer = plan.answers.get(ex.id)
        if ex.kind == "markdown":
            if ex.id in plan.missing:
                rows.append(row("missing", "the written answer's cell (first line "
                                f"'### EXERCISE {ex.id} ...') was not found"))
            elif _not_attempted(answer or "", official, ex.id):
                rows.append(row("not_attempted", "no written answer"))
            else:
                words = len(_answer_text(answer or "").split())
                rows.append(row("manual", f"written answer ({words} words): graded by the instructor", None))
            continue
        cells = list(zip(plan.cells, outcomes))
        mine = [o for c, o in cells if c.role == "exercise" and c.exercise == ex.id]
        checks = [o for c, o in cells if c.role == "check" and ex.id in c.checks]
        proof = passed_marker(plan.nonce, ex.id)
        ran_ok = bool(checks) and all(o.status == "ok" for o in checks)
        passed = ran_ok and all(proof in o.markers for o in checks)
        if ex.id in plan.missing:
            extra = (" Its checks passed on code elsewhere in the notebook: review by hand." if passed else "")
            rows.append(row("missing", f"the exercise cell (first line '### EXERCISE {ex.id} ...') was not "
                                       f"found: deleted, or its first line was changed.{extra}"))
            continue
        if passed and ex.id not in judged_outside and answer is not None and _not_attempted(answer, official, ex.id):
            # a pass proven only inside the kernel, for a cell left as handed out: never trusted
            rows.append(row("not_attempted", "not attempted: the exercise cell is unchanged (its check reported "
                                             "a pass from code elsewhere in the notebook: review by hand)"))
            continue
        if passed:
            msgs = [m for o in checks if (m := _check_message(o.stdout, ex.id))]
            rows.append(row("passed", "; ".join(msgs) or "passed", ex.points))
            continue
        if answer is not None and _not_attempted(answer, official, ex.id):  # whatever else happened
            rows.append(row("not_attempted", "not attempted: the exercise cell is unchanged"))
            continue
        if ran_ok:  # every check cell "succeeded" but the grader's check did not report a pass
            rows.append(row("error", "the check cell ran without error but its check did not: something in "
                                     "the notebook changes how cells run (e.g. an IPython input transformer or "
                                     "a patched run_cell), so the grader cannot award points"))
            continue
        own = mine[0] if mine else Outcome(status="ok")
        own_at = next((i for i, c in enumerate(plan.cells) if c.role == "exercise" and c.exercise == ex.id), None)
        first_check = next((i for i, c in enumerate(plan.cells) if c.role == "check" and ex.id in c.checks), None)
        verdict = any(o.status == "error" and o.ename == "CheckFailed" for o in checks)  # the check did run
        if (broken is not None and first_check is not None and broken < first_check and not verdict
                and (own_at is None or own_at > broken or own.status == "ok")):
            o = outcomes[broken]
            again = " It happened again when the submission was graded a second time in a fresh kernel." \
                if retried else ""  # the instructor can regrade with a larger --official-timeout
            where = _official_name(official, plan.cells[broken])
            rows.append(row(o.status, f"not graded: the run stopped in {where} (the lesson's own code, not an "
                                      f"exercise) before this exercise's check: {o.detail}.{again}"))
            continue
        if own.status in HARD:
            rows.append(row(own.status, f"your exercise cell: {own.detail}"))
            continue
        if own.status == "error" and own.ename != "NotImplementedError":
            status, message = _from_error(own, "your exercise cell")
            rows.append(row(status, message))
            continue
        bad = next((o for o in checks if o.status != "ok"), None)
        if bad is None:  # no check cell ran at all
            rows.append(row("error", "the exercise's check cell did not run"))
        elif bad.status == "error":
            status, message = _from_error(bad, "the check cell", tuple(next(
                c.checks for c, o in cells if o is bad)))
            rows.append(row(status, message))
        elif bad.status in HARD:
            rows.append(row(bad.status, f"the check cell: {bad.detail}"))
        else:
            rows.append(row("error", f"the check cell: {bad.status} {bad.detail}".strip()))
    return rows


# ----------------------------------------------------------------------------- one submission
def kernel_env(scratch: str, full: bool) -> dict:
    """The environment of a graded kernel: the instructor's, minus course settings, plus grading ones."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COURSE_") or k in KEEP_COURSE_VARS}
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    env.update({
        "COURSE_GRADING": "1", "COURSE_HEADLESS": "1", "COURSE_FAST": "0" if full else "1",
        "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "IPYTHONDIR": os.path.join(scratch, ".ipython"),
        "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def _kill_tree(pid: int) -> None:
    try:
        import psutil

        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except Exception:
        procs = []
    for p in procs:
        try:
            p.kill()
        except Exception:
            pass


def _worker_preexec() -> None:  # pragma: no cover - runs in the child
    """The worker dies with the grader (Linux), so a killed grader leaves no kernel behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:
        pass


#: Largest result file of a worker the grader reads (bytes).
MAX_RESULT_BYTES = 64 * 2**20


def read_json_file(path: str, max_bytes: int) -> object:
    """JSON from a regular file, never through a link, read with a size cap; raise ValueError otherwise."""
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes")
    return json.loads(data.decode("utf-8"))


def run_in_worker(cells: list[str], scratch: str, env: dict, limits: Limits,
                  official: list[bool] | None = None, workdir: str | None = None) -> dict:
    """Run cells in a separate worker process; always returns a report with one outcome per cell.

    ``official[i]``: cell ``i`` is official code (set-up, the lesson's own cells), run under
    ``limits.official_timeout`` outside the learner's limits. ``scratch`` is the kernel's folder (the only
    one a sandboxed kernel can write); ``workdir`` the worker's own (job and result files), which the
    kernel never sees (default: ``scratch``, for unsandboxed runs of the tests).
    """
    workdir = workdir or scratch
    job = os.path.join(workdir, "grader-job.json")
    result = os.path.join(workdir, "grader-result.json")
    with open(job, "w", encoding="utf-8") as fh:
        json.dump({"cells": cells, "official": official, "scratch": scratch, "env": env,
                   "limits": asdict(limits)}, fh)
    worker_env = {k: v for k, v in env.items() if not k.startswith("COURSE_")}
    hard_limit = limits.run_wall() + 60
    posix = os.name == "posix"
    proc = subprocess.Popen([sys.executable, "-m", "course_utils.grade._worker", job, result],
                            cwd=workdir, env=worker_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_worker_preexec if sys.platform.startswith("linux") else None,
                            start_new_session=posix)
    try:
        out, _ = proc.communicate(timeout=hard_limit)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, _ = proc.communicate()
        why = ("total_timeout", f"the grader's worker ran past {hard_limit:g} s and was stopped")
    else:
        why = ("grader_error", "the grader's worker failed: "
               + (out or b"").decode(errors="replace").strip()[-800:])
    try:
        report = read_json_file(result, MAX_RESULT_BYTES)
        if not (isinstance(report, dict) and isinstance(report.get("outcomes"), list)
                and len(report["outcomes"]) == len(cells)):
            raise ValueError("the worker's result has not one outcome per cell")
        report["outcomes"] = [_clean_outcome(o) for o in report["outcomes"]]
        return report
    except (OSError, ValueError, TypeError):
        outcome = Outcome(status=why[0], detail=why[1]).to_dict()
        return {"outcomes": [dict(outcome) for _ in cells], "seconds": 0.0, "kernel": {}, "log_tail": ""}


def _clean_outcome(o) -> dict:
    """An outcome dict with exactly the fields of :class:`Outcome`, of the right types (raises TypeError)."""
    if not isinstance(o, dict):
        raise TypeError("an outcome is not a mapping")
    base = Outcome().to_dict()
    out = {}
    for key, default in base.items():
        value = o.get(key, default)
        if isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, float):
            value = float(value) if isinstance(value, (int, float)) else 0.0
        elif isinstance(default, int):
            value = int(value) if isinstance(value, (int, float)) else 0
        elif isinstance(default, str):
            value = str(value)
        elif isinstance(default, list):
            value = [str(v) for v in value][:100] if isinstance(value, list) else []
        out[key] = value
    return out


def retry_reason(official: Official, plan: Plan, outcomes: list[Outcome]) -> str | None:
    """Why this run says nothing about the learner's code and deserves a second one, or None.

    That is when the kernel did not start, or when an official cell (set-up or other non-exercise cell)
    timed out or the kernel died or was stopped in it. A learner's own endless loop or crash is not a
    reason: it ends as ``timeout`` / ``kernel_died`` for that exercise.
    """
    if outcomes and all(o.status == "kernel_died" and ("while starting" in o.detail or "did not start"
                                                          in o.detail) for o in outcomes):
        return f"the kernel did not start ({outcomes[0].detail})"
    i = official_failure(plan, outcomes)
    if i is None:
        return None
    name, o = _official_name(official, plan.cells[i]), outcomes[i]
    if o.status == "kernel_died":
        return f"the kernel died in {name} ({o.detail})"
    what = "timed out" if o.status == "timeout" else "ran past the run's wall-clock backstop"
    return f"{name} {what} ({o.detail})"


def _remove_walk(path: str) -> None:
    """Delete ``path`` bottom-up without recursion (any depth), never following links; folders the kernel
    made read-only or mode 000 are opened up first. Errors are left to the caller's next pass."""
    def opened(p: str) -> None:
        try:
            os.chmod(p, 0o700)
        except OSError:
            pass

    if os.path.islink(path) or not os.path.isdir(path):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    stack = [(path, False)]
    while stack:
        folder, listed = stack.pop()
        if listed:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            continue
        opened(folder)
        stack.append((folder, True))
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                stack.append((entry.path, False))
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


def remove_tree(path: str) -> None:
    """Delete a scratch folder whatever the kernel did to it (read-only or mode-000 folders, any depth);
    never follows links, never raises (what cannot be deleted stays, the grade does not depend on it)."""
    for _ in range(3):
        try:
            if not os.path.lexists(path):
                return
            _remove_walk(path)
        except Exception:  # noqa: BLE001 - a cleanup failure must never cost a student's rows
            pass
    if os.path.lexists(path):
        try:  # last resort
            subprocess.run(["rm", "-rf", "--one-file-system", "--", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
        except Exception:  # noqa: BLE001
            pass


def _run_plan(plan: Plan, sub: Submission, limits: Limits, full: bool,
              judge=None) -> tuple[list[Outcome], dict]:
    base = tempfile.mkdtemp(prefix="course-grade-")  # mode 0700
    scratch, workdir = os.path.join(base, "kernel"), os.path.join(base, "worker")
    try:
        os.mkdir(scratch, 0o700)
        os.mkdir(workdir, 0o700)
        env = kernel_env(scratch, full)
        if judge is not None:
            env.update(judge.write_inputs(plan, scratch))
        report = run_in_worker([c.source for c in plan.cells], scratch, env, limits,
                               official=[c.role in ("setup", "official") for c in plan.cells], workdir=workdir)
        outcomes = [Outcome(**o) for o in report["outcomes"]]
        if judge is not None and plan.split:  # the kernel is gone: judge what it left, outside
            judge.apply(plan, outcomes, judge.read_records(plan, scratch))
    finally:
        remove_tree(base)
    return outcomes, report


def added_cells(plan: Plan | None, exercise: str) -> list[str]:
    """Sources of the code cells the learner added after ``exercise``'s cell and before its first check cell
    (they run between the two, so they can replace what the exercise cell defined)."""
    if plan is None:
        return []
    start = next((i for i, c in enumerate(plan.cells) if c.role == "exercise" and c.exercise == exercise), None)
    if start is None:
        return []
    out = []
    for cell in plan.cells[start + 1:]:
        if cell.role == "check" and exercise in cell.checks:
            break
        if cell.role == "student":
            out.append(cell.source)
    return out


def flag_references(official: Official, res: StudentResult, answers: dict[str, str], refs, *,
                    reference_points: float = 0.0, plan: Plan | None = None) -> None:
    """Status ``uses_reference`` for a passed exercise whose cell (or a cell the learner added between it and
    its check) reaches the package's reference of it."""
    from ._reference import uses_reference

    table, aliases = refs
    for row in res.rows:
        ex = next((e for e in official.exercises if e.id == row.exercise), None)
        if ex is None or ex.kind != "code" or row.exercise not in answers:
            continue
        hit = uses_reference(answers[row.exercise], row.exercise, table, aliases)
        where = "your exercise cell"
        if not hit:
            for source in added_cells(plan, row.exercise):
                for text in (answers[row.exercise] + "\n\n" + source, source):  # with the cell's imports too
                    try:
                        hit = uses_reference(text, row.exercise, table, aliases)
                    except Exception:  # noqa: BLE001 - e.g. a cell that does not parse
                        hit = ""
                    if hit:
                        break
                if hit:
                    where = "a cell you added below the exercise cell"
                    break
        if not hit:
            continue
        what = (f"{where} uses the course's reference implementation {hit} (the package's own "
                f"answer to this exercise)")
        res.notes.append(f"{row.exercise}: {what}; the instructor reviews it.")
        if row.status == "passed":
            row.status = "uses_reference"
            row.points = round(reference_points * row.max_points, 6)
            row.message = f"{what}: {row.points:g} of {row.max_points:g} points (its check passed)"
        else:
            row.message = f"{row.message} (also: {what})"


def grade_submission(official: Official, sub: Submission, limits: Limits, *, full: bool = False,
                     seed: int = 1, run_all: bool = False, retry: bool = True, judge=None, refs=None,
                     reference_points: float = 0.0) -> StudentResult:
    """Grade one submission; never raises, always returns one row per exercise (lesson 00).

    When the first run stops in an official cell (see :func:`retry_reason`) and ``retry`` is on, the
    submission is run once more in a fresh kernel; the rows come from that second run and the
    feedback's notes say so.
    """
    t0 = time.monotonic()
    res = StudentResult(sub.student, str(sub.path or ""), [], notes=[sub.note] if sub.note else [],
                        chosen=sub.note if sub.chosen_note else "")
    try:
        if sub.refused:
            res.rows = _rows(official, sub.student, "invalid_notebook", sub.refused)
            return res
        if sub.path is None:
            res.rows = _rows(official, sub.student, "no_submission", sub.note)
            return res
        try:  # one read, without following links, size-capped; the kernel never sees the file itself
            nb = read_submission(sub.path, read_bytes(sub.path))
        except (ValueError, OSError) as exc:
            res.rows = _rows(official, sub.student, "invalid_notebook", str(exc))
            return res
        other = wrong_lesson(nb, official)
        if other:
            res.rows = _rows(official, sub.student, "wrong_lesson",
                             f"{other}; expected lesson {official.lesson} ({official.name})")
            return res
        plan = assemble(nb, official, seed=seed, run_all=run_all,
                        splittable=judge.splittable if judge is not None else None)
        res.notes += plan.notes
        res.answers = {ex.id: plan.answers.get(ex.id, "") for ex in official.exercises if ex.kind == "markdown"}
        code_exercises = [ex for ex in official.exercises if ex.kind == "code" and ex.id not in plan.missing]
        outcomes = [Outcome(status="not_run") for _ in plan.cells]
        retried = False
        if code_exercises and plan.cells:
            outcomes, report = _run_plan(plan, sub, limits, full, judge)
            why = retry_reason(official, plan, outcomes) if retry else None
            if why:
                res.attempts.append(why)
                outcomes, report = _run_plan(plan, sub, limits, full, judge)
                retried = True
                again = retry_reason(official, plan, outcomes)
                res.notes.append(f"In the first run {why}. That is official code, not yours, so the submission "
                                 "was graded a second time in a fresh kernel; the grade comes from the second "
                                 "run" + (f", in which {again}." if again else ", which completed."))
            res.kernel = report.get("kernel", {})
            res.cpu_seconds = sum(o.cpu_seconds for o in outcomes)
            res.official_cpu_seconds = sum(o.cpu_seconds for o in outcomes if o.official)
        res.rows = exercise_rows(official, sub.student, plan, outcomes, retried=retried)
        if refs is not None:
            flag_references(official, res, plan.answers, refs, reference_points=reference_points, plan=plan)
    except Exception as exc:  # a bug in the grader: still one row per exercise
        res.rows = _rows(official, sub.student, "grader_error", f"{type(exc).__name__}: {exc}")
    finally:
        res.seconds = time.monotonic() - t0
    return res


# ----------------------------------------------------------------------------- the whole folder
#: Longest feedback file name (without ``.md``); longer student names are cut and given a hash.
MAX_NAME = 80
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _safe_name(name: str) -> str:
    """A file name for ``name``: NFC, only letters, digits and ``.@+-_``, no leading dot, at most
    :data:`MAX_NAME` characters (a longer one is cut and ends with a short hash of the whole name)."""
    import hashlib
    import unicodedata

    text = re.sub(r"[^\w.@+-]+", "_", unicodedata.normalize("NFC", str(name))).strip("._") or "student"
    if len(text.encode("utf-8")) > MAX_NAME:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:10]
        while len(text.encode("utf-8")) > MAX_NAME - 11:
            text = text[:-1]
        text = f"{text}-{digest}"
    return text


def csv_text(value: str) -> str:
    """A text cell as a spreadsheet will read it literally: no control characters, and a leading
    ``'`` before anything that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in str(value))
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(path: Path, results: list[StudentResult]) -> None:
    """Write the CSV atomically: a uniquely named temporary file in the same folder, then a rename (which
    replaces a link at ``path`` instead of writing through it). Every text column is escaped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for res in results:
                for row in res.rows:
                    cells = row.csv()
                    writer.writerow([csv_text(cells[0]), csv_text(cells[1]), cells[2], cells[3],
                                     csv_text(cells[4]), csv_text(cells[5])])
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_feedback(folder: Path, files: dict[str, str]) -> None:
    """Write ``{file name: text}`` into ``folder``: every file is written in a fresh temporary folder next to
    it and renamed into place, so a link planted in ``folder`` is replaced, never written through."""
    if folder.is_symlink():
        raise GradingSetupError(f"the feedback folder {folder} is a link: choose another --feedback-dir")
    folder.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".feedback-", dir=folder.parent)
    try:
        for name, text in files.items():
            assert "/" not in name and name not in (".", "..") and not name.startswith(".")
            fd = os.open(os.path.join(staging, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(os.path.join(staging, name), folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def totals(official: Official, res: StudentResult) -> tuple[float, float, float]:
    """(points from the automatic checks, their maximum, the maximum of the written exercises)."""
    written = {ex.id for ex in official.exercises if ex.kind == "markdown"}
    auto = sum(r.points or 0 for r in res.rows if r.exercise not in written)
    auto_max = sum(r.max_points for r in res.rows if r.exercise not in written)
    return auto, auto_max, sum(r.max_points for r in res.rows if r.exercise in written)


#: Terminal escape sequences (CSI, OSC, other ESC sequences) in untrusted text.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]")
#: Bidirectional-override characters (they reorder what a reader sees).
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"))


def plain_text(text: str, one_line: bool = False) -> str:
    """Untrusted text as plain characters: no terminal escape sequences, no control characters (BEL, CR,
    backspace, C1 ...) and no bidi overrides; newlines kept (or turned into spaces with ``one_line``)."""
    text = _ESCAPES.sub("", str(text)).translate(_BIDI).replace("\r\n", "\n").replace("\t", "    ")
    text = "".join(ch for ch in text if ch == "\n" or not (ord(ch) < 32 or 127 <= ord(ch) < 160))
    return " ".join(text.split()) if one_line else text


def literal_block(text: str) -> list[str]:
    """Markdown lines that show ``text`` literally: an indented code block (every line starts with four
    spaces, so no line of it can close a fence or start a heading, a table, HTML or a list)."""
    return ["    " + ln if ln.strip() else "" for ln in plain_text(text).strip("\n").splitlines()] or ["    "]


def feedback_text(official: Official, res: StudentResult) -> str:
    auto, auto_max, manual_max = totals(official, res)
    student = plain_text(res.student, one_line=True).replace("`", "'")
    lines = [f"# Lesson {official.lesson} ({official.name}) - feedback for {student}", ""]
    total = f"**Total: {auto:g} / {auto_max:g} points** from the automatic checks"
    if manual_max:
        total += f", plus up to {manual_max:g} points for written answers graded by the instructor"
    lines += [total + ".", ""]
    lines += ["| exercise | points | status |", "|---|---|---|"]
    for r in res.rows:
        pts = "to be graded" if r.points is None else f"{r.points:g} / {r.max_points:g}"
        lines.append(f"| {r.exercise} | {pts} | {r.status} |")
    lines.append("")
    for r in res.rows:
        lines += [f"## {r.exercise} - {r.status}", "", *literal_block(r.message.strip() or r.status), ""]
        if r.exercise in res.answers and r.status == "manual":
            lines += ["Your answer:", "", *("> " + ln for ln in literal_block(res.answers[r.exercise])), ""]
    if res.notes:
        lines += ["## Notes from the grader", "", *literal_block("\n".join(plain_text(n, one_line=True)
                                                                          for n in res.notes)), ""]
    return "\n".join(lines)


def write_log(out: Path, lines: list[str]) -> None:
    """The run's log next to the CSV (``grades.log`` for ``grades.csv``), written atomically."""
    path = out.with_suffix(".log") if out.suffix else out.with_name(out.name + ".log")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def grade_folder(submissions: Path, lesson: str, out: Path, *, feedback_dir: Path | None = None,
                 workers: int = 2, limits: Limits | None = None, full: bool = False, seed: int = 1,
                 run_all: bool = False, root: Path | None = None, retry: bool = True,
                 log: Callable[[str], None] | None = None, sandbox: bool = True,
                 reference_points: float = 0.0) -> list[StudentResult]:
    """Grade every submission in ``submissions`` for ``lesson``; write the CSV and feedback (lesson 00).

    ``sandbox=True`` (the default) runs every kernel in a bubblewrap sandbox and refuses to grade
    (:class:`SandboxUnavailable`) where none can be built; ``sandbox=False`` (``--no-sandbox``) grades
    without one, and says so in the log and in every feedback file.
    """
    from ..paths import repo_root
    from . import _sandbox

    limits = dataclasses.replace(limits or Limits())
    lines: list[str] = []
    shown = log or (lambda s: print(s, file=sys.stderr, flush=True))

    def log(text: str) -> None:
        lines.append(text)
        shown(text)

    root = Path(root or repo_root() or Path.cwd())
    official = load_official(root, lesson)
    subs = discover(Path(submissions), official, log=log)
    if sandbox:
        why = _sandbox.unavailable()
        if why:
            raise SandboxUnavailable(f"refusing to grade untrusted notebooks without a sandbox: {why}. "
                                     f"Fix: {_sandbox.FIX}.")
        limits.sandbox = True
        log("sandbox: every kernel runs under bubblewrap (uid 65534; own user, PID, network, IPC namespaces)")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            log(_sandbox.ROOT_NOTE if _sandbox.root_drop() else _sandbox.ROOT_WARNING)
    else:
        limits.sandbox = False
        log("WARNING: --no-sandbox: the submissions' code runs WITHOUT a sandbox, with the grader's own rights; "
            "grade only notebooks you trust this way")
    log(f"grading {len(subs)} submission(s) for {official.name} with {workers} worker(s)")
    t0 = time.monotonic()

    from ._split import Judge

    from ._reference import references

    judge = Judge()
    refs = references(official)
    if any(ex.kind == "code" for ex in official.exercises) and any(sub.path for sub in subs):
        t_cal = time.monotonic()
        judge.calibrate(official, lambda sub: grade_submission(official, sub, limits, full=full, seed=seed,
                                                                run_all=run_all, retry=retry, judge=judge))
        log(f"calibration: the official solution graded once in {time.monotonic() - t_cal:.1f} s")
        log(f"checks judged outside the sandbox: {', '.join(sorted(judge.confirmed or [])) or 'none'}")

    def one(sub: Submission) -> StudentResult:
        try:
            res = grade_submission(official, sub, limits, full=full, seed=seed, run_all=run_all, retry=retry,
                                   judge=judge, refs=refs, reference_points=reference_points)
        except BaseException as exc:  # noqa: BLE001 - never lose a student's rows
            res = StudentResult(sub.student, str(sub.path or ""),
                                _rows(official, sub.student, "grader_error", f"{type(exc).__name__}: {exc}"))
        try:
            got, top, _ = totals(official, res)
            statuses = ", ".join(f"{r.exercise.split('.', 1)[1]}={r.status}" for r in res.rows)
            again = f"; run twice: {res.attempts[0]}" if res.attempts else ""
            log(f"  {csv_text(res.student)[:120]}: {got:g}/{top:g} in {res.seconds:.1f} s, "
                f"{res.cpu_seconds:.1f} CPU s ({statuses}{again})")
        except Exception:  # noqa: BLE001 - logging must not cost a student's rows
            pass
        return res

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, subs))
    results.sort(key=lambda r: r.student)
    flagged = [f"{r.student} {r.exercise}" for res in results for r in res.rows if r.status == "uses_reference"]
    if flagged:
        log(f"uses_reference (review by hand): {'; '.join(csv_text(f)[:120] for f in flagged)}")
    for res in results:  # the sandbox's PID namespace is swept at the end: say if anything had to be killed
        left = str(res.kernel.get("leftover_processes", "0"))
        if left not in ("0", ""):
            log(f"  {csv_text(res.student)[:120]}: {left} process(es) of its sandbox outlived the kernel and were killed")
    for ex, why in sorted(judge.reasons.items()):
        log(f"{ex}: checked inside the kernel, not split ({why}); see docs/instructors.md, threat model")
    for what in sorted({f"{r.kernel.get('network', '?')}; {r.kernel.get('limits', '?')}" for r in results if r.kernel}):
        log(f"kernels ran with: {what}")
    if not sandbox:
        for res in results:
            res.notes.append("This notebook was graded WITHOUT the grader's sandbox (--no-sandbox).")
    for res in results:
        if res.chosen:  # which of several notebooks was graded: in the CSV too
            for row in res.rows:
                row.message = f"[{res.chosen}] {row.message}"
    write_csv(Path(out), results)
    fb = Path(feedback_dir) if feedback_dir else Path(out).resolve().parent / "feedback"
    used: set[str] = set()
    files: dict[str, str] = {}
    for res in results:
        name = _safe_name(res.student)
        while name.casefold() in used:
            name += "_"
        used.add(name.casefold())
        files[f"{name}.md"] = feedback_text(official, res)
    write_feedback(fb, files)
    log(f"wrote {out} ({sum(len(r.rows) for r in results)} rows) and {len(results)} feedback file(s) in {fb} "
        f"in {time.monotonic() - t0:.1f} s")
    write_log(Path(out), lines)
    return results


__all__ = ["COLUMNS", "GradingSetupError", "Row", "StudentResult", "exercise_rows", "grade_folder",
           "grade_submission", "kernel_env"]
