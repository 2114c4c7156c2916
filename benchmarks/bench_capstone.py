"""Benchmark of the capstone system of lesson 10 (issue 11; run with `make bench`).

Runs ``course_utils.capstone.run_capstone`` (what lesson 10 runs) on

1. the bundled data set's capstone features (MiniLM sentence embeddings, MFCC
   statistics, FER features): unimodal baselines and the fusion candidates over
   the documented grid, the final system chosen on *valid* (lowest validation
   loss), *test* read once, every CMU-MOSI metric with 95 % bootstrap intervals
   over speakers, beside the majority-class and constant-score baselines; then
   seed system 004 (sentence embedding, the 48x48 face image, log-mel frames)
   in PyTorch with early stopping, and its Keras twin for the same number of
   epochs. Same calls as lesson 10 in full mode, so the tables are the
   lesson's. Targets: the final system's test Acc-2 beats the best unimodal
   baseline's by >= 5 points and the majority class's; seed 004 beats the
   majority class in both frameworks. The paired gap (final - best unimodal)
   is printed with 95 % intervals resampling speakers and single items.
2. CMU-MOSI bc-LSTM features (``../shared/realdata/mosi``, converted on the fly
   with ``convert_mosi_bclstm``; never copied), skipped when that folder is
   absent. Their valid split leaks, so nothing is selected on it: the protocol
   chosen on the bundled data (model, configuration, epochs) is reused and test
   is read once. Target: the final system beats the best unimodal baseline and
   reaches >= 75 % Acc-2 (the paired gap is printed: on these features it is
   within the noise, see MEASURED).

Prints the tables (markdown), wall times and the load average; exits non-zero
when a target is missed. Measured numbers are recorded at the end of this file.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _acc2(res, name: str) -> float:
    return res.report[name]["acc2"][0]


def _best_unimodal(res) -> tuple[str, float]:
    names = [k for k in res.report if k.startswith("unimodal")]
    best = max(names, key=lambda k: _acc2(res, k))
    return best, _acc2(res, best)


def _selection_table(res) -> str:
    from course_utils.capstone import _config_name

    lines = ["| model | modalities | configuration | epochs | valid loss | valid Acc-2 | role |", "|---" * 7 + "|"]
    for e in res.selection:
        vl = e["val_loss"]
        lines.append(f"| {e['model']} | {e['modalities']} | {_config_name(e['config'])} | {e['epochs']} | "
                     f"{'–' if vl is None else f'{vl:.3f}'} | {100 * e['val_acc2']:.1f} | {e['role']} |")
    return "\n".join(lines)


def _paired_gap(res, a: str, b: str, groups, n_boot: int) -> tuple[float, float, float]:
    """Acc-2 of system ``a`` minus system ``b`` on the same test items, with a 95 % interval (same resampling)."""
    from course_utils import capstone as C

    p = res.prepared
    truth = (p.score["test"] >= 0).astype(int)
    ok_a = (res.outputs[a]["test"][:, 0] > 0).astype(int) == truth
    ok_b = (res.outputs[b]["test"][:, 0] > 0).astype(int) == truth
    g = np.arange(truth.size) if groups is None else groups
    lo, hi = C.bootstrap_ci(ok_a.astype(float), ok_b.astype(float), g, C.group_draws(g, n_boot, seed=1),
                            lambda x, y: float(x.mean() - y.mean()))
    return float(ok_a.mean() - ok_b.mean()), lo, hi


def _gaps(res, n_boot: int) -> None:
    p = res.prepared
    name, _ = _best_unimodal(res)
    groups = None if p.groups is None else p.groups["test"]
    for label, g in (("whole groups", groups), ("single items", None)):
        d, lo, hi = _paired_gap(res, res.final_name, name, g, n_boot)
        print(f"paired Acc-2 gap, final − {name}: {100 * d:+.1f} points, 95 % interval [{100 * lo:+.1f}, "
              f"{100 * hi:+.1f}] resampling {label}")


def _check(ok: bool, what: str) -> bool:
    print(f"target {'met' if ok else 'MISSED'}: {what}")
    return ok


def bundled(args) -> tuple[bool, dict]:
    import torch

    from course_utils import capstone as C

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    # What lesson 10 runs in full mode: the documented grid, early stopping on valid, seed 004 in both frameworks.
    res = C.run_capstone(C.course_feature_set(), epochs=40, patience=8, n_boot=args.n_boot, seed=0,
                         seed004=("torch", "keras"))
    print(f"\n## Bundled data set: selection on valid ({time.perf_counter() - t0:.1f} s with seed 004)\n")
    print(_selection_table(res))
    p = res.prepared
    groups = p.groups["test"]
    print(f"\n## Bundled data set: test, read once (n = {groups.size}; 95 % intervals over speakers, "
          f"{args.n_boot} replicates)\n")
    print(res.table())
    n_groups = np.unique(groups).size
    row = C.evaluate(p.score["test"].astype(float), *C._decisions(p, res.outputs[res.final_name]["test"]), None,
                     n_boot=args.n_boot, seed=0)["acc2"]
    print(f"\nThe test split has {n_groups} speakers: an interval over so few groups is itself uncertain. "
          f"Resampling single items instead, the final system's Acc-2 interval is [{100 * row[1]:.1f}, "
          f"{100 * row[2]:.1f}] (read both; lesson 10, section 1).")
    _gaps(res, args.n_boot)
    name, best_uni = _best_unimodal(res)
    final = _acc2(res, res.final_name)
    major = res.report["majority class"]["acc2"][0]
    ok = _check(final >= best_uni + 0.05,
                f"final Acc-2 {100 * final:.1f} >= best unimodal ({name}) {100 * best_uni:.1f} + 5 points")
    ok &= _check(final > major, f"final Acc-2 {100 * final:.1f} > majority class {100 * major:.1f}")
    for sys_name in ("seed 004 (PyTorch)", "seed 004 (Keras)"):
        a = res.report[sys_name]["acc2"][0]
        ok &= _check(a > major, f"{sys_name} Acc-2 {100 * a:.1f} > majority class {100 * major:.1f}")
    return ok, res.protocol


def mosi(args, protocol) -> bool:
    from course_utils import capstone as C
    from course_utils.data import convert_mosi_bclstm

    from bench_fusion import _mosi  # the same search for ../shared/realdata/mosi as the fusion benchmark

    src = _mosi()
    if src is None:
        print("\nCMU-MOSI: skipped (../shared/realdata/mosi not found)")
        return True
    with tempfile.TemporaryDirectory() as tmp:
        path = convert_mosi_bclstm(src, Path(tmp) / "mosi.npz")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the converter's leak warning is the reason for the fixed protocol
            res = C.run_capstone(path, protocol=protocol, epochs=40, n_boot=args.n_boot, seed=0)
    n = res.prepared.score["test"].size
    groups = res.prepared.groups["test"] if res.prepared.groups is not None else None
    n_groups = np.unique(groups).size if groups is not None else n
    print(f"\n## CMU-MOSI bc-LSTM features: the bundled protocol ({protocol['model']}, "
          f"{C._config_name(protocol['config'])}, {protocol['epochs']} epochs), test read once "
          f"(n = {n}, intervals over {n_groups} videos; {time.perf_counter() - t0:.1f} s)\n")
    print(res.table())
    _gaps(res, args.n_boot)
    name, best_uni = _best_unimodal(res)
    final = _acc2(res, res.final_name)
    ok = _check(final > best_uni, f"final Acc-2 {100 * final:.1f} > best unimodal ({name}) {100 * best_uni:.1f}")
    ok &= _check(final >= 0.75, f"final Acc-2 {100 * final:.1f} >= 75.0")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: small models run fastest alone)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--skip-mosi", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from course_utils.env import configure_caches, silence_tensorflow

    configure_caches()
    silence_tensorflow()  # TensorFlow's start-up log lines are not part of the results
    t0 = time.perf_counter()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    ok, protocol = bundled(args)
    if not args.skip_mosi:
        ok &= mosi(args, protocol)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


MEASURED = """
2026-12-07, this 2-core container (CPU only, Python 3.11, torch 2.13.0, Keras 3.15 on TensorFlow 2.21), one torch
thread, features cached, `python benchmarks/bench_capstone.py` (other jobs running: load printed):

load average before: 2.53

## Bundled data set: selection on valid (31.8 s with seed 004)

| model | modalities | configuration | epochs | valid loss | valid Acc-2 | role |
|---|---|---|---|---|---|---|
| unimodal | text | default | 5 | 1.826 | 70.7 | baseline |
| unimodal | audio | default | 15 | 1.441 | 82.0 | baseline |
| unimodal | vision | default | 8 | 1.283 | 82.7 | baseline |
| early | text+audio+vision | lr=0.001 | 6 | 0.802 | 92.7 | candidate |
| early | text+audio+vision | lr=0.003 | 10 | 0.800 | 94.7 | candidate |
| late | text+audio+vision | lr=0.001 | 22 | 0.869 | 95.3 | candidate |
| late | text+audio+vision | lr=0.003 | 9 | 0.840 | 94.7 | candidate |
| gated | text+audio+vision | lr=0.001 | 9 | 0.794 | 92.0 | candidate |
| gated | text+audio+vision | lr=0.003 | 3 | 0.826 | 91.3 | candidate |
| lmf | text+audio+vision | lr=0.001 | 19 | 0.814 | 93.3 | candidate |
| lmf | text+audio+vision | lr=0.003 | 21 | 0.744 | 94.7 | final |
| seed004 | text+face+audio | default | 4 | 1.294 | 81.3 | seed 004 |
| seed004 | text+face+audio | default | 4 | 1.316 | 81.3 | seed 004 |

## Bundled data set: test, read once (n = 150; 95 % intervals over speakers, 1000 replicates)

| system | Acc-2 | Acc-2 non0 | F1 (weighted) | F1 (macro) | Acc-7 | MAE | Corr |
|---|---|---|---|---|---|---|---|
| final: lmf (lr=0.003) | 93.3 [89.3, 96.7] | 92.4 [87.9, 96.2] | 93.3 [89.2, 96.7] | 93.2 [88.9, 96.6] | 47.3 [38.6, 54.7] | 0.614 [0.513, 0.730] | 0.893 [0.838, 0.934] |
| unimodal text | 72.7 [70.7, 74.7] | 68.9 [66.7, 71.2] | 72.8 [70.6, 74.7] | 72.4 [70.2, 74.4] | 28.0 [25.3, 30.7] | 1.413 [1.333, 1.497] | 0.384 [0.312, 0.453] |
| unimodal audio | 76.0 [68.0, 84.0] | 81.1 [72.7, 87.9] | 76.1 [68.2, 84.0] | 75.8 [67.7, 83.8] | 26.7 [20.7, 32.0] | 1.100 [0.954, 1.242] | 0.681 [0.634, 0.752] |
| unimodal vision | 81.3 [75.3, 86.0] | 81.8 [75.0, 87.9] | 80.6 [73.6, 85.9] | 79.9 [72.1, 85.7] | 39.3 [35.3, 45.3] | 1.016 [0.881, 1.126] | 0.701 [0.618, 0.765] |
| majority class | 56.7 [54.0, 59.3] | 50.8 [47.7, 53.8] | 41.0 [37.9, 44.2] | 36.2 [35.1, 37.2] | 16.7 [14.0, 20.0] | 2.207 [2.087, 2.313] | – |
| constant score | 56.7 [54.0, 59.3] | 50.8 [47.7, 53.8] | 41.0 [37.9, 44.2] | 36.2 [35.1, 37.2] | 12.0 [12.0, 12.0] | 1.671 [1.538, 1.799] | – |
| seed 004 (PyTorch) | 84.0 [79.3, 88.7] | 82.6 [76.5, 87.9] | 83.9 [79.3, 88.6] | 83.6 [78.7, 88.3] | 30.7 [25.3, 35.3] | 1.120 [0.997, 1.242] | 0.679 [0.630, 0.738] |
| seed 004 (Keras) | 80.7 [78.7, 82.7] | 78.8 [75.8, 82.6] | 80.4 [77.7, 82.7] | 79.9 [77.1, 82.2] | 28.0 [23.3, 32.7] | 1.110 [0.968, 1.282] | 0.671 [0.595, 0.746] |

The test split has 6 speakers: an interval over so few groups is itself uncertain. Resampling single items instead, the final system's Acc-2 interval is [89.3, 96.7] (read both; lesson 10, section 1).
paired Acc-2 gap, final − unimodal vision: +12.0 points, 95 % interval [+9.3, +14.7] resampling whole groups
paired Acc-2 gap, final − unimodal vision: +12.0 points, 95 % interval [+5.3, +18.7] resampling single items
target met: final Acc-2 93.3 >= best unimodal (unimodal vision) 81.3 + 5 points
target met: final Acc-2 93.3 > majority class 56.7
target met: seed 004 (PyTorch) Acc-2 84.0 > majority class 56.7
target met: seed 004 (Keras) Acc-2 80.7 > majority class 56.7

## CMU-MOSI bc-LSTM features: the bundled protocol (lmf, lr=0.003, 21 epochs), test read once (n = 752, intervals over 31 videos; 6.6 s)

| system | Acc-2 | Acc-2 non0 | F1 (weighted) | F1 (macro) | Acc-7 | MAE | Corr |
|---|---|---|---|---|---|---|---|
| final: lmf (lr=0.003) | 76.7 [73.4, 80.0] | 77.7 [74.1, 80.9] | 76.8 [73.4, 80.1] | 75.4 [72.2, 78.3] | 36.2 [32.7, 39.7] | 0.928 [0.854, 1.003] | 0.613 [0.559, 0.663] |
| unimodal text | 76.1 [73.1, 79.4] | 77.3 [74.1, 80.8] | 76.2 [73.3, 79.6] | 74.9 [71.9, 78.1] | 32.6 [29.2, 35.9] | 0.941 [0.871, 1.012] | 0.613 [0.572, 0.654] |
| unimodal audio | 58.0 [52.7, 63.3] | 58.1 [53.2, 63.2] | 58.6 [53.3, 63.7] | 57.1 [52.2, 61.8] | 21.1 [17.7, 24.4] | 1.342 [1.233, 1.452] | 0.154 [0.063, 0.249] |
| unimodal vision | 54.7 [50.2, 58.6] | 54.2 [49.6, 58.3] | 55.2 [50.5, 59.1] | 53.1 [48.7, 56.8] | 19.7 [16.3, 23.1] | 1.383 [1.278, 1.503] | 0.067 [-0.067, 0.180] |
| majority class | 62.1 [54.0, 69.4] | 60.5 [52.1, 67.9] | 47.6 [37.9, 56.8] | 38.3 [35.1, 41.0] | 26.6 [21.5, 32.0] | 1.719 [1.504, 1.947] | – |
| constant score | 62.1 [54.0, 69.4] | 60.5 [52.1, 67.9] | 47.6 [37.9, 56.8] | 38.3 [35.1, 41.0] | 18.9 [16.6, 21.1] | 1.314 [1.242, 1.388] | – |
paired Acc-2 gap, final − unimodal text: +0.7 points, 95 % interval [-2.0, +3.4] resampling whole groups
paired Acc-2 gap, final − unimodal text: +0.7 points, 95 % interval [-1.5, +2.8] resampling single items
target met: final Acc-2 76.7 > best unimodal (unimodal text) 76.1
target met: final Acc-2 76.7 >= 75.0

total 40.5 s; load average after: 2.82
"""

if __name__ == "__main__":
    sys.exit(main())
