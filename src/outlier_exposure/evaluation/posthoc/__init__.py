"""Anomaly scorers of a trained classifier: the one place a score is added.

| name        | score (higher = more anomalous)                          | needs                   |
|-------------|----------------------------------------------------------|-------------------------|
| msp         | -max softmax(z)                                          | logits                  |
| xent        | mean_k z_k - logsumexp(z)                                | logits                  |
| energy      | -logsumexp(z)                (Liu et al. 2020)           | logits                  |
| maxlogit    | -max z                       (Hendrycks et al. 2022)     | logits                  |
| odin        | -max softmax(z(x~)/T), x~ perturbed (Liang et al. 2018)   | gradients; a validation OOD set |
| mahalanobis | min_c (f-mu_c)^T Sigma^+ (f-mu_c)  (Lee et al. 2018)     | training features       |
| knn         | distance to the k-th nearest normalised training feature (Sun et al. 2022) | training features |

`make_scorer(name, **options)` builds one; `fit(model, ...)` then `score(inputs)` or, from one
cached forward pass, `score_outputs(logits, features)`; `deployed()` is the module a deployed
detector runs (`deploy/` asks the scorer, it knows no score by name). One file per scorer.

Adding a scorer: write a `Scorer` subclass (`base.py` says what to define: `name`, `fit`,
`score_outputs`, and for deployment `fitted` and `deployed()`), then add ONE line to `SCORERS`
below. `oe eval --score NAME`, `oe detector --score NAME`, `oe score` and `oe export` then know
it. A scorer that needs training features sets `needs_training_features`; `oe eval` hands its
`fit` the run's training features and labels.
"""

from __future__ import annotations

from ...errors import UserInputError
from .base import Scorer, classifier_head, collect_features, logits_and_features
from .knn import KNN
from .logit import MSP, Energy, LogitScorer, MaxLogit, XEnt
from .mahalanobis import Mahalanobis
from .odin import ODIN

# name -> scorer class: the one registry (the order of `oe eval --help` and of error messages)
SCORERS: dict[str, type[Scorer]] = {
    "msp": MSP,
    "xent": XEnt,
    "energy": Energy,
    "maxlogit": MaxLogit,
    "odin": ODIN,
    "mahalanobis": Mahalanobis,
    "knn": KNN,
}


def scorer_names() -> list[str]:
    """Every score `oe eval --score` accepts."""
    return list(SCORERS)


def deployable_names() -> list[str]:
    """Every score a deployed detector (`oe detector --score`) can compute."""
    return [name for name, cls in SCORERS.items() if not cls.not_deployable_because]


def make_scorer(name: str, **options) -> Scorer:
    """The scorer `name` (see the table above) built with `options` (its constructor's)."""
    if name not in SCORERS:
        raise UserInputError(f"unknown score {name!r}; choose from: {', '.join(scorer_names())}")
    return SCORERS[name](**options)


__all__ = ["SCORERS", "Scorer", "LogitScorer", "MSP", "XEnt", "Energy", "MaxLogit", "ODIN",
           "Mahalanobis", "KNN", "make_scorer", "scorer_names", "deployable_names",
           "classifier_head", "collect_features", "logits_and_features"]
