"""`oe score`: score new images with a run's detector and flag the anomalies (CSV)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import UserInputError
from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "score", "score new images with a run's detector (after `oe detector "
                   "RUN`) and flag anomalies", run)
    p.add_argument("run", help="run folder with a detector.json")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders of images, or .npz archives")
    p.add_argument("--out", required=True, help="CSV file to write (must not exist)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, auto")


def run(args) -> int:
    from ..deploy import load_detector
    from ..training.runs import write_text

    out = Path(args.out)
    if out.exists():
        raise UserInputError(f"--out {out} already exists; remove it or choose another file")
    det = load_detector(args.run, device=args.device)
    pred, names = det.predict_named(args.inputs)
    classes = det.classes
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "class", "class_name", "score", "is_anomaly"])
    for name, label, score, flag in zip(names, pred.label, pred.score, pred.is_anomaly):
        label = int(label)
        writer.writerow([name, label, classes[label] if classes and label < len(classes) else "",
                         f"{float(score):.6g}", int(bool(flag))])
    write_text(out, buffer.getvalue())
    print(f"{len(names)} images scored with {det.score_name} (anomaly when score > "
          f"{det.threshold:.6g}, {100 * det.info['tpr']:.0f}% of held-out in-distribution "
          f"images accepted): {int(pred.is_anomaly.sum())} flagged; written: {out}")
    return 0
