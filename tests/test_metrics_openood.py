"""OpenOOD v1.5's metrics (`openood_metrics`, `rule="roc"`) against scikit-learn called the way
OpenOOD calls it (`auc_and_fpr_recall` in openood/evaluators/metrics.py), re-derived here."""

import numpy as np
import pytest
from sklearn.metrics import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_curve,
)

from outlier_exposure.errors import UserInputError
from outlier_exposure.metrics import (
    detection_metrics,
    detection_metrics_many,
    fpr_at_recall,
    openood_metrics,
)

TOL = 1e-12
SIZES = [(1, 1), (1, 6), (6, 1), (2, 3), (8, 4), (50, 10), (200, 40), (40, 200), (301, 299),
         (1000, 3000)]
LEVELS = [0.95, 0.9, 0.8, 0.5, 0.3, 0.05, 0.99]
KINDS = ["integers", "float32", "continuous"]


def reference(in_scores, out_scores, level, positive="ood"):
    """OpenOOD's four numbers from scikit-learn, as OpenOOD computes them (one level)."""
    return reference_levels(in_scores, out_scores, [level], positive)[0]


def reference_levels(in_scores, out_scores, levels, positive="ood"):
    """OpenOOD's four numbers at each level, from scikit-learn's curves computed once.

    OpenOOD's `conf` is a confidence (higher = more in-distribution), i.e. our anomaly score
    negated, and its label marks OOD as positive. `positive="in"` swaps the classes of the ROC
    curve (in-distribution positive, scored by conf); the AUPRs do not depend on it.
    """
    conf = -np.concatenate([in_scores, out_scores])
    ood = np.concatenate([np.zeros(len(in_scores), int), np.ones(len(out_scores), int)])
    if positive == "ood":
        fpr_list, tpr_list, _ = roc_curve(ood, -conf)
    else:
        fpr_list, tpr_list, _ = roc_curve(1 - ood, conf)
    precision_in, recall_in, _ = precision_recall_curve(1 - ood, conf)
    precision_out, recall_out, _ = precision_recall_curve(ood, -conf)
    areas = {
        "auroc": float(auc(fpr_list, tpr_list)),
        "aupr_in": float(auc(recall_in, precision_in)),
        "aupr_out": float(auc(recall_out, precision_out)),
    }
    return [{"fpr": float(fpr_list[np.argmax(tpr_list >= level)]), **areas} for level in levels]


def make_scores(kind, seed, n_in, n_out):
    """Scores with many ties within and across the sets (except "continuous")."""
    rng = np.random.default_rng(seed)
    if kind == "integers":
        return (rng.integers(0, 6, n_in).astype(np.float64),
                rng.integers(1, 8, n_out).astype(np.float64))
    in_scores = rng.normal(0.0, 1.0, n_in)
    out_scores = rng.normal(1.0, 1.5, n_out)
    if kind == "float32":  # a coarse grid, then float32 rounding, as a model's scores would be
        return (np.round(in_scores, 1).astype(np.float32),
                np.round(out_scores, 1).astype(np.float32))
    return in_scores, out_scores


def assert_matches(found, expected):
    assert set(found) == {"fpr", "auroc", "aupr_in", "aupr_out"}
    for key, value in expected.items():
        assert isinstance(found[key], float)
        assert abs(found[key] - value) <= TOL, (key, found[key], value)


@pytest.mark.parametrize("positive", ["ood", "in"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_in,n_out", SIZES)
def test_equals_openood_sklearn_formulas(n_in, n_out, kind, positive):
    """Random scores with ties, many seeds and levels: all four numbers within 1e-12, and the
    documented order roc >= first."""
    seeds = range(20) if n_in * n_out < 10**5 else range(4)
    for seed in seeds:
        in_scores, out_scores = make_scores(kind, seed, n_in, n_out)
        expected = reference_levels(in_scores, out_scores, LEVELS, positive)
        for level, want in zip(LEVELS, expected):
            found = openood_metrics(in_scores, out_scores, recall_level=level, positive=positive)
            assert_matches(found, want)
            first = fpr_at_recall(in_scores, out_scores, level, positive, rule="first")
            assert found["fpr"] >= first


SPECIAL = {
    "one each, equal": ([0.5], [0.5]),
    "one each, separated": ([0.0], [1.0]),
    "one each, reversed": ([1.0], [0.0]),
    "all equal": ([2.0] * 7, [2.0] * 3),
    "separated": ([0.0, 1.0, 1.0, 2.0], [3.0, 4.0, 4.0]),
    "reversed": ([3.0, 4.0, 4.0], [0.0, 1.0, 1.0, 2.0]),
    "separated, touching": ([0.0, 1.0, 2.0], [2.0, 3.0]),
    "diagonal run": ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0]),
    "doubled diagonal": ([1.0, 1.0, 2.0, 2.0, 3.0, 3.0], [1.0, 2.0, 3.0]),
    "one in, many out": ([1.0], [0.0, 1.0, 1.0, 2.0, 3.0]),
    "many in, one out": ([0.0, 1.0, 1.0, 2.0, 3.0], [1.0]),
}


@pytest.mark.parametrize("positive", ["ood", "in"])
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_tiny_and_degenerate_sets(name, positive):
    in_scores, out_scores = (np.array(x) for x in SPECIAL[name])
    levels = LEVELS + [0.2, 1 / 3, 0.6]
    for level, want in zip(levels, reference_levels(in_scores, out_scores, levels, positive)):
        found = openood_metrics(in_scores, out_scores, recall_level=level, positive=positive)
        assert_matches(found, want)


def test_hand_worked_diagonal_run_where_the_drop_changes_the_fpr():
    """in = 1, 2, 3 and OOD = 1, 2, 3, 4 (anomaly scores). From the top, OOD positive, the
    distinct values give (fps, tps) = 4: (0, 1), 3: (1, 2), 2: (2, 3), 1: (3, 4). The steps into
    3, 2 and 1 are all (1, 1), so scikit-learn's curve drops 3 and 2 and keeps (0,0), (0,1),
    (3,4). At recall 0.5 the first point reaching it is 3 (fps 1, FPR 1/3), but after the drop
    it is 1 (fps 3, FPR 1)."""
    in_scores, out_scores = [1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]
    found = openood_metrics(in_scores, out_scores, recall_level=0.5)
    assert found["fpr"] == 1.0
    assert fpr_at_recall(in_scores, out_scores, 0.5, rule="first") == 1 / 3
    assert fpr_at_recall(in_scores, out_scores, 0.5, rule="closest") == 1 / 3
    # AUROC: OOD 4 beats all three, 3 beats two and ties one, 2 beats one and ties one, 1 ties
    # one: (3 + 2.5 + 1.5 + 0.5) / 12.
    assert found["auroc"] == pytest.approx(7.5 / 12, abs=TOL)
    # AUPR-Out: (recall, precision) = (0, 1), (1/4, 1), (2/4, 2/3), (3/4, 3/5), (1, 4/7);
    # trapezoids 1/4 + 5/24 + 19/120 + 41/280 = 641/840.
    assert found["aupr_out"] == pytest.approx(641 / 840, abs=TOL)
    # Average precision is another number: (1 + 2/3 + 3/5 + 4/7) / 4 = 298/420.
    ap_out = average_precision_score([0, 0, 0, 1, 1, 1, 1], in_scores + out_scores)
    assert ap_out == pytest.approx(298 / 420, abs=TOL)
    # AUPR-In (in positive, negated scores, from the top -1, -2, -3, -4): (recall, precision) =
    # (0, 1), (1/3, 1/2), (2/3, 1/2), (1, 1/2), (1, 3/7); trapezoids 1/4 + 1/6 + 1/6 + 0.
    assert found["aupr_in"] == pytest.approx(7 / 12, abs=TOL)
    assert_matches(found, reference(in_scores, out_scores, 0.5))

    # In-distribution positive: from -1 down, (fps, tps) = (1, 1), (2, 2), (3, 3), (4, 3). The
    # point of -2 is dropped (steps (1, 1) in and out), -3 is kept (the next step is (1, 0)).
    # At recall 0.5 "first" stops at -2 (FPR 2/4); "roc" goes on to -3 (FPR 3/4).
    found_in = openood_metrics(in_scores, out_scores, recall_level=0.5, positive="in")
    assert found_in["fpr"] == 3 / 4
    assert fpr_at_recall(in_scores, out_scores, 0.5, positive="in", rule="first") == 2 / 4
    assert found_in["aupr_in"] == found["aupr_in"] and found_in["aupr_out"] == found["aupr_out"]
    assert_matches(found_in, reference(in_scores, out_scores, 0.5, "in"))


def test_hand_worked_first_point_of_the_curve_is_kept():
    """in = OOD = 1, 2, 3: (fps, tps) = (1, 1), (2, 2), (3, 3), one straight line through (0, 0).
    scikit-learn keeps its first and last points whatever the steps (the (0, 0) point is added
    after the drop), so recall 0.3 stops at the first point (FPR 1/3), while recall 0.5 skips
    the dropped middle point and lands on the last (FPR 1)."""
    scores = [1.0, 2.0, 3.0]
    assert openood_metrics(scores, scores, recall_level=0.3)["fpr"] == 1 / 3
    assert openood_metrics(scores, scores, recall_level=0.5)["fpr"] == 1.0
    assert fpr_at_recall(scores, scores, 0.5, rule="first") == 2 / 3


def test_hand_worked_negative_only_values_keep_points():
    """OOD = 3, 2, 1 and in = 2.5, 1.5: the curve over all distinct values is (0,1), (1,1),
    (1,2), (2,2), (2,3), every step differs from the next, so nothing is dropped and recall 0.6
    stops at 2 (fps 1, FPR 1/2). Applying the drop to the OOD values alone, (0,1), (1,2), (2,3)
    look collinear and would give FPR 1 instead."""
    in_scores, out_scores = [2.5, 1.5], [3.0, 2.0, 1.0]
    found = openood_metrics(in_scores, out_scores, recall_level=0.6)
    assert found["fpr"] == 0.5
    assert_matches(found, reference(in_scores, out_scores, 0.6))
    # AUPR-Out: (0, 1), (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2), (1, 3/5): the negative-only
    # points lower the left side of the next trapezoid: 1/3 + (1/2 + 2/3)/6 + (1/2 + 3/5)/6.
    assert found["aupr_out"] == pytest.approx(1 / 3 + (7 / 6) / 6 + (11 / 10) / 6, abs=TOL)


@pytest.mark.parametrize("positive", ["ood", "in"])
def test_roc_rule_in_detection_metrics_and_many(positive):
    rng = np.random.default_rng(7)
    in_scores = rng.integers(0, 5, 300).astype(float)
    draws = [rng.integers(1, 7, n).astype(float) for n in (1, 5, 60, 300)]
    many = detection_metrics_many(in_scores, draws, 0.9, positive, "roc")
    for out_scores, found in zip(draws, many):
        one = detection_metrics(in_scores, out_scores, 0.9, positive, rule="roc")
        assert found == one
        openood = openood_metrics(in_scores, out_scores, recall_level=0.9, positive=positive)
        assert one["fpr"] == openood["fpr"]
        assert one["auroc"] == openood["auroc"]
        assert fpr_at_recall(in_scores, out_scores, 0.9, positive, "roc") == openood["fpr"]
        assert one["fpr"] == reference(in_scores, out_scores, 0.9, positive)["fpr"]


@pytest.mark.parametrize("rule", ["closest", "first"])
def test_other_rules_change_only_the_fpr(rule):
    rng = np.random.default_rng(3)
    in_scores, out_scores = rng.integers(0, 5, 40).astype(float), rng.integers(1, 7, 30)
    found = openood_metrics(in_scores, out_scores, rule=rule, positive="in")
    default = openood_metrics(in_scores, out_scores)
    assert found["fpr"] == fpr_at_recall(in_scores, out_scores, positive="in", rule=rule)
    assert {k: found[k] for k in ("auroc", "aupr_in", "aupr_out")} == {
        k: default[k] for k in ("auroc", "aupr_in", "aupr_out")}


def test_inputs_are_not_modified_and_options_are_keyword_only():
    in_scores = np.array([3.0, 1.0, 2.0])
    out_scores = np.array([2.0, 5.0])
    openood_metrics(in_scores, out_scores)
    assert in_scores.tolist() == [3.0, 1.0, 2.0] and out_scores.tolist() == [2.0, 5.0]
    with pytest.raises(TypeError):
        openood_metrics(in_scores, out_scores, 0.95)


@pytest.mark.parametrize(
    "in_scores,out_scores,kwargs,words",
    [
        ([1.0, np.nan], [2.0], {}, "NaN"),
        ([1.0], [np.inf], {}, "NaN or infinite"),
        ([], [1.0], {}, "empty"),
        ([[1.0, 2.0]], [1.0], {}, "1-D"),
        ([1.0], [2.0], {"rule": "nearest"}, "rule"),
        ([1.0], [2.0], {"positive": "out"}, "positive"),
        ([1.0], [2.0], {"recall_level": 1.0}, "recall_level"),
    ],
)
def test_bad_inputs_raise(in_scores, out_scores, kwargs, words):
    with pytest.raises(UserInputError, match=words):
        openood_metrics(in_scores, out_scores, **kwargs)
