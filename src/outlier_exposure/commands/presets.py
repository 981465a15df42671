"""`oe presets`: the presets and their reference hyper-parameters."""

from __future__ import annotations

from ._common import add_parser


def register(sub) -> None:
    add_parser(sub, "presets", "list the presets and their reference hyper-parameters", run)


def run(args) -> int:
    from ..training.presets import PRESETS

    for p in PRESETS.values():
        print(f"{p.name:18s} {p.description}")
        print(f"{'':18s} baseline {p.baseline.epochs} ep lr {p.baseline.lr}; OE tune "
              f"{p.tune.epochs} ep lr {p.tune.lr}; batch {p.batch_size}+{p.oe_batch_size}")
    _print_text_presets()
    return 0


def _print_text_presets() -> None:
    from ..text.config import TEXT_RECIPES

    print("\ntext presets (oe reproduce PRESET; oe train --preset PRESET):")
    for p in TEXT_RECIPES.values():
        print(f"{p.name:18s} {p.description}")
        print(f"{'':18s} {p.task}: train {p.train}, test {p.test}, OE on {p.outliers} "
              f"(lambda {p.lam}); OOD {', '.join(p.ood)}")
        print(f"{'':18s} baseline {p.baseline.epochs} ep lr {p.baseline.lr}; OE tune "
              f"{p.tune.epochs} ep lr {p.tune.lr}; batch {p.batch_size}+{p.oe_batch_size}")
