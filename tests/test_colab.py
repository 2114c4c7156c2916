"""The Colab bootstrap, simulated: a fake google.colab module and a local repo instead of the network."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import course_utils
from course_utils import colab

FORBIDDEN = {"torch", "tensorflow", "tensorflow-cpu", "keras", "numpy"}


@pytest.fixture
def local_course_repo(tmp_path, repo_root) -> Path:
    """A git repo holding the package, tagged at colab.REF, standing in for GitHub."""
    src = tmp_path / "upstream"
    shutil.copytree(repo_root / "course_utils", src / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (src / "datasets").mkdir()
    (src / "datasets" / "README.md").write_text("data\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(src)]
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "course"], check=True)
    subprocess.run(git + ["tag", colab.REF], check=True)
    return src


def test_first_cell_on_colab_clones_and_installs_only_missing(tmp_path, local_course_repo, monkeypatch):
    commands: list[list[str]] = []
    monkeypatch.setattr(colab, "RUNNER", commands.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("COURSE_COLAB_ROOT", str(tmp_path / "content"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    setups = []
    monkeypatch.setattr(course_utils, "setup", lambda seed=0: setups.append(seed))
    # Pretend Colab lacks librosa and the sentence encoder, and (wrongly) also torch and numpy.
    real_find_spec = importlib.util.find_spec
    absent = {"librosa", "sentence_transformers", "torch", "numpy", "tensorflow", "keras"}
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in absent else real_find_spec(name, *a))

    source = colab.first_cell_source(repo_url=str(local_course_repo))
    exec(compile(source, "<first cell>", "exec"), {})

    clone = tmp_path / "content" / colab.REPO_NAME
    assert (clone / "course_utils" / "__init__.py").exists()
    head = subprocess.run(["git", "-C", str(clone), "describe", "--tags"], capture_output=True, text=True).stdout
    assert head.strip() == colab.REF
    assert str(clone) in sys.path
    assert setups == [0]
    assert len(commands) == 1
    installed = {colab._requirement_name(arg) for arg in commands[0][5:]}
    assert installed == {"librosa", "sentence-transformers"}
    assert not any(word in FORBIDDEN for cmd in commands for word in map(colab._requirement_name, cmd))

    # Running the cell again (a second lesson in the same runtime) does not clone again.
    (clone / "marker").write_text("kept")
    exec(compile(source, "<first cell>", "exec"), {})
    assert (clone / "marker").exists() and setups == [0, 0]


def test_first_cell_off_colab_only_runs_setup(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    monkeypatch.setattr(course_utils, "setup", lambda seed=0: calls.append(seed))
    monkeypatch.setattr(colab, "RUNNER", lambda cmd: pytest.fail(f"installed {cmd} outside Colab"))
    exec(compile(colab.first_cell_source(), "<first cell>", "exec"), {})
    assert calls == [0]


@pytest.mark.parametrize("req", ["torch", "tensorflow>=2.20", "keras==3.13", "numpy<3", "torch[cuda]"])
def test_pip_command_refuses_colab_frameworks(req):
    with pytest.raises(ValueError, match="Refusing to install"):
        colab.pip_command([req])


def test_requirements_never_name_colab_frameworks():
    assert not {colab._requirement_name(r) for r in colab.REQUIREMENTS.values()} & FORBIDDEN
    assert colab.missing_requirements(lambda name: object()) == []
