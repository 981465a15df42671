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

Several scores (`evaluate_scores`, `oe eval --score A B ...`) share one pass over the data:
logits and penultimate features are cached per set and every score (including the post-hoc
ones of `posthoc/`) is computed from them; ODIN (and Mahalanobis with input perturbation)
needs input gradients and re-runs the model on the same images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..training import runs
from ..training.config import RunConfig
from ..data.batches import sequential_batches, to_device_tensor
from ..data.datasets import load_images, load_labelled
from ..data.sources import ImageSet
from ..data.validation import is_validation_spec
from ..errors import UserInputError
from ..training.precision import autocast
from ..metrics import detection_metrics, detection_metrics_many
from ..scores import compute_score
from .results import scores_summary, write_results
from ..training.loop import build_model, preprocess_of, resolve_device

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


def default_score(cfg: RunConfig) -> str:
    """The score a run is evaluated with unless told: energy for an energy fine-tune, else MSP."""
    return "energy" if getattr(cfg, "loss", "oe") == "energy" else "msp"


def _score_names(score: str | None, scores: list[str] | None, cfg: RunConfig) -> list[str]:
    from .posthoc import scorer_names

    names = list(dict.fromkeys(scores)) if scores else [score or default_score(cfg)]
    unknown = [n for n in names if n not in scorer_names()]
    if unknown:
        raise UserInputError(f"unknown score {unknown[0]!r}; choose from: {', '.join(scorer_names())}")
    return names


@torch.no_grad()
def predict_outputs(model, images: ImageSet, cfg: RunConfig, device, batch_size: int,
                    precision: str = "fp32", features: bool = False):
    """(logits, penultimate features or None) of every image (float32, CPU), from ONE pass."""
    from .posthoc import logits_and_features

    if not features:
        return predict_logits(model, images, cfg, device, batch_size, precision), None
    pre = preprocess_of(cfg)
    x = to_device_tensor(images, device)
    model.eval()
    logits, feats = [], []
    for s in sequential_batches(len(images), batch_size):
        with autocast(precision, torch.device(device)):
            z, f = logits_and_features(model, pre(x[s], normalised=images.normalised))
        logits.append(z.float().cpu())
        feats.append(f.float().cpu())
    return torch.cat(logits), torch.cat(feats)


def evaluate_run(run_dir: str | Path, ood: list[str] | None = None, **options) -> dict:
    """Run the protocol on a trained run; write results.{json,csv,md} there; return the results.

    Takes the options of `evaluate_scores` (score, draws, ratio, recall, positive, rule, seed,
    device, precision, write, scores, score_options, log). `score` (default: MSP, or energy for
    an energy fine-tune) names the anomaly score; with `scores` naming several, all are
    evaluated in one pass and the first one's results are returned (and are `results.json`)."""
    return next(iter(evaluate_scores(run_dir, ood, **options).values()))


def evaluate_scores(
    run_dir: str | Path,
    ood: list[str] | None = None,
    *,
    scores: list[str] | None = None,
    score: str | None = None,
    draws: int = 10,
    ratio: int = 5,
    recall: float = 0.95,
    positive: str = "ood",
    rule: str = "closest",
    seed: int = 1,
    device: str | None = "auto",
    precision: str = "fp32",
    write: bool = True,
    score_options: dict | None = None,
    log=None,
) -> dict[str, dict]:
    """The protocol for several scores at once: {score: results}, in the order asked.

    The model runs once per set: logits and (when a score needs them) penultimate features are
    cached and every score is computed from them. The exception is a score that perturbs its
    inputs along a gradient (ODIN, Mahalanobis with epsilon > 0): it re-runs the model on the
    same images. Every score sees the same draws. Written: `results.json` (.csv, .md) and
    `scores_<score>.npz` for the first score as for one score; with several, also
    `results_<score>.json` and `scores_<score>.npz` for each and `scores_summary.md`."""
    from .posthoc.run_data import fit_scorers, input_batches

    run_dir = Path(run_dir)
    log = log or (lambda *_: None)
    if draws < 1 or ratio < 1:
        raise UserInputError("--draws and --ratio must be >= 1")
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    names = _score_names(score, scores, cfg)
    ood = list(ood) if ood else list(cfg.ood)
    if not ood:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")

    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    scorers = fit_scorers(names, model, cfg, run_dir, dev, options=score_options, test_set=test,
                          ood_specs=ood, recall=recall, positive=positive, rule=rule, seed=seed,
                          log=log)
    with_features = any(s.needs_features and not s.needs_inputs for s in scorers.values())
    bs = cfg.eval_batch_size

    def score_set(images: ImageSet):
        logits, feats = predict_outputs(model, images, cfg, dev, bs, precision, with_features)
        found = {}
        for name, scorer in scorers.items():
            if scorer.needs_inputs:  # a gradient through the model: run it again on the images
                found[name] = scorer.score(input_batches(images, cfg, dev, bs)).numpy()
            else:
                found[name] = scorer.score_outputs(logits, feats).numpy()
        return logits, found

    logits, in_found = score_set(test)
    in_scores = {name: v.astype(np.float64) for name, v in in_found.items()}
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
    per_set = {name: {} for name in names}
    validation = {name: {} for name in names}  # val: sets, reported apart, never in the mean
    cached = {name: {"in": in_scores[name].astype(np.float32)} for name in names}
    first = names[0]
    for spec in ood:
        images = load_images(spec, cfg.image_shape, seed=seed, role="--ood", n=n_per_draw * draws,
                             noise_range=cfg.noise_range, test_set=test)
        plan = plan_draws(len(images), n_per_draw, draws, rng)
        # Score only the images some draw uses, each once (the reference re-runs every draw).
        needed = np.unique(np.concatenate(plan))
        subset = ImageSet(x=images.x[needed], y=None, name=images.name,
                          normalised=images.normalised)
        _, out_found = score_set(subset)
        set_name = _unique(images.name, {**per_set[first], **validation[first]})
        for name in names:
            out_scores = np.full(len(images), np.nan)
            out_scores[needed] = out_found[name]
            group = validation[name] if is_validation_spec(spec) else per_set[name]
            group[set_name] = protocol_metrics(in_scores[name], out_scores, plan, recall=recall,
                                               positive=positive, rule=rule)
            group[set_name]["spec"] = spec
            group[set_name]["n_scored"] = int(len(needed))
            cached[name][f"ood:{set_name}"] = out_scores[needed].astype(np.float32)
            cached[name][f"ood_index:{set_name}"] = needed

    found = {}
    for name in names:
        results = {
            "run": str(run_dir),
            "in_dist": cfg.test,
            "model": cfg.model,
            # An energy fine-tune is an "oe-tune" run trained with another loss: named apart so
            # that reports never set the OE paper's numbers beside it.
            "mode": "energy-tune" if cfg.loss == "energy" else cfg.mode,
            "loss": cfg.loss,
            "score": name,
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
            "ood": per_set[name],
            "mean": _mean_of(per_set[name]),
        }
        params = scorers[name].params()
        if params:
            results["score_params"] = params
        if validation[name]:
            results["validation"] = validation[name]
            results["validation_mean"] = _mean_of(validation[name])
        found[name] = results
    if write:
        write_results(run_dir, found[first])
        for name in names:
            np.savez_compressed(run_dir / f"scores_{name}.npz", **cached[name])
        if len(names) > 1:
            for name in names:
                runs.write_json(run_dir / f"results_{name}.json", found[name])
            runs.write_text(run_dir / "scores_summary.md", scores_summary(found, markdown=True))
    return found
