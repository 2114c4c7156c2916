import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "keras")


def _py(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports course_utils from this tree."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "could not seed" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _last_json(proc: subprocess.CompletedProcess):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_setup_imports_no_framework_and_defers_their_seeding():
    proc = _py("""
        import json, os, sys, course_utils as cu
        info = cu.setup(seed=3)
        print(json.dumps({"loaded": [m for m in ("torch", "tensorflow", "keras", "librosa", "numba", "sklearn")
                                     if m in sys.modules],
                          "tf_log": os.environ["TF_CPP_MIN_LOG_LEVEL"], "pending": info["pending_seeds"],
                          "seeded": info["seeded"]}))
    """)
    out = _last_json(proc)
    assert out["loaded"] == []
    assert out["tf_log"] == "3"  # set before TensorFlow is ever imported
    assert out["seeded"] == ["random", "numpy"] and set(out["pending"]) == set(FRAMEWORKS)
    assert "when first imported" in proc.stdout and "Keras backend: tensorflow" in proc.stdout


TORCH_DRAWS = """
    import json, random, sys, numpy as np
    {prelude}
    import torch
    print(json.dumps({{"initial_seed": torch.initial_seed(), "rand": torch.rand(4).tolist(),
                      "deterministic": torch.are_deterministic_algorithms_enabled(),
                      "py": random.random(), "np": float(np.random.rand())}}))
"""


def test_torch_is_seeded_when_first_imported():
    lazy = TORCH_DRAWS.format(prelude="import course_utils as cu; cu.setup(seed=5, report=False); "
                                      "assert 'torch' not in sys.modules")
    first, second = _last_json(_py(lazy)), _last_json(_py(lazy))
    # reference: what seeding everything eagerly right after the import gives
    ref = _last_json(_py(TORCH_DRAWS.format(prelude="") .replace(
        "import torch\n", "import torch; torch.manual_seed(5); random.seed(5); np.random.seed(5)\n")))
    assert first["initial_seed"] == 5 and first["deterministic"] is True
    assert first == second  # reproducible across processes
    assert first["rand"] == ref["rand"] and first["py"] == ref["py"] and first["np"] == ref["np"]
    off = _last_json(_py(TORCH_DRAWS.format(prelude="import course_utils as cu; "
                                                    "cu.setup(seed=5, report=False, deterministic=False)")))
    assert off["initial_seed"] == 5 and off["deterministic"] is False


def test_torch_compile_determinism_is_set_when_inductor_loads():
    # torch.use_deterministic_algorithms would import torch._inductor.config (3+ s) at once;
    # the course sets its flag only when that module is first loaded (by torch.compile).
    out = _last_json(_py("""
        import json, sys, course_utils as cu
        cu.setup(seed=1, report=False)
        import torch
        loaded = "torch._inductor.config" in sys.modules
        import torch._inductor.config as inductor_config
        print(json.dumps([loaded, inductor_config.deterministic, torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()]))
    """))
    assert out == [False, True, True, True]


def test_torch_imported_before_setup_is_seeded_at_once():
    out = _last_json(_py("""
        import json, torch, course_utils as cu
        torch.rand(7)  # move the stream
        cu.setup(seed=11, report=False)
        a = torch.rand(3).tolist()
        torch.manual_seed(11)
        print(json.dumps({"same": a == torch.rand(3).tolist(), "initial": torch.initial_seed()}))
    """))
    assert out == {"same": True, "initial": 11}


KERAS_DRAWS = """
    import json, random, sys, numpy as np
    {prelude}
    import keras, tensorflow as tf
    {after}
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    from tensorflow.python.framework import config as tf_config
    print(json.dumps({{"keras": keras.random.uniform((3,)).numpy().tolist(),
                      "tf": tf.random.uniform((3,)).numpy().tolist(),
                      "kernel": layer.kernel.numpy().ravel().tolist(),
                      "py": random.random(), "np": float(np.random.rand()),
                      "deterministic": tf_config.is_op_determinism_enabled(),
                      "backend": keras.backend.backend()}}))
"""


def test_keras_and_tensorflow_are_seeded_when_first_imported():
    lazy = KERAS_DRAWS.format(
        prelude="import course_utils as cu; cu.setup(seed=5, report=False); "
                "assert not {'keras', 'tensorflow'} & set(sys.modules)", after="")
    first, second = _last_json(_py(lazy)), _last_json(_py(lazy))
    # reference: keras.utils.set_random_seed right after the import (what setup() used to do)
    ref = _last_json(_py(KERAS_DRAWS.format(prelude="", after="keras.utils.set_random_seed(5)"),
                         KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3"))
    # TensorFlow first (its import loads Keras inside): the same numbers
    tf_first = _last_json(_py(lazy.replace("import keras, tensorflow as tf", "import tensorflow as tf, keras")))
    assert first == second == tf_first
    for key in ("keras", "tf", "kernel", "py", "np"):
        assert first[key] == ref[key], key
    assert first["deterministic"] is True and first["backend"] == "tensorflow"


def test_setup_is_fast_enough_to_measure_and_reports_no_error():
    # No timing assertion here (the machine may be loaded): benchmarks/bench_env.py measures it.
    out = _last_json(_py("""
        import json, time
        t = time.perf_counter()
        import course_utils as cu
        cu.setup(seed=0, report=False)
        print(json.dumps(time.perf_counter() - t))
    """))
    assert out > 0


# --------------------------------------------------------------------------- Keras backend
def test_keras_backend_is_read_without_importing_keras(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert env.keras_backend() == ("tensorflow", "default")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    assert env.keras_backend() == ("jax", str(tmp_path / "keras.json"))
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the variable wins over the file, as in Keras
    assert env.keras_backend() == ("torch", "KERAS_BACKEND")
    note = env.ensure_keras_backend()
    assert os.environ["KERAS_BACKEND"] == "tensorflow"
    assert "'torch'" in note and "KERAS_BACKEND=tensorflow" in note
    assert "keras" not in sys.modules


def test_setup_selects_tensorflow_backend_before_keras_is_imported(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    proc = _py("""
        import json, course_utils as cu
        cu.setup(seed=0)
        import keras
        print(json.dumps(keras.backend.backend()))
    """, KERAS_BACKEND=None, KERAS_HOME=str(tmp_path))
    assert _last_json(proc) == "tensorflow"
    assert f"Keras backend: tensorflow (set for this kernel; {tmp_path / 'keras.json'} says 'torch')" in proc.stdout
    assert "Note: Keras was set to the 'torch' backend" in proc.stdout


def test_setup_stops_when_keras_was_imported_with_another_backend():
    proc = _py("""
        import keras, course_utils as cu
        from course_utils.config import CourseError, KerasBackendError
        try:
            cu.setup(seed=0)
        except KerasBackendError as exc:
            assert isinstance(exc, CourseError)
            print(" | ".join(str(exc).splitlines()))
        else:
            raise SystemExit("no error")
    """, KERAS_BACKEND="torch")
    message = proc.stdout
    assert "'torch' backend" in message and "Expected: Keras backend 'tensorflow'" in message
    assert "restart the kernel" in message and "%env KERAS_BACKEND=tensorflow" in message


def test_report_shows_the_keras_backend_and_its_source():
    info = {"course_utils": "x", "runtime": "python", "platform": "p", "fast_mode": False, "packages": {},
            "keras_backend": {"name": "jax", "source": "KERAS_BACKEND"}}
    line = env.format_report(info).splitlines()[-1]
    assert line.startswith("  Keras backend: jax (from KERAS_BACKEND) -- WARNING: the lessons need 'tensorflow'")


# --------------------------------------------------------------------------- caches
def test_setup_points_numba_at_the_course_cache(tmp_path):
    cache = tmp_path / "cache"
    out = _last_json(_py("""
        import json, os, course_utils as cu
        cu.setup(seed=0, report=False)
        import numba
        print(json.dumps([os.environ["NUMBA_CACHE_DIR"], numba.config.CACHE_DIR]))
    """, COURSE_CACHE=str(cache), NUMBA_CACHE_DIR=None))
    assert out == [str(cache / "numba")] * 2 and (cache / "numba").is_dir()
    # a value the learner set is kept
    mine = tmp_path / "mine"
    out = _last_json(_py("""
        import json, os, course_utils as cu
        cu.setup(seed=0, report=False)
        print(json.dumps(os.environ["NUMBA_CACHE_DIR"]))
    """, COURSE_CACHE=str(cache), NUMBA_CACHE_DIR=str(mine)))
    assert out == str(mine)


def test_setup_names_an_unwritable_course_cache(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a folder below a regular file cannot be created, even by root
    proc = subprocess.run([sys.executable, "-c", "import course_utils as cu; cu.setup()"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "COURSE_CACHE": str(blocker / "c")})
    assert proc.returncode != 0
    assert "CacheError" in proc.stderr and "COURSE_CACHE=" in proc.stderr and "unset COURSE_CACHE" in proc.stderr


def test_unwritable_home_and_read_only_data_still_give_quiet_writable_caches(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("home and datasets/.cache cannot be created below a regular file")
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "sentiment").symlink_to(ROOT / "datasets" / "sentiment")
    (datasets / ".cache").symlink_to(blocked / "cache")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _py("""
        import json, os, course_utils as cu
        info = cu.setup(seed=0)
        import matplotlib.pyplot
        print(json.dumps([info["cache_dir"], os.environ["NUMBA_CACHE_DIR"], os.environ["MPLCONFIGDIR"]]))
    """, HOME=str(blocked / "home"), XDG_CACHE_HOME=None, XDG_CONFIG_HOME=None, COURSE_CACHE=None,
        NUMBA_CACHE_DIR=None, MPLCONFIGDIR=None, COURSE_DATA=str(datasets), TMPDIR=str(tmp))
    cache, numba_dir, mpl_dir = _last_json(proc)
    assert Path(cache).parent == tmp and Path(cache).name.startswith("multimodal-course-")
    assert numba_dir == str(Path(cache) / "numba") and mpl_dir == str(Path(cache) / "matplotlib")
    assert f"cache: {cache}" in proc.stdout
    assert "Matplotlib created a temporary" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
