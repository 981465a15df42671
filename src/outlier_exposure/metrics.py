"""Detection metrics: FPR at a recall level, AUROC and AUPR, from one sort of each score set.

Scores are anomaly scores: higher means more anomalous, everywhere in this package.

Which class is positive
-----------------------
``positive="ood"`` (default, the reference): anomalies are the positive class (label 1 for
``out_scores``) and the score is used as given.

- FPR: the fraction of in-distribution examples flagged at the threshold where ``recall_level``
  of the anomalies is flagged (FPR95 for ``recall_level=0.95``).
- AUPR: average precision with anomalies positive (AUPR-Out).

``positive="in"``: in-distribution is the positive class and its "positive score" is the
negated anomaly score.

- FPR: the fraction of anomalies accepted at the threshold where ``recall_level`` of the
  in-distribution examples is accepted (the "FPR at 95% TPR" of many other projects).
- AUPR: average precision with in-distribution positive (AUPR-In).

AUROC is the same number under both conventions (swapping the classes and negating the score
leaves every pairwise comparison unchanged).

With positives ``p`` (P of them) and negatives ``q`` (N of them), at a threshold ``t``:
``tps(t) = #{p >= t}``, ``fps(t) = #{q >= t}``, ``recall(t) = tps(t) / P``.

- AUROC = ``sum_{i,j} ([p_i > q_j] + 0.5 [p_i == q_j]) / (P N)``, the Mann-Whitney form of the
  trapezoid under the ROC curve over all distinct thresholds with (0, 0) prepended; equal to
  ``sklearn.metrics.roc_auc_score`` (ties included).
- AUPR = ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds in descending order, with
  ``R_n`` the recall and ``P_n = tps / (tps + fps)`` the precision at the n-th threshold; equal
  to ``sklearn.metrics.average_precision_score`` (step-wise, no interpolation).

The two FPR rules
-----------------
``rule="closest"`` (default) reproduces the reference ``fpr_and_fdr_at_recall`` of the authors'
``utils/display_results.py``: among the distinct thresholds from the lowest one that still
reaches full recall (``t = min(p)``) upwards, take the one whose recall is CLOSEST to
``recall_level``; when several are equally close the LOWEST threshold wins (the reference scans
upwards and keeps the first minimum), so among thresholds with equal recall it takes the one
with the most false positives. The reference also appends a point with recall 1 and zero false
positives after the scan; it can never win, because the scan starts at a threshold of recall
exactly 1, but it is kept so the rule matches the reference point for point.
FPR = ``fps(t*) / N``.

``rule="first"``: the FPR at the first (highest) threshold whose recall is ``>= recall_level``,
the convention of projects that compute ``fpr[np.searchsorted(tpr, level, side="left")]`` on a
ROC curve. When the closest recall is ``>= recall_level`` both rules pick the same recall and
``first`` takes its highest threshold, so ``first <= closest``; when the closest recall is below
the level, ``closest`` picks a higher threshold and can give the smaller FPR.

How it is computed
------------------
Both score sets are sorted once (ascending, ``np.sort``), and every count above is read off with
``np.searchsorted``: only the distinct positive values matter, since tps changes only there.
This gives exactly the counts of one stable descending sort of the concatenated scores (ties
collapsed into distinct thresholds), hence the reference's FPR bit for bit, but it sorts values
rather than indices (about 2x faster), never gathers labels, and lets
:func:`detection_metrics_many` sort a fixed set (the in-distribution scores of the test
protocol) once for many draws.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Iterable

import numpy as np

from outlier_exposure.errors import UserInputError

__all__ = [
    "detection_metrics",
    "detection_metrics_many",
    "fpr_at_recall",
    "auroc",
    "aupr",
    "read_scores",
]

_POSITIVES = ("ood", "in")
_RULES = ("closest", "first")


def detection_metrics(
    in_scores,
    out_scores,
    recall_level: float = 0.95,
    positive: str = "ood",
    rule: str = "closest",
) -> dict[str, float]:
    """FPR at ``recall_level``, AUROC and AUPR of anomaly scores (higher = more anomalous).

    Returns ``{"fpr": ..., "auroc": ..., "aupr": ...}`` as python floats in [0, 1]; see the
    module docstring for the formulas, the ``positive`` conventions and the FPR ``rule``.
    """
    level = _check_options(recall_level, positive, rule)
    sign = 1.0 if positive == "ood" else -1.0
    in_sorted = _sorted_scores(in_scores, "in_scores", sign)
    out_sorted = _sorted_scores(out_scores, "out_scores", sign)
    if positive == "ood":
        return _metrics_from_sorted(out_sorted, in_sorted, level, rule)
    return _metrics_from_sorted(in_sorted, out_sorted, level, rule)


def detection_metrics_many(
    in_scores,
    out_score_sets: Iterable,
    recall_level: float = 0.95,
    positive: str = "ood",
    rule: str = "closest",
) -> list[dict[str, float]]:
    """``detection_metrics(in_scores, out, ...)`` for each ``out`` in ``out_score_sets``.

    The in-distribution scores are sorted once for all sets, which is what the test protocol
    needs: many small OOD draws (1:5) against the same full in-distribution score set.
    """
    level = _check_options(recall_level, positive, rule)
    sign = 1.0 if positive == "ood" else -1.0
    in_sorted = _sorted_scores(in_scores, "in_scores", sign)
    results = []
    for k, out_scores in enumerate(out_score_sets):
        out_sorted = _sorted_scores(out_scores, f"out_score_sets[{k}]", sign)
        if positive == "ood":
            results.append(_metrics_from_sorted(out_sorted, in_sorted, level, rule))
        else:
            results.append(_metrics_from_sorted(in_sorted, out_sorted, level, rule))
    return results


def fpr_at_recall(in_scores, out_scores, recall_level=0.95, positive="ood", rule="closest"):
    """FPR at ``recall_level``; see :func:`detection_metrics`."""
    return detection_metrics(in_scores, out_scores, recall_level, positive, rule)["fpr"]


def auroc(in_scores, out_scores, positive="ood"):
    """Area under the ROC curve; see :func:`detection_metrics`."""
    return detection_metrics(in_scores, out_scores, positive=positive)["auroc"]


def aupr(in_scores, out_scores, positive="ood"):
    """Average precision (AUPR-Out for ``positive="ood"``, AUPR-In for ``"in"``)."""
    return detection_metrics(in_scores, out_scores, positive=positive)["aupr"]


def _check_options(recall_level, positive, rule) -> float:
    """Check the options; return ``recall_level`` as a python float."""
    if isinstance(recall_level, bool) or not isinstance(recall_level, numbers.Real):
        raise UserInputError(
            f"recall_level must be a number strictly between 0 and 1 (e.g. 0.95), "
            f"got {recall_level!r}"
        )
    if not 0.0 < float(recall_level) < 1.0:  # also rejects NaN
        raise UserInputError(
            f"recall_level must be strictly between 0 and 1 (e.g. 0.95 for FPR95), "
            f"got {recall_level!r}"
        )
    if positive not in _POSITIVES:
        raise UserInputError(
            f"positive must be 'ood' (anomalies positive, the reference) or 'in' "
            f"(in-distribution positive), got {positive!r}"
        )
    if rule not in _RULES:
        raise UserInputError(
            f"rule must be 'closest' (the reference) or 'first' (first threshold with "
            f"recall >= level), got {rule!r}"
        )
    return float(recall_level)


def _sorted_scores(scores, name: str, sign: float) -> np.ndarray:
    """``sign * scores`` as a sorted (ascending) float64 array, checked to be usable."""
    try:
        x = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UserInputError(f"{name} must be an array of numbers: {e}") from None
    if x.ndim != 1:
        raise UserInputError(
            f"{name} must be a 1-D array of scores, got shape {x.shape}; flatten it first "
            f"(e.g. scores.ravel()) if it holds one score per example"
        )
    if x.size == 0:
        raise UserInputError(f"{name} is empty; pass at least one score")
    # One new array, sorted in place: the caller's scores are never touched.
    x = -x if sign < 0 else x.copy()
    x.sort()
    # Sorting puts -inf first and +inf then NaN last, so two looks check the whole array.
    if not (np.isfinite(x[0]) and np.isfinite(x[-1])):
        raise UserInputError(
            f"{name} holds NaN or infinite values; fix the scores (e.g. a diverged model or "
            f"an overflow in the score function) before computing metrics"
        )
    return x


def _metrics_from_sorted(pos: np.ndarray, neg: np.ndarray, level: float, rule: str) -> dict:
    """The three metrics from ascending-sorted positive and negative scores.

    Thresholds are the distinct positive values v_0 < ... < v_{K-1}: tps only changes there,
    so AUROC, AUPR and both FPR rules need nothing else.
    """
    n_pos, n_neg = pos.size, neg.size
    # starts[i]: index of the first copy of v_i in pos.
    starts = np.flatnonzero(pos[1:] != pos[:-1]) + 1
    starts = np.concatenate(([0], starts))
    values = pos[starts]
    counts = np.diff(starts, append=n_pos)
    tps = n_pos - starts  # #{p >= v_i}
    below = np.searchsorted(neg, values, side="left")  # #{q < v_i}
    not_above = np.searchsorted(neg, values, side="right")  # #{q <= v_i}
    fps = n_neg - below  # #{q >= v_i}

    # Integer sum, so exact: sum_i c_i (#{q < v_i} + #{q <= v_i}) = 2 * sum (1[>] + .5 1[=]).
    auroc_value = float(np.dot(counts, below + not_above)) / (2.0 * n_pos * n_neg)
    aupr_value = float(np.dot(counts / n_pos, tps / (tps + fps)))

    recall = tps / n_pos  # same float64 rounding as the reference's tps / tps[-1]
    if rule == "first":
        # recall falls as i rises: the highest threshold with recall >= level is the last i.
        i = np.count_nonzero(recall >= level) - 1
        fp = fps[i]
    else:
        fp = _closest_fps(recall, n_neg - not_above, fps[0], level)
    return {"fpr": float(fp) / n_neg, "auroc": auroc_value, "aupr": aupr_value}


def _closest_fps(recall: np.ndarray, above: np.ndarray, fps_full: int, level: float) -> int:
    """False positives at the reference's "closest recall" threshold.

    The reference scans all distinct thresholds upwards from ``min(p)`` and keeps the first
    one of minimal ``|recall - level|``. Thresholds with the same recall as v_i lie in
    (v_{i-1}, v_i], and the scan meets the lowest of them first, whose false positives are
    #{q > v_{i-1}} (``above[i - 1]``); the scan starts at v_0 itself (``fps_full``). Above
    v_{K-1} sit thresholds of recall 0 only if some negative is there. The reference then
    appends (recall 1, fps 0).
    """
    candidates_fps = [np.array([fps_full]), above[:-1]]
    candidates_recall = [recall]
    if above[-1] > 0:
        candidates_fps.append(above[-1:])
        candidates_recall.append(np.zeros(1))
    candidates_fps.append(np.zeros(1, dtype=above.dtype))
    candidates_recall.append(np.ones(1))
    r = np.concatenate(candidates_recall)
    # argmin returns the first minimum: the scan order breaks ties, as in the reference.
    return int(np.concatenate(candidates_fps)[np.argmin(np.abs(r - level))])


def read_scores(path) -> np.ndarray:
    """Load a 1-D float64 array of scores from ``.npy`` or a text file of one number per line.

    Blank lines in text files are ignored. A missing file, a line that is not a number, a
    non-finite value or an array that is not 1-D raises :class:`UserInputError` naming the file
    (and the line, for text).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"score file {path} does not exist (or is not a file); check the path")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise UserInputError(
                f"score file {path} is not a readable .npy array of numbers ({e}); "
                f"save it with np.save(path, scores.astype(np.float64))"
            ) from None
        if x.ndim != 1:
            raise UserInputError(
                f"score file {path} holds an array of shape {x.shape}; save a 1-D array "
                f"(one score per example, e.g. scores.ravel())"
            )
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
            raise UserInputError(
                f"score file {path} holds {x.dtype} values; save real numbers (float64)"
            )
        x = x.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise UserInputError(
                f"score file {path} holds NaN or infinite values (first at index {bad[0]}); "
                f"fix the scores before saving them"
            )
    else:
        values = []
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise UserInputError(
                        f"score file {path}, line {line_no}: {text[:40]!r} is not a number; "
                        f"write one score per line"
                    ) from None
                if not np.isfinite(value):
                    raise UserInputError(
                        f"score file {path}, line {line_no}: {text[:40]!r} is not finite; "
                        f"fix the scores before saving them"
                    )
                values.append(value)
        x = np.array(values, dtype=np.float64)
    if x.size == 0:
        raise UserInputError(f"score file {path} holds no scores; write one score per line")
    return x
