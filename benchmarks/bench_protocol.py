"""Evaluation protocol: scores cached once per set vs the reference's model re-run per draw.

The reference scores the in-distribution test set once, then for every OOD set re-runs the
model on a fresh random subset for each of the 10 draws. We plan the draws first and run the
model once on each OOD image that some draw uses; the statistics are the same.

    python benchmarks/bench_protocol.py [--n-test 10000] [--ood-sizes 2000 5640 10000] [--draws 10]

OOD set sizes by default: 2000 (one draw's worth, as a small set), 5640 (Textures), 10000 (LSUN).

Prints the forward passes of each, the time of each, and as its last line
`ratio: X` (reference time / our time).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from outlier_exposure.evaluation.draws import plan_draws, protocol_metrics
from outlier_exposure.metrics import detection_metrics
from outlier_exposure.models import create_model
from outlier_exposure.scores import compute_score


@torch.no_grad()
def score_images(model, x: torch.Tensor, batch: int = 500) -> np.ndarray:
    logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    return compute_score("msp", logits).double().numpy()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--ood-sizes", type=int, nargs="+", default=[2000, 5640, 10000])
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--model", default="small-cnn")
    args = p.parse_args()
    torch.manual_seed(0)
    model = create_model(args.model, 10, in_channels=3).eval()
    test = torch.randn(args.n_test, 3, 32, 32)
    oods = [torch.randn(n, 3, 32, 32) * (1 + k) for k, n in enumerate(args.ood_sizes)]
    per_draw = args.n_test // 5

    # Reference: in-distribution once; each OOD set re-run through the model for every draw.
    started = time.perf_counter()
    in_scores = score_images(model, test)
    passes_ref = args.n_test
    rng = np.random.default_rng(1)
    ref = []
    for ood in oods:
        fprs = []
        for _ in range(args.draws):
            subset = ood[torch.from_numpy(rng.choice(len(ood), per_draw, replace=False))]
            fprs.append(detection_metrics(in_scores, score_images(model, subset))["fpr"])
            passes_ref += per_draw
        ref.append(np.mean(fprs))
    t_ref = time.perf_counter() - started

    # Ours: every set scored once, draws over cached scores.
    started = time.perf_counter()
    in_scores = score_images(model, test)
    passes_ours = args.n_test
    rng = np.random.default_rng(1)
    ours, per_set = [], []
    for ood in oods:
        plan = plan_draws(len(ood), per_draw, args.draws, rng)
        needed = np.unique(np.concatenate(plan))
        out_scores = np.full(len(ood), np.nan)
        out_scores[needed] = score_images(model, ood[torch.from_numpy(needed)])
        passes_ours += len(needed)
        per_set.append(f"{len(ood)} images: {args.draws * per_draw} vs {len(needed)} "
                       f"({args.draws * per_draw / len(needed):.1f}x)")
        ours.append(protocol_metrics(in_scores, out_scores, plan, recall=0.95, positive="ood",
                                     rule="closest")["fpr"])
    t_ours = time.perf_counter() - started

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"settings: model {args.model}, {args.n_test} test images + OOD sets of "
          f"{args.ood_sizes} images (3x32x32), {args.draws} draws of {per_draw} per set")
    ood_ref, ood_ours = passes_ref - args.n_test, passes_ours - args.n_test
    print(f"OOD images through the model: reference {ood_ref}, ours {ood_ours} "
          f"({ood_ref / ood_ours:.2f}x fewer); with the test set: {passes_ref} vs {passes_ours} "
          f"({passes_ref / passes_ours:.2f}x)")
    print("per OOD set, reference vs ours: " + "; ".join(per_set))
    print(f"mean FPR95 per set: reference {np.round(ref, 4).tolist()}, ours "
          f"{np.round(ours, 4).tolist()} (same protocol, different random subsets)")
    print(f"time: reference {t_ref:.2f} s, ours {t_ours:.2f} s")
    print(f"ratio: {t_ref / t_ours:.2f}")


if __name__ == "__main__":
    main()
