"""Benchmark of the capstone pipeline of lesson 10 (issue 11; run with `make bench`).

Runs ``course_utils.capstone.run_capstone`` as the lesson does:

1. the bundled data set (``capstone.course_feature_set()``: MiniLM + MFCC statistics + FER features), the
   candidates and grid of ``capstone.CANDIDATES`` / ``capstone.GRID`` selected on *valid* (lowest validation
   loss), test read once; the table gives every CMU-MOSI metric with 95 % speaker-bootstrap intervals beside the
   unimodal, majority-class and constant-score baselines. Target: the final system beats the best single
   modality by >= 5 points of test Acc-2.
2. CMU-MOSI bc-LSTM features (``../shared/realdata/mosi``, converted on the fly with ``convert_mosi_bclstm`` into
   a temporary file, never into the repository), skipped when that folder is absent. Its valid split leaks, so the
   protocol chosen in step 1 is carried over (nothing selected on MOSI); intervals resample the test videos.
   Reported, no target.

Prints the tables (markdown), wall times and the load average; exits non-zero when the target is missed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _mosi() -> Path | None:
    for p in ROOT.parents:
        f = p / "shared" / "realdata" / "mosi" / "mosi_bclstm_utterances.npz"
        if f.is_file():
            return f
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates per interval")
    ap.add_argument("--skip-mosi", action="store_true")
    args = ap.parse_args()

    from course_utils import capstone as CAP

    t0 = time.perf_counter()
    res = CAP.run_capstone(CAP.course_feature_set(), epochs=40, patience=8, n_boot=args.n_boot)
    fin = res.report[res.final_name]["acc2"][0]
    uni = max((k for k in res.report if k.startswith("unimodal")), key=lambda k: res.report[k]["acc2"][0])
    gain = 100 * (fin - res.report[uni]["acc2"][0])
    print("## Capstone on the bundled data (test, 150 utterances, 6 speakers; selected on valid)\n")
    print(res.table())
    print("\n(intervals resample the 6 test speakers; with so few clusters the lesson (§3) also gives the utterance "
          "bootstrap of Acc-2, wider for some rows: quote the wider)")
    ok = gain >= 5.0
    print(f"\nwall time {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.2f}; target final >= "
          f"best single modality ({uni}) + 5 points Acc-2: {gain:+.1f} -> {'met' if ok else 'MISSED'}")

    mosi = None if args.skip_mosi else _mosi()
    if mosi is None:
        print("\nCMU-MOSI: skipped (../shared/realdata/mosi not found or --skip-mosi)")
    else:
        from course_utils.data import convert_mosi_bclstm

        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            path = convert_mosi_bclstm(mosi, Path(tmp) / "mosi.npz")
            m = CAP.run_capstone(path, protocol=res.protocol, n_boot=args.n_boot)
        mp = m.prepared
        print(f"\n## Capstone on CMU-MOSI bc-LSTM (bc-LSTM split, test {len(mp.y['test'])} utterances of "
              f"{len(set(mp.groups['test'].tolist()))} videos; protocol "
              f"{res.protocol['model']} {res.protocol['config']} for {res.protocol['epochs']} epochs carried over)\n")
        print(m.table())
        print(f"\nwall time {time.perf_counter() - t1:.0f} s, load average {os.getloadavg()[0]:.2f} (reported, "
              "no target; optimistic: the extractors saw the training labels)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

# Measured (2026-12-07, 2-core CPU, load average 4.8 while other jobs ran), `python benchmarks/bench_capstone.py`:
# bundled data: final lmf (lr=0.003), test Acc-2 93.3 [89.3, 96.7], best single modality vision 81.3 [75.3, 86.0]
# (+12.0 points, target met), 24 s; CMU-MOSI bc-LSTM with the carried-over protocol: Acc-2 76.7 [73.4, 80.0],
# Acc-2 non0 77.7, text alone 76.1, majority class 62.1, 9 s.
