"""Benchmarks for the lesson start-up (run with `make bench`; issue 8, section 6).

Target: the standard first cell (``cu.setup(seed=0)``) takes < 2 s in a fresh
kernel, because it imports no framework (they are seeded when first imported).
Measured in fresh processes: ``cu.setup()`` alone (median of 5), the first
cell in a fresh Jupyter kernel (kernel start-up excluded; with and without
``MPLBACKEND=Agg``, which makes setup switch to inline figures), and what the
lazy seeding adds to ``import torch``. Prints the numbers; exits non-zero when
the target is missed.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0


def _last_float(code: str, **env: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    return float(out.stdout.strip().splitlines()[-1])


def bench_setup(repeats: int = 5) -> float:
    """Median seconds of ``import course_utils; cu.setup(seed=0)`` in fresh interpreters."""
    code = ("import time; t = time.perf_counter(); import course_utils as cu; cu.setup(seed=0, report=False); "
            "print(time.perf_counter() - t)")
    return statistics.median(_last_float(code) for _ in range(repeats))


def bench_first_cell(**env: str) -> float:
    """Seconds the standard first cell takes in a fresh Jupyter kernel (kernel start excluded)."""
    import nbformat
    from nbclient import NotebookClient

    from course_utils.colab import first_cell_source

    old = {k: os.environ.get(k) for k in (*env, "PYTHONPATH")}
    os.environ.update({"PYTHONPATH": str(ROOT), **env})
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(first_cell_source())])
        NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=True,
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    timing = nb.cells[0].metadata["execution"]
    start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def bench_torch_import(repeats: int = 3) -> tuple[float, float]:
    """Median seconds of ``import torch`` without and with the seeding hook installed by setup()."""
    plain = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    hooked = ("import course_utils as cu; cu.setup(seed=0, report=False); import time; t = time.perf_counter(); "
              "import torch; assert torch.initial_seed() == 0; print(time.perf_counter() - t)")
    return (statistics.median(_last_float(plain) for _ in range(repeats)),
            statistics.median(_last_float(hooked) for _ in range(repeats)))


def main() -> int:
    setup = bench_setup()
    cell = bench_first_cell()
    cell_agg = bench_first_cell(MPLBACKEND="Agg")
    plain, hooked = bench_torch_import()
    print(f"cu.setup() in a fresh process (median of 5):       {setup:.2f} s   target < {TARGET_S:.0f} s")
    print(f"first cell in a fresh kernel:                      {cell:.2f} s   target < {TARGET_S:.0f} s")
    print(f"first cell in a fresh kernel, MPLBACKEND=Agg:      {cell_agg:.2f} s   target < {TARGET_S:.0f} s")
    print(f"import torch: plain {plain:.2f} s, after setup (seeded on import) {hooked:.2f} s")
    return 0 if max(setup, cell, cell_agg) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
