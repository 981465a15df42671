"""`oe calibrate`: the reference calibration protocol (temperature, RMS/MAD error, soft F1)."""

from __future__ import annotations

from pathlib import Path

from ._common import add_data_flags, add_parser, holds_run_lock


def register(sub) -> None:
    p = add_parser(sub, "calibrate",
                   "calibration of a run: test set alone, then mixed 1:5 with each OOD set", run)
    p.add_argument("run", help="run folder (trained with --calibration for a tuned temperature)")
    p.add_argument("--ood", nargs="+", metavar="SPEC", help="OOD test sets (default: the preset's)")
    p.add_argument("--mode", choices=("corrected", "reference"), default="corrected",
                   help="corrected: every bin counts (default); reference: the authors' code, "
                        "which skips the highest-confidence bin")
    p.add_argument("--rescale", action="store_true",
                   help="0-1 posterior rescaling (c - 1/K) / (1 - 1/K), as the reference's -z")
    p.add_argument("--no-temperature", dest="tune", action="store_false",
                   help="T = 1 even when the run has a held-out split")
    p.add_argument("--draws", type=int, default=10, help="random OOD subsets per set (10)")
    p.add_argument("--ratio", type=int, default=5, help="ID:OOD ratio (5: OOD:ID = 1:5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the OOD draws")
    p.add_argument("--device", default="auto")
    add_data_flags(p)


@holds_run_lock("calibrate")
def run(args) -> int:
    from ..calibration.protocol import calibrate_run
    from ..calibration.report import calibration_text

    results = calibrate_run(args.run, args.ood, mode=args.mode, rescale=args.rescale,
                            draws=args.draws, ratio=args.ratio, seed=args.seed, tune=args.tune,
                            device=args.device)
    if not results["temperature"]["tuned"]:
        print(f"note: {results['temperature']['note']}")
    print(calibration_text(results))
    out = Path(args.run)
    print(f"written: {out / 'calibration.json'} (.csv, .md), {out / 'reliability.png'}")
    return 0
