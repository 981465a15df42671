"""The data a post-hoc scorer of a trained run is fitted on, and fitting them for `oe eval`.

- Training features (Mahalanobis, KNN): the run's training set without its calibration
  hold-out (RUN/calibration_split.json), i.e. the images the model trained on, unaugmented.
  Computed once and shared by every scorer that needs them.
- ODIN's validation data: the OOD side is the set the user names (`odin_val`, e.g.
  `val:jigsaw`, `noise:uniform`, an auxiliary outlier set), refused when it is one of the
  test OOD sets; the in-distribution side is the run's calibration hold-out when it has one,
  else a seeded random sample of training images (seen in training, so slightly optimistic,
  but never a test image). `n_val` images of each (default 1000, as ODIN's authors used).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ...training import holdout
from ...data.catalog.benchmarks import benchmark_for, is_openood_validation, resolve_validation_alias
from ...training.config import RunConfig
from ...data.batches import sequential_batches, to_device_tensor
from ...data.datasets import load_images, load_labelled
from ...data.imageset import ImageSet
from ...errors import UserInputError
from ...training.setup import preprocess_of
from . import make_scorer
from .base import Scorer, collect_features


def input_batches(images: ImageSet, cfg: RunConfig, device, batch_size: int) -> Iterator[torch.Tensor]:
    """Normalised model inputs of `images`, batch by batch, on `device` (no augmentation)."""
    pre = preprocess_of(cfg)
    x = to_device_tensor(images, device)
    for s in sequential_batches(len(images), batch_size):
        yield pre(x[s], normalised=images.normalised)


def training_images(run_dir: Path, cfg: RunConfig) -> ImageSet:
    """The run's training set without its calibration hold-out (what the model trained on)."""
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train",
                          num_classes=cfg.num_classes)
    if (Path(run_dir) / holdout.SPLIT_FILE).exists():
        held = holdout.load_split(run_dir, len(train))
        keep = np.setdiff1d(np.arange(len(train)), held, assume_unique=True)
        train = holdout.subset(train, keep)
    return train


def in_distribution_validation(run_dir: Path, cfg: RunConfig, n: int, seed: int) -> tuple[ImageSet, str]:
    """(in-distribution validation images, what they are): the calibration hold-out, else a
    seeded random `n` training images."""
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train",
                          num_classes=cfg.num_classes)
    if (Path(run_dir) / holdout.SPLIT_FILE).exists():
        idx, what = holdout.load_split(run_dir, len(train)), "calibration hold-out"
    else:
        idx, what = np.arange(len(train)), "training images"
    if len(idx) > n:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=n, replace=False))
    return holdout.subset(train, idx), f"{len(idx)} {what} of {cfg.train}"


def check_score_options(opts: dict | None) -> None:
    """Refuse the post-hoc flags' values the scorers cannot use (before anything is loaded):
    `knn_k` >= 1; ODIN's fixed T > 0 and eps in [0, 1] ([0, 1] pixel units); Mahalanobis's
    eps in [0, 1]; every number finite."""
    opts = opts or {}
    k = opts.get("knn_k")
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise UserInputError(f"--knn-k {k} must be a whole number >= 1 (the k-th neighbour)")
    bounds = (("odin_temperature", "--odin-T", 0.0, math.inf, "> 0, e.g. 1000"),
              ("odin_epsilon", "--odin-eps", 0.0, 1.0, "in [0, 1] pixel units, e.g. 0.0014"),
              ("mahalanobis_epsilon", "--mahalanobis-eps", 0.0, 1.0,
               "in [0, 1] pixel units (0: no perturbation)"))
    for key, flag, low, high, wanted in bounds:
        value = opts.get(key)
        if value is None:
            continue
        inside = math.isfinite(value) and low <= value <= high and \
            (value > low if key == "odin_temperature" else True)
        if not inside:
            raise UserInputError(f"{flag} {value} must be {wanted}")


def fit_scorers(
    names: list[str], model: torch.nn.Module, cfg: RunConfig, run_dir: Path, device, *,
    options: dict | None = None, test_set: ImageSet | None = None, ood_specs: list[str] = (),
    recall: float = 0.95, positive: str = "ood", rule: str = "closest", seed: int = 1,
    log=print,
) -> dict[str, Scorer]:
    """Build and fit the scorer of every name. `options`: `odin_val` (spec), `odin_temperature`
    and `odin_epsilon` (fixed, no tuning), `n_val` (1000), `knn_k` (50), `mahalanobis_epsilon`
    (0)."""
    check_score_options(options)
    opts = dict(options or {})
    bs = cfg.eval_batch_size
    scorers: dict[str, Scorer] = {}
    train_features = train_labels = None
    for name in names:
        if name == "odin":
            scorers[name] = _fit_odin(model, cfg, run_dir, device, opts, test_set, ood_specs,
                                      recall, positive, rule, seed, log)
            continue
        scorer = make_scorer(name, **_command_line_settings(name, opts, cfg))
        if not scorer.needs_training_features:
            scorers[name] = scorer.fit(model)
            continue
        if train_features is None:  # computed once, shared by every scorer that needs them
            train = training_images(run_dir, cfg)
            log(f"fitting on the features of {len(train)} training images of {cfg.train}")
            train_features = collect_features(model, input_batches(train, cfg, device, bs))[0]
            train_labels = torch.from_numpy(np.asarray(train.y, dtype=np.int64))
        if name == "knn" and scorer.k > len(train_features):
            raise UserInputError(f"--knn-k {scorer.k} exceeds the {len(train_features)} training "
                                 "images; choose a smaller k")
        scorers[name] = scorer.fit(model, train_features, train_labels)
    return scorers


def _command_line_settings(name: str, opts: dict, cfg: RunConfig) -> dict:
    """The constructor keywords of scorer `name` that `oe eval`'s flags set."""
    if name == "mahalanobis":
        return {"epsilon": opts.get("mahalanobis_epsilon", 0.0), "std": cfg.std}
    if name == "knn":
        return {"k": int(opts.get("knn_k", 50))}
    return {}


def _fit_odin(model, cfg, run_dir, device, opts, test_set, ood_specs, recall, positive, rule,
              seed, log) -> Scorer:
    t, eps = opts.get("odin_temperature"), opts.get("odin_epsilon")
    if (t is None) != (eps is None):
        raise UserInputError("--odin-T and --odin-eps fix ODIN's settings together: give both, "
                             "or neither and tune them with --odin-val SPEC")
    scorer = make_scorer("odin", temperature=t, epsilon=eps, std=cfg.std, recall=recall,
                         positive=positive, rule=rule)
    if t is not None:
        return scorer.fit(model)
    spec = opts.get("odin_val")
    benchmark = benchmark_for(cfg.test) if is_openood_validation(spec) else None
    spec = resolve_validation_alias(spec, cfg.test) if spec else spec
    if not spec:
        raise UserInputError(
            "--score odin tunes its temperature and perturbation on a validation OOD set: name "
            "one with --odin-val SPEC (e.g. val:jigsaw or noise:uniform; never a test set), or "
            "fix them with --odin-T T --odin-eps EPS")
    if spec in ood_specs:
        raise UserInputError(f"--odin-val {spec} is also an --ood test set: tuning on it would "
                             "report a test score seen in tuning; name another set")
    n_val = int(opts.get("n_val", 1000))
    ood_val = load_images(spec, cfg.image_shape, seed=seed, role="--odin-val", n=n_val,
                          noise_range=cfg.noise_range, test_set=test_set)
    if len(ood_val) > n_val:
        idx = np.sort(np.random.default_rng(seed).choice(len(ood_val), n_val, replace=False))
        ood_val = ImageSet(x=ood_val.x[idx], y=None, name=ood_val.name,
                           normalised=ood_val.normalised)
    if benchmark is not None and benchmark.val_id:  # OpenOOD's ID validation list beside it
        in_val = load_labelled(benchmark.val_id, cfg.image_shape, seed=seed, role="val:openood",
                               num_classes=cfg.num_classes)
        what = f"{len(in_val)} images of {benchmark.val_id}"
    else:
        in_val, what = in_distribution_validation(run_dir, cfg, n_val, seed)
    log(f"tuning ODIN on {what} against {len(ood_val)} images of {spec}")
    bs = cfg.eval_batch_size
    return scorer.fit(model, list(input_batches(in_val, cfg, device, bs)),
                      ood=list(input_batches(ood_val, cfg, device, bs)), tuned_on=spec)
