"""The OOD protocol itself, for any kind of data: plan the draws, score each needed unit once,
summarise the metrics over the draws, name the sets apart, average over them.

Images (`protocol.evaluate_scores`), text classifiers and language models (`text/evaluate.py`)
all run their OOD sets through `run_protocol`; they differ only in how a set is read, how many
units it holds (images, texts, token sequences) and how chosen units are scored. Those come in
as `OODSet`s, so this module never loads data or runs a model.

For each OOD set, `draws` times: draw `n_per_draw` units without replacement and compute
FPR/AUROC/AUPR against the full in-distribution scores; report the mean and std over the draws.
`n_per_draw` follows the run's draw-size rule (`DRAW_SIZE_RULES`, `draw_size`): `len(test) //
ratio` exactly, or that target rounded to whole batches the way the reference's test scripts
stop reading an OOD loader.
The draws are planned first, from one generator seeded once, set after set in the order given:
the same draws whatever each set's scoring costs (not the reference's own subsets: it draws
through shuffled DataLoaders; the distribution is the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..errors import UserInputError
from ..metrics import detection_metrics, detection_metrics_many
from ..scores import compute_score

METRICS = ("fpr", "auroc", "aupr")

# chosen unit indices of one set -> {score name: anomaly scores of those units}
ScoreUnits = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass
class OODSet:
    """One OOD set as the protocol sees it: a name, a size, and a way to score chosen units."""

    name: str                 # the set's own name (made unique among the sets by the protocol)
    spec: str                 # the spec it was read from, recorded with its results
    size: int                 # how many units a draw can choose from
    score: ScoreUnits
    validation: bool = False  # reported apart ("validation"), never in the headline mean
    details: dict = field(default_factory=dict)  # extra keys of its record (e.g. text "source")


# How many OOD units a draw holds, for a target of t = len(test) // ratio (the reference's
# `ood_num_examples`). The reference reads an OOD loader batch by batch and stops early:
# - "reference-image": CIFAR/SVHN/TinyImageNet/MNIST test.py stop before batch_idx reaches
#   t // 200 (test_bs 200), then keep [:t]: (t // 200) * 200 (SVHN 26,032 test: 5,200, not 5,206).
# - "reference-text": NLP_classification/eval_OOD_*.py stop once batch_idx * 64 > t (batch 64),
#   keeping every batch read: (t // 64 + 1) * 64 (TREC 500 test: 128, SST 1,821: 384).
# - "exact": t itself (the offline and quickstart presets, whose small test sets a batch of 200
#   would empty).
# A set smaller than that gives all its units, as the reference's loader runs out.
DRAW_BATCHES = {"reference-image": 200, "reference-text": 64}
DRAW_SIZE_RULES = ("exact", *DRAW_BATCHES)
MAX_DRAWS = 1000
MAX_SEED = 2 ** 32 - 1  # numpy's seeds (np.random.default_rng takes any int >= 0; keep it sane)


def draw_size(n_test: int, ratio: int, rule: str = "exact") -> int:
    """OOD units per draw for `n_test` in-distribution test units under `rule` (see above)."""
    if rule not in DRAW_SIZE_RULES:
        raise UserInputError(f"unknown OOD draw size rule {rule!r}; choose one of: "
                             f"{', '.join(DRAW_SIZE_RULES)}")
    target = n_test // ratio
    if rule == "exact":
        return target
    batch = DRAW_BATCHES[rule]
    return (target // batch) * batch if rule == "reference-image" else (target // batch + 1) * batch


@dataclass
class DrawSettings:
    """The protocol's settings: `draws` subsets of `per_draw(n_test)` units per OOD set."""

    draws: int = 10
    ratio: int = 5
    recall: float = 0.95
    positive: str = "ood"
    rule: str = "closest"
    seed: int = 1
    draw_size: str = "exact"  # one of DRAW_SIZE_RULES

    def check(self) -> None:
        if self.draws < 1 or self.ratio < 1:
            raise UserInputError("--draws and --ratio must be >= 1")
        # Every draw is scored and summarised: a bound keeps a typo from running for days.
        if self.draws > MAX_DRAWS:
            raise UserInputError(f"--draws {self.draws}: at most {MAX_DRAWS} (the paper uses 10; "
                                 "the std over draws settles long before that)")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserInputError(f"--seed {self.seed} must lie in [0, {MAX_SEED}]")
        if not 0 < self.recall < 1:  # NaN fails this too
            raise UserInputError(f"--recall {self.recall} must lie in (0, 1), e.g. 0.95 (FPR95)")
        draw_size(1, 1, self.draw_size)  # refuses an unknown rule

    def per_draw(self, n_test: int, too_few: str) -> int:
        """Units per draw; `too_few` starts the message when the test set is too small."""
        n = draw_size(n_test, self.ratio, self.draw_size)
        if n < 1:
            hint = "" if self.draw_size == "exact" else (
                f" with the {self.draw_size} rule's batches of {DRAW_BATCHES[self.draw_size]} "
                "(pass --ood-draw-size exact)")
            raise UserInputError(f"{too_few}: too few for 1:{self.ratio}{hint}")
        return n

    def record_fields(self) -> dict:
        """The settings as a results record names them."""
        return dict(positive=self.positive, rule=self.rule, recall_level=self.recall,
                    draws=self.draws, ratio=self.ratio, seed=self.seed,
                    draw_size=self.draw_size)


@dataclass
class ScoreOutcome:
    """What the protocol found for one score: per-set records and the arrays to cache."""

    ood: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # "in", then "ood:SET" / "ood_index:SET"

    @property
    def mean(self) -> dict | None:
        return mean_of(self.ood)

    @property
    def validation_mean(self) -> dict | None:
        return mean_of(self.validation)


def plan_draws(n_ood: int, n_per_draw: int, draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The OOD indices of each draw: `min(n_per_draw, n_ood)` drawn without replacement."""
    n = min(n_per_draw, n_ood)
    return [rng.choice(n_ood, size=n, replace=False) for _ in range(draws)]


def protocol_metrics(
    in_scores: np.ndarray, out_scores: np.ndarray, draw_indices: list[np.ndarray], *,
    recall: float, positive: str, rule: str,
) -> dict:
    """Mean and std of the metrics over the draws; `out_scores[i]` is OOD example i's score."""
    per_draw = detection_metrics_many(in_scores, [out_scores[idx] for idx in draw_indices],
                                      recall_level=recall, positive=positive, rule=rule)
    summary = {}
    for m in METRICS:
        values = [result[m] for result in per_draw]
        summary[m] = float(np.mean(values))
        summary[f"{m}_std"] = float(np.std(values))
    summary["n_per_draw"] = len(draw_indices[0])
    return summary


def mean_of(per_set: dict) -> dict | None:
    """The unweighted mean of each metric over the sets; None when there are none."""
    if not per_set:
        return None
    return {m: float(np.mean([r[m] for r in per_set.values()])) for m in METRICS}


def unique_name(name: str, taken) -> str:
    """`name`, or `name-2`, `name-3`, ... when it is taken (two specs of the same set)."""
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate


def classification_outcome(logits, labels, settings: DrawSettings) -> tuple[float, dict | None]:
    """The test error and error detection (misclassified test examples as the positives,
    scored by MSP, as the reference does; None when there are no mistakes or only mistakes)."""
    right = logits.argmax(1).numpy() == np.asarray(labels)
    msp = compute_score("msp", logits).numpy().astype(np.float64)
    error_detection = None
    if 0 < right.sum() < len(right):
        error_detection = detection_metrics(msp[right], msp[~right], recall_level=settings.recall,
                                            positive="ood", rule=settings.rule)
    return float(1.0 - right.mean()), error_detection


def run_protocol(in_scores: dict[str, np.ndarray], sets: Iterable[OODSet], settings: DrawSettings
                 ) -> dict[str, ScoreOutcome]:
    """{score: outcome} for the in-distribution scores {score: array} and the OOD `sets`.

    `sets` may be a generator, so that each set is read only when its turn comes. Each set is
    scored once, on the union of its draws, for every score at once; every score sees the same
    draws."""
    n_test = len(next(iter(in_scores.values())))
    n_per_draw = settings.per_draw(n_test, f"the test set has {n_test} examples")
    rng = np.random.default_rng(settings.seed)
    found = {name: ScoreOutcome(cache={"in": scores.astype(np.float32)})
             for name, scores in in_scores.items()}
    for ood_set in sets:
        plan = plan_draws(ood_set.size, n_per_draw, settings.draws, rng)
        # Score only the units some draw uses, each once (the reference re-runs every draw).
        needed = np.unique(np.concatenate(plan))
        scored = ood_set.score(needed)
        first = next(iter(found.values()))
        set_name = unique_name(ood_set.name, {**first.ood, **first.validation})
        for name, outcome in found.items():
            out_scores = np.full(ood_set.size, np.nan)
            out_scores[needed] = scored[name]
            record = protocol_metrics(in_scores[name], out_scores, plan, recall=settings.recall,
                                      positive=settings.positive, rule=settings.rule)
            record.update(spec=ood_set.spec, **ood_set.details, n_scored=int(len(needed)))
            (outcome.validation if ood_set.validation else outcome.ood)[set_name] = record
            outcome.cache[f"ood:{set_name}"] = out_scores[needed].astype(np.float32)
            outcome.cache[f"ood_index:{set_name}"] = needed
    return found
