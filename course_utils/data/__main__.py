"""``python -m course_utils.data {report,verify}`` (dataset, issue 4)."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Command line of the data package (dataset, issue 4); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.data",
                                     description="The course's bundled sentiment data set.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="fit the baselines; write the tables into the datasheet")
    rep.add_argument("--root", default=None, help="data set folder (default: datasets/sentiment)")
    rep.add_argument("--no-write", action="store_true", help="print only; leave README.md alone")
    rep.add_argument("--no-cache", action="store_true", help="recompute features and results")
    rep.add_argument("--check", action="store_true", help="exit 1 when a target of issue 4 is missed")
    ver = sub.add_parser("verify", help="check every file against MANIFEST.sha256")
    ver.add_argument("--root", default=None)
    args = parser.parse_args(argv)

    from .integrity import DatasetIntegrityError

    try:
        if args.command == "verify":
            from .integrity import dataset_root, verify_dataset

            n = verify_dataset(args.root)
            print(f"{n} files match {dataset_root(args.root) / 'MANIFEST.sha256'}")
            return 0
        from .report import run_report

        result = run_report(args.root, write=not args.no_write, use_cache=not args.no_cache)
        if args.check and not all(result["claims"].values()):
            failed = [k for k, ok in result["claims"].items() if not ok]
            print(f"targets missed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    except DatasetIntegrityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
