"""`import course_utils` is light: no heavy framework, fast."""
import json
import subprocess
import sys

HEAVY = ["torch", "tensorflow", "keras", "librosa", "sklearn", "pandas", "numba"]


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_pulls_in_no_heavy_framework():
    out = _run("import sys, json, course_utils; "
               f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_light_submodules_stay_light():
    # Modules a lesson imports for small helpers must not drag in frameworks either.
    out = _run("import sys, json, course_utils, course_utils.paths, course_utils.colab, course_utils.config, "
               "course_utils.widgets, course_utils.progress, course_utils.plots, course_utils.checks; "
               f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_import_time_under_half_a_second():
    # Best of three fresh interpreters, measured inside the process (excludes interpreter start-up).
    code = ("import time; t = time.perf_counter(); import course_utils; "
            "print(time.perf_counter() - t)")
    best = min(float(_run(code)) for _ in range(3))
    assert best < 0.5, f"import course_utils took {best:.3f} s"
