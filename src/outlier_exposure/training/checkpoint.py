"""What the image loop writes into the run folder: the run's record before the first step, the
log line and checkpoint of every finished epoch, the final weights.

The checkpoint's keys ("epoch", "model", "optimiser", "scaler", "rng", "outliers") are read back
by restore.py, also from checkpoints written by earlier versions: keep them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import distributed, rng, runs
from .holdout import save_split
from .setup import TrainingData, TrainingState
from .tensorboard import TensorBoardLog
from ..data.storage.download import hash_file


def write_run_record(run_dir: Path, data: TrainingData, device: torch.device,
                     ctx: distributed.Context, weights: Path | None = None) -> None:
    """config.json, environment.json and the calibration split of a new run."""
    runs.write_json(run_dir / runs.CONFIG, data.cfg.to_dict())
    environment = dict(runs.environment(str(device)), world_size=ctx.world_size)
    if weights is not None:  # which file the run started from, should the path change later
        environment["weights"] = str(weights)
        environment["weights_sha256"] = hash_file(weights, "sha256")
    runs.write_json(run_dir / runs.ENVIRONMENT, environment)
    save_split(run_dir, data.cfg, data.held_out, data.n_total)


def save_epoch(run_dir: Path, record: dict, state: TrainingState, tb: TensorBoardLog) -> None:
    """The epoch's log line (and TensorBoard record), then the checkpoint a resume starts from."""
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
    runs.save_torch(run_dir / runs.CHECKPOINT, checkpoint)


def save_model(run_dir: Path, model: torch.nn.Module) -> None:
    """RUN/model.pt: the final weights, on the CPU."""
    runs.save_torch(run_dir / runs.MODEL, {k: v.cpu() for k, v in model.state_dict().items()})
