"""Speed of `detection_metrics` against the reference's way of computing the same three numbers.

The reference (`get_measures` in the authors' `utils/display_results.py`) stacks the scores,
builds labels (anomalies = 1), then calls `roc_auc_score`, `average_precision_score` and its own
`fpr_and_fdr_at_recall`: three full sorts of the same scores. Ours sorts each set once.

    python benchmarks/bench_metrics.py [--n 1000000] [--ties] [--repeats 3]

Prints the machine and settings, the best-of-N times, the largest difference between the two
results, and as its last line `ratio: X` (reference time / our time).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import sklearn
import sklearn.metrics as skm
import torch

from outlier_exposure.metrics import detection_metrics


def reference_fpr_closest(labels: np.ndarray, scores: np.ndarray, level: float) -> float:
    """The reference's FPR rule, written out: one descending stable sort, distinct thresholds,
    the scan upwards from the first threshold of full recall, closest recall wins."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    s, y = scores[order], labels[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # last index of each distinct value
    tps = np.cumsum(y, dtype=np.float64)[ends]
    fps = 1 + ends - tps
    recall = tps / tps[-1]
    full = tps.searchsorted(tps[-1])
    scan = slice(full, None, -1)
    recall, fps = np.r_[recall[scan], 1], np.r_[fps[scan], 0]
    return fps[np.argmin(np.abs(recall - level))] / np.sum(labels == 0)


def reference_metrics(in_scores: np.ndarray, out_scores: np.ndarray, level: float) -> dict:
    scores = np.concatenate([out_scores, in_scores])
    labels = np.zeros(scores.size, dtype=np.int32)
    labels[: out_scores.size] = 1
    return {
        "fpr": reference_fpr_closest(labels, scores, level),
        "auroc": skm.roc_auc_score(labels, scores),
        "aupr": skm.average_precision_score(labels, scores),
    }


def best_time(fn, repeats: int) -> tuple[float, dict]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="total number of scores")
    parser.add_argument("--ties", action="store_true", help="round scores to 2 decimals")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recall-level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # OOD:ID = 1:5, as in the test protocol; anomalies score higher on average.
    n_out = args.n // 6
    n_in = args.n - n_out
    rng = np.random.default_rng(args.seed)
    in_scores = rng.normal(0.0, 1.0, n_in)
    out_scores = rng.normal(1.5, 1.0, n_out)
    if args.ties:
        in_scores, out_scores = np.round(in_scores, 2), np.round(out_scores, 2)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}")
    print(f"versions: torch {torch.__version__}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}")
    print(f"settings: n={args.n} ({n_in} in-dist, {n_out} OOD), ties={args.ties}, "
          f"recall_level={args.recall_level}, best of {args.repeats}")

    level = args.recall_level
    t_ref, ref = best_time(lambda: reference_metrics(in_scores, out_scores, level), args.repeats)
    t_ours, ours = best_time(lambda: detection_metrics(in_scores, out_scores, level), args.repeats)
    diff = max(abs(float(ref[k]) - ours[k]) for k in ("fpr", "auroc", "aupr"))

    print(f"reference (roc_auc_score + average_precision_score + fpr): {t_ref * 1e3:.1f} ms")
    print(f"ours (detection_metrics): {t_ours * 1e3:.1f} ms")
    print("values: " + ", ".join(f"{k} {ours[k]:.6f}" for k in ("fpr", "auroc", "aupr")))
    print(f"max abs difference: {diff:.3g}")
    print(f"ratio: {t_ref / t_ours:.2f}")


if __name__ == "__main__":
    main()
