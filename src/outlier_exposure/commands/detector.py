"""`oe detector`: fix a run's anomaly threshold on held-out in-distribution data."""

from __future__ import annotations

from ._common import add_data_root_flag, add_parser, holds_run_lock


def register(sub) -> None:
    p = add_parser(sub, "detector", "fix the anomaly threshold of a run's detector at a chosen "
                   "true-positive rate on held-out in-distribution images (writes "
                   "RUN/detector.json)", run)
    p.add_argument("run", help="trained run folder")
    p.add_argument("--tpr", type=float, default=0.95,
                   help="fraction of held-out in-distribution images accepted (0.95)")
    p.add_argument("--holdout", metavar="SPEC",
                   help="held-out in-distribution images (default: the run's calibration "
                        "hold-out, else its test set, with a warning)")
    p.add_argument("--score", help="msp, xent, energy, maxlogit, mahalanobis or knn (default: "
                                   "msp; energy for an energy fine-tune)")
    p.add_argument("--knn-k", type=int, default=50, help="knn: the k-th neighbour (50)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, auto")
    add_data_root_flag(p)


@holds_run_lock("detector")
def run(args) -> int:
    from ..deploy import fix_detector

    info = fix_detector(args.run, score=args.score, tpr=args.tpr, holdout=args.holdout,
                        knn_k=args.knn_k, device=args.device)
    print(f"score {info['score']}: anomaly when score > {info['threshold']:.6g}; accepts "
          f"{100 * info['tpr_achieved']:.2f}% of {info['n_holdout']} held-out images "
          f"({info['holdout']}; asked {100 * info['tpr']:.2f}%)")
    print(f"written: {args.run}/detector.json")
    return 0
