"""``python -m course_utils.authoring {build,check} [--root DIR] [--lesson NN]`` (lesson 00)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import build, check
from ..paths import repo_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.authoring",
                                     description="Build student notebooks from solutions/ and check them.")
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--root", type=Path, default=None, help="course repository root (default: auto)")
    parser.add_argument("--lesson", default=None, help="only this lesson number, e.g. 02 (build only)")
    args = parser.parse_args(argv)
    root = args.root or repo_root() or Path.cwd()
    if not (root / "solutions").is_dir():
        print(f"error: {root}/solutions not found; pass --root pointing at the course repository.", file=sys.stderr)
        return 2
    if args.command == "build":
        written = build(root, args.lesson)
        for path in written:
            print(f"wrote {path.relative_to(root)}")
        print(f"build: {len(written)} file(s) updated")
        problems = check(root)
    else:
        problems = check(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    if args.command == "check":
        print("check: notebooks/ is up to date with solutions/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
