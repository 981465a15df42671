"""`oe metrics`: FPR/AUROC/AUPR of any detector's scores, with this package's definitions;
`--calibration CONF CORRECT`: RMS/MAD calibration error, soft F1 and ECE of any predictions."""

from __future__ import annotations

import json

from ..errors import UserInputError
from ._common import add_metric_flags, add_parser


def register(sub) -> None:
    p = add_parser(sub, "metrics",
                   "FPR/AUROC/AUPR of any detector's scores (higher = more anomalous), or "
                   "calibration errors of confidences (--calibration)", run)
    p.add_argument("in_scores", nargs="?", help="in-distribution scores: .npy or text, one per line")
    p.add_argument("out_scores", nargs="?", help="OOD scores: .npy or text, one per line")
    add_metric_flags(p)
    p.add_argument("--calibration", nargs=2, metavar=("CONF", "CORRECT"),
                   help="instead of detection: confidences in [0, 1] and 1/0 for right/wrong "
                        "(.npy or text, one per line); prints rms, mad, soft_f1, ece")
    p.add_argument("--mode", choices=("corrected", "reference"), default="corrected",
                   help="calibration binning: corrected (default) or reference (skips the "
                        "highest-confidence bin, as the authors' code)")


def run(args) -> int:
    from ..metrics import read_scores

    positional = [s for s in (args.in_scores, args.out_scores) if s is not None]
    if args.calibration and positional:
        raise UserInputError("give either IN_SCORES OUT_SCORES (detection) or --calibration CONF "
                             "CORRECT, not both")
    if args.calibration:
        from ..calibration.metrics import calibration_metrics, check_inputs

        conf_path, correct_path = args.calibration
        conf, correct = read_scores(conf_path), read_scores(correct_path)
        conf, correct = check_inputs(conf, correct, what=f"--calibration {conf_path} {correct_path}")
        result = calibration_metrics(conf, correct, mode=args.mode)
        result.update(mode=args.mode, n=len(conf))
        print(json.dumps(result, indent=2))
        return 0
    if len(positional) != 2:
        raise UserInputError("give two score files, IN_SCORES OUT_SCORES (or --calibration CONF "
                             "CORRECT for calibration errors)")
    from ..metrics import detection_metrics

    result = detection_metrics(read_scores(args.in_scores), read_scores(args.out_scores),
                               recall_level=args.recall, positive=args.positive, rule=args.rule)
    result.update(recall_level=args.recall, positive=args.positive, rule=args.rule)
    print(json.dumps(result, indent=2))
    return 0
