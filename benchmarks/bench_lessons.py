"""Lesson execution times: first cell, whole lesson (full and fast mode), kernel CPU time.

Run by ``make bench`` (or ``python benchmarks/bench_lessons.py [NN ...]``). Executes each
solution in a fresh kernel with nbclient, in a temporary copy (the repository is not
changed), and prints wall time of the first cell and of the whole lesson, the kernel's
CPU time and the load average, so numbers from a busy machine can be recognised.
Targets (issue 8): first cell < 2 s; a lesson's full mode < 120 s on 2 cores.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, fast: bool) -> dict:
    import nbformat
    import psutil
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "COURSE_FAST", "KERAS_BACKEND")}
    env.update(COURSE_HEADLESS="1", PYTHONPATH=str(ROOT), COURSE_FAST="1" if fast else "0")
    client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    times: list[float] = []
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        start = time.perf_counter()
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid if client.km.provisioner else None
            for index, cell in enumerate(nb.cells):
                t0 = time.perf_counter()
                client.execute_cell(cell, index)
                if cell.cell_type == "code":
                    times.append(time.perf_counter() - t0)
            cpu = sum(psutil.Process(pid).cpu_times()[:2]) if pid else float("nan")
        total = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(old)
    return {"first": times[0] if times else float("nan"), "total": total, "cpu": cpu,
            "slowest": max(times)}


def main(argv: list[str]) -> None:
    lessons = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if argv:
        lessons = [p for p in lessons if p.name[:2] in argv]
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core machine: above ~2 the wall times inflate)")
    print(f"{'lesson':28s} {'mode':5s} {'first cell':>10s} {'total':>8s} {'kernel CPU':>10s} {'slowest cell':>12s}")
    for path in lessons:
        for fast in (False, True):
            r = run(path, fast)
            print(f"{path.stem:28s} {'fast' if fast else 'full':5s} {r['first']:9.2f}s {r['total']:7.1f}s "
                  f"{r['cpu']:9.1f}s {r['slowest']:11.1f}s")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
