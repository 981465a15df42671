"""`oe presets`: the presets and their reference hyper-parameters; `oe presets PRESET --json`:
one preset's fully resolved recipe (image or text), every field a run records, per mode (to
diff against the reference)."""

from __future__ import annotations

import json

from ..errors import UserInputError
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "presets", "list the presets and their reference hyper-parameters", run)
    p.add_argument("preset", nargs="?", help="with --json: the preset (image or text) to print")
    p.add_argument("--json", action="store_true",
                   help="print PRESET's resolved configuration in every mode as JSON")


def run(args) -> int:
    from ..training.config import preset_config
    from ..training.presets import PRESETS

    if args is not None and (args.json or args.preset):
        return _print_json(args)

    for p in PRESETS.values():
        base, tune = (preset_config(p.name, mode, require_data=False)
                      for mode in ("baseline", "oe-tune"))
        print(f"{p.name:21s} {p.description}")
        print(f"{'':21s} {_schedules(base, tune)}")
    _print_text_presets()
    return 0


def _print_json(args) -> int:
    from ..text.config import TEXT_RECIPES, text_config_from_preset
    from ..training.config import MODES, preset_config

    if not (args.json and args.preset):
        raise UserInputError("name a preset and add --json: oe presets cifar10-wrn --json")
    # The configuration each mode's run records in RUN/config.json (an OE fine-tune: before it
    # inherits from its baseline), with the mode's training data, outliers and OOD sets.
    if args.preset in TEXT_RECIPES:
        resolved = {mode: text_config_from_preset(args.preset, mode).to_dict() for mode in MODES}
    else:
        resolved = {mode: preset_config(args.preset, mode, require_data=False).to_dict()
                    for mode in MODES}
    print(json.dumps({"preset": args.preset, "modes": resolved}, indent=1, sort_keys=True))
    return 0


def _schedules(base, tune) -> str:
    return (f"baseline {base.epochs} ep lr {base.lr}; OE tune {tune.epochs} ep lr {tune.lr}; "
            f"batch {base.batch_size}+{base.oe_batch_size}")


def _print_text_presets() -> None:
    from ..text.config import TEXT_RECIPES, text_config_from_preset

    print("\ntext presets (oe reproduce PRESET; oe train --preset PRESET):")
    for p in TEXT_RECIPES.values():
        base, tune = (text_config_from_preset(p.name, mode) for mode in ("baseline", "oe-tune"))
        print(f"{p.name:21s} {p.description}")
        print(f"{'':21s} {base.task}: train {base.train}, test {base.test}, OE on {tune.outliers} "
              f"(lambda {base.lam}); OOD {', '.join(base.ood)}")
        print(f"{'':21s} {_schedules(base, tune)}")
