"""The numeric ranges of a run configuration (RunConfig.check calls `check_ranges`).

Every number of a run is checked before anything is written: a NaN or infinite value, or one
outside what the training loop can use, would otherwise be written into config.json and only
fail epochs later (a NaN loss), or be reused by `--resume`. The bounds are wide: they refuse
values that cannot be meant, not unusual recipes.
"""

from __future__ import annotations

import math
import numbers

from ..errors import UserInputError

# SGD learning rates above this diverge for every model here; linear probes of self-supervised
# features use up to ~30, so the bound leaves room for them.
MAX_LR = 100.0
# numpy's legacy generators take seeds below 2**32 and the loop seeds three generators from
# seed, seed + 1, seed + 2; 2**31 - 1 keeps every derived seed in range everywhere.
MAX_SEED = 2 ** 31 - 1
# More classes than any labelled image set (ImageNet-21K has ~21,800): a larger label is a
# damaged or mislabelled file, and a classifier head that size would not fit in memory.
MAX_CLASSES = 100_000
# Fields whose own checks give the better message (training/config.py).
_CHECKED_ELSEWHERE = ("max_accuracy_drop",)


def flag_of(name: str) -> str:
    """The command-line flag of a run-config field, for messages (`lam` is --lambda)."""
    return "--lambda" if name == "lam" else "--" + name.replace("_", "-")


def check_ranges(cfg) -> None:
    """Refuse NaN/infinite numbers anywhere in `cfg` and values outside the ranges below."""
    _check_finite(cfg)
    _at_least(cfg, "lam", 0.0, "the OE term's weight: 0 turns it off")
    _at_least(cfg, "weight_decay", 0.0, "0 turns it off")
    if not 0 < cfg.lr <= MAX_LR:
        raise UserInputError(f"--lr {cfg.lr} must lie in (0, {MAX_LR:g}]: SGD diverges above that "
                             "(the paper's recipes use 0.1, fine-tunes 0.001)")
    if not 0 <= cfg.momentum < 1:
        raise UserInputError(f"momentum {cfg.momentum} must lie in [0, 1) (the recipes use 0.9)")
    if cfg.nesterov and cfg.momentum == 0:
        raise UserInputError("Nesterov momentum needs momentum > 0: set momentum or nesterov "
                             "false")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise UserInputError(f"--seed {cfg.seed} must lie in [0, {MAX_SEED}]")
    if cfg.lr_min_factor is not None and not 0 <= cfg.lr_min_factor <= 1:
        raise UserInputError(f"lr_min_factor {cfg.lr_min_factor} must lie in [0, 1]")
    if cfg.num_classes is not None and not 1 <= cfg.num_classes <= MAX_CLASSES:
        raise UserInputError(f"num_classes {cfg.num_classes} must lie in [1, {MAX_CLASSES}]")
    if cfg.eval_batch_size < 1:
        raise UserInputError("eval_batch_size must be >= 1")
    if cfg.crop_padding < 0:
        raise UserInputError(f"crop_padding {cfg.crop_padding} must be >= 0 (0: no crop)")
    if any(side < 1 for side in cfg.image_shape):
        raise UserInputError(f"image_shape {tuple(cfg.image_shape)} must be positive (H, W, C)")
    if any(s <= 0 for s in cfg.std):
        raise UserInputError(f"std {tuple(cfg.std)} must be > 0 per channel: inputs are "
                             "divided by it")
    low, high = cfg.noise_range
    if not low < high:
        raise UserInputError(f"noise_range {tuple(cfg.noise_range)} must have low < high")


def _at_least(cfg, name: str, low: float, why: str) -> None:
    value = getattr(cfg, name)
    if value < low:
        raise UserInputError(f"{flag_of(name)} {value} must be >= {low:g} ({why})")


def _check_finite(cfg) -> None:
    for name, value in vars(cfg).items():
        if name in _CHECKED_ELSEWHERE:
            continue
        values = value.values() if isinstance(value, dict) else \
            value if isinstance(value, (list, tuple)) else (value,)
        for v in values:
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and \
                    not math.isfinite(v):
                where = f"{flag_of(name)}" if not isinstance(value, (dict, list, tuple)) else \
                    f"{name} {value!r}"
                raise UserInputError(f"{where}: {v} is not a finite number; give a real value")
