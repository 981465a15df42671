"""Baseline -> OE fine-tune -> evaluation of both, skipping the stages already done.

Used by `oe quickstart` (and by presets that reproduce an experiment): a stage whose run folder
holds a finished model is reused, an interrupted one is resumed, a missing one is started.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..training import runs
from ..training.config import config_from_preset, tune_config
from ..errors import UserInputError
from ..evaluation.evaluate import evaluate_one, run_protocol_name
from ..evaluation.openood import resolve_groups
from ..evaluation.results import Results, comparison_text
from ..training.loop import train_run


def run_stage(cfg_factory, run_dir: Path, device, progress: bool, log,
              train_fn=train_run) -> None:
    """Reuse a finished run, resume an interrupted one, else start it with `cfg_factory()`.

    `train_fn(cfg, run_dir, resume=, device=, progress=)` trains (images by default; the text
    pipeline passes its own)."""
    if (run_dir / runs.MODEL).exists():
        log(f"[{run_dir.name}] already trained; reusing {run_dir}")
        return
    started = time.perf_counter()
    if (run_dir / runs.CONFIG).exists():
        log(f"[{run_dir.name}] resuming {run_dir}")
        train_fn(None, run_dir, resume=True, device=device, progress=progress)
    else:
        train_fn(cfg_factory(), run_dir, device=device, progress=progress)
    log(f"[{run_dir.name}] trained in {time.perf_counter() - started:.1f} s")


STAGE_DIRS = {"baseline": "baseline", "oe-tune": "oe", "oe-scratch": "oe-scratch"}
RESULT_KEYS = {"baseline": "baseline", "oe-tune": "oe", "oe-scratch": "oe-scratch"}


def _evaluate_stage(run_dir: Path, device, eval_options: dict, log,
                    progress: bool = False) -> dict:
    """Evaluate a run, or reuse its results when they are newer than its model and match."""
    results_path, model_path = run_dir / "results.json", run_dir / runs.MODEL
    cfg = runs.load_config(run_dir)
    protocol = run_protocol_name(run_dir, eval_options.get("protocol"))
    if protocol == "paper":
        wanted_ood = eval_options.get("ood") or cfg.ood
    else:
        wanted_ood = resolve_groups(cfg.test, eval_options.get("near"),
                                    eval_options.get("far")).specs()
    if results_path.exists() and results_path.stat().st_mtime >= model_path.stat().st_mtime:
        previous = Results.reusable(results_path)
        same_protocol = (previous.get("protocol") or "paper") == protocol
        same_sets = [r.get("spec") for r in previous.get("ood", {}).values()] == list(wanted_ood)
        same_options = all(previous.get(k) == v for k, v in eval_options.items()
                           if k not in ("ood", "near", "far", "protocol"))
        if same_protocol and same_sets and same_options:
            log(f"[{run_dir.name}] already evaluated; reusing {results_path}")
            return previous
    return evaluate_one(run_dir, device=device, progress=progress, **eval_options)


def run_experiment(
    preset: str, out: str | Path, *, stages=("baseline", "oe-tune"), device=None,
    progress: bool = True, log=print, baseline_overrides: dict | None = None,
    tune_overrides: dict | None = None, scratch_overrides: dict | None = None,
    eval_options: dict | None = None,
) -> dict:
    """Train (or reuse) each stage's run in OUT, evaluate each, write OUT/results.json.

    Stages: "baseline" (OUT/baseline), "oe-tune" (OUT/oe, from the baseline) and "oe-scratch"
    (OUT/oe-scratch). Results: {"baseline": R, "oe": R, "oe-scratch": R} for the stages run.
    """
    out = Path(out)
    unknown = set(stages) - set(STAGE_DIRS)
    if unknown:
        raise UserInputError(f"unknown stage(s) {sorted(unknown)}; stages: {', '.join(STAGE_DIRS)}")
    base_dir = out / STAGE_DIRS["baseline"]
    if "oe-tune" in stages and "baseline" not in stages and not (base_dir / runs.MODEL).exists():
        raise UserInputError(f"the OE fine-tune needs a trained baseline in {base_dir}")
    factories = {
        "baseline": lambda: config_from_preset(preset, "baseline", **(baseline_overrides or {})),
        "oe-tune": lambda: tune_config(base_dir, **(tune_overrides or {})),
        "oe-scratch": lambda: config_from_preset(preset, "oe-scratch",
                                                 **(scratch_overrides or {})),
    }
    results = {}
    for stage in STAGE_DIRS:  # in this order: the fine-tune needs the baseline
        if stage in stages:
            run_stage(factories[stage], out / STAGE_DIRS[stage], device, progress, log)
    for stage in STAGE_DIRS:
        if stage in stages:
            results[RESULT_KEYS[stage]] = _evaluate_stage(out / STAGE_DIRS[stage], device,
                                                          dict(eval_options or {}), log, progress)
    runs.write_json(out / "results.json", results)
    runs.write_text(out / "results.md", comparison_text(
        {key: r for key, r in results.items()}, markdown=True))
    return results


def baseline_then_oe(preset: str, out: str | Path, **options) -> dict:
    """Baseline, then its OE fine-tune, both evaluated: OUT/results.json = {"baseline", "oe"}."""
    return run_experiment(preset, out, stages=("baseline", "oe-tune"), **options)
