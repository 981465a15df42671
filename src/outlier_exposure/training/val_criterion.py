"""The validation criterion: how good a model is, measured on validation data only.

The accuracy guard (guard.py, `oe tune --max-accuracy-drop`) chooses between the epochs of a
fine-tune and `oe sweep` between the points of a grid; both choose with this criterion, so that
no choice ever looks at a test set.

- In-distribution: the run's calibration hold-out (holdout.py), training images that neither
  the baseline nor its fine-tunes train on. Its accuracy is the guard's accuracy.
- OOD: `val:` sets (data/validation.py) made FROM THE HOLD-OUT images (a `val:KIND` spec without
  a source would distort the test set), and uniform noise in the model's input space.
  `DEFAULT_KINDS` apply to grey and RGB images alike, so every run is judged on the same kinds;
  jigsaw needs an even height and width and is left out otherwise.
- Criterion: the mean FPR95 over the OOD sets (anomalies positive, the reference's "closest"
  rule) of the run's score (MSP; energy for an energy fine-tune), each set against the whole
  hold-out. No draws: the same weights always get the same value. Lower is better; the mean
  AUROC and the hold-out accuracy break ties (`rank_key`).

All values are percentages (the guard's budget is in percentage points).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import holdout
from .config import RunConfig
from .setup import preprocess_of
from ..data.batches import sequential_batches
from ..data.datasets import load_labelled
from ..data.imageset import ImageSet
from ..data.validation import make_validation_set
from ..metrics import detection_metrics
from ..scores import compute_score

DEFAULT_KINDS = ("uniform", "arithmetic-mean", "geometric-mean", "jigsaw", "speckle", "pixelate")
# Each OOD set is at most this many images (a seeded pick of the hold-out): enough for an FPR95
# to a tenth of a point, and a bounded cost per guarded epoch on a large hold-out.
MAX_PER_SET = 5000
RECALL, POSITIVE, RULE = 0.95, "ood", "closest"


@dataclass
class ValidationData:
    """The hold-out (labelled uint8 images) and the OOD sets made from it."""

    holdout: ImageSet
    ood: list[ImageSet]

    def describe(self) -> dict:
        return {"n_heldout": len(self.holdout), "sets": [s.name for s in self.ood],
                "n_per_set": [len(s) for s in self.ood], "recall": RECALL,
                "positive": POSITIVE, "rule": RULE}


def holdout_images(cfg: RunConfig, run_dir: str | Path) -> ImageSet:
    """The held-out training images of the run in `run_dir`, by the indices recorded in
    RUN/calibration_split.json (a clear error when the run has none)."""
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train",
                          num_classes=cfg.num_classes)
    return holdout.held_out_images(train, holdout.load_split(Path(run_dir), len(train)))


def applicable_kinds(shape: tuple[int, int, int], kinds=DEFAULT_KINDS) -> list[str]:
    """`kinds` without those the image shape does not allow (jigsaw: odd sides; rgb-shift and
    invert: not RGB)."""
    h, w, c = shape
    return [k for k in kinds if not (k == "jigsaw" and (h % 2 or w % 2))
            and not (k in ("rgb-shift", "invert") and c != 3)]


def validation_data(cfg: RunConfig, images: ImageSet | None = None, *,
                    run_dir: str | Path | None = None, kinds=DEFAULT_KINDS,
                    seed: int | None = None) -> ValidationData:
    """The hold-out (`images`, else read from the run in `run_dir`) and its OOD validation
    sets (seeded: `seed`, else the run's)."""
    images = images if images is not None else holdout_images(cfg, run_dir)
    seed = cfg.seed if seed is None else seed
    n = min(len(images), MAX_PER_SET)
    ood = [make_validation_set(kind, images, n, seed + k, shape=cfg.image_shape,
                               noise_range=cfg.noise_range)
           for k, kind in enumerate(applicable_kinds(images.shape, kinds))]
    return ValidationData(images, ood)


def run_score(cfg: RunConfig) -> str:
    """The score a run is judged by: energy for an energy fine-tune, else MSP (as `oe eval`)."""
    return "energy" if cfg.loss == "energy" else "msp"


@torch.no_grad()
def logits_of(model: torch.nn.Module, images: ImageSet, cfg: RunConfig,
              device: torch.device | str) -> torch.Tensor:
    """Float32 logits (CPU) of every image, in eval mode and fp32; the model's mode is restored.
    (The evaluation layer has its own `predict_logits`; the training layer cannot import it.)"""
    pre = preprocess_of(cfg)
    was_training = model.training
    model.eval()
    out = []
    try:
        for s in sequential_batches(len(images), cfg.eval_batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images.x[s])).to(device)
            out.append(model(pre(x, normalised=images.normalised)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def criterion_from_logits(in_logits: torch.Tensor, labels: np.ndarray,
                          ood_logits: dict[str, torch.Tensor], score: str) -> dict:
    """Hold-out accuracy, mean FPR95 and AUROC over the OOD sets and each set's, in percent."""
    accuracy = float((in_logits.argmax(1).numpy() == np.asarray(labels)).mean())
    in_scores = compute_score(score, in_logits).numpy()
    per_set = {}
    for name, logits in ood_logits.items():
        m = detection_metrics(in_scores, compute_score(score, logits).numpy(),
                              RECALL, POSITIVE, RULE)
        per_set[name] = {"fpr95": 100 * m["fpr"], "auroc": 100 * m["auroc"]}
    return {
        "accuracy": 100 * accuracy,
        "val_fpr95": float(np.mean([m["fpr95"] for m in per_set.values()])),
        "val_auroc": float(np.mean([m["auroc"] for m in per_set.values()])),
        "score": score, "per_set": per_set,
    }


def measure(model: torch.nn.Module, data: ValidationData, cfg: RunConfig,
            device: torch.device | str, score: str | None = None) -> dict:
    """The criterion of `model` (see the module docstring) on `data`."""
    ood = {s.name: logits_of(model, s, cfg, device) for s in data.ood}
    return criterion_from_logits(logits_of(model, data.holdout, cfg, device),
                                 data.holdout.y, ood, score or run_score(cfg))


def rank_key(m: dict) -> tuple[float, float, float]:
    """Sort key, best first: lowest mean FPR95, then highest mean AUROC, then highest accuracy."""
    return (m["val_fpr95"], -m["val_auroc"], -m["accuracy"])
