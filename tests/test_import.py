"""`import course_utils` is light: no heavy framework (its time is measured by benchmarks/bench_core.py)."""
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
               "course_utils.env, course_utils.widgets, course_utils.progress, course_utils.plots, course_utils.checks; "
               f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_setup_pulls_in_no_heavy_framework():
    # The first cell of every lesson: frameworks are seeded when a lesson imports them, not here.
    out = _run("import sys, json, course_utils as cu; cu.setup(seed=0, report=False); "
               f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_feature_modules_import_light():
    # Lessons 04-06 import these at the top; librosa, sklearn, opensmile, sentence-transformers load on first use.
    heavy = HEAVY + ["opensmile", "sentence_transformers", "vaderSentiment", "resemblyzer"]
    out = _run("import sys, json, course_utils.features as f, course_utils.probe, course_utils.models, course_utils.fusion; f.text, f.image, f.audio; "
               f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    assert json.loads(out) == []
