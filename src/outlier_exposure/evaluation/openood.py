"""OpenOOD v1.5's evaluation protocol on an image run (`oe eval RUN --protocol openood`).

What differs from the 2019 paper's protocol (`protocol.py`, `draws.py`):
- No draws: the whole in-distribution test set against the whole of each OOD set.
- The OOD sets come in two groups, near-OOD and far-OOD (the benchmark of the run's test set,
  data/catalog/benchmarks.py, or `--near` / `--far`); the headline is each group's unweighted
  mean over its sets, AUROC first. "mean" is the mean over every set of both groups.
- The metrics are OpenOOD's (`metrics.openood_metrics`, docs/metrics.md): FPR at 95% recall with
  the rule "roc" (the first point of scikit-learn's ROC curve at that recall, collinear points
  dropped), AUROC, and both trapezoidal AUPRs, AUPR-In and AUPR-Out. `aupr` is the one of the
  positive class (AUPR-Out for `positive="ood"`), so tables that read `aupr` keep working.
- ID accuracy is reported (as `test_error`, its complement, like every record here).

`--positive` and `--rule` still apply (they change the FPR only) and are recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.catalog.benchmarks import Benchmark, benchmark_for
from ..data.catalog.preflight import require_data
from ..data.datasets import load_images, load_labelled
from ..data.imageset import ImageSet
from ..data.validation import is_validation_spec
from ..errors import UserInputError
from ..metrics import openood_metrics
from ..training.progress import each
from ..training.setup import resolve_device
from ..training import runs
from .posthoc.run_data import fit_scorers
from .protocol import _image_scorer, _score_names, load_trained_model
from .results import Results, write_results

PROTOCOL = "openood"
GROUPS = ("near", "far")
METRIC_KEYS = ("fpr", "auroc", "aupr", "aupr_in", "aupr_out")
# Images scored per call: a whole ImageNet-scale OOD set (SSB-hard: 49,000 images at 256 px,
# 9.6 GB as uint8) never sits in memory at once; lazy sets decode one chunk at a time.
CHUNK = 2048
# The copy of the latest OpenOOD-protocol record, kept beside results.json (which holds the
# latest evaluation of any protocol) so that a paper-protocol `oe eval` does not replace it.
RESULTS_FILE = "results_openood.json"


@dataclass(frozen=True)
class Groups:
    """The OOD test sets of one evaluation, by group, and where they came from."""

    near: tuple[str, ...]
    far: tuple[str, ...]
    source: str

    def specs(self) -> list[str]:
        return [*self.near, *self.far]


def resolve_groups(test_spec: str, near: list[str] | None, far: list[str] | None) -> Groups:
    """The near/far sets: as given, else the benchmark of the run's test set."""
    benchmark: Benchmark | None = benchmark_for(test_spec)
    if near is None and far is None and benchmark is None:
        raise UserInputError(
            f"--protocol openood: no OpenOOD benchmark is known for the test set {test_spec} "
            "(known: CIFAR-10, CIFAR-100, ImageNet-200 and the offline CIFAR-10 subset); name "
            "the groups: --near SPEC [SPEC ...] --far SPEC [SPEC ...]")
    if near is not None or far is not None:
        groups = Groups(tuple(near or ()), tuple(far or ()), "given by --near / --far")
    else:
        groups = Groups(benchmark.near, benchmark.far, benchmark.source)
    if not groups.specs():
        raise UserInputError("--protocol openood needs at least one OOD set in --near or --far")
    validation = [s for s in groups.specs() if is_validation_spec(s)]
    if validation:
        raise UserInputError(f"{validation[0]} is a validation set (val:): it is for choices, "
                             "never a near/far test set; name a test set")
    repeated = {s for s in groups.specs() if groups.specs().count(s) > 1}
    if repeated:
        raise UserInputError(f"{min(repeated)} is named twice in --near / --far; name "
                             "each OOD set once, in one group")
    return groups


def _chunked_scores(images: ImageSet, score_images) -> dict[str, np.ndarray]:
    """{score: anomaly scores of every image of the set}, scored CHUNK images at a time."""
    found: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), CHUNK):
        idx = np.arange(start, min(start + CHUNK, len(images)))
        subset = ImageSet(x=images.x[idx], y=None, name=images.name,
                          normalised=images.normalised)
        for name, values in score_images(subset)[1].items():
            found.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
    return {name: np.concatenate(parts) for name, parts in found.items()}


def _group_sets(groups: Groups, cfg, test: ImageSet, seed: int
                ) -> Iterator[tuple[str, str, ImageSet]]:
    """(group, spec, images) of every OOD set, near first, each read when its turn comes."""
    for group, specs in (("near", groups.near), ("far", groups.far)):
        for spec in specs:
            images = load_images(spec, cfg.image_shape, seed=seed, role=f"--{group}",
                                 n=len(test), noise_range=cfg.noise_range, test_set=test)
            yield group, spec, images


def mean_metrics(records: list[dict]) -> dict | None:
    """The unweighted mean of every metric over `records` (None for no records)."""
    if not records:
        return None
    return {m: float(np.mean([r[m] for r in records])) for m in METRIC_KEYS}


def set_record(in_scores: np.ndarray, out_scores: np.ndarray, *, recall: float, positive: str,
               rule: str) -> dict:
    """One OOD set's metrics under OpenOOD's conventions (fractions)."""
    found = openood_metrics(in_scores, out_scores, recall_level=recall, positive=positive,
                            rule=rule)
    aupr = found["aupr_out"] if positive == "ood" else found["aupr_in"]
    return {"fpr": found["fpr"], "auroc": found["auroc"], "aupr": aupr,
            "aupr_in": found["aupr_in"], "aupr_out": found["aupr_out"]}


def evaluate_openood(
    run_dir: str | Path,
    *,
    near: list[str] | None = None,
    far: list[str] | None = None,
    scores: list[str] | None = None,
    score: str | None = None,
    recall: float = 0.95,
    positive: str = "ood",
    rule: str = "roc",
    seed: int = 1,
    device: str | None = "auto",
    precision: str = "fp32",
    write: bool = True,
    score_options: dict | None = None,
    log=None,
    progress: bool = False,
) -> dict[str, dict]:
    """OpenOOD v1.5's protocol for one or more scores: {score: results}, in the order asked.

    Writes (with `write`) results.json (.csv, .md) and results_openood.json for the first score,
    `results_<score>.json` for each when there are several, and `scores_<score>.npz` ("in",
    then "ood:SET" for every image of each set). `progress=True`: a bar over the OOD sets."""
    run_dir = Path(run_dir)
    log = log or (lambda *_: None)
    dev = resolve_device(device)
    model, cfg = load_trained_model(run_dir, dev)
    names = _score_names(score, scores, cfg)
    groups = resolve_groups(cfg.test, near, far)
    require_data(groups.specs(), "--protocol openood")
    test = load_labelled(cfg.test, cfg.image_shape, seed=cfg.seed, role="test set",
                         num_classes=cfg.num_classes)
    scorers = fit_scorers(names, model, cfg, run_dir, dev, options=score_options, test_set=test,
                          ood_specs=groups.specs(), recall=recall, positive=positive, rule=rule,
                          seed=seed, log=log)
    score_images = _image_scorer(model, cfg, scorers, dev, precision)
    logits, in_found = score_images(test)
    accuracy = float((logits.argmax(1).numpy() == np.asarray(test.y)).mean())
    in_scores = {name: np.asarray(v, dtype=np.float64) for name, v in in_found.items()}
    per_score = {name: {} for name in names}
    cache = {name: {"in": in_scores[name].astype(np.float32)} for name in names}
    sets = each(_group_sets(groups, cfg, test, seed), len(groups.specs()), "OOD sets", progress,
                name=lambda found: f"{found[0]}: {found[1]}, {len(found[2])} images")
    for group, spec, images in sets:
        if not progress:  # with a bar, the set and its size are beside it, not on its line
            log(f"[{group}] {spec}: {len(images)} images")
        out_scores = _chunked_scores(images, score_images)
        set_name = images.name
        k = 2
        while set_name in per_score[names[0]]:  # the same set named twice through two specs
            set_name, k = f"{images.name}-{k}", k + 1
        for name in names:
            record = set_record(in_scores[name], out_scores[name], recall=recall,
                                positive=positive, rule=rule)
            record.update(group=group, spec=spec, n_ood=len(images))
            per_score[name][set_name] = record
            cache[name][f"ood:{set_name}"] = out_scores[name].astype(np.float32)
    common = {"run": str(run_dir), "in_dist": cfg.test, "model": cfg.model,
                  "mode": "energy-tune" if cfg.loss == "energy" else cfg.mode, "loss": cfg.loss,
                  "protocol": PROTOCOL, "positive": positive, "rule": rule, "recall_level": recall,
                  "seed": seed, "precision": precision, "n_test": len(test), "test_error": 1.0 - accuracy,
                  "error_detection": None}
    found = {}
    for name in names:
        sets = per_score[name]
        group_means = {g: mean_metrics([r for r in sets.values() if r["group"] == g])
                       for g in GROUPS}
        found[name] = Results(score=name, ood=sets, mean=mean_metrics(list(sets.values())),
                              groups={g: m for g, m in group_means.items() if m is not None},
                              score_params=scorers[name].params() or None,
                              extra={"groups_source": groups.source}, **common)
    if write:
        _write(run_dir, found, cache)
    return {name: record.to_dict() for name, record in found.items()}


def _write(run_dir: Path, found: dict[str, Results], cache: dict[str, dict]) -> None:
    first = next(iter(found.values()))
    write_results(run_dir, first)
    first.save(run_dir / RESULTS_FILE)
    for name, arrays in cache.items():
        runs.save_npz(run_dir / f"scores_{name}.npz", **arrays)  # atomic: a kill keeps the old cache
    if len(found) > 1:
        for name, record in found.items():
            record.save(run_dir / f"results_{name}.json")
