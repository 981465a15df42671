"""Outlier Exposure for text: GRU classifiers (SST, TREC, 20 Newsgroups) and word-level language
models, as the reference's `NLP_classification/` and `NLP_language_modeling/`, without torchtext.

Data flow: `readers` (formats) -> `registry` (named sets) / `spec` (spec strings) -> `sets`
(texts, tokenised on demand) -> `vocab` (ids) -> `batches` -> `models` -> logits -> `scores` ->
the image protocol's metrics and tables. Training: `train` (classifier), `lm` (language model),
both on `fit` (Adam, per-epoch cosine, checkpoints, resume). Commands: `oe train --task text|lm`,
`oe tune`, `oe eval` (see `cli.py`).

    from outlier_exposure.text import TEXT_PRESETS
    TEXT_PRESETS["offline-sst"]("runs/offline-sst")   # baseline vs OE, offline, CPU minutes
    TEXT_PRESETS["trec"]("runs/trec", data_root="data")  # any preset of TEXT_RECIPES

Importing this package is cheap (the command line imports it): the modules that need PyTorch
load on first use.
"""

from __future__ import annotations

import importlib

from .config import TEXT_RECIPES  # the presets' values (recipes, data, OOD lists)


def run_text_experiment(preset: str, out, **options) -> dict:
    """Baseline -> OE fine-tune -> evaluation of a text preset; see
    `experiment.run_text_experiment`."""
    from .experiment import run_text_experiment as run

    return run(preset, out, **options)


def run_offline_sst(out, data_root=None, device: str = "auto", progress: bool = True, **kw) -> dict:
    """Baseline vs OE on SST over the offline data; see `offline.run_offline_sst`."""
    from .offline import run_offline_sst as run

    return run(out, data_root=data_root, device=device, progress=progress, **kw)


def _runner(preset: str):
    def run(out, **options) -> dict:
        return run_text_experiment(preset, out, **options)

    run.__name__ = f"run_{preset.replace('-', '_')}"
    run.__doc__ = (f"`oe reproduce {preset}`: {TEXT_RECIPES[preset].description}; "
                   "options as `run_text_experiment`.")
    return run


# Runnable presets, wired to `oe reproduce` by the command layer: name -> function(out, *,
# data_root=, device=, progress=, scratch=, ood=, **overrides) -> {"baseline": R, "oe": R}.
TEXT_PRESETS = {name: run_offline_sst if name == "offline-sst" else _runner(name)
                for name in TEXT_RECIPES}

_LAZY = {
    "train_text_run": ".train", "train_lm_run": ".lm", "evaluate_text_run": ".evaluate",
    "text_config_from_preset": ".config", "text_tune_config": ".config", "load_text": ".sets",
    "TextSet": ".sets", "Vocab": ".vocab", "build_vocab": ".vocab",
    "create_text_model": ".models",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TEXT_PRESETS", "TEXT_RECIPES", "run_offline_sst", "run_text_experiment",
           *_LAZY]
