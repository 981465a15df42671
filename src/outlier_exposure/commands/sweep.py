"""`oe sweep`: choose the OE fine-tune's lambda, outlier batch size and lr on validation data."""

from __future__ import annotations

import sys

from ._common import GUARD_FLAGS, add_data_flags, add_field_flags, add_parser


def register(sub) -> None:
    p = add_parser(sub, "sweep", "fine-tune a baseline over a grid of lambda, outlier batch size "
                   "and lr, and choose on validation data (never a test set)", run)
    p.add_argument("source", metavar="RUN_OR_PRESET",
                   help="a baseline run trained with --calibration, or a preset (its baseline "
                        "is trained with the preset's hold-out into OUT/baseline)")
    p.add_argument("--out", required=True, help="sweep folder (points/, sweep.json, best/)")
    p.add_argument("--lambda", dest="lam", type=float, nargs="+", metavar="L",
                   help="OE weights to try (default: the preset's)")
    p.add_argument("--oe-batch-size", type=int, nargs="+", metavar="B",
                   help="outlier images per step to try (default: the preset's)")
    p.add_argument("--lr", type=float, nargs="+", help="fine-tune learning rates to try "
                                                       "(default: the preset's)")
    p.add_argument("--epochs", type=int, help="fine-tune epochs of every point (the preset's)")
    p.add_argument("--outliers", help="auxiliary outliers spec (default: the preset's)")
    add_field_flags(p, GUARD_FLAGS)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_data_flags(p)


def run(args) -> int:
    from ..experiments.sweep import run_sweep, table_text

    try:
        result = run_sweep(args.source, args.out, lambdas=args.lam,
                           oe_batch_sizes=args.oe_batch_size, lrs=args.lr, epochs=args.epochs,
                           outliers=args.outliers, max_accuracy_drop=args.max_accuracy_drop,
                           device=args.device, progress=not args.quiet)
    except KeyboardInterrupt:  # the sweep has no --resume: the same command continues it
        print("\noe sweep: interrupted; finished points and epochs are kept: run the same "
              "command again to continue", file=sys.stderr)
        return 130
    print()
    print(table_text(result))
    print(f"written: {args.out}/sweep.json, sweep.md" +
          (f"; chosen run folder: {result['chosen']['copy']}" if result["chosen"]["copy"] else ""))
    return 0
