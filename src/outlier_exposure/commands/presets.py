"""`oe presets`: the presets and their reference hyper-parameters."""

from __future__ import annotations

from ._common import add_parser


def register(sub) -> None:
    add_parser(sub, "presets", "list the presets and their reference hyper-parameters", run)


def run(args) -> int:
    from ..training.config import preset_config
    from ..training.presets import PRESETS

    for p in PRESETS.values():
        base, tune = (preset_config(p.name, mode) for mode in ("baseline", "oe-tune"))
        print(f"{p.name:18s} {p.description}")
        print(f"{'':18s} {_schedules(base, tune)}")
    _print_text_presets()
    return 0


def _schedules(base, tune) -> str:
    return (f"baseline {base.epochs} ep lr {base.lr}; OE tune {tune.epochs} ep lr {tune.lr}; "
            f"batch {base.batch_size}+{base.oe_batch_size}")


def _print_text_presets() -> None:
    from ..text.config import TEXT_RECIPES, text_config_from_preset

    print("\ntext presets (oe reproduce PRESET; oe train --preset PRESET):")
    for p in TEXT_RECIPES.values():
        base, tune = (text_config_from_preset(p.name, mode) for mode in ("baseline", "oe-tune"))
        print(f"{p.name:18s} {p.description}")
        print(f"{'':18s} {base.task}: train {base.train}, test {base.test}, OE on {tune.outliers} "
              f"(lambda {base.lam}); OOD {', '.join(base.ood)}")
        print(f"{'':18s} {_schedules(base, tune)}")
