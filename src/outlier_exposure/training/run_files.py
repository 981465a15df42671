"""Checked readers of the run folder's training files: environment.json, log.jsonl, checkpoint.pt
and model.pt (config.json is `config.load_config`'s; results, score caches and detector files are
read by the evaluation and deployment layers).

A run folder is data: any file in it may be damaged, truncated or edited by hand. Each reader
here checks the structure and types it relies on and turns every failure into one
UserInputError naming the file and what to do, so that no traceback reaches the user for a
damaged file. They only read (writing is runs.py's).
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import runs
from ..errors import UserInputError
from .records import is_int, is_number

# What a user can do about a damaged file, by file.
RESTART = ("delete it to start the run again from epoch 0 (`--resume` then retrains), or start "
           "a new run with another --out")
RETRAIN = ("restore it from a copy, or finish the run again: delete model.pt and run "
           "`--resume` (it retrains from checkpoint.pt), or start a new run")

# The log's numeric fields (training/epoch.py epoch_record, text/fit.py): what the report plots.
LOG_NUMBERS = ("step", "lr", "loss", "loss_in", "loss_oe", "train_acc", "seconds",
               "images_per_s")
# The checkpoint's entries restore.py reads (checkpoint.py writes them).
CHECKPOINT_KEYS = ("epoch", "model", "optimiser", "rng")


def load_environment(run_dir: str | Path) -> dict:
    """RUN/environment.json ({} when absent: runs written by hand or imported)."""
    path = Path(run_dir) / runs.ENVIRONMENT
    if not path.exists():
        return {}
    data = runs.read_json(path, "it records how the run was made: restore it from a copy, or "
                                "delete it (versions are then not checked)")
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not a JSON object ({type(data).__name__}); restore it "
                             "from a copy, or delete it (versions are then not checked)")
    return data


def load_log(run_dir: str | Path) -> list[dict]:
    """The records of RUN/log.jsonl (runs.read_log), each checked: `epoch` a whole number >= 1,
    the curve fields numbers."""
    records = runs.read_log(Path(run_dir))
    path = Path(run_dir) / runs.LOG
    for number, record in enumerate(records, 1):
        bad = None
        epoch = record.get("epoch")
        if epoch is not None and not (is_int(epoch) and epoch >= 1):
            bad = f"epoch = {epoch!r} is not a whole number >= 1"
        for key in LOG_NUMBERS:
            value = record.get(key)
            if bad is None and value is not None and not is_number(value):
                bad = f"{key} = {value!r} is not a number"
        if bad:
            raise UserInputError(
                f"{path} record {number}: {bad}; the log is damaged or was edited: restore it or "
                "delete that line (the log holds the training curves only: checkpoint.pt and "
                "model.pt do not depend on it)")
    return records


def load_checkpoint(run_dir: str | Path) -> dict:
    """RUN/checkpoint.pt: a dict with an epoch count and the model, optimiser and random
    states (their contents are checked when they are loaded into the run, `load_into`)."""
    path = Path(run_dir) / runs.CHECKPOINT
    ckpt = runs.load_torch(path)
    what = None
    if not isinstance(ckpt, dict):
        what = f"it holds a {type(ckpt).__name__}, not a checkpoint"
    else:
        missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
        if missing:
            what = f"it lacks {', '.join(repr(k) for k in missing)}"
        elif not (is_int(ckpt["epoch"]) and ckpt["epoch"] >= 0):
            what = f"its epoch {ckpt['epoch']!r} is not a whole number >= 0"
        elif not _is_state_dict(ckpt["model"]):
            what = "its 'model' is not a state dict of tensors"
        elif not all(isinstance(ckpt[k], dict) for k in ("optimiser", "rng")):
            what = "its 'optimiser' or 'rng' entry is not a dict"
    if what:
        raise UserInputError(f"{path} is not a checkpoint of this package ({what}); {RESTART}")
    return ckpt


def load_model_state(run_dir: str | Path) -> dict[str, torch.Tensor]:
    """RUN/model.pt (runs.load_final_weights): a state dict, name -> tensor."""
    run_dir = Path(run_dir)
    state = runs.load_final_weights(run_dir)
    if not _is_state_dict(state):
        kind = type(state).__name__
        raise UserInputError(f"{run_dir / runs.MODEL} is not a state dict of tensors (it holds a "
                             f"{kind}); {RETRAIN}")
    return state


def load_into(module, state, path: Path, fix: str, what: str = "weights") -> None:
    """`module.load_state_dict(state)`, with wrong keys or shapes (or an entry of the wrong
    kind) a UserInputError naming `path` and `fix` instead of torch's error."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        reason = " ".join(str(exc).split())
        if len(reason) > 300:
            reason = reason[:300] + " ..."
        raise UserInputError(f"{path}: its {what} do not fit this run ({reason}); {fix}") from None


def load_trained_weights(model: torch.nn.Module, run_dir: str | Path, *,
                         finite: bool = True) -> torch.nn.Module:
    """Load RUN/model.pt into `model` (built from the run's config); with `finite`, refuse
    weights holding NaN or infinity (a diverged run: every score it gives is meaningless)."""
    run_dir = Path(run_dir)
    state = load_model_state(run_dir)
    path = run_dir / runs.MODEL
    load_into(model, state, path, RETRAIN)
    if finite:
        check_finite_weights(state, path)
    return model


def check_finite_weights(state: dict, path: Path) -> None:
    """Refuse a state dict with NaN or infinite values (named by the first such tensor)."""
    bad = [name for name, value in state.items() if isinstance(value, torch.Tensor)
           and value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        raise UserInputError(
            f"{path} holds NaN or infinite weights ({len(bad)} tensor(s), first {bad[0]!r}): "
            "the training diverged or the file is damaged, so every score and threshold it "
            "gives is meaningless; train the run again with a lower --lr (or restore the file)")


def _is_state_dict(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
