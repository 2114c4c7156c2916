"""Robust to the machines learners really have (issue 8, section 5).

Each test recreates one situation that broke a lesson on a real machine:
``MPLBACKEND=Agg`` exported, ``PYTHONWARNINGS=default``, missing system
libraries, malformed or damaged files, and lessons that must not dirty the
repository's tracked files (so ``git pull`` always works).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from course_utils import data
from course_utils.colab import first_cell_source
from course_utils.config import CourseError, SystemLibraryError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "sentiment"


def _execute(cells: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> nbformat.NotebookNode:
    """Run ``cells`` in a real Jupyter kernel (as JupyterLab would) and return the executed notebook."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _outputs(cell: nbformat.NotebookNode, kind: str) -> list:
    if kind == "stderr":
        return [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
    return [o for o in cell.outputs if o.output_type in ("display_data", "execute_result") and kind in o.data]


# --------------------------------------------------------------------------- figures and warnings
def test_figures_stay_inline_under_mplbackend_agg_and_library_warnings_stay_quiet(tmp_path, monkeypatch):
    nb = _execute([
        first_cell_source(),
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);",
        # torch.func.jvp scripts helpers internally: torch's own deprecation notice must not show
        "import torch\n_ = torch.func.jvp(lambda v: (v * v).sum(), (torch.ones(2),), (torch.ones(2),))",
        # ... but the same notice for the learner's own call, and the learner's warnings, do show
        "import warnings\nwarnings.warn('my own deprecation', DeprecationWarning)",
        # (forget that the notice was raised once at that line, which `default` would otherwise remember)
        "torch.jit._script.__dict__.pop('__warningregistry__', None)\n"
        "def f(x: int) -> int:\n    return x + 1\ng = torch.jit.script(f)",
    ], tmp_path, monkeypatch, MPLBACKEND="Agg", PYTHONWARNINGS="default", COURSE_FAST="1", COURSE_HEADLESS="1")
    setup, plot, internal, mine, scripted = nb.cells
    assert not _outputs(setup, "stderr"), _outputs(setup, "stderr")
    assert _outputs(plot, "image/png"), "no inline figure: MPLBACKEND=Agg was not overridden"
    assert not _outputs(internal, "stderr"), _outputs(internal, "stderr")
    assert "my own deprecation" in "".join(_outputs(mine, "stderr"))
    assert "torch.jit.script` is" in "".join(_outputs(scripted, "stderr"))


def test_figures_stay_inline_when_pyplot_was_imported_before_the_first_cell(tmp_path, monkeypatch):
    nb = _execute(["import matplotlib.pyplot as plt", first_cell_source(), "plt.plot([0, 1], [1, 0]);"],
                  tmp_path, monkeypatch, MPLBACKEND="Agg", COURSE_FAST="1")
    assert "figures: inline (MPLBACKEND=Agg" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert _outputs(nb.cells[2], "image/png")


def test_first_cells_of_lesson_01_emit_no_warning(tmp_path, monkeypatch):
    lesson = nbformat.read(ROOT / "solutions" / "01_loss_functions.ipynb", as_version=4)
    cells = [c.source for c in lesson.cells if c.cell_type == "code"][:5]
    nb = _execute(cells, ROOT / "solutions", monkeypatch, MPLBACKEND="Agg", PYTHONWARNINGS="default",
                  COURSE_FAST="1", COURSE_HEADLESS="1")
    for n, cell in enumerate(nb.cells):
        assert not _outputs(cell, "stderr"), (n, _outputs(cell, "stderr"))
        assert not [o for o in cell.outputs if o.output_type == "error"], n


def test_make_test_and_make_execute_pin_their_environment():
    makefile = (ROOT / "Makefile").read_text()
    test_env = next(line for line in makefile.splitlines() if line.startswith("TEST_ENV"))
    assert "PYTHONWARNINGS=default" in test_env and "MPLBACKEND=Agg" in test_env
    assert "KERAS_BACKEND=tensorflow" in test_env
    execute = makefile[makefile.index("\nexecute:"):].split("\n\n")[0]
    assert "env -u MPLBACKEND" in execute


# --------------------------------------------------------------------------- missing system libraries
def test_missing_libsndfile_is_a_course_error(tmp_path, monkeypatch):
    fake = tmp_path / "fake"
    fake.mkdir()
    # what `import soundfile` does when the libsndfile shared library is not found
    (fake / "soundfile.py").write_text("raise OSError(\"cannot load library 'libsndfile.so': No such file\")\n")
    monkeypatch.delitem(sys.modules, "soundfile", raising=False)
    monkeypatch.syspath_prepend(str(fake))
    with pytest.raises(SystemLibraryError) as err:
        data.load_audio("u0000")
    message = str(err.value)
    assert isinstance(err.value, CourseError) and isinstance(err.value, ImportError)
    assert "libsndfile" in message and "Found:    OSError" in message
    assert "pip install --force-reinstall soundfile" in message and "apt-get install libsndfile1" in message


def test_missing_espeak_ng_says_how_to_install_it(tmp_path, monkeypatch):
    from course_utils.data.generate import build, speech

    monkeypatch.setattr(speech, "espeak_binary", lambda: None)
    with pytest.raises(speech.EspeakNotFoundError) as err:
        build.generate(tmp_path / "out", report=False, verbose=False)
    assert "apt-get install" in str(err.value) and "make system-deps" in str(err.value)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- damaged data files
@pytest.fixture()
def dataset_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "sentiment"
    shutil.copytree(DATA, dst, ignore=shutil.ignore_patterns(".cache"))
    return dst


@pytest.mark.parametrize("kind, rel", [("audio", "audio/u0000.ogg"), ("image", "images/u0000.png")])
def test_corrupt_or_missing_media_file_is_a_course_error(dataset_copy, kind, rel):
    load = data.load_audio if kind == "audio" else data.load_image
    (dataset_copy / rel).write_bytes(b"\x00garbage" * 10)
    for verify, match in ((True, "is corrupted"), (False, "cannot be decoded")):
        with pytest.raises(data.CorruptDataFileError, match=match) as err:
            load("u0000", root=dataset_copy, verify=verify)
        assert isinstance(err.value, CourseError) and "git checkout -- datasets/sentiment" in str(err.value)
    (dataset_copy / rel).unlink()
    for verify in (True, False):
        with pytest.raises(data.MissingDataFileError, match="is missing") as err:
            load("u0000", root=dataset_copy, verify=verify)
        assert isinstance(err.value, CourseError) and isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("damage, match", [
    (lambda text: text.replace("label_binary", "labelbinary", 1), r"lacks the columns \['label_binary'\]"),
    (lambda text: text.replace(",-1.0,0,-1,", ",-1.0,zero,-1,", 1), "column 'label_binary' cannot be read"),
    (lambda text: "", "lacks the columns"),
    (lambda text: text.encode("utf-16").decode("latin-1"), "lacks the columns|not a readable"),
])
def test_malformed_metadata_is_a_course_error(dataset_copy, damage, match):
    path = dataset_copy / "metadata.csv"
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(data.MetadataError, match=match) as err:
        data.load_records(root=dataset_copy, verify=False)
    assert isinstance(err.value, CourseError) and "Expected:" in str(err.value)
    assert "How to fix:" in str(err.value)
    with pytest.raises(data.CorruptDataFileError):  # the manifest catches it first when verifying
        data.load_records(root=dataset_copy)


def test_damaged_manifest_is_a_course_error(dataset_copy):
    (dataset_copy / "MANIFEST.sha256").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(data.CorruptDataFileError, match="is not text") as err:
        data.load_records(root=dataset_copy)
    assert isinstance(err.value, CourseError)
    (dataset_copy / "MANIFEST.sha256").write_text("not a manifest line\n")
    with pytest.raises(data.CorruptDataFileError, match="line 1"):
        data.load_records(root=dataset_copy)


# --------------------------------------------------------------------------- bring-your-own features
def _byo(tmp_path: Path, **arrays) -> Path:
    n = 4
    base = {"format": np.array("course-features-v1"), "modalities": np.array(["text"]),
            "x_text": np.zeros((n, 3), np.float32), "label_binary": np.array([0, 1, 0, 1], np.int8),
            "split": np.array(["train", "train", "valid", "test"]), "id": np.array(["a", "b", "c", "d"])}
    base.update(arrays)
    base = {k: v for k, v in base.items() if v is not None}
    path = tmp_path / "mine.npz"
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("arrays, match", [
    ({}, None),
    ({"label_binary": None}, r"keys \['label_binary'\] are missing"),
    ({"x_text": None}, r"modalities \['text'\] are listed without"),
    ({"x_text": np.zeros((3, 3), np.float32)}, r"x_text has shape \(3, 3\)"),
    ({"x_text": np.full((4, 3), np.nan, np.float32)}, "NaN or inf"),
    ({"x_text": np.array([["a"] * 3] * 4)}, "expected floats"),
    ({"label_binary": np.array([0.0, 0.7, 0.0, 1.0])}, "non-integer values"),
    ({"x_text": np.array([np.zeros(2), np.zeros(3), np.zeros(1), np.zeros(3)], dtype=object)}, "reading it failed"),
    ({"format": None}, "key 'format' missing"),
])
def test_malformed_byo_file_is_a_course_error(tmp_path, arrays, match):
    path = _byo(tmp_path, **arrays)
    if match is None:
        assert len(data.load_features(path)) == 4
        return
    with pytest.raises(data.FeatureFormatError, match=match) as err:
        data.load_features(path)
    assert isinstance(err.value, CourseError) and "How to fix:" in str(err.value)


def test_byo_file_that_is_not_an_npz_or_is_missing(tmp_path):
    (tmp_path / "notes.npz").write_text("these are not arrays")
    with pytest.raises(data.FeatureFormatError, match="np.load failed"):
        data.load_features(tmp_path / "notes.npz")
    good = _byo(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(data.FeatureFormatError):
        data.load_features(truncated)
    from course_utils.paths import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="No features file") as err:
        data.load_features(tmp_path / "nope.npz")
    assert isinstance(err.value, CourseError)


# --------------------------------------------------------------------------- damaged cache
def test_truncated_cache_file_is_rebuilt(tmp_path, monkeypatch):
    from course_utils.data import features

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"X": np.arange(1000.0)}

    features.cached("demo", {"k": 0}, compute)
    path = features.cache_path("demo", {"k": 0})
    for damage in (lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b[:200] + b"\x00" * 64 + b[264:]):
        path.write_bytes(damage(path.read_bytes()))
        out = features.cached("demo", {"k": 0}, compute)
        assert np.array_equal(out["X"], np.arange(1000.0))
        with np.load(path) as z:  # rebuilt on disk too
            assert np.array_equal(z["X"], np.arange(1000.0))
    assert len(calls) == 4
    assert zipfile.is_zipfile(path)


def test_unwritable_cache_file_is_a_course_error(tmp_path, monkeypatch):
    from course_utils.config import CacheError
    from course_utils.data import features

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    (tmp_path / "sentiment").write_text("a file where the cache folder should be")
    with pytest.raises(CacheError, match="COURSE_CACHE"):
        features.cached("demo", {"k": 0}, lambda: {"X": np.zeros(2)})


# --------------------------------------------------------------------------- git pull never blocked
@pytest.mark.slow
def test_running_lesson_00_in_the_working_copy_leaves_tracked_files_alone(tmp_path, monkeypatch):
    clone = tmp_path / "course"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=clone, check=True)
    subprocess.run(git + ["add", "-A"], cwd=clone, check=True)
    subprocess.run(git + ["commit", "-qm", "release"], cwd=clone, check=True)
    proc = subprocess.run([sys.executable, "-m", "course_utils.paths", "sync"], cwd=clone, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(clone)})
    assert proc.returncode == 0, proc.stderr
    lesson = clone / "my-notebooks" / "00_setup.ipynb"
    assert lesson.is_file()
    monkeypatch.setenv("PYTHONPATH", str(clone))
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    monkeypatch.delenv("COURSE_CACHE", raising=False)
    monkeypatch.delenv("COURSE_DATA", raising=False)
    nb = nbformat.read(lesson, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
    nbformat.write(nb, lesson)  # the learner saves their work
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"running lesson 00 changed tracked or unignored files:\n{status}"
