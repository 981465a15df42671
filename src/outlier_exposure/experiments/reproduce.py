"""`oe reproduce PRESET`: every row of the paper's table from one command.

Runs the stages that are not done yet (baseline, OE fine-tune, optionally OE from scratch, and
the evaluation of each) in an output folder, then prints our numbers beside the reference
numbers, which ship with the package (`reference_results.json`, from docs/protocol.md section 7).
"""

from __future__ import annotations

from pathlib import Path

from ..calibration.metrics import check_mode
from ..calibration.protocol import calibrate_run
from ..training import runs
from ..data.catalog.preflight import fetch_data, require_data
from ..data.datasets import load_images
from ..evaluation.draws import DrawSettings
from ..evaluation.openood import resolve_groups
from ..evaluation.openood_tables import group_value, is_openood
from ..reporting.seeds import aggregate_seeds
from ..training.config import config_from_preset
from ..errors import UserInputError
from .pipeline import run_experiment
from ..training.presets import PRESETS, get_preset
from ..evaluation.formatting import pct, text_table
from ..reporting.reference import preset_reference

# Result keys of run_experiment -> keys of the reference file.
_REFERENCE_ROWS = {"baseline": "baseline", "oe": "oe-tune", "oe-scratch": "oe-scratch"}


def reproducible_presets() -> list[str]:
    """Presets whose data are all named (so `oe reproduce` can run them without flags)."""
    return [name for name, p in PRESETS.items() if p.train and p.test and p.outliers and p.ood]


def reproduce(
    preset: str, out: str | Path, *, scratch: bool = False, device=None, progress: bool = True,
    log=print, overrides: dict | None = None, eval_options: dict | None = None,
    download: bool = False,
) -> dict:
    """Run (or resume) the preset's experiment in `out`; return {stage key: results}: "baseline"
    and "oe" (the paper's presets), "oe-scratch" (OpenOOD's, or with `scratch`).

    `download`: first fetch the registered sets the run reads that are missing (the plan is
    logged; preflight.fetch_data); without it a missing set stops the run before it trains."""
    if preset not in reproducible_presets():
        raise UserInputError(
            f"{preset!r} is not a preset with named data; choose one of: "
            f"{', '.join(reproducible_presets())}"
        )
    p = get_preset(preset)
    stages = tuple(p.stages) + (("oe-scratch",) if scratch and "oe-scratch" not in p.stages
                                else ())
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    # Every registered set the run will read, checked now rather than after the baseline trains.
    cfg = config_from_preset(preset, "baseline", **overrides)
    protocol = (eval_options or {}).get("protocol") or cfg.protocol
    evaluated = (list(overrides.get("ood", p.ood)) if protocol == "paper" else
                 resolve_groups(cfg.test, (eval_options or {}).get("near"),
                                (eval_options or {}).get("far")).specs())
    specs = [overrides.get(k, getattr(p, k)) for k in ("train", "test", "outliers")] + evaluated
    purpose = f"reproducing preset {preset}"
    if download:
        fetch_data(specs, purpose, progress=progress, log=log)
    require_data(specs, purpose, rerun=f"oe reproduce {preset} --download")
    if protocol == "paper":
        _check_draw_size(cfg)
    return run_experiment(preset, out, stages=stages, device=device, progress=progress, log=log,
                          baseline_overrides=overrides, tune_overrides=overrides,
                          scratch_overrides=overrides, eval_options=eval_options)


def seed_folder(out: str | Path, seed: int) -> Path:
    """Where `--seeds` puts the run of one training seed: OUT/s0, OUT/s1, ... (as OpenOOD)."""
    return Path(out) / f"s{seed}"


def reproduce_seeds(preset: str, out: str | Path, seeds: int, *, overrides: dict | None = None,
                    log=print, **options) -> tuple[list[dict], dict]:
    """The experiment once per training seed 0 .. seeds-1 (OUT/s0, OUT/s1, ...), then the mean and
    std over the seeds per stage: ([results of each seed], {stage key: aggregate}); writes
    OUT/seeds.json. The std is over training seeds (reporting/seeds.py), apart from any std over
    OOD draws."""
    if seeds < 1:
        raise UserInputError(f"--seeds {seeds}: give the number of training seeds, >= 1 (OpenOOD "
                             "reports 3)")
    per_seed = []
    for seed in range(seeds):
        log(f"== training seed {seed} of {seeds}: {seed_folder(out, seed)}")
        per_seed.append(reproduce(preset, seed_folder(out, seed), log=log,
                                  overrides={**(overrides or {}), "seed": seed}, **options))
    aggregates = {stage: aggregate_seeds([found[stage] for found in per_seed])
                  for stage in per_seed[0]}
    runs.write_json(Path(out) / "seeds.json", aggregates)
    return per_seed, aggregates


def _check_draw_size(cfg) -> None:
    """A test set too small for one OOD draw is refused now, not after the stages have trained."""
    test = load_images(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set")
    DrawSettings(draw_size=cfg.ood_draw_size).per_draw(
        len(test), f"the test set {cfg.test} has {len(test)} images")


def openood_comparison_with_reference(preset: str, results: dict) -> str:
    """Ours beside OpenOOD v1.5's leaderboard: near/far AUROC and ID accuracy per stage (the
    leaderboard's MSP row beside our baseline, its OE row beside our OE), then per set."""
    reference = preset_reference(preset)
    header = ["stage", "ID acc", "ref", "near AUROC", "ref", "far AUROC", "ref",
              "near FPR@95", "far FPR@95"]
    rows = []
    for key, ours in results.items():
        ref = reference.get(_REFERENCE_ROWS.get(key, key), {})
        rows.append([key, pct(1.0 - ours["test_error"]), pct(ref.get("accuracy")),
                     pct(group_value(ours, "near", "auroc")), pct(ref.get("near_auroc")),
                     pct(group_value(ours, "far", "auroc")), pct(ref.get("far_auroc")),
                     pct(group_value(ours, "near", "fpr")), pct(group_value(ours, "far", "fpr"))])
    text = text_table(header, rows)
    first = next(iter(results.values()))
    per_set = [[name, r.get("group", "")] + [pct(results[k]["ood"].get(name, {}).get("auroc"))
                                             for k in results]
               for name, r in first["ood"].items()]
    text += "\n" + text_table(["OOD set", "group"] + [f"AUROC {k}" for k in results], per_set)
    source = reference.get("_source")
    text += ("\n" + (f"ref: {source}" if source else
                      "(no leaderboard numbers for this preset)") + "\n")
    return text


def comparison_with_reference(preset: str, results: dict) -> str:
    """Ours beside the paper's numbers: the mean row and test error per stage, then per set."""
    first = next(iter(results.values()))
    if is_openood(first):
        return openood_comparison_with_reference(preset, results)
    reference = preset_reference(preset)
    fpr = f"FPR{round(100 * first.get('recall_level', 0.95))}"  # FPR90 for the NLP rows
    header = ["stage", "test err", "ref", fpr, "ref", "AUROC", "ref", "AUPR", "ref"]
    rows = []
    for key, ours in results.items():
        ref = reference.get(_REFERENCE_ROWS.get(key, key), {})
        mean = ours["mean"]
        rows.append([key, pct(ours["test_error"]), pct(ref.get("test_error")),
                     pct(mean["fpr"]), pct(ref.get("fpr")), pct(mean["auroc"]),
                     pct(ref.get("auroc")), pct(mean["aupr"]), pct(ref.get("aupr"))])
    text = text_table(header, rows)
    per_set_header = ["OOD set"] + [f"{fpr} {k}" for k in results] + [f"ref {k}" for k in results]
    per_set_rows = []
    for name, row in first["ood"].items():
        spec = row.get("spec", name)
        ours = [pct(results[k]["ood"].get(name, {}).get("fpr")) for k in results]
        refs = [pct(reference.get(_REFERENCE_ROWS.get(k, k), {}).get("ood", {})
                     .get(spec, {}).get("fpr")) for k in results]
        per_set_rows.append([name] + ours + refs)
    text += "\n" + text_table(per_set_header, per_set_rows)
    if not reference:
        text += ("\n(no reference numbers for this preset: it is not an experiment of the paper, "
                 "or, for the NLP rows, its numbers are not in reference_results.json)\n")
    return text


CALIBRATION_DIR = "calibration"
_CALIBRATION_METRICS = ("rms", "mad", "soft_f1")
# What each binning mode means beside the paper's numbers (which the reference mode reproduces).
_MODE_NOTES = {"reference": "top bin skipped, as the authors' code: like for like with the paper",
               "corrected": "every bin counted: not the paper's binning"}


def reproduce_calibration(
    preset: str, out: str | Path, *, device=None, progress: bool = True, log=print,
    overrides: dict | None = None, mode: str | None = None,
) -> dict:
    """The calibration rows: a baseline and its OE fine-tune trained with the reference's
    held-out split (its `-c` variant), temperature-tuned on it, then the calibration protocol.

    `mode` is the RMS / MAD binning (calibration/metrics.py MODES); None takes the preset's
    `calibration_mode`: "reference" (the top bin skipped, as the code behind the paper's numbers)
    for the paper's presets, so that the comparison is like for like.
    Runs in OUT/calibration/{baseline,oe}; returns {"baseline": C, "oe": C} (calibration results,
    see `calibration.protocol.calibrate_run`, each recording its "mode") and writes
    OUT/calibration/calibration.json.
    """
    mode = mode or get_preset(preset).calibration_mode
    check_mode(mode, "--calibration-mode")
    cal_out = Path(out) / CALIBRATION_DIR
    held = {"calibration_holdout": get_preset(preset).calibration_holdout}
    overrides = {**{k: v for k, v in (overrides or {}).items() if v is not None}, **held}
    run_experiment(preset, cal_out, stages=("baseline", "oe-tune"), device=device,
                   progress=progress, log=log, baseline_overrides=overrides,
                   tune_overrides=overrides)
    results = {key: calibrate_run(cal_out / key, mode=mode, device=device)
               for key in ("baseline", "oe")}
    runs.write_json(cal_out / "calibration.json", results)
    return results


def calibration_with_reference(preset: str, results: dict) -> str:
    """RMS / MAD calibration error and soft F1 (mean over the OOD mixtures) beside the paper's."""
    reference = preset_reference(preset).get("calibration", {})
    header = ["stage", "T"] + [x for m in _CALIBRATION_METRICS for x in (m, "ref")]
    rows = []
    for key, ours in results.items():
        ref = reference.get(_REFERENCE_ROWS.get(key, key), {})
        row = [key, f"{ours['temperature']['value']:.3f}"]
        for m in _CALIBRATION_METRICS:
            row += [pct(ours["mean"][m]), pct(ref.get(m))]
        rows.append(row)
    mode = next(iter(results.values()))["mode"]
    return (f"Calibration (mean over OOD mixtures at 1:5, temperature-tuned), binning: {mode} "
            f"mode ({_MODE_NOTES.get(mode, '')}):\n" + text_table(header, rows))
