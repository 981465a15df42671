"""Detection metrics: FPR at a recall level, AUROC and AUPR, from one sort of each score set.

:func:`detection_metrics` gives the 2019 paper's numbers (FPR, AUROC, average precision);
:func:`openood_metrics` gives OpenOOD v1.5's (FPR, AUROC, trapezoidal AUPR-In and AUPR-Out).

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

The three FPR rules
-------------------
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
the level, ``closest`` picks a higher threshold and can give the smaller FPR. (``first`` is the
plain ROC curve, every distinct threshold kept, i.e. ``drop_intermediate=False``.)

``rule="roc"``: OpenOOD v1.5's FPR@95TPR (``auc_and_fpr_recall`` in its
``openood/evaluators/metrics.py``): the first point, from the top, with recall ``>= level`` of
scikit-learn's ``roc_curve`` with its default ``drop_intermediate=True``. That curve runs over
the distinct values of BOTH score sets (descending) and keeps only its first and last points and
the points where the step to the next point differs from the step into it (a non-zero second
difference of fps or of tps); a point in the middle of a straight run of equal steps is dropped,
then (0, 0) is prepended. In counts: the point of v_i is dropped when ``i >= 1``, no negative
lies strictly between v_{i-1} and v_i, v_i and v_{i-1} hold the same numbers of positives and
of negatives, and v_i is not the curve's first point (the top value of both sets together). If
the "first" point is dropped, ``roc`` takes the next kept point below it, which has at least as
many false positives: ``roc >= first`` always, equal whenever the "first" point is kept (on
scores where no in-distribution score ties an OOD score it always is: the FPR can differ only
when the dropped steps hold negatives, i.e. the "first" value is tied with some negatives and
the next value below it holds the same numbers of positives and of tied negatives, with no
negative between them; a dropped step of positives alone is a vertical segment, whose end has
the same fps). Negative-only values count as points, so the keep rule must
run on the curve of all distinct values, not on the positive values alone: three positives
3, 2, 1 and negatives 2.5, 1.5 keep every point. ``roc`` against ``closest``: either can be the
larger. OpenOOD takes anomalies as positive; ``positive="in"`` swaps the classes as for the other
rules. OpenOOD then reports the FPR times 100.

OpenOOD's AUPR (:func:`openood_metrics`)
----------------------------------------
OpenOOD reports both AUPR-In (in-distribution positive, negated anomaly score) and AUPR-Out
(anomalies positive, anomaly score), each the TRAPEZOID area under scikit-learn's
``precision_recall_curve`` (``sklearn.metrics.auc(recall, precision)``), not average precision.
The curve has one point per distinct value of both sets together, descending, plus the point
(recall 0, precision 1). Only the points where recall rises add area, so with v_i the distinct
positive values again, AUPR = ``sum_i (c_i / P) (prec_i + prec_above_i) / 2`` with ``c_i`` the
positives at v_i, ``prec_i = tps / (tps + fps)`` at v_i, and ``prec_above_i`` the precision at the
curve's point just above v_i: ``#{p > v_i} / (#{p > v_i} + #{q > v_i})``, or 1 (the appended
point) when nothing lies above v_i. That point is v_{i+1} unless negatives lie strictly between
v_i and v_{i+1}, in which case it is the lowest of them, whose precision is lower.

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
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from outlier_exposure.errors import UserInputError

__all__ = [
    "aupr",
    "auroc",
    "detection_metrics",
    "detection_metrics_many",
    "fpr_at_recall",
    "openood_metrics",
    "read_scores",
]

_POSITIVES = ("ood", "in")
_RULES = ("closest", "first", "roc")


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


def openood_metrics(
    in_scores,
    out_scores,
    *,
    recall_level: float = 0.95,
    positive: str = "ood",
    rule: str = "roc",
) -> dict[str, float]:
    """OpenOOD v1.5's metrics of anomaly scores (higher = more anomalous), as fractions.

    Returns ``{"fpr", "auroc", "aupr_in", "aupr_out"}`` as python floats in [0, 1] (OpenOOD
    prints them times 100). ``fpr`` follows ``rule`` and ``positive`` (by default OpenOOD's:
    the fraction of in-distribution examples flagged at the first point of the ROC curve, with
    collinear points dropped, that catches ``recall_level`` of the anomalies); ``auroc`` is the
    usual one; ``aupr_in`` and ``aupr_out`` are the trapezoidal areas under the PR curves with
    in-distribution and with anomalies positive, both reported whatever ``positive`` is. See
    the module docstring.
    """
    level = _check_options(recall_level, positive, rule)
    in_sorted = _sorted_scores(in_scores, "in_scores", 1.0)
    out_sorted = _sorted_scores(out_scores, "out_scores", 1.0)
    # The negated scores, ascending, without a second sort.
    in_negated = -in_sorted[::-1]
    out_negated = -out_sorted[::-1]
    if positive == "ood":
        found = _metrics_from_sorted(out_sorted, in_sorted, level, rule)
    else:
        found = _metrics_from_sorted(in_negated, out_negated, level, rule)
    return {
        "fpr": found["fpr"],
        "auroc": found["auroc"],
        "aupr_in": _trapezoid_aupr(in_negated, out_negated),
        "aupr_out": _trapezoid_aupr(out_sorted, in_sorted),
    }


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
            f"rule must be 'closest' (the reference), 'first' (first threshold with "
            f"recall >= level) or 'roc' (OpenOOD v1.5's: first point of scikit-learn's ROC "
            f"curve with recall >= level), got {rule!r}"
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


def _threshold_counts(pos: np.ndarray, neg: np.ndarray):
    """Counts at the distinct positive values v_0 < ... < v_{K-1} of ascending-sorted scores.

    Returns ``(counts, tps, below, not_above, fps)``: positives at v_i, #{p >= v_i},
    #{q < v_i}, #{q <= v_i} and #{q >= v_i}.
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
    return counts, tps, below, not_above, fps


def _metrics_from_sorted(pos: np.ndarray, neg: np.ndarray, level: float, rule: str) -> dict:
    """The three metrics from ascending-sorted positive and negative scores.

    Thresholds are the distinct positive values v_0 < ... < v_{K-1}: tps only changes there,
    so AUROC, AUPR and the FPR rules need nothing else.
    """
    n_pos, n_neg = pos.size, neg.size
    counts, tps, below, not_above, fps = _threshold_counts(pos, neg)

    # Integer sum, so exact: sum_i c_i (#{q < v_i} + #{q <= v_i}) = 2 * sum (1[>] + .5 1[=]).
    auroc_value = float(np.dot(counts, below + not_above)) / (2.0 * n_pos * n_neg)
    aupr_value = float(np.dot(counts / n_pos, tps / (tps + fps)))

    recall = tps / n_pos  # same float64 rounding as the reference's tps / tps[-1]
    if rule in ("first", "roc"):
        # recall falls as i rises: the highest threshold with recall >= level is the last i.
        i = np.count_nonzero(recall >= level) - 1
        if rule == "roc":
            i = _roc_kept_index(counts, below, not_above, n_neg, i)
        fp = fps[i]
    else:
        fp = _closest_fps(recall, n_neg - not_above, fps[0], level)
    return {"fpr": float(fp) / n_neg, "auroc": auroc_value, "aupr": aupr_value}


def _roc_kept_index(counts, below, not_above, n_neg: int, i: int) -> int:
    """The first point at or below v_i that scikit-learn's ``roc_curve`` keeps.

    Walking down from v_i, v_j is dropped (``drop_intermediate=True``) when the step into it
    equals the step out of it, i.e. (negatives, positives) at v_j equal those at v_{j-1} with
    no negative strictly between them, unless v_j is the curve's first point (the highest value
    of both sets). v_0 is always kept: it is the last point, or a negative-only step follows.
    """
    if i == 0:
        return 0
    at = not_above - below  # negatives tied with v_j
    dropped = (
        (counts[1 : i + 1] == counts[:i])
        & (at[1 : i + 1] == at[:i])
        & (below[1 : i + 1] == not_above[:i])  # nothing strictly between v_{j-1} and v_j
    )
    if i == counts.size - 1 and not_above[-1] == n_neg:
        dropped[-1] = False  # v_{K-1} is the curve's first point, kept
    kept = np.flatnonzero(~dropped)  # dropped[k] is about v_{k+1}; v_0 is always kept
    return int(kept[-1]) + 1 if kept.size else 0


def _trapezoid_aupr(pos: np.ndarray, neg: np.ndarray) -> float:
    """Trapezoidal area under the PR curve (``sklearn.metrics.auc`` over
    ``precision_recall_curve``) from ascending-sorted positive and negative scores."""
    n_pos, n_neg = pos.size, neg.size
    counts, tps, _, not_above, fps = _threshold_counts(pos, neg)
    precision = tps / (tps + fps)
    # The curve's point just above v_i: #{p > v_i} positives and #{q > v_i} negatives, or the
    # appended (recall 0, precision 1) when nothing is above.
    tp_above = tps - counts
    seen_above = tp_above + (n_neg - not_above)
    precision_above = np.divide(
        tp_above, seen_above, out=np.ones(counts.size), where=seen_above > 0
    )
    return float(np.dot(counts, precision + precision_above)) / (2.0 * n_pos)


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
