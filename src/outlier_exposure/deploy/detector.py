"""A trained run as a detector for new images, with a threshold users can trust.

`fix_detector(RUN, tpr=0.95)` (`oe detector RUN`) scores held-out in-distribution images and
fixes the threshold t so that a fraction `tpr` of them is accepted: with the n held-out scores
sorted, t = s_(ceil(tpr * n)) (the ceil(tpr * n)-th smallest), and an image is flagged as an
anomaly when its score > t. The held-out images are, by default, the run's calibration
hold-out (`--calibration`; never trained on); a run without one falls back to its test set,
with a warning: the threshold then saw test data. It writes `RUN/detector.json` (score,
threshold, requested and achieved TPR, the held-out data, package version, model name, kwargs,
classes, the sha256 of `model.pt` and the scorer's settings) and, for a scorer that fits
tensors (Mahalanobis, KNN), `RUN/detector_stats.pt` (those tensors only; detector.json keeps
its sha256 too). A model or held-out scores with NaN or infinity are refused: a NaN threshold
would flag nothing. The score is the
scorer's own `deployed()` module (`evaluation/posthoc/`): nothing here knows a score by name.

`load_detector(RUN)` reads them back (`torch.load(weights_only=True)`: no code is unpickled;
every field checked, detector_file.py) after checking that the package's major version and the run's model are those the threshold
was fixed for; `det.score(x)` and `det.predict(x)` take uint8 images or file paths
(`inputs.py`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .._version import __version__
from ..training import holdout, runs
from ..data.datasets import load_images, load_labelled
from ..data.storage.download import hash_file
from ..errors import UserInputError
from ..evaluation.posthoc import SCORERS, deployable_names
from ..evaluation.posthoc.run_data import fit_scorers
from ..evaluation.protocol import default_score, load_trained_model
from ..training.run_files import load_environment
from ..training.setup import resolve_device
from .detector_file import DETECTOR, FORMAT, STATS_FILE, read_info, saved_scorer
from .inputs import read_inputs
from .module import DetectorModule

# The files and their format: detector_file.py (which reads them back, checked).


class Prediction(NamedTuple):
    """Per image: predicted class index, anomaly score (higher = more anomalous), flag."""

    label: np.ndarray | int
    score: np.ndarray | float
    is_anomaly: np.ndarray | bool


def threshold_at_tpr(scores: np.ndarray, tpr: float) -> float:
    """The smallest threshold t with mean(scores <= t) >= tpr: the ceil(tpr * n)-th smallest."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    return float(s[max(1, math.ceil(tpr * len(s) - 1e-9)) - 1])


def _major(version: str | None) -> str | None:
    return None if not version else str(version).split(".")[0]


def _run_batches(module: DetectorModule, images: np.ndarray, device, batch_size: int = 256):
    labels, scores, flags = [], [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device)
            a, b, c = module(x)
            labels.append(a.cpu())
            scores.append(b.cpu())
            flags.append(c.cpu())
    return torch.cat(labels).numpy(), torch.cat(scores).numpy(), torch.cat(flags).numpy()


class Detector:
    """A run's model, score and threshold: `score(x)`, `predict(x)`; `module` is the
    `DetectorModule` (what `oe export` traces)."""

    def __init__(self, module: DetectorModule, info: dict, device="cpu"):
        self.module, self.info, self.device = module.to(device).eval(), info, torch.device(device)

    @property
    def threshold(self) -> float:
        return self.info["threshold"]

    @property
    def score_name(self) -> str:
        return self.info["score"]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.info["image_shape"])

    @property
    def classes(self) -> list[str] | None:
        return self.info.get("classes")

    def _apply(self, x):
        images, names, single = read_inputs(x, self.image_shape)
        return _run_batches(self.module, images, self.device), names, single

    def score(self, x) -> np.ndarray:
        """Anomaly scores (float32, higher = more anomalous), one per image."""
        (_, scores, _), _, _ = self._apply(x)
        return scores

    def predict(self, x) -> Prediction:
        """(class, score, is_anomaly): arrays for several images, scalars for one."""
        (labels, scores, flags), _, single = self._apply(x)
        if single:
            return Prediction(int(labels[0]), float(scores[0]), bool(flags[0]))
        return Prediction(labels, scores, flags)

    def predict_named(self, x) -> tuple[Prediction, list[str]]:
        """`predict` for several images, with the name of each (its path or SOURCE[i])."""
        (labels, scores, flags), names, _ = self._apply(x)
        return Prediction(labels, scores, flags), names


def _holdout(run_dir: Path, cfg, spec: str | None, log):
    """(held-out in-distribution images, their description)."""
    if spec:
        images = load_images(spec, cfg.image_shape, seed=cfg.seed, role="--holdout")
        if images.normalised:
            raise UserInputError(f"--holdout {spec} is synthetic noise; name held-out "
                                 "in-distribution images")
        return images, spec
    if (run_dir / holdout.SPLIT_FILE).exists():
        train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed, role="--train")
        held = holdout.load_split(run_dir, len(train))
        return holdout.subset(train, held), f"calibration hold-out of {cfg.train}"
    log(f"warning: {run_dir} has no calibration hold-out (train it with --calibration); the "
        f"threshold is fixed on its test set {cfg.test}, so test results seen after it are no "
        "longer held out. Name held-out images with --holdout SPEC to avoid this.")
    return load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set"), cfg.test


def _check_deployable(score: str) -> None:
    if score in SCORERS and not SCORERS[score].not_deployable_because:
        return
    why = SCORERS[score].not_deployable_because if score in SCORERS else ""
    raise UserInputError(f"--score {score} cannot be deployed{f' ({why})' if why else ''}; "
                         f"choose one of {', '.join(deployable_names())}")


def fix_detector(run_dir: str | Path, *, score: str | None = None, tpr: float = 0.95,
                 holdout: str | None = None, knn_k: int = 50, device: str | None = "cpu",
                 log=print) -> dict:
    """Fix the threshold of RUN's detector at `tpr` on held-out in-distribution images; write
    RUN/detector.json (and detector_stats.pt); return its contents."""
    run_dir = Path(run_dir)
    if not 0 < tpr <= 1:
        raise UserInputError(f"--tpr {tpr} must be in (0, 1], e.g. 0.95 (95% of in-distribution "
                             "images accepted)")
    if knn_k < 1:
        raise UserInputError(f"--knn-k {knn_k} must be >= 1 (the k-th nearest neighbour)")
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    score = score or default_score(cfg)
    _check_deployable(score)
    scorer = fit_scorers([score], model, cfg, run_dir, dev, options={"knn_k": knn_k},
                         log=lambda *_: None)[score]
    stats = scorer.fitted_state()
    images, described = _holdout(run_dir, cfg, holdout, log)
    module = DetectorModule(model, cfg.mean, cfg.std, scorer.deployed(),
                            input_size=getattr(cfg, "input_size", None)).to(dev)
    _, held_scores, _ = _run_batches(module, np.asarray(images.x), dev, cfg.eval_batch_size)
    # A NaN score (or statistic) makes a NaN threshold, and `score > NaN` flags nothing: refused.
    if not np.isfinite(held_scores).all() or any(
            not bool(torch.isfinite(v).all()) for v in (stats or {}).values()):
        raise UserInputError(
            f"the {score} scores of {run_dir} on the held-out images are NaN or infinite "
            f"({int((~np.isfinite(held_scores)).sum())} of {len(held_scores)}), so no threshold "
            "can be fixed; evaluate the run (`oe eval`) and retrain it if its outputs diverged")
    threshold = threshold_at_tpr(held_scores, tpr)
    info = {
        "format": FORMAT,
        "score": score,
        "threshold": threshold,
        "tpr": tpr,
        "tpr_achieved": float(np.mean(held_scores <= threshold)),
        "holdout": described,
        "n_holdout": int(len(images)),
        "package_version": __version__,
        "run": str(run_dir),
        "model": cfg.model,
        "model_kwargs": cfg.model_kwargs,
        "num_classes": cfg.num_classes,
        "classes": images.classes,
        "image_shape": list(cfg.image_shape),
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "model_sha256": hash_file(run_dir / runs.MODEL),
        "score_settings": scorer.settings(),
        "stats": STATS_FILE if stats else None,
    }
    if stats:
        runs.save_torch(run_dir / STATS_FILE, {k: v.cpu() for k, v in stats.items()})
        # detector.json vouches for the statistics too: load_detector checks this digest.
        info["stats_sha256"] = hash_file(run_dir / STATS_FILE)
    runs.write_json(run_dir / DETECTOR, info)
    return info


def load_detector(run_dir: str | Path, device: str | None = "cpu") -> Detector:
    """The detector `oe detector` fixed for RUN (see the module docstring)."""
    run_dir = Path(run_dir)
    path = run_dir / DETECTOR
    info = read_info(run_dir)  # checked: known score, finite threshold, shape (detector_file.py)
    threshold = float(info["threshold"])
    env = load_environment(run_dir)
    for what, version in (("the detector", info.get("package_version")),
                          ("the run", env.get("outlier_exposure"))):
        if version and _major(version) != _major(__version__):
            raise UserInputError(
                f"{what} in {run_dir} was made with outlier_exposure {version}, this is "
                f"{__version__} (another major version): retrain the run or install "
                f"outlier_exposure {_major(version)}.x")
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    recorded = (info.get("model"), info.get("model_kwargs"), info.get("num_classes"))
    if recorded != (cfg.model, cfg.model_kwargs, cfg.num_classes) or \
            info.get("model_sha256") != hash_file(run_dir / runs.MODEL):
        raise UserInputError(
            f"{path} was fixed for another model ({recorded[0]} {recorded[1]}, "
            f"{recorded[2]} classes, model.pt sha256 {str(info.get('model_sha256'))[:12]}) than "
            f"{run_dir} now holds: rerun `oe detector {run_dir}`")
    scorer = saved_scorer(run_dir, info)
    module = DetectorModule(model, cfg.mean, cfg.std, scorer.deployed(), threshold,
                            input_size=getattr(cfg, "input_size", None))
    return Detector(module, info, dev)
