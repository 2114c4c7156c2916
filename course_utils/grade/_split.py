"""Checks decided outside the sandbox (grader, lesson 00).

For a *split* check call (see :func:`course_utils.grade._assemble.assemble`) the grader generates the
cases itself, writes only their inputs into the kernel's folder (``in/call-K.pkl``: written by the
grader, read by the kernel; nothing outside ever unpickles), the kernel calls the learner's function on
them and writes what it returned (``out/call-K-N.npz``, see :mod:`._wire`), and :func:`apply` judges
those results here, with :func:`course_utils.checks._core.judge`, and turns the verdict into the check
cell's outcome. Expected values and the hidden tests' seeds never enter the kernel.

An exercise is split when every argument of its cases is plain data (numbers, strings, arrays, tensors,
and lists, tuples and dicts of them) or a :class:`~course_utils.checks._core.Build` made from plain data
inside the kernel (a GRU with given weights, a test function), and when its check is *pure* (the function
must not change its arguments) or every case has a probe that observes what changed. A case whose answer
returns something that is not data (a module, a tensor attached to autograd, a trained model) has a probe:
it runs inside the kernel on the case's inputs only and turns the answer into plain observations, which
are judged here. Otherwise its check runs in the kernel as in the learner's own notebook, and the verdict
printed there is trusted: see docs/instructors.md, "Threat model"; each run's log lists such exercises.
"""
from __future__ import annotations

import os
import pickle
import re
import threading

from ._assemble import INSTRUCTOR_TAG, Plan, passed_marker
from ._runner import Outcome

#: Result files read back per split call at most (a check call inside a loop writes one per run).
MAX_RECORDS_PER_CALL = 5
FOLDER = "grader-split"


def _plain(value, depth: int = 0) -> bool:
    import numpy as np

    from ..checks._core import Build

    if depth > 20:
        return False
    if isinstance(value, Build):
        return isinstance(value.name, str) and _plain(value.data, depth + 1)
    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufc"
    if (type(value).__module__ or "").startswith("torch") and hasattr(value, "detach") and hasattr(value, "numpy"):
        return type(value).__name__ in ("Tensor", "Parameter")
    if type(value) in (list, tuple):
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


class Judge:
    """Case generation, inputs and verdicts of the split checks of one grading run (thread-safe)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._cases: dict[tuple[str, int], list] = {}
        self._split: dict[str, bool] = {}
        self.reasons: dict[str, str] = {}  # exercise -> why its check runs in the kernel
        self.confirmed: set[str] | None = None  # exercises whose split check passed the official solution

    def cases(self, exercise: str, seed: int) -> list:
        from ..checks import _core

        with self._lock:
            key = (exercise, seed)
            if key not in self._cases:
                import numpy as np

                spec = _core.lookup(exercise)
                self._cases[key] = list(spec.cases(np.random.default_rng(_core._seed_for(exercise, seed))))
            return self._cases[key]

    def splittable(self, exercise: str) -> bool:
        with self._lock:
            if exercise not in self._split:
                self._split[exercise] = self._decide(exercise)
            return self._split[exercise] and (self.confirmed is None or exercise in self.confirmed)

    def calibrate(self, official, grade_one) -> None:
        """Grade the official solution once with every eligible exercise split; an exercise whose
        reference answer does not pass when judged outside (it returns a model, an optimizer, ...) is
        checked inside the kernel for the whole run. ``grade_one(submission) -> StudentResult``."""
        import tempfile
        from pathlib import Path

        import nbformat

        from ._assemble import Submission

        self.confirmed = None
        with tempfile.TemporaryDirectory(prefix="course-grade-calibrate-") as tmp:
            path = Path(tmp) / official.name
            nbformat.write(official.nb, path)
            res = grade_one(Submission("(official solution)", path))
        self.confirmed = set()
        for row in res.rows:
            if not self._split.get(row.exercise, False):
                continue
            if row.status == "passed":
                self.confirmed.add(row.exercise)
            else:
                self.reasons[row.exercise] = (f"the official solution's answer could not be judged outside the "
                                              f"kernel ({row.status})")

    def _decide(self, exercise: str) -> bool:
        from ..checks import _core

        try:
            spec = _core.lookup(exercise)
            cases = self.cases(exercise, 0)
            pickle.dumps(_core.case_inputs(cases))
        except Exception as exc:  # noqa: BLE001 - the in-kernel check will report it
            self.reasons[exercise] = f"its cases cannot be prepared outside the kernel ({type(exc).__name__})"
            return False
        if not spec.pure and not all(c.probe for c in cases):
            self.reasons[exercise] = "its function changes its arguments in place (pure=False) and no probe observes it"
            return False
        if not all(c.probe is None or (isinstance(c.probe, tuple) and len(c.probe) == 2 and _plain(c.probe[1]))
                   for c in cases):
            self.reasons[exercise] = "a probe's input data is not plain data"
            return False
        if spec.kind == "function" and not all(_plain(c.args) and _plain(c.kwargs) for c in cases):
            self.reasons[exercise] = "its cases pass objects that are not plain data (a model, a function)"
            return False
        return True

    # -- one submission ------------------------------------------------------------------------
    def write_inputs(self, plan: Plan, scratch: str) -> dict:
        """Write the inputs of every split call of ``plan`` under ``scratch``; return the kernel's env vars."""
        from ..checks import _core

        folder = os.path.join(scratch, FOLDER)
        os.makedirs(os.path.join(folder, "in"), exist_ok=True)
        os.makedirs(os.path.join(folder, "out"), exist_ok=True)
        for call_id, call in plan.split.items():
            data = pickle.dumps(_core.case_inputs(self.cases(call.exercise, call.seed)))
            with open(os.path.join(folder, "in", f"call-{call_id}.pkl"), "wb") as fh:
                fh.write(data)
        return {"CU_GRADE_SPLIT": folder} if plan.split else {}

    def read_records(self, plan: Plan, scratch: str) -> dict[int, list]:
        """call id -> list of (AnswerRun or an error text), read as untrusted data."""
        from . import _wire

        found: dict[int, list] = {k: [] for k in plan.split}
        folder = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fds: list[int] = []
        try:  # each folder opened without following links: the kernel may have put a link in their place
            fds.append(os.open(os.path.join(scratch, FOLDER), folder))
            fds.append(os.open("out", folder, dir_fd=fds[-1]))
            names = sorted(os.listdir(fds[-1]))[:10_000]
        except OSError:
            for fd in fds:
                os.close(fd)
            return found
        try:
            self._read_names(plan, names, fds[-1], found)
        finally:
            for fd in fds:
                os.close(fd)
        return found

    def _read_names(self, plan: Plan, names: list, out: int, found: dict) -> None:
        from . import _wire

        pattern = re.compile(r"call-(\d+)-(\d+)\.npz")
        budget = [_wire.MAX_SUBMISSION_DECODED_BYTES]  # all of this submission's records together
        for name in sorted(names, key=lambda n: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", n)]):
            m = pattern.fullmatch(name)
            if not m or int(m.group(1)) not in found or len(found[int(m.group(1))]) >= MAX_RECORDS_PER_CALL:
                continue
            try:
                found[int(m.group(1))].append(_wire.answer_from_record(_wire.load(name, budget=budget, dir_fd=out)))
            except Exception as exc:  # noqa: BLE001 - untrusted data: any problem refuses the file
                found[int(m.group(1))].append(f"its result file could not be used: {exc}")

    def apply(self, plan: Plan, outcomes: list[Outcome], records: dict[int, list]) -> None:
        """Turn the verdicts of the split calls into the check cells' outcomes (markers, CheckFailed)."""
        from ..checks import _core

        for cell, o in zip(plan.cells, outcomes):
            if cell.role != "check" or not cell.calls:
                continue
            split_exercises = {plan.split[k].exercise for k in cell.calls}
            # a pass of a split exercise is proven only here, never by what the kernel printed
            o.markers = [m for m in o.markers if m.rsplit(" ", 1)[-1] not in split_exercises]
            if o.status != "ok":
                continue
            verdicts: dict[str, bool] = {ex: True for ex in split_exercises}
            messages: list[str] = []
            failure = None
            for k in cell.calls:
                call = plan.split[k]
                runs = records.get(k) or []
                if not runs:
                    verdicts[call.exercise] = False  # the call never ran: no pass (the row says so)
                    continue
                for run in runs:
                    if isinstance(run, str):  # a result file the grader refuses: the kernel interfered
                        verdicts[call.exercise] = False
                        if failure is None:
                            failure = (call, _core.CheckResult(call.exercise, False, f"{call.exercise}: {run}"),
                                       "ResultRefused")
                        continue
                    else:
                        try:
                            result = _core.judge(call.exercise, run, call.seed,
                                                 cases=self.cases(call.exercise, call.seed))
                        except Exception as exc:  # noqa: BLE001 - a result the checks cannot digest
                            result = _core.CheckResult(call.exercise, False, f"✗ {call.exercise}: the result "
                                                       f"could not be checked ({type(exc).__name__}: {exc})")
                    if not result.passed:
                        verdicts[call.exercise] = False
                        if failure is None:
                            failure = (call, result, "CheckFailed")
                    elif result.message not in messages:
                        messages.append(result.message)
            if failure is not None:
                call, result, ename = failure
                o.status, o.ename = "error", ename
                o.evalue = (INSTRUCTOR_TAG if call.hidden and ename == "CheckFailed" else "") + result.message
                o.stdout = (o.stdout + "\n" + result.message)[-4000:]
                continue
            for ex, ok in verdicts.items():
                if ok:
                    o.markers.append(passed_marker(plan.nonce, ex))
            if messages:
                o.stdout = (o.stdout + "\n" + "\n".join(messages))[-4000:]
