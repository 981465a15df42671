"""`oe eval`: the reference OOD-detection protocol on a trained run, for one or more scores."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from . import _text as text_cli
from ._common import (
    DRAW_SIZE_CHOICES, add_data_flags, add_metric_flags, add_parser, holds_run_lock,
)


def register(sub) -> None:
    p = add_parser(sub, "eval", "evaluate OOD detection of a run with the paper's protocol or "
                               "OpenOOD v1.5's", run)
    p.add_argument("run", help="run folder")
    p.add_argument("--protocol", choices=("paper", "openood"),
                   help="paper: the 2019 protocol (OOD:ID 1:5, 10 draws, mean over the sets); "
                        "openood: OpenOOD v1.5 (full sets, near-OOD and far-OOD groups, AUROC "
                        "first, AUPR-In/Out). Default: the run's preset's (paper for the paper "
                        "presets)")
    p.add_argument("--ood", nargs="+", metavar="SPEC",
                   help="paper protocol: OOD test sets (default: the preset's)")
    p.add_argument("--near", nargs="+", metavar="SPEC",
                   help="openood protocol: near-OOD sets (default: the benchmark of the run's "
                        "test set, e.g. CIFAR-100 and Tiny ImageNet for CIFAR-10)")
    p.add_argument("--far", nargs="+", metavar="SPEC",
                   help="openood protocol: far-OOD sets (default: the benchmark's)")
    p.add_argument("--score", nargs="+", metavar="NAME",
                   help="anomaly score(s), all evaluated in one pass over the data: msp (default; "
                        "energy for an energy fine-tune), xent, energy, maxlogit, odin, "
                        "mahalanobis, knn")
    p.add_argument("--draws", type=int, help="paper protocol: random OOD subsets per set (10)")
    p.add_argument("--ratio", type=int, help="paper protocol: ID:OOD ratio (5: OOD:ID = 1:5)")
    add_metric_flags(p)
    add_data_flags(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the OOD draws")
    p.add_argument("--ood-draw-size", choices=DRAW_SIZE_CHOICES,
                   help="OOD examples per draw: the reference's whole test batches of 200 "
                        "(images) or 64 (text), or exactly len(test) // ratio (default: the "
                        "run's, from its preset)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="autocast precision of the forward passes (default fp32)")
    p.add_argument("--quiet", action="store_true", help="no progress bar over the OOD sets")
    posthoc = p.add_argument_group("post-hoc scores")
    posthoc.add_argument("--odin-val", metavar="SPEC",
                         help="odin: validation OOD set its T and eps are tuned on (never a test "
                              "set), e.g. val:jigsaw or noise:uniform")
    posthoc.add_argument("--odin-T", dest="odin_temperature", type=float, metavar="T",
                         help="odin: fixed temperature (with --odin-eps: no tuning)")
    posthoc.add_argument("--odin-eps", dest="odin_epsilon", type=float, metavar="EPS",
                         help="odin: fixed perturbation, in [0, 1] pixel units")
    posthoc.add_argument("--knn-k", type=int, default=50, metavar="K", help="knn: the k-th neighbour (50)")
    posthoc.add_argument("--mahalanobis-eps", type=float, default=0.0, metavar="EPS",
                         help="mahalanobis: input perturbation in pixel units (0: none)")
    # Unset by default: FPR95 and MSP for images, FPR90 and the task's score for text runs; the
    # FPR rule is the protocol's ("closest" for the paper's, "roc" for OpenOOD's).
    p.set_defaults(recall=None, score=None, rule=None)


@holds_run_lock("eval")
def run(args) -> int:
    from ..evaluation.evaluate import evaluate
    from ..evaluation.results import results_text, scores_summary

    if text_cli.is_text_eval(args):
        if args.score and len(args.score) > 1:
            raise UserInputError("text runs are evaluated with one --score at a time")
        if args.protocol == "openood" or args.near or args.far:
            raise UserInputError("--protocol openood, --near and --far are for image runs; a "
                                 "text run is evaluated with the paper's protocol")
        args.score = args.score[0] if args.score else None
        args.rule = args.rule or "closest"
        args.draws = 10 if args.draws is None else args.draws
        args.ratio = 5 if args.ratio is None else args.ratio
        return text_cli.run_eval(args)
    options = dict(odin_val=args.odin_val, odin_temperature=args.odin_temperature,
                   odin_epsilon=args.odin_epsilon, knn_k=args.knn_k,
                   mahalanobis_epsilon=args.mahalanobis_eps)
    found = evaluate(args.run, protocol=args.protocol, ood=args.ood, near=args.near,
                     far=args.far, scores=args.score, draws=args.draws, ratio=args.ratio,
                     recall=0.95 if args.recall is None else args.recall,
                     positive=args.positive, rule=args.rule, seed=args.seed,
                     device=args.device, precision=args.precision,
                     draw_size=args.ood_draw_size, score_options=options, log=print,
                     progress=not args.quiet)
    for results in found.values():  # one table per score
        print(results_text(results))
    run_dir = Path(args.run)
    if len(found) > 1:
        print(scores_summary(found))
        print(f"written: {run_dir / 'results.json'} (.csv, .md; score {next(iter(found))}), "
              f"results_<score>.json and scores_<score>.npz per score, "
              f"{run_dir / 'scores_summary.md'}")
    else:
        print(f"written: {run_dir / 'results.json'} (.csv, .md)")
    if next(iter(found.values())).get("protocol") == "openood":
        print(f"and a copy that a paper-protocol `oe eval` keeps: {run_dir / 'results_openood.json'}")
    return 0
