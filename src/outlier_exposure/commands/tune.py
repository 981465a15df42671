"""`oe tune`: fine-tune a baseline run with Outlier Exposure."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from ..text import cli as text_cli
from ._common import add_parser, add_training_flags, training_overrides


def register(sub) -> None:
    p = add_parser(sub, "tune", "fine-tune a baseline run with Outlier Exposure", run)
    p.add_argument("baseline", nargs="?", help="the baseline run folder")
    p.add_argument("--outliers", help="auxiliary outliers spec (default: the preset's)")
    p.add_argument("--train", help="training data (default: the baseline's)")
    p.add_argument("--test", help="test data (default: the baseline's)")
    add_training_flags(p)


def run(args) -> int:
    from ..pipeline import tune_config
    from ..runs import load_config
    from ..train import train_run

    if text_cli.is_text_tune(args):  # the baseline (or --resume run) is a text run
        return text_cli.run_tune(args)
    if args.resume:
        cfg = load_config(Path(args.out))
    elif not args.baseline:
        raise UserInputError("name the baseline run folder: oe tune BASELINE_RUN --out RUN "
                             "(or continue a fine-tune with --resume --out RUN)")
    else:
        cfg = tune_config(Path(args.baseline), outliers=args.outliers, train=args.train,
                          test=args.test, **training_overrides(args))
    run_dir = train_run(cfg, args.out, resume=args.resume, device=args.device,
                        progress=not args.quiet, tensorboard=args.tensorboard)
    print(f"fine-tuned: {run_dir}")
    return 0
