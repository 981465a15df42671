"""`oe quickstart`: baseline vs OE on real data that ships with the dependencies, offline."""

from __future__ import annotations

import time
from pathlib import Path

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "quickstart",
                   "offline demo: baseline vs OE on real data, in well under a minute on a CPU",
                   run)
    p.add_argument("--out", default="runs/quickstart", help="output folder (runs/quickstart)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from ..experiments.pipeline import baseline_then_oe
    from ..evaluation.results import comparison_text

    started = time.perf_counter()
    print("Outlier Exposure quickstart (offline): scikit-learn digits as in-distribution,\n"
          "patches of scikit-image photographs as the auxiliary outliers, and unseen textures,\n"
          "photographs, faces and noise as OOD test sets. Small CNN on the CPU.\n")
    results = baseline_then_oe("quickstart", args.out, device=args.device,
                               progress=not args.quiet)
    print()
    print(comparison_text({"baseline": results["baseline"], "OE": results["oe"]}))
    print(f"score MSP, anomalies positive, FPR rule 'closest', 10 draws at OOD:ID = 1:5; "
          f"{time.perf_counter() - started:.0f} s in all")
    out = Path(args.out)
    print(f"written: {out / 'results.json'}, {out / 'results.md'}, run folders {out / 'baseline'} "
          f"and {out / 'oe'}")
    from ..reporting.report import write_report

    report = write_report([out], out / "report", progress=not args.quiet)
    print(f"report with figures: {report.markdown}")
    return 0
