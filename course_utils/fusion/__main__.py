"""``python -m course_utils.fusion benchmark ...`` (lessons 08-09); ``--help`` lists the options."""
from __future__ import annotations

import argparse
import sys


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def main(argv: list[str] | None = None) -> int:
    from .benchmark import DEFAULT_MODELS

    parser = argparse.ArgumentParser(prog="python -m course_utils.fusion",
                                     description="Fusion models on a course-format feature file.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("benchmark", help="train unimodal baselines and fusion models, print one table",
                       description="Trains each unimodal baseline and each fusion model on a course-features-v1 "
                                   "file, selects epochs on the valid split only, reports test metrics "
                                   "(mean ± sd over seeds) and writes one CSV row per model and seed.")
    b.add_argument("--data", help="course-features-v1 .npz (default: the bundled data set's cached features)")
    b.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated fusion models (default {','.join(DEFAULT_MODELS)}; also: weighted)")
    b.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...), default 3")
    b.add_argument("--out", help="CSV file: one row per model and seed")
    b.add_argument("--modalities", help="comma-separated subset of the file's modalities (default: all)")
    b.add_argument("--no-unimodal", action="store_true", help="skip the unimodal baselines")
    b.add_argument("--epochs", type=int, default=100, help="maximum epochs (early stopping on valid loss)")
    b.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs (default 10)")
    b.add_argument("--fixed-epochs", type=int, default=None,
                   help="train exactly this many epochs and never look at valid for selection (use it when "
                        "valid leaks, e.g. CMU-MOSI bc-LSTM features)")
    b.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    b.add_argument("--context", action="store_true",
                   help="append each utterance's video (speaker) mean features: a simple contextual model")
    b.add_argument("--scaling", choices=("column", "block"), default="column",
                   help="feature standardisation: per column (default) or one scale per modality")
    b.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                   help="hyper-parameter values to try, chosen per model and seed by validation loss "
                        "(repeatable), e.g. --grid dropout=0.2,0.5 --grid lr=1e-3,3e-4")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from ..config import CourseError
    from .benchmark import BenchmarkError, format_table, run_benchmark

    try:
        grid = {}
        for item in args.grid:
            name, _, values = item.partition("=")
            if not name or not values:
                raise BenchmarkError(f"--grid {item!r}", expected="NAME=V1,V2,...", found=item,
                                     fix="e.g. --grid dropout=0.2,0.5")
            grid[name] = [_number(v) for v in values.split(",")]
        rows = run_benchmark(
            data=args.data, models=[m for m in args.models.split(",") if m], seeds=args.seeds, out=args.out,
            modalities=args.modalities.split(",") if args.modalities else None, unimodal=not args.no_unimodal,
            epochs=args.epochs, patience=args.patience, fixed_epochs=args.fixed_epochs, lr=args.lr,
            batch_size=args.batch_size, threads=args.threads, progress=not args.quiet, context=args.context,
            scaling=args.scaling, grid=grid or None)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.out:
        print(f"\nwrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
