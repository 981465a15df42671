"""Reading RUN/detector.json and RUN/detector_stats.pt back, checked (detector.py writes them).

Both are data a user may damage or edit. `read_info` checks every field `load_detector` and
`oe score` / `oe export` rely on: a known, deployable score; a finite threshold (a NaN threshold
flags nothing, an infinite one everything or nothing); the TPR; the image shape; the classes.
`saved_scorer` rebuilds the fitted score from its settings and the statistics file, whose
sha256 detector.json records ("stats_sha256"): a statistics file changed or swapped after the
threshold was fixed is refused like a changed model.pt. Detector files written before that
field existed are read without the check.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..data.storage.download import hash_file
from ..errors import UserInputError
from ..training.records import is_int, is_number
from ..evaluation.posthoc import SCORERS, Scorer, deployable_names, make_scorer
from ..training import runs

DETECTOR, STATS_FILE = "detector.json", "detector_stats.pt"
FORMAT = 1


def _fix(run_dir: Path) -> str:
    return f"fix the threshold again with `oe detector {run_dir}`"


def read_info(run_dir: Path) -> dict:
    """The checked contents of RUN/detector.json."""
    path = run_dir / DETECTOR
    if not path.exists():
        raise UserInputError(f"{run_dir} has no {DETECTOR}: fix its threshold first with "
                             f"`oe detector {run_dir}`")
    info = runs.read_json(path, _fix(run_dir))

    def refuse(what: str) -> UserInputError:
        return UserInputError(f"{path}: {what}; the file is damaged or was edited: "
                              f"{_fix(run_dir)}")

    if not isinstance(info, dict):
        raise refuse(f"it holds a JSON {type(info).__name__}, not a detector record")
    version = info.get("format", FORMAT)
    if not is_int(version) or version > FORMAT:
        raise refuse(f"format {version!r} is not one this version reads (<= {FORMAT})")
    score = info.get("score")
    if not isinstance(score, str) or score not in SCORERS:
        raise refuse(f"score {score!r} is not a known score ({', '.join(deployable_names())})")
    if SCORERS[score].not_deployable_because:
        raise refuse(f"score {score!r} cannot be deployed")
    threshold = info.get("threshold")
    if not is_number(threshold) or not math.isfinite(threshold):
        raise refuse(f"threshold {threshold!r} is not a finite number")
    tpr = info.get("tpr")
    if not is_number(tpr) or not 0 < tpr <= 1:
        raise refuse(f"tpr {tpr!r} is not a fraction in (0, 1]")
    shape = info.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and
            all(is_int(s) and 1 <= s <= 100_000 for s in shape)):
        raise refuse(f"image_shape {shape!r} is not [height, width, channels]")
    classes = info.get("classes")
    if classes is not None and not (isinstance(classes, list) and
                                    all(isinstance(c, str) for c in classes)):
        raise refuse("classes is not a list of class names")
    settings = info.get("score_settings")
    if settings is not None and not isinstance(settings, dict):
        raise refuse(f"score_settings {settings!r} is not an object")
    return info


def saved_scorer(run_dir: Path, info: dict) -> Scorer:
    """The fitted scorer of a detector file: its settings, and its tensors from STATS_FILE
    (checked against the sha256 detector.json recorded for it)."""
    path = run_dir / DETECTOR
    score = info["score"]
    settings = info.get("score_settings")
    if settings is None:
        # Files of before the scorer registry kept knn's one setting, k, at the top level.
        settings = {"k": info["k"]} if info.get("k") else {}
    try:
        scorer = make_scorer(score, **settings)
    except (TypeError, ValueError) as exc:  # settings the score does not take, or bad values
        raise UserInputError(f"{path}: score_settings {settings!r} do not fit score {score} "
                             f"({exc}); {_fix(run_dir)}") from None
    if not scorer.fitted:
        return scorer
    stats = run_dir / STATS_FILE
    if not stats.exists():
        raise UserInputError(f"{run_dir} has no {STATS_FILE}, which the {score} detector needs; "
                             f"{_fix(run_dir)}")
    recorded = info.get("stats_sha256")
    if recorded is not None and recorded != hash_file(stats):
        raise UserInputError(f"{stats} is not the file {DETECTOR} was fixed with (its sha256 "
                             f"differs from the recorded {str(recorded)[:12]}); {_fix(run_dir)}")
    state = runs.load_torch(stats)
    if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise UserInputError(f"{stats} is not a dict of tensors; {_fix(run_dir)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UserInputError(f"{stats}: {bad[0]!r} holds NaN or infinite values; "
                             f"{_fix(run_dir)}")
    try:
        return scorer.load_fitted_state(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{stats} does not hold the {score} statistics ({exc}); "
                             f"{_fix(run_dir)}") from None
