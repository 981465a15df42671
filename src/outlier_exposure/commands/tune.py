"""`oe tune`: fine-tune a baseline run with Outlier Exposure (or energy fine-tuning, `--loss energy`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from . import _text as text_cli
from ._common import (
    add_field_flags, add_parser, add_training_flags, field_overrides, flags_set,
    training_overrides)

# The fine-tune's loss flags (run-config fields, as in _common.RECIPE_FLAGS).
LOSS_FLAGS = (
    ("--loss", dict(choices=("oe", "energy"),
                    help="oe (default): CE + lambda * H(U; p) on the outliers; energy: energy "
                         "fine-tuning (Liu et al. 2020), CE + w * squared hinges on "
                         "E = -logsumexp(z); its run is evaluated with the energy score")),
    ("--m-in", dict(type=float,
                    help="energy: in-distribution margin (preset's: -23 CIFAR-10, -27 CIFAR-100)")),
    ("--m-out", dict(type=float, help="energy: outlier margin (preset's: -5)")),
    ("--energy-weight", dict(type=float, help="energy: weight w of the margin term (0.1)")),
)
ENERGY_FLAGS = LOSS_FLAGS[1:]  # settings of the energy loss only


def register(sub) -> None:
    p = add_parser(sub, "tune", "fine-tune a baseline run with Outlier Exposure", run)
    p.add_argument("baseline", nargs="?", help="the baseline run folder")
    p.add_argument("--outliers", help="auxiliary outliers spec (default: the preset's)")
    p.add_argument("--train", help="training data (default: the baseline's)")
    p.add_argument("--test", help="test data (default: the baseline's)")
    add_field_flags(p.add_argument_group("loss (default: the paper's OE loss)"), LOSS_FLAGS)
    add_training_flags(p)


def run(args) -> int:
    from ..training.config import load_config, tune_config
    from ..training.loop import train_run

    if text_cli.is_text_tune(args):  # the baseline (or --resume run) is a text run
        if args.loss not in (None, "oe"):
            raise UserInputError(f"--loss {args.loss}: text runs fine-tune with the OE loss only")
        return text_cli.run_tune(args)
    energy_flags = flags_set(args, ENERGY_FLAGS)
    if energy_flags and args.loss != "energy":
        raise UserInputError(f"{', '.join(energy_flags)} set the energy loss: add --loss energy")
    if args.resume:
        cfg = load_config(Path(args.out))
    elif not args.baseline:
        raise UserInputError("name the baseline run folder: oe tune BASELINE_RUN --out RUN "
                             "(or continue a fine-tune with --resume --out RUN)")
    else:
        cfg = tune_config(Path(args.baseline), outliers=args.outliers, train=args.train,
                          test=args.test, **field_overrides(args, LOSS_FLAGS),
                          **training_overrides(args))
    run_dir = train_run(cfg, args.out, resume=args.resume, device=args.device,
                        progress=not args.quiet, tensorboard=args.tensorboard)
    print(f"fine-tuned ({cfg.loss} loss): {run_dir}")
    return 0
