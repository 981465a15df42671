"""Flags and help text shared by several commands."""

from __future__ import annotations

import argparse
import functools
import json

from ..errors import UserInputError

SPEC_HELP = """dataset specs:
  npz:PATH[:XKEY,YKEY]   arrays in a .npz (e.g. npz:cifar.npz:x_train,y_train)
  npy:PATH[:LABELS.npy]  a (N,H,W,C) uint8 .npy, memory-mapped
  folder:PATH[:SIZE]     an image folder (one subfolder per class, or flat)
  noise:KIND[:N]         gaussian | rademacher | blobs | uniform (made as the reference does)
  NAME[:SPLIT]           a named dataset, e.g. cifar10:train, svhn:test, digits:train
                         (`oe datasets` lists them all)
  val:KIND[:SPEC]        a validation OOD set (oe eval; reported apart from the mean): KIND is
                         uniform, arithmetic-mean, geometric-mean, jigsaw, speckle, pixelate,
                         rgb-shift, invert or mirrored-digits, made from SPEC or the test set
text specs (oe train --task text|lm; see README "NLP"):
  sst | trec | 20ng | wikitext2 | snli | imdb | multi30k | wmt16 | yelp | ewt | ptb [:SPLIT]
  tsv:PATH:TEXT_COLUMN[,LABEL_COLUMN]   lines:PATH   (any spec may end with @firstN)
"""


def holds_run_lock(command: str):
    """Decorator of a command that writes into an existing run (`args.run`): the run's lock
    (training/lock.py, one writer per run folder) is held while the command reads and writes
    it. A missing folder is not locked: the command says there is no run there."""
    def decorate(run):
        @functools.wraps(run)
        def locked(args) -> int:
            from ..training.lock import run_lock

            with run_lock(args.run, command, arg=None, create=False):
                return run(args)
        return locked
    return decorate


def add_parser(sub, name: str, help_text: str, run) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text, epilog=SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)
    return p


def add_data_root_flag(p: argparse.ArgumentParser) -> None:
    """--data-root: where named datasets live (`cli.main` applies it for the command's run)."""
    p.add_argument("--data-root", metavar="DIR",
                   help="folder of the named datasets (default: env OE_DATA_ROOT, else "
                        "~/.cache/outlier_exposure/data; see `oe datasets`)")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """--data-root, and --download: fetch a missing named dataset instead of stopping."""
    add_data_root_flag(p)
    p.add_argument("--download", action="store_true", dest="download_missing",
                   help="download named datasets that are missing (checked against their checksums)")


# The flags that override one run-config field each, in --help order: (flag, argparse options).
# The field is argparse's dest (--lambda sets `lam`); None means "keep the preset's value".
# evaluation/draws.py DRAW_SIZE_RULES, spelt out here so that `oe --help` does not import torch
# (tests/evaluation/test_draw_sizes.py checks the two agree)
DRAW_SIZE_CHOICES = ("reference-image", "reference-text", "exact")

RECIPE_FLAGS = (
    ("--epochs", dict(type=int)),
    ("--lr", dict(type=float)),
    ("--batch-size", dict(type=int, help="in-distribution images per step")),
    ("--oe-batch-size", dict(type=int, help="outlier images per step")),
    ("--lambda", dict(dest="lam", type=float, help="weight of the OE term (default 0.5)")),
    ("--weight-decay", dict(type=float)),
    ("--seed", dict(type=int)),
    ("--outlier-order", dict(choices=("reference", "uniform"),
                             help="reference (paper presets): each outlier batch is a run of "
                                  "consecutive records from a random record chosen each epoch, "
                                  "as the reference reads 80M Tiny Images; uniform: shuffled "
                                  "passes over the whole outlier set")),
)
SPEED_FLAGS = (
    ("--precision", dict(choices=("fp32", "bf16", "fp16"),
                         help="autocast precision of the forward pass (default fp32)")),
    ("--channels-last", dict(action="store_const", const=True,
                             help="NHWC memory format for model and batches (faster convs on GPUs)")),
    ("--compile", dict(action="store_const", const=True,
                       help="torch.compile the model (slow first steps, faster after)")),
    ("--sync-bn", dict(action="store_const", const=True,
                       help="with torchrun on GPUs: batch-norm statistics over all processes "
                            "(default: per process, as the reference)")),
    ("--data-on", dict(choices=("auto", "device", "host", "stream"),
                       help="where the uint8 training sets live (default auto: on the device "
                            "when they fit, else pinned host memory; image folders larger than "
                            "OE_MEMORY_BUDGET, default a quarter of RAM, are streamed). stream: "
                            "decode image folders a batch at a time, ahead of the step")),
)


# `oe tune` and `oe sweep`: the fine-tune's accuracy guard (training/guard.py).
GUARD_FLAGS = (
    ("--max-accuracy-drop", dict(type=float, metavar="P",
                                 help="keep the epoch with the best validation criterion whose "
                                      "hold-out accuracy is at most P percentage points below "
                                      "the starting weights' (the baseline needs a hold-out: "
                                      "oe train --calibration); writes RUN/guard.json")),
)


def add_field_flags(p, flags) -> None:
    """Add each (flag, options) of a table such as RECIPE_FLAGS to the parser or group `p`."""
    for flag, options in flags:
        p.add_argument(flag, **options)


def field_overrides(args, flags) -> dict:
    """{field: value} for each flag of the table (None where the user did not set it)."""
    return {_dest(flag, options): getattr(args, _dest(flag, options)) for flag, options in flags}


def flags_set(args, flags) -> list[str]:
    """The flags of the table that the user set."""
    return [flag for flag, options in flags if getattr(args, _dest(flag, options)) is not None]


def _dest(flag: str, options: dict) -> str:
    return options.get("dest", flag.lstrip("-").replace("-", "_"))


def add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run folder to create")
    add_field_flags(p, RECIPE_FLAGS)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last finished epoch, "
                        "with its recorded settings (--epochs N extends or shortens it: the "
                        "cosine schedule then follows N epochs from there; docs/command-line.md)")
    p.add_argument("--allow-changed-data", action="store_true",
                   help="with --resume: continue although the training data or outliers "
                        "changed since the run started (refused without it)")
    add_data_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log each epoch to RUN/tensorboard (needs the tensorboard package)")
    add_field_flags(p.add_argument_group("speed (fp32 without these is the reference)"),
                    SPEED_FLAGS)


# What a resumed run keeps as recorded: flags that would change it are refused, not ignored.
RESUME_KEEPS = ("--train", "--test", "--outliers", "--calibration", "--model", "--model-arg",
                "--weights", "--image-size", "--linear-probe")


def refuse_with_resume(args, also: tuple[str, ...] = ()) -> None:
    """With --resume, refuse every flag that would change the recorded run (all but --epochs,
    resume_plan.py); `also`: the command's own such flags. Without --resume,
    --allow-changed-data means nothing and is refused too."""
    if not args.resume:
        if getattr(args, "allow_changed_data", False):
            raise UserInputError("--allow-changed-data applies to --resume only; drop it")
        return
    keeps = [(flag, {}) for flag in RESUME_KEEPS]
    keeps += [(flag, options) for flag, options in RECIPE_FLAGS + SPEED_FLAGS if flag != "--epochs"]
    keeps += [(flag, {}) for flag in also]
    given = [flag for flag, options in keeps
             if getattr(args, _dest(flag, options), None) is not None]
    if given:
        raise UserInputError(
            f"{', '.join(given)}: --resume continues the run in {args.out} with its recorded "
            "settings (config.json); drop them, or start a new run with another --out "
            "(--epochs N may change the run's length)")


def training_overrides(args) -> dict:
    """The recipe and speed flags the user set (None = keep the preset's value)."""
    return field_overrides(args, RECIPE_FLAGS + SPEED_FLAGS)


# The model flags of image runs only (text runs refuse them).
IMAGE_MODEL_FIELDS = ("weights", "image_size", "linear_probe")


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """The model of a new run: its name and options, pretrained weights, input size, probing."""
    g = p.add_argument_group("model (docs/your-model.md)")
    g.add_argument("--model", help="wrn-40-2, allconv, convnet, small-cnn, ...; torchvision:NAME "
                                   "(e.g. torchvision:resnet50), timm:NAME (pip install -e "
                                   "\".[timm]\"), or python:PACKAGE.MODULE:FACTORY")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="model keyword argument, repeatable (e.g. dropout=0.3)")
    g.add_argument("--weights", metavar="PATH",
                   help="start from these weights: a state dict in .pt/.pth or .safetensors "
                        "(never unpickles code); a classifier head of another class count is "
                        "replaced. Uses the model's own mean/std")
    g.add_argument("--image-size", type=int, metavar="N",
                   help="the model's input side (ImageNet-style presets store images at N/0.875 "
                        "and crop N)")
    g.add_argument("--linear-probe", action="store_const", const=True,
                   help="train the classifier head only (the rest frozen, in eval mode)")


def model_overrides(args) -> dict:
    """The model flags the user set, as run-config overrides."""
    chosen = {field: getattr(args, field, None) for field in IMAGE_MODEL_FIELDS}
    if not args.model:
        return chosen
    kwargs = {}
    for item in args.model_arg or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserInputError(f"--model-arg {item!r} is not KEY=VALUE (e.g. dropout=0.3)")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return {**chosen, "model": args.model, "model_kwargs": kwargs}


def add_metric_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recall", type=float, default=0.95,
                   help="recall level of the FPR (0.95: FPR95)")
    p.add_argument("--positive", choices=("ood", "in"), default="ood",
                   help="positive class: ood (reference default) or in")
    p.add_argument("--rule", choices=("closest", "first", "roc"), default="closest",
                   help="FPR threshold: recall closest to the level (the paper's reference), "
                        "first >= level, or roc: the first point of scikit-learn's ROC curve at "
                        "the level (OpenOOD v1.5's)")
