import os
import subprocess
import sys

from course_utils import env


def test_version_ranges():
    assert env.in_tested_range("torch", "2.11.0") is True
    assert env.in_tested_range("torch", "2.13.0+cpu") is True
    assert env.in_tested_range("torch", "2.14.1") is False
    assert env.in_tested_range("keras", "3.13.2") is True
    assert env.in_tested_range("numpy", "1.26.4") is False
    assert env.in_tested_range("ipywidgets", "7.7.1") is True
    assert env.in_tested_range("numpy", None) is None


def test_report_flags_untested_versions():
    info = {"course_utils": "x", "runtime": "python", "platform": "p", "fast_mode": False,
            "packages": {"numpy": {"version": "1.26.4", "tested": False}, "torch": {"version": None, "tested": None}}}
    text = env.format_report(info)
    assert "WARNING: untested" in text and "not installed" in text


def test_runtime_detects_colab(monkeypatch):
    import types

    assert env.runtime() in ("python", "jupyter")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert env.runtime() == "colab"


def test_cli_report_runs():
    out = subprocess.run([sys.executable, "-m", "course_utils.env"], check=True, capture_output=True,
                         text=True, env={**os.environ}).stdout
    for name in ("numpy", "torch", "tensorflow", "keras", "librosa", "CPU cores"):
        assert name in out


def test_setup_seeds_and_silences_tf():
    code = ("import os, course_utils as cu, random, numpy as np, torch\n"
            "info = cu.setup(seed=3, report=False)\n"
            "a = (random.random(), np.random.rand(), torch.rand(1).item())\n"
            "cu.setup(seed=3, report=False)\n"
            "b = (random.random(), np.random.rand(), torch.rand(1).item())\n"
            "assert a == b, (a, b)\n"
            "assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '3'\n"
            "assert torch.are_deterministic_algorithms_enabled()\n"
            "print(sorted(info['seeded']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "keras/tensorflow" in proc.stdout and "torch" in proc.stdout
    # No C++ log lines from TensorFlow on stderr (the nbval pitfall).
    assert "cpu_feature_guard" not in proc.stderr and "oneDNN" not in proc.stderr
