"""Resuming an image run from its last finished epoch (the checkpoint checkpoint.py wrote):
weights, optimiser, loss scaler, every random generator and the outlier stream, so the resumed
run ends with the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

from . import rng, runs
from .guard import CHECKPOINT_KEY as GUARD_KEY
from .resume_plan import ResumePlan
from .run_files import RESTART, load_into
from ..errors import UserInputError
from .setup import TrainingState


def restore(run_dir: Path, state: TrainingState,
            plan: ResumePlan | None) -> tuple[int, dict | None]:
    """Load the checkpoint the resume plan read (RUN/checkpoint.pt) into `state`; return the
    number of epochs it had finished and the accuracy guard's saved state (guard.py), or
    (0, None) for a new run or one interrupted before its first checkpoint."""
    ckpt = plan.take_checkpoint() if plan else None
    if ckpt is None:
        return 0, None
    path = run_dir / runs.CHECKPOINT
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
    return int(ckpt["epoch"]), ckpt.get(GUARD_KEY)


class _Generators:
    """rng.restore as a load_state_dict, for run_files.load_into's messages."""

    def __init__(self, generators):
        self.generators = generators

    def load_state_dict(self, state: dict) -> None:
        rng.restore(self.generators, state)
