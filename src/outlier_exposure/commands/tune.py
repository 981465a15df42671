"""`oe tune`: fine-tune a baseline run with Outlier Exposure (or energy fine-tuning, `--loss energy`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UserInputError
from . import _text as text_cli
from ._common import (
    GUARD_FLAGS, add_field_flags, add_model_flags, add_parser, add_training_flags, field_overrides,
    flags_set, model_overrides, refuse_with_resume, training_overrides)


def margin(text: str) -> float | str:
    """--m-in / --m-out: a finite number, or `auto` (read from the baseline when the fine-tune
    starts: training/energy_margins.py; the literal is training.config.AUTO_MARGIN, spelt out
    so that `oe --help` does not import the training layer)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a margin: give a number (e.g. -23) "
                                         "or auto")
    return value


# The fine-tune's loss flags (run-config fields, as in _common.RECIPE_FLAGS).
LOSS_FLAGS = (
    ("--loss", dict(choices=("oe", "energy"),
                    help="oe (default): CE + lambda * H(U; p) on the outliers; energy: energy "
                         "fine-tuning (Liu et al. 2020), CE + w * squared hinges on "
                         "E = -logsumexp(z); its run is evaluated with the energy score")),
    ("--m-in", dict(type=margin,
                    help="energy: in-distribution margin (preset's: -23 CIFAR-10, -27 CIFAR-100), "
                         "or auto: 2.5 x the median of the baseline's in-distribution energies "
                         "(docs/scores-and-energy.md)")),
    ("--m-out", dict(type=margin, help="energy: outlier margin (preset's: -5), or auto: the "
                                       "0.99-quantile of the baseline's outlier energies, or of "
                                       "its in-distribution energies when higher")),
    ("--energy-weight", dict(type=float, help="energy: weight w of the margin term (0.1)")),
)
ENERGY_FLAGS = LOSS_FLAGS[1:]  # settings of the energy loss only
# The run-config fields a fine-tune sets beyond the training recipe.
TUNE_FLAGS = LOSS_FLAGS + GUARD_FLAGS


def register(sub) -> None:
    p = add_parser(sub, "tune", "fine-tune a baseline run (or a pretrained model: --weights) "
                   "with Outlier Exposure", run)
    p.add_argument("baseline", nargs="?",
                   help="the baseline run folder; without it, --weights names the model to tune")
    p.add_argument("--outliers", help="auxiliary outliers spec (default: the preset's)")
    p.add_argument("--train", help="training data (default: the baseline's)")
    p.add_argument("--test", help="test data (default: the baseline's)")
    p.add_argument("--preset", default=None,
                   help="with --weights and no baseline: the recipe (default: pretrained)")
    add_field_flags(p.add_argument_group("loss (default: the paper's OE loss)"), LOSS_FLAGS)
    add_field_flags(p.add_argument_group("accuracy guard (docs/tuning.md)"), GUARD_FLAGS)
    add_model_flags(p)
    add_training_flags(p)


def run(args) -> int:
    from ..training.config import load_config, tune_config
    from ..training.loop import train_run

    # Image and text runs alike: --resume keeps the recorded settings.
    refuse_with_resume(args, also=("--preset", *(flag for flag, _ in TUNE_FLAGS)))
    if text_cli.is_text_tune(args):  # the baseline (or --resume run) is a text run
        if args.loss not in (None, "oe"):
            raise UserInputError(f"--loss {args.loss}: text runs fine-tune with the OE loss only")
        if args.max_accuracy_drop is not None:
            raise UserInputError("--max-accuracy-drop guards image fine-tunes only; drop it")
        return text_cli.run_tune(args)
    energy_flags = flags_set(args, ENERGY_FLAGS)
    if energy_flags and args.loss != "energy":
        raise UserInputError(f"{', '.join(energy_flags)} set the energy loss: add --loss energy")
    if args.resume:
        cfg = load_config(Path(args.out))
    elif not args.baseline:
        cfg = _pretrained_tune_config(args)
    else:
        model_flags = [flag for flag in ("--model", "--model-arg", "--weights", "--image-size",
                                         "--preset", "--linear-probe")
                       if getattr(args, flag.lstrip("-").replace("-", "_")) is not None]
        if model_flags:
            raise UserInputError(
                f"{', '.join(model_flags)}: a fine-tune of {args.baseline} keeps the baseline's "
                "model and recipe; drop them, or drop the baseline to fine-tune --weights")
        cfg = tune_config(Path(args.baseline), outliers=args.outliers, train=args.train,
                          test=args.test, **field_overrides(args, TUNE_FLAGS),
                          **training_overrides(args))
    run_dir = train_run(cfg, args.out, resume=args.resume, device=args.device,
                        progress=not args.quiet, tensorboard=args.tensorboard,
                        epochs=args.epochs, allow_changed_data=args.allow_changed_data)
    print(f"fine-tuned ({cfg.loss} loss): {run_dir}")
    return 0


def _pretrained_tune_config(args):
    """`oe tune --weights W --train ... --outliers ...`: the OE fine-tune of a model we did not
    train (docs/your-model.md), with the preset's fine-tune recipe."""
    from ..training.config import config_from_preset

    if not args.weights:
        raise UserInputError(
            "name what to fine-tune: a baseline run (oe tune BASELINE_RUN --out RUN), or a "
            "model and its weights (oe tune --model torchvision:resnet18 --weights W.pt --train "
            "folder:TRAIN --test folder:TEST --outliers folder:OUTLIERS --out RUN); continue a "
            "fine-tune with --resume --out RUN")
    return config_from_preset(args.preset or "pretrained", "oe-tune", train=args.train,
                              test=args.test, outliers=args.outliers, **model_overrides(args),
                              **field_overrides(args, TUNE_FLAGS), **training_overrides(args))
