"""Attacks on the outside judge of split checks that SUCCEEDED in a second hostile-student review (h/atk2).

Each test reproduces one attack at unit level and asserts the guarantee it breaks, so each one FAILED on the
grader as reviewed (h/atk2, base 7ce96e1) and passes now that the hole is closed (a non-finite line fails; the
trajectory must start where a fresh ``torch.nn.Linear(1, 1)`` starts; a reported BatchNorm ``eps`` outside
[1e-12, 1e-2] fails; the JSON part of a result file is capped in bytes and structure before it is parsed;
result folders are opened without following links). A student controls everything in the kernel, reads the inputs file
and may write any result file (``out/call-K-N.npz``); the records below are what such a kernel can write, passed
through ``_wire.dump``/``_wire.load``/``answer_from_record`` and judged by ``_core.judge`` as
``Judge.apply`` does.

* ``00.torch_loop``: an observed slope (or intercept) of NaN passes the "reaches the least-squares line" cases
  (``abs(nan - w_ls) > 0.01`` is False, and so is the MSE test that follows);
* ``00.torch_loop``: the trajectory case accepts a "run" that sits at the least-squares line from its first step
  (a flat, slowly decreasing list of losses near the minimum): no gradient descent, no learning rate;
* ``05.conv_block``: the reference output is computed with the BatchNorm ``eps`` the *kernel* reports; with
  ``eps = inf`` the reference is ``relu(beta)``, known from the inputs, whatever the convolution;
* ``_wire.load``: a 65 KB result file (64 MB of ``[],`` once inflated) makes the grader's own process build ~20
  million lists in ``json.loads`` (about 1.3 GB and 10 s) before the node cap refuses it.
"""
from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from course_utils.checks import _core
from course_utils.grade import _wire
from course_utils.grade._split import Judge

ROOT = Path(__file__).resolve().parents[1]


def _judged(exercise: str, runs: list, tmp_path: Path, params=("x",)) -> _core.CheckResult:
    """The verdict outside on a record holding ``runs`` (CaseRun), after a trip through the wire."""
    path = str(tmp_path / "call-0-0.npz")
    _wire.dump(_wire.answer_record(_core.AnswerRun(name="f", params=list(params), runs=runs)), path)
    run = _wire.answer_from_record(_wire.load(path))
    return _core.judge(exercise, run, 0, cases=Judge().cases(exercise, 0))


# ----------------------------------------------------------------------------- 00.torch_loop
def _gd_run(x, y, steps: int, lr: float, w: float = 0.5, b: float = -0.5) -> tuple[float, float, list]:
    """Plain full-batch gradient descent on the MSE from (w, b): the final line and the losses before each step
    (what a correct answer's probe observes, in float64)."""
    x, y = x.ravel().astype(float), y.ravel().astype(float)
    losses = []
    for _ in range(steps):
        r = w * x + b - y
        losses.append(float(np.mean(r ** 2)))
        w, b = w - lr * float(np.mean(2 * r * x)), b - lr * float(np.mean(2 * r))
    return w, b, losses


def _line_obs(steps: int, w: float, b: float, losses: list) -> dict:
    return {"pair": True, "type": "tuple", "model_problem": None, "losses_type": None, "n_losses": steps,
            "loss_kinds": [], "losses": [float(v) for v in losses], "w": float(w), "b": float(b),
            "line_problem": None}


def test_a_nan_slope_never_reaches_the_least_squares_line(tmp_path):
    cases = Judge().cases("00.torch_loop", 0)
    honest, runs = [], []
    for n, case in enumerate(cases):
        x, y, steps, lr = case.args
        w, b, losses = _gd_run(x, y, steps, lr)  # a correct run on every case...
        honest.append(_core.CaseRun("ok", got=_line_obs(steps, w, b, losses), args_after=case.args))
        if n < 2:  # ...but the two "reaches the least-squares line" cases report a NaN slope, any falling losses
            w, losses = float("nan"), [2.0] * (steps - 1) + [1.0]
        runs.append(_core.CaseRun("ok", got=_line_obs(steps, w, b, losses), args_after=case.args))
    assert _judged("00.torch_loop", honest, tmp_path, ("x", "y", "steps", "lr")).passed  # the control
    result = _judged("00.torch_loop", runs, tmp_path, ("x", "y", "steps", "lr"))
    assert not result.passed, f"a NaN line passed as the least-squares line: {result.message}"


def test_the_trajectory_case_needs_a_real_descent_not_a_run_that_starts_at_the_minimum(tmp_path):
    cases = Judge().cases("00.torch_loop", 0)
    honest, runs = [], []
    for n, case in enumerate(cases):
        x, y, steps, lr = case.args
        w, b, losses = _gd_run(x, y, steps, lr)
        honest.append(_core.CaseRun("ok", got=_line_obs(steps, w, b, losses), args_after=case.args))
        if n == 2:  # no gradient descent: the least-squares line, losses a hair above its MSE, slowly falling
            w, b = (float(v) for v in np.polyfit(x.ravel().astype(float), y.ravel().astype(float), 1))
            mse = float(np.mean((w * x.astype(float) + b - y.astype(float)) ** 2))
            losses = [mse * (1 + 1e-4 * (steps - i)) for i in range(steps)]
        runs.append(_core.CaseRun("ok", got=_line_obs(steps, w, b, losses), args_after=case.args))
    assert _judged("00.torch_loop", honest, tmp_path, ("x", "y", "steps", "lr")).passed  # the control
    result = _judged("00.torch_loop", runs, tmp_path, ("x", "y", "steps", "lr"))
    assert not result.passed, ("a run that starts at the least-squares line (|slope| >= 1.5, never a torch "
                               f"initialisation) passed the gradient-descent trajectory case: {result.message}")


# ----------------------------------------------------------------------------- 05.conv_block
def test_the_conv_block_reference_does_not_use_the_eps_the_kernel_reports(tmp_path):
    from course_utils.checks.lesson05 import _block_references

    cases = Judge().cases("05.conv_block", 0)
    honest, runs = [], []
    for case in cases:
        c_in, c_out = case.args
        beta = np.asarray(case.probe[1]["beta"], dtype=float)  # an input: the grader wrote it into the kernel
        out = np.broadcast_to(np.maximum(beta, 0.0)[None, :, None, None], (3, c_out, 3, 4)).copy()  # no conv at all
        obs = {"none": False, "type": "Sequential", "module": True, "n_params": 9 * c_in * c_out + 2 * c_out,
               "n_conv": 1, "n_bn": 1, "conv_bias": [False], "conv_unpadded": [False], "bn_features": [c_out],
               "shape": (2, c_out, 4, 5), "out": out, "out_shape": out.shape, "out_problem": None,
               "eps": float("inf")}
        runs.append(_core.CaseRun("ok", got=obs, args_after=case.args))
        right = dict(obs, eps=1e-5, out=_block_references(case.probe[1], 1e-5)[0])  # the right block's output
        honest.append(_core.CaseRun("ok", got=right, args_after=case.args))
    assert _judged("05.conv_block", honest, tmp_path, ("c_in", "c_out")).passed  # the control
    result = _judged("05.conv_block", runs, tmp_path, ("c_in", "c_out"))
    assert not result.passed, f"relu(beta) with eps=inf passed as the block's output: {result.message}"


# ----------------------------------------------------------------------------- the wire
_MEASURE = """
import resource, sys
from course_utils.grade import _wire
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    _wire.load(sys.argv[1])
except _wire.WireError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_a_small_result_file_cannot_make_json_loads_build_a_huge_structure(tmp_path):
    # 64 MB of "[]," (the inflated-size cap) in the meta entry: ~22 million empty lists, compressed to ~65 KB
    n = (4 * _wire.MAX_BYTES - 1000) // 3
    meta = ("[" + "[]," * (n - 1) + "[]]").encode()
    npy = io.BytesIO()
    np.lib.format.write_array(npy, np.frombuffer(meta, np.uint8))
    del meta
    path = tmp_path / "call-0-0.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("meta.npy", npy.getvalue())
    del npy
    assert path.stat().st_size < 100_000
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    grown = int(proc.stdout.split()[-1])
    limit = 16 * _wire.MAX_BYTES  # well above what the capped arrays and the meta text themselves need
    assert grown <= limit, (f"a {path.stat().st_size}-byte result file made the grader's process grow by "
                            f"{grown / 2**20:.0f} MB while reading it")


def test_the_result_folder_replaced_by_a_link_is_never_followed(tmp_path):
    """A weaker finding of the same review: the kernel owns its scratch folder, so it may replace
    ``grader-split/out`` (or ``grader-split``) by a link to any folder; the grader (root) then listed and read
    ``call-*.npz`` files there. Both folders are now opened without following links."""
    from course_utils.grade._assemble import Plan, SplitCall

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = _core.AnswerRun(name="f", params=["x"], runs=[_core.CaseRun("ok", got=1.0)])
    _wire.dump(_wire.answer_record(run), str(elsewhere / "call-0-0.npz"))
    judge = Judge()
    plan = Plan(cells=[], missing=set(), answers={}, nonce="0" * 16, split={0: SplitCall("00.accuracy", 0, False)})
    fake = tmp_path / "fake-split"
    fake.mkdir()
    (fake / "out").symlink_to(elsewhere)
    for linked in ("out", "grader-split"):
        scratch = tmp_path / f"scratch-{linked}"
        scratch.mkdir()
        if linked == "out":
            (scratch / "grader-split").mkdir()
            (scratch / "grader-split" / "out").symlink_to(elsewhere)
        else:
            (scratch / "grader-split").symlink_to(fake)
        assert judge.read_records(plan, str(scratch)) == {0: []}, linked
    (tmp_path / "real" / "grader-split" / "out").mkdir(parents=True)
    _wire.dump(_wire.answer_record(run), str(tmp_path / "real" / "grader-split" / "out" / "call-0-0.npz"))
    assert len(judge.read_records(plan, str(tmp_path / "real"))[0]) == 1  # the real folder is read
