"""What a text run folder adds to the common layout (`training/runs.py`): `vocab.json`, and loading a
trained text model back. Config, environment, log, checkpoint and model files are `training/runs.py`'s."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..training import runs
from ..training.run_files import load_trained_weights
from ..errors import UserInputError
from ..training.setup import resolve_device
from .config import TextConfig, load_text_config
from .models import LM_MODELS, create_text_model
from .vocab import Vocab

VOCAB = "vocab.json"


def save_vocab(run_dir: Path, vocab: Vocab) -> None:
    runs.write_json(Path(run_dir) / VOCAB, vocab.to_dict())


def load_vocab(run_dir: Path) -> Vocab:
    path = Path(run_dir) / VOCAB
    try:
        return Vocab.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserInputError(f"{run_dir} has no {VOCAB}; it is not a finished text run") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is corrupt ({exc}); retrain the run") from None


def build_text_model(cfg: TextConfig, vocab: Vocab) -> torch.nn.Module:
    if (cfg.task == "lm") != (cfg.model in LM_MODELS):
        raise UserInputError(
            f"model {cfg.model!r} does not fit task {cfg.task!r}: use gru for --task text and "
            f"{' or '.join(LM_MODELS)} for --task lm"
        )
    kwargs = dict(cfg.model_kwargs)
    if cfg.task == "text":
        kwargs["pad_id"] = vocab.pad_id
    return create_text_model(cfg.model, len(vocab), cfg.num_classes, **kwargs)


def start_text_run(run_dir: Path, cfg: TextConfig, vocab: Vocab, init: dict | None,
                   device, resume: bool) -> torch.nn.Module:
    """Write a new run's files (config, environment, vocabulary) and build its model on
    `device`: seeded, from the baseline's weights `init` when fine-tuning."""
    if not resume:
        runs.write_json(run_dir / runs.CONFIG, cfg.to_dict())
        runs.write_json(run_dir / runs.ENVIRONMENT, runs.environment(str(device)))
        save_vocab(run_dir, vocab)
    torch.manual_seed(cfg.seed)
    model = build_text_model(cfg, vocab)
    if init is not None:
        model.load_state_dict(init)
    return model.to(device)


def load_trained_text_model(run_dir: Path, device) -> tuple[torch.nn.Module, TextConfig, Vocab]:
    cfg = load_text_config(run_dir)
    vocab = load_vocab(run_dir)
    model = build_text_model(cfg, vocab)
    load_trained_weights(model, run_dir)  # checked: fits the model, finite
    return model.to(device).eval(), cfg, vocab


def open_text_run(cfg: TextConfig | None, run_dir: str | Path, resume: bool, device: str | None
                  ) -> tuple[TextConfig, Path, torch.device, tuple]:
    """What every text run (classifier or LM) starts with: the run folder checked (new, or an
    interrupted run to resume, whose saved config then wins), the config's values checked, the
    device, and for a fine-tune the baseline's (config, vocabulary, weights); else Nones."""
    run_dir = Path(run_dir)
    runs.check_run_dir(run_dir, resume)
    if resume:
        cfg = load_text_config(run_dir)
    cfg.check()
    dev = resolve_device(device)
    baseline = baseline_of(cfg) if cfg.mode == "oe-tune" else (None, None, None)
    return cfg, run_dir, dev, baseline


def baseline_of(cfg: TextConfig) -> tuple[TextConfig, Vocab, dict]:
    """The baseline an OE fine-tune starts from: its config, vocabulary and weights (checked)."""
    base_dir = Path(cfg.init_from)
    base = load_text_config(base_dir)
    if (base.task, base.model, base.model_kwargs) != (cfg.task, cfg.model, cfg.model_kwargs):
        raise UserInputError(
            f"the baseline run {base_dir} is a {base.task} {base.model} {base.model_kwargs} run, "
            f"not {cfg.task} {cfg.model} {cfg.model_kwargs}"
        )
    return base, load_vocab(base_dir), runs.load_final_weights(base_dir)
