"""``python -m course_utils.grade._worker JOB.json RESULT.json``: run one submission's cells (grader, lesson 00).

The grader starts one such process per submission, so that a kernel, a client
stuck on a broken kernel, or a huge message can never take the grader down;
the grader kills the worker's whole process tree if it overruns.
"""
from __future__ import annotations

import json
import sys

from ._runner import Limits, run_cells


def main(argv: list[str]) -> int:
    job_path, result_path = argv
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    report = run_cells(job["cells"], job["scratch"], job["env"], Limits(**job["limits"]),
                       official=job.get("official"))
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(report.to_dict(), fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
