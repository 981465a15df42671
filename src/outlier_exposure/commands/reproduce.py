"""`oe reproduce`: run a preset's experiment end to end and compare with the paper."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UserInputError
from ._common import DRAW_SIZE_CHOICES, add_parser


def register(sub) -> None:
    p = add_parser(sub, "reproduce",
                   "run a preset's experiment (baseline, OE fine-tune[, OE from scratch], "
                   "evaluation), skipping the stages already done, and compare with the paper",
                   run)
    p.add_argument("preset", help="e.g. cifar10-wrn, svhn-wrn, offline-cifar10; text: sst, "
                                  "trec, 20ng, offline-sst, lm, offline-lm (see `oe presets`)")
    p.add_argument("--out", help="output folder (default runs/PRESET)")
    p.add_argument("--data-root", help="folder holding the datasets (see `oe datasets`)")
    p.add_argument("--download", action="store_true",
                   help="first download the missing datasets the run reads: prints the plan "
                        "(each set, its size, source and checksum), fetches them with checksums "
                        "checked (an interrupted download resumes), then runs; sets that must "
                        "be got by hand stop it before anything trains")
    p.add_argument("--scratch", action="store_true", help="also train OE from scratch")
    p.add_argument("--calibration", action="store_true",
                   help="also the calibration rows: baseline and OE fine-tune trained with the "
                        "reference's held-out split, then `oe calibrate` (in OUT/calibration)")
    p.add_argument("--calibration-mode", choices=("corrected", "reference"),
                   help="RMS / MAD binning of --calibration: 'reference' skips the top bin as "
                        "the authors' code behind the paper's numbers (the default of the "
                        "paper's presets: like for like), 'corrected' counts every bin (the "
                        "default of the offline presets)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="train every stage N times, with seeds 0 .. N-1 (OUT/s0, OUT/s1, ...), and "
                        "report the mean ± std over the training seeds (OpenOOD reports 3)")
    p.add_argument("--protocol", choices=("paper", "openood"),
                   help="evaluate with this protocol instead of the preset's (the paper's for "
                        "the paper presets, OpenOOD v1.5's for *-openood and imagenet200-resnet18)")
    p.add_argument("--epochs", type=int, help="override every stage's epochs (smoke runs)")
    p.add_argument("--ood-draw-size", choices=DRAW_SIZE_CHOICES,
                   help="OOD examples per draw: the reference's whole test batches of 200 "
                        "(image presets) or 64 (text presets), the paper presets' default, or "
                        "exactly len(test) // 5 (small test sets)")
    p.add_argument("--ood", nargs="+", metavar="SPEC",
                   help="evaluate on these OOD sets instead of the paper's (e.g. the ones you "
                        "have); the mean then differs from the paper's")
    p.add_argument("--outliers", metavar="SPEC",
                   help="OE on this auxiliary set instead of the paper's (e.g. wikitext2:valid "
                        "when WikiText-2 train is not at hand); the OE rows then differ from the "
                        "paper's")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _set_data_root(path: str | None) -> None:
    if path:
        from ..data.storage import roots

        roots.set_data_root(path)


def run(args) -> int:
    from ..experiments.reproduce import (
        calibration_with_reference, comparison_with_reference, reproduce, reproduce_calibration,
    )

    started = time.perf_counter()
    out = Path(args.out or f"runs/{args.preset}")
    _set_data_root(args.data_root)
    text_presets = _text_presets()
    if args.calibration and args.preset in text_presets:
        raise UserInputError(f"--calibration: the calibration rows are image experiments; "
                             f"{args.preset} is a text preset")
    if args.calibration_mode and not args.calibration:
        raise UserInputError("--calibration-mode applies to the calibration rows only; add "
                             "--calibration or drop --calibration-mode")
    if args.preset in text_presets and (args.seeds is not None or args.protocol):
        raise UserInputError(f"--seeds and --protocol are for image presets; {args.preset} is a "
                             "text preset")
    if args.preset in text_presets and args.download:
        raise UserInputError(f"--download fetches the image presets' datasets; {args.preset} is a "
                             "text preset: get its sets with `python -m "
                             "outlier_exposure.text.download NAME ...` (see docs/nlp.md)")
    if args.preset in text_presets:
        results = text_presets[args.preset](out, data_root=args.data_root, device=args.device,
                                            progress=not args.quiet, scratch=args.scratch,
                                            ood=args.ood, epochs=args.epochs,
                                            outliers=args.outliers,
                                            ood_draw_size=args.ood_draw_size)
    elif args.seeds is not None:
        return _run_seeds(args, out, started)
    else:
        results = reproduce(args.preset, out, scratch=args.scratch, device=args.device,
                            progress=not args.quiet, overrides=_image_overrides(args),
                            eval_options=_eval_options(args), download=args.download)
    print()
    print(comparison_with_reference(args.preset, results))
    _print_text_notes(results)
    if args.calibration:
        calibration = reproduce_calibration(args.preset, out, device=args.device,
                                            progress=not args.quiet,
                                            overrides={"epochs": args.epochs, "ood": args.ood},
                                            mode=args.calibration_mode)
        print(calibration_with_reference(args.preset, calibration))
    print(f"{time.perf_counter() - started:.0f} s in all; written: {out / 'results.json'}")
    return 0


def _image_overrides(args) -> dict:
    return {"epochs": args.epochs, "ood": args.ood, "outliers": args.outliers,
            "ood_draw_size": args.ood_draw_size}


def _eval_options(args) -> dict | None:
    return {"protocol": args.protocol} if args.protocol else None


def _run_seeds(args, out: Path, started: float) -> int:
    """`--seeds N`: the image experiment once per seed, then mean ± std over the seeds."""
    from ..experiments.reproduce import comparison_with_reference, reproduce_seeds
    from ..reporting.seeds import seed_means, seeds_text

    if args.calibration:
        raise UserInputError("--seeds and --calibration: run the calibration rows without --seeds")
    _, aggregates = reproduce_seeds(args.preset, out, args.seeds, scratch=args.scratch,
                                    device=args.device, progress=not args.quiet,
                                    overrides=_image_overrides(args),
                                    eval_options=_eval_options(args), download=args.download)
    print()
    for stage, aggregate in aggregates.items():
        print(f"[{stage}] over {args.seeds} training seeds:")
        print(seeds_text(aggregate))
    print("Means over the seeds beside the reference:")
    print(comparison_with_reference(args.preset, {stage: seed_means(aggregate)
                                                  for stage, aggregate in aggregates.items()}))
    print(f"{time.perf_counter() - started:.0f} s in all; written: {out / 'seeds.json'} and "
          f"the runs of each seed in {out}/s0 ...")
    return 0


def _print_text_notes(results: dict) -> None:
    """What a text run adds: an LM's test perplexity, the default OOD sets not found."""
    for key, r in results.items():
        if "test_perplexity" in r:
            print(f"{key}: test perplexity {r['test_perplexity']:.2f} ({r['unit']})")
    for spec, reason in next(iter(results.values())).get("skipped", {}).items():
        print(f"skipped {spec}: {reason}")


def _text_presets() -> dict:
    try:
        from ..experiments.text import TEXT_PRESETS
    except ImportError:
        return {}
    return TEXT_PRESETS
