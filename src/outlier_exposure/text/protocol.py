"""What text runs add to the shared OOD protocol (`evaluation.draws.run_protocol`): reading the
OOD text sets, skipping a default set that is not under the data root, and the text record.

A default OOD set (the preset's list) that is not under the data root is skipped, and said so in
`results["skipped"]`; an OOD set named with --ood must exist. Used by the classifier evaluation
(`evaluate.py`) and the language-model one (`lm.evaluate_lm`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import UserInputError
from ..evaluation.draws import DrawSettings, OODSet, ScoreOutcome, run_protocol
from ..evaluation.results import Results, write_results
from ..training import runs
from ..training.progress import each
from .config import TextConfig
from .sets import TextSet, load_text

DEFAULT_RECALL = 0.90  # the reference's NLP setting: FPR90

# An OOD text set -> (how many units it holds, chosen unit indices -> their anomaly scores).
# The units are texts for a classifier, token sequences for a language model.
Units = Callable[[TextSet], tuple[int, Callable[[np.ndarray], np.ndarray]]]


def _text_sets(specs: list[str], *, score: str, units: Units, explicit: bool, data_root,
               skipped: dict, log, progress: bool = False) -> Iterator[OODSet]:
    """The OOD sets that can be read, each read when the protocol reaches it; a missing
    default set goes into `skipped` (spec -> reason) instead. `progress`: a bar counting the
    sets done (a skipped one counts as done)."""
    for spec in each(specs, len(specs), "OOD sets", progress, name=str):
        try:
            data = load_text(spec, role="ood", data_root=data_root)
        except UserInputError as exc:
            if explicit:
                raise
            skipped[spec] = str(exc)
            log(f"skipping default OOD set {spec}: not found under the data root")
            continue
        size, score_units = units(data)
        yield OODSet(name=data.name, spec=spec, size=size, details={"source": data.source},
                     score=lambda idx, score_units=score_units: {score: score_units(idx)})


def text_protocol(in_scores: np.ndarray, specs: list[str], *, score: str, units: Units,
                  explicit: bool, data_root, settings: DrawSettings, log=print,
                  progress: bool = False) -> tuple[ScoreOutcome, dict]:
    """The protocol's outcome for `score` and the skipped default sets (spec -> reason)."""
    skipped: dict = {}
    sets = _text_sets(specs, score=score, units=units, explicit=explicit, data_root=data_root,
                      skipped=skipped, log=log, progress=progress)
    outcome = run_protocol({score: in_scores}, sets, settings)[score]
    if not outcome.ood:
        raise UserInputError(
            "no OOD set could be read: name them with --ood SPEC [SPEC ...] (e.g. snli imdb "
            "lines:PATH) or pass --data-root DIR where the named sets live"
        )
    return outcome, skipped


def text_results(run_dir: Path, cfg: TextConfig, *, score: str, settings: DrawSettings,
                 outcome: ScoreOutcome, skipped: dict, n_test: int, test_error: float,
                 error_detection: dict | None, **extra) -> Results:
    """The record of a text run (`extra`: a language model's perplexity and unit)."""
    return Results(run=str(run_dir), task=cfg.task, in_dist=cfg.test, model=cfg.model,
                   mode=cfg.mode, score=score, n_test=n_test, test_error=test_error,
                   error_detection=error_detection, ood=outcome.ood, mean=outcome.mean,
                   skipped=skipped, **settings.record_fields(), **extra)


def write_text_results(run_dir: Path, record: Results, outcome: ScoreOutcome) -> None:
    """results.{json,csv,md} and the cached scores (`scores_<score>.npz`)."""
    write_results(run_dir, record)
    runs.save_npz(run_dir / f"scores_{record.score}.npz", **outcome.cache)  # atomic
