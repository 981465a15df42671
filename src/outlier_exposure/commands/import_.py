"""`oe import`: a snapshot saved by the reference code (a plain state dict) as a run folder."""

from __future__ import annotations

from ._common import add_data_root_flag, add_parser, model_overrides


def register(sub) -> None:
    p = add_parser(sub, "import", "turn a reference snapshot (e.g. cifar10_wrn_baseline_epoch_99.pt)"
                   " into a run folder for oe tune / eval / report / detector", run)
    p.add_argument("path", help="the .pt file the reference saved: torch.save(net.state_dict())")
    p.add_argument("--preset", required=True,
                   help="the recipe it was trained with (e.g. cifar10-wrn, cifar100-allconv)")
    p.add_argument("--mode", required=True, choices=("baseline", "oe-tune", "oe-scratch"),
                   help="how it was trained: *_baseline_* / *_pretrained_* files are baseline, "
                        "*_oe_tune_* and *_energy_ft_* oe-tune, *_oe_scratch_* oe-scratch")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--model", help="model name, when not the preset's (e.g. wrn-40-2)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="model keyword argument, repeatable (e.g. dropout=0.3)")
    p.add_argument("--sha256", metavar="DIGEST",
                   help="refuse the file unless its SHA-256 is DIGEST (the authors' published "
                        "files are checked by name without it)")
    p.add_argument("--loss", choices=("oe", "energy"),
                   help="oe-tune: the fine-tune's loss (default: energy for *_energy_ft_* files, "
                        "else oe); `oe eval` then scores with energy")
    p.add_argument("--train", help="training data spec for `oe tune` (default: the preset's)")
    p.add_argument("--test", help="test data spec for `oe eval` (default: the preset's)")
    add_data_root_flag(p)


def run(args) -> int:
    from ..training.imported import import_run

    run_dir = import_run(args.path, args.preset, args.mode, args.out, sha256=args.sha256,
                         loss=args.loss, train=args.train, test=args.test,
                         **model_overrides(args))
    print(f"imported {args.path}: {run_dir}")
    return 0
