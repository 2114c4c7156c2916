"""The grader's sandbox under attack (issue 12): one hostile lesson-00 submission per attack, and one
submission per kind of hand-in, graded together in ONE run of ``python -m course_utils.grade`` (two
workers, so attackers run next to honest classmates). Each test asserts the exact rows of its students
and, once for the run, that nothing is left behind: no process, no file outside the output folder, no
change to the repository, the Python environment or the submissions.

Most attacks use an *oracle*: the learner's answer is right only if the attack worked (e.g. the solution
notebook could be read), so the expected row (``failed``) proves the attack failed. Under ``CI=true`` the
suite fails when bubblewrap is missing; elsewhere it skips (tests/sandboxhelp.py).
"""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import subprocess
import sys
import sysconfig
import time
import unicodedata
from pathlib import Path

import nbformat
import pytest

from course_utils.grade import COLUMNS, STATUSES
from sandboxhelp import require_sandbox

ROOT = Path(__file__).resolve().parents[1]
MARKER = "cu-attack-7f3e"  # in the command line of every process an attack starts (none may survive)
SECRET = "sekrit-value-4411"  # an instructor's environment variable the kernels must not see


def _fx():
    spec = importlib.util.spec_from_file_location("make_submissions", ROOT / "tests/fixtures/make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _fx()
F, NA, M, P2, P1 = ("failed", 0), ("not_attempted", 0), ("manual", None), ("passed", 2), ("passed", 1)
RIGHT = "    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))\n"


def _oracle(attack: str) -> "nbformat.NotebookNode":
    """Lesson 00 whose accuracy is right only when ``attack`` (code that sets ATTACK_OK) worked."""
    nb = FX.solved()
    FX.insert_code(nb, FX.exercise(nb, "accuracy"), "ATTACK_OK = False\n" + attack)
    FX.answer(nb, "accuracy", "def accuracy(y_true, y_pred):\n    import numpy as np\n    if not ATTACK_OK:\n"
                              "        return 1.0\n" + RIGHT)
    return nb


def _attacks(paths: dict[str, str]) -> dict[str, tuple]:
    """student -> (notebook, expected rows, a word that proves the attack ran)."""
    sol, subs, pkg, home = paths["solution"], paths["submissions"], paths["package"], paths["home"]
    site, out = paths["site"], paths["out"]
    oracle = {"00.standardize": P2, "00.accuracy": F}
    cases: dict[str, tuple] = {}
    cases["read_solution"] = (_oracle(
        f"import os\ntry:\n    ATTACK_OK = 'BEGIN HIDDEN' in open({sol!r}).read()\nexcept OSError as e:\n"
        f"    print('refused', e)\nATTACK_OK = ATTACK_OK or os.path.exists({sol!r})\n"
        f"get_ipython().run_line_magic('run', {sol!r})\n"), oracle)
    cases["read_classmate"] = (_oracle(
        f"import glob, os\nfound = glob.glob({subs!r} + '/*/*.ipynb') + [\n"
        "    p for p in glob.glob('/tmp/course-grade-*') if not os.getcwd().startswith(p + '/')]\n"
        "print('found', found)\nATTACK_OK = bool(found)\n"), oracle)
    cases["read_home_and_env"] = (_oracle(
        f"import os\nATTACK_OK = os.path.exists({home!r}) or {SECRET!r} in str(dict(os.environ))\n"), oracle)
    cases["rewrite_classmates"] = (_oracle(
        "import glob, os\n"
        f"for p in glob.glob({subs!r} + '/**/*.ipynb', recursive=True):\n"
        "    try:\n        open(p, 'w').write('{}')\n        ATTACK_OK = True\n    except OSError as e:\n"
        "        print('refused', e)\n"), oracle)
    cases["edit_environment"] = (_oracle(
        "import os\n"
        f"for p in ({pkg!r} + '/checks/_core.py', {site!r} + '/zz_attack.pth', {pkg!r} + '/zz_attack.py'):\n"
        "    try:\n        open(p, 'a').write('\\nimport os  # attack\\n')\n        ATTACK_OK = True\n"
        "    except OSError as e:\n        print('refused', e)\n"), oracle)
    cases["network"] = (_oracle(
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n    ATTACK_OK = True\n"
        "except OSError as e:\n    print('refused', e)\n"
        "import _socket\ntry:\n    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\n    s.settimeout(3)\n"
        "    s.connect(('8.8.8.8', 53))\n    ATTACK_OK = True\nexcept OSError as e:\n    print('refused', e)\n"), oracle)
    cases["dev_shm_flood"] = (_oracle(
        "import os\nwritten = 0\ntry:\n    with open('/dev/shm/cu-flood', 'wb') as fh:\n"
        "        for _ in range(1024):\n            fh.write(b'x' * 2**20)\n            written += 2**20\n"
        "except OSError as e:\n    print('refused after', written, e)\nATTACK_OK = written >= 2**30\n"), oracle)
    cases["daemon"] = (_oracle(
        "import os, subprocess, sys, time\n"
        f"code = 'import time\\ntime.sleep(120)\\nopen({out!r} + \"/grades.csv\", \"w\").write(\"FORGED-BY-DAEMON\")  # {MARKER}'\n"
        f"subprocess.Popen([sys.executable, '-c', code, {MARKER!r}], start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', code, {MARKER!r}])\n    os._exit(0)\n"
        "time.sleep(0.5)\n"), oracle)
    # a callable object in place of np.allclose, a patched function of a numpy submodule, a patched
    # compare of the check engine: the verdict is decided outside, so a wrong answer still fails
    nb = FX._base()
    FX.answer(nb, "standardize", FX.STANDARDIZE_WRONG)
    FX.answer(nb, "accuracy", FX.ACCURACY_WRONG)
    FX.insert_code(nb, FX.exercise(nb, "standardize"), (
        "import numpy as np, numpy.linalg, course_utils.checks._core as core\n"
        "class Yes:\n    def __call__(self, *a, **k):\n        return True\n"
        "np.allclose = Yes()\nnp.isclose = Yes()\nnp.linalg.norm = Yes()\ncore.compare = lambda *a, **k: None\n"))
    cases["patched_numpy_callable"] = (nb, {"00.standardize": F, "00.accuracy": F})
    # an IPython input transformer that turns every instrumented check cell into a forged pass
    nb = FX._base()
    FX.answer(nb, "standardize", FX.STANDARDIZE_WRONG)
    FX.answer(nb, "accuracy", FX.ACCURACY_WRONG)
    FX.insert_code(nb, FX.exercise(nb, "standardize"), (
        "import re\n"
        "def forge(lines):\n    text = ''.join(lines)\n    if '_course_grader_check' not in text:\n        return lines\n"
        "    nonce = re.findall(r'\\[grader ([0-9a-f]{16})\\]', text)\n"
        "    ids = set(re.findall(r'\\d\\d\\.[a-z_]+', text))\n"
        "    return [f'print(\"[grader {n}] passed {e}\")\\n' for n in nonce for e in ids] or ['pass\\n']\n"
        "get_ipython().input_transformers_post.append(forge)\n"))
    cases["transformer_forge"] = (nb, {"00.standardize": ("error", 0), "00.accuracy": ("error", 0)})
    # forged result files: a FIFO, a link to /dev/zero, a directory and garbage where the grader reads
    nb = FX._base()
    FX.answer(nb, "standardize", FX.STANDARDIZE_WRONG)
    FX.answer(nb, "accuracy", FX.ACCURACY_WRONG)
    FX.insert_code(nb, FX.exercise(nb, "standardize"), (
        "import os\nd = os.environ.get('CU_GRADE_SPLIT', '.') + '/out'\n"
        "os.mkfifo(d + '/call-0-0.npz')\nos.symlink('/dev/zero', d + '/call-1-0.npz')\n"
        "os.mkdir(d + '/call-2-0.npz')\nopen(d + '/call-3-0.npz', 'wb').write(os.urandom(1000))\n"
        "for p in ('/tmp', '..', '../worker'):\n    try:\n"
        "        open(p + '/grader-result.json', 'w').write('{\"outcomes\": []}')\n    except OSError as e:\n"
        "        print('refused', e)\n"))
    cases["forged_results"] = (nb, {"00.standardize": ("error", 0), "00.accuracy": ("error", 0)})
    # kill everything it can see (its own kernel included) and the grader's process by number
    nb = FX.solved()
    FX.insert_code(nb, FX.exercise(nb, "accuracy"), (
        "import os, signal\n"
        "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()] + [os.getppid(), 1]:\n"
        "    if pid != os.getpid():\n        try:\n            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n            pass\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"))
    cases["kill_everything"] = (nb, {"00.standardize": P2, "00.accuracy": ("kernel_died", 0)})
    # the package's own reference implementation, imported or through the lesson's alias
    nb = FX._base()
    FX.answer(nb, "standardize", "from course_utils.checks import lesson00 as R\n"
                                 "def standardize(x):\n    return getattr(R, 'standardize')(x)\n")
    FX.answer(nb, "accuracy", FX.ACCURACY)
    cases["uses_reference"] = (nb, {"00.standardize": ("uses_reference", 0), "00.accuracy": P1})
    return {k: (nb, FX._complete({k: rows})[k]) for k, (nb, rows) in cases.items()}


def _handins(folder: Path) -> dict[str, dict]:
    """Hand-ins as LMSs and Colab produce them; student -> expected rows."""
    good = FX.solved()
    expected: dict[str, dict] = {}

    def put(student: str, name: str, nb=good, rows=None):
        path = folder / student / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        expected[unicodedata.normalize("NFC", student)] = FX._complete(
            {"x": {"00.standardize": P2, "00.accuracy": P1} if rows is None else rows})["x"]
        return path

    for student, name in (("h_copy_of", "Copy of 00_setup.ipynb"), ("h_paren", "00_setup (1).ipynb"),
                          ("h_copy1", "00_setup-Copy1.ipynb"), ("h_prefixed", "alice_00_setup.ipynb"),
                          ("h_upper", "00_SETUP.IPYNB"), ("h_space", "00 setup.ipynb"),
                          (".h_dot", "00_setup.ipynb"), ("_h_under", "00_setup.ipynb")):
        put(student, name)
    put("h_next_to_dir", "00_setup (2).ipynb")
    (folder / "h_next_to_dir" / "00_setup.ipynb").mkdir()  # a directory named like a notebook
    (folder / "h_next_to_dir" / "notes.txt").write_text("my notes")
    wrong = FX._base()
    FX.answer(wrong, "standardize", FX.STANDARDIZE_WRONG)
    FX.answer(wrong, "accuracy", FX.ACCURACY)
    put("h_two", "00_setup.ipynb", wrong, {"00.standardize": F, "00.accuracy": P1})  # official name wins
    later = folder / "h_two" / "00_setup-Copy1.ipynb"
    nbformat.write(good, later)
    os.utime(later, (time.time() + 60, time.time() + 60))  # newer, but not the official name
    put(unicodedata.normalize("NFC", "h_José"), "00_setup.ipynb")
    expected["h_José_"] = expected["h_José"]
    put(unicodedata.normalize("NFD", "h_José"), "00_setup.ipynb")  # differs only by normalisation
    written = FX.solved()  # the written answer typed into a new cell below the answer cell
    i = FX.exercise(written, "fast_mode")
    written.cells.insert(i + 1, nbformat.v4.new_markdown_cell("Fast mode trains on less data for fewer epochs."))
    put("h_written_below", "00_setup.ipynb", written, {"00.standardize": P2, "00.accuracy": P1, "00.fast_mode": M})
    put("h_untouched", "00_setup.ipynb", FX._base(), {})
    return expected


def _tree(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[str(p.relative_to(folder))] = (st.st_mode, st.st_size, digest)
    return out


def _code_tree(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if "__pycache__" not in p.parts}


def _marked_processes() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if MARKER.encode() in cmd and str(os.getpid()) != entry:
                found.append(f"{entry}: {cmd[:120]!r}")
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_sandbox()
    base = tmp_path_factory.mktemp("sandbox")
    subs, out = base / "submissions", base / "out"
    subs.mkdir()
    out.mkdir()
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    # a file in the instructor's home (removed at the end); unique per run, so two runs never share it
    probe = Path.home() / f".{MARKER}-home-probe-{os.getpid()}"
    probe.write_text("private")
    paths = {"solution": str(ROOT / "solutions" / FX.NAME), "submissions": str(subs),
             "package": str(ROOT / "course_utils"), "home": str(probe), "site": site, "out": str(out)}
    expected: dict[str, dict] = {}
    for student, (nb, rows) in _attacks(paths).items():
        (subs / student).mkdir()
        nbformat.write(nb, subs / student / FX.NAME)
        expected[student] = rows
    expected["honest"] = FX._complete({"x": {"00.standardize": P2, "00.accuracy": P1}})["x"]
    (subs / "honest").mkdir()
    nbformat.write(FX.solved(), subs / "honest" / FX.NAME)
    # the files themselves: a link to /etc/passwd, a FIFO, a million-cell notebook, one over the byte cap
    bad = {e: ("invalid_notebook", 0) for e in FX.EXERCISES}
    (subs / "link_passwd").mkdir()
    os.symlink("/etc/passwd", subs / "link_passwd" / FX.NAME)
    os.symlink("/etc/passwd", subs / "flat_link.ipynb")
    (subs / "fifo").mkdir()
    os.mkfifo(subs / "fifo" / FX.NAME)
    (subs / "million_cells").mkdir()
    cells = ",".join(['{"cell_type":"code","metadata":{},"source":"","outputs":[],"execution_count":null}'] * 300_000)
    (subs / "million_cells" / FX.NAME).write_text('{"nbformat":4,"nbformat_minor":5,"metadata":{},"cells":[' + cells
                                                   + "]}")
    (subs / "huge_file").mkdir()
    (subs / "huge_file" / FX.NAME).write_bytes(b"{" + b" " * (51 * 2**20) + b"}")
    for student in ("link_passwd", "flat_link", "fifo", "million_cells", "huge_file"):
        expected[student] = bad
    # names: a formula, a 250-byte folder name
    formula = '=HYPERLINK("evil.example","click")'
    (subs / formula).mkdir()
    nbformat.write(FX.solved(), subs / formula / FX.NAME)
    expected[formula] = expected["honest"]
    long_name = "L" * 250
    (subs / long_name).mkdir()
    nbformat.write(FX.solved(), subs / long_name / FX.NAME)
    expected[long_name] = expected["honest"]
    expected.update(_handins(subs))
    # the output folder: a planted link in feedback/ and a directory named like an old temporary CSV
    victim = base / "victim.txt"
    victim.write_text("untouched")
    (out / "feedback").mkdir()
    os.symlink(victim, out / "feedback" / "honest.md")
    (out / "grades.csv.tmp").mkdir()

    tmp = base / "tmp"  # the grader's temporary folders (scratch folders of the kernels) go here
    tmp.mkdir()
    before = {"subs": _tree(subs), "pkg": _code_tree(ROOT / "course_utils"), "sol": _code_tree(ROOT / "solutions"),
              "site": sorted(os.listdir(site)), "tmp": sorted(os.listdir(tmp)), "shm": set(os.listdir("/dev/shm"))}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils.grade", str(subs), "--lesson", "00", "--out", str(out / "grades.csv"),
         "--workers", "2", "--cell-timeout", "30", "--timeout", "150", "--memory-mb", "3000", "--root", str(ROOT)],
        capture_output=True, text=True, timeout=1500, cwd=base,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": SECRET, "MY_SETTING": SECRET,
             "TMPDIR": str(tmp)})
    seconds = time.monotonic() - t0
    probe.unlink()
    time.sleep(1.0)
    leftover = _marked_processes()
    print(proc.stderr)
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    after = {"subs": _tree(subs), "pkg": _code_tree(ROOT / "course_utils"), "sol": _code_tree(ROOT / "solutions"),
             "site": sorted(os.listdir(site)), "tmp": sorted(os.listdir(tmp)), "shm": set(os.listdir("/dev/shm"))}
    return {"proc": proc, "header": header, "rows": rows, "expected": expected, "before": before, "after": after,
            "leftover": leftover, "out": out, "victim": victim, "seconds": seconds, "formula": formula,
            "long_name": long_name}


def _unescape(name: str) -> str:
    return name[1:] if name.startswith("'") else name


def _got(run) -> dict:
    return {(_unescape(r[0]), r[1]): (r[4], r[2]) for r in run["rows"]}


def _want(run, students) -> dict:
    return {(s, ex): (status, "" if pts is None else f"{pts:g}")
            for s in students for ex, (status, pts) in run["expected"][s].items()}


def _check(run, students):
    got, want = _got(run), _want(run, students)
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not bad, f"(got, expected): {bad}\n{run['proc'].stderr[-3000:]}"


ATTACKS = ["read_solution", "read_classmate", "read_home_and_env", "rewrite_classmates", "edit_environment",
           "network", "dev_shm_flood", "daemon", "patched_numpy_callable", "transformer_forge", "forged_results",
           "kill_everything", "uses_reference"]


def test_the_run_completes_with_one_row_per_student_and_exercise(run):
    assert run["proc"].returncode == 0, run["proc"].stderr[-3000:]
    assert tuple(run["header"]) == COLUMNS
    assert len(run["rows"]) == sum(len(v) for v in run["expected"].values()), "a row was lost or duplicated"
    assert {r[4] for r in run["rows"]} <= set(STATUSES)
    assert "sandbox: every kernel runs under bubblewrap" in run["proc"].stderr
    assert (run["out"] / "grades.log").read_text(encoding="utf-8").startswith("sandbox:")


@pytest.mark.parametrize("student", ATTACKS)
def test_an_attack_gets_exactly_its_rows(run, student):
    _check(run, [student])


def test_classmates_of_the_attackers_get_full_marks(run):
    _check(run, ["honest"])


def test_messages_of_the_attacks(run):
    msg = {(_unescape(r[0]), r[1]): r[5] for r in run["rows"]}
    assert "kernel" in msg["kill_everything", "00.accuracy"]
    assert "ResultRefused" in msg["forged_results", "00.standardize"]
    assert "not a regular file" in msg["forged_results", "00.standardize"] or "link" in msg[
        "forged_results", "00.standardize"]
    assert "check did not" in msg["transformer_forge", "00.standardize"]
    assert "wrong value" in msg["patched_numpy_callable", "00.standardize"]
    assert "course_utils.checks.lesson00.standardize" in msg["uses_reference", "00.standardize"]
    assert "uses_reference (review by hand): uses_reference 00.standardize" in run["proc"].stderr


@pytest.mark.parametrize("student", ["link_passwd", "flat_link", "fifo", "million_cells", "huge_file"])
def test_files_that_are_not_plain_notebooks_are_refused(run, student):
    _check(run, [student])
    msg = {(_unescape(r[0]), r[1]): r[5] for r in run["rows"]}[student, "00.standardize"]
    assert "root:" not in msg
    want = {"link_passwd": "link", "flat_link": "link", "fifo": "regular file", "million_cells": "cells",
            "huge_file": "MB"}[student]
    assert want in msg, msg


def test_names_are_escaped_and_capped(run):
    _check(run, [run["formula"], run["long_name"]])
    for row in run["rows"]:
        for i in (0, 1, 4, 5):
            assert not row[i].startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert any(r[0] == "'" + run["formula"] for r in run["rows"])
    files = {p.name for p in (run["out"] / "feedback").iterdir()}
    assert len(files) == len(run["expected"]), files
    assert all(len(f.encode()) <= 90 and not f.startswith(".") for f in files)
    assert all((run["out"] / "feedback" / f).is_file() and not (run["out"] / "feedback" / f).is_symlink()
               for f in files)
    assert run["victim"].read_text() == "untouched"  # the planted link was replaced, not written through


@pytest.mark.parametrize("student", ["h_copy_of", "h_paren", "h_copy1", "h_prefixed", "h_upper", "h_space",
                                     ".h_dot", "_h_under", "h_next_to_dir", "h_two", "h_José", "h_José_",
                                     "h_written_below", "h_untouched"])
def test_hand_ins_as_students_make_them(run, student):
    _check(run, [student])


def test_hand_in_notes(run):
    msg = {(_unescape(r[0]), r[1]): r[5] for r in run["rows"]}
    assert msg["h_two", "00.standardize"].startswith("[several notebooks")
    assert "official file name" in msg["h_two", "00.standardize"]
    feedback = {p.name: p.read_text(encoding="utf-8") for p in (run["out"] / "feedback").iterdir()}
    assert "new cell(s) below its answer cell" in feedback["h_written_below.md"]
    assert "Fast mode trains on less data" in feedback["h_written_below.md"]
    assert "restored" not in feedback["h_untouched.md"] and "edited" not in feedback["h_untouched.md"]


def test_nothing_is_left_behind(run):
    before, after = run["before"], run["after"]
    assert not run["leftover"], run["leftover"]
    assert after["subs"] == before["subs"], "the submissions folder changed"
    assert after["pkg"] == before["pkg"] and after["sol"] == before["sol"], "the repository changed"
    assert after["site"] == before["site"], "the Python environment changed"
    assert not {n for n in after["shm"] - before["shm"] if n.startswith("cu-")}, "the flood reached /dev/shm"
    assert after["tmp"] == [], f"scratch folders left behind: {after['tmp']}"
    assert {p.name for p in run["out"].iterdir()} == {"grades.csv", "grades.log", "feedback", "grades.csv.tmp"}
    assert "FORGED-BY-DAEMON" not in (run["out"] / "grades.csv").read_text(encoding="utf-8")
