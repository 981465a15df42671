"""The small public API: train, fine-tune and evaluate in three calls."""

from __future__ import annotations

from pathlib import Path

from ..training.config import config_from_preset, tune_config
from ..evaluation.evaluate import evaluate_one
from ..training.loop import train_run


def train(out: str | Path, preset: str = "quickstart", *, outliers: str | None = None,
          device: str = "auto", progress: bool = True, **overrides) -> Path:
    """Train a baseline (or OE from scratch when `outliers` is a spec) into the run folder `out`."""
    mode = "oe-scratch" if outliers else "baseline"
    cfg = config_from_preset(preset, mode, outliers=outliers, **overrides)
    return train_run(cfg, out, device=device, progress=progress)


def finetune(baseline: str | Path, out: str | Path, *, outliers: str | None = None,
             device: str = "auto", progress: bool = True, **overrides) -> Path:
    """Fine-tune the baseline run with Outlier Exposure into the run folder `out`."""
    cfg = tune_config(Path(baseline), outliers=outliers, **overrides)
    return train_run(cfg, out, device=device, progress=progress)


def evaluate(run: str | Path, ood: list[str] | None = None, **options) -> dict:
    """OOD detection of a trained run: the run's own protocol unless `protocol="paper"` or
    `"openood"` says which (see `evaluation.evaluate.evaluate`); `ood`: the paper protocol's sets."""
    return evaluate_one(run, ood=ood, **options)
