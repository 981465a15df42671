"""Baseline -> OE fine-tune -> evaluation of both, skipping the stages already done.

Used by `oe quickstart` (and by presets that reproduce an experiment): a stage whose run folder
holds a finished model is reused, an interrupted one is resumed, a missing one is started.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import runs
from .config import RunConfig, config_from_preset
from .evaluate import evaluate_run
from .tables import comparison_text
from .train import train_run


def tune_config(baseline_dir: Path, **overrides) -> RunConfig:
    """The OE fine-tune of a baseline run: its data, model and input format; the preset's tune recipe."""
    base = runs.load_config(baseline_dir)
    inherited = dict(
        train=base.train, test=base.test, model=base.model, model_kwargs=base.model_kwargs,
        image_shape=base.image_shape, mean=base.mean, std=base.std,
        crop_padding=base.crop_padding, flip=base.flip, batch_size=base.batch_size,
        weight_decay=base.weight_decay, ood=base.ood, seed=base.seed,
        eval_batch_size=base.eval_batch_size,
    )
    inherited.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_preset(base.preset, "oe-tune", init_from=str(baseline_dir), **inherited)


def _run_stage(cfg_factory, run_dir: Path, device, progress: bool, log) -> None:
    if (run_dir / runs.MODEL).exists():
        log(f"[{run_dir.name}] already trained; reusing {run_dir}")
        return
    started = time.perf_counter()
    if (run_dir / runs.CONFIG).exists():
        log(f"[{run_dir.name}] resuming {run_dir}")
        train_run(runs.load_config(run_dir), run_dir, resume=True, device=device,
                  progress=progress)
    else:
        train_run(cfg_factory(), run_dir, device=device, progress=progress)
    log(f"[{run_dir.name}] trained in {time.perf_counter() - started:.1f} s")


def baseline_then_oe(
    preset: str, out: str | Path, *, device=None, progress: bool = True, log=print,
    baseline_overrides: dict | None = None, tune_overrides: dict | None = None,
    eval_options: dict | None = None,
) -> dict:
    """Train (or reuse) OUT/baseline and OUT/oe, evaluate both, write OUT/results.json."""
    out = Path(out)
    base_dir, oe_dir = out / "baseline", out / "oe"
    _run_stage(lambda: config_from_preset(preset, "baseline", **(baseline_overrides or {})),
               base_dir, device, progress, log)
    _run_stage(lambda: tune_config(base_dir, **(tune_overrides or {})), oe_dir, device,
               progress, log)
    results = {
        "baseline": evaluate_run(base_dir, device=device, **(eval_options or {})),
        "oe": evaluate_run(oe_dir, device=device, **(eval_options or {})),
    }
    runs.write_json(out / "results.json", results)
    runs.write_text(out / "results.md", comparison_text(
        {"baseline": results["baseline"], "OE": results["oe"]}, markdown=True))
    return results
