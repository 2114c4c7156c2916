"""The self-check engine behind ``check("NN.name", answer)`` (introduced in lesson 00, setup).

How a check works
-----------------
Each lesson module in this package (``lessonNN.py``) registers its checks with :func:`register`: a
*case generator* ``cases(rng) -> Iterable[Case]`` that, given a seeded random generator, yields
:class:`Case` objects (fixed cases first, then randomized property cases). :func:`run_check` calls the
learner's function on each case under a time limit and turns every failure into readable feedback that
names the case's **label** (the property it tests), shows the failing call and expected vs got, and never
shows the solution code. In order, for every case:

1. ``no_loops=True`` (once, before the cases): the function's source (``inspect.getsource``) may not contain
   ``for``/``while`` loops or comprehensions; skipped when the source is unavailable.
2. The call, on deep copies of the case's arguments, under ``time_limit`` seconds; ``Case.floating="raise"``
   runs it under ``np.errstate(over/divide/invalid="raise")`` so an overflow is a failure, not a warning.
3. ``pure=True`` (the default): the arguments passed must be unchanged after the call (no in-place update).
4. ``returns``: the result must be an instance of the given type(s) (e.g. ``np.ndarray``).
5. The value: :func:`compare` with the case's ``rtol``/``atol``, or the case's validator.

On a failure the feedback adds, in this order of preference, "Likely mistake: ..." when a
:class:`Mistake` detector recognises the wrong result (the spec's own detectors first, then built-in ones on
numeric results: sign flipped, a factor 2 or 1/2, a factor n or 1/n with n the first dimension of the first
array argument, a transposed or a flattened result, plain Python lists not converted to arrays), else the
spec's ``hint``, replaced by its fuller ``recipe`` from the third failed run of the same exercise in this
kernel on. The untouched stub (``raise NotImplementedError()``) only gets "not implemented yet"; a pass
gets no hint.

Hidden tests differ only in data
--------------------------------
An instructor (hidden) test calls the *same* check with another seed, e.g.
``check("00.accuracy", accuracy, seed=9173)``; the grader adds its own seed offset too. So every property a
hidden test enforces must be produced by the case generator for **any** seed: fixed cases do not depend on
the seed, random cases draw their data from ``rng``. A failure with ``seed != 0`` says "instructor test
(same checks, other data)" and names the case label. In grading mode (``COURSE_GRADING=1``) a failed
:func:`check` raises :class:`CheckFailed` with the same message.

Using the learner's own code downstream
---------------------------------------
:func:`passed` tells whether an exercise's check passed in this kernel, and :func:`use_mine` returns the
learner's function when it did (else the course's reference), so that solving an exercise pays off later in
the lesson (``USE_MY_CODE = True`` switch in the lessons).
"""
from __future__ import annotations

import ast
import copy
import importlib
import inspect
import os
import signal
import sys
import textwrap
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np


class CheckFailed(AssertionError):
    """Raised by :func:`check` in grading mode when an exercise's check fails (lesson 00)."""


class TimeLimitExceeded(Exception):
    """The learner's code ran longer than the check's time limit."""


@dataclass
class Case:
    """One input and what the answer must satisfy (lesson 00).

    ``expected`` is a value (compared by :func:`compare` with ``rtol``/``atol``) or a callable
    ``validator(got) -> str | None`` returning a problem description. An argument that is not plain data (a
    model with given weights, a test function) is given as a :class:`Build`, made where the answer runs.
    ``probe=(name, data)`` names a probe registered with :func:`register_probe`: it runs right after the
    call, where the answer runs and under the same time limit, and turns what the answer returned (a module,
    a tensor attached to autograd, a model trained in place) into plain *observations* (numbers, arrays,
    strings) that ``expected`` then judges. ``data`` holds inputs only, never an expected value, so the
    grader can run the probe inside its sandbox and judge the observations outside (see :func:`judge`). ``label`` names the *property* the
    case tests; it appears in every failure message, also for instructor tests. ``floating="raise"`` runs
    the call under ``np.errstate(over="raise", divide="raise", invalid="raise")``. For value exercises
    (``kind="value"``) ``args`` is unused.

    Choose ``atol`` with the scale of the data: an expected value of exactly 0 can only be matched within
    ``atol``, so a correct answer of 1e-18 needs e.g. ``atol=1e-15``; never use an ``atol`` like 1e-300,
    which rejects answers that are *more* accurate than the reference.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    label: str = ""
    rtol: float = 1e-6
    atol: float = 1e-8
    floating: str | None = None
    probe: tuple | None = None


@dataclass(frozen=True)
class Build:
    """An argument a check builds where the answer runs, from plain data (lesson 00, grader).

    ``Build("06.gru", {"weights": ...})`` calls the builder registered under ``"06.gru"`` with
    :func:`register_builder` as ``builder(**data)`` right before each call (a fresh object every time).
    ``text`` is how feedback shows the argument. ``data`` must be plain data (numbers, strings, arrays and
    lists, tuples and dicts of them): the grader sends it into its sandbox, so it never holds an expected value.
    """

    name: str
    data: dict = field(default_factory=dict)
    text: str = ""

    def __repr__(self) -> str:
        return self.text or f"<{self.name}>"

    def make(self) -> Any:
        """The object this argument stands for (a new one on every call)."""
        return _make(self, ())


_BUILDERS: dict[str, Callable[..., Any]] = {}
_WANTS_PREVIOUS: set[str] = set()
_PROBES: dict[str, Callable[..., Any]] = {}


def register_builder(name: str, *, previous: bool = False) -> Callable:
    """Decorator: ``fn(**data) -> object`` makes the arguments ``Build(name, data)`` stands for (lesson 00).

    ``previous=True``: the builder also receives ``previous``, the arguments already made before it in the
    same call (e.g. an optimizer over the very model made as the argument before it)."""
    def deco(fn: Callable) -> Callable:
        _BUILDERS[name] = fn
        if previous:
            _WANTS_PREVIOUS.add(name)
        return fn
    return deco


def _make(build: Any, previous: tuple) -> Any:
    data = copy.deepcopy(dict(build.data))
    if build.name in _WANTS_PREVIOUS:
        return _BUILDERS[build.name](previous=previous, **data)
    return _BUILDERS[build.name](**data)


def register_probe(name: str) -> Callable:
    """Decorator: ``fn(got, args, kwargs, **data) -> observations`` for ``Case(probe=(name, data))``
    (lesson 00). ``args``/``kwargs`` are the arguments after the call (a model trained in place). The probe
    may call learner code (a module's forward): it runs under the check's time limit, and it should catch
    the learner's exceptions and report them as observations. Observations must be plain data (dicts with
    string keys, lists, tuples, numbers, strings, None, NumPy arrays); they are all the validator sees."""
    def deco(fn: Callable) -> Callable:
        _PROBES[name] = fn
        return fn
    return deco


def _is_build(value: Any) -> bool:
    """Is ``value`` a :class:`Build`, of this module or of another copy of it? The grader's kernel runs the
    checks from a fresh copy of the package loaded under a name of its own, while the case inputs it unpickles
    name ``course_utils.checks._core.Build``: such a Build is made by THIS copy's builders."""
    if isinstance(value, Build):
        return True
    cls = type(value)
    return (cls.__name__ == "Build" and (cls.__module__ or "").endswith("checks._core")
            and isinstance(getattr(value, "name", None), str) and isinstance(getattr(value, "data", None), dict))


def materialize(value: Any) -> Any:
    """``value`` with every :class:`Build` (also inside lists, tuples and dicts) replaced by its object."""
    if _is_build(value):  # this copy's builder, also for a Build of another copy of the package
        return _make(value, ())
    if type(value) in (list, tuple):
        made: list = []
        for v in value:  # left to right: a builder may use the arguments made before it
            made.append(_make(v, tuple(made)) if _is_build(v) else materialize(v))
        return type(value)(made)
    if type(value) is dict:
        return {k: materialize(v) for k, v in value.items()}
    return value


def _unbuilt(values: tuple, originals: tuple) -> tuple:
    """``values`` with the positions that were :class:`Build` arguments set to None (never compared or sent)."""
    return tuple(None if _is_build(o) else v for v, o in zip(values, originals))


def _prepared(answer: Any, args: tuple, kwargs: dict, floating: str | None, probe: tuple | None,
              returns: Any = None):
    """``(fn, args, kwargs)`` for one call of a case: deep copies of the arguments with :class:`Build` ones
    made, and ``fn`` the answer under ``np.errstate`` if asked, followed by the case's probe if it has one
    (a result of the wrong type, by ``returns``, is reported as ``{"__returns__": problem, "none": ...}``
    instead of probed)."""
    args, kwargs = materialize(copy.deepcopy(tuple(args))), materialize(copy.deepcopy(dict(kwargs)))
    fn = _errstate_call(answer) if floating == "raise" else answer
    if probe is not None:
        name, data = probe
        observe = _PROBES[name]

        def fn(*a, _inner=fn, **k):  # noqa: E306 - the probe runs under the same time limit as the answer
            got = _inner(*a, **k)
            problem = _returns_problem(got, returns)
            if problem:
                return {"__returns__": problem, "none": got is None}
            return observe(got, a, k, **data)
    return fn, args, kwargs


def _probe_returns(got: Any) -> tuple[str | None, bool]:
    """(problem, hint) for an observation that says the answer returned the wrong type."""
    if type(got) is dict and isinstance(got.get("__returns__"), str):
        return got["__returns__"], bool(got.get("none"))
    return None, False


@dataclass(frozen=True)
class Mistake:
    """A predictable wrong answer and what to tell the learner (lesson 00).

    ``detect(got, expected, case) -> bool`` is called when a case fails on its value; when it returns
    True the feedback says "Likely mistake: <message>" instead of the generic hint. A detector that raises
    counts as not firing.
    """

    name: str
    detect: Callable[[Any, Any, Case], bool]
    message: str


@dataclass
class Spec:
    exercise: str
    cases: Callable[[np.random.Generator], Iterable[Case]]
    hint: str = ""
    kind: str = "function"  # or "value"
    time_limit: float = 5.0
    signature: str = ""
    recipe: str = ""
    returns: type | tuple | None = None
    pure: bool = True
    no_loops: bool = False
    mistakes: tuple = ()


@dataclass
class CheckResult:
    """Outcome of one self-check (lesson 00). ``label`` is the failing case's label ("" on a pass)."""

    exercise: str
    passed: bool
    message: str
    n_cases: int = 0
    seconds: float = 0.0
    label: str = ""
    mistake: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


REGISTRY: dict[str, Spec] = {}
_FAILURES: dict[str, int] = {}     # failed runs per exercise in this kernel (the stub does not count)
_PASSED: dict[str, Any] = {}       # exercise -> the answer whose check passed last in this kernel


def register(exercise: str, *, hint: str = "", recipe: str = "", kind: str = "function",
             time_limit: float = 5.0, signature: str = "", returns: type | tuple | None = None,
             pure: bool = True, no_loops: bool = False, mistakes: Sequence[Mistake] = ()) -> Callable:
    """Decorator registering a case generator ``cases(rng) -> Iterable[Case]`` for ``exercise`` (lesson 00).

    ``exercise`` is an id like ``"02.adam_step"``. ``hint`` is a short nudge shown only after a failed case;
    ``recipe`` a fuller one shown instead from the 3rd failed run in this kernel on (neither may give the
    solution away). ``returns`` is a type or tuple of types the result must be an instance of.
    ``pure=True`` rejects functions that modify their arguments in place (set ``pure=False`` for
    exercises whose job is an in-place update, e.g. a training step on a model). ``no_loops=True`` rejects
    Python loops and comprehensions in the function's source. ``mistakes`` are :class:`Mistake` detectors
    tried (before the built-in ones) when a case fails on its value. Raises ``ValueError`` on a bad
    ``kind`` or ``returns``.
    """
    if kind not in ("function", "value"):
        raise ValueError(f"kind must be 'function' or 'value', got {kind!r}")
    if returns is not None and not (isinstance(returns, type) or
                                    (isinstance(returns, tuple) and all(isinstance(t, type) for t in returns))):
        raise ValueError(f"returns must be None, a type or a tuple of types, got {returns!r}")
    for m in mistakes:
        if not isinstance(m, Mistake):
            raise ValueError(f"mistakes must be Mistake(name, detect, message) objects, got {m!r}")

    def deco(fn: Callable[[np.random.Generator], Iterable[Case]]):
        REGISTRY[exercise] = Spec(exercise, fn, hint=hint, kind=kind, time_limit=time_limit,
                                  signature=signature, recipe=recipe, returns=returns, pure=pure,
                                  no_loops=no_loops, mistakes=tuple(mistakes))
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
#: A call that sleeps or waits (no CPU used) still ends after this many times its limit.
WALL_BACKSTOP_FACTOR = 4.0


def call_with_time_limit(fn: Callable, args: tuple, kwargs: dict, seconds: float) -> Any:
    """Call ``fn(*args, **kwargs)``; raise :class:`TimeLimitExceeded` when it runs too long (lesson 00).

    "Too long" means more than ``seconds`` of wall-clock time **and** of this process's CPU time, so
    a correct answer is not failed because other programs slow the machine down (wall time grows,
    CPU time does not) nor because a library runs several threads (CPU time grows faster than wall
    time). A call that only waits (sleep, blocked I/O) ends after ``WALL_BACKSTOP_FACTOR`` times
    ``seconds`` of wall-clock time. Uses SIGALRM in the main thread on POSIX (Jupyter, Colab), which
    interrupts pure-Python loops; elsewhere a watcher thread gives up waiting after ``seconds`` (the
    call may keep running in the background).
    """
    main = threading.current_thread() is threading.main_thread()
    if hasattr(signal, "setitimer") and main:
        wall0, cpu0 = time.monotonic(), time.process_time()
        backstop = WALL_BACKSTOP_FACTOR * seconds

        def on_alarm(signum, frame):
            cpu = time.process_time() - cpu0
            wall = time.monotonic() - wall0
            if cpu >= seconds or wall >= backstop:
                raise TimeLimitExceeded()
            # Slowed down by others: allow the CPU time still missing (capped by the backstop).
            signal.setitimer(signal.ITIMER_REAL, max(0.05, min(seconds - cpu, backstop - wall)))

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


def as_float_array(x: Any) -> np.ndarray | None:
    """``x`` as a float array (torch/TF tensors converted), or None when it is not numeric (lesson 00).

    For lesson modules' mistake detectors. A complex array is not numeric here (its
    imaginary part would be dropped silently).
    """
    try:
        a = np.asarray(_to_numpy_if_tensor(x))
        if np.iscomplexobj(a) or a.dtype == object:   # ragged lists, None entries, complex values
            return None
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        return None


def close_to(got: Any, value: Any, rtol: float = 1e-7, atol: float = 1e-12) -> bool:
    """Does ``got`` equal ``value`` (same shape, ``allclose``)? False for anything not numeric (lesson 00)."""
    g = as_float_array(got)
    v = np.asarray(value, dtype=float)
    return g is not None and g.shape == v.shape and bool(np.allclose(g, v, rtol=rtol, atol=atol))


def close_to_float32(got: Any, value: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Does ``got`` equal ``value`` up to float32 rounding (same shape; ``atol`` relative to the largest
    ``|value|``; NaN equals NaN)? For mistake detectors, so that a wrong answer computed in float32 is still
    recognised; False for anything not numeric (lesson 06)."""
    g = as_float_array(got)
    v = np.asarray(value, dtype=float)
    if g is None or g.shape != v.shape:
        return False
    scale = float(np.nanmax(np.abs(v))) if v.size and np.isfinite(v).any() else 1.0
    return bool(np.allclose(g, v, rtol=rtol, atol=atol * max(scale, 1.0), equal_nan=True))


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
    """Return None when ``got`` matches ``expected``, else a description of the problem (lesson 00).

    Numbers and arrays match when ``|got - expected| <= atol + rtol * |expected|`` element-wise (shapes
    equal, NaN only where NaN is expected); tuples, lists and dicts item by item; a callable ``expected``
    is a validator returning the problem or None. ``atol`` must suit the data's scale: an expected 0
    accepts only ``|got| <= atol`` (e.g. ``atol=1e-15`` accepts a correct 1e-18), so never use tiny
    values like 1e-300.
    """
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
            raw = np.asarray(got)
            if np.iscomplexobj(raw) and not np.iscomplexobj(expected):
                return (f"got complex numbers{at} where real ones were expected: keep the real quantity the "
                        "exercise asks for (a magnitude, a power or a real part), not the complex values")
            kind = complex if np.iscomplexobj(expected) else float
            g = np.asarray(raw, dtype=kind)
        except (TypeError, ValueError):
            return f"expected a number or array{at}, got {type(got).__name__}: {describe(got)}"
        e = np.asarray(expected, dtype=kind)
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


# ----------------------------------------------------------------------------- stated requirements
def _type_name(t: type) -> str:
    module = getattr(t, "__module__", "")
    if module.startswith("numpy"):
        return f"np.{t.__name__}"
    if module.startswith("torch"):
        return f"torch.{t.__name__}"
    return t.__name__


def _returns_problem(got: Any, returns: type | tuple | None) -> str | None:
    if returns is None or isinstance(got, returns):
        return None
    if got is None:
        return "got None: did the function forget to `return` its result?"
    wanted = " or ".join(_type_name(t) for t in (returns if isinstance(returns, tuple) else (returns,)))
    fix = ""
    if isinstance(got, (list, tuple)) and "np.ndarray" in wanted:
        fix = " (build the result with NumPy operations, or convert it with np.asarray)"
    elif isinstance(got, np.ndarray) and got.size == 1:
        fix = " (a single number is expected: use float(...) or .item())"
    elif isinstance(got, np.ndarray) and "float" in wanted and "np.ndarray" not in wanted:
        fix = " (a single number is expected: reduce the array, e.g. take the mean over all its elements)"
    return f"returned a {_type_name(type(got))}, expected {wanted}{fix}: {describe(got)}"


def _loop_problem(answer: Any) -> str | None:
    """Text naming the first loop or comprehension in ``answer``'s source; None when there is none or
    the source is unavailable (built-ins, functions made by ``exec``, ...)."""
    try:
        source = textwrap.dedent(inspect.getsource(answer))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. the source line of a lambda inside a longer expression
        return None
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))),
                None)
    if func is None:
        return None
    kinds = {ast.For: "a `for` loop", ast.AsyncFor: "an `async for` loop", ast.While: "a `while` loop",
             ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
             ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression"}
    found = [n for n in ast.walk(func) if type(n) in kinds]
    if not found:
        return None
    first = min(found, key=lambda n: (n.lineno, n.col_offset))
    line = first.lineno - func.lineno + 1
    name = getattr(answer, "__name__", "your function")
    return (f"{name} uses {kinds[type(first)]} (line {line} of the function); this exercise asks for "
            "vectorised code: whole-array NumPy operations, without Python loops or comprehensions.")


def _torch_tensor_type() -> type | None:
    torch = sys.modules.get("torch")  # never import torch here: it is slow and may be absent
    return getattr(torch, "Tensor", None) if torch is not None else None


def _unchanged(after: Any, before: Any, depth: int = 0) -> bool:
    """True when ``after`` still equals its snapshot ``before`` (arrays element-wise, NaN equal to NaN)."""
    if depth > 20:
        return True
    tensor = _torch_tensor_type()
    if tensor is not None and isinstance(after, tensor) and isinstance(before, tensor):
        after, before = after.detach().cpu().numpy(), before.detach().cpu().numpy()
    if isinstance(after, np.ndarray) or isinstance(before, np.ndarray):
        if not (isinstance(after, np.ndarray) and isinstance(before, np.ndarray)):
            return False
        if after.shape != before.shape or after.dtype != before.dtype:
            return False
        if np.issubdtype(after.dtype, np.floating) or np.issubdtype(after.dtype, np.complexfloating):
            # Rounding-level differences are not an in-place bug: x[i] += h; ...; x[i] -= h restores x
            # only to ~1e-16. A real in-place change (a forgotten restore, x -= mean) is far larger.
            scale = float(np.nanmax(np.abs(before))) if before.size and not np.isnan(before).all() else 0.0
            return bool(np.allclose(after, before, rtol=1e-12, atol=1e-12 * max(1.0, scale), equal_nan=True))
        try:
            return bool(np.array_equal(after, before, equal_nan=True))
        except TypeError:  # non-numeric dtype
            return bool(np.array_equal(after, before))
    if isinstance(after, (list, tuple)):
        return (type(after) is type(before) and len(after) == len(before)
                and all(_unchanged(a, b, depth + 1) for a, b in zip(after, before)))
    if isinstance(after, dict):
        return (isinstance(before, dict) and after.keys() == before.keys()
                and all(_unchanged(after[k], before[k], depth + 1) for k in after))
    if isinstance(after, float) and isinstance(before, float) and after != after and before != before:
        return True  # both NaN
    if after is before or isinstance(after, type) or callable(after):
        return True  # functions, classes, models: deep copies of them are not compared
    if type(after).__eq__ is object.__eq__:  # no value equality: compare the attributes, if any
        if hasattr(after, "__dict__") and hasattr(before, "__dict__"):
            return _unchanged(vars(after), vars(before), depth + 1)
        return True
    try:
        return bool(after == before)
    except Exception:  # ambiguous or failing comparison: cannot tell, do not accuse
        return True


def _change_size(after: Any, before: Any) -> str:
    try:
        a, b = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
        if a.shape == b.shape and a.size:
            diff = float(np.nanmax(np.abs(a - b)))
            return f"; largest change {diff:.3g}" if diff > 0 else ""
    except (TypeError, ValueError):
        pass
    return ""


def _param_names(answer: Any) -> list[str]:
    try:
        return list(inspect.signature(answer).parameters)
    except (TypeError, ValueError):
        return []


def _purity_problem(answer: Any, args: tuple, kwargs: dict, snap_args: tuple, snap_kwargs: dict,
                    names: list[str] | None = None) -> str | None:
    names = _param_names(answer) if names is None else names
    for k, (a, b) in enumerate(zip(args, snap_args), start=1):
        if not _unchanged(a, b):
            name = f" ({names[k - 1]})" if k - 1 < len(names) else ""
            return (f"modified argument #{k}{name} in place{_change_size(a, b)}. The function must leave its "
                    "inputs unchanged: work on a copy or build a new result (e.g. x = x - 1 instead of "
                    "x -= 1; put back exactly any entry you change temporarily).")
    for key in kwargs:
        if key in snap_kwargs and not _unchanged(kwargs[key], snap_kwargs[key]):
            return (f"modified argument {key!r} in place{_change_size(kwargs[key], snap_kwargs[key])}. "
                    "The function must leave its inputs unchanged: work on a copy or build a new result.")
    return None


# ----------------------------------------------------------------------------- likely mistakes
def _first_numeric_mismatch(got: Any, expected: Any, rtol: float, atol: float):
    """(got, expected) as float arrays for the first numeric part of ``expected`` that ``got`` misses, or None."""
    if callable(expected) and not isinstance(expected, type):
        return None
    got = _to_numpy_if_tensor(got)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return None
        for g, e in zip(got, expected):
            if compare(g, e, rtol, atol) is not None:
                return _first_numeric_mismatch(g, e, rtol, atol)
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return None
        for k in expected:
            if k in got and compare(got[k], expected[k], rtol, atol) is not None:
                return _first_numeric_mismatch(got[k], expected[k], rtol, atol)
        return None
    if not (_is_numeric(expected) or isinstance(expected, np.ndarray)) or got is None:
        return None
    try:
        g, e = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return None
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(e))):
        return None
    return g, e


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _first_dim(case: Case) -> int | None:
    for a in case.args:
        a = _to_numpy_if_tensor(a)
        if isinstance(a, np.ndarray) and a.ndim >= 1:
            return int(a.shape[0])
    return None


def _ratio_kinds(case: Case) -> list[tuple[str, Callable[[np.ndarray], np.ndarray], str]]:
    """(key, transform of expected, message) for the value mistakes the built-in detectors know."""
    kinds = [
        ("sign", lambda e: -e, "the sign is flipped: your result is minus the expected one (check the order of a "
                               "subtraction, or a missing minus sign)."),
        ("x2", lambda e: 2 * e, "your result is 2 times the expected one: a factor 2 too many (a term counted "
                                "twice, or a missing 1/2?)."),
        ("/2", lambda e: e / 2, "your result is half the expected one: a missing factor 2 (e.g. from the "
                                "derivative of a square) or an extra 1/2?"),
    ]
    n = _first_dim(case)
    if n is not None and n > 2:
        kinds += [
            ("xn", lambda e: n * e, f"your result is n = {n} times the expected one (n = the first dimension of "
                                    "the first argument): a missing 1/n, i.e. a sum where the mean is needed?"),
            ("/n", lambda e: e / n, f"your result is the expected one divided by n = {n} (the first dimension of "
                                    "the first argument): an extra 1/n, i.e. a mean where the sum is needed?"),
        ]
    return kinds


def _builtin_mistake(g: np.ndarray, e: np.ndarray, case: Case) -> tuple[str, str] | None:
    """(key, message) of the first built-in mistake that explains ``g`` against ``e``, or None."""
    rtol, atol = max(case.rtol, 1e-9), case.atol
    if g.shape == e.shape and np.any(np.abs(e) > 10 * atol):  # an all-zero expected value has no ratio
        for key, transform, message in _ratio_kinds(case):
            if _close(g, transform(e), rtol, atol):
                return key, message
    if e.ndim >= 2 and not _close(g, e, rtol, atol) and _close(g, np.swapaxes(e, -1, -2), rtol, atol):
        return "T", (f"your result is the transpose of the expected one (shape {g.shape}, expected {e.shape}): "
                     "check which axis is which (rows are examples).")
    if g.shape != e.shape and g.size == e.size and g.size > 1 and _close(g.ravel(), e.ravel(), rtol, atol):
        if g.ndim > e.ndim and g.ndim - e.ndim == sum(1 for d in g.shape if d == 1) - sum(1 for d in e.shape if d == 1):
            return "flat", (f"the numbers are right but the result has an extra axis of length 1: shape {g.shape} "
                            f"instead of {e.shape} (drop it, e.g. keepdims=False or np.squeeze(x, axis=-1)).")
        how = "flattened" if g.ndim < e.ndim else "reshaped"
        return "flat", (f"the numbers are right but the result was {how}: shape {g.shape} instead of {e.shape} "
                        "(keep the axes, e.g. keepdims=True, and do not ravel/reshape the result).")
    return None


def _confirmed(spec: Spec, answer: Any, key: str, failing: Case, cases: list[Case]) -> bool:
    """A built-in mistake seen on one case is claimed only if no other failing case contradicts it (a
    coincidence in one case's numbers must not produce a wrong "Likely mistake")."""
    if spec.kind != "function":
        return True
    for case in cases:
        if case is failing or callable(case.expected):
            continue
        try:
            fn, args, kwargs = _prepared(answer, case.args, case.kwargs, case.floating, case.probe, spec.returns)
            got = call_with_time_limit(fn, args, kwargs, spec.time_limit)
        except Exception:  # noqa: BLE001 - no evidence either way
            continue
        verdict = _same_mistake(got, case, key)
        if verdict is not None:
            return verdict
    return True


def _same_mistake(got: Any, case: Case, key: str) -> bool | None:
    """Evidence of another failing case for the built-in mistake ``key``: ``None`` when this case gives none
    (right on it, no numeric mismatch, or the comparison itself failed), else whether it shows the same mistake."""
    try:
        if compare(got, case.expected, case.rtol, case.atol) is None:
            return None  # right on this case: no evidence either way
        pair = _first_numeric_mismatch(got, case.expected, case.rtol, case.atol)
    except Exception:  # noqa: BLE001 - no evidence either way
        return None
    if pair is None:
        return None
    other = _builtin_mistake(*pair, case)
    return other is not None and other[0] == key


def _has_list_arg(case: Case) -> bool:
    return any(isinstance(a, (list, tuple)) and len(a) > 0 and all(_is_numeric(v) for v in a)
               for a in list(case.args) + list(case.kwargs.values()))


def _works_on_arrays(spec: Spec, answer: Any, case: Case) -> bool:
    """Does ``answer`` pass ``case`` once its plain-list arguments are converted to arrays?"""
    conv = lambda a: np.asarray(a) if isinstance(a, (list, tuple)) and a and all(_is_numeric(v) for v in a) else a  # noqa: E731
    try:  # inside the try: a list of arrays of different shapes cannot become one array ("not this mistake")
        args = tuple(conv(a) for a in copy.deepcopy(case.args))
        kwargs = {k: conv(v) for k, v in copy.deepcopy(case.kwargs).items()}
        fn, args, kwargs = _prepared(answer, args, kwargs, None, case.probe, spec.returns)
        got = call_with_time_limit(fn, args, kwargs, spec.time_limit)
        return compare(got, case.expected, case.rtol, case.atol) is None
    except Exception:  # noqa: BLE001 - any failure just means "not this mistake"
        return False


_LIST_MISTAKE = ("this case passes plain Python lists, and your function is right once they are converted "
                 "to arrays: convert the inputs with np.asarray(...) first (on lists, == compares whole lists "
                 "and + concatenates them).")


def _likely_mistake(spec: Spec, answer: Any, got: Any, case: Case, cases: list[Case]) -> str | None:
    for m in spec.mistakes:
        try:
            if m.detect(got, case.expected, case):
                return m.message
        except Exception:  # noqa: BLE001 - a detector that cannot decide does not fire
            continue
    pair = _first_numeric_mismatch(got, case.expected, case.rtol, case.atol)
    if pair is not None:
        found = _builtin_mistake(*pair, case)
        if found and _confirmed(spec, answer, found[0], case, cases):
            return found[1]
    if spec.kind == "function" and _has_list_arg(case) and _works_on_arrays(spec, answer, case):
        return _LIST_MISTAKE
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


def _fp_kind(exc: FloatingPointError) -> str:
    text = str(exc)
    for key, name in (("overflow", "overflow"), ("invalid", "invalid value"), ("divide", "divide-by-zero")):
        if key in text:
            return name
    return "floating-point"


def _errstate_call(fn: Callable) -> Callable:
    def call(*args, **kwargs):  # errstate is per thread: enter it where the call runs
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            return fn(*args, **kwargs)
    return call


def run_check(exercise: str, answer: Any, seed: int = 0, *, record: bool = True) -> CheckResult:
    """Run the self-check for ``exercise`` on ``answer`` and return a :class:`CheckResult` (lesson 00).

    ``record=False`` leaves this kernel's record alone (the failure count that picks the hint tier, and
    the pass that :func:`use_mine` relies on): for demonstrations of the feedback on a deliberately
    wrong answer.

    ``seed`` selects the random cases; ``seed != 0`` is an instructor test (same checks, other data).
    Records the pass or the failure for :func:`passed`, :func:`use_mine` and the hint tiers.
    Raises ``KeyError`` for an unknown exercise id.
    """
    spec = lookup(exercise)
    start = time.perf_counter()
    instructor = seed != 0

    def finish(text: str, n: int, *, label: str | None = None, mistake: str | None = None,
               hint: bool = True, count: bool = True) -> CheckResult:
        extra = ""
        if count and record:
            _FAILURES[exercise] = _FAILURES.get(exercise, 0) + 1
        if mistake:
            extra = f"\n   Likely mistake: {mistake}"
        elif hint:
            tier = spec.recipe if (spec.recipe and _FAILURES.get(exercise, 0) >= 3) else spec.hint
            extra = f"\n   Hint: {tier}" if tier else ""
        if record:
            _PASSED.pop(exercise, None)
        where = "instructor test (same checks, other data), " if instructor and label is not None else ""
        return CheckResult(exercise, False, f"✗ {exercise}: {where}{text}{extra}", n,
                           time.perf_counter() - start, label=label or "", mistake=mistake or "")

    if spec.kind == "function" and not callable(answer):
        sig = f" {spec.signature}" if spec.signature else ""
        return finish(f"expected a function{sig}, got {type(answer).__name__}. Pass the function itself, "
                      "without calling it (no parentheses).", 0, hint=False, count=False)
    rng = np.random.default_rng(_seed_for(exercise, seed))
    try:
        cases = list(spec.cases(rng))
    except Exception as exc:  # a bug in the check itself: say so plainly
        return finish(f"the check itself failed ({type(exc).__name__}: {exc}); please report this.", 0,
                      hint=False, count=False)
    loops = _loop_problem(answer) if (spec.kind == "function" and spec.no_loops) else None
    for n, case in enumerate(cases, start=1):
        shown = (case.label or f"case {n}") if instructor else case.label
        label = f" [{shown}]" if shown else ""
        head = f"case {n}/{len(cases)}{label}"
        if spec.kind == "value":
            got, call = answer, "your answer"
        else:
            call = _call_text(spec, answer, case)
            fn, args, kwargs = _prepared(answer, case.args, case.kwargs, case.floating, case.probe, spec.returns)
            snap_args, snap_kwargs = (copy.deepcopy(args), copy.deepcopy(kwargs)) if spec.pure else ((), {})
            try:
                got = call_with_time_limit(fn, args, kwargs, spec.time_limit)
            except TimeLimitExceeded:
                return finish(f"{head}: {call} took longer than {spec.time_limit:g} s. "
                              "Look for an endless loop, or replace Python loops by array operations.", n,
                              label=shown)
            except NotImplementedError:
                return finish("not implemented yet: replace `raise NotImplementedError()` with your code.", n,
                              hint=False, count=False)
            except FloatingPointError as exc:
                if case.floating != "raise":
                    return finish(f"{head}: {call} raised FloatingPointError: {exc}{_learner_frame(exc)}", n,
                                  label=shown)
                return finish(f"{head}: {call} hit a floating-point {_fp_kind(exc)} error ({exc}"
                              f"{_learner_frame(exc)}): use a numerically stable formulation.", n, label=shown)
            except Exception as exc:
                mistake = (_LIST_MISTAKE if _has_list_arg(case) and _works_on_arrays(spec, answer, case)
                           else None)
                return finish(f"{head}: {call} raised {type(exc).__name__}: {exc}{_learner_frame(exc)}", n,
                              label=shown, mistake=mistake)
            if loops:  # reported after the first call, so the stub still gets "not implemented yet"
                return finish(f"case {n}/{len(cases)} [no Python loops]: {loops}", n, label="no Python loops")
            if spec.pure:
                problem = _purity_problem(answer, _unbuilt(args, case.args), kwargs, _unbuilt(snap_args, case.args),
                                          snap_kwargs)
                if problem:  # the message says how to fix it; the exercise's hint is about values
                    return finish(f"{head}: {call} {problem}", n, label=shown, hint=False)
        if case.probe:  # the type was judged before the probe, where the answer ran
            problem, nudge = _probe_returns(got)
        else:
            problem, nudge = _returns_problem(got, spec.returns), got is None
        if problem:  # a wrong type says how to fix it; a missing return still gets the nudge
            return finish(f"{head}: {call} {problem}", n, label=shown, hint=nudge)
        try:
            problem = compare(got, case.expected, case.rtol, case.atol)
        except Exception as exc:
            problem = f"could not compare the result ({type(exc).__name__}: {exc}); got {describe(got)}"
        if problem:
            mistake = _likely_mistake(spec, answer, got, case, cases)
            return finish(f"{head}: {call}: {problem}", n, label=shown, mistake=mistake)
    if record:
        _PASSED[exercise] = answer
    return CheckResult(exercise, True, f"✓ {exercise}: passed all {len(cases)} cases"
                       + (" (instructor test, other data)." if instructor else "."), len(cases),
                       time.perf_counter() - start)


def check(exercise: str, answer: Any, seed: int = 0) -> None:
    """Self-check an exercise and print feedback (lesson 00).

    Use it right after an exercise: ``check("00.to_celsius", to_celsius)``. ``seed != 0`` runs the same
    checks on other data (that is what instructor/hidden tests do). In grading mode
    (``COURSE_GRADING=1``) a failed check raises :class:`CheckFailed` (its message names the failing
    case's label) so the grader records it.
    """
    from ..config import grading_mode

    result = run_check(exercise, answer, seed=seed)
    print(result.message)
    if not result.passed and grading_mode():
        raise CheckFailed(result.message)


def passed(exercise: str) -> bool:
    """True when the self-check of ``exercise`` passed in this kernel (and no later check of it failed)
    (lesson 00)."""
    return exercise in _PASSED


def use_mine(exercise: str, mine: Any, reference: Callable, *, enabled: bool = True) -> Callable:
    """The learner's function ``mine`` if ``enabled`` and its check passed in this kernel, else the course's
    ``reference``; prints one line saying which is used and why (lesson 00).

    Lessons call it with a ``USE_MY_CODE = True`` switch, e.g.
    ``huber_grad_fn = use_mine("01.huber_grad", huber_grad, losses.huber_grad, enabled=USE_MY_CODE)``.
    A function redefined after its check passed is not used until its check cell runs again.
    """
    name = getattr(mine, "__name__", None) or exercise.split(".", 1)[-1]
    ref = f"using the course's reference for {exercise}"
    if not enabled:
        print(f"{ref} (USE_MY_CODE is False)")
        return reference
    if exercise not in _PASSED or not callable(mine):
        print(f"{ref}: your version has not passed its self-check yet (run its check cell)")
        return reference
    if _PASSED[exercise] is not mine:
        print(f"{ref}: your current {name} is not the version that passed its self-check "
              "(run its check cell again)")
        return reference
    print(f"using your {name} (its self-check passed)")
    return mine


# ----------------------------------------------------------------------------- split checks (the grader)
# The grader's sandbox splits a check in two: the learner's function is called *inside* the sandbox on the
# cases' inputs only (:func:`run_answer`, which never sees an expected value), its outputs travel out as
# plain data, and the verdict is decided *outside* (:func:`judge`) with the same messages as
# :func:`run_check`. Mistake detectors that would call the function again work on what was recorded: the
# outputs of every case, and of each case with plain-list arguments once more with arrays.


@dataclass
class CaseRun:
    """What the answer did on one case's inputs (lesson 00, grader).

    ``status``: ``ok`` (``got`` holds the result), ``raised`` (``ename``, ``message``, ``frame``),
    ``timeout`` or ``not_implemented``. ``args_after``/``kwargs_after``: the arguments after the call (for
    the in-place check). ``converted``: the same call with plain-list arguments converted to arrays, for
    cases that have some.
    """

    status: str = "ok"
    got: Any = None
    ename: str = ""
    message: str = ""
    frame: str = ""
    args_after: tuple = ()
    kwargs_after: dict = field(default_factory=dict)
    converted: Any = None  # CaseRun | None


@dataclass
class AnswerRun:
    """Everything :func:`judge` needs to know about the answer, recorded where it ran (lesson 00, grader)."""

    name: str = "your function"
    params: list = field(default_factory=list)
    is_callable: bool = True
    type_name: str = ""
    loops: str = ""
    runs: list = field(default_factory=list)  # one CaseRun per case, in order (may stop early)


def case_inputs(cases: Sequence[Case]) -> list[tuple[tuple, dict, str | None, tuple | None]]:
    """The part of each case that the learner's function receives: ``(args, kwargs, floating, probe)``
    (arguments still as :class:`Build`, the probe as its name and input data); no expected value, no label
    (lesson 00, grader)."""
    return [(case.args, case.kwargs, case.floating, case.probe) for case in cases]


def _run_one(spec: Spec, answer: Any, args: tuple, kwargs: dict, floating: str | None,
             probe: tuple | None = None) -> CaseRun:
    built = tuple(args)
    try:
        fn, args, kwargs = _prepared(answer, args, kwargs, floating, probe, spec.returns)
    except Exception as exc:  # noqa: BLE001 - a builder that fails here: reported like a failed call
        return CaseRun("raised", ename=type(exc).__name__, message=f"(preparing the case) {exc}")
    try:
        got = call_with_time_limit(fn, args, kwargs, spec.time_limit)
    except TimeLimitExceeded:
        return CaseRun("timeout")
    except NotImplementedError:
        return CaseRun("not_implemented")
    except Exception as exc:  # noqa: BLE001 - reported, like run_check does
        return CaseRun("raised", ename=type(exc).__name__, message=str(exc), frame=_learner_frame(exc))
    return CaseRun("ok", got=got, args_after=_unbuilt(args, built), kwargs_after=kwargs)


def run_answer(exercise: str, answer: Any, inputs: Sequence[tuple[tuple, dict, str | None]]) -> AnswerRun:
    """Call ``answer`` on every case input of ``exercise`` (from :func:`case_inputs`) and record what it did
    (lesson 00, grader). Stops after a time-out or ``NotImplementedError``; judges nothing."""
    spec = lookup(exercise)
    run = AnswerRun(name=str(getattr(answer, "__name__", None) or "your function"), params=_param_names(answer),
                    is_callable=callable(answer), type_name=type(answer).__name__)
    if spec.kind == "value":
        run.runs = [CaseRun("ok", got=answer)]
        return run
    if not run.is_callable:
        return run
    if spec.no_loops:
        run.loops = _loop_problem(answer) or ""
    for args, kwargs, floating, *rest in inputs:
        probe = rest[0] if rest else None
        one = _run_one(spec, answer, args, kwargs, floating, probe)
        if _has_list_arg(Case(args=tuple(args), kwargs=dict(kwargs))):
            conv = lambda a: np.asarray(a) if isinstance(a, (list, tuple)) and a and all(_is_numeric(v) for v in a) else a  # noqa: E731
            try:
                c_args = tuple(conv(a) for a in copy.deepcopy(args))
                c_kwargs = {k: conv(v) for k, v in copy.deepcopy(kwargs).items()}
                one.converted = _run_one(spec, answer, c_args, c_kwargs, None, probe)
            except Exception:  # noqa: BLE001 - not convertible: no evidence
                one.converted = None
        run.runs.append(one)
        if one.status in ("timeout", "not_implemented"):
            break
    return run


def _describe_call(name: str, case: Case) -> str:
    parts = [describe(a, 80) for a in case.args] + [f"{k}={describe(v, 80)}" for k, v in case.kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _mistake_from_runs(spec: Spec, got: Any, case: Case, cases: list[Case], runs: list[CaseRun]) -> str | None:
    """:func:`_likely_mistake` on recorded outputs instead of new calls."""
    for m in spec.mistakes:
        try:
            if m.detect(got, case.expected, case):
                return m.message
        except Exception:  # noqa: BLE001
            continue
    pair = _first_numeric_mismatch(got, case.expected, case.rtol, case.atol)
    if pair is not None:
        found = _builtin_mistake(*pair, case)
        if found and (spec.kind != "function" or _confirmed_from_runs(found[0], case, cases, runs)):
            return found[1]
    if spec.kind == "function" and _list_mistake_from_runs(case, cases, runs):
        return _LIST_MISTAKE
    return None


def _confirmed_from_runs(key: str, failing: Case, cases: list[Case], runs: list[CaseRun]) -> bool:
    for case, run in zip(cases, runs):
        if case is failing or callable(case.expected):
            continue
        if run.status != "ok":
            continue
        verdict = _same_mistake(run.got, case, key)
        if verdict is not None:
            return verdict
    return True


def _list_mistake_from_runs(case: Case, cases: list[Case], runs: list[CaseRun]) -> bool:
    if not _has_list_arg(case):
        return False
    run = next((r for c, r in zip(cases, runs) if c is case), None)
    conv = getattr(run, "converted", None)
    if conv is None or conv.status != "ok":
        return False
    try:
        return compare(conv.got, case.expected, case.rtol, case.atol) is None
    except Exception:  # noqa: BLE001
        return False


def judge(exercise: str, answer: AnswerRun, seed: int = 0, *, cases: Sequence[Case] | None = None,
          failures: int = 0) -> CheckResult:
    """The verdict of :func:`run_check` from what :func:`run_answer` recorded (lesson 00, grader).

    ``cases``: the cases the inputs came from (default: generated again from ``seed``); ``failures``:
    earlier failed runs, which pick the hint tier like the kernel's count does. Never calls learner code.
    """
    spec = lookup(exercise)
    start = time.perf_counter()
    instructor = seed != 0

    def finish(text: str, n: int, *, label: str | None = None, mistake: str | None = None,
               hint: bool = True) -> CheckResult:
        extra = ""
        if mistake:
            extra = f"\n   Likely mistake: {mistake}"
        elif hint:
            tier = spec.recipe if (spec.recipe and failures + 1 >= 3) else spec.hint
            extra = f"\n   Hint: {tier}" if tier else ""
        where = "instructor test (same checks, other data), " if instructor and label is not None else ""
        return CheckResult(exercise, False, f"✗ {exercise}: {where}{text}{extra}", n,
                           time.perf_counter() - start, label=label or "", mistake=mistake or "")

    if spec.kind == "function" and not answer.is_callable:
        sig = f" {spec.signature}" if spec.signature else ""
        return finish(f"expected a function{sig}, got {answer.type_name}. Pass the function itself, "
                      "without calling it (no parentheses).", 0, hint=False)
    if cases is None:
        try:
            cases = list(spec.cases(np.random.default_rng(_seed_for(exercise, seed))))
        except Exception as exc:  # noqa: BLE001
            return finish(f"the check itself failed ({type(exc).__name__}: {exc}); please report this.", 0,
                          hint=False)
    cases = list(cases)
    runs = list(answer.runs)
    for n, case in enumerate(cases, start=1):
        shown = (case.label or f"case {n}") if instructor else case.label
        label = f" [{shown}]" if shown else ""
        head = f"case {n}/{len(cases)}{label}"
        if spec.kind == "value":
            if not runs:
                return finish("no answer was recorded", n, label=shown, hint=False)
            got, call = runs[0].got, "your answer"
        else:
            call = _describe_call(answer.name, case)
            if n > len(runs):
                return finish(f"{head}: {call} was not run (no result was recorded for it)", n, label=shown,
                              hint=False)
            run = runs[n - 1]
            if run.status == "timeout":
                return finish(f"{head}: {call} took longer than {spec.time_limit:g} s. "
                              "Look for an endless loop, or replace Python loops by array operations.", n,
                              label=shown)
            if run.status == "not_implemented":
                return finish("not implemented yet: replace `raise NotImplementedError()` with your code.", n,
                              hint=False)
            if run.status != "ok":
                if run.ename == "FloatingPointError":
                    if case.floating != "raise":
                        return finish(f"{head}: {call} raised FloatingPointError: {run.message}{run.frame}", n,
                                      label=shown)
                    kind = _fp_kind(FloatingPointError(run.message))
                    return finish(f"{head}: {call} hit a floating-point {kind} error ({run.message}"
                                  f"{run.frame}): use a numerically stable formulation.", n, label=shown)
                mistake = _LIST_MISTAKE if _list_mistake_from_runs(case, cases, runs) else None
                return finish(f"{head}: {call} raised {run.ename}: {run.message}{run.frame}", n,
                              label=shown, mistake=mistake)
            if answer.loops:
                return finish(f"case {n}/{len(cases)} [no Python loops]: {answer.loops}", n,
                              label="no Python loops")
            if spec.pure:
                problem = _purity_problem(None, _unbuilt(tuple(run.args_after), case.args), dict(run.kwargs_after),
                                          _unbuilt(case.args, case.args), case.kwargs, names=list(answer.params))
                if problem:
                    return finish(f"{head}: {call} {problem}", n, label=shown, hint=False)
            got = run.got
        if case.probe:
            problem, nudge = _probe_returns(got)
        else:
            problem, nudge = _returns_problem(got, spec.returns), got is None
        if problem:
            return finish(f"{head}: {call} {problem}", n, label=shown, hint=nudge)
        try:
            problem = compare(got, case.expected, case.rtol, case.atol)
        except Exception as exc:  # noqa: BLE001
            problem = f"could not compare the result ({type(exc).__name__}: {exc}); got {describe(got)}"
        if problem:
            mistake = _mistake_from_runs(spec, got, case, cases, runs)
            return finish(f"{head}: {call}: {problem}", n, label=shown, mistake=mistake)
    return CheckResult(exercise, True, f"✓ {exercise}: passed all {len(cases)} cases"
                       + (" (instructor test, other data)." if instructor else "."), len(cases),
                       time.perf_counter() - start)


def fixed_cotangent(shape: tuple) -> np.ndarray:
    """A fixed, generic cotangent (float32, of ``shape``) for gradient observations: ``sum(output * cotangent)``
    weighs every output element differently, without a random draw (the cases' data stay the same for every
    seed) (lesson 00, grader; used from lesson 07 on)."""
    n = int(np.prod(shape))
    return np.sin(1.7 * np.arange(n) + 0.3).reshape(shape).astype(np.float32)


def tensor_values(t: Any) -> np.ndarray:
    """A tensor's values as a NumPy array of its own dtype (what :func:`compare` sees of a tensor); float64
    for dtypes NumPy lacks (bfloat16) (lesson 00, grader)."""
    t = t.detach().cpu()
    try:
        return t.resolve_conj().numpy()
    except (TypeError, RuntimeError):
        return t.double().numpy()


def cotangent_gradients(out: Any, cotangent: Any, leaves: Callable[[], list], through: str) -> tuple[dict, str | None]:
    """The gradients of ``sum(out * cotangent)`` with respect to named tensors, made where the answer ran (lesson
    00, grader; used by the probes of lessons 07-09).

    ``leaves()`` gives ``[(name, tensor), ...]`` (called inside the guard: a missing attribute is reported);
    returns ``({name: float64 array or None where no gradient reaches}, None)``, or ``({}, problem)`` when
    backpropagating through the learner's graph raised; ``through`` starts that problem's text
    ("backpropagating through the output").
    """
    import torch

    try:
        named = list(leaves())
        loss = (out * torch.from_numpy(np.asarray(cotangent)).to(out.dtype)).sum()
        found = torch.autograd.grad(loss, [t for _, t in named], allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - the learner's graph: reported, not raised
        return {}, f"{through} raised {type(exc).__name__}: {str(exc)[:300]}"
    return {n: None if g is None else g.detach().cpu().double().numpy() for (n, _), g in zip(named, found)}, None


def gradients_problem(grads: Any, expected: dict, *, prefix: str = "", part: str = "forward",
                      detached: str = "forward") -> str | None:
    """What is wrong with observed gradients ``grads`` (name -> array, None where no gradient reached) against
    ``expected`` (name -> float64 array), or None (lesson 00, grader; used by the module checks of lessons 07-09).

    A missing gradient counts as zero (a parameter that cannot change the result, e.g. a key bias under a
    softmax, is right to get none); tolerance ``rtol=1e-3`` and ``atol=1e-4 * max(1, max|expected|)`` (float32
    forward passes). Messages name ``prefix + name`` and say which ``part`` may be computed outside autograd.
    """
    grads = grads if isinstance(grads, dict) else {}
    for name, want in expected.items():
        raw = grads.get(name)
        try:
            g = np.zeros_like(want) if raw is None else np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            g = np.full((0,), np.nan)
        tol = 1e-4 * max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        if g.shape != want.shape or not np.allclose(g, want, rtol=1e-3, atol=tol):
            if raw is None:
                return (f"the values are right but no gradient reaches {prefix}{name}: part of {part} is computed "
                        "outside autograd (.detach(), .item(), NumPy) or from a copy")
            diff = float(np.max(np.abs(g - want))) if g.shape == want.shape else float("nan")
            return (f"the values are right but the gradient with respect to {prefix}{name} differs from the "
                    f"expected one by up to {diff:.3g}: is a part of {detached} detached, or computed outside "
                    "autograd?")
    return None


@register_probe("torch.output")
def tensor_observations(got: Any, args: tuple, kwargs: dict, wrt: Sequence = (), cotangent: Any = None) -> dict:
    """Plain observations of what an answer returned, for a check that wants a torch tensor (lesson 00, grader).

    Always ``type`` and ``repr`` (at most 60 characters). For a tensor also ``shape``, ``dtype`` (e.g.
    ``"torch.float64"``), ``requires_grad``, ``grad_fn`` (whether it is attached to autograd), ``value`` (a
    float64 array, or the tensor's own dtype when it is not floating) and ``grads``: for each argument named in
    ``wrt`` (a position or a keyword), the gradient of the result (of ``sum(result * cotangent)`` when a
    ``cotangent`` is given, else of the result itself, which must then hold one number) with respect to that
    argument, as a float64 array, or None where no gradient reaches it. The gradients are what make the
    observations as hard to forge as the answer itself: a detached result has none.
    """
    import torch

    try:
        text = repr(got)[:60]
    except Exception:  # noqa: BLE001
        text = ""
    obs: dict = {"type": type(got).__name__, "repr": text}
    if not isinstance(got, torch.Tensor):
        return obs
    value = got.detach().cpu()
    obs.update(shape=tuple(int(d) for d in got.shape), dtype=str(got.dtype), requires_grad=bool(got.requires_grad),
               grad_fn=got.grad_fn is not None,
               value=(value.double() if value.is_floating_point() else value).resolve_conj().numpy())
    grads: list = [None] * len(wrt)
    if got.grad_fn is not None and got.is_floating_point():
        out = got if cotangent is None else (got * torch.as_tensor(np.asarray(cotangent), dtype=got.dtype)).sum()
        if out.numel() == 1:
            targets = [(k, args[w] if isinstance(w, int) else kwargs.get(w)) for k, w in enumerate(wrt)
                       if isinstance(w, int) and w < len(args) or isinstance(w, str)]
            targets = [(k, t) for k, t in targets if isinstance(t, torch.Tensor) and t.requires_grad]
            if targets:
                found = torch.autograd.grad(out.reshape(()), [t for _, t in targets], retain_graph=True,
                                            allow_unused=True)
                for (k, _), g in zip(targets, found):
                    grads[k] = None if g is None else g.detach().cpu().double().numpy()
    obs["grads"] = grads
    return obs
