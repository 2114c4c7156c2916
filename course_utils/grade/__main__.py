"""Command line of the grader (lesson 00): ``python -m course_utils.grade SUBMISSIONS_DIR --lesson NN``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import STATUSES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grade",
        description="Grade a folder of submitted notebooks (DIR/<student>/NN_slug.ipynb or DIR/<student>.ipynb) "
                    "into a CSV (student, exercise, points, max_points, status, message), its log (the CSV's name "
                    "with .log) and one feedback file per student. Each kernel runs in a bubblewrap sandbox (Linux; `apt-get install "
                    "bubblewrap`); without one the grader refuses unless --no-sandbox is given "
                    "(docs/instructors.md).",
        epilog="statuses: " + "; ".join(f"{k}: {v}" for k, v in STATUSES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder of submissions")
    parser.add_argument("--lesson", required=True, help="lesson number, e.g. 00")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write (default grades.csv)")
    parser.add_argument("--feedback-dir", type=Path, default=None,
                        help="folder for the per-student feedback files (default: feedback/ next to the CSV)")
    parser.add_argument("--workers", type=int, default=2, help="submissions graded in parallel (default 2)")
    parser.add_argument("--cell-timeout", type=float, default=180,
                        help="CPU seconds per cell of the learner: exercise cells, added cells, check cells "
                             "(default 180)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="CPU seconds for all the learner's cells of a notebook together (default 900)")
    parser.add_argument("--official-timeout", type=float, default=600,
                        help="CPU seconds per official cell (the set-up cell, the lesson's own code); they do "
                             "not count against the learner's limits (default 600)")
    parser.add_argument("--wall-factor", type=float, default=4.0,
                        help="wall-clock backstop of every limit: max(FACTOR x limit, --min-wall) (default 4)")
    parser.add_argument("--min-wall", type=float, default=120,
                        help="smallest wall-clock backstop in seconds (default 120)")
    parser.add_argument("--no-retry", action="store_true",
                        help="do not grade a submission a second time when its kernel timed out or died in "
                             "an official cell")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="memory limit of each kernel in MB, 0 = none (default 4096)")
    parser.add_argument("--max-output-mb", type=float, default=20, help="output limit per cell in MB (default 20)")
    parser.add_argument("--full", action="store_true", help="run lessons in full mode (default: COURSE_FAST=1)")
    parser.add_argument("--seed", type=int, default=1,
                        help="offset added to the seed of the checks' random cases (default 1: other cases than "
                             "the learner's self-check; 0 = exactly the learner's)")
    parser.add_argument("--run-all", action="store_true",
                        help="also run the cells after the last check cell (they cannot change a grade)")
    parser.add_argument("--no-netns", action="store_true",
                        help="do not try to put kernels in an empty network namespace (Linux)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="grade WITHOUT the bubblewrap sandbox (only for notebooks you trust); said in the "
                             "log and in every feedback file")
    parser.add_argument("--reference-points", type=float, default=0.0,
                        help="share of an exercise's points (0-1) given when its cell uses the course's own "
                             "reference implementation of it (status uses_reference; default 0)")
    parser.add_argument("--root", type=Path, default=None, help="course repository root (default: auto)")
    args = parser.parse_args(argv)
    if not 0 <= args.reference_points <= 1:
        parser.error("--reference-points must be between 0 and 1")

    from ._assemble import GradingSetupError
    from ._grader import grade_folder
    from ._runner import Limits

    limits = Limits(cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                    official_timeout=args.official_timeout, wall_factor=args.wall_factor, min_wall=args.min_wall,
                    memory_mb=args.memory_mb, max_output_mb=args.max_output_mb,
                    network_namespace=not args.no_netns)
    try:
        grade_folder(args.submissions, args.lesson, args.out, feedback_dir=args.feedback_dir,
                     workers=args.workers, limits=limits, full=args.full, seed=args.seed,
                     run_all=args.run_all, root=args.root, retry=not args.no_retry,
                     sandbox=not args.no_sandbox, reference_points=args.reference_points)
    except GradingSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
