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
from ..data.catalog.preflight import require_data
from ..data.datasets import load_images
from ..evaluation.draws import DrawSettings
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
) -> dict:
    """Run (or resume) the preset's experiment in `out`; return {"baseline", "oe"[, "oe-scratch"]}."""
    if preset not in reproducible_presets():
        raise UserInputError(
            f"{preset!r} is not a preset with named data; choose one of: "
            f"{', '.join(reproducible_presets())}"
        )
    stages = ("baseline", "oe-tune") + (("oe-scratch",) if scratch else ())
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    # Every registered set the run will read, checked now rather than after the baseline trains.
    p = get_preset(preset)
    require_data([overrides.get(k, getattr(p, k)) for k in ("train", "test", "outliers")]
                 + list(overrides.get("ood", p.ood)), f"reproducing preset {preset}")
    _check_draw_size(config_from_preset(preset, "baseline", **overrides))
    return run_experiment(preset, out, stages=stages, device=device, progress=progress, log=log,
                          baseline_overrides=overrides, tune_overrides=overrides,
                          scratch_overrides=overrides, eval_options=eval_options)


def _check_draw_size(cfg) -> None:
    """A test set too small for one OOD draw is refused now, not after the stages have trained."""
    test = load_images(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set")
    DrawSettings(draw_size=cfg.ood_draw_size).per_draw(
        len(test), f"the test set {cfg.test} has {len(test)} images")


def comparison_with_reference(preset: str, results: dict) -> str:
    """Ours beside the paper's numbers: the mean row and test error per stage, then per set."""
    reference = preset_reference(preset)
    first = next(iter(results.values()))
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
