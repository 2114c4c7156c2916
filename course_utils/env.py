"""Environment report, runtime detection, seeding, determinism and a sane kernel set-up.

Introduced in lesson 00 (setup). ``python -m course_utils.env`` prints the same
report that :func:`course_utils.setup` prints: paste it into bug reports.

:func:`setup` is fast (well under 2 s): it never imports PyTorch, TensorFlow or
Keras. Frameworks that are not imported yet are seeded the moment a lesson
first imports them (an import hook, :func:`seed_on_import`), with
deterministic ops turned on at that point; frameworks already imported are
seeded at once. Package versions come from the installed metadata
(``importlib.metadata``), never from importing the package.

What :func:`setup` also makes robust, because learners' machines differ:

* ``KERAS_BACKEND`` / ``~/.keras/keras.json`` naming another backend: the
  lessons use TensorFlow's (``tf.GradientTape``), so the backend is set to
  ``tensorflow`` for this kernel (with a one-line notice) while Keras is not yet
  imported; if Keras was already imported with another backend,
  :class:`~course_utils.config.KerasBackendError` says how to fix it.
* ``MPLBACKEND=Agg`` exported: inside Jupyter the inline backend is restored,
  so figures show (and re-executed lessons keep them).
* A read-only install: caches go to a writable folder
  (:func:`course_utils.paths.cache_dir`), numba's cache included
  (``NUMBA_CACHE_DIR``, set only when you have not set it).
* ``PYTHONWARNINGS=default``: deprecation notices that third-party libraries
  raise from their *own* internals (see :data:`KNOWN_LIBRARY_WARNINGS`) are not
  shown; the same warning caused by a call in your code is still shown.
"""
from __future__ import annotations

import importlib.abc
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import random
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from . import config
from .config import KerasBackendError

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

#: The Keras backend the lessons need (they use ``tf.GradientTape`` and ``tf.*`` ops).
REQUIRED_KERAS_BACKEND = "tensorflow"

#: matplotlib backends that draw nothing on screen (``MPLBACKEND=Agg`` in Docker images, CI).
_NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
_INLINE = "module://matplotlib_inline.backend_inline"


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


def _ipython_shell() -> Any:
    if "IPython" not in sys.modules:  # never import IPython just to ask
        return None
    try:
        from IPython import get_ipython  # type: ignore

        return get_ipython()
    except Exception:  # pragma: no cover - broken IPython
        return None


def runtime() -> str:
    """Where the code runs: ``"colab"``, ``"jupyter"`` (a Jupyter kernel) or ``"python"`` (lesson 00)."""
    if "google.colab" in sys.modules:
        return "colab"
    shell = _ipython_shell()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return "jupyter"
    return "python"


def silence_tensorflow() -> None:
    """Hide TensorFlow's C++ INFO/WARNING lines; effective only before TF is imported (lesson 00).

    Values you exported yourself are kept.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's "custom operations are on" banner is a C++ log line too.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # pragma: no cover - broken install
        return False


# --------------------------------------------------------------------------- Keras backend
class KerasBackend(NamedTuple):
    """Which Keras backend a kernel will use, and where that choice comes from (lesson 00)."""

    name: str
    source: str  # "KERAS_BACKEND", "<path>/keras.json", "default", or "keras (already imported)"


def _keras_dir() -> Path:
    # Keras' own rule (keras/src/backend/config.py): KERAS_HOME, else ~/.keras, else /tmp/.keras.
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def keras_backend() -> KerasBackend:
    """The Keras backend this process uses or will use, read without importing Keras (lesson 00).

    Keras' own rule: ``KERAS_BACKEND`` when set and non-empty, else the
    ``backend`` of ``keras.json`` in ``$KERAS_HOME`` or ``~/.keras``, else
    ``tensorflow``. When Keras is already imported its live answer is returned.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        try:
            return KerasBackend(str(keras.backend.backend()), "keras (already imported)")
        except Exception:  # pragma: no cover - a partial import
            pass
    env = os.environ.get("KERAS_BACKEND", "")
    if env:
        return KerasBackend(env, "KERAS_BACKEND")
    path = _keras_dir() / "keras.json"
    if path.is_file():
        try:
            backend = json.loads(path.read_text(encoding="utf-8")).get("backend")
        except (OSError, ValueError, AttributeError):
            backend = None
        if backend:
            return KerasBackend(str(backend), str(path))
    return KerasBackend(REQUIRED_KERAS_BACKEND, "default")


def ensure_keras_backend() -> str | None:
    """Make Keras use TensorFlow's backend in this process; return a notice when it changed (lesson 00).

    Keras not imported yet: ``KERAS_BACKEND=tensorflow`` is set for this
    process (your shell and ``keras.json`` are left alone) and a one-line
    notice is returned when something else was configured. Keras already
    imported with another backend: raises
    :class:`~course_utils.config.KerasBackendError` with the fix (a backend
    cannot change once Keras is imported).
    """
    current = keras_backend()
    if "keras" in sys.modules:
        if current.name != REQUIRED_KERAS_BACKEND:
            raise KerasBackendError(
                f"Keras was imported with the {current.name!r} backend; the lessons need TensorFlow's.",
                expected=f"Keras backend {REQUIRED_KERAS_BACKEND!r} (the lessons use tf.GradientTape and tf ops)",
                found=f"keras.backend.backend() == {current.name!r}"
                      + (f" (KERAS_BACKEND={os.environ['KERAS_BACKEND']})" if os.environ.get("KERAS_BACKEND") else ""),
                fix="restart the kernel and run the lesson's first cell before importing keras; it selects "
                    "TensorFlow for this kernel. Or put `%env KERAS_BACKEND=tensorflow` above the first cell, "
                    "or `unset KERAS_BACKEND` in the shell that starts Jupyter.",
            )
        return None
    os.environ["KERAS_BACKEND"] = REQUIRED_KERAS_BACKEND
    if current.name != REQUIRED_KERAS_BACKEND:
        return (f"Note: Keras was set to the {current.name!r} backend (by {current.source}); the lessons need "
                f"TensorFlow's, so this kernel uses KERAS_BACKEND={REQUIRED_KERAS_BACKEND}. "
                "Your own setting is unchanged outside this kernel.")
    return None


# --------------------------------------------------------------------------- lazy seeding
_INDUCTOR_CONFIG = "torch._inductor.config"
_STATE: dict[str, Any] = {"seed": None, "deterministic": True, "done": set()}
_HOOKED = ("torch", "tensorflow", "keras", _INDUCTOR_CONFIG)


def _seed_torch(torch: Any, seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if not deterministic:
        return
    # torch.use_deterministic_algorithms(True, warn_only=True) also imports torch._inductor.config
    # (3+ s) to set its `deterministic` flag, which only torch.compile reads: set the flag now if that
    # module is loaded, else the import hook sets it when torch.compile first loads it.
    setter = getattr(getattr(torch, "_C", None), "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - private API moved
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    setter(True, warn_only=True)
    if _INDUCTOR_CONFIG in sys.modules:
        sys.modules[_INDUCTOR_CONFIG].deterministic = True


def _seed_tensorflow(tf: Any, seed: int, deterministic: bool) -> None:
    tf.random.set_seed(seed)
    if deterministic:
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # older TF without the switch
            pass


def _seed_keras(keras: Any, seed: int, deterministic: bool, *, keep_python_numpy: bool) -> None:
    """``keras.utils.set_random_seed(seed)``; with ``keep_python_numpy`` random/NumPy streams are kept."""
    import numpy as np

    saved = (random.getstate(), np.random.get_state()) if keep_python_numpy else None
    keras.utils.set_random_seed(seed)
    if saved is not None:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    tf = sys.modules.get("tensorflow")
    if deterministic and tf is not None:
        _seed_tensorflow(tf, seed, deterministic)


def _on_import(name: str, module: Any) -> None:
    """Seed ``name`` right after its first import finished (called by the import hook)."""
    seed, det = _STATE["seed"], _STATE["deterministic"]
    if seed is None or name in _STATE["done"]:
        return
    _STATE["done"].add(name)
    try:
        if name == _INDUCTOR_CONFIG:
            if det:
                module.deterministic = True
        elif name == "torch":
            _seed_torch(module, seed, det)
        elif name == "tensorflow":
            _seed_tensorflow(module, seed, det)
        elif name == "keras":
            if "tensorflow" in _STATE["done"]:
                # TensorFlow was seeded a moment ago (Keras imports it): seeding it again would
                # restart a stream a lesson may already draw from; only reset Keras' own state.
                try:
                    from keras.src.backend.common import global_state  # type: ignore
                    from keras.src.random import seed_generator  # type: ignore

                    global_state.set_global_attribute("global_random_seed", seed)
                    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
                    return
                except Exception:  # private API moved: fall back to the public call
                    pass
            _seed_keras(module, seed, det, keep_python_numpy=True)
    except Exception as exc:  # never break the learner's import
        print(f"course_utils: could not seed {name} after import ({type(exc).__name__}: {exc}); "
              f"call cu.seed_everything({seed}) to retry.", file=sys.stderr)


def _global_rng_state() -> tuple[Any, Any]:
    np = sys.modules.get("numpy")
    return random.getstate(), (np.random.get_state() if np is not None else None)


def _restore_global_rng_state(saved: tuple[Any, Any]) -> None:
    random.setstate(saved[0])
    if saved[1] is not None:
        sys.modules["numpy"].random.set_state(saved[1])


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of torch/tensorflow/keras to seed them after import."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _HOOKED or fullname in _STATE["done"] or _STATE["seed"] is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any, _original: Any = original, _loader: Any = loader) -> None:
            # Importing a framework must not move your Python/NumPy random streams (importing TensorFlow
            # draws from `random`): the first draw after the import is the one it would be
            # without it, as when everything was seeded in setup().
            saved = _global_rng_state()
            try:
                _original(module)
            finally:
                try:
                    del _loader.exec_module  # back to the class's method
                except AttributeError:  # pragma: no cover
                    pass
                _restore_global_rng_state(saved)
            _on_import(fullname, module)

        loader.exec_module = exec_module  # only this loader instance, only for this one import
        return spec


_FINDER = _SeedOnImport()


def seed_on_import(seed: int = 0, deterministic: bool = True) -> list[str]:
    """Seed PyTorch, TensorFlow and Keras now if imported, else right after their first import (lesson 00).

    Returns the frameworks seeded now. The others (when installed) are seeded
    by an import hook the moment ``import torch`` / ``import tensorflow`` /
    ``import keras`` finishes, exactly as if ``torch.manual_seed(seed)`` /
    ``keras.utils.set_random_seed(seed)`` had been called then (Python's and
    NumPy's streams are not restarted by that later seeding).
    """
    _STATE["seed"], _STATE["deterministic"] = int(seed), deterministic
    _STATE["done"] = set()
    now = []
    if "torch" in sys.modules:
        _STATE["done"].update({"torch", _INDUCTOR_CONFIG} if _INDUCTOR_CONFIG in sys.modules else {"torch"})
        _seed_torch(sys.modules["torch"], seed, deterministic)
        now.append("torch")
    if "keras" in sys.modules:
        _STATE["done"].update({"keras", "tensorflow"})
        _seed_keras(sys.modules["keras"], seed, deterministic, keep_python_numpy=False)
        now.append("keras/tensorflow")
    elif "tensorflow" in sys.modules:
        _STATE["done"].add("tensorflow")
        _seed_tensorflow(sys.modules["tensorflow"], seed, deterministic)
        now.append("tensorflow")
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    return now


def pending_seeds() -> list[str]:
    """Installed frameworks that the import hook will seed on their first import (lesson 00)."""
    if _STATE["seed"] is None:
        return []
    return [m for m in _HOOKED[:3] if m not in _STATE["done"] and m not in sys.modules and _installed(m)]


def seed_everything(seed: int = 0, deterministic: bool = True) -> list[str]:
    """Seed random, NumPy, and PyTorch / Keras / TF (now or at first import); deterministic ops (lesson 00).

    Returns the names of the libraries seeded now; :func:`pending_seeds` lists
    those that will be seeded when first imported. Never imports a framework.
    """
    import numpy as np

    seeded = ["random", "numpy"]
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))  # for subprocesses started later
    seeded += seed_on_import(seed, deterministic)
    return seeded


# --------------------------------------------------------------------------- caches
def configure_caches() -> Path:
    """Point numba's (and, without a writable home, matplotlib's) cache at a writable folder (lesson 00).

    Returns the course's cache folder. ``NUMBA_CACHE_DIR`` is set to
    ``<cache_dir()>/numba`` unless you set it yourself; it must be set before
    librosa (numba) is imported, which :func:`setup` does. When matplotlib's
    config folder (``~/.config/matplotlib``) cannot be written, ``MPLCONFIGDIR``
    becomes ``<cache_dir()>/matplotlib`` (unless set), so importing matplotlib
    prints no warning. Raises :class:`~course_utils.config.CacheError` for an
    unwritable ``COURSE_CACHE``.
    """
    from .paths import _writable_dir, cache_dir

    path = cache_dir()
    if not os.environ.get("NUMBA_CACHE_DIR") and "numba" not in sys.modules:
        numba_dir = path / "numba"
        numba_dir.mkdir(parents=True, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)
    if not os.environ.get("MPLCONFIGDIR") and "matplotlib" not in sys.modules:
        # matplotlib warns on import ("created a temporary cache directory") when the home is unwritable
        xdg = os.environ.get("XDG_CONFIG_HOME")
        try:
            default = Path(xdg).expanduser() / "matplotlib" if xdg else Path.home() / ".config" / "matplotlib"
            usable = _writable_dir(default)
        except RuntimeError:  # no home directory at all
            usable = False
        if not usable:
            mpl_dir = path / "matplotlib"
            mpl_dir.mkdir(parents=True, exist_ok=True)
            os.environ["MPLCONFIGDIR"] = str(mpl_dir)
    return path


# --------------------------------------------------------------------------- figures
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


def _backend_name(value: str) -> str:
    return value.strip().lower()


def ensure_inline_figures() -> str | None:
    """In a Jupyter kernel, replace a non-interactive matplotlib backend by the inline one (lesson 00).

    ``MPLBACKEND=Agg`` (common in Docker images and CI) would make every
    figure vanish from the notebook. Returns a short note when it switched,
    else None. Outside Jupyter, in grading mode, or with an interactive backend
    (inline, ``widget``/ipympl, a desktop window), nothing changes.
    """
    shell = _ipython_shell()
    if shell is None or getattr(shell, "kernel", None) is None or config.grading_mode():
        return None  # the grader shows no figure: rendering them would only cost the student's time
    env_value = os.environ.get("MPLBACKEND", "")
    current = env_value
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        current = str(mpl.rcParams._get("backend") if hasattr(mpl.rcParams, "_get") else mpl.rcParams["backend"])
    if _backend_name(current) not in _NON_INTERACTIVE and _backend_name(env_value) not in _NON_INTERACTIVE:
        return None
    os.environ["MPLBACKEND"] = _INLINE
    if "matplotlib.pyplot" in sys.modules:  # a backend is already running: switch it the IPython way
        shell.run_line_magic("matplotlib", "inline")
    elif mpl is not None:  # pyplot not imported yet: it will start with the inline backend (cheap)
        mpl.rcParams["backend"] = _INLINE
    return f"figures: inline (MPLBACKEND={env_value or current} draws nothing in a notebook)"


# --------------------------------------------------------------------------- warnings
class LibraryWarning(NamedTuple):
    """A warning a library raises from its own code, which a learner cannot act on (lesson 00)."""

    package: str  # top-level package whose *own* code triggers it
    category: type[Warning]
    message: str  # regular expression matched at the start of the message
    why: str


#: Known third-party deprecation notices raised by a library's *internal* calls. They are hidden
#: only when the call that triggered them comes from that library itself; the same warning caused
#: by a call in your code is shown as usual.
KNOWN_LIBRARY_WARNINGS: tuple[LibraryWarning, ...] = (
    LibraryWarning(
        "torch", DeprecationWarning, r"`torch\.jit\.script` is (deprecated|not supported)",
        "torch.func.jvp/vjp (lesson 03) script helper functions internally; the notice is meant for "
        "people who call torch.jit.script, which the course never does",
    ),
)

_ORIGINAL_SHOWWARNING: list[Any] = []


def _caller_package(filename: str, lineno: int) -> str | None:
    """Top-level package of the code that called the function that warned (None if not found)."""
    frame = sys._getframe(2)
    while frame is not None and not (frame.f_code.co_filename == filename and frame.f_lineno == lineno):
        frame = frame.f_back
    if frame is None or frame.f_back is None:
        return None
    return str(frame.f_back.f_globals.get("__name__", "")).split(".")[0]


def _is_library_internal(message: Any, category: type[Warning], filename: str, lineno: int) -> bool:
    text = str(message)
    for known in KNOWN_LIBRARY_WARNINGS:
        if issubclass(category, known.category) and re.match(known.message, text):
            return _caller_package(filename, lineno) == known.package
    return False


def _showwarning(message: Any, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: Any = None) -> None:
    if _is_library_internal(message, category, filename, lineno):
        return
    _ORIGINAL_SHOWWARNING[0](message, category, filename, lineno, file, line)


def quiet_library_warnings() -> None:
    """Hide :data:`KNOWN_LIBRARY_WARNINGS` when a library triggers them itself (lesson 00).

    Works whatever ``PYTHONWARNINGS`` says (``default``, ``always``, ...);
    warnings from your own code, and these same warnings caused by your own
    calls, are still shown. Idempotent.
    """
    if warnings.showwarning is _showwarning:
        return
    _ORIGINAL_SHOWWARNING[:] = [warnings.showwarning]
    warnings.showwarning = _showwarning


# --------------------------------------------------------------------------- report
def devices() -> dict[str, Any]:
    """CPU count and GPUs, found without importing a framework (lesson 00).

    NVIDIA GPUs are counted from the driver (``/proc/driver/nvidia/gpus``);
    frameworks that are already imported are asked as well.
    """
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    nvidia = Path("/proc/driver/nvidia/gpus")
    info["nvidia_gpus"] = len(list(nvidia.iterdir())) if nvidia.is_dir() else 0
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        info["apple_gpu"] = True
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_cuda"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        info["tf_gpus"] = len(tf.config.list_physical_devices("GPU"))
    return info


def report(probe_devices: bool = True) -> dict[str, Any]:
    """Collect the environment report as a dict, importing no framework (lesson 00)."""
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
    if packages.get("keras", {}).get("version"):
        backend = keras_backend()
        info["keras_backend"] = {"name": backend.name, "source": backend.source}
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
    if "keras_backend" in info:
        kb = info["keras_backend"]
        ok = kb["name"] == REQUIRED_KERAS_BACKEND
        configured = kb.get("configured", kb["name"])
        if configured != kb["name"]:
            where = f" (set for this kernel; {kb['source']} says {configured!r})"
        else:
            where = "" if kb["source"] == "default" else f" (from {kb['source']})"
        lines.append(f"  Keras backend: {kb['name']}{where}"
                     + ("" if ok else f" -- WARNING: the lessons need {REQUIRED_KERAS_BACKEND!r} "
                                      "(their first cell selects it unless Keras is already imported)"))
    if "devices" in info:
        d = info["devices"]
        gpu = [f"NVIDIA GPUs: {d['nvidia_gpus']}"] if d.get("nvidia_gpus") else []
        if d.get("apple_gpu"):
            gpu.append("Apple GPU (MPS)")
        if "torch_cuda" in d:
            gpu.append(f"torch CUDA devices: {d['torch_cuda']}")
        if "tf_gpus" in d:
            gpu.append(f"TF GPUs: {d['tf_gpus']}")
        lines.append(f"  CPU cores: {d['cpu_count']}; " + ("; ".join(gpu) if gpu else "no GPU found"))
    if info.get("cache_dir"):
        lines.append(f"  cache: {info['cache_dir']}")
    return "\n".join(lines)


def setup(seed: int = 0, report: bool = True, deterministic: bool = True) -> dict[str, Any]:
    """Implementation of :func:`course_utils.setup` (lesson 00)."""
    config.validate()
    silence_tensorflow()
    notes = []
    configured = keras_backend() if "keras" not in sys.modules else None
    note = ensure_keras_backend()
    if note:
        notes.append(note)
    cache = configure_caches()
    quiet_library_warnings()
    seeded = seed_everything(seed, deterministic=deterministic)
    note = ensure_inline_figures()
    if note:
        notes.append(note)
    set_figure_defaults()
    info = globals()["report"](probe_devices=True)
    info.update(seeded=seeded, seed=seed, pending_seeds=pending_seeds(), cache_dir=str(cache), notes=notes)
    if "keras_backend" in info and configured is not None:
        info["keras_backend"] = {"name": keras_backend().name, "source": configured.source,
                                 "configured": configured.name}
    if report:
        print(format_report(info))
        later = info["pending_seeds"]
        print(f"  seeded: {', '.join(seeded)} (seed={seed})"
              + (f"; {', '.join(later)} when first imported" if later else "")
              + f"; deterministic ops: {'on' if deterministic else 'off'}")
        for note in notes:
            print(note)
    return info


def main() -> None:
    """``python -m course_utils.env``: print the report for bug reports."""
    silence_tensorflow()
    info = report(probe_devices=True)
    try:
        from .paths import cache_dir

        info["cache_dir"] = str(cache_dir())
    except config.CourseError as exc:
        info["cache_dir"] = f"UNUSABLE: {exc.summary}"
    print(format_report(info))
    print(f"  python executable: {sys.executable}")


if __name__ == "__main__":
    main()
