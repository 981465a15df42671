"""The OOD-detection test protocol of the reference on an image run (the protocol itself, shared
with text runs and language models, is `draws.run_protocol`; the record is `results.Results`).

- The in-distribution test set is scored once; so is each OOD set.
- For each OOD set, `draws` times (reference: 10): draw `len(test) // ratio` OOD examples
  (ratio 5, i.e. OOD:ID = 1:5), or that rounded down to whole batches of 200 as the reference's
  test.py reads them (the run's `ood_draw_size`, draws.DRAW_SIZE_RULES), without replacement and
  compute FPR/AUROC/AUPR against the full in-distribution scores; report the mean and std over
  the draws.
- The headline is the unweighted mean over the OOD sets. Validation sets (`val:KIND` specs,
  `data/validation.py`) go through the same protocol but are reported apart, under
  "validation" with their own "validation_mean", and never enter the headline.
- Also: the test error, and error detection (misclassified test images as the positives,
  scored by MSP, as the reference does).

The reference re-runs the model for every draw. Here the draws are planned first and each OOD
image that some draw uses is scored once: the same statistics, with up to a tenth of the forward
passes (exactly a tenth when a set holds just one draw's worth of images).
Synthetic noise sets get `draws * (len(test) // ratio)` examples, as in the reference
(`ood_num_examples * num_to_avg`), whatever the draw size.

Several scores (`evaluate_scores`, `oe eval --score A B ...`) share one pass over the data:
logits and penultimate features are cached per set and every score (including the post-hoc
ones of `posthoc/`) is computed from them; ODIN (and Mahalanobis with input perturbation)
needs input gradients and re-runs the model on the same images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..training import runs
from ..training.run_files import load_trained_weights
from ..training.config import RunConfig
from ..data.batches import sequential_batches, to_device_tensor
from ..data.catalog.benchmarks import resolve_validation_alias
from ..data.datasets import load_images, load_labelled
from ..data.imageset import ImageSet
from ..data.validation import is_validation_spec
from ..errors import UserInputError
from ..training.precision import autocast
from ..training.progress import each
from .posthoc import logits_and_features, scorer_names
from .posthoc.run_data import fit_scorers, input_batches
from .draws import DrawSettings, OODSet, classification_outcome, run_protocol
from .results import Results, scores_summary, write_results
from ..training.setup import build_model, preprocess_of, resolve_device


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
    # model.pt checked: a state dict that fits the model, with finite weights (a NaN model
    # would score everything NaN and fix a NaN threshold).
    load_trained_weights(model, run_dir)
    return model.to(device).eval(), cfg


def default_score(cfg: RunConfig) -> str:
    """The score a run is evaluated with unless told: energy for an energy fine-tune, else MSP."""
    return "energy" if getattr(cfg, "loss", "oe") == "energy" else "msp"


def _score_names(score: str | None, scores: list[str] | None, cfg: RunConfig) -> list[str]:
    names = list(dict.fromkeys(scores)) if scores else [score or default_score(cfg)]
    unknown = [n for n in names if n not in scorer_names()]
    if unknown:
        raise UserInputError(f"unknown score {unknown[0]!r}; choose from: {', '.join(scorer_names())}")
    return names


@torch.no_grad()
def predict_outputs(model, images: ImageSet, cfg: RunConfig, device, batch_size: int,
                    precision: str = "fp32", features: bool = False):
    """(logits, penultimate features or None) of every image (float32, CPU), from ONE pass."""
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
    draw_size: str | None = None,
    device: str | None = "auto",
    precision: str = "fp32",
    write: bool = True,
    score_options: dict | None = None,
    log=None,
    progress: bool = False,
) -> dict[str, dict]:
    """The protocol for several scores at once: {score: results}, in the order asked.

    The model runs once per set: logits and (when a score needs them) penultimate features are
    cached and every score is computed from them. The exception is a score that perturbs its
    inputs along a gradient (ODIN, Mahalanobis with epsilon > 0): it re-runs the model on the
    same images. Every score sees the same draws. Written: `results.json` (.csv, .md) and
    `scores_<score>.npz` for the first score as for one score; with several, also
    `results_<score>.json` and `scores_<score>.npz` for each and `scores_summary.md`.
    `draw_size` (a draws.DRAW_SIZE_RULES name) defaults to the run's `ood_draw_size`.
    `progress=True` shows a bar over the OOD sets on stderr."""
    run_dir = Path(run_dir)
    log = log or (lambda *_: None)
    DrawSettings(draws=draws, ratio=ratio, recall=recall, seed=seed,
                 draw_size=draw_size or "exact").check()  # before the model loads
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    settings = DrawSettings(draws=draws, ratio=ratio, recall=recall, positive=positive, rule=rule,
                            seed=seed, draw_size=draw_size or cfg.ood_draw_size)
    settings.check()
    names = _score_names(score, scores, cfg)
    ood = [resolve_validation_alias(s, cfg.test) for s in (ood or cfg.ood)]
    if not ood:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")

    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    scorers = fit_scorers(names, model, cfg, run_dir, dev, options=score_options, test_set=test,
                          ood_specs=ood, recall=recall, positive=positive, rule=rule, seed=seed,
                          log=log)
    score_images = _image_scorer(model, cfg, scorers, dev, precision)
    logits, in_found = score_images(test)
    in_scores = {name: v.astype(np.float64) for name, v in in_found.items()}
    test_error, error_detection = classification_outcome(logits, test.y, settings)
    settings.per_draw(len(test), f"the test set {cfg.test} has {len(test)} images")
    outcomes = run_protocol(in_scores, _image_sets(ood, cfg, test, (len(test) // ratio) * draws,
                                                   seed, score_images, progress), settings)
    common = dict(run=str(run_dir), in_dist=cfg.test, model=cfg.model,
                  # An energy fine-tune is an "oe-tune" run trained with another loss: named
                  # apart so that reports never set the OE paper's numbers beside it.
                  mode="energy-tune" if cfg.loss == "energy" else cfg.mode, loss=cfg.loss,
                  precision=precision, n_test=len(test), test_error=test_error,
                  error_detection=error_detection, **settings.record_fields())
    found = {name: Results(score=name, ood=outcome.ood, mean=outcome.mean,
                           score_params=scorers[name].params() or None,
                           validation=outcome.validation or None,
                           validation_mean=outcome.validation_mean, **common)
             for name, outcome in outcomes.items()}
    if write:
        _write_scores(run_dir, found, outcomes)
    return {name: record.to_dict() for name, record in found.items()}


def _image_scorer(model, cfg: RunConfig, scorers: dict, dev, precision: str):
    """images -> (logits, {score: anomaly scores}): one pass of the model for every score that
    reads its outputs, another (with gradients) for each score that perturbs the inputs."""
    with_features = any(s.needs_features and not s.needs_inputs for s in scorers.values())
    bs = cfg.eval_batch_size

    def score_images(images: ImageSet):
        logits, feats = predict_outputs(model, images, cfg, dev, bs, precision, with_features)
        found = {}
        for name, scorer in scorers.items():
            if scorer.needs_inputs:  # a gradient through the model: run it again on the images
                found[name] = scorer.score(input_batches(images, cfg, dev, bs)).numpy()
            else:
                found[name] = scorer.score_outputs(logits, feats).numpy()
        return logits, found

    return score_images


def _image_sets(specs: list[str], cfg: RunConfig, test: ImageSet, n: int, seed: int,
                score_images, progress: bool = False) -> Iterator[OODSet]:
    """The OOD image sets, each read when the protocol reaches it (`n`: noise images made);
    `progress`: a bar counting the sets scored."""
    for spec in each(specs, len(specs), "OOD sets", progress, name=str):
        images = load_images(spec, cfg.image_shape, seed=seed, role="--ood", n=n,
                             noise_range=cfg.noise_range, test_set=test)

        def score(needed: np.ndarray, images=images) -> dict[str, np.ndarray]:
            subset = ImageSet(x=images.x[needed], y=None, name=images.name,
                              normalised=images.normalised)
            return score_images(subset)[1]

        yield OODSet(name=images.name, spec=spec, size=len(images), score=score,
                     validation=is_validation_spec(spec))


def _write_scores(run_dir: Path, found: dict[str, Results], outcomes: dict) -> None:
    """results.json (.csv, .md) of the first score, every score's cache; with several scores,
    each one's results and their summary."""
    write_results(run_dir, next(iter(found.values())))
    for name, outcome in outcomes.items():
        runs.save_npz(run_dir / f"scores_{name}.npz", **outcome.cache)  # atomic: a kill keeps the old cache
    if len(found) > 1:
        for name, record in found.items():
            record.save(run_dir / f"results_{name}.json")
        runs.write_text(run_dir / "scores_summary.md",
                        scores_summary({n: r.to_dict() for n, r in found.items()}, markdown=True))
