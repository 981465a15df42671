"""The calibration protocol of the reference (`test_calibration.py`), over cached logits.

1. Temperature: when the run was trained with `--calibration`, T minimises the NLL of the
   held-out training examples (`calibration_split.json`), by bisection on [0.2, 5] to 1e-4
   (`temperature.py`); otherwise T = 1 and the results say so.
2. Confidence: c = max_k softmax(z / T)_k, optionally rescaled to (c - 1/K) / (1 - 1/K);
   correct = [argmax_k z_k == label] (T does not change the prediction).
3. In-distribution: the metrics of the whole test set.
4. Each OOD set, `draws` times (10): `len(test) // ratio` OOD examples (OOD:ID = 1:5) join the
   whole test set as mistakes (correct = 0); RMS, MAD, soft F1 and ECE of the mixture; mean
   and std (numpy's, ddof 0, as the reference prints) over the draws. The headline is the
   unweighted mean over the OOD sets.

The OOD draws are planned with the same seed and order as `oe eval` (same images), and each
image is scored once (the reference re-runs the model for every draw). Metrics and the two
binning modes: `metrics.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..training import holdout
from .report import write_calibration
from .metrics import BIN_SIZE, calibration_metrics, rescale_01
from ..data.datasets import load_images, load_labelled
from ..data.imageset import ImageSet
from ..errors import UserInputError
from ..evaluation.draws import plan_draws, unique_name
from ..evaluation.protocol import load_trained_model, predict_logits
from .temperature import tune_temperature
from ..training.setup import resolve_device

METRICS = ("rms", "mad", "soft_f1", "ece")
NO_SPLIT_NOTE = ("T = 1: the run was trained without --calibration, so there is no held-out "
                 "split to tune the temperature on")


def confidences(logits: torch.Tensor, temperature: float, rescale: bool) -> np.ndarray:
    """max_k softmax(z / T)_k in float64, optionally rescaled to [0, 1] over K classes."""
    z = logits.double() / temperature
    conf = torch.softmax(z, dim=1).max(dim=1).values.numpy()
    return rescale_01(conf, logits.shape[1]) if rescale else conf


def _temperature(run_dir: Path, cfg, model, device, tune: bool) -> dict:
    if not tune:
        return {"value": 1.0, "tuned": False, "note": "T = 1 (--no-temperature)"}
    if not (run_dir / holdout.SPLIT_FILE).exists():
        return {"value": 1.0, "tuned": False, "note": NO_SPLIT_NOTE}
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="training set",
                          num_classes=cfg.num_classes)
    held = holdout.load_split(run_dir, len(train))
    logits = predict_logits(model, holdout.subset(train, held), cfg, device,
                            cfg.eval_batch_size)
    t = tune_temperature(logits.numpy(), np.asarray(train.y)[held])
    return {"value": float(t), "tuned": True, "n_heldout": int(len(held)),
            "note": f"T = {t:.4f}, tuned on {len(held)} held-out training examples"}


def _summary(per_draw: list[dict]) -> dict:
    out = {}
    for m in METRICS:
        values = [d[m] for d in per_draw]
        out[m], out[f"{m}_std"] = float(np.mean(values)), float(np.std(values))
    return out


def _ood_sets(model, cfg, dev, ood: list[str], test: tuple[np.ndarray, np.ndarray], t: float,
              rescale: bool, *, n_per_draw: int, draws: int, seed: int, options: dict
              ) -> tuple[dict, list[np.ndarray]]:
    """Per OOD set: the calibration metrics of the test set mixed with each draw of the set
    (OOD examples count as mistakes), summarised over the draws; and each set's first draw of
    confidences (for the reliability diagram)."""
    test_conf, test_correct = test
    rng = np.random.default_rng(seed)  # the same draws as `oe eval` with the same seed
    per_set, first_draws = {}, []
    for spec in ood:
        images = load_images(spec, cfg.image_shape, seed=seed, role="--ood", n=n_per_draw * draws,
                             noise_range=cfg.noise_range)
        plan = plan_draws(len(images), n_per_draw, draws, rng)
        needed = np.unique(np.concatenate(plan))
        ood_conf = np.full(len(images), np.nan)
        ood_conf[needed] = confidences(predict_logits(
            model, ImageSet(x=images.x[needed], y=None, name=images.name,
                            normalised=images.normalised),
            cfg, dev, cfg.eval_batch_size), t, rescale)
        per_draw = [calibration_metrics(np.concatenate([ood_conf[idx], test_conf]),
                                        np.concatenate([np.zeros(len(idx)), test_correct]),
                                        **options) for idx in plan]
        name = unique_name(images.name, per_set)
        per_set[name] = {**_summary(per_draw), "n_per_draw": len(plan[0]), "spec": spec}
        first_draws.append(ood_conf[plan[0]])
    return per_set, first_draws


def calibrate_run(
    run_dir: str | Path,
    ood: list[str] | None = None,
    *,
    mode: str = "corrected",
    rescale: bool = False,
    draws: int = 10,
    ratio: int = 5,
    seed: int = 1,
    tune: bool = True,
    bin_size: int = BIN_SIZE,
    device: str | None = "auto",
    write: bool = True,
) -> dict:
    """The calibration protocol on a trained run; writes calibration.{json,csv,md} and
    reliability.png in the run folder (when `write`); returns the results (fractions)."""
    run_dir = Path(run_dir)
    if draws < 1 or ratio < 1:
        raise UserInputError("--draws and --ratio must be >= 1")
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    ood = list(ood) if ood else list(cfg.ood)
    if not ood:
        raise UserInputError("name at least one OOD test set: --ood SPEC [SPEC ...]")
    temperature = _temperature(run_dir, cfg, model, dev, tune)
    t = temperature["value"]

    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    logits = predict_logits(model, test, cfg, dev, cfg.eval_batch_size)
    test_conf = confidences(logits, t, rescale)
    test_correct = (logits.argmax(1).numpy() == np.asarray(test.y)).astype(np.float64)
    options = dict(mode=mode, bin_size=bin_size)
    in_dist = calibration_metrics(test_conf, test_correct, **options)

    n_per_draw = len(test) // ratio
    if n_per_draw < 1:
        raise UserInputError(f"the test set {cfg.test} has {len(test)} images: too few for 1:{ratio}")
    per_set, first_draws = _ood_sets(model, cfg, dev, ood, (test_conf, test_correct), t, rescale,
                                     n_per_draw=n_per_draw, draws=draws, seed=seed, options=options)

    results = {
        "run": str(run_dir),
        "in_dist": cfg.test,
        "model": cfg.model,
        "run_mode": cfg.mode,
        "mode": mode,
        "rescale": rescale,
        "bin_size": bin_size,
        "temperature": temperature,
        "draws": draws,
        "ratio": ratio,
        "seed": seed,
        "n_test": len(test),
        "test_error": float(1.0 - test_correct.mean()),
        "in_distribution": in_dist,
        "ood": per_set,
        "mean": {m: float(np.mean([r[m] for r in per_set.values()])) for m in METRICS},
    }
    if write:
        mixed = np.concatenate(first_draws)
        write_calibration(run_dir, results, (test_conf, test_correct),
                          (np.concatenate([mixed, test_conf]),
                           np.concatenate([np.zeros(len(mixed)), test_correct])))
    return results
