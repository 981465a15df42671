"""Resuming an image run from its last finished epoch (the checkpoint checkpoint.py wrote):
weights, optimiser, loss scaler, every random generator and the outlier stream, so the resumed
run ends with the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

from . import rng, runs
from .run_files import RESTART, load_checkpoint, load_into
from ..errors import UserInputError
from .setup import TrainingState


def restore(run_dir: Path, state: TrainingState) -> int:
    """Load RUN/checkpoint.pt into `state`; return the number of epochs it had finished
    (0 when the run was interrupted before its first checkpoint)."""
    if not (run_dir / runs.CHECKPOINT).exists():
        return 0
    path = run_dir / runs.CHECKPOINT
    ckpt = load_checkpoint(run_dir)  # a dict with the entries below, or a UserInputError
    # Entries that do not fit the run (wrong keys or shapes, another model, a damaged random
    # state) name the file instead of raising torch's error.
    load_into(state.model, ckpt["model"], path, RESTART, "model weights")
    load_into(state.optimiser, ckpt["optimiser"], path, RESTART, "optimiser state")
    if "scaler" in ckpt:
        load_into(state.scaler, ckpt["scaler"], path, RESTART, "loss-scaler state")
    load_into(_Generators(state.generators), ckpt["rng"], path, RESTART, "random states")
    if state.outliers is not None:
        if "outliers" not in ckpt:
            raise UserInputError(f"{path} lacks the outlier stream's state ('outliers'); "
                                 f"{RESTART}")
        load_into(state.outliers, ckpt["outliers"], path, RESTART, "outlier-stream state")
    return int(ckpt["epoch"])


class _Generators:
    """rng.restore as a load_state_dict, for run_files.load_into's messages."""

    def __init__(self, generators):
        self.generators = generators

    def load_state_dict(self, state: dict) -> None:
        rng.restore(self.generators, state)
