"""`oe reproduce PRESET`: every row of the paper's table from one command.

Runs the stages that are not done yet (baseline, OE fine-tune, optionally OE from scratch, and
the evaluation of each) in an output folder, then prints our numbers beside the reference
numbers, which ship with the package (`reference_results.json`, from PROTOCOL.md section 7).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .errors import UserInputError
from .pipeline import run_experiment
from .presets import PRESETS
from .tables import text_table

# Result keys of run_experiment -> keys of the reference file.
_REFERENCE_ROWS = {"baseline": "baseline", "oe": "oe-tune", "oe-scratch": "oe-scratch"}


def reference_results() -> dict:
    text = resources.files(__package__).joinpath("reference_results.json").read_text()
    return json.loads(text)


def reference_for(preset: str) -> dict:
    return reference_results().get(preset, {})


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
    return run_experiment(preset, out, stages=stages, device=device, progress=progress, log=log,
                          baseline_overrides=overrides, tune_overrides=overrides,
                          scratch_overrides=overrides, eval_options=eval_options)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def comparison_with_reference(preset: str, results: dict) -> str:
    """Ours beside the paper's numbers: the mean row and test error per stage, then per set."""
    reference = reference_for(preset)
    header = ["stage", "test err", "ref", "FPR95", "ref", "AUROC", "ref", "AUPR", "ref"]
    rows = []
    for key, ours in results.items():
        ref = reference.get(_REFERENCE_ROWS.get(key, key), {})
        mean = ours["mean"]
        rows.append([key, _pct(ours["test_error"]), _pct(ref.get("test_error")),
                     _pct(mean["fpr"]), _pct(ref.get("fpr")), _pct(mean["auroc"]),
                     _pct(ref.get("auroc")), _pct(mean["aupr"]), _pct(ref.get("aupr"))])
    text = text_table(header, rows)
    per_set_header = ["OOD set"] + [f"FPR95 {k}" for k in results] + [f"ref {k}" for k in results]
    per_set_rows = []
    first = next(iter(results.values()))
    for name, row in first["ood"].items():
        spec = row.get("spec", name)
        ours = [_pct(results[k]["ood"].get(name, {}).get("fpr")) for k in results]
        refs = [_pct(reference.get(_REFERENCE_ROWS.get(k, k), {}).get("ood", {})
                     .get(spec, {}).get("fpr")) for k in results]
        per_set_rows.append([name] + ours + refs)
    text += "\n" + text_table(per_set_header, per_set_rows)
    if not reference:
        text += "\n(no reference numbers for this preset: it is not an experiment of the paper)\n"
    return text
