"""Flags and help text shared by several commands."""

from __future__ import annotations

import argparse
import json

from ..errors import UserInputError

SPEC_HELP = """dataset specs:
  npz:PATH[:XKEY,YKEY]   arrays in a .npz (e.g. npz:cifar.npz:x_train,y_train)
  npy:PATH[:LABELS.npy]  a (N,H,W,C) uint8 .npy, memory-mapped
  folder:PATH[:SIZE]     an image folder (one subfolder per class, or flat)
  noise:KIND[:N]         gaussian | rademacher | blobs | uniform (made as the reference does)
  NAME[:SPLIT]           a built-in set, e.g. digits:train, skimage-photos
"""


def add_parser(sub, name: str, help_text: str, run) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text, epilog=SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)
    return p


def add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int, help="in-distribution images per step")
    p.add_argument("--oe-batch-size", type=int, help="outlier images per step")
    p.add_argument("--lambda", dest="lam", type=float, help="weight of the OE term (default 0.5)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last finished epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def training_overrides(args) -> dict:
    """The recipe flags the user set (None = keep the preset's value)."""
    return dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                oe_batch_size=args.oe_batch_size, lam=args.lam,
                weight_decay=args.weight_decay, seed=args.seed)


def model_overrides(args) -> dict:
    if not args.model:
        return {}
    kwargs = {}
    for item in args.model_arg or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserInputError(f"--model-arg {item!r} is not KEY=VALUE (e.g. dropout=0.3)")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return {"model": args.model, "model_kwargs": kwargs}


def add_metric_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recall", type=float, default=0.95,
                   help="recall level of the FPR (0.95: FPR95)")
    p.add_argument("--positive", choices=("ood", "in"), default="ood",
                   help="positive class: ood (reference default) or in")
    p.add_argument("--rule", choices=("closest", "first"), default="closest",
                   help="FPR threshold: recall closest to the level (reference) or first >= level")
