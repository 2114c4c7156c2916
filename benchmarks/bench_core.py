"""Benchmarks for the course_utils core (run with `make bench`).

Targets (from the foundation issue): `import course_utils` < 0.5 s; the
authoring check fast enough for a pre-commit hook. Prints measurements;
exits non-zero when a target is missed.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _in_process(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def bench_import(repeats: int = 5) -> float:
    code = "import time; t=time.perf_counter(); import course_utils; print(time.perf_counter()-t)"
    return statistics.median(_in_process(code) for _ in range(repeats))


def bench_setup() -> float:
    code = ("import time, course_utils as cu; t=time.perf_counter(); cu.setup(seed=0, report=False); "
            "print(time.perf_counter()-t)")
    return _in_process(code)


def bench_authoring_check() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "course_utils.authoring", "check"], check=True, cwd=ROOT,
                   capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    imp, setup, check = bench_import(), bench_setup(), bench_authoring_check()
    print(f"import course_utils (median of 5): {imp * 1000:.1f} ms   target < 500 ms")
    print(f"cu.setup() (no framework import): {setup:.2f} s")
    print(f"authoring check (all lessons):     {check:.2f} s")
    return 0 if imp < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
