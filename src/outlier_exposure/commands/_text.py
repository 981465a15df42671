"""`oe train` / `oe tune` / `oe eval` for text: the flags they add and the text branch of each.

The commands stay the image commands; each calls `is_text_*` first and hands text work here:
- `oe train --task text|lm` (or a text spec / text preset, which implies it);
- `oe tune RUN` and `oe eval RUN` when RUN is a text run (its config.json says so).

Presets: `sst`, `trec`, `20ng` (reference classifier recipe), `offline-sst`, `lm`, `offline-lm`
(see `text/config.py`); with the default `--preset quickstart`, `--task text` means `sst` and
`--task lm` means `lm`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..text.config import (
    DEFAULT_PRESET, TEXT_RECIPES, is_text_run, load_text_config, text_config_from_preset, text_tune_config,
)
from ..text.spec import looks_like_text_spec


def add_text_flags(p: argparse.ArgumentParser) -> None:
    """The flags `oe train` adds for text (--data-root comes with the common data flags)."""
    p.add_argument("--task", choices=("image", "text", "lm"),
                   help="image (default), text classifier or word-level language model; a text "
                        "spec (sst:train, tsv:..., lines:...) or text preset implies text")
    p.add_argument("--vocab-size", type=int, help="text: most frequent training tokens kept (10000)")
    p.add_argument("--max-length", type=int,
                   help="text: cut and front-pad every training/test text to this many tokens "
                        "(default: the set's; 100 for 20ng; 0 = none)")


def is_text_train(args) -> bool:
    if args.task:
        return args.task != "image"
    if args.resume:
        return is_text_run(args.out)
    return (args.preset in TEXT_RECIPES or looks_like_text_spec(args.train))


def is_text_tune(args) -> bool:
    return is_text_run(args.out if args.resume else args.baseline)


def is_text_eval(args) -> bool:
    return is_text_run(args.run)


def _model_kwargs(args) -> dict:
    from ._common import IMAGE_MODEL_FIELDS, model_overrides

    for field in IMAGE_MODEL_FIELDS:
        if getattr(args, field, None) is not None:
            raise UserInputError(f"--{field.replace('_', '-')} is for image models; text runs "
                                 "build their model from --model and --model-arg")
    if not (args.model or args.model_arg):
        return {}
    found = model_overrides(argparse.Namespace(model=args.model or "-", model_arg=args.model_arg))
    for field in IMAGE_MODEL_FIELDS:
        found.pop(field)
    if not args.model:
        found.pop("model")
    return found


def _overrides(args) -> dict:
    return dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                oe_batch_size=args.oe_batch_size, lam=args.lam, weight_decay=args.weight_decay,
                seed=args.seed, data_root=args.data_root)


def _train(cfg, out: str, args) -> Path:
    from ..text.lm import train_lm_run
    from ..text.train import train_text_run

    if args.allow_changed_data:
        raise UserInputError("--allow-changed-data: text runs record no fingerprint of their "
                             "data to compare on --resume; drop it")
    if args.resume and args.epochs is not None and args.epochs != cfg.epochs:
        raise UserInputError(f"--epochs {args.epochs}: a text run resumes with its recorded "
                             f"{cfg.epochs} epochs (changing the length is for image runs); "
                             "drop --epochs")
    run = train_lm_run if cfg.task == "lm" else train_text_run
    return run(cfg, out, resume=args.resume, device=args.device, progress=not args.quiet)


def run_train(args) -> int:
    if args.resume:
        cfg = load_text_config(args.out)
    else:
        preset = args.preset
        if preset not in TEXT_RECIPES:
            if preset != "quickstart":  # quickstart is the command's default, not a choice
                raise UserInputError(
                    f"--preset {preset} is an image preset; text presets: {', '.join(TEXT_RECIPES)}")
            preset = DEFAULT_PRESET[args.task or "text"]
        task = TEXT_RECIPES[preset].task
        if args.task and args.task != task:
            raise UserInputError(f"--preset {preset} is a {task} preset, not --task {args.task}")
        cfg = text_config_from_preset(
            preset, "oe-scratch" if args.outliers else "baseline", train=args.train,
            test=args.test, outliers=args.outliers, vocab_size=args.vocab_size,
            fix_length=args.max_length, **_model_kwargs(args), **_overrides(args))
    print(f"trained: {_train(cfg, args.out, args)}")
    return 0


def run_tune(args) -> int:
    if args.resume:
        cfg = load_text_config(args.out)
    else:
        cfg = text_tune_config(args.baseline, outliers=args.outliers, train=args.train,
                               test=args.test, **_overrides(args))
    print(f"fine-tuned: {_train(cfg, args.out, args)}")
    return 0


def run_eval(args) -> int:
    from ..evaluation.results import results_text
    from ..text.evaluate import DEFAULT_RECALL, evaluate_text_run

    results = evaluate_text_run(
        args.run, args.ood, score=args.score, draws=args.draws, ratio=args.ratio,
        recall=DEFAULT_RECALL if args.recall is None else args.recall, positive=args.positive,
        rule=args.rule, seed=args.seed, device=args.device, data_root=args.data_root,
        progress=not args.quiet)
    print(results_text(results))
    if "test_perplexity" in results:
        print(f"Test perplexity: {results['test_perplexity']:.2f} ({results['unit']})")
    for spec, reason in results["skipped"].items():
        print(f"skipped {spec}: {reason}")
    print(f"written: {Path(args.run) / 'results.json'} (.csv, .md)")
    return 0
