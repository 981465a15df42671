"""`oe eval`: the reference OOD-detection protocol on a trained run."""

from __future__ import annotations

from pathlib import Path

from ..text import cli as text_cli
from ._common import add_data_flags, add_metric_flags, add_parser


def register(sub) -> None:
    p = add_parser(sub, "eval", "evaluate OOD detection of a run with the reference protocol", run)
    p.add_argument("run", help="run folder")
    p.add_argument("--ood", nargs="+", metavar="SPEC", help="OOD test sets (default: the preset's)")
    p.add_argument("--score", default="msp", help="msp (default), xent, energy, maxlogit")
    p.add_argument("--draws", type=int, default=10, help="random OOD subsets per set (10)")
    p.add_argument("--ratio", type=int, default=5, help="ID:OOD ratio (5: OOD:ID = 1:5)")
    add_metric_flags(p)
    add_data_flags(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the OOD draws")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="autocast precision of the forward passes (default fp32)")
    # Unset by default: FPR95 and MSP for images, FPR90 and the task's score for text runs.
    p.set_defaults(recall=None, score=None)


def run(args) -> int:
    from ..evaluate import evaluate_run
    from ..tables import results_text

    if text_cli.is_text_eval(args):
        return text_cli.run_eval(args)
    results = evaluate_run(args.run, args.ood, score=args.score or "msp", draws=args.draws,
                           ratio=args.ratio, recall=0.95 if args.recall is None else args.recall,
                           positive=args.positive,
                           rule=args.rule, seed=args.seed, device=args.device,
                           precision=args.precision)
    print(results_text(results))
    print(f"written: {Path(args.run) / 'results.json'} (.csv, .md)")
    return 0
