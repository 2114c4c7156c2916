"""Environment report, runtime detection, seeding and determinism.

Introduced in lesson 00 (setup). ``python -m course_utils.env`` prints the same
report that :func:`course_utils.setup` prints: paste it into bug reports.
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
import random
import sys
from typing import Any

from . import config

#: Tested ranges [low, high): Colab's stack (low end) to the CI pins (high end).
#: Outside a range the course warns but keeps going.
TESTED: dict[str, tuple[str, str]] = {
    "python": ("3.10", "3.14"),
    "numpy": ("2.1", "2.5"),
    "torch": ("2.11", "2.14"),
    "tensorflow": ("2.20", "2.22"),
    "keras": ("3.13", "3.16"),
    "librosa": ("0.11", "0.12"),
    "matplotlib": ("3.8", "3.12"),
    "seaborn": ("0.13", "0.14"),
    "ipywidgets": ("7.7", "9"),
    "scikit-learn": ("1.5", "2"),
}

# Distribution names to try for each package (TensorFlow ships as tensorflow or tensorflow-cpu).
_DISTS: dict[str, tuple[str, ...]] = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


def _vtuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def package_version(name: str) -> str | None:
    """Installed version of ``name`` without importing it, or None (lesson 00)."""
    if name == "python":
        return platform.python_version()
    for dist in _DISTS.get(name, (name,)):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None


def in_tested_range(name: str, version: str | None) -> bool | None:
    """True/False whether ``version`` is in :data:`TESTED`; None when unknown or absent."""
    if version is None or name not in TESTED:
        return None
    low, high = TESTED[name]
    v = _vtuple(version)
    return _vtuple(low) <= v < _vtuple(high)


def runtime() -> str:
    """Where the code runs: ``"colab"``, ``"jupyter"`` (a Jupyter kernel) or ``"python"`` (lesson 00)."""
    if "google.colab" in sys.modules:
        return "colab"
    try:
        from IPython import get_ipython  # type: ignore

        shell = get_ipython()
    except Exception:  # IPython absent
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return "jupyter"
    return "python"


def silence_tensorflow() -> None:
    """Hide TensorFlow's C++ INFO/WARNING lines; effective only before TF is imported (lesson 00)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # oneDNN's "custom operations are on" banner is a C++ log line too.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def seed_everything(seed: int = 0, deterministic: bool = True) -> list[str]:
    """Seed random, NumPy, PyTorch and Keras/TF; optionally force deterministic ops (lesson 00).

    Returns the names of the libraries that were seeded.
    """
    import numpy as np

    seeded = ["random", "numpy"]
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))  # for subprocesses started later
    if _installed("torch"):
        import torch

        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seeded.append("torch")
    if _installed("tensorflow"):
        silence_tensorflow()
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        if deterministic:
            try:
                tf.config.experimental.enable_op_determinism()
            except Exception:  # older TF without the switch
                pass
        seeded.append("keras/tensorflow")
    return seeded


def devices() -> dict[str, Any]:
    """CPU count and accelerators seen by PyTorch and TensorFlow, when installed (lesson 00)."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if _installed("torch"):
        import torch

        info["torch_cuda"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if _installed("tensorflow"):
        silence_tensorflow()
        import tensorflow as tf

        info["tf_gpus"] = len(tf.config.list_physical_devices("GPU"))
    return info


def set_figure_defaults() -> None:
    """Readable, consistent figures for every lesson (lesson 00)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def report(probe_devices: bool = True) -> dict[str, Any]:
    """Collect the environment report as a dict (lesson 00)."""
    from . import FAST

    packages = {}
    for name in TESTED:
        version = package_version(name)
        packages[name] = {"version": version, "tested": in_tested_range(name, version)}
    info: dict[str, Any] = {
        "course_utils": sys.modules["course_utils"].__version__,
        "runtime": runtime(),
        "platform": f"{platform.system()} {platform.machine()}",
        "fast_mode": FAST,
        "packages": packages,
    }
    if probe_devices:
        info["devices"] = devices()
    return info


def format_report(info: dict[str, Any]) -> str:
    """Render :func:`report`'s dict as the text block printed by setup (lesson 00)."""
    lines = [
        f"course_utils {info['course_utils']} | runtime: {info['runtime']} | {info['platform']}"
        f" | fast mode: {'on' if info['fast_mode'] else 'off'}",
    ]
    for name, p in info["packages"].items():
        if p["version"] is None:
            status = "not installed"
        elif p["tested"] is None:
            status = ""
        elif p["tested"]:
            status = "ok"
        else:
            low, high = TESTED[name]
            status = f"WARNING: untested (tested >={low},<{high})"
        lines.append(f"  {name:<13} {p['version'] or '-':<14} {status}".rstrip())
    if "devices" in info:
        d = info["devices"]
        gpu = []
        if "torch_cuda" in d:
            gpu.append(f"torch CUDA devices: {d['torch_cuda']}")
        if "tf_gpus" in d:
            gpu.append(f"TF GPUs: {d['tf_gpus']}")
        lines.append(f"  CPU cores: {d['cpu_count']}" + ("; " + "; ".join(gpu) if gpu else ""))
    return "\n".join(lines)


def setup(seed: int = 0, report: bool = True, deterministic: bool = True) -> dict[str, Any]:
    """Implementation of :func:`course_utils.setup` (lesson 00)."""
    config.validate()
    silence_tensorflow()
    seeded = seed_everything(seed, deterministic=deterministic)
    set_figure_defaults()
    info = globals()["report"](probe_devices=True)
    info["seeded"] = seeded
    info["seed"] = seed
    if report:
        print(format_report(info))
        print(f"  seeded: {', '.join(seeded)} (seed={seed}); deterministic ops: {'on' if deterministic else 'off'}")
    return info


def main() -> None:
    """``python -m course_utils.env``: print the report for bug reports."""
    silence_tensorflow()
    print(format_report(report(probe_devices=True)))
    print(f"  python executable: {sys.executable}")


if __name__ == "__main__":
    main()
