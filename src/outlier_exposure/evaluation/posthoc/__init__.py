"""Post-hoc anomaly scores of a trained classifier, each with a `fit` and a `score` step.

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
cached forward pass, `score_outputs(logits, features)`. One file per scorer.
"""

from __future__ import annotations

from ...errors import UserInputError
from ...scores import score_names as _logit_score_names
from .base import LogitScorer, Scorer, classifier_head, collect_features, logits_and_features
from .knn import KNN
from .mahalanobis import Mahalanobis
from .odin import ODIN

POSTHOC = {"odin": ODIN, "mahalanobis": Mahalanobis, "knn": KNN}


def scorer_names() -> list[str]:
    """Every score `oe eval --score` accepts."""
    return _logit_score_names() + list(POSTHOC)


def make_scorer(name: str, **options) -> Scorer:
    """The scorer `name` (see the table above) built with `options` (its constructor's)."""
    if name in POSTHOC:
        return POSTHOC[name](**options)
    if name in _logit_score_names():
        return LogitScorer(name, **options)
    raise UserInputError(f"unknown score {name!r}; choose from: {', '.join(scorer_names())}")


__all__ = ["KNN", "Mahalanobis", "ODIN", "LogitScorer", "Scorer", "make_scorer", "scorer_names",
           "classifier_head", "collect_features", "logits_and_features"]
