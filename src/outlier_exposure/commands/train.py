"""`oe train`: a baseline classifier, or OE from scratch when --outliers is given."""

from __future__ import annotations

from pathlib import Path

from . import _text as text_cli
from ._common import (
    add_model_flags, add_parser, add_training_flags, model_overrides, refuse_with_resume,
    training_overrides)


def register(sub) -> None:
    p = add_parser(sub, "train", "train a baseline classifier (or OE from scratch with --outliers)",
                   run)
    p.add_argument("--preset", default="quickstart", help="hyper-parameters (see `oe presets`)")
    p.add_argument("--train", help="training data spec (labelled)")
    p.add_argument("--test", help="test data spec (labelled), used by `oe eval`")
    p.add_argument("--outliers", help="auxiliary outliers: train with OE from scratch")
    p.add_argument("--calibration", nargs="?", const=True, metavar="RULE",
                   help="hold out the preset's validation split for `oe calibrate` (e.g. the "
                        "last 5000 for CIFAR), or RULE: last:N | random:FRACTION[:SEED]")
    add_model_flags(p)
    add_training_flags(p)
    text_cli.add_text_flags(p)


def run(args) -> int:
    # Image and text runs alike: --resume keeps the recorded settings.
    refuse_with_resume(args, also=("--preset",) if args.preset != "quickstart" else ())
    if text_cli.is_text_train(args):  # --task text|lm, a text spec or a text preset
        return text_cli.run_train(args)
    from ..training.holdout import resolve_rule
    from ..training.config import config_from_preset, load_config
    from ..training.loop import train_run

    if args.resume:
        cfg = load_config(Path(args.out))
    else:
        mode = "oe-scratch" if args.outliers else "baseline"
        cfg = config_from_preset(args.preset, mode, train=args.train, test=args.test,
                                 outliers=args.outliers, **model_overrides(args),
                                 calibration_holdout=resolve_rule(args.preset, args.calibration),
                                 **training_overrides(args))
    run_dir = train_run(cfg, args.out, resume=args.resume, device=args.device,
                        progress=not args.quiet, tensorboard=args.tensorboard,
                        epochs=args.epochs, allow_changed_data=args.allow_changed_data)
    print(f"trained: {run_dir}")
    return 0
