"""The inputs of a report: evaluated run folders (and `oe quickstart` folders holding several).

A run folder evaluated by `oe eval` holds `results.json`, `scores_<score>.npz` (the cached
anomaly scores), `config.json`, `environment.json`, `log.jsonl` and, after `oe calibrate`,
`calibration.json`. An `oe quickstart` folder holds `results.json` = {label: results} and one
run folder per label. Nothing here runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from ..training import runs
from ..training.config import load_config
from ..training.run_files import load_environment, load_log
from ..evaluation.score_files import load_scores
from ..text.config import is_text_run, load_text_config
from ..errors import UserInputError
from ..evaluation.results import Results, read_results_json

RESULTS, CALIBRATION = "results.json", "calibration.json"


@dataclass
class ReportRun:
    """One evaluated run: its results and whatever else its folder holds."""

    label: str
    folder: Path                      # where results.json, the scores and the run files live
    results: dict                     # `Results.to_dict()`: as in results.json
    config: dict = field(default_factory=dict)       # raw config.json ({} when absent)
    environment: dict = field(default_factory=dict)  # raw environment.json
    log: list[dict] = field(default_factory=list)    # log.jsonl, one record per epoch
    calibration: dict | None = None

    @property
    def preset(self) -> str | None:
        return self.config.get("preset")

    @property
    def mode(self) -> str | None:
        return self.results.get("mode") or self.config.get("mode")

    @property
    def scores_path(self) -> Path:
        return self.folder / f"scores_{self.results['score']}.npz"

    def scores(self) -> dict | None:
        """{"in": in-distribution scores, "ood": {set: scores}} from the cache, or None."""
        if not self.scores_path.exists():
            return None
        return load_scores(self.scores_path)  # checked: a damaged cache names the file


def _load_one(folder: Path, label: str, results: dict | None = None) -> ReportRun:
    """The run in `folder`; `results`: its record as read from a quickstart folder's file."""
    path = folder / RESULTS
    record = Results.load(path) if results is None else Results.from_dict(results, str(path))
    results = record.to_dict()
    config = _config(folder)
    env = load_environment(folder)
    calibration = runs.read_json(folder / CALIBRATION, "run `oe calibrate` again") \
        if (folder / CALIBRATION).exists() else None
    return ReportRun(label=label, folder=folder, results=results, config=config,
                     environment=env, log=load_log(folder), calibration=calibration)


def _config(folder: Path) -> dict:
    """config.json as stored ({} when absent), checked as `oe eval` checks it: the report reads
    its preset and mode."""
    if not (folder / runs.CONFIG).exists():
        return {}
    if is_text_run(folder):
        load_text_config(folder)
    else:
        load_config(folder)
    return runs.read_json(folder / runs.CONFIG, "restore it from a copy")


def expand(path: str | Path) -> list[ReportRun]:
    """The runs behind one RUN argument: a run folder, or an `oe quickstart` folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserInputError(f"{folder} is not a folder; pass run folders evaluated by `oe eval` "
                             "or the --out folder of `oe quickstart`")
    if not (folder / RESULTS).exists():
        hint = (f"evaluate it first: oe eval {folder}" if (folder / runs.CONFIG).exists()
                else "pass a run folder evaluated by `oe eval` or an `oe quickstart` folder")
        raise UserInputError(f"{folder} has no {RESULTS}; {hint}")
    data = read_results_json(folder / RESULTS)
    if isinstance(data, dict) and "ood" not in data and data and all(
            isinstance(v, dict) and "ood" in v for v in data.values()):
        # {label: results}, as `oe quickstart` writes, with the run folders beside it. A run
        # folder's own results.json is preferred: its cached scores belong to it.
        found = []
        for key, value in data.items():
            sub = folder / key
            found.append(_load_one(sub, key) if (sub / RESULTS).exists() else
                         _load_one(sub if sub.is_dir() else folder, key, value))
        return found
    return [_load_one(folder, folder.name or str(folder))]


def _unique_labels(found: list[ReportRun]) -> None:
    """Label clashes (two folders named 'oe') get the parent folder's name, then a number."""
    counts: dict[str, int] = {}
    for run in found:
        counts[run.label] = counts.get(run.label, 0) + 1
    taken: set[str] = set()
    for run in found:
        label = run.label
        if counts[label] > 1 and run.folder.parent.name:
            label = f"{run.folder.parent.name}/{run.folder.name}"
        candidate, k = label, 2
        while candidate in taken:
            candidate, k = f"{label}-{k}", k + 1
        run.label = candidate
        taken.add(candidate)


def load_runs(paths: list[str | Path], labels: list[str] | None = None) -> list[ReportRun]:
    """Every run behind `paths`, in order, with unique labels (or the given `labels`)."""
    if not paths:
        raise UserInputError("name at least one run folder: oe report RUN [RUN ...]")
    found = [run for path in paths for run in expand(path)]
    if labels:
        if len(labels) != len(found):
            names = ", ".join(r.label for r in found)
            raise UserInputError(
                f"--labels gives {len(labels)} labels for {len(found)} runs ({names}); an "
                "`oe quickstart` folder counts as its runs: give one label per run"
            )
        if len(set(labels)) != len(labels):
            raise UserInputError(f"--labels {' '.join(labels)}: each label must be different")
        for run, label in zip(found, labels):
            run.label = label
    else:
        _unique_labels(found)
    return found
