"""One text preset end to end: baseline -> OE fine-tune [-> OE from scratch] -> evaluation.

The text counterpart of `pipeline.run_experiment`, behind `oe reproduce sst|trec|20ng|offline-sst|
lm|offline-lm`. Stages live in OUT/baseline, OUT/oe (fine-tuned from OUT/baseline) and, when
asked, OUT/oe-scratch; a finished stage is reused, an interrupted one resumed
(`pipeline.run_stage`), and a stage's evaluation is reused while its results are newer than its
model, cover the same OOD sets and every default set skipped then is still missing. Classifier
presets train with `text.train.train_text_run`, language-model presets (task "lm") with
`text.lm.train_lm_run`; `text.evaluate.evaluate_text_run` evaluates both (MSP for a classifier, the mean
-H(U; p_t) over a 70-token sequence for an LM; FPR90, 1:5, 10 draws).

Before anything trains, the training, test and outlier sets are looked up (not read), so a
missing set fails in a second with the registry's message on how to get it, not after the
baseline has trained for an hour.

Writes OUT/results.json = {"baseline": R, "oe": R[, "oe-scratch": R]} and OUT/results.md (the
runs side by side).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..training import runs
from ..errors import UserInputError
from .pipeline import run_stage
from ..evaluation.results import Results, comparison_text
from ..text.config import TEXT_RECIPES, get_text_preset, text_config_from_preset, text_tune_config
from ..text.lm import train_lm_run
from ..text.train import train_text_run
from ..text.evaluate import evaluate_text_run
from ..text.sets import check_text_available

# stage -> (folder under OUT, key in results.json, label in results.md)
STAGES = {"baseline": ("baseline", "baseline", "baseline"), "oe-tune": ("oe", "oe", "OE"),
          "oe-scratch": ("oe-scratch", "oe-scratch", "OE scratch")}


def run_text_experiment(preset: str, out: str | Path, *, data_root: str | Path | None = None,
                        device: str = "auto", progress: bool = True, log=print,
                        scratch: bool = False, ood: list[str] | None = None,
                        threads: int | None = 1, **overrides) -> dict:
    """Train (or reuse) each stage of text preset `preset` in `out`, evaluate each, write
    OUT/results.json; return {"baseline": R, "oe": R[, "oe-scratch": R]}.

    `overrides` (non-None values win; e.g. epochs=1, outliers="wikitext2:valid") apply to every
    stage. `ood`: evaluate on these sets instead of the preset's (each must exist). `threads`:
    PyTorch CPU threads while it runs (restored after); one by default, since the recurrent
    models' small matrices gain nothing from a second thread and a busy 2-core machine made a
    GRU step 5x slower with two (51 ms vs 241 ms for a batch of 64 x 25 tokens). None: leave it.
    """
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(preset, Path(out), None if data_root is None else str(data_root), device,
                    progress, log, scratch, list(ood) if ood else None,
                    {k: v for k, v in overrides.items() if v is not None})
    finally:
        torch.set_num_threads(saved)


def _train_fn(task: str):
    return train_lm_run if task == "lm" else train_text_run


def _check_inputs(preset, out: Path, stages: list[str], root, overrides: dict) -> None:
    """The sets the unfinished stages will read must be on disk (OOD sets may be skipped)."""
    pending = [s for s in stages if not (out / STAGES[s][0] / runs.MODEL).exists()]
    if not pending:
        return
    wanted = [(overrides.get("train", preset.train), "train"),
              (overrides.get("test", preset.test), "test")]
    if any(s != "baseline" for s in pending):
        wanted.append((overrides.get("outliers", preset.outliers), "outliers"))
    for spec, role in wanted:
        check_text_available(spec, role=role, data_root=root)


def _run(name: str, out: Path, root, device, progress: bool, log, scratch: bool, ood, overrides
         ) -> dict:
    preset = get_text_preset(name)
    stages = ["baseline", "oe-tune"] + (["oe-scratch"] if scratch else [])
    _check_inputs(preset, out, stages, root, overrides)
    base_dir = out / STAGES["baseline"][0]
    factories = {
        "baseline": lambda: text_config_from_preset(name, "baseline", data_root=root,
                                                    **overrides),
        "oe-tune": lambda: text_tune_config(base_dir, data_root=root, **overrides),
        "oe-scratch": lambda: text_config_from_preset(name, "oe-scratch", data_root=root,
                                                      **overrides),
    }
    log(f"{name}: {preset.description}")
    train_fn = _train_fn(preset.task)
    for stage in stages:  # in this order: the fine-tune starts from the baseline
        run_stage(factories[stage], out / STAGES[stage][0], device, progress, log,
                  train_fn=train_fn)
    results = {STAGES[s][1]: _evaluate(out / STAGES[s][0], ood, device, root, log, progress)
               for s in stages}
    runs.write_json(out / "results.json", results)
    runs.write_text(out / "results.md", comparison_text(
        {STAGES[s][2]: results[STAGES[s][1]] for s in stages}, markdown=True))
    return results


def _still_missing(spec: str, root) -> bool:
    try:
        check_text_available(spec, role="ood", data_root=root)
    except UserInputError:
        return True
    return False


def _evaluate(run_dir: Path, ood, device, root, log, progress: bool = False) -> dict:
    """The run's results: reused when still valid (see the module docstring), else computed."""
    path, model = run_dir / "results.json", run_dir / runs.MODEL
    if path.exists() and path.stat().st_mtime >= model.stat().st_mtime:
        previous = Results.reusable(path)
        wanted = ood or json.loads((run_dir / runs.CONFIG).read_text())["ood"]
        covered = [r.get("spec") for r in previous.get("ood", {}).values()]
        skipped = list(previous.get("skipped", {}))
        if (sorted(covered + skipped) == sorted(wanted)
                and not (ood and skipped)
                and all(_still_missing(spec, root) for spec in skipped)):
            log(f"[{run_dir.name}] already evaluated; reusing {path}")
            return previous
    return evaluate_text_run(run_dir, ood, device=device, data_root=root, log=log,
                             progress=progress)


# `offline-sst`: `offline-sst`: baseline vs OE for the reference SST classifier, over the offline shared data.
#
# In-distribution SST binary (train 6920 / test 1821 sentences, the offline TSV, lower-cased at
# the source); OE on WikiText-2 sentences made from the *valid* split (the train split is not
# offline; the reference uses train); OOD: SNLI test hypotheses, IMDB test reviews, Multi30K train
# captions, Yelp (Shen et al. sentences, test), EWT (UD dev+test raw sentences: dev) - WMT16 is not
# offline and is skipped. Reference recipe at full scale (5 + 5 epochs, Adam 0.01, batch 64,
# lambda 1.0), FPR90, 10 draws at 1:5. The stages run as every text preset's do
# (`run_text_experiment`).
def run_offline_sst(out: str | Path, data_root: str | Path | None = None, device: str = "auto",
                    progress: bool = True, log=print, threads: int | None = 1,
                    **overrides) -> dict:
    """Train OUT/baseline and OUT/oe, evaluate both, write OUT/results.json ({"baseline": R,
    "oe": R}) and OUT/results.md; `overrides` (e.g. epochs=1) apply to both runs; `threads`:
    PyTorch CPU threads while it runs (see `run_text_experiment`)."""
    return run_text_experiment("offline-sst", out, data_root=data_root, device=device,
                               progress=progress, log=log, threads=threads, **overrides)


def _preset_runner(preset: str):
    def run(out, **options) -> dict:
        return run_text_experiment(preset, out, **options)

    run.__name__ = f"run_{preset.replace('-', '_')}"
    run.__doc__ = (f"`oe reproduce {preset}`: {TEXT_RECIPES[preset].description}; "
                   "options as `run_text_experiment`.")
    return run


# Runnable presets, wired to `oe reproduce`: name -> function(out, *, data_root=, device=,
# progress=, scratch=, ood=, **overrides) -> {"baseline": R, "oe": R}.
TEXT_PRESETS = {name: run_offline_sst if name == "offline-sst" else _preset_runner(name)
                for name in TEXT_RECIPES}
