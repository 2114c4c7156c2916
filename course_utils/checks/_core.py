"""The self-check engine behind ``check("NN.name", answer)``.

Introduced in lesson 00 (setup). Each lesson module in this package registers
its checks with :func:`register`: a function that, given a seeded random
generator, yields :class:`Case` objects — fixed cases first, then randomized
property cases. :func:`run_check` calls the learner's function on each case
under a time limit, compares with tolerances, and turns every failure (wrong
shape, wrong value, NaN, an exception, too slow) into readable feedback that
shows the failing input, expected vs got, and a hint — never the solution code.
"""
from __future__ import annotations

import copy
import importlib
import os
import signal
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np


class CheckFailed(AssertionError):
    """Raised by :func:`check` in grading mode when an exercise's check fails."""


class TimeLimitExceeded(Exception):
    """The learner's code ran longer than the check's time limit."""


@dataclass
class Case:
    """One input and what the answer must satisfy (lesson 00).

    ``expected`` is a value (compared with ``rtol``/``atol``) or a callable
    ``validator(got) -> str | None`` returning a problem description. For
    value exercises (``kind="value"``) ``args`` is unused.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    label: str = ""
    rtol: float = 1e-6
    atol: float = 1e-8


@dataclass
class Spec:
    exercise: str
    cases: Callable[[np.random.Generator], Iterable[Case]]
    hint: str = ""
    kind: str = "function"  # or "value"
    time_limit: float = 5.0
    signature: str = ""


@dataclass
class CheckResult:
    """Outcome of one self-check (lesson 00)."""

    exercise: str
    passed: bool
    message: str
    n_cases: int = 0
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


REGISTRY: dict[str, Spec] = {}


def register(exercise: str, *, hint: str = "", kind: str = "function", time_limit: float = 5.0,
             signature: str = "") -> Callable:
    """Decorator registering a case generator for ``exercise`` (e.g. ``"02.adam_step"``) (lesson 00)."""
    if kind not in ("function", "value"):
        raise ValueError(f"kind must be 'function' or 'value', got {kind!r}")

    def deco(fn: Callable[[np.random.Generator], Iterable[Case]]):
        REGISTRY[exercise] = Spec(exercise, fn, hint=hint, kind=kind, time_limit=time_limit,
                                  signature=signature)
        return fn

    return deco


def lookup(exercise: str) -> Spec:
    """Find the spec for ``exercise``, importing its lesson module ``lessonNN`` (lesson 00)."""
    if exercise not in REGISTRY:
        lesson = exercise.split(".", 1)[0]
        if not lesson.isdigit():
            raise KeyError(f"Exercise ids look like '02.adam_step' (lesson number, dot, name); got {exercise!r}.")
        try:
            # Relative to this package, so a private copy loaded by the grader finds its own lesson modules.
            importlib.import_module(f"{__package__}.lesson{lesson}")
        except ModuleNotFoundError:
            pass
    if exercise not in REGISTRY:
        known = ", ".join(sorted(k for k in REGISTRY if k.startswith(exercise.split(".")[0]))) or "none"
        raise KeyError(f"No self-check named {exercise!r}. Checks for this lesson: {known}. "
                       "Copy the id exactly from the exercise's check cell.")
    return REGISTRY[exercise]


# ----------------------------------------------------------------------------- time limits
def call_with_time_limit(fn: Callable, args: tuple, kwargs: dict, seconds: float) -> Any:
    """Call ``fn(*args, **kwargs)``; raise :class:`TimeLimitExceeded` after ``seconds`` (lesson 00).

    Uses SIGALRM in the main thread on POSIX (Jupyter, Colab), which interrupts
    pure-Python loops; elsewhere a watcher thread gives up waiting (the call
    may keep running in the background).
    """
    main = threading.current_thread() is threading.main_thread()
    if hasattr(signal, "setitimer") and main:
        def on_alarm(signum, frame):
            raise TimeLimitExceeded()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # reported to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeLimitExceeded()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ----------------------------------------------------------------------------- comparison
def _to_numpy_if_tensor(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith(("tensorflow", "keras")) and hasattr(x, "numpy"):
        return x.numpy()
    return x


def describe(x: Any, limit: int = 160) -> str:
    """Short, readable rendering of a value for feedback (lesson 00)."""
    x = _to_numpy_if_tensor(x)
    if isinstance(x, np.ndarray):
        if x.size > 12:
            return f"array of shape {x.shape} (first values {np.array2string(x.ravel()[:6], precision=5)}...)"
        text = np.array2string(x, precision=6, separator=", ")
    elif isinstance(x, float):
        text = f"{x:.6g}"
    else:
        text = repr(x)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_numeric(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.number)):
        return True
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.number)


def compare(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-8, where: str = "") -> str | None:
    """Return None when ``got`` matches ``expected``, else a description of the problem (lesson 00)."""
    at = f" in {where}" if where else ""
    if callable(expected) and not isinstance(expected, type):
        return expected(got)
    got = _to_numpy_if_tensor(got)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {len(expected)} items{at}, got {type(got).__name__}: {describe(got)}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items{at}, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare(g, e, rtol, atol, where=f"item {i}" + (f" of {where}" if where else ""))
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict{at}, got {type(got).__name__}"
        missing = sorted(set(expected) - set(got))
        if missing:
            return f"missing key(s) {missing}{at}"
        for k in expected:
            problem = compare(got[k], expected[k], rtol, atol, where=f"key {k!r}")
            if problem:
                return problem
        return None
    if _is_numeric(expected) or isinstance(expected, np.ndarray):
        if got is None:
            return f"got None{at}: did the function forget to `return` its result?"
        try:
            g = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"expected a number or array{at}, got {type(got).__name__}: {describe(got)}"
        e = np.asarray(expected, dtype=float)
        if g.shape != e.shape:
            return f"wrong shape{at}: expected {e.shape}, got {g.shape}"
        bad = np.isnan(g) & ~np.isnan(e)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if g.ndim else ()
            return f"got NaN{at}" + (f" at index {idx}" if idx else "") + " where a finite value was expected (overflow? division by zero? log of 0?)"
        bad = np.isinf(g) & ~np.isinf(e)
        if bad.any():
            return f"got an infinite value{at} where a finite value was expected (overflow?)"
        if not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            diff = float(np.nanmax(np.abs(g - e))) if g.size else 0.0
            return (f"wrong value{at}: expected {describe(e)}, got {describe(g)} "
                    f"(max abs difference {diff:.3g}; tolerance rtol={rtol:g}, atol={atol:g})")
        return None
    if got != expected:
        return f"wrong value{at}: expected {describe(expected)}, got {describe(got)}"
    return None


# ----------------------------------------------------------------------------- running
def _seed_for(exercise: str, seed: int) -> int:
    return zlib.crc32(exercise.encode()) ^ seed


def _call_text(spec: Spec, fn: Any, case: Case) -> str:
    name = getattr(fn, "__name__", "your function")
    parts = [describe(a, 80) for a in case.args] + [f"{k}={describe(v, 80)}" for k, v in case.kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _learner_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(frames):
        if not os.path.abspath(frame.filename).startswith(here):
            return f" (line {frame.lineno}: {frame.line.strip()})" if frame.line else ""
    return ""


def run_check(exercise: str, answer: Any, seed: int = 0) -> CheckResult:
    """Run the self-check for ``exercise`` on ``answer`` and return a :class:`CheckResult` (lesson 00)."""
    spec = lookup(exercise)
    start = time.perf_counter()
    hint = f"\n   Hint: {spec.hint}" if spec.hint else ""

    def fail(text: str, n: int) -> CheckResult:
        return CheckResult(exercise, False, f"✗ {exercise}: {text}{hint}", n, time.perf_counter() - start)

    if spec.kind == "function" and not callable(answer):
        sig = f" {spec.signature}" if spec.signature else ""
        return fail(f"expected a function{sig}, got {type(answer).__name__}. Pass the function itself, "
                    "without calling it (no parentheses).", 0)
    rng = np.random.default_rng(_seed_for(exercise, seed))
    n = 0
    try:
        cases = list(spec.cases(rng))
    except Exception as exc:  # a bug in the check itself: say so plainly
        return fail(f"the check itself failed ({type(exc).__name__}: {exc}); please report this.", 0)
    for n, case in enumerate(cases, start=1):
        label = f" [{case.label}]" if case.label else ""
        if spec.kind == "value":
            got, call = answer, "your answer"
        else:
            call = _call_text(spec, answer, case)
            args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
            try:
                got = call_with_time_limit(answer, args, kwargs, spec.time_limit)
            except TimeLimitExceeded:
                return fail(f"case {n}/{len(cases)}{label}: {call} took longer than {spec.time_limit:g} s. "
                            "Look for an endless loop, or replace Python loops by array operations.", n)
            except NotImplementedError:
                return fail("not implemented yet: replace `raise NotImplementedError()` with your code.", n)
            except Exception as exc:
                return fail(f"case {n}/{len(cases)}{label}: {call} raised "
                            f"{type(exc).__name__}: {exc}{_learner_frame(exc)}", n)
        try:
            problem = compare(got, case.expected, case.rtol, case.atol)
        except Exception as exc:
            problem = f"could not compare the result ({type(exc).__name__}: {exc}); got {describe(got)}"
        if problem:
            return fail(f"case {n}/{len(cases)}{label}: {call}: {problem}", n)
    return CheckResult(exercise, True, f"✓ {exercise}: passed all {len(cases)} cases.", len(cases),
                       time.perf_counter() - start)


def check(exercise: str, answer: Any, seed: int = 0) -> None:
    """Self-check an exercise and print feedback (lesson 00).

    Use it right after an exercise: ``check("00.to_celsius", to_celsius)``.
    In grading mode (``COURSE_GRADING=1``) a failed check raises
    :class:`CheckFailed` so the grader records it.
    """
    from ..config import grading_mode

    result = run_check(exercise, answer, seed=seed)
    print(result.message)
    if not result.passed and grading_mode():
        raise CheckFailed(result.message)
