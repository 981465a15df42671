"""What the image loop writes into the run folder: the run's record before the first step, the
log line and checkpoint of every finished epoch, the final weights.

The checkpoint's keys ("epoch", "model", "optimiser", "scaler", "rng", "outliers") are read back
by restore.py, also from checkpoints written by earlier versions: keep them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import distributed, rng, runs
from .guard import GUARD_FILE
from .holdout import SPLIT_FILE, save_split
from .resume_plan import DATA_KEY, data_record
from .setup import TrainingData, TrainingState
from .tensorboard import TensorBoardLog
from ..data.storage.download import hash_file


def write_run_record(run_dir: Path, data: TrainingData, device: torch.device,
                     ctx: distributed.Context, weights: Path | None = None) -> None:
    """config.json, environment.json and the calibration split of a new run."""
    # What the data is now, for --resume to compare (resume_plan.py); read before any write.
    fingerprints = data_record(data.cfg)
    runs.write_json(run_dir / runs.CONFIG, data.cfg.to_dict())
    environment = dict(runs.environment(str(device)), world_size=ctx.world_size)
    environment[DATA_KEY] = fingerprints
    if weights is not None:  # which file the run started from, should the path change later
        environment["weights"] = str(weights)
        environment["weights_sha256"] = hash_file(weights, "sha256")
    runs.write_json(run_dir / runs.ENVIRONMENT, environment)
    save_split(run_dir, data.cfg, data.held_out, data.n_total)


def save_epoch(run_dir: Path, record: dict, state: TrainingState, tb: TensorBoardLog,
               extra: dict | None = None) -> None:
    """The epoch's log line (and TensorBoard record), then the checkpoint a resume starts from;
    `extra`: more checkpoint entries (the accuracy guard's "guard", guard.py)."""
    runs.append_log(run_dir, record)
    tb.write(record)
    checkpoint = {
        "epoch": record["epoch"],
        "model": state.model.state_dict(),
        "optimiser": state.optimiser.state_dict(),
        "scaler": state.scaler.state_dict(),
        "rng": rng.capture(state.generators),
    }
    if state.outliers is not None:
        checkpoint["outliers"] = state.outliers.state_dict()
    checkpoint.update(extra or {})
    runs.save_torch(run_dir / runs.CHECKPOINT, checkpoint)


def save_model(run_dir: Path, model: torch.nn.Module) -> None:
    """RUN/model.pt: the final weights, on the CPU."""
    runs.save_torch(run_dir / runs.MODEL, {k: v.cpu() for k, v in model.state_dict().items()})


def discard_run_record(run_dir: Path) -> None:
    """Remove the record `write_run_record` wrote (and a log), for a run that failed before
    its first checkpoint: nothing was trained, and a config.json left behind would make the
    same --out refuse a new run and --resume reuse the values that failed."""
    for name in (runs.CONFIG, runs.ENVIRONMENT, SPLIT_FILE, runs.LOG, GUARD_FILE):
        (Path(run_dir) / name).unlink(missing_ok=True)
