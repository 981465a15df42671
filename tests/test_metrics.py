"""Detection metrics against scikit-learn and brute-force versions of the two FPR rules."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from outlier_exposure.errors import UserInputError
from outlier_exposure.metrics import (
    aupr,
    auroc,
    detection_metrics,
    detection_metrics_many,
    fpr_at_recall,
    read_scores,
)

# (n_in, n_out): balanced, 1:5 as in the test protocol, the reverse, and single examples.
SIZES = [(1, 1), (1, 6), (6, 1), (8, 4), (50, 10), (200, 40), (40, 200), (301, 299)]
LEVELS = [0.95, 0.9, 0.8, 0.5, 0.25, 0.0625, 0.05]


def make_scores(seed, n_in, n_out, ties):
    """OOD scores shifted up; rounding to one decimal makes many ties within and across sets."""
    rng = np.random.default_rng(seed)
    in_scores = rng.normal(0.0, 1.0, n_in)
    out_scores = rng.normal(1.0, 1.5, n_out)
    if ties:
        in_scores, out_scores = np.round(in_scores, 1), np.round(out_scores, 1)
    return in_scores, out_scores


def as_positive(in_scores, out_scores, positive):
    """(positive scores, negative scores), higher = more positive."""
    if positive == "ood":
        return out_scores, in_scores
    return -in_scores, -out_scores


def brute_closest(pos, neg, level):
    """The reference rule, by brute force over every distinct threshold.

    The reference scans the thresholds upwards, starting at the lowest one with full recall
    (min(pos)), keeps the FIRST of minimal |recall - level| (so the lowest threshold wins a
    tie), and ends with an extra point of recall 1 and 0 false positives.
    """
    thresholds = np.unique(np.concatenate([pos, neg]))  # ascending
    best_d, best_fp = np.inf, None
    for t in thresholds[thresholds >= pos.min()]:
        d = abs(int(np.sum(pos >= t)) / len(pos) - level)
        if d < best_d:  # strict: an equal distance later in the scan does not win
            best_d, best_fp = d, int(np.sum(neg >= t))
    if abs(1.0 - level) < best_d:  # the appended (recall 1, fps 0) point
        best_fp = 0
    return best_fp / len(neg)


def brute_first(pos, neg, level):
    """FPR at the first threshold, from the top, whose recall reaches the level."""
    for t in np.unique(np.concatenate([pos, neg]))[::-1]:
        if int(np.sum(pos >= t)) / len(pos) >= level:
            return int(np.sum(neg >= t)) / len(neg)
    raise AssertionError("recall 1 is always reached")


@pytest.mark.parametrize("positive", ["ood", "in"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n_in,n_out", SIZES)
def test_auroc_aupr_equal_sklearn(n_in, n_out, ties, positive):
    for seed in range(3):
        in_scores, out_scores = make_scores(seed, n_in, n_out, ties)
        m = detection_metrics(in_scores, out_scores, positive=positive)
        pos, neg = as_positive(in_scores, out_scores, positive)
        labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        scores = np.r_[pos, neg]
        assert m["auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
        assert m["aupr"] == pytest.approx(average_precision_score(labels, scores), abs=1e-9)
        assert all(type(v) is float and 0.0 <= v <= 1.0 for v in m.values())


@pytest.mark.parametrize("positive", ["ood", "in"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n_in,n_out", SIZES)
def test_fpr_rules_equal_brute_force(n_in, n_out, ties, positive):
    for seed in range(3):
        in_scores, out_scores = make_scores(seed, n_in, n_out, ties)
        pos, neg = as_positive(in_scores, out_scores, positive)
        for level in LEVELS:
            closest = fpr_at_recall(in_scores, out_scores, level, positive, "closest")
            first = fpr_at_recall(in_scores, out_scores, level, positive, "first")
            # Exact: both sides count the same examples and divide the same integers.
            assert closest == brute_closest(pos, neg, level), (seed, level)
            assert first == brute_first(pos, neg, level), (seed, level)


@pytest.mark.parametrize("positive", ["ood", "in"])
def test_first_rule_matches_roc_curve_searchsorted(positive):
    in_scores, out_scores = make_scores(7, 500, 100, ties=True)
    pos, neg = as_positive(in_scores, out_scores, positive)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    fpr, tpr, _ = roc_curve(labels, np.r_[pos, neg], drop_intermediate=False)
    for level in [0.95, 0.9, 0.5]:
        expected = fpr[np.searchsorted(tpr, level, side="left")]
        assert fpr_at_recall(in_scores, out_scores, level, positive, "first") == expected


def test_equal_recall_and_equal_distance_ties_follow_the_reference_scan():
    # Four OOD scores (recall steps of 0.25) with in-distribution scores between them.
    in_scores = np.array([0.0, 1.5, 2.5, 2.6, 3.5, 5.0])
    out_scores = np.array([1.0, 2.0, 3.0, 4.0])
    # Level 0.5: recall 0.5 holds for thresholds 2.5, 2.6 and 3.0; the lowest (2.5) wins,
    # flagging {2.5, 2.6, 3.5, 5.0}: 4/6. "first" takes 3.0: {3.5, 5.0}, 2/6.
    assert fpr_at_recall(in_scores, out_scores, 0.5) == 4 / 6
    assert fpr_at_recall(in_scores, out_scores, 0.5, rule="first") == 2 / 6
    # Level 0.625: recalls 0.5 and 0.75 are equally close (exactly 0.125 in binary); the scan
    # meets recall 0.75 first (lower threshold 1.5), flagging {1.5, 2.5, 2.6, 3.5, 5.0}: 5/6.
    assert fpr_at_recall(in_scores, out_scores, 0.625) == 5 / 6
    # Level 0.1: recall 0 (threshold 5.0, above every OOD score) beats recall 0.25: 1/6.
    assert fpr_at_recall(in_scores, out_scores, 0.1) == 1 / 6


def test_hand_worked_example():
    in_scores = [0.1, 0.2, 0.3, 0.4]
    out_scores = [0.35, 0.5]
    # OOD positive. Pairs (out > in): 0.35 beats 3, 0.5 beats 4 -> AUROC 7/8.
    # Descending thresholds: 0.5 (tp 1, fp 0), 0.4 (1, 1), 0.35 (2, 1):
    # AP = 0.5 * 1/1 + 0.5 * 2/3 = 5/6.
    # FPR95: only threshold 0.35 reaches recall 1 (|1 - .95| = .05, the closest): fp 1 -> 1/4.
    m = detection_metrics(in_scores, out_scores)
    assert m == pytest.approx({"fpr": 0.25, "auroc": 0.875, "aupr": 5 / 6}, abs=1e-15)
    # Level 0.5: thresholds 0.5 (fp 0) and 0.4 (fp 1) both have recall 0.5; the reference
    # keeps the lower one (fp 1 -> 1/4), "first" the higher one (fp 0 -> 0).
    assert fpr_at_recall(in_scores, out_scores, 0.5) == 0.25
    assert fpr_at_recall(in_scores, out_scores, 0.5, rule="first") == 0.0

    # In-distribution positive, score -x: descending -0.1, -0.2, -0.3 (tp 1, 2, 3, fp 0),
    # -0.35 (tp 3, fp 1), -0.4 (tp 4, fp 1): AP = 0.25 * (1 + 1 + 1 + 4/5) = 0.95.
    # FPR95: recall 1 first reached at -0.4 with 1 of 2 OOD accepted -> 0.5.
    m = detection_metrics(in_scores, out_scores, positive="in")
    assert m == pytest.approx({"fpr": 0.5, "auroc": 0.875, "aupr": 0.95}, abs=1e-15)
    # Level 0.75: recall 0.75 at -0.3 (fp 0) and -0.35 (fp 1): closest keeps -0.35 -> 0.5,
    # first keeps -0.3 -> 0.
    assert fpr_at_recall(in_scores, out_scores, 0.75, positive="in") == 0.5
    assert fpr_at_recall(in_scores, out_scores, 0.75, positive="in", rule="first") == 0.0


def test_hand_worked_example_with_ties():
    in_scores = [0.0, 1.0, 1.0, 2.0]
    out_scores = [1.0, 3.0]
    # AUROC: out 1.0 beats 0.0 and ties two 1.0s (2 * 0.5), out 3.0 beats all 4 -> 6/8.
    # Thresholds 3 (tp 1, fp 0), 2 (1, 1), 1 (2, 3): AP = 0.5 * 1 + 0.5 * 2/5 = 0.7.
    # FPR95: threshold 1 (recall 1) flags 3 of 4 -> 0.75.
    m = detection_metrics(in_scores, out_scores)
    assert m == pytest.approx({"fpr": 0.75, "auroc": 0.75, "aupr": 0.7}, abs=1e-15)


def test_auroc_is_the_same_under_both_conventions_and_helpers_agree():
    in_scores, out_scores = make_scores(3, 300, 60, ties=True)
    a = auroc(in_scores, out_scores)
    assert a == auroc(in_scores, out_scores, positive="in")
    assert a == detection_metrics(in_scores, out_scores)["auroc"]
    assert aupr(in_scores, out_scores) == detection_metrics(in_scores, out_scores)["aupr"]
    assert aupr(in_scores, out_scores, "in") == detection_metrics(
        in_scores, out_scores, positive="in"
    )["aupr"]


@pytest.mark.parametrize("positive", ["ood", "in"])
@pytest.mark.parametrize("rule", ["closest", "first"])
def test_many_equals_one_by_one(positive, rule):
    rng = np.random.default_rng(5)
    in_scores = np.round(rng.normal(size=1000), 1)
    pool = np.round(rng.normal(1.0, 1.0, size=3000), 1)
    draws = [rng.choice(pool, 200, replace=False) for _ in range(10)]
    many = detection_metrics_many(in_scores, draws, 0.9, positive, rule)
    assert many == [detection_metrics(in_scores, d, 0.9, positive, rule) for d in draws]


def test_inputs_are_not_modified_and_other_array_likes_work():
    in_scores, out_scores = make_scores(2, 100, 20, ties=True)
    in_copy, out_copy = in_scores.copy(), out_scores.copy()
    m = detection_metrics(in_scores, out_scores, positive="in")
    assert np.array_equal(in_scores, in_copy) and np.array_equal(out_scores, out_copy)
    # Lists and float32 give the same numbers (float32 -> float64 keeps order and ties).
    assert detection_metrics(list(in_scores), list(out_scores), positive="in") == m
    f32 = detection_metrics(in_scores.astype(np.float32), out_scores.astype(np.float32))
    exp = detection_metrics(
        in_scores.astype(np.float32).astype(np.float64),
        out_scores.astype(np.float32).astype(np.float64),
    )
    assert f32 == exp


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"recall_level": 0.0}, "recall_level"),
        ({"recall_level": 1.0}, "recall_level"),
        ({"recall_level": 95}, "recall_level"),
        ({"recall_level": float("nan")}, "recall_level"),
        ({"recall_level": "0.95"}, "recall_level"),
        ({"recall_level": True}, "recall_level"),
        ({"positive": "out"}, "positive"),
        ({"rule": "nearest"}, "rule"),
    ],
)
def test_bad_options_raise(kwargs, words):
    with pytest.raises(UserInputError, match=words):
        detection_metrics([0.1, 0.2], [0.3], **kwargs)


@pytest.mark.parametrize(
    "in_scores, out_scores, words",
    [
        ([], [0.3], "in_scores is empty"),
        ([0.1], [], "out_scores is empty"),
        ([[0.1, 0.2]], [0.3], "in_scores must be a 1-D"),
        ([0.1], 0.3, "out_scores must be a 1-D"),
        ([0.1, float("nan"), 0.2], [0.3], "in_scores holds NaN"),
        ([0.1], [0.3, float("inf")], "out_scores holds NaN or infinite"),
        ([0.1], [float("-inf")], "out_scores holds NaN or infinite"),
        (["a", "b"], [0.3], "in_scores must be an array of numbers"),
    ],
)
def test_bad_scores_raise(in_scores, out_scores, words):
    with pytest.raises(UserInputError, match=words):
        detection_metrics(in_scores, out_scores)
    assert issubclass(UserInputError, ValueError)


def test_bad_set_in_many_is_named():
    with pytest.raises(UserInputError, match=r"out_score_sets\[1\]"):
        detection_metrics_many([0.1, 0.2], [[0.3], [np.nan]])


def test_read_scores_npy_and_text(tmp_path):
    x = np.array([0.5, -1.25, 3.0, 3.0])
    np.save(tmp_path / "s.npy", x.astype(np.float32))
    got = read_scores(tmp_path / "s.npy")
    assert got.dtype == np.float64 and np.array_equal(got, x)

    (tmp_path / "s.txt").write_text("0.5\n\n-1.25\n  3\n3.0e0\n\n")
    got = read_scores(str(tmp_path / "s.txt"))
    assert got.dtype == np.float64 and np.array_equal(got, x)


def test_read_scores_errors(tmp_path):
    with pytest.raises(UserInputError, match="missing.npy does not exist"):
        read_scores(tmp_path / "missing.npy")

    (tmp_path / "bad.txt").write_text("0.1\n\n0.2\nabc\n")
    with pytest.raises(UserInputError, match=r"bad.txt, line 4: 'abc' is not a number"):
        read_scores(tmp_path / "bad.txt")

    (tmp_path / "nan.txt").write_text("0.1\nnan\n")
    with pytest.raises(UserInputError, match=r"nan.txt, line 2"):
        read_scores(tmp_path / "nan.txt")

    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserInputError, match="empty.txt holds no scores"):
        read_scores(tmp_path / "empty.txt")

    np.save(tmp_path / "two_d.npy", np.zeros((3, 2)))
    with pytest.raises(UserInputError, match=r"two_d.npy holds an array of shape \(3, 2\)"):
        read_scores(tmp_path / "two_d.npy")

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserInputError, match="obj.npy is not a readable"):
        read_scores(tmp_path / "obj.npy")

    (tmp_path / "junk.npy").write_bytes(b"not an npy file")
    with pytest.raises(UserInputError, match="junk.npy is not a readable"):
        read_scores(tmp_path / "junk.npy")
