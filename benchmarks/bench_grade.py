"""Grading time per lesson-00 submission: with and without the bubblewrap sandbox, on the machine as it
is and with two CPU-burning processes.

    python benchmarks/bench_grade.py [N]      # N correct submissions per round (default 2), 2 workers

Prints, per round, the load average before it, the wall-clock and CPU seconds of each submission (CPU = the
graded kernel's process tree, the quantity the grader's time limits count), the whole round, and the
one-off calibration run of the official solution (see course_utils.grade._split). The numbers quoted in
docs/instructors.md come from this script. It checks that every submission got full marks, so it also
shows that the CPU-time limits keep a loaded machine from failing correct work. Without bubblewrap only
the unsandboxed rounds run.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BURNER = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"


def _fixtures():
    spec = importlib.util.spec_from_file_location("make_submissions", ROOT / "tests/fixtures/make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_round(n: int, burners: int, workdir: Path, sandbox: bool = True) -> list:
    import nbformat

    from course_utils.grade._grader import grade_folder
    from course_utils.grade._runner import Limits

    fx = _fixtures()
    subs = workdir / f"subs-{burners}-{int(sandbox)}"
    nb = fx.solved_all()  # every exercise answered correctly
    for i in range(n):
        (subs / f"s{i}").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / f"s{i}" / fx.NAME)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    procs = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(burners)]
    try:
        t0 = time.monotonic()
        lines: list[str] = []
        results = grade_folder(subs, "00", workdir / f"grades-{burners}-{int(sandbox)}.csv", workers=2,
                               limits=Limits(cell_timeout=30, total_timeout=150), root=ROOT, log=lines.append,
                               sandbox=sandbox)
        total = time.monotonic() - t0
        calibration = next((ln for ln in lines if ln.startswith("calibration")), "")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    full = all(r.status in ("passed", "manual") for res in results for r in res.rows)
    walls = [res.seconds for res in results]
    cpus = [res.cpu_seconds for res in results]
    official = [res.official_cpu_seconds for res in results]
    print(f"{'sandbox' if sandbox else 'no sandbox'}, "
          f"{burners} CPU burner(s), load average before {load[0]:.2f} (1 min) on {os.cpu_count()} CPUs: "
          f"{n} submissions in {total:.1f} s with 2 workers; per submission wall "
          f"{min(walls):.1f}-{max(walls):.1f} s, CPU {min(cpus):.1f}-{max(cpus):.1f} s "
          f"({min(official):.1f}-{max(official):.1f} s of it in official cells); "
          f"full marks: {'yes' if full else 'NO'}; retried: {sum(bool(r.attempts) for r in results)}; {calibration}")
    return results


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 2
    from course_utils.grade._sandbox import unavailable

    why = unavailable()
    if why:
        print(f"no sandbox here ({why}): only the rounds without it")
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        ok = True
        for burners in (0, 2):
            for sandbox in ((False, True) if why is None else (False,)):
                results = one_round(n, burners, Path(tmp), sandbox=sandbox)
                ok &= all(r.status in ("passed", "manual") for res in results for r in res.rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
