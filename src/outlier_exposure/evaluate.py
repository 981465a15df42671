"""The OOD-detection test protocol of the reference, over cached scores.

- The in-distribution test set is scored once; so is each OOD set.
- For each OOD set, `draws` times (reference: 10): draw `len(test) // ratio` OOD examples
  (ratio 5, i.e. OOD:ID = 1:5) without replacement and compute FPR/AUROC/AUPR against the full
  in-distribution scores; report the mean and std over the draws.
- The headline is the unweighted mean over the OOD sets. Validation sets (`val:KIND` specs,
  `data/validation.py`) go through the same protocol but are reported apart, under
  "validation" with their own "validation_mean", and never enter the headline.
- Also: the test error, and error detection (misclassified test images as the positives,
  scored by MSP, as the reference does).

The reference re-runs the model for every draw. Here the draws are planned first and each OOD
image that some draw uses is scored once: the same statistics, with up to a tenth of the forward
passes (exactly a tenth when a set holds just one draw's worth of images).
Synthetic noise sets get `draws * len(test) // ratio` examples, as in the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import runs
from .config import RunConfig
from .data.batches import sequential_batches, to_device_tensor
from .data.datasets import load_images, load_labelled
from .data.sources import ImageSet
from .data.validation import is_validation_spec
from .errors import UserInputError
from .precision import autocast
from .metrics import detection_metrics, detection_metrics_many
from .scores import compute_score
from .tables import write_results
from .train import build_model, preprocess_of, resolve_device

METRICS = ("fpr", "auroc", "aupr")


@torch.no_grad()
def predict_logits(model, images: ImageSet, cfg: RunConfig, device, batch_size: int,
                   precision: str = "fp32") -> torch.Tensor:
    """Logits of every image (float32, on the CPU), in order; `precision` autocasts the model."""
    pre = preprocess_of(cfg)
    x = to_device_tensor(images, device)
    model.eval()
    out = []
    for s in sequential_batches(len(images), batch_size):
        with autocast(precision, torch.device(device)):
            out.append(model(pre(x[s], normalised=images.normalised)).float())
    return torch.cat(out).cpu()


def load_trained_model(run_dir: Path, device) -> tuple[torch.nn.Module, RunConfig]:
    cfg = runs.load_config(run_dir)
    model = build_model(cfg)
    model.load_state_dict(runs.load_final_weights(run_dir))
    return model.to(device).eval(), cfg


def plan_draws(n_ood: int, n_per_draw: int, draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The OOD indices of each draw: `min(n_per_draw, n_ood)` drawn without replacement."""
    n = min(n_per_draw, n_ood)
    return [rng.choice(n_ood, size=n, replace=False) for _ in range(draws)]


def protocol_metrics(
    in_scores: np.ndarray, out_scores: np.ndarray, draw_indices: list[np.ndarray], *,
    recall: float, positive: str, rule: str,
) -> dict:
    """Mean and std of the metrics over the draws; `out_scores[i]` is OOD example i's score."""
    per_draw = detection_metrics_many(in_scores, [out_scores[idx] for idx in draw_indices],
                                      recall_level=recall, positive=positive, rule=rule)
    summary = {}
    for m in METRICS:
        values = [result[m] for result in per_draw]
        summary[m] = float(np.mean(values))
        summary[f"{m}_std"] = float(np.std(values))
    summary["n_per_draw"] = len(draw_indices[0])
    return summary


def _mean_of(per_set: dict) -> dict | None:
    """The unweighted mean of each metric over the sets; None when there are none."""
    if not per_set:
        return None
    return {m: float(np.mean([r[m] for r in per_set.values()])) for m in METRICS}


def _unique(name: str, taken: dict) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate


def evaluate_run(
    run_dir: str | Path,
    ood: list[str] | None = None,
    *,
    score: str = "msp",
    draws: int = 10,
    ratio: int = 5,
    recall: float = 0.95,
    positive: str = "ood",
    rule: str = "closest",
    seed: int = 1,
    device: str | None = "auto",
    precision: str = "fp32",
    write: bool = True,
) -> dict:
    """Run the protocol on a trained run; write results.{json,csv,md} there; return the results.

    `precision` (fp32 | bf16 | fp16) autocasts the model's forward passes."""
    run_dir = Path(run_dir)
    if draws < 1 or ratio < 1:
        raise UserInputError("--draws and --ratio must be >= 1")
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    ood = list(ood) if ood else list(cfg.ood)
    if not ood:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")

    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    logits = predict_logits(model, test, cfg, dev, cfg.eval_batch_size, precision)
    in_scores = compute_score(score, logits).numpy().astype(np.float64)
    right = logits.argmax(1).numpy() == np.asarray(test.y)
    msp = compute_score("msp", logits).numpy().astype(np.float64)
    error_detection = None
    if 0 < right.sum() < len(right):
        error_detection = detection_metrics(msp[right], msp[~right], recall_level=recall,
                                            positive="ood", rule=rule)

    n_per_draw = len(test) // ratio
    if n_per_draw < 1:
        raise UserInputError(f"the test set {cfg.test} has {len(test)} images: too few for 1:{ratio}")
    rng = np.random.default_rng(seed)
    per_set, cached = {}, {"in": in_scores.astype(np.float32)}
    validation = {}  # val: sets, reported apart and never in the headline mean (as the reference)
    for spec in ood:
        images = load_images(spec, cfg.image_shape, seed=seed, role="--ood", n=n_per_draw * draws,
                             noise_range=cfg.noise_range, test_set=test)
        plan = plan_draws(len(images), n_per_draw, draws, rng)
        # Score only the images some draw uses, each once (the reference re-runs every draw).
        needed = np.unique(np.concatenate(plan))
        subset = ImageSet(x=images.x[needed], y=None, name=images.name,
                          normalised=images.normalised)
        out_scores = np.full(len(images), np.nan)
        out_scores[needed] = compute_score(
            score, predict_logits(model, subset, cfg, dev, cfg.eval_batch_size,
                                  precision)).numpy()
        name = _unique(images.name, {**per_set, **validation})
        group = validation if is_validation_spec(spec) else per_set
        group[name] = protocol_metrics(in_scores, out_scores, plan, recall=recall,
                                       positive=positive, rule=rule)
        group[name]["spec"] = spec
        group[name]["n_scored"] = int(len(needed))
        cached[f"ood:{name}"] = out_scores[needed].astype(np.float32)
        cached[f"ood_index:{name}"] = needed

    results = {
        "run": str(run_dir),
        "in_dist": cfg.test,
        "model": cfg.model,
        "mode": cfg.mode,
        "score": score,
        "positive": positive,
        "rule": rule,
        "recall_level": recall,
        "draws": draws,
        "ratio": ratio,
        "seed": seed,
        "precision": precision,
        "n_test": len(test),
        "test_error": float(1.0 - right.mean()),
        "error_detection": error_detection,
        "ood": per_set,
        "mean": _mean_of(per_set),
    }
    if validation:
        results["validation"] = validation
        results["validation_mean"] = _mean_of(validation)
    if write:
        write_results(run_dir, results)
        np.savez_compressed(run_dir / f"scores_{score}.npz", **cached)
    return results
