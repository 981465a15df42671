"""Resuming an image run from its last finished epoch (the checkpoint checkpoint.py wrote):
weights, optimiser, loss scaler, every random generator and the outlier stream, so the resumed
run ends with the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

from . import rng, runs
from .setup import TrainingState


def restore(run_dir: Path, state: TrainingState) -> int:
    """Load RUN/checkpoint.pt into `state`; return the number of epochs it had finished
    (0 when the run was interrupted before its first checkpoint)."""
    if not (run_dir / runs.CHECKPOINT).exists():
        return 0
    ckpt = runs.load_torch(run_dir / runs.CHECKPOINT)
    state.model.load_state_dict(ckpt["model"])
    state.optimiser.load_state_dict(ckpt["optimiser"])
    if "scaler" in ckpt:
        state.scaler.load_state_dict(ckpt["scaler"])
    rng.restore(state.generators, ckpt["rng"])
    if state.outliers is not None:
        state.outliers.load_state_dict(ckpt["outliers"])
    return int(ckpt["epoch"])
