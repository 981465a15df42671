"""`oe metrics`: FPR/AUROC/AUPR of any detector's scores, with this package's definitions."""

from __future__ import annotations

import json

from ._common import add_metric_flags, add_parser


def register(sub) -> None:
    p = add_parser(sub, "metrics",
                   "FPR/AUROC/AUPR of any detector's scores (higher = more anomalous)", run)
    p.add_argument("in_scores", help="in-distribution scores: .npy or text, one per line")
    p.add_argument("out_scores", help="OOD scores: .npy or text, one per line")
    add_metric_flags(p)


def run(args) -> int:
    from ..metrics import detection_metrics, read_scores

    result = detection_metrics(read_scores(args.in_scores), read_scores(args.out_scores),
                               recall_level=args.recall, positive=args.positive, rule=args.rule)
    result.update(recall_level=args.recall, positive=args.positive, rule=args.rule)
    print(json.dumps(result, indent=2))
    return 0
