"""The calibration split: training examples held out for temperature tuning (`--calibration`).

The reference trains its calibration models (`-c`) without a validation part of the training
set and tunes the softmax temperature on that part afterwards (docs/protocol.md section 1):

| data | reference split | rule here |
|---|---|---|
| CIFAR-10/100 | the last 10% of the 50000 training images (`validation_split`) | `last:5000` |
| SVHN (train + extra) | the last 5000 | `last:5000` |
| Tiny ImageNet | a random 10%: `np.random.seed(0)`, shuffle `arange(n)`, the part after `int(0.9 n)` (`validation_split_folder`) | `random:0.1` |
| MNIST | the last 6000 | `last:6000` |

A rule is a string:

- `last:N`: the last N training examples (indices n-N .. n-1).
- `random:F[:SEED]`: `n - int(n * (1 - F))` examples: the tail of the permutation that
  `numpy.random.RandomState(SEED).permutation(n)` draws (SEED 0 by default). This is exactly the
  reference's `validation_split_folder` for the same example order.

Each preset names its rule (`Preset.calibration_holdout`); the run records the rule and the
sorted held-out indices in `RUN/calibration_split.json`, and `oe calibrate` rebuilds the
held-out set from that file (never from the rule again), after checking that the training data
still has the size the run saw. An OE fine-tune inherits the rule from its baseline and must
hold out the very same indices (checked), so neither model ever trains on the held-out images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import RunConfig
from .presets import get_preset
from .runs import write_json
from ..data.formats.lazy import take
from ..data.imageset import ImageSet
from ..errors import UserInputError

SPLIT_FILE = "calibration_split.json"


def parse_rule(rule: str) -> tuple[str, float, int]:
    """`"last:5000"` -> ("last", 5000, 0); `"random:0.1:3"` -> ("random", 0.1, 3)."""
    parts = str(rule).split(":")
    kind = parts[0]
    try:
        if kind == "last" and len(parts) == 2 and int(parts[1]) >= 1:
            return "last", int(parts[1]), 0
        if kind == "random" and len(parts) in (2, 3) and 0 < float(parts[1]) < 1:
            return "random", float(parts[1]), int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        pass
    raise UserInputError(
        f"calibration hold-out rule {rule!r} is not `last:N` (N >= 1) or `random:FRACTION[:SEED]` "
        "(0 < FRACTION < 1); e.g. last:5000 or random:0.1"
    )


def resolve_rule(preset: str, calibration: bool | str | None) -> str | None:
    """The hold-out rule of `--calibration [RULE]`: None (off), True (the preset's), or a rule."""
    if not calibration:
        return None
    if calibration is True:
        return get_preset(preset).calibration_holdout
    parse_rule(calibration)
    return str(calibration)


def holdout_indices(rule: str, n: int) -> np.ndarray:
    """The sorted indices (int64) of the examples `rule` holds out of a training set of `n`."""
    kind, amount, seed = parse_rule(rule)
    if kind == "last":
        count = int(amount)
        if count >= n:
            raise UserInputError(
                f"calibration hold-out {rule!r} needs more than {count} training examples but the "
                f"training set has {n}; choose a smaller rule with --calibration RULE "
                f"(e.g. random:0.1)"
            )
        return np.arange(n - count, n, dtype=np.int64)
    n_train = int(n * (1 - amount))  # the reference's int(len * (1 - val_share))
    if n_train < 1 or n_train >= n:
        raise UserInputError(
            f"calibration hold-out {rule!r} leaves no training or no held-out example of the "
            f"{n}; change the fraction"
        )
    perm = np.random.RandomState(seed).permutation(n)
    return np.sort(perm[n_train:]).astype(np.int64)


def subset(images: ImageSet, idx: np.ndarray) -> ImageSet:
    """The images at `idx` (labels, name and normalisation kept; a streamed set stays lazy)."""
    return ImageSet(x=take(images.x, idx), y=None if images.y is None else images.y[idx],
                    name=images.name, normalised=images.normalised, classes=images.classes)


def held_out_images(train_set: ImageSet, held: np.ndarray) -> ImageSet:
    """The held-out images read into memory, as the accuracy guard and auto energy margins
    measure on them (indexing reads just these, from an array or a streamed set alike)."""
    return ImageSet(x=np.ascontiguousarray(train_set.x[held]), y=np.asarray(train_set.y)[held],
                    name="calibration hold-out")


def split_for_training(cfg: RunConfig, train_set: ImageSet) -> tuple[ImageSet, np.ndarray | None]:
    """(the examples to train on, the held-out indices), or (train_set, None) without a rule.

    An OE fine-tune (`cfg.init_from`) must hold out what its baseline held out: otherwise it
    would train on the images its temperature is tuned on.
    """
    rule = cfg.calibration_holdout
    if not rule:
        return train_set, None
    held = holdout_indices(rule, len(train_set))
    if cfg.init_from:
        base = Path(cfg.init_from)
        if not (base / SPLIT_FILE).exists():
            raise UserInputError(
                f"this fine-tune holds out a calibration split but its baseline {base} was "
                "trained on all the data (no calibration_split.json); retrain the baseline with "
                "--calibration"
            )
        recorded = load_split(base, len(train_set))
        if not np.array_equal(recorded, held):
            raise UserInputError(
                f"the calibration split of the baseline {base} differs from this fine-tune's "
                f"({rule!r} on {cfg.train}); fine-tune on the baseline's training data"
            )
    keep = np.setdiff1d(np.arange(len(train_set)), held, assume_unique=True)
    # A file sorted by class makes `last:N` take whole classes: refuse it rather than train
    # without those classes or tune T on a few of them.
    classes = np.unique(train_set.y)
    for part, idx in (("held-out split", held), ("training part", keep)):
        missing = np.setdiff1d(classes, train_set.y[idx])
        if missing.size:
            raise UserInputError(
                f"the calibration {part} ({rule!r} of {cfg.train}) has no example of class(es) "
                f"{', '.join(map(str, missing[:10].tolist()))}: the data is probably sorted by "
                "class; use --calibration random:0.1"
            )
    return subset(train_set, keep), held


def save_split(run_dir: Path, cfg: RunConfig, held: np.ndarray | None, n_total: int) -> None:
    """Write RUN/calibration_split.json (no-op for a run without a calibration split)."""
    if held is None:
        return
    write_json(Path(run_dir) / SPLIT_FILE, {
        "rule": cfg.calibration_holdout, "train": cfg.train, "n_total": int(n_total),
        "n_heldout": int(len(held)), "indices": [int(i) for i in held],
    })


def load_split(run_dir: Path, n_total: int | None = None) -> np.ndarray:
    """The held-out indices recorded in RUN/calibration_split.json, checked against `n_total`."""
    path = Path(run_dir) / SPLIT_FILE
    if not path.exists():
        raise UserInputError(
            f"{run_dir} was trained without a calibration split ({SPLIT_FILE} is missing); "
            "retrain it with --calibration, or calibrate with T = 1"
        )
    try:
        data = json.loads(path.read_text())
        idx = np.asarray(data["indices"], dtype=np.int64)
        recorded_n = int(data["n_total"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UserInputError(f"{path} is not a valid calibration split ({exc}); retrain the run") from None
    if n_total is not None and recorded_n != n_total:
        raise UserInputError(
            f"{path} was recorded for a training set of {recorded_n} examples but "
            f"{data.get('train')} now has {n_total}; the training data changed since the run"
        )
    if idx.size == 0 or idx.min() < 0 or idx.max() >= recorded_n:
        raise UserInputError(f"{path} holds indices outside 0..{recorded_n - 1}; retrain the run")
    return idx
