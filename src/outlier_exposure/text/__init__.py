"""Outlier Exposure for text: GRU classifiers (SST, TREC, 20 Newsgroups) and word-level language
models, as the reference's `NLP_classification/` and `NLP_language_modeling/`, without torchtext.

Data flow: `readers` (formats) -> `registry` (named sets) / `spec` (spec strings) -> `sets`
(texts, tokenised on demand) -> `vocab` (ids) -> `batches` -> `models` -> logits -> `scores` ->
the image protocol's metrics and tables. Training: `train` (classifier), `lm` (language model),
both on `fit` (Adam, per-epoch cosine, checkpoints, resume). Commands: `oe train --task text|lm`,
`oe tune`, `oe eval` (see `commands/_text.py`); presets end to end: `experiments/text.py`.

    from outlier_exposure.experiments.text import TEXT_PRESETS
    TEXT_PRESETS["offline-sst"]("runs/offline-sst")   # baseline vs OE, offline, CPU minutes
    TEXT_PRESETS["trec"]("runs/trec", data_root="data")  # any preset of TEXT_RECIPES

Importing this package is cheap (the command line imports it): the modules that need PyTorch
load on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "train_text_run": ".train", "train_lm_run": ".lm", "evaluate_text_run": ".evaluate",
    "text_config_from_preset": ".config", "text_tune_config": ".config", "load_text": ".sets",
    "TextSet": ".sets", "Vocab": ".vocab", "build_vocab": ".vocab",
    "create_text_model": ".models", "TEXT_RECIPES": ".config",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
