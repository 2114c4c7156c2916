"""Attacks on the sandboxed grader (issue 12) that SUCCEEDED in a hostile-student review (h/atk).

Each test is a minimal reproduction of one successful attack and asserts the guarantee the attack breaks,
so each one FAILED on the grader as reviewed (h/g12 @ 37605c0) and passes now that the hole is closed.
The unbounded judging, outside the sandbox, of a returned ``torch.nn`` model (``00.torch_loop`` with
Upsample / AvgPool1d pairs) is closed by probes: no module leaves the sandbox any more. The process-count limit (a pids cgroup) is best effort:
its test skips where no cgroup can be made. Run as root, the grader starts each sandbox as host uid 65534
(course_utils/grade/_drop.py; before, the sandbox's user was host root); where it cannot (no private mount
namespace), it warns, and the machine-wide files of /proc stay read-only either way. The unit-level ones need
no sandbox; the end-to-end ones skip without bubblewrap (tests/sandboxhelp.py).

Found, with the grader run as ``python -m course_utils.grade SUBS --lesson 00 --cell-timeout 15 --timeout 120
--workers 2`` (memory-heavy ones inside a 6 GB memory cgroup so the review machine survived):

* a 1.5 KB result file (one array referenced many times) decodes to hundreds of MB in the grader's own
  process (every reference is copied; valid records are all kept until judged): 200 such files OOM-killed
  the grader, no CSV for anyone;
* a 0.5 KB result file makes the grader build ``torch.nn.Linear(20000, 20000)`` on the CPU (``"device":
  "cpu"`` in the transported arguments defeats the meta-device construction);
* a ``00.torch_loop`` answer returning a legal ``torch.nn.Sequential`` (Upsample / AvgPool1d pairs): the
  validator calls it *outside* the sandbox with no time or memory limit (146 s of grader time for 1.9 CPU s in
  the kernel with 200 pairs; one Upsample of scale 1e7 OOM-killed the grader);
* ``kernel.log`` replaced by a link to a FIFO (worker blocks until its hard limit, then the run is *retried*,
  and the row blames the lesson's set-up cell) or to ``/dev/zero`` (the unsandboxed worker reads without bound);
* a scratch folder 3000 folders deep: ``remove_tree`` raises RecursionError, the submission gets
  ``grader_error`` and the folder stays in /tmp;
* many files under ``RLIMIT_FSIZE`` each: the scratch folder has no total quota (a full /tmp gave two honest
  classmates ``grader_error``: "No space left on device");
* escape sequences / a closing code fence in an exception message go raw into the feedback file;
* the reference implementation imported in a cell the learner *added* next to the exercise cell is not
  flagged ``uses_reference`` (a wrong exercise cell gets full points).
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_utils.grade import _wire

ROOT = Path(__file__).resolve().parents[1]


def _npz(path: Path, doc, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez_compressed(fh, meta=np.frombuffer(json.dumps(doc).encode(), np.uint8), **arrays)
    return path


def _record(got) -> dict:
    run = {"__dict__": [["status", "ok"], ["got", got], ["ename", ""], ["message", ""], ["frame", ""],
                        ["args_after", {"__tuple__": []}], ["kwargs_after", {"__dict__": []}], ["converted", None]]}
    return {"__dict__": [["name", "f"], ["params", ["x"]], ["is_callable", True], ["type_name", "function"],
                         ["loops", ""], ["runs", [run]]]}


def test_a_small_result_file_cannot_decode_to_more_than_the_caps(tmp_path):
    # one 1 MB array of zeros (compressed: ~1 KB) referenced 300 times: every reference is copied
    path = _npz(tmp_path / "call-0-0.npz", _record([{"__nd__": 0}] * 300), a0=np.zeros(2**17))
    assert path.stat().st_size < 4096
    try:
        run = _wire.answer_from_record(_wire.load(str(path)))
    except _wire.WireError:
        return  # refused: fine
    held = sum(a.nbytes for a in run.runs[0].got)
    assert held <= 4 * _wire.MAX_BYTES, f"a {path.stat().st_size}-byte file became {held / 2**20:.0f} MB in the grader"


def test_the_result_files_of_one_submission_share_a_decoded_bytes_budget(tmp_path):
    # each file decodes to 8 MB (under the per-file cap); the submission's budget runs out after a few
    path = _npz(tmp_path / "call-0-0.npz", _record([{"__nd__": 0}] * 8), a0=np.zeros(2**17))
    budget = [20 * 2**20]
    kept = 0
    for _ in range(5):
        try:
            _wire.load(str(path), budget=budget)
            kept += 1
        except _wire.WireError:
            pass
    assert kept == 2 and 0 <= budget[0] < 8 * 2**20, (kept, budget)


def test_a_transported_module_is_never_built_on_a_real_device(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    seen = []
    original = torch.nn.Linear.__init__

    def spy(self, *args, **kwargs):
        seen.append(str(kwargs.get("device")))
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Linear, "__init__", spy)
    doc = {"__dict__": [["m", {"__torchmodule__": "Linear", "args": {"__dict__": [
        ["kwargs", {"__dict__": [["in_features", 2000], ["out_features", 2000], ["device", "cpu"]]}],
        ["children", []], ["state", {"__dict__": []}], ["training", True]]}}]]}
    path = _npz(tmp_path / "call-0-0.npz", doc)
    with pytest.raises(_wire.WireError):
        _wire.load(str(path))
    assert seen == [], f"the grader built the learner's module on device(s) {seen}"


def test_a_returned_model_never_leaves_the_sandbox_and_a_forged_one_is_never_called_outside(tmp_path):
    """The review's unbounded outside judge: a legal torch.nn.Sequential of Upsample / AvgPool1d pairs
    returned by 00.torch_loop costs nothing in the kernel and took 146 s of the grader's own CPU when the
    judge called it outside. Now no module travels: 00.torch_loop's probe reads the trained line off the
    model where the answer ran, and a module in a (forged) record is an inert stand-in."""
    torch = pytest.importorskip("torch")
    from course_utils.checks import _core

    nn = torch.nn
    layers = [nn.Unflatten(1, (1, 1))]
    for _ in range(150):
        layers += [nn.Upsample(scale_factor=250000.0), nn.AvgPool1d(250000)]
    model = nn.Sequential(*layers, nn.Flatten(1))
    arrays: list = []
    assert "__opaque__" in json.dumps(_wire.encode({"m": model}, arrays)) and arrays == []
    steps = 300
    run = _core.AnswerRun(name="train_torch", params=["x", "y", "steps", "lr"],
                          runs=[_core.CaseRun("ok", got=(model, [float(steps - i) for i in range(steps)]))])
    path = tmp_path / "call-0-0.npz"
    _wire.dump(_wire.answer_record(run), str(path))
    back = _wire.answer_from_record(_wire.load(str(path)))
    t0 = time.monotonic()
    result = _core.judge("00.torch_loop", back, 1)
    took = time.monotonic() - t0
    assert not result.passed and took < 5, (took, result.message)
    assert all(c.probe == ("00.trained_line", {}) for c in _core.lookup("00.torch_loop").cases(np.random.default_rng(1)))


def test_remove_tree_removes_a_very_deep_scratch_folder(tmp_path):
    from course_utils.grade._grader import remove_tree

    base = tmp_path / "course-grade-deep"
    base.mkdir()
    fd = os.open(base, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        new = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(fd)
    try:
        remove_tree(str(base))  # raises RecursionError on Python 3.11: grader_error, folder left in /tmp
    finally:
        if base.exists():
            import subprocess

            subprocess.run(["rm", "-rf", str(base)], check=False)
            pytest.fail("remove_tree left the deep scratch folder behind (or raised)")


def _worker_run(tmp_path, code: str, **limits):
    from course_utils.grade._grader import kernel_env, run_in_worker
    from course_utils.grade._runner import Limits

    scratch, workdir = tmp_path / "kernel", tmp_path / "worker"
    scratch.mkdir()
    workdir.mkdir()
    lim = Limits(**{"cell_timeout": 10, "total_timeout": 20, "official_timeout": 10, "wall_factor": 1.0,
                    "min_wall": 10, "startup_timeout": 60, **limits})
    t0 = time.monotonic()
    report = run_in_worker([code], str(scratch), kernel_env(str(scratch), False), lim, workdir=str(workdir))
    return report, time.monotonic() - t0


def test_a_kernel_log_replaced_by_a_fifo_does_not_hang_the_worker(tmp_path):
    report, took = _worker_run(tmp_path, "import os\nos.mkfifo('fifo')\nos.rename('kernel.log', 'old.log')\n"
                                         "os.symlink(os.path.abspath('fifo'), 'kernel.log')\n")
    assert took < 60, f"the worker blocked on the kernel's FIFO for {took:.0f} s (until its hard limit)"
    assert report["outcomes"][0]["status"] == "ok"


def test_a_kernel_log_replaced_by_a_link_to_dev_zero_is_not_read(tmp_path):
    report, took = _worker_run(tmp_path, "import os\nos.rename('kernel.log', 'old.log')\n"
                                         "os.symlink('/dev/zero', 'kernel.log')\nprint('hi')\n")
    assert took < 60 and report["outcomes"][0]["status"] == "ok", report["outcomes"][0]
    assert "\0" not in report.get("log_tail", "")


def test_the_scratch_folder_has_a_total_quota(tmp_path):
    # 6 files of 40 MB, each under RLIMIT_FSIZE (50 MB): the folder's total quota (100 MB) stops the kernel
    report, _ = _worker_run(tmp_path, "block = b'x' * 2**20\nfor i in range(6):\n    with open(f'f{i}', 'wb') as fh:\n"
                                      "        for _ in range(40):\n            fh.write(block)\n"
                                      "import time\ntime.sleep(3)\n", file_mb=50, scratch_mb=100)
    # (checked about once a second and after every cell: a fast burst may pass the quota before it is stopped)
    assert report["outcomes"][0]["status"] == "output_limit", report["outcomes"][0]
    assert "more than 100 MB" in report["outcomes"][0]["detail"]


def test_feedback_files_carry_no_terminal_escapes_or_broken_fences():
    from course_utils.grade._assemble import load_official
    from course_utils.grade._grader import Row, StudentResult, feedback_text

    official = load_official(ROOT, "00")
    msg = ("✗ 00.accuracy: raised ValueError: \x1b[2J\x1b[H\x1b]0;PWNED\x07# FORGED: Total 7 / 7\n```\n\n"
           "<img src=x onerror=alert(1)>\n## 00.accuracy - passed\n```text\n")
    rows = [Row("eve", ex.id, 0.0, ex.points, "failed", msg) for ex in official.exercises]
    text = feedback_text(official, StudentResult("eve", "", rows))
    assert "\x1b" not in text and "\x07" not in text
    assert "\n## 00.accuracy - passed" not in text  # the message cannot close its code fence and add headings


def test_the_reference_imported_in_an_added_cell_is_flagged(tmp_path):
    from sandboxhelp import require_sandbox

    require_sandbox()
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    import make_submissions as FX

    from course_utils.grade._grader import grade_folder
    from course_utils.grade._runner import Limits

    nb = FX.solved()
    FX.answer(nb, "standardize", FX.STANDARDIZE_WRONG)  # a wrong exercise cell ...
    FX.insert_code(nb, FX.exercise(nb, "standardize") + 1,  # ... and the reference in a cell added below it
                   "from course_utils.checks.lesson00 import standardize\n")
    subs = tmp_path / "subs"
    (subs / "eve").mkdir(parents=True)
    nbformat.write(nb, subs / "eve" / FX.NAME)
    out = tmp_path / "out" / "grades.csv"
    grade_folder(subs, "00", out, workers=1, limits=Limits(cell_timeout=60, total_timeout=300),
                 root=ROOT, log=lambda s: None)
    with out.open(encoding="utf-8") as fh:
        rows = {r["exercise"]: r for r in csv.DictReader(fh)}
    assert rows["00.standardize"]["status"] != "passed", rows["00.standardize"]


def test_the_sandbox_cannot_write_global_sysctls_or_other_machine_wide_proc_files(tmp_path):
    """Run as root (as on the review machine and in CI), bwrap maps the sandbox's uid 65534 to HOST uid 0:
    without capabilities, but owner of every root-owned 0644 file it can reach. bwrap left /proc/sys
    writable, so a notebook could write /proc/sys/kernel/core_pattern (the review did: '|/bin/sh' stayed on
    the host after the sandbox was gone). /proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus are now
    bound read-only. (The uid itself stays host root when the grader runs as root: documented, and the
    grader warns in its log.) This probe tries real writes of the values already there."""
    import subprocess

    from sandboxhelp import require_sandbox

    from course_utils.grade import _sandbox

    require_sandbox()
    scratch = tmp_path / "kernel"
    scratch.mkdir()
    code = ("import os\n"
            "for p in ('/proc/sys/kernel/core_pattern', '/proc/sys/kernel/pid_max', '/proc/sys/vm/overcommit_memory',\n"
            "          '/proc/sysrq-trigger', '/proc/irq/default_smp_affinity'):\n"
            "    if not os.path.exists(p):\n        continue\n"
            "    try:\n        old = open(p, 'rb').read()\n    except OSError:\n        old = b''\n"
            "    try:\n        fd = os.open(p, os.O_WRONLY)\n    except OSError:\n        continue\n"
            "    try:\n        os.write(fd, old or b'\\n')\n        print('WRITABLE', p)\n"
            "    except OSError:\n        pass\n    finally:\n        os.close(fd)\n"
            "print('DONE')\n")
    cmd = _sandbox.command([_sandbox.python_executable(), "-c", code], scratch=str(scratch),
                           package_dir=ROOT / "course_utils")
    out = subprocess.run(cmd, env=_sandbox.sandbox_env(dict(os.environ), str(scratch)), capture_output=True,
                         text=True, timeout=60).stdout
    assert "DONE" in out and "WRITABLE" not in out, out


def test_the_grader_warns_when_it_runs_as_root_without_a_drop():
    from course_utils.grade import _sandbox

    assert "unprivileged user" in _sandbox.ROOT_WARNING and "host root" in _sandbox.ROOT_WARNING
    source = (ROOT / "course_utils" / "grade" / "_grader.py").read_text()
    assert "_sandbox.ROOT_NOTE if _sandbox.root_drop() else _sandbox.ROOT_WARNING" in source


def test_run_as_root_the_sandbox_is_host_uid_65534_and_sees_only_its_binds(tmp_path):
    """Started by root, bwrap maps the sandbox's uid to HOST root (the review's finding). The grader now starts
    it through course_utils/grade/_drop.py: a private mount namespace makes the environment reachable, then
    it drops to uid 65534 before bwrap runs. Checked from the host side: every process of the sandbox has
    real and effective uid 65534, the files it writes belong to 65534, and of the folders hidden from uid
    65534 (here /root) only the bound Python environment is visible inside."""
    import subprocess

    psutil = pytest.importorskip("psutil")
    from sandboxhelp import require_sandbox

    from course_utils.grade import _sandbox

    require_sandbox()
    if os.geteuid() != 0:
        pytest.skip("the grader runs as an unprivileged user here: bwrap already maps to that user")
    assert _sandbox.root_drop(), "as root the grader could not start its sandbox as uid 65534 here"
    base = tmp_path / "course-grade-x"
    base.mkdir(mode=0o700)
    scratch = base / "kernel"
    scratch.mkdir(mode=0o700)
    (tmp_path / "secret.txt").write_text("instructor only")
    code = ("import os, sys, time\nimport numpy, course_utils\n"
            "open('mine.txt', 'w').write('x')\n"
            "print('ROOT', sorted(os.listdir('/root')) if os.path.isdir('/root') else None)\n"
            f"print('SECRET', os.path.exists({str(tmp_path / 'secret.txt')!r}))\n"
            "sys.stdout.flush()\ntime.sleep(3)\n")
    cmd = _sandbox.command([_sandbox.python_executable(), "-c", code], scratch=str(scratch),
                           package_dir=ROOT / "course_utils")
    proc = subprocess.Popen(cmd, env=_sandbox.sandbox_env(dict(os.environ), str(scratch)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        uids = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (scratch / "mine.txt").exists():
            time.sleep(0.1)
        for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
            u = p.uids()
            uids.add((p.name(), u.real, u.effective))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert {(r, e) for _, r, e in uids} == {(65534, 65534)}, uids
    assert os.stat(scratch / "mine.txt").st_uid == 65534
    under_root = sorted({p.split("/")[2] for p in _sandbox.python_paths() if p.startswith("/root/")})
    assert f"ROOT {under_root or None}" in out.splitlines(), out  # nothing of /root but the environment
    assert "SECRET False" in out, out


def test_memory_held_in_memfds_counts_against_the_memory_limit(tmp_path):
    # memfd pages are not in any process's RSS, not under RLIMIT_DATA, and not in the size-capped tmpfs mounts:
    # with --memory-mb 1024 the review held 2.4 GB this way (RSS 50 MB) and the cell ended 'ok'
    report, _ = _worker_run(tmp_path, "import os, time\nfds = []\nblock = b'x' * 2**20\nfor i in range(3):\n"
                                      "    fd = os.memfd_create(f'm{i}')\n    for _ in range(200):\n"
                                      "        os.write(fd, block)\n    fds.append(fd)\ntime.sleep(2)\n",
                            memory_mb=256)
    assert report["outcomes"][0]["status"] == "memory_limit", report["outcomes"][0]


def test_the_kernel_has_a_process_limit(tmp_path):
    from course_utils.grade._runner import make_pids_cgroup, remove_cgroup

    probe = make_pids_cgroup(8)
    if probe is None:
        pytest.skip("no pids cgroup can be made here (the limit is best effort)")
    remove_cgroup(probe)
    report, _ = _worker_run(tmp_path, "import os, time\npids = []\nfor i in range(200):\n    try:\n"
                                      "        pid = os.fork()\n    except OSError:\n        print('REFUSED', i)\n"
                                      "        break\n    if pid == 0:\n        time.sleep(3)\n        os._exit(0)\n"
                                      "    pids.append(pid)\nfor pid in pids:\n    os.kill(pid, 9)\n    os.waitpid(pid, 0)\n",
                            max_processes=64)
    assert "REFUSED" in report["outcomes"][0]["stdout"], report["outcomes"][0]

