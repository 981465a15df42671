"""`oe export`: a run's detector as one TorchScript file (preprocessing, model, score, threshold)."""

from __future__ import annotations

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "export", "export a run's detector (after `oe detector RUN`) to one "
                   "TorchScript file: uint8 images in, (class, score, is_anomaly) out", run)
    p.add_argument("run", help="run folder with a detector.json")
    p.add_argument("--out", required=True, help="TorchScript file to write, e.g. model.pt")


def run(args) -> int:
    from ..deploy import export_detector

    out = export_detector(args.run, args.out)
    print(f"written: {out} (torch.jit.load it; input uint8 (B, H, W, C), output class, score, "
          "is_anomaly; detector.json inside as an extra file)")
    return 0
