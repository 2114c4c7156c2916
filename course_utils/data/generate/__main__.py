"""``python -m course_utils.data.generate --out datasets/sentiment [--seed N] [--jobs N]`` (dataset, issue 4)."""
from __future__ import annotations

import argparse
import sys

from .plan import DEFAULT_SEED


def main(argv: list[str] | None = None) -> int:
    """Command line of the generator (dataset, issue 4); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.data.generate",
        description="Regenerate the course's tri-modal sentiment data set (text, espeak-ng speech, faces).",
    )
    parser.add_argument("--out", default="datasets/sentiment", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the baseline report that fills the datasheet's tables")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from .build import generate
    from .speech import EspeakNotFoundError

    try:
        generate(args.out, args.seed, jobs=args.jobs, report=not args.no_report, verbose=not args.quiet)
    except EspeakNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
