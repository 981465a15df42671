"""The paper's numbers (docs/protocol.md section 7), matched to a run by its preset and mode.

`reference_results.json` (package data) holds fractions:
``{preset: {mode: {"test_error", "fpr", "auroc", "aupr", "ood": {set: {"fpr": ...}}}}}``;
keys starting with "_" are notes. The paper's numbers were measured with the reference protocol
(`REFERENCE_PROTOCOL`) and averaged over the paper's own OOD sets, so a comparison is
like-for-like only when a run shares both; `protocol_differences` and `set_coverage` say where
it does not.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

# The evaluation settings behind every number of the paper's tables.
REFERENCE_PROTOCOL = {"score": "msp", "positive": "ood", "rule": "closest", "recall_level": 0.95,
                      "draws": 10, "ratio": 5}


@lru_cache(maxsize=1)
def load_reference() -> dict:
    """The packaged reference numbers ({} if the file is missing from an unusual install)."""
    try:
        text = resources.files(__package__).joinpath("reference_results.json").read_text()
    except (FileNotFoundError, OSError):
        return {}
    return json.loads(text)


def preset_reference(preset: str | None) -> dict:
    """Everything the paper reports for `preset`: {mode: row, "calibration": {mode: row}}."""
    row = load_reference().get(preset or "", {})
    return row if isinstance(row, dict) else {}


def reference_for(preset: str | None, mode: str | None) -> dict | None:
    """The paper's row for a run of `preset` trained in `mode`, or None when it has none."""
    row = preset_reference(preset)
    entry = row.get(mode or "") if isinstance(row, dict) else None
    if not isinstance(entry, dict) or "fpr" not in entry:
        return None
    return entry


def calibration_reference_for(preset: str | None, mode: str | None) -> dict | None:
    entry = preset_reference(preset).get("calibration", {}).get(mode or "")
    return entry if isinstance(entry, dict) else None


def _forms(name: str) -> set[str]:
    """Spellings of one OOD set: 'noise:gaussian' ~ 'gaussian', 'svhn:test' ~ 'svhn' ~ 'SVHN'."""
    name = name.lower()
    forms = {name, name.split(":", 1)[-1] if name.startswith("noise:") else name.split(":", 1)[0]}
    return {re.sub(r"[^a-z0-9]", "", f) for f in forms} - {""}


def match_set(reference_sets: dict, name: str, spec: str | None = None) -> dict | None:
    """The paper's entry for our OOD set `name` (made from `spec`), or None."""
    ours = _forms(name) | (_forms(spec) if spec else set())
    for key, value in reference_sets.items():
        if not key.startswith("_") and _forms(key) & ours:
            return value
    return None


def protocol_differences(results: dict) -> list[str]:
    """The evaluation settings of `results` that differ from the paper's, as 'key X (paper Y)'."""
    return [f"{key} {results.get(key)} (paper {value})"
            for key, value in REFERENCE_PROTOCOL.items() if results.get(key) != value]


def set_coverage(reference: dict, results: dict) -> str | None:
    """A note when the paper's mean and ours cover different OOD sets (None when they match)."""
    ours = results.get("ood", {})
    paper = [k for k in reference.get("ood", {}) if not k.startswith("_")]
    if not paper:
        return ("the paper's mean is over its own OOD sets (docs/protocol.md section 4); this run's "
                "mean is over the sets listed in its settings")
    missing = [k for k in paper if not any(
        match_set({k: 1}, name, r.get("spec")) for name, r in ours.items())]
    extra = [name for name, r in ours.items() if match_set(reference["ood"], name, r.get("spec"))
             is None]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"the paper's mean also covers {', '.join(missing)}")
    if extra:
        parts.append(f"this run's covers {', '.join(extra)}, which the paper's does not")
    return "; ".join(parts) + ": compare the means with care, and the sets one by one"
