"""Calibration metrics: RMS and MAD calibration error, soft F1, expected calibration error.

Inputs: `confidence` c_i in [0, 1] (e.g. the maximum softmax probability) and `correct` y_i in
{0, 1} (1: the prediction is right). All results are fractions in [0, 1].

Adaptive bins (the reference's `calib_err`, OE paper section 5 and its calibration appendix):
sort the examples by confidence (a stable sort, ties keep their input order) and cut the
sorted list into `n // bin_size` bins of `bin_size` (100) consecutive examples, the last bin
taking the remainder (so it holds between 100 and 199 examples; with fewer than 100 examples
there is one bin of all of them in ``corrected`` mode). With ``conf_b`` and ``acc_b`` the mean
confidence and mean correctness of bin b, and n all the examples:

    RMS = sqrt( sum_b |b| / n * (conf_b - acc_b)^2 )
    MAD =       sum_b |b| / n * |conf_b - acc_b|

Two modes:

- ``"corrected"`` (default): every bin counts.
- ``"reference"``: as the authors' code, which loops ``for i in range(len(bins) - 1)`` and so
  never adds the LAST bin: the highest-confidence 100-199 examples are dropped from the sum
  while the weights still divide by all n. On well-trained models that bin is nearly perfectly
  calibrated (confidence ~1, all right), so the numbers barely move; on small sets or with OOD
  examples among the most confident ones the reference under-reports. With a single bin (100 to
  199 examples) the reference reports 0; with fewer than 100 it crashes, and here raises.

Soft F1 (mistakes are the positive class, 1 - c is the soft "this is a mistake" prediction):

    soft F1 = 2 * sum_i (1 - c_i) * w_i / sum_i ((1 - c_i) + w_i),   w_i = 1 - y_i

i.e. 2 TP / (2 TP + FP + FN) with soft counts TP = sum (1-c) w, FP = sum (1-c)(1-w),
FN = sum c w. When there is no mistake and every c_i = 1 the ratio is 0/0; it is reported as 0
(scikit-learn's `zero_division=0` convention). Same in both modes.

Expected calibration error (Guo et al. 2017), 15 equal-width bins (k/15, (k+1)/15] (the first
also takes c = 0): ``ECE = sum_b |b| / n * |acc_b - conf_b|``, empty bins skipped. Not in the
reference; the same in both modes.

A stable sort is used so that a result never depends on the platform: the reference's
`np.argsort` (an unstable sort whose tie order varies with the numpy build) can order tied
confidences differently, which matters only when ties straddle a bin boundary with different
correctness.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError

MODES = ("corrected", "reference")
BIN_SIZE = 100
ECE_BINS = 15

__all__ = ["MODES", "check_mode", "calibration_error", "soft_f1", "expected_calibration_error",
           "calibration_metrics", "check_inputs", "rescale_01"]


def check_inputs(confidence, correct, what: str = "confidence") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 confidences in [0, 1] and 0/1 correctness of the same length."""
    c = np.asarray(confidence, dtype=np.float64).ravel()
    y = np.asarray(correct, dtype=np.float64).ravel()
    if len(c) != len(y):
        raise UserInputError(
            f"{what}: {len(c)} confidences but {len(y)} correctness values; give one of each per "
            "example"
        )
    if len(c) == 0:
        raise UserInputError(f"{what}: no examples")
    if not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
        raise UserInputError(
            f"{what}: confidences must lie in [0, 1] (found {np.nanmin(c):.6g}..{np.nanmax(c):.6g}"
            f"{' and NaN' if np.isnan(c).any() else ''}); pass probabilities such as the maximum "
            "softmax, not logits or anomaly scores"
        )
    if not np.all((y == 0) | (y == 1)):
        raise UserInputError(f"{what}: correctness values must be 1 (right) or 0 (wrong)")
    return c, y


def check_mode(mode: str, what: str = "calibration mode") -> None:
    """Refuse a binning mode other than MODES, naming the input (`what`) that gave it."""
    if mode not in MODES:
        raise UserInputError(f"{what} {mode!r} is not one of {', '.join(MODES)}; choose one of "
                             "those")


def adaptive_bins(n: int, bin_size: int = BIN_SIZE) -> list[tuple[int, int]]:
    """[start, stop) of each bin over the sorted examples; the last bin takes the remainder."""
    if bin_size < 1:
        raise UserInputError(f"bin size must be >= 1, got {bin_size}")
    count = max(n // bin_size, 1)
    edges = [i * bin_size for i in range(count)] + [n]
    return list(zip(edges[:-1], edges[1:]))


def _bin_gaps(c: np.ndarray, y: np.ndarray, mode: str, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(weights |b|/n, gaps |conf_b - acc_b|) of the bins that count in `mode`."""
    check_mode(mode)
    n = len(c)
    if mode == "reference" and n < bin_size:
        raise UserInputError(
            f"reference-mode calibration error needs at least {bin_size} examples (got {n}); the "
            "reference code fails there. Use mode 'corrected'"
        )
    order = np.argsort(c, kind="stable")
    c, y = c[order], y[order]
    bins = adaptive_bins(n, bin_size)
    if mode == "reference":
        bins = bins[:-1]  # the reference's `range(len(bins) - 1)`: the top bin is never added
    weights = np.array([(b - a) / n for a, b in bins])
    gaps = np.array([abs(c[a:b].mean() - y[a:b].mean()) for a, b in bins])
    return weights, gaps


def calibration_error(confidence, correct, p: int = 2, *, mode: str = "corrected",
                      bin_size: int = BIN_SIZE) -> float:
    """RMS (p=2) or MAD (p=1) calibration error over adaptive bins of `bin_size` examples."""
    c, y = check_inputs(confidence, correct)
    weights, gaps = _bin_gaps(c, y, mode, bin_size)
    if p == 2:
        return float(np.sqrt(np.sum(weights * gaps ** 2)))
    if p == 1:
        return float(np.sum(weights * gaps))
    raise ValueError("p must be 1 (MAD) or 2 (RMS)")


def soft_f1(confidence, correct) -> float:
    """2 sum((1-c) w) / sum((1-c) + w), w = 1 - correct: soft F1 with mistakes positive."""
    c, y = check_inputs(confidence, correct)
    wrong = 1.0 - y
    denominator = np.sum((1.0 - c) + wrong)
    return float(2.0 * np.sum((1.0 - c) * wrong) / denominator) if denominator > 0 else 0.0


def expected_calibration_error(confidence, correct, n_bins: int = ECE_BINS) -> float:
    """ECE over `n_bins` equal-width confidence bins (k/n_bins, (k+1)/n_bins]."""
    c, y = check_inputs(confidence, correct)
    # Bin k holds (k/B, (k+1)/B]; ceil maps an upper edge to its own bin, c = 0 goes to bin 0.
    index = np.clip(np.ceil(c * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    gap = np.abs(np.bincount(index, weights=c, minlength=n_bins)
                 - np.bincount(index, weights=y, minlength=n_bins))
    # sum_b |b|/n |conf_b - acc_b| = sum_b |sum_b c - sum_b y| / n
    return float(gap.sum() / len(c))


def calibration_metrics(confidence, correct, *, mode: str = "corrected",
                        bin_size: int = BIN_SIZE, ece_bins: int = ECE_BINS) -> dict:
    """{"rms", "mad", "soft_f1", "ece"} (fractions) of one set of predictions."""
    c, y = check_inputs(confidence, correct)
    weights, gaps = _bin_gaps(c, y, mode, bin_size)
    return {
        "rms": float(np.sqrt(np.sum(weights * gaps ** 2))),
        "mad": float(np.sum(weights * gaps)),
        "soft_f1": soft_f1(c, y),
        "ece": expected_calibration_error(c, y, ece_bins),
    }


def rescale_01(confidence: np.ndarray, num_classes: int) -> np.ndarray:
    """The reference's optional 0-1 posterior rescaling (c - 1/K) / (1 - 1/K).

    The maximum softmax probability of K classes lies in [1/K, 1]; this maps it onto [0, 1].
    """
    k = float(num_classes)
    return np.clip((np.asarray(confidence, dtype=np.float64) - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
