"""The `oe` command line: argument parsing only; the work is done by the library."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import __version__

EPILOG_SPECS = """dataset specs:
  npz:PATH[:XKEY,YKEY]   arrays in a .npz (e.g. npz:cifar.npz:x_train,y_train)
  npy:PATH[:LABELS.npy]  a (N,H,W,C) uint8 .npy, memory-mapped
  folder:PATH[:SIZE]     an image folder (one subfolder per class, or flat)
  noise:KIND[:N]         gaussian | rademacher | blobs | uniform (made as the reference does)
  NAME[:SPLIT]           a built-in set, e.g. digits:train, skimage-photos
"""


def _common_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int, help="in-distribution images per step")
    p.add_argument("--oe-batch-size", type=int, help="outlier images per step")
    p.add_argument("--lambda", dest="lam", type=float, help="weight of the OE term (default 0.5)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last finished epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _model_overrides(args) -> dict:
    if not args.model:
        return {}
    kwargs = {}
    for item in args.model_arg or []:
        key, sep, value = item.partition("=")
        if not sep:
            from .errors import UserInputError
            raise UserInputError(f"--model-arg {item!r} is not KEY=VALUE (e.g. dropout=0.3)")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return {"model": args.model, "model_kwargs": kwargs}


def _train_overrides(args) -> dict:
    return dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                oe_batch_size=args.oe_batch_size, lam=args.lam,
                weight_decay=args.weight_decay, seed=args.seed)


def cmd_train(args) -> int:
    from .config import config_from_preset
    from .runs import load_config
    from .train import train_run

    if args.resume:
        cfg = load_config(Path(args.out))
    else:
        mode = "oe-scratch" if args.outliers else "baseline"
        cfg = config_from_preset(args.preset, mode, train=args.train, test=args.test,
                                 outliers=args.outliers, **_model_overrides(args),
                                 **_train_overrides(args))
    run = train_run(cfg, args.out, resume=args.resume, device=args.device,
                    progress=not args.quiet)
    print(f"trained: {run}")
    return 0


def cmd_tune(args) -> int:
    from .pipeline import tune_config
    from .runs import load_config
    from .train import train_run

    if args.resume:
        cfg = load_config(Path(args.out))
    else:
        cfg = tune_config(Path(args.baseline), outliers=args.outliers, train=args.train,
                          test=args.test, **_train_overrides(args))
    run = train_run(cfg, args.out, resume=args.resume, device=args.device,
                    progress=not args.quiet)
    print(f"fine-tuned: {run}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate_run
    from .tables import results_text

    results = evaluate_run(args.run, args.ood, score=args.score, draws=args.draws,
                           ratio=args.ratio, recall=args.recall, positive=args.positive,
                           rule=args.rule, seed=args.seed, device=args.device)
    print(results_text(results))
    print(f"written: {Path(args.run) / 'results.json'} (.csv, .md)")
    return 0


def cmd_metrics(args) -> int:
    from .metrics import detection_metrics, read_scores

    result = detection_metrics(read_scores(args.in_scores), read_scores(args.out_scores),
                               recall_level=args.recall, positive=args.positive, rule=args.rule)
    result.update(recall_level=args.recall, positive=args.positive, rule=args.rule)
    print(json.dumps(result, indent=2))
    return 0


def cmd_presets(args) -> int:
    from .presets import PRESETS

    for p in PRESETS.values():
        print(f"{p.name:18s} {p.description}")
        print(f"{'':18s} baseline {p.baseline.epochs} ep lr {p.baseline.lr}; OE tune "
              f"{p.tune.epochs} ep lr {p.tune.lr}; batch {p.batch_size}+{p.oe_batch_size}")
    return 0


def cmd_quickstart(args) -> int:
    from .pipeline import baseline_then_oe
    from .tables import comparison_text

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
    print(f"written: {Path(args.out) / 'results.json'}, {Path(args.out)}/baseline, "
          f"{Path(args.out)}/oe")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oe", description="Outlier Exposure: train, fine-tune and evaluate OOD detectors.",
        epilog=EPILOG_SPECS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text, func):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG_SPECS,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("train", "train a baseline classifier (or OE from scratch with --outliers)", cmd_train)
    p.add_argument("--preset", default="quickstart", help="hyper-parameters (see `oe presets`)")
    p.add_argument("--train", help="training data spec (labelled)")
    p.add_argument("--test", help="test data spec (labelled), used by `oe eval`")
    p.add_argument("--outliers", help="auxiliary outliers: train with OE from scratch")
    p.add_argument("--model", help="model name (wrn-40-2, allconv, convnet, small-cnn, ...)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="model keyword argument, repeatable (e.g. dropout=0.3)")
    _common_train_flags(p)

    p = add("tune", "fine-tune a baseline run with Outlier Exposure", cmd_tune)
    p.add_argument("baseline", nargs="?", help="the baseline run folder")
    p.add_argument("--outliers", help="auxiliary outliers spec (default: the preset's)")
    p.add_argument("--train", help="training data (default: the baseline's)")
    p.add_argument("--test", help="test data (default: the baseline's)")
    _common_train_flags(p)

    p = add("eval", "evaluate OOD detection of a run with the reference protocol", cmd_eval)
    p.add_argument("run", help="run folder")
    p.add_argument("--ood", nargs="+", metavar="SPEC", help="OOD test sets (default: the preset's)")
    p.add_argument("--score", default="msp", help="msp (default), xent, energy, maxlogit")
    p.add_argument("--draws", type=int, default=10, help="random OOD subsets per set (10)")
    p.add_argument("--ratio", type=int, default=5, help="ID:OOD ratio (5: OOD:ID = 1:5)")
    _metric_flags(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the OOD draws")
    p.add_argument("--device", default="auto")

    p = add("metrics", "FPR/AUROC/AUPR of any detector's scores (higher = more anomalous)",
            cmd_metrics)
    p.add_argument("in_scores", help="in-distribution scores: .npy or text, one per line")
    p.add_argument("out_scores", help="OOD scores: .npy or text, one per line")
    _metric_flags(p)

    add("presets", "list the presets and their reference hyper-parameters", cmd_presets)

    p = add("quickstart", "offline demo: baseline vs OE on real data, in about a minute on a CPU",
            cmd_quickstart)
    p.add_argument("--out", default="runs/quickstart", help="output folder (runs/quickstart)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _metric_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recall", type=float, default=0.95,
                   help="recall level of the FPR (0.95: FPR95)")
    p.add_argument("--positive", choices=("ood", "in"), default="ood",
                   help="positive class: ood (reference default) or in")
    p.add_argument("--rule", choices=("closest", "first"), default="closest",
                   help="FPR threshold: recall closest to the level (reference) or first >= level")


def main(argv: list[str] | None = None) -> int:
    from .errors import UserInputError

    args = build_parser().parse_args(argv)
    if args.command == "tune" and not args.resume and not args.baseline:
        print("oe tune: error: name the baseline run folder (or pass --resume --out RUN)",
              file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except UserInputError as exc:
        print(f"oe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\noe {args.command}: interrupted; finished epochs are kept, continue with "
              "--resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
