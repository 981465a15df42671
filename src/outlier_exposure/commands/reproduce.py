"""`oe reproduce`: run a preset's experiment end to end and compare with the paper."""

from __future__ import annotations

import time
from pathlib import Path

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "reproduce",
                   "run a preset's experiment (baseline, OE fine-tune[, OE from scratch], "
                   "evaluation), skipping the stages already done, and compare with the paper",
                   run)
    p.add_argument("preset", help="e.g. cifar10-wrn, svhn-wrn, offline-cifar10, offline-sst")
    p.add_argument("--out", help="output folder (default runs/PRESET)")
    p.add_argument("--data-root", help="folder holding the datasets (see `oe datasets`)")
    p.add_argument("--scratch", action="store_true", help="also train OE from scratch")
    p.add_argument("--epochs", type=int, help="override every stage's epochs (smoke runs)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _set_data_root(path: str | None) -> None:
    if path:
        from ..data import registry

        registry.set_data_root(path)


def run(args) -> int:
    from ..reproduce import comparison_with_reference, reproduce

    started = time.perf_counter()
    out = Path(args.out or f"runs/{args.preset}")
    _set_data_root(args.data_root)
    text_presets = _text_presets()
    if args.preset in text_presets:
        results = text_presets[args.preset](out, data_root=args.data_root, device=args.device,
                                            progress=not args.quiet)
    else:
        results = reproduce(args.preset, out, scratch=args.scratch, device=args.device,
                            progress=not args.quiet, overrides={"epochs": args.epochs})
    print()
    print(comparison_with_reference(args.preset, results))
    print(f"{time.perf_counter() - started:.0f} s in all; written: {out / 'results.json'}")
    return 0


def _text_presets() -> dict:
    try:
        from ..text import TEXT_PRESETS
    except ImportError:
        return {}
    return TEXT_PRESETS
