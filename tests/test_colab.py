"""Colab start-up (issue 8, section 1): the ref exists, a fresh clone's first cell runs, only what a lesson needs.

The network is replaced by a local "upstream": a bare repository holding exactly what a
release publishes (the commit under test, pushed as :data:`course_utils.colab.REF`).
``google.colab`` is a fake module. The first cell run is the one shipped in ``notebooks/``.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import course_utils
from course_utils import colab

FORBIDDEN = {"torch", "tensorflow", "tensorflow-cpu", "keras", "numpy"}
ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True)


def _is_git_checkout() -> bool:
    return _git("rev-parse", "--is-inside-work-tree", cwd=ROOT).returncode == 0


def _first_cell(lesson_file: str) -> str:
    nb = json.loads((ROOT / "notebooks" / lesson_file).read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "course-setup" in c.get("metadata", {}).get("tags", []))
    return "".join(cell["source"])


# ----------------------------------------------------------------------------- the ref exists
@pytest.mark.skipif(not _is_git_checkout(), reason="not a git checkout (installed package)")
def test_ref_resolves_in_this_repository():
    """The badges and the first cell fetch colab.REF: it must exist where the course is published."""
    ok = any(_git("rev-parse", "--verify", "--quiet", f"{cand}^{{commit}}", cwd=ROOT).returncode == 0
             for cand in (colab.REF, f"origin/{colab.REF}", f"refs/tags/{colab.REF}"))
    assert ok, (f"colab.REF = {colab.REF!r} does not resolve in this repository: every Colab badge and first "
                "cell would fail. Point REF at a branch that exists, or create the tag in the release step.")


def test_badges_and_first_cells_use_the_configured_ref():
    links = re.findall(r"https://colab\.research\.google\.com/github/([^)\s]+)", (ROOT / "README.md").read_text())
    assert links, "the README has no Colab badges"
    for link in links:
        owner, name, blob, ref, *path = link.split("/")
        assert (owner, name, blob, ref) == (colab.REPO_OWNER, colab.REPO_NAME, "blob", colab.REF), link
        assert (ROOT / "/".join(path)).is_file(), f"badge points at a missing file: {link}"
    for folder in ("solutions", "notebooks"):
        for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            badge = "".join(nb["cells"][0]["source"])
            assert colab.colab_url(f"{folder}/{path.name}") in badge, path
            assert _first_cell(path.name) == colab.first_cell_source(path.name[:2]), (
                f"{folder}/{path.name}: stale first cell; run `python -m course_utils.authoring build`")


# ----------------------------------------------------------------------------- a fresh Colab runtime
@pytest.fixture
def upstream(tmp_path) -> Path:
    """A bare repository holding only the commit under test, published as colab.REF."""
    if not _is_git_checkout():
        pytest.skip("not a git checkout (installed package)")
    bare = tmp_path / "upstream.git"
    assert _git("init", "--quiet", "--bare", str(bare)).returncode == 0
    pushed = _git("push", "--quiet", str(bare), f"HEAD:refs/heads/{colab.REF}", cwd=ROOT)
    assert pushed.returncode == 0, pushed.stderr
    # A clone checks out the remote's HEAD branch: make it REF, as on the real host.
    _git("--git-dir", str(bare), "symbolic-ref", "HEAD", f"refs/heads/{colab.REF}")
    return bare


_RUNNER = r"""
import os, sys, types, json
try:  # as on Colab, "google" stays the real namespace package (protobuf lives there)
    import google
except ImportError:
    sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
cell = open(os.environ["CELL_FILE"]).read()
try:
    exec(compile(cell, "<first cell>", "exec"), {"__name__": "__main__"})
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    raise SystemExit(3)
import course_utils
print(json.dumps({"course_utils": course_utils.__file__, "cwd": os.getcwd()}))
"""


def _run_first_cell(tmp_path: Path, lesson_file: str, **env: str) -> tuple[int, dict]:
    cell = tmp_path / "cell.py"
    cell.write_text(_first_cell(lesson_file), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_REF", "COURSE_REPO_URL")}
    environ.update(CELL_FILE=str(cell), COURSE_COLAB_ROOT=str(tmp_path / "content"), COURSE_HEADLESS="1",
                   MPLBACKEND="Agg", **env)
    proc = subprocess.run([sys.executable, "-c", _RUNNER], cwd=tmp_path, env=environ, capture_output=True,
                          text=True, timeout=600)
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, (json.loads(last[-1]) if last else {"stdout": proc.stdout, "stderr": proc.stderr})


def test_fresh_clone_first_cell_succeeds_on_simulated_colab(tmp_path, upstream):
    rc, out = _run_first_cell(tmp_path, "00_setup.ipynb", COURSE_REPO_URL=str(upstream))
    assert rc == 0, out
    clone = tmp_path / "content" / colab.REPO_NAME
    assert Path(out["course_utils"]).resolve() == (clone / "course_utils" / "__init__.py").resolve()
    assert Path(out["cwd"]).resolve() == clone.resolve()
    head = _git("-C", str(clone), "rev-parse", "HEAD").stdout.strip()
    assert head == _git("rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    assert _git("-C", str(clone), "config", "course.ref").stdout.strip() == colab.REF
    assert not (tmp_path / "content" / f"{colab.REPO_NAME}.partial").exists()

    # Re-run (the next lesson in the same runtime): no new clone, same commit.
    (clone / "marker").write_text("kept")
    rc, out = _run_first_cell(tmp_path, "01_loss_functions.ipynb", COURSE_REPO_URL=str(upstream))
    assert rc == 0, out
    assert (clone / "marker").exists()

    # Asking for another ref later stops instead of silently using the old commit.
    rc, out = _run_first_cell(tmp_path, "00_setup.ipynb", COURSE_REPO_URL=str(upstream), COURSE_REF="v9.9")
    assert rc == 3 and out["error"] == "RuntimeError", out
    assert "asks for 'v9.9'" in out["message"] and "rm -rf" in out["message"]


def test_failed_fetch_stops_with_a_clear_message_and_is_retried(tmp_path, upstream):
    rc, out = _run_first_cell(tmp_path, "00_setup.ipynb", COURSE_REPO_URL=str(upstream), COURSE_REF="no-such-ref")
    assert rc == 3 and "has no branch, tag or commit 'no-such-ref'" in out["message"], out
    assert "COURSE_REF" in out["message"]
    assert not (tmp_path / "content" / colab.REPO_NAME).exists(), "a failed fetch must not leave a usable-looking clone"

    rc, out = _run_first_cell(tmp_path, "00_setup.ipynb", COURSE_REPO_URL=str(tmp_path / "nowhere.git"))
    assert rc == 3 and "git clone failed" in out["message"] and "COURSE_REPO_URL" in out["message"], out

    rc, out = _run_first_cell(tmp_path, "00_setup.ipynb", COURSE_REPO_URL=str(upstream))  # network back
    assert rc == 0, out


# ----------------------------------------------------------------------------- installs
def test_first_cell_installs_only_what_the_lesson_lacks(monkeypatch):
    commands: list[list[str]] = []
    monkeypatch.setattr(colab, "RUNNER", commands.append)
    real_find_spec = importlib.util.find_spec
    absent = {"librosa", "sentence_transformers", "torch", "numpy", "tensorflow", "keras", "sklearn", "tqdm"}
    fake = lambda name, *a: None if name in absent else real_find_spec(name, *a)  # noqa: E731
    assert colab.install_missing(fake, lesson="01") == [colab.REQUIREMENTS["tqdm"]]
    assert colab.install_missing(fake, lesson="03") == [colab.REQUIREMENTS["tqdm"], colab.REQUIREMENTS["sklearn"],
                                                        colab.REQUIREMENTS["librosa"]]
    for cmd in commands:
        assert not {colab._requirement_name(w) for w in cmd} & FORBIDDEN
    with pytest.raises(KeyError, match="LESSON_REQUIREMENTS"):
        colab.requirements_for("42")


def test_first_cell_off_colab_only_runs_setup(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    monkeypatch.setattr(course_utils, "setup", lambda seed=0: calls.append(seed))
    monkeypatch.setattr(colab, "RUNNER", lambda cmd: pytest.fail(f"installed {cmd} outside Colab"))
    exec(compile(colab.first_cell_source("00"), "<first cell>", "exec"), {})
    assert calls == [0]


@pytest.mark.parametrize("req", ["torch", "tensorflow>=2.20", "keras==3.13", "numpy<3", "torch[cuda]"])
def test_pip_command_refuses_colab_frameworks(req):
    with pytest.raises(ValueError, match="Refusing to install"):
        colab.pip_command([req])


def test_requirements_never_name_colab_frameworks():
    assert not {colab._requirement_name(r) for r in colab.REQUIREMENTS.values()} & FORBIDDEN
    assert colab.missing_requirements(lambda name: object()) == []
    for lesson, names in colab.LESSON_REQUIREMENTS.items():
        assert set(names) <= set(colab.REQUIREMENTS), lesson


# ----------------------------------------------------------------------------- per-lesson requirements
def _imports(tree: ast.AST, package: str | None = None) -> tuple[set[str], set[str]]:
    """(third-party top-level names, course_utils modules) imported anywhere in ``tree``."""
    third, own = set(), set()
    # An import inside `try: ... except ImportError` is optional: the code handles its absence
    # (e.g. opensmile in features.audio, with a course error saying how to install it).
    optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and any(
        isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
        or isinstance(h.type, ast.Tuple) and any(getattr(e, "id", "") in ("ImportError", "ModuleNotFoundError")
                                                 for e in h.type.elts)
        for h in t.handlers) for b in t.body for n in ast.walk(b)}
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.startswith("course_utils") else third).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                own.add(mod)
                own.update(f"{mod}.{a.name}" for a in node.names)
            elif node.module and node.module.startswith("course_utils"):
                own.add(node.module)
                own.update(f"{node.module}.{a.name}" for a in node.names)
            elif node.module:
                third.add(node.module)
    return {t.split(".")[0] for t in third}, own


def _module_file(mod: str) -> Path | None:
    path = ROOT.joinpath(*mod.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _needed_by_lesson(path: Path) -> set[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = "\n".join("\n".join(line for line in "".join(c["source"]).splitlines()
                               if not line.lstrip().startswith(("%", "!")))
                     for c in nb["cells"] if c["cell_type"] == "code")
    third, todo = _imports(ast.parse(code), None)
    todo |= {f"course_utils.{m}" for m in re.findall(r"\bcu\.(\w+)", code)}
    # check("NN.x") imports the lesson's own checks module (by name, at run time)
    todo.add(f"course_utils.checks.lesson{path.name[:2]}")
    # course_utils.features loads text / image / audio when they are named
    todo |= {f"course_utils.features.{m}" for m in re.findall(r"\bfeatures\.(text|image|audio)\b", code)}
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        file = _module_file(mod)
        if file is None or mod in seen:
            continue
        seen.add(mod)
        tree = ast.parse(file.read_text(encoding="utf-8"))
        lazy = any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)
        if file.name == "__init__.py" and lazy and mod != "course_utils.features":
            # a package that loads its names lazily (course_utils.data) counts all its modules;
            # course_utils.features loads a module only when it is named (handled above)
            todo |= {f"{mod}.{p.stem}" for p in file.parent.glob("*.py") if p.stem != "__init__"}
        package = mod if file.name == "__init__.py" else mod.rsplit(".", 1)[0]
        t, o = _imports(tree, package)
        third |= t
        todo |= o
    return third


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name[:2])
def test_lesson_requirements_cover_what_the_lesson_imports(path):
    needed = _needed_by_lesson(path) & set(colab.REQUIREMENTS)
    listed = set(colab.LESSON_REQUIREMENTS.get(path.name[:2], ()))
    assert needed <= listed, (f"lesson {path.name[:2]} imports {sorted(needed - listed)} (directly or through "
                              "course_utils) but colab.LESSON_REQUIREMENTS does not list them")


def test_no_deps_packages_get_their_own_pip_command(monkeypatch):
    """fer / resemblyzer are installed with --no-deps (their deps pull torchvision); the rest normally."""
    commands = []
    monkeypatch.setattr(colab, "RUNNER", commands.append)
    monkeypatch.setitem(colab.LESSON_REQUIREMENTS, "zz", ("fer", "tqdm"))
    missing = colab.install_missing(lambda name: None, lesson="zz")
    assert missing == [colab.REQUIREMENTS["fer"], colab.REQUIREMENTS["tqdm"]]
    assert len(commands) == 2
    assert "--no-deps" not in commands[0] and colab.REQUIREMENTS["tqdm"] in commands[0]
    assert commands[1][-2:] == ["--no-deps", colab.REQUIREMENTS["fer"]]


def test_requirement_scan_follows_course_utils_imports(tmp_path):
    """The scan above must see through course_utils: a lesson using the probe needs pandas and scikit-learn."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from course_utils import probe\nprobe.probe_table({})")]
    path = tmp_path / "98_probe.ipynb"
    nbformat.write(nb, path)
    assert {"pandas", "sklearn"} <= _needed_by_lesson(path)
    nb.cells = [nbformat.v4.new_code_cell("try:\n    import opensmile\nexcept ImportError:\n    opensmile = None\n"
                                          "import course_utils as cu\ncu.setup()")]
    nbformat.write(nb, path)
    assert not {"pandas", "sklearn", "librosa"} & _needed_by_lesson(path)
